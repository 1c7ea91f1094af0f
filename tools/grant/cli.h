/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mpklink-grant's command layer: what main.c gives every cmd_*.c (options,
 * errors, opening the device) and the commands it dispatches to.
 */
#ifndef MPKLINK_GRANT_CLI_H
#define MPKLINK_GRANT_CLI_H

#include "grant.h"

#define MAX_ARGS 2

struct options {
	bool json, dry_run, is_signed, force, allow_missing_cgroup;
	const char *size, *members, *rights, *pubkey;
	const char *policy, *channel, *state_dir, *hook;
	char *args[MAX_ARGS];
	int nr_args;
};

enum { OPT_ALLOW_MISSING_CGROUP = 256 };

/*
 * Parses the command's options; @allowed lists the short names of those
 * it takes, @nargs how many arguments it needs (-N: at most N).
 */
int parse_options(int argc, char **argv, const char *allowed, int nargs,
		  struct options *o);

/* A bad value (name, size, rights, key): one line naming it. */
int value_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A malformed command line: the problem, and where to read about it. */
#define usage_error(...)						\
	(value_error(__VA_ARGS__),					\
	 fputs("(mpklink-grant help for usage)\n", stderr), EXIT_USAGE)

/* One line about an error from the kernel, and the exit code for it. */
int kernel_error(int err, const char *what, const char *name);
/* /dev/mpklink, or exits with kernel_error()'s code. */
int open_device(void);
int read_state(const char *only, struct kstate *st);

int check_name(const char *name);
int get_principal(const char *text, const struct options *o, bool revoking,
		  struct principal *p);
int get_rights(const char *text, uint32_t *rights);

/* A whole file ("-": stdin) of at most 16 MiB, or an exit code. */
int read_file(const char *path, char **text, size_t *len);
/* Reads, parses and resolves the policy file @file; an exit code. */
int load_policy(const char *file, const struct options *o,
		struct policy *pol);

/* The policy oci-hook and cdi read: --policy, $MPKLINK_POLICY, or this. */
#define DEFAULT_POLICY "/etc/mpklink/policy"
const char *policy_path(const struct options *o);


int cmd_create(int argc, char **argv);
int cmd_destroy(int argc, char **argv);
int cmd_grant(int argc, char **argv);
int cmd_enroll(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_oci_hook(int argc, char **argv);
int cmd_cdi(int argc, char **argv);

#endif /* MPKLINK_GRANT_CLI_H */
