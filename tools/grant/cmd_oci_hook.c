// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink-grant oci-hook: an OCI runtime hook that grants a container the
 * channels it asks for when it is created and revokes them when it stops.
 *
 * The runtime runs it with the container's state (JSON: id, status, pid,
 * bundle, annotations) on stdin, at createRuntime (the container's
 * processes exist, in their cgroup, and have not run its program yet) and
 * at poststop (they are gone).  What the container asks for comes from
 * --channel NAME[:RIGHTS] (a CDI device, cmd_cdi.c) or else from its
 * annotation org.mpklink.channels=NAME[:RIGHTS],...; what it gets is
 * decided by the policy's container rules (containers.c): a grant to the
 * container's own cgroup.  A request that no rule allows fails the hook,
 * and with it the container's start, before anything is granted.
 *
 * By poststop the container's pid and cgroup are gone, so createRuntime
 * records what it granted in STATE_DIR/ID ("CHANNEL RIGHTS CGROUP" lines)
 * before granting, and poststop revokes what is recorded.  Both stages are
 * idempotent: a second createRuntime grants the same again, a second
 * poststop finds nothing to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"

#define ANNOTATION "org.mpklink.channels"
#define DEFAULT_STATE_DIR "/run/mpklink/containers"
#define STATE_MAX (1u << 20)
#define REQUESTS_MAX 64

struct request {
	char name[MPKLINK_NAME_MAX];
	uint32_t rights;		/* 0: what the policy's rule gives */
	const struct policy_grant *rule;
};

struct hook {
	const char *id;
	const char *status;
	long pid;
	struct request req[REQUESTS_MAX];
	unsigned int nr_req;
	const char *state_dir;
	char cgroup[MPKLINK_CGROUP_PATH_MAX];
	json_t *state;
};

static const char *container_id;

static int hook_error(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * One line naming the container, on stderr (runc puts it in its error;
 * crun discards it unless the container's run.oci.hooks.stderr annotation
 * names a file) and in the system log, which outlives both.
 */
static void hook_log(int priority, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (container_id)
		syslog(priority, "container %s: %s", container_id, msg);
	else
		syslog(priority, "%s", msg);
	if (priority != LOG_ERR)
		return;
	fputs("mpklink-grant oci-hook: ", stderr);
	if (container_id)
		fprintf(stderr, "container %s: ", container_id);
	fprintf(stderr, "%s\n", msg);
}

static int hook_error(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hook_log(LOG_ERR, fmt, ap);
	va_end(ap);
	return code;
}

/* What was granted or revoked: the system log and stdout. */
static void hook_info(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void hook_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hook_log(LOG_INFO, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	printf("mpklink-grant oci-hook: container %s: ", container_id);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
}

/* The OCI id becomes a file name: nothing but what runtimes use. */
static bool id_valid(const char *id)
{
	size_t n = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");

	return n && n <= 256 && !id[n] && id[0] != '.';
}

static int read_hook_state(struct hook *h)
{
	json_error_t jerr;
	size_t len;
	char *buf;
	json_t *v;

	/* A state is a few hundred bytes; never read without a bound. */
	buf = malloc(STATE_MAX + 1);
	if (!buf)
		return hook_error(EXIT_FAILED, "out of memory");
	len = fread(buf, 1, STATE_MAX + 1, stdin);
	if (len > STATE_MAX) {
		free(buf);
		return hook_error(EXIT_USAGE, "the container state on stdin is larger than %u KiB",
				  STATE_MAX >> 10);
	}
	h->state = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!h->state)
		return hook_error(EXIT_USAGE,
				  "the container state on stdin is not JSON: %s (line %d)",
				  jerr.text, jerr.line);
	if (!json_is_object(h->state))
		return hook_error(EXIT_USAGE, "the container state is not a JSON object");
	v = json_object_get(h->state, "id");
	if (!json_is_string(v) || !id_valid(json_string_value(v)))
		return hook_error(EXIT_USAGE,
				  "the state has no usable \"id\" (1 to 256 of A-Z a-z 0-9 _ . -)");
	h->id = container_id = json_string_value(v);
	v = json_object_get(h->state, "status");
	h->status = json_is_string(v) ? json_string_value(v) : "";
	v = json_object_get(h->state, "pid");
	h->pid = json_is_integer(v) ? (long)json_integer_value(v) : 0;
	return EXIT_OK;
}

/* "orders:rw,audit:r,logs": the requests, each checked. */
static int parse_requests(struct hook *h, const char *text, const char *from)
{
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, ",:"), r;
		struct request *q;
		unsigned int i;

		if (h->nr_req == REQUESTS_MAX)
			return hook_error(EXIT_USAGE, "%s: more than %d channels",
					  from, REQUESTS_MAX);
		q = &h->req[h->nr_req];
		memset(q, 0, sizeof(*q));
		if (!name_valid(p, n))
			return hook_error(EXIT_USAGE,
					  "%s: '%.*s' is not a channel name (in \"%s\")",
					  from, (int)n, p, text);
		memcpy(q->name, p, n);
		p += n;
		if (*p == ':') {
			r = strcspn(++p, ",");
			if (parse_rights(p, r, &q->rights))
				return hook_error(EXIT_USAGE,
						  "%s: rights of %s must be r, w or rw, not '%.*s'",
						  from, q->name, (int)r, p);
			p += r;
		}
		for (i = 0; i < h->nr_req; i++)
			if (!strcmp(h->req[i].name, q->name))
				return hook_error(EXIT_USAGE,
						  "%s: channel %s asked for twice",
						  from, q->name);
		h->nr_req++;
		if (*p == ',' && !*++p)
			return hook_error(EXIT_USAGE, "%s: empty entry at the end",
					  from);
	}
	return EXIT_OK;
}

static int find_requests(struct hook *h, const struct options *o)
{
	json_t *ann, *v;

	if (o->channel)
		return parse_requests(h, o->channel, "--channel");
	ann = json_object_get(h->state, "annotations");
	v = json_object_get(ann, ANNOTATION);
	if (!v)
		return EXIT_OK;
	if (!json_is_string(v) || !*json_string_value(v))
		return hook_error(EXIT_USAGE, "annotation %s must be a string such as \"orders:rw,audit:r\"",
				  ANNOTATION);
	return parse_requests(h, json_string_value(v), ANNOTATION);
}

/* The cgroup v2 path of @pid, from the host's /proc. */
static int container_cgroup(struct hook *h)
{
	char path[64], line[MPKLINK_CGROUP_PATH_MAX + 8];
	FILE *f;

	if (h->pid <= 0)
		return hook_error(EXIT_USAGE,
				  "the state has no \"pid\" (is this hook run at createRuntime?)");
	snprintf(path, sizeof(path), "/proc/%ld/cgroup", h->pid);
	f = fopen(path, "re");
	if (!f)
		return hook_error(EXIT_FAILED, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::/", 4))
			continue;
		line[strcspn(line, "\n")] = 0;
		fclose(f);
		if (strlen(line + 3) >= sizeof(h->cgroup))
			return hook_error(EXIT_FAILED, "cgroup path too long");
		strcpy(h->cgroup, line + 3);
		return EXIT_OK;
	}
	fclose(f);
	return hook_error(EXIT_FAILED,
			  "process %ld is in no cgroup v2 (container rules need the unified hierarchy)",
			  h->pid);
}

/* Every request against the policy, before anything is granted. */
static int check_requests(struct hook *h, const struct policy *pol,
			  const char *policy_file)
{
	unsigned int i, c;

	for (i = 0; i < h->nr_req; i++) {
		struct request *q = &h->req[i];
		const struct policy_channel *ch = NULL;

		for (c = 0; c < pol->nr_channels; c++)
			if (!strcmp(pol->channels[c].name, q->name))
				ch = &pol->channels[c];
		q->rule = ch ? container_rule(ch, h->cgroup, q->rights) : NULL;
		if (!q->rule)
			return hook_error(EXIT_DENIED,
					  "may not have channel %s%s%s: no container rule of %s%s allows it for cgroup %s",
					  q->name, q->rights ? " with rights " : "",
					  q->rights ? rights_string(q->rights) : "",
					  policy_file, ch ? "" : " (no such channel)",
					  h->cgroup);
		if (!q->rights)
			q->rights = q->rule->rights;
	}
	return EXIT_OK;
}

/* --- the record: what was granted, for poststop ---------------------------- */

struct record {
	char *lines;		/* "CHANNEL RIGHTS CGROUP\n"... */
	size_t len;
};

static int lock_state_dir(const char *dir)
{
	char path[4096];
	int fd;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		/* Its parent (/run/mpklink) may not exist yet either. */
		char *parent = strdup(dir), *slash = parent ? strrchr(parent, '/') : NULL;

		if (slash && slash != parent) {
			*slash = 0;
			mkdir(parent, 0755);
		}
		free(parent);
		if (mkdir(dir, 0700) && errno != EEXIST)
			return hook_error(-1, "%s: %s", dir, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX)) {
		hook_error(0, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int record_read(const struct hook *h, struct record *rec)
{
	char path[4096];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", h->state_dir, h->id);
	rec->lines = NULL;
	rec->len = 0;
	if (access(path, F_OK) && errno == ENOENT)
		return EXIT_OK;
	ret = read_file(path, &rec->lines, &rec->len);
	if (!ret && rec->len && rec->lines[rec->len - 1] != '\n')
		rec->len = 0;	/* torn: cannot be ours */
	return ret;
}

/* Replaces the record (none when empty), atomically. */
static int record_write(const struct hook *h, const struct record *rec)
{
	char path[4096], tmp[4096 + 8];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", h->state_dir, h->id);
	if (!rec->len) {
		if (unlink(path) && errno != ENOENT)
			return hook_error(EXIT_FAILED, "%s: %s", path, strerror(errno));
		return EXIT_OK;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, rec->lines, rec->len) != (ssize_t)rec->len ||
	    fsync(fd) || close(fd) || rename(tmp, path)) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return hook_error(EXIT_FAILED, "%s: %s", path, strerror(err));
	}
	return EXIT_OK;
}

/* Whether @rec has a line for channel @name (and where it is). */
static char *record_find(const struct record *rec, const char *name)
{
	char *p = rec->lines, *end = rec->lines + rec->len;
	size_t n = strlen(name);

	while (p && p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!strncmp(p, name, n) && p[n] == ' ')
			return p;
		p = nl ? nl + 1 : end;
	}
	return NULL;
}

static int record_add(struct record *rec, const char *name, uint32_t rights,
		      const char *cgroup)
{
	char line[MPKLINK_NAME_MAX + MPKLINK_CGROUP_PATH_MAX + 8], *bigger;
	int n;

	if (record_find(rec, name))
		return 0;
	n = snprintf(line, sizeof(line), "%s %s %s\n", name,
		     rights_string(rights), cgroup);
	bigger = realloc(rec->lines, rec->len + (size_t)n);
	if (!bigger)
		return -1;
	memcpy(bigger + rec->len, line, (size_t)n);
	rec->lines = bigger;
	rec->len += (size_t)n;
	return 0;
}

static void record_drop(struct record *rec, char *line)
{
	char *nl = memchr(line, '\n', rec->len - (size_t)(line - rec->lines));
	size_t n = (size_t)(nl + 1 - line);

	memmove(line, nl + 1, rec->len - (size_t)(line - rec->lines) - n);
	rec->len -= n;
}

/* --- the two stages ---------------------------------------------------------- */

/* Revokes every grant of channel @name on exactly @cgroup. */
static int revoke_cgroup(int dev, const char *name, const char *cgroup)
{
	struct kstate st;
	unsigned int i;
	int ret;

	ret = device_read_state(dev, name, &st);
	if (ret == -ENOENT)
		return 0;	/* the channel went, and its grants with it */
	if (ret)
		return ret;
	for (i = 0; i < st.channels[0].nr_grants && !ret; i++) {
		const struct mpklink_principal *p =
			&st.channels[0].grants[i].principal;

		if (p->match & MPKLINK_MATCH_CGROUP && !strcmp(p->cgroup, cgroup)) {
			ret = device_revoke(dev, name, p);
			if (ret == -ENOENT)
				ret = 0;
		}
	}
	kstate_free(&st);
	return ret;
}

static int create(struct hook *h, const struct options *o)
{
	const char *file = policy_path(o);
	/* Only the container rules matter here: a grant's cgroup may be
	 * missing (one of another container that has not started). */
	struct options lenient = { .allow_missing_cgroup = true };
	struct mpklink_principal p;
	struct policy pol;
	struct record rec;
	unsigned int i, done = 0;
	int dev, lock, ret;

	if (!h->nr_req)
		return EXIT_OK;		/* asks for nothing: not ours */
	ret = container_cgroup(h);
	if (ret || (ret = load_policy(file, &lenient, &pol)))
		return ret;
	ret = check_requests(h, &pol, file);
	if (ret)
		goto out_policy;
	dev = device_open();
	if (dev < 0) {
		ret = kernel_error(dev, "opening the device", "");
		goto out_policy;
	}
	lock = lock_state_dir(h->state_dir);
	if (lock < 0) {
		ret = EXIT_FAILED;
		goto out_dev;
	}
	ret = record_read(h, &rec);
	for (i = 0; !ret && i < h->nr_req; i++)
		if (record_add(&rec, h->req[i].name, h->req[i].rights, h->cgroup))
			ret = hook_error(EXIT_FAILED, "out of memory");
	/* Recorded first: a hook killed after granting leaves a trace. */
	if (!ret)
		ret = record_write(h, &rec);
	for (; !ret && done < h->nr_req; done++) {
		const struct request *q = &h->req[done];

		container_principal(q->rule, h->cgroup, &p);
		ret = device_grant(dev, q->name, &p, q->rights,
				   q->rule->has_pubkey ? q->rule->pubkey : NULL);
		if (ret) {
			ret = kernel_error(ret, "grant", q->name);
			hook_error(0, "granting %s failed: the container must not start",
				   q->name);
		} else {
			hook_info("granted %s %s to cgroup %s", q->name,
				  rights_string(q->rights), h->cgroup);
		}
	}
	if (ret && done) {
		/* All or nothing: take back what this run granted. */
		for (i = 0; i < done; i++) {
			char *line = record_find(&rec, h->req[i].name);

			if (!revoke_cgroup(dev, h->req[i].name, h->cgroup) && line)
				record_drop(&rec, line);
		}
		record_write(h, &rec);
	}
	free(rec.lines);
	close(lock);
out_dev:
	close(dev);
out_policy:
	policy_free(&pol);
	return ret;
}

static bool requested(const struct hook *h, const char *name)
{
	unsigned int i;

	for (i = 0; i < h->nr_req; i++)
		if (!strcmp(h->req[i].name, name))
			return true;
	return false;
}

/* Revokes what the record holds: of the --channel ones, or all of it. */
static int poststop(struct hook *h, const struct options *o)
{
	char name[MPKLINK_NAME_MAX], cgroup[MPKLINK_CGROUP_PATH_MAX];
	struct record rec;
	int dev, lock, ret, err;
	char *line;

	lock = lock_state_dir(h->state_dir);
	if (lock < 0)
		return EXIT_FAILED;
	ret = record_read(h, &rec);
	if (ret || !rec.len)
		goto out;
	dev = device_open();
	if (dev < 0) {
		ret = kernel_error(dev, "opening the device", "");
		goto out;
	}
	line = rec.lines;
	while (line < rec.lines + rec.len) {
		char *nl = memchr(line, '\n', rec.len - (size_t)(line - rec.lines));
		int n = 0;

		*nl = 0;
		if (sscanf(line, "%63s %*s %n", name, &n) != 1 || !n ||
		    strlen(line + n) >= sizeof(cgroup) ||
		    (o->channel && !requested(h, name))) {
			*nl = '\n';
			line = nl + 1;
			continue;
		}
		strcpy(cgroup, line + n);
		*nl = '\n';
		err = revoke_cgroup(dev, name, cgroup);
		if (err) {
			ret = kernel_error(err, "revoke", name);
			line = nl + 1;
			continue;
		}
		hook_info("revoked %s from cgroup %s", name, cgroup);
		record_drop(&rec, line);
	}
	close(dev);
	err = record_write(h, &rec);
	if (!ret)
		ret = err;
out:
	free(rec.lines);
	close(lock);
	return ret;
}

int cmd_oci_hook(int argc, char **argv)
{
	struct hook h = { 0 };
	struct options o;
	const char *stage;
	int ret;

	ret = parse_options(argc, argv, "PCDc", -1, &o);
	if (ret)
		return ret;
	openlog("mpklink-grant", LOG_PID, LOG_AUTHPRIV);
	h.state_dir = o.state_dir ? o.state_dir : DEFAULT_STATE_DIR;
	ret = read_hook_state(&h);
	if (ret)
		goto out;
	/*
	 * The stage named, else the one the state's status says: runc says
	 * "creating" at createRuntime, crun "created"; both "stopped" at
	 * poststop.  (hooks.d runs one command at both stages, unnamed.)
	 */
	stage = o.nr_args ? o.args[0] :
		!strcmp(h.status, "creating") || !strcmp(h.status, "created") ?
		"createRuntime" :
		!strcmp(h.status, "stopped") ? "poststop" : h.status;
	if (!strcmp(stage, "createRuntime")) {
		ret = find_requests(&h, &o);
		if (!ret)
			ret = create(&h, &o);
	} else if (!strcmp(stage, "poststop")) {
		/* What was granted is recorded: the annotation is not needed. */
		if (o.channel)
			ret = parse_requests(&h, o.channel, "--channel");
		if (!ret)
			ret = poststop(&h, &o);
	} else {
		ret = hook_error(EXIT_USAGE,
				 "run at createRuntime or poststop (as a stage argument, or a state with status \"creating\", \"created\" or \"stopped\"), not at '%s'",
				 *stage ? stage : "(no status)");
	}
out:
	json_decref(h.state);
	return ret;
}
