// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink-grant: channels of /dev/mpklink and who may use them.
 * mpklink-grant(8) is the manual; "mpklink-grant help" the summary.
 *
 * This file: the command table, options, and the errors every command
 * reports alike.  The commands live in cmd_*.c, one group each.
 */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* MPKLINK_VERSION: tools/Makefile passes the one in tools/build/flags.mk. */

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
	"Containers (policy: 'container cgroup=/PARENT RIGHTS' in a channel):\n"
	"  oci-hook [createRuntime|poststop] [--channel NAME[:RIGHTS]] [--policy FILE]\n"
	"                             an OCI hook: grant a starting container, revoke\n"
	"                             a stopped one (state on stdin)\n"
	"  cdi [--policy FILE] [--hook PATH]   a CDI spec for /etc/cdi/mpklink.json\n"
	"\n"
	"grant, apply and check take --allow-missing-cgroup.  See mpklink-grant(8).\n";


/* A bad value (name, size, rights, key): one line naming it. */
int value_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mpklink-grant: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* One line about an error from the kernel, and the exit code for it. */
int kernel_error(int err, const char *what, const char *name)
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

int open_device(void)
{
	int dev = device_open();

	if (dev < 0)
		exit(kernel_error(dev, "opening the device", ""));
	return dev;
}

/* --- options ---------------------------------------------------------------- */

static const struct option long_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "signed", no_argument, NULL, 'S' },
	{ "force", no_argument, NULL, 'f' },
	{ "size", required_argument, NULL, 's' },
	{ "members", required_argument, NULL, 'm' },
	{ "rights", required_argument, NULL, 'r' },
	{ "pubkey", required_argument, NULL, 'k' },
	{ "policy", required_argument, NULL, 'P' },
	{ "channel", required_argument, NULL, 'C' },
	{ "state-dir", required_argument, NULL, 'D' },
	{ "hook", required_argument, NULL, 'H' },
	{ "allow-missing-cgroup", no_argument, NULL, OPT_ALLOW_MISSING_CGROUP },
	{ NULL, 0, NULL, 0 },
};

/*
 * Parses the command's options; @allowed lists the short names of those
 * it takes, @nargs how many arguments it needs.
 */
int parse_options(int argc, char **argv, const char *allowed,
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
		case 'P': o->policy = optarg; break;
		case 'C': o->channel = optarg; break;
		case 'D': o->state_dir = optarg; break;
		case 'H': o->hook = optarg; break;
		default: o->allow_missing_cgroup = true; break;
		}
	}
	if (nargs < 0 && o->nr_args <= -nargs)
		return EXIT_OK;
	if (nargs < 0) {
		fprintf(stderr, "mpklink-grant: %s takes at most %d argument%s, not %d\n",
			argv[0], -nargs, nargs == -1 ? "" : "s", o->nr_args);
		fputs("(mpklink-grant help for usage)\n", stderr);
		return EXIT_USAGE;
	}
	if (o->nr_args != nargs) {
		fprintf(stderr, "mpklink-grant: %s takes %d argument%s, not %d\n",
			argv[0], nargs, nargs == 1 ? "" : "s", o->nr_args);
		fputs("(mpklink-grant help for usage)\n", stderr);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int check_name(const char *name)
{
	if (name_valid(name, strlen(name)))
		return EXIT_OK;
	return value_error("invalid channel name '%s': 1 to 63 characters of A-Z a-z 0-9 . _ -",
			   name);
}

int get_principal(const char *text, const struct options *o,
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

int get_rights(const char *text, uint32_t *rights)
{
	if (text && !parse_rights(text, strlen(text), rights))
		return EXIT_OK;
	return value_error("--rights must be r, w or rw, not '%s'",
			   text ? text : "(missing)");
}

/* --- commands ----------------------------------------------------------------- */

int read_state(const char *only, struct kstate *st)
{
	int dev = open_device(), ret;

	ret = device_read_state(dev, only, st);
	close(dev);
	return ret ? kernel_error(ret, "reading channels", only) : EXIT_OK;
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
	{ "oci-hook", cmd_oci_hook },
	{ "cdi", cmd_cdi },
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

