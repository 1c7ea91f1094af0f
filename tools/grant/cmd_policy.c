// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink-grant's commands on policy files: check, apply, and dump (the
 * kernel's state as one), and reading a policy for the commands that
 * follow it (oci-hook, cdi).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define POLICY_MAX (16u << 20)

int cmd_dump(int argc, char **argv)
{
	struct options o;
	struct kstate st;
	int ret;

	ret = parse_options(argc, argv, "j", 0, &o);
	if (ret || (ret = read_state(NULL, &st)))
		return ret;
	ret = dump_state(&st, o.json, stdout);
	kstate_free(&st);
	return ret;
}

int read_file(const char *path, char **text, size_t *len)
{
	size_t used = 0, room = 64 * 1024;
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	char *buf = NULL;
	ssize_t n;

	if (fd < 0)
		goto fail;
	do {
		char *bigger;

		if (used == room)
			room *= 2;
		if (room > POLICY_MAX + 1)
			room = POLICY_MAX + 1;
		bigger = realloc(buf, room);
		if (!bigger)
			goto fail;
		buf = bigger;
		n = read(fd, buf + used, room - used);
		if (n < 0 && errno != EINTR)
			goto fail;
		used += n > 0 ? (size_t)n : 0;
	} while (n != 0 && used <= POLICY_MAX);
	if (fd)
		close(fd);
	if (used > POLICY_MAX) {
		free(buf);
		fprintf(stderr, "mpklink-grant: %s: larger than %u MiB: not a policy\n",
			path, POLICY_MAX >> 20);
		return EXIT_USAGE;
	}
	*text = buf;
	*len = used;
	return EXIT_OK;
fail:
	fprintf(stderr, "mpklink-grant: %s: %s\n", path, strerror(errno));
	if (fd > 0)
		close(fd);
	free(buf);
	return errno == ENOENT ? EXIT_NOT_FOUND : EXIT_FAILED;
}

const char *policy_path(const struct options *o)
{
	const char *env = getenv("MPKLINK_POLICY");

	if (o->policy)
		return o->policy;
	return env && *env ? env : DEFAULT_POLICY;
}

int load_policy(const char *file, const struct options *o,
		struct policy *pol)
{
	struct resolve_opts ro = {
		.allow_missing_cgroup = o->allow_missing_cgroup,
	};
	char err[ERROR_MAX + 128];
	size_t len;
	char *text;
	int ret;

	ret = read_file(file, &text, &len);
	if (ret)
		return ret;
	ret = policy_parse(strcmp(file, "-") ? file : "<stdin>", text, len,
			   pol, err, sizeof(err));
	free(text);
	if (!ret && policy_resolve(pol, &ro, err, sizeof(err))) {
		policy_free(pol);
		ret = -1;
	}
	if (ret) {
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int cmd_check(int argc, char **argv)
{
	struct policy pol;
	struct options o;
	unsigned int i, grants = 0;
	int ret;

	ret = parse_options(argc, argv, "c", 1, &o);
	if (ret || (ret = load_policy(o.args[0], &o, &pol)))
		return ret;
	for (i = 0; i < pol.nr_channels; i++)
		grants += pol.channels[i].nr_grants;
	printf("%s: ok, %u channel%s, %u grant%s\n", o.args[0], pol.nr_channels,
	       pol.nr_channels == 1 ? "" : "s", grants, grants == 1 ? "" : "s");
	policy_free(&pol);
	return EXIT_OK;
}

int cmd_apply(int argc, char **argv)
{
	struct policy pol;
	struct options o;
	int dev, ret;

	ret = parse_options(argc, argv, "nc", 1, &o);
	if (ret || (ret = load_policy(o.args[0], &o, &pol)))
		return ret;
	dev = device_open();
	if (dev < 0) {
		policy_free(&pol);
		return kernel_error(dev, "opening the device", "");
	}
	ret = apply_policy(dev, &pol, o.dry_run, stdout);
	close(dev);
	policy_free(&pol);
	return ret;
}

