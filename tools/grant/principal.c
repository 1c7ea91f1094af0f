// SPDX-License-Identifier: GPL-2.0
/*
 * Principals, as operators write them: "user=orders,exe=/usr/bin/svc".
 *
 * Parsing is split from meaning: without resolve options only the syntax
 * and the values that need no lookup are checked (the policy fuzzer runs
 * that); with them, names become ids, executables digests, and cgroups are
 * looked up, and a principal that could never match a process is refused
 * here rather than granted silently.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grant.h"

enum key { K_UID, K_USER, K_GID, K_GROUP, K_EXE, K_SHA256, K_CGROUP, K_N };

static const char *const key_names[K_N] = {
	"uid", "user", "gid", "group", "exe", "sha256", "cgroup",
};

struct term {
	size_t off;		/* of the key, in the principal's text */
	size_t value_off;
	char value[PATH_MAX];
	bool seen;
};

/* --- executables --------------------------------------------------------- */

int file_sha256(const char *path, uint8_t digest[MPKLINK_SHA256_SIZE])
{
	crypto_hash_sha256_state state;
	static uint8_t buf[64 * 1024];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	crypto_hash_sha256_init(&state);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return (int)n;
		}
		crypto_hash_sha256_update(&state, buf, (unsigned long long)n);
	}
	close(fd);
	crypto_hash_sha256_final(&state, digest);
	return 0;
}

/*
 * The kernel hashes the file a process executes.  A script is not that
 * file (its interpreter is), and a file nobody may execute is nobody's:
 * either way the principal would match nothing.
 */
static int resolve_exe(const char *path, uint8_t *digest, char *err)
{
	char head[2] = { 0 };
	struct stat st;
	int fd, ret;

	if (stat(path, &st)) {
		snprintf(err, ERROR_MAX, "executable %.200s: %.200s", path,
			 strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, ERROR_MAX, "executable %.200s is not a regular file",
			 path);
		return -1;
	}
	if (!(st.st_mode & 0111)) {
		snprintf(err, ERROR_MAX,
			 "%.200s is not executable: no process can run it, so the principal matches nothing",
			 path);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ret = (int)read(fd, head, sizeof(head));
		close(fd);
		if (ret == 2 && head[0] == '#' && head[1] == '!') {
			snprintf(err, ERROR_MAX,
				 "%.200s is a script: a process running it executes its interpreter, so exe= would match nothing (name the interpreter, or use uid/gid/cgroup)",
				 path);
			return -1;
		}
	}
	ret = file_sha256(path, digest);
	if (ret) {
		snprintf(err, ERROR_MAX, "executable %.200s: %.200s", path,
			 strerror(-ret));
		return -1;
	}
	return 0;
}

/* --- cgroups ------------------------------------------------------------- */

/* The kernel takes canonical paths only: "/" or "/a/b". */
static bool cgroup_path_valid(const char *path)
{
	size_t len = strlen(path);
	const char *c = path;

	if (len == 0 || len >= MPKLINK_CGROUP_PATH_MAX || path[0] != '/')
		return false;
	if (len == 1)
		return true;
	if (path[len - 1] == '/')
		return false;
	while (*c) {
		const char *next = strchr(c + 1, '/');
		size_t comp = next ? (size_t)(next - c - 1) : strlen(c + 1);

		if (comp == 0 || (comp == 1 && c[1] == '.') ||
		    (comp == 2 && c[1] == '.' && c[2] == '.'))
			return false;
		if (!next)
			break;
		c = next;
	}
	return true;
}

/* Where the cgroup v2 hierarchy is mounted, from /proc/self/mountinfo. */
static const char *cgroup2_mount(void)
{
	static char mount[PATH_MAX];
	char line[4096];
	FILE *f;

	if (mount[0])
		return mount;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts... - fstype src opts */
		char *sep = strstr(line, " - "), *mp;
		int field = 0;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		for (mp = line; *mp && field < 4; mp++)
			if (*mp == ' ')
				field++;
		if (field == 4 && sscanf(mp, "%4095s", mount) == 1)
			break;
		mount[0] = 0;
	}
	fclose(f);
	return mount[0] ? mount : NULL;
}

static int resolve_cgroup(const char *path, const struct resolve_opts *opts,
			  char *err)
{
	const char *root = opts->cgroup_root ? opts->cgroup_root :
			   cgroup2_mount();
	char full[PATH_MAX];
	struct stat st;

	if (opts->allow_missing_cgroup)
		return 0;
	if (!root) {
		snprintf(err, ERROR_MAX,
			 "no cgroup2 file system is mounted, so cgroup %.200s cannot be checked (--allow-missing-cgroup to grant it anyway)",
			 path);
		return -1;
	}
	snprintf(full, sizeof(full), "%s%s", root, strcmp(path, "/") ? path : "");
	if (stat(full, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(err, ERROR_MAX,
			 "cgroup %.200s does not exist, so the principal matches nothing (--allow-missing-cgroup if it will be created later)",
			 path);
		return -1;
	}
	return 0;
}

/* --- parsing ------------------------------------------------------------- */

static int parse_id(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	/* (uid_t)-1 means "no id" to the kernel: it is never a principal. */
	if (errno || *end || v >= UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/*
 * Splits off the next "key=value" term at @pos.  Fills @key and @t; moves
 * @pos past the term and its comma.  -1 with @err and *@err_off on error.
 */
static int next_term(const char *text, size_t len, size_t *pos, enum key *key,
		     struct term *t, char *err, size_t *err_off)
{
	size_t start = *pos, i = *pos, klen, vlen = 0;
	int k;

	while (i < len && text[i] != '=' && text[i] != ',')
		i++;
	klen = i - start;
	if (i >= len || text[i] != '=' || klen == 0) {
		*err_off = start;
		snprintf(err, ERROR_MAX,
			 "expected KEY=VALUE with KEY one of uid, user, gid, group, exe, sha256, cgroup");
		return -1;
	}
	for (k = 0; k < K_N; k++)
		if (strlen(key_names[k]) == klen &&
		    !strncmp(text + start, key_names[k], klen))
			break;
	if (k == K_N) {
		*err_off = start;
		snprintf(err, ERROR_MAX,
			 "unknown principal key '%.*s': expected uid, user, gid, group, exe, sha256 or cgroup",
			 (int)(klen > 32 ? 32 : klen), text + start);
		return -1;
	}
	*key = (enum key)k;
	t->off = start;
	t->value_off = ++i;
	if (i < len && text[i] == '"') {
		for (i++; i < len && text[i] != '"'; i++) {
			if (text[i] == '\\' && i + 1 < len &&
			    (text[i + 1] == '"' || text[i + 1] == '\\'))
				i++;
			if (vlen + 1 >= sizeof(t->value))
				goto too_long;
			t->value[vlen++] = text[i];
		}
		if (i >= len) {
			*err_off = t->value_off;
			snprintf(err, ERROR_MAX, "unterminated quoted value");
			return -1;
		}
		i++;
		if (i < len && text[i] != ',') {
			*err_off = i;
			snprintf(err, ERROR_MAX,
				 "expected ',' or the end of the principal after a quoted value");
			return -1;
		}
	} else {
		for (; i < len && text[i] != ','; i++) {
			if (text[i] == '"' || (unsigned char)text[i] < 0x20) {
				*err_off = i;
				snprintf(err, ERROR_MAX,
					 "unexpected %.200s in a value (quote the whole value)",
					 text[i] == '"' ? "'\"'" : "control character");
				return -1;
			}
			if (vlen + 1 >= sizeof(t->value))
				goto too_long;
			t->value[vlen++] = text[i];
		}
	}
	t->value[vlen] = 0;
	if (vlen == 0) {
		*err_off = t->value_off;
		snprintf(err, ERROR_MAX, "empty value for %.200s", key_names[k]);
		return -1;
	}
	if (i < len) {		/* the comma */
		i++;
		if (i == len) {
			*err_off = i - 1;
			snprintf(err, ERROR_MAX, "expected a KEY=VALUE after ','");
			return -1;
		}
	}
	*pos = i;
	return 0;

too_long:
	*err_off = t->value_off;
	snprintf(err, ERROR_MAX, "value of %.200s is too long", key_names[k]);
	return -1;
}

/* The checks that need no lookup. */
static int check_value(enum key key, struct term *t,
		       struct mpklink_principal *k, char *err)
{
	switch (key) {
	case K_UID:
	case K_GID:
		if (parse_id(t->value, key == K_UID ? &k->uid : &k->gid)) {
			snprintf(err, ERROR_MAX,
				 "%.200s must be a number from 0 to 4294967294",
				 key_names[key]);
			return -1;
		}
		k->match |= key == K_UID ? MPKLINK_MATCH_UID : MPKLINK_MATCH_GID;
		return 0;
	case K_USER:
	case K_GROUP:
		return 0;
	case K_EXE:
		if (t->value[0] != '/') {
			snprintf(err, ERROR_MAX,
				 "exe must be an absolute path");
			return -1;
		}
		return 0;
	case K_SHA256:
		if (strlen(t->value) != 2 * MPKLINK_SHA256_SIZE ||
		    parse_hex(t->value, strlen(t->value), k->exe_sha256,
			      MPKLINK_SHA256_SIZE)) {
			snprintf(err, ERROR_MAX,
				 "sha256 must be 64 hexadecimal digits");
			return -1;
		}
		k->match |= MPKLINK_MATCH_EXE;
		return 0;
	case K_CGROUP:
		if (!cgroup_path_valid(t->value)) {
			snprintf(err, ERROR_MAX,
				 "cgroup must be an absolute path without '.', '..', '//' or a trailing '/', shorter than %d bytes",
				 MPKLINK_CGROUP_PATH_MAX);
			return -1;
		}
		strcpy(k->cgroup, t->value);
		k->match |= MPKLINK_MATCH_CGROUP;
		return 0;
	default:
		return -1;
	}
}

/* Lookups; then two ways of naming one field must agree. */
static int resolve(struct term *terms, struct mpklink_principal *k,
		   const struct resolve_opts *opts, char *err, size_t *err_off)
{
	uint8_t digest[MPKLINK_SHA256_SIZE];
	struct passwd *pw;
	struct group *gr;

	if (terms[K_USER].seen) {
		*err_off = terms[K_USER].value_off;
		pw = getpwnam(terms[K_USER].value);
		if (!pw) {
			snprintf(err, ERROR_MAX, "unknown user '%.200s'",
				 terms[K_USER].value);
			return -1;
		}
		if (terms[K_UID].seen && k->uid != pw->pw_uid) {
			snprintf(err, ERROR_MAX,
				 "user %.200s has uid %u, not %u: the principal matches nothing",
				 terms[K_USER].value, (unsigned int)pw->pw_uid,
				 k->uid);
			return -1;
		}
		k->uid = pw->pw_uid;
		k->match |= MPKLINK_MATCH_UID;
	}
	if (terms[K_GROUP].seen) {
		*err_off = terms[K_GROUP].value_off;
		gr = getgrnam(terms[K_GROUP].value);
		if (!gr) {
			snprintf(err, ERROR_MAX, "unknown group '%.200s'",
				 terms[K_GROUP].value);
			return -1;
		}
		if (terms[K_GID].seen && k->gid != gr->gr_gid) {
			snprintf(err, ERROR_MAX,
				 "group %.200s has gid %u, not %u: the principal matches nothing",
				 terms[K_GROUP].value, (unsigned int)gr->gr_gid,
				 k->gid);
			return -1;
		}
		k->gid = gr->gr_gid;
		k->match |= MPKLINK_MATCH_GID;
	}
	if (terms[K_EXE].seen) {
		*err_off = terms[K_EXE].value_off;
		if (resolve_exe(terms[K_EXE].value, digest, err))
			return -1;
		if (terms[K_SHA256].seen &&
		    memcmp(digest, k->exe_sha256, sizeof(digest))) {
			snprintf(err, ERROR_MAX,
				 "%.200s does not have the digest given in sha256=: the principal matches nothing",
				 terms[K_EXE].value);
			return -1;
		}
		memcpy(k->exe_sha256, digest, sizeof(digest));
		k->match |= MPKLINK_MATCH_EXE;
	}
	if (terms[K_CGROUP].seen) {
		*err_off = terms[K_CGROUP].value_off;
		if (resolve_cgroup(k->cgroup, opts, err))
			return -1;
	}
	return 0;
}

int principal_parse(const char *text, size_t len, struct principal *p,
		    const struct resolve_opts *opts, char *err,
		    size_t *err_off)
{
	static struct term terms[K_N];	/* big: PATH_MAX each */
	size_t pos = 0;
	enum key key;
	struct term t;

	memset(p, 0, sizeof(*p));
	memset(terms, 0, sizeof(terms));
	if (len == 0) {
		*err_off = 0;
		snprintf(err, ERROR_MAX,
			 "expected a principal: KEY=VALUE[,KEY=VALUE...]");
		return -1;
	}
	while (pos < len) {
		if (next_term(text, len, &pos, &key, &t, err, err_off))
			return -1;
		if (terms[key].seen) {
			*err_off = t.off;
			snprintf(err, ERROR_MAX, "%.200s given twice",
				 key_names[key]);
			return -1;
		}
		*err_off = t.value_off;
		if (check_value(key, &t, &p->k, err))
			return -1;
		terms[key] = t;
		terms[key].seen = true;
	}
	if (!opts) {
		/* Names still count as matching something. */
		if (terms[K_USER].seen)
			p->k.match |= MPKLINK_MATCH_UID;
		if (terms[K_GROUP].seen)
			p->k.match |= MPKLINK_MATCH_GID;
		if (terms[K_EXE].seen)
			p->k.match |= MPKLINK_MATCH_EXE;
		return 0;
	}
	return resolve(terms, &p->k, opts, err, err_off);
}

/* --- formatting ---------------------------------------------------------- */

static void append(char *buf, size_t room, const char *key,
		   const char *value)
{
	size_t used = strlen(buf);

	if (used < room)
		snprintf(buf + used, room - used, "%s%s=%s", used ? "," : "",
			 key, value);
}

static void quote_if_needed(const char *value, char *out, size_t room)
{
	size_t n = 0;

	if (!strpbrk(value, ",\" \t\\#{};")) {
		snprintf(out, room, "%s", value);
		return;
	}
	out[n++] = '"';
	for (; *value && n + 3 < room; value++) {
		if (*value == '"' || *value == '\\')
			out[n++] = '\\';
		out[n++] = *value;
	}
	out[n++] = '"';
	out[n] = 0;
}

void principal_format(const struct mpklink_principal *p, char *buf,
		      size_t room)
{
	char value[2 * MPKLINK_CGROUP_PATH_MAX + 3];
	struct passwd *pw;
	struct group *gr;

	buf[0] = 0;
	if (p->match & MPKLINK_MATCH_UID) {
		pw = getpwuid(p->uid);
		if (pw) {
			quote_if_needed(pw->pw_name, value, sizeof(value));
			append(buf, room, "user", value);
		} else {
			snprintf(value, sizeof(value), "%u", p->uid);
			append(buf, room, "uid", value);
		}
	}
	if (p->match & MPKLINK_MATCH_GID) {
		gr = getgrgid(p->gid);
		if (gr) {
			quote_if_needed(gr->gr_name, value, sizeof(value));
			append(buf, room, "group", value);
		} else {
			snprintf(value, sizeof(value), "%u", p->gid);
			append(buf, room, "gid", value);
		}
	}
	if (p->match & MPKLINK_MATCH_EXE) {
		format_hex(p->exe_sha256, MPKLINK_SHA256_SIZE, value);
		append(buf, room, "sha256", value);
	}
	if (p->match & MPKLINK_MATCH_CGROUP) {
		quote_if_needed(p->cgroup, value, sizeof(value));
		append(buf, room, "cgroup", value);
	}
}

bool principal_equal(const struct mpklink_principal *a,
		     const struct mpklink_principal *b)
{
	if (a->match != b->match)
		return false;
	if (a->match & MPKLINK_MATCH_UID && a->uid != b->uid)
		return false;
	if (a->match & MPKLINK_MATCH_GID && a->gid != b->gid)
		return false;
	if (a->match & MPKLINK_MATCH_EXE &&
	    memcmp(a->exe_sha256, b->exe_sha256, MPKLINK_SHA256_SIZE))
		return false;
	if (a->match & MPKLINK_MATCH_CGROUP && strcmp(a->cgroup, b->cgroup))
		return false;
	return true;
}
