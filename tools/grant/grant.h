/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mpklink-grant: shared declarations.  One file per idea:
 *
 *   main.c       the command table, options, errors (cli.h)
 *   cmd_channel.c  create, destroy, grant, enroll, revoke, list, show
 *   cmd_policy.c   check, apply, dump
 *   cmd_keygen.c   keygen
 *   principal.c  principals: parsing, resolving names, executable digests
 *   policy.c     the policy file format: lexer and parser
 *   policy_resolve.c  resolving a parsed policy on this system
 *   device.c     /dev/mpklink: ioctls and reading the kernel's state
 *   apply.c      planning and applying a policy, dumping the state as one
 *   containers.c which grant a policy's container rules allow
 *   output.c     sizes, rights, keys and JSON as text
 */
#ifndef MPKLINK_GRANT_H
#define MPKLINK_GRANT_H

#include <linux/mpklink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, documented in mpklink-grant(8). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,	/* the kernel or the system failed otherwise */
	EXIT_USAGE = 2,		/* bad command line or policy: nothing done */
	EXIT_DENIED = 3,	/* not permitted (CAP_SYS_ADMIN) */
	EXIT_NOT_FOUND = 4,	/* no such channel or grant */
	EXIT_CONFLICT = 5,	/* exists already, or in the way */
	EXIT_NO_MODULE = 6,	/* /dev/mpklink missing: module not loaded */
};

/* Maps an errno from the kernel to an exit code. */
int exit_code_for(int err);

/* Where a diagnostic points: a file, a line and a column (1-based). */
struct where {
	const char *file;	/* NULL: the command line */
	unsigned int line;
	unsigned int col;
};

#define ERROR_MAX 512

/* --- principal.c ---------------------------------------------------------- */

struct principal {
	struct mpklink_principal k;	/* what the kernel matches */
};

/* Options for resolving principals against this system. */
struct resolve_opts {
	bool allow_missing_cgroup;	/* a cgroup may be created later */
	const char *cgroup_root;	/* NULL: where cgroup2 is mounted */
};

/*
 * Parses @text ("user=orders,exe=/usr/bin/svc") into @p: the syntax only,
 * plus the lookups that give it meaning (names, digests, cgroups) when
 * @opts is non-NULL.  Values may be double-quoted ("\"" and "\\" escape).
 * On error returns -1 with a message in @err and the 0-based offset in
 * @text it refers to in *@err_off.
 */
int principal_parse(const char *text, size_t len, struct principal *p,
		    const struct resolve_opts *opts, char *err,
		    size_t *err_off);

/* Formats @p the way principal_parse() reads it (names where known). */
void principal_format(const struct mpklink_principal *p, char *buf,
		      size_t room);

bool principal_equal(const struct mpklink_principal *a,
		     const struct mpklink_principal *b);

/* SHA-256 of a file's contents, as the kernel computes it.  -errno. */
int file_sha256(const char *path, uint8_t digest[MPKLINK_SHA256_SIZE]);

/* --- output.c and parsing of small values ---------------------------------- */

int parse_size(const char *s, size_t len, uint64_t *out, char *err);
int parse_rights(const char *s, size_t len, uint32_t *out);
bool name_valid(const char *s, size_t len);
int parse_hex(const char *s, size_t len, uint8_t *out, size_t out_len);
/* Reads a public key: 64 hex digits, or a file holding them. */
int read_pubkey(const char *arg, uint8_t key[MPKLINK_PUBKEY_SIZE], char *err);

const char *rights_string(uint32_t rights);
void format_size(uint64_t bytes, char *buf, size_t room);
void format_hex(const uint8_t *data, size_t len, char *buf);

/* A minimal JSON writer: enough for the read commands' output. */
struct json_writer {
	FILE *out;
	int depth;
	bool need_comma;
};

void jw_begin_object(struct json_writer *j, const char *key);
void jw_end_object(struct json_writer *j);
void jw_begin_array(struct json_writer *j, const char *key);
void jw_end_array(struct json_writer *j);
void jw_string(struct json_writer *j, const char *key, const char *value);
void jw_uint(struct json_writer *j, const char *key, uint64_t value);
void jw_int(struct json_writer *j, const char *key, int64_t value);
void jw_bool(struct json_writer *j, const char *key, bool value);
void jw_null(struct json_writer *j, const char *key);
void jw_grant(struct json_writer *j, const struct mpklink_grant *g);

/* --- policy.c --------------------------------------------------------------- */

struct policy_grant {
	struct where at;	/* of the principal */
	char *principal_text;	/* as written, for resolving later */
	size_t principal_len;
	struct principal principal;
	uint32_t rights;
	bool has_pubkey;
	uint8_t pubkey[MPKLINK_PUBKEY_SIZE];
	char *pubkey_file;	/* pubkey-file PATH: read when resolving */
	struct where pubkey_at;
};

struct policy_channel {
	struct where at;	/* of its name */
	char name[MPKLINK_NAME_MAX];
	uint64_t segment_size;
	uint32_t max_members;	/* 0: the module's default */
	bool is_signed;
	struct policy_grant *grants;
	unsigned int nr_grants;
	/* container rules: the most a container below a cgroup may ask for */
	struct policy_grant *containers;
	unsigned int nr_containers;
};

struct policy {
	struct policy_channel *channels;
	unsigned int nr_channels;
};

/*
 * Parses a policy (the syntax, and values that need no lookup).  On error
 * returns -1 and writes "FILE:LINE:COL: message" into @err.
 */
int policy_parse(const char *file, const char *text, size_t len,
		 struct policy *out, char *err, size_t err_room);

/*
 * Gives the grants their meaning on this system: users, groups,
 * executables, cgroups, public key files.  Same error convention.
 */
int policy_resolve(struct policy *pol, const struct resolve_opts *opts,
		   char *err, size_t err_room);

void policy_free(struct policy *pol);

/* --- containers.c ------------------------------------------------------------ */

bool cgroup_below(const char *cgroup, const char *parent);

/*
 * The first container rule of @ch that lets a container in @cgroup have
 * @rights (0: any rights the rule gives), or NULL.
 */
const struct policy_grant *container_rule(const struct policy_channel *ch,
					  const char *cgroup, uint32_t rights);

/* What @rule grants a container in @cgroup: its principal, on @cgroup. */
void container_principal(const struct policy_grant *rule, const char *cgroup,
			 struct mpklink_principal *out);

/* Whether a container rule of @ch allows the grant @g (apply keeps it). */
bool container_grant_allowed(const struct policy_channel *ch,
			     const struct mpklink_grant *g);

/* --- device.c --------------------------------------------------------------- */

/* Opens /dev/mpklink (or $MPKLINK_DEVICE).  -errno. */
int device_open(void);
const char *device_path(void);

/* Reads every channel, or one, with its grants and members. */
struct kchannel {
	struct mpklink_channel_info info;
	struct mpklink_grant *grants;
	unsigned int nr_grants;
	struct mpklink_member_info *members;
	unsigned int nr_members;
};

struct kstate {
	struct kchannel *channels;
	unsigned int nr_channels;
};

int device_read_state(int dev, const char *only, struct kstate *st);
void kstate_free(struct kstate *st);
struct kchannel *kstate_find(struct kstate *st, const char *name);

int device_create(int dev, const char *name, uint64_t segment_size,
		  uint32_t max_members, bool is_signed);
int device_destroy(int dev, const char *name);
int device_grant(int dev, const char *name,
		 const struct mpklink_principal *p, uint32_t rights,
		 const uint8_t *pubkey);
int device_revoke(int dev, const char *name,
		  const struct mpklink_principal *p);

/* The module's parameter @name from sysfs, or @fallback. */
uint64_t module_param(const char *name, uint64_t fallback);

/* --- apply.c ------------------------------------------------------------------ */

int apply_policy(int dev, const struct policy *pol, bool dry_run,
		 FILE *out);
int dump_state(const struct kstate *st, bool json, FILE *out);

#endif /* MPKLINK_GRANT_H */
