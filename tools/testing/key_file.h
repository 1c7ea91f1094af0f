/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * Writing a signing key file for tests, in the format mpklink-grant keygen
 * writes and the library reads (Documentation/api.md, "Signed channels"):
 * the 64-byte Ed25519 secret key as 128 hex characters and a newline, mode
 * 0600.  Header-only; one copy per test program.
 */
#ifndef MPKLINK_TEST_KEY_FILE_H
#define MPKLINK_TEST_KEY_FILE_H

#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes @sk to @path, owned by @uid:@uid unless @uid is (uid_t)-1. */
static inline int key_file_write(const char *path, const unsigned char *sk,
				 uid_t uid)
{
	char hex[2 * crypto_sign_SECRETKEYBYTES + 1];
	int err;
	FILE *f;

	sodium_bin2hex(hex, sizeof(hex), sk, crypto_sign_SECRETKEYBYTES);
	unlink(path);
	f = fopen(path, "w");
	if (!f)
		return -1;
	err = fprintf(f, "%s\n", hex) < 0;
	sodium_memzero(hex, sizeof(hex));
	if (fclose(f) || err || chmod(path, 0600))
		return -1;
	if (uid != (uid_t)-1 && chown(path, uid, uid))
		return -1;
	return 0;
}

#endif /* MPKLINK_TEST_KEY_FILE_H */
