// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink-grant: channels of /dev/mpklink and who may use them.
 * mpklink-grant(8) is the manual; "mpklink-grant help" the summary.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grant.h"

/* MPKLINK_VERSION: tools/Makefile passes the one in tools/build/flags.mk. */
#define POLICY_MAX (16u << 20)

static const char usage_text[] =
	"usage: mpklink-grant COMMAND [ARGUMENTS]\n"
	"\n"
	"Channels:\n"
	"  create NAME --size SIZE [--members N] [--signed]\n"
	"  destroy NAME\n"
	"  list [--json]\n"
	"  show NAME [--json]\n"
	"Grants (PRINCIPAL: uid=N, user=NAME, gid=N, group=NAME, exe=/path,\n"
	"        sha256=HEX, cgroup=/path, joined with commas):\n"
	"  grant NAME PRINCIPAL --rights r|w|rw [--pubkey FILE|HEX]\n"
	"  revoke NAME PRINCIPAL\n"
	"Policy files:\n"
	"  apply FILE [--dry-run]     make the kernel match FILE ('-': stdin)\n"
	"  check FILE                 validate FILE without touching the kernel\n"
	"  dump [--json]              the kernel's state as a policy file\n"
	"Signed channels:\n"
	"  keygen [--force] PATH      write PATH.key (secret, 0600) and PATH.pub\n"
	"  enroll NAME PRINCIPAL --pubkey FILE|HEX [--rights r|w|rw]\n"
	"\n"
	"grant, apply and check take --allow-missing-cgroup.  See mpklink-grant(8).\n";

/* A bad value (name, size, rights, key): one line naming it. */
static int value_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int value_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mpklink-grant: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* A malformed command line: the problem, and where to read about it. */
#define usage_error(...)						\
	(value_error(__VA_ARGS__),					\
	 fputs("(mpklink-grant help for usage)\n", stderr), EXIT_USAGE)

/* One line about an error from the kernel, and the exit code for it. */
static int kernel_error(int err, const char *what, const char *name)
{
	switch (-err) {
	case EPERM:
	case EACCES:
		fprintf(stderr,
			"mpklink-grant: %s: permission denied: managing channels needs CAP_SYS_ADMIN (run as root)\n",
			what);
		break;
	case ENODEV:
		fprintf(stderr,
			"mpklink-grant: %s not found: the mpklink module is not loaded (load it with \"modprobe mpklink\")\n",
			device_path());
		break;
	case EPROTO:
		fprintf(stderr,
			"mpklink-grant: %s speaks another version of the mpklink API than this tool (%d)\n",
			device_path(), MPKLINK_API_VERSION);
		return EXIT_FAILED;
	case ENOENT:
		fprintf(stderr, "mpklink-grant: no channel '%s'\n", name);
		break;
	case EEXIST:
		fprintf(stderr, "mpklink-grant: channel '%s' exists already\n",
			name);
		break;
	case ENOSPC:
		fprintf(stderr,
			"mpklink-grant: %s: the module's limit is reached (max_channels or max_grants)\n",
			what);
		return EXIT_CONFLICT;
	default:
		fprintf(stderr, "mpklink-grant: %s: %s\n", what, strerror(-err));
		break;
	}
	return exit_code_for(err);
}

static int open_device(void)
{
	int dev = device_open();

	if (dev < 0)
		exit(kernel_error(dev, "opening the device", ""));
	return dev;
}

/* --- options ---------------------------------------------------------------- */

#define MAX_ARGS 2

struct options {
	bool json, dry_run, is_signed, force, allow_missing_cgroup;
	const char *size, *members, *rights, *pubkey;
	char *args[MAX_ARGS];
	int nr_args;
};

enum { OPT_ALLOW_MISSING_CGROUP = 256 };

static const struct option long_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "signed", no_argument, NULL, 'S' },
	{ "force", no_argument, NULL, 'f' },
	{ "size", required_argument, NULL, 's' },
	{ "members", required_argument, NULL, 'm' },
	{ "rights", required_argument, NULL, 'r' },
	{ "pubkey", required_argument, NULL, 'k' },
	{ "allow-missing-cgroup", no_argument, NULL, OPT_ALLOW_MISSING_CGROUP },
	{ NULL, 0, NULL, 0 },
};

/*
 * Parses the command's options; @allowed lists the short names of those
 * it takes, @nargs how many arguments it needs.
 */
static int parse_options(int argc, char **argv, const char *allowed,
			 int nargs, struct options *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	/* "-": arguments come back in order as c == 1, options anywhere. */
	while ((c = getopt_long(argc, argv, "-", long_options, NULL)) != -1) {
		if (c == 1) {
			if (o->nr_args < MAX_ARGS)
				o->args[o->nr_args] = optarg;
			o->nr_args++;
			continue;
		}
		if (c == '?' || c == ':')
			return usage_error("%s: unknown option or missing value",
					   argv[optind - 1]);
		if (c == OPT_ALLOW_MISSING_CGROUP ? !strchr(allowed, 'c') :
		    !strchr(allowed, c))
			return usage_error("%s does not take that option",
					   argv[0]);
		switch (c) {
		case 'j': o->json = true; break;
		case 'n': o->dry_run = true; break;
		case 'S': o->is_signed = true; break;
		case 'f': o->force = true; break;
		case 's': o->size = optarg; break;
		case 'm': o->members = optarg; break;
		case 'r': o->rights = optarg; break;
		case 'k': o->pubkey = optarg; break;
		default: o->allow_missing_cgroup = true; break;
		}
	}
	if (o->nr_args != nargs) {
		fprintf(stderr, "mpklink-grant: %s takes %d argument%s, not %d\n",
			argv[0], nargs, nargs == 1 ? "" : "s", o->nr_args);
		fputs("(mpklink-grant help for usage)\n", stderr);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int check_name(const char *name)
{
	if (name_valid(name, strlen(name)))
		return EXIT_OK;
	return value_error("invalid channel name '%s': 1 to 63 characters of A-Z a-z 0-9 . _ -",
			   name);
}

static int get_principal(const char *text, const struct options *o,
			 bool revoking, struct principal *p)
{
	struct resolve_opts ro = {
		/* A grant on a cgroup that is gone must stay revocable. */
		.allow_missing_cgroup = o->allow_missing_cgroup || revoking,
	};
	char err[ERROR_MAX];
	size_t off;

	if (principal_parse(text, strlen(text), p, &ro, err, &off)) {
		fprintf(stderr, "mpklink-grant: principal '%s': %s\n", text,
			err);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int get_rights(const char *text, uint32_t *rights)
{
	if (text && !parse_rights(text, strlen(text), rights))
		return EXIT_OK;
	return value_error("--rights must be r, w or rw, not '%s'",
			   text ? text : "(missing)");
}

/* --- commands ----------------------------------------------------------------- */

static int cmd_create(int argc, char **argv)
{
	uint64_t size, max = module_param("max_segment_size", 64ull << 20);
	char err[ERROR_MAX], a[32], b[32];
	unsigned long members = 0;
	struct options o;
	int dev, ret;

	ret = parse_options(argc, argv, "sSm", 1, &o);
	if (ret || (ret = check_name(o.args[0])))
		return ret;
	if (!o.size)
		return usage_error("create needs --size SIZE (each writer's segment, e.g. 1M)");
	if (parse_size(o.size, strlen(o.size), &size, err))
		return value_error("%s", err);
	if (size > max) {
		format_size(size, a, sizeof(a));
		format_size(max, b, sizeof(b));
		fprintf(stderr,
			"mpklink-grant: size %s is larger than the module allows (%s, parameter max_segment_size)\n",
			a, b);
		return EXIT_USAGE;
	}
	if (o.members) {
		char *end;

		members = strtoul(o.members, &end, 10);
		if (*end || !members || members > MPKLINK_MAX_MEMBERS)
			return value_error("--members must be a number from 1 to 64, not '%s'",
					   o.members);
	}
	dev = open_device();
	ret = device_create(dev, o.args[0], size, (uint32_t)members,
			    o.is_signed);
	close(dev);
	if (ret)
		return kernel_error(ret, "create", o.args[0]);
	printf("created channel %s: size %s%s\n", o.args[0], o.size,
	       o.is_signed ? ", signed" : "");
	return EXIT_OK;
}

static int cmd_destroy(int argc, char **argv)
{
	struct options o;
	struct kstate st;
	unsigned int members = 0;
	int dev, ret;

	ret = parse_options(argc, argv, "", 1, &o);
	if (ret || (ret = check_name(o.args[0])))
		return ret;
	dev = open_device();
	if (!device_read_state(dev, o.args[0], &st)) {
		members = st.channels[0].info.nr_members;
		kstate_free(&st);
	}
	ret = device_destroy(dev, o.args[0]);
	close(dev);
	if (ret)
		return kernel_error(ret, "destroy", o.args[0]);
	printf("destroyed channel %s", o.args[0]);
	if (members)
		printf(" (%u live member%s revoked)", members,
		       members == 1 ? "" : "s");
	putchar('\n');
	return EXIT_OK;
}

static const struct mpklink_grant *find_grant(const struct kchannel *c,
					      const struct mpklink_principal *p)
{
	unsigned int i;

	for (i = 0; i < c->nr_grants; i++)
		if (principal_equal(&c->grants[i].principal, p))
			return &c->grants[i];
	return NULL;
}

/*
 * grant and enroll: set a grant's rights and key.  Without a new key, a
 * grant keeps the one it had: re-granting rights must not drop a key.
 */
static int set_grant(const char *name, const struct principal *p,
		     const uint32_t *rights, const uint8_t *key)
{
	const struct mpklink_grant *old;
	char text[1024];
	struct kstate st;
	uint32_t r;
	int dev, ret;

	principal_format(&p->k, text, sizeof(text));
	dev = open_device();
	ret = device_read_state(dev, name, &st);
	if (ret) {
		close(dev);
		return kernel_error(ret, "grant", name);
	}
	old = find_grant(&st.channels[0], &p->k);
	if (rights) {
		r = *rights;
	} else if (old) {
		r = old->rights;
	} else {
		fprintf(stderr,
			"mpklink-grant: channel %s has no grant for %s: give --rights to create one\n",
			name, text);
		ret = EXIT_NOT_FOUND;
		goto out;
	}
	if (!key && old && old->flags & MPKLINK_GRANT_PUBKEY)
		key = old->pubkey;
	if (st.channels[0].info.flags & MPKLINK_CREATE_SIGNED &&
	    r & MPKLINK_RIGHT_WRITE && !key) {
		fprintf(stderr,
			"mpklink-grant: channel %s is signed: a grant with the write right needs --pubkey (see keygen), or its messages cannot be verified\n",
			name);
		ret = EXIT_USAGE;
		goto out;
	}
	ret = device_grant(dev, name, &p->k, r, key);
	if (ret) {
		ret = kernel_error(ret, "grant", name);
		goto out;
	}
	printf("%s %s on %s: %s%s\n", old ? "changed" : "granted", text, name,
	       rights_string(r), key ? ", with public key" : "");
	ret = EXIT_OK;
out:
	kstate_free(&st);
	close(dev);
	return ret;
}

/* grant needs --rights, may have --pubkey; enroll the other way round. */
static int grant_or_enroll(int argc, char **argv, bool enroll)
{
	uint8_t key[MPKLINK_PUBKEY_SIZE];
	char err[ERROR_MAX];
	struct principal p;
	struct options o;
	uint32_t rights;
	int ret;

	ret = parse_options(argc, argv, "rkc", 2, &o);
	if (ret || (ret = check_name(o.args[0])) ||
	    ((!enroll || o.rights) && (ret = get_rights(o.rights, &rights))) ||
	    (ret = get_principal(o.args[1], &o, false, &p)))
		return ret;
	if (enroll && !o.pubkey)
		return usage_error("enroll needs --pubkey FILE|HEX (from keygen)");
	if (o.pubkey && read_pubkey(o.pubkey, key, err))
		return value_error("%s", err);
	return set_grant(o.args[0], &p, o.rights ? &rights : NULL,
			 o.pubkey ? key : NULL);
}

static int cmd_grant(int argc, char **argv)
{
	return grant_or_enroll(argc, argv, false);
}

static int cmd_enroll(int argc, char **argv)
{
	return grant_or_enroll(argc, argv, true);
}

static int cmd_revoke(int argc, char **argv)
{
	struct principal p;
	struct options o;
	char text[1024];
	int dev, ret;

	ret = parse_options(argc, argv, "", 2, &o);
	if (ret || (ret = check_name(o.args[0])) ||
	    (ret = get_principal(o.args[1], &o, true, &p)))
		return ret;
	principal_format(&p.k, text, sizeof(text));
	dev = open_device();
	ret = device_revoke(dev, o.args[0], &p.k);
	if (ret == -ENOENT) {
		struct kstate st;

		/* Which is missing: the channel, or the grant? */
		if (!device_read_state(dev, o.args[0], &st)) {
			kstate_free(&st);
			fprintf(stderr,
				"mpklink-grant: channel %s has no grant for %s\n",
				o.args[0], text);
			close(dev);
			return EXIT_NOT_FOUND;
		}
	}
	close(dev);
	if (ret)
		return kernel_error(ret, "revoke", o.args[0]);
	printf("revoked %s on %s\n", text, o.args[0]);
	return EXIT_OK;
}

static int read_state(const char *only, struct kstate *st)
{
	int dev = open_device(), ret;

	ret = device_read_state(dev, only, st);
	close(dev);
	return ret ? kernel_error(ret, "reading channels", only) : EXIT_OK;
}

static int cmd_list(int argc, char **argv)
{
	struct options o;
	struct kstate st;
	unsigned int i;
	char size[32];
	int ret;

	ret = parse_options(argc, argv, "j", 0, &o);
	if (ret || (ret = read_state(NULL, &st)))
		return ret;
	if (o.json) {
		struct json j = { .out = stdout };

		json_begin_array(&j, NULL);
		for (i = 0; i < st.nr_channels; i++) {
			const struct mpklink_channel_info *c = &st.channels[i].info;

			json_begin_object(&j, NULL);
			json_string(&j, "name", c->name);
			json_uint(&j, "size", c->segment_size);
			json_uint(&j, "max_members", c->max_members);
			json_uint(&j, "members", c->nr_members);
			json_bool(&j, "signed", c->flags & MPKLINK_CREATE_SIGNED);
			json_uint(&j, "grants", c->nr_grants);
			json_uint(&j, "attaches", c->attaches);
			json_uint(&j, "denials", c->denials);
			json_uint(&j, "revocations", c->revocations);
			json_uint(&j, "notifications", c->notifications);
			json_end_object(&j);
		}
		json_end_array(&j);
	} else if (!st.nr_channels) {
		printf("no channels\n");
	} else {
		printf("%-24s %6s %8s %6s %6s %8s %7s %7s %9s\n", "NAME", "SIZE",
		       "MEMBERS", "SIGNED", "GRANTS", "ATTACHES", "DENIALS",
		       "REVOKED", "NOTIFIED");
		for (i = 0; i < st.nr_channels; i++) {
			const struct mpklink_channel_info *c = &st.channels[i].info;
			char m[24];

			format_size(c->segment_size, size, sizeof(size));
			snprintf(m, sizeof(m), "%u/%u", c->nr_members,
				 c->max_members);
			printf("%-24s %6s %8s %6s %6u %8llu %7llu %7llu %9llu\n",
			       c->name, size, m,
			       c->flags & MPKLINK_CREATE_SIGNED ? "yes" : "no",
			       c->nr_grants, (unsigned long long)c->attaches,
			       (unsigned long long)c->denials,
			       (unsigned long long)c->revocations,
			       (unsigned long long)c->notifications);
		}
	}
	kstate_free(&st);
	return EXIT_OK;
}

static void show_json(const struct kchannel *c)
{
	char hex[2 * MPKLINK_SHA256_SIZE + 1];
	struct json j = { .out = stdout };
	unsigned int i;

	json_begin_object(&j, NULL);
	json_string(&j, "name", c->info.name);
	json_uint(&j, "size", c->info.segment_size);
	json_uint(&j, "max_members", c->info.max_members);
	json_bool(&j, "signed", c->info.flags & MPKLINK_CREATE_SIGNED);
	json_begin_object(&j, "counters");
	json_uint(&j, "attaches", c->info.attaches);
	json_uint(&j, "denials", c->info.denials);
	json_uint(&j, "revocations", c->info.revocations);
	json_uint(&j, "notifications", c->info.notifications);
	json_end_object(&j);
	json_begin_array(&j, "grants");
	for (i = 0; i < c->nr_grants; i++)
		json_grant(&j, &c->grants[i]);
	json_end_array(&j);
	json_begin_array(&j, "members");
	for (i = 0; i < c->nr_members; i++) {
		const struct mpklink_member_info *m = &c->members[i];

		json_begin_object(&j, NULL);
		json_uint(&j, "member_id", m->member_id);
		json_uint(&j, "slot", m->slot);
		json_uint(&j, "pid", m->pid);
		json_uint(&j, "uid", m->uid);
		json_uint(&j, "gid", m->gid);
		json_string(&j, "rights", rights_string(m->rights));
		json_int(&j, "pkey", m->pkey);
		json_bool(&j, "revoked", m->flags & MPKLINK_MEMBER_REVOKED);
		if (m->flags & MPKLINK_MEMBER_EXE) {
			format_hex(m->exe_sha256, MPKLINK_SHA256_SIZE, hex);
			json_string(&j, "exe_sha256", hex);
		} else {
			json_null(&j, "exe_sha256");
		}
		if (m->flags & MPKLINK_MEMBER_PUBKEY) {
			format_hex(m->pubkey, MPKLINK_PUBKEY_SIZE, hex);
			json_string(&j, "pubkey", hex);
		} else {
			json_null(&j, "pubkey");
		}
		json_end_object(&j);
	}
	json_end_array(&j);
	json_end_object(&j);
}

static void show_text(const struct kchannel *c)
{
	char text[1024], hex[2 * MPKLINK_SHA256_SIZE + 1], size[32];
	unsigned int i;

	format_size(c->info.segment_size, size, sizeof(size));
	printf("channel %s: size %s per writer, %u members at most, %s\n",
	       c->info.name, size, c->info.max_members,
	       c->info.flags & MPKLINK_CREATE_SIGNED ? "signed" : "not signed");
	printf("counters: %llu attaches, %llu denials, %llu revocations, %llu notifications\n",
	       (unsigned long long)c->info.attaches,
	       (unsigned long long)c->info.denials,
	       (unsigned long long)c->info.revocations,
	       (unsigned long long)c->info.notifications);
	printf("\ngrants (%u):\n", c->nr_grants);
	if (c->nr_grants)
		printf("  %-6s %-17s %s\n", "RIGHTS", "PUBKEY", "PRINCIPAL");
	for (i = 0; i < c->nr_grants; i++) {
		const struct mpklink_grant *g = &c->grants[i];

		principal_format(&g->principal, text, sizeof(text));
		if (g->flags & MPKLINK_GRANT_PUBKEY)
			format_hex(g->pubkey, 8, hex);
		printf("  %-6s %-17s %s\n", rights_string(g->rights),
		       g->flags & MPKLINK_GRANT_PUBKEY ? hex : "-", text);
	}
	printf("\nmembers (%u):\n", c->nr_members);
	if (c->nr_members)
		printf("  %-4s %-7s %-6s %-6s %-6s %-4s %-7s %s\n", "SLOT",
		       "PID", "UID", "GID", "RIGHTS", "PKEY", "STATE",
		       "EXE SHA256");
	for (i = 0; i < c->nr_members; i++) {
		const struct mpklink_member_info *m = &c->members[i];

		/* Hashed only when a digest grant could admit the member. */
		if (m->flags & MPKLINK_MEMBER_EXE) {
			format_hex(m->exe_sha256, MPKLINK_SHA256_SIZE, hex);
			strcpy(hex + 16, "...");
		} else {
			strcpy(hex, "-");
		}
		printf("  %-4u %-7u %-6u %-6u %-6s %-4d %-7s %s\n",
		       m->slot, m->pid, m->uid, m->gid, rights_string(m->rights),
		       m->pkey, m->flags & MPKLINK_MEMBER_REVOKED ? "revoked" :
		       "live", hex);
	}
}

static int cmd_show(int argc, char **argv)
{
	struct options o;
	struct kstate st;
	int ret;

	ret = parse_options(argc, argv, "j", 1, &o);
	if (ret || (ret = check_name(o.args[0])) ||
	    (ret = read_state(o.args[0], &st)))
		return ret;
	if (o.json)
		show_json(&st.channels[0]);
	else
		show_text(&st.channels[0]);
	kstate_free(&st);
	return EXIT_OK;
}

static int cmd_dump(int argc, char **argv)
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

static int read_file(const char *path, char **text, size_t *len)
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

static int load_policy(const struct options *o, struct policy *pol)
{
	struct resolve_opts ro = {
		.allow_missing_cgroup = o->allow_missing_cgroup,
	};
	const char *file = o->args[0];
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

static int cmd_check(int argc, char **argv)
{
	struct policy pol;
	struct options o;
	unsigned int i, grants = 0;
	int ret;

	ret = parse_options(argc, argv, "c", 1, &o);
	if (ret || (ret = load_policy(&o, &pol)))
		return ret;
	for (i = 0; i < pol.nr_channels; i++)
		grants += pol.channels[i].nr_grants;
	printf("%s: ok, %u channel%s, %u grant%s\n", o.args[0], pol.nr_channels,
	       pol.nr_channels == 1 ? "" : "s", grants, grants == 1 ? "" : "s");
	policy_free(&pol);
	return EXIT_OK;
}

static int cmd_apply(int argc, char **argv)
{
	struct policy pol;
	struct options o;
	int dev, ret;

	ret = parse_options(argc, argv, "nc", 1, &o);
	if (ret || (ret = load_policy(&o, &pol)))
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

/* Creates @path for writing with @mode, refusing to replace a file. */
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

static int cmd_keygen(int argc, char **argv)
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

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "create", cmd_create },
	{ "destroy", cmd_destroy },
	{ "grant", cmd_grant },
	{ "revoke", cmd_revoke },
	{ "list", cmd_list },
	{ "show", cmd_show },
	{ "apply", cmd_apply },
	{ "check", cmd_check },
	{ "dump", cmd_dump },
	{ "keygen", cmd_keygen },
	{ "enroll", cmd_enroll },
};

int main(int argc, char **argv)
{
	size_t i;

	if (sodium_init() < 0) {
		fprintf(stderr, "mpklink-grant: libsodium failed to initialise\n");
		return EXIT_FAILED;
	}
	if (argc < 2)
		return usage_error("%s", "no command given");
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("mpklink-grant %s (mpklink API %d)\n", MPKLINK_VERSION,
		       MPKLINK_API_VERSION);
		return EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	return usage_error("unknown command '%s'", argv[1]);
}
