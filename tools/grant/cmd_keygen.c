// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink-grant keygen: an Ed25519 key pair for a signed channel's writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int create_file(const char *path, mode_t mode, bool force)
{
	int fd;

	if (force && unlink(path) && errno != ENOENT)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd >= 0 && fchmod(fd, mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int cmd_keygen(int argc, char **argv)
{
	char *secret_path = NULL, *public_path = NULL, *hex = NULL;
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	const size_t hex_len = 2 * crypto_sign_SECRETKEYBYTES + 2;
	unsigned char *sk = NULL;
	int fd = -1, ret = EXIT_FAILED;
	struct options o;

	ret = parse_options(argc, argv, "f", 1, &o);
	if (ret)
		return ret;
	ret = EXIT_FAILED;
	if (asprintf(&secret_path, "%s.key", o.args[0]) < 0 ||
	    asprintf(&public_path, "%s.pub", o.args[0]) < 0)
		goto out;
	/* Secrets live in guarded, unswappable memory, wiped when freed. */
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	hex = sodium_malloc(hex_len);
	if (!sk || !hex)
		goto out;
	crypto_sign_keypair(pk, sk);
	sodium_bin2hex(hex, hex_len, sk, crypto_sign_SECRETKEYBYTES);
	strcat(hex, "\n");

	fd = create_file(secret_path, 0600, o.force);
	if (fd < 0) {
		ret = errno == EEXIST ? EXIT_CONFLICT : EXIT_FAILED;
		fprintf(stderr, "mpklink-grant: %s: %s%s\n", secret_path,
			strerror(errno),
			errno == EEXIST ? " (--force replaces it)" : "");
		goto out;
	}
	if (write_all(fd, hex, strlen(hex)) || fsync(fd)) {
		fprintf(stderr, "mpklink-grant: %s: %s\n", secret_path,
			strerror(errno));
		goto out;
	}
	close(fd);
	fd = create_file(public_path, 0644, o.force);
	sodium_bin2hex(hex, hex_len, pk, sizeof(pk));
	strcat(hex, "\n");
	if (fd < 0 || write_all(fd, hex, strlen(hex))) {
		ret = errno == EEXIST ? EXIT_CONFLICT : EXIT_FAILED;
		fprintf(stderr, "mpklink-grant: %s: %s\n", public_path,
			strerror(errno));
		unlink(secret_path);	/* a secret without its public half */
		goto out;
	}
	printf("wrote %s (secret, mode 0600: give it to the service alone) and %s\n",
	       secret_path, public_path);
	ret = EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	sodium_free(sk);
	sodium_free(hex);
	free(secret_path);
	free(public_path);
	return ret;
}
