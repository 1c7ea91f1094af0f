// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink-grant cdi: a Container Device Interface spec for the policy's
 * container rules, for /etc/cdi/mpklink.json.
 *
 * Kind mpklink.io/channel.  For each channel that has container rules:
 * a device NAME (the rights of the rule that admits the container) and
 * NAME:r, NAME:w, NAME:rw for each set of rights some rule gives.  Each
 * device adds the two OCI hooks with --channel, and every device of the
 * spec adds /dev/mpklink.  So a compose file says
 *
 *	devices: ["mpklink.io/channel=orders:rw"]
 *
 * and Docker (28 and later), podman or containerd apply the spec.  The
 * hooks still check the policy when the container starts: a device for a
 * container the policy does not allow fails its start.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define CDI_VERSION "0.5.0"
#define CDI_KIND "mpklink.io/channel"

/* CDI device names: alphanumerics first and last, [_.:-] between. */
static bool cdi_name_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		bool alnum = (s[i] >= 'a' && s[i] <= 'z') ||
			     (s[i] >= 'A' && s[i] <= 'Z') ||
			     (s[i] >= '0' && s[i] <= '9');

		if (!alnum && ((i == 0 || i == n - 1) || !strchr("_.:-", s[i])))
			return false;
	}
	return true;
}

static json_t *hook(const char *path, const char *stage,
		    const char *policy, const char *channel)
{
	json_t *args = json_pack("[ssss]", "mpklink-grant", "oci-hook", stage,
				 "--channel");

	json_array_append_new(args, json_string(channel));
	if (policy) {
		json_array_append_new(args, json_string("--policy"));
		json_array_append_new(args, json_string(policy));
	}
	return json_pack("{s:s, s:s, s:o}", "hookName", stage, "path", path,
			 "args", args);
}

static int add_device(json_t *devices, const char *path, const char *policy,
		      const char *name)
{
	json_t *hooks, *dev;

	if (!cdi_name_valid(name)) {
		fprintf(stderr,
			"mpklink-grant: cdi: channel name '%s' is not a CDI device name (alphanumerics first and last): no device for it\n",
			name);
		return 0;
	}
	hooks = json_pack("[oo]", hook(path, "createRuntime", policy, name),
			  hook(path, "poststop", policy, name));
	dev = json_pack("{s:s, s:{s:o}}", "name", name, "containerEdits",
			"hooks", hooks);
	return dev ? json_array_append_new(devices, dev) : -1;
}

/* The mpklink-grant that runs the hooks: an absolute path. */
static int hook_path(const struct options *o, char *buf, size_t room)
{
	ssize_t n;

	if (o->hook) {
		if (o->hook[0] != '/')
			return value_error("--hook must be an absolute path, not '%s'",
					   o->hook);
		snprintf(buf, room, "%s", o->hook);
		return EXIT_OK;
	}
	n = readlink("/proc/self/exe", buf, room - 1);
	if (n < 0) {
		fprintf(stderr, "mpklink-grant: /proc/self/exe: %s (give --hook PATH)\n",
			strerror(errno));
		return EXIT_FAILED;
	}
	buf[n] = 0;
	return EXIT_OK;
}

static int add_channel(json_t *devices, const char *path, const char *policy,
		       const struct policy_channel *ch)
{
	static const char *const suffix[] = { "", ":r", ":w", ":rw" };
	uint32_t given = 0, rights;
	char name[MPKLINK_NAME_MAX + 4];
	unsigned int i;

	for (i = 0; i < ch->nr_containers; i++)
		given |= ch->containers[i].rights;
	for (rights = 0; rights <= MPKLINK_RIGHTS_ALL; rights++) {
		if (rights & ~given)
			continue;
		/* Rights no single rule gives could admit no container. */
		for (i = 0; rights && i < ch->nr_containers; i++)
			if (!(rights & ~ch->containers[i].rights))
				break;
		if (rights && i == ch->nr_containers)
			continue;
		snprintf(name, sizeof(name), "%s%s", ch->name, suffix[rights]);
		if (add_device(devices, path, policy, name))
			return -1;
	}
	return 0;
}

int cmd_cdi(int argc, char **argv)
{
	const char *file;
	char path[PATH_MAX], policy_abs[PATH_MAX];
	struct options o;
	struct policy pol;
	json_t *spec, *devices;
	unsigned int c;
	int ret;

	ret = parse_options(argc, argv, "PHc", 0, &o);
	if (ret || (ret = hook_path(&o, path, sizeof(path))))
		return ret;
	file = policy_path(&o);
	/*
	 * The hooks get the policy this read, unless it is the default, as
	 * an absolute path: they run in the runtime's working directory.
	 */
	if (strcmp(file, DEFAULT_POLICY) && !realpath(file, policy_abs)) {
		fprintf(stderr, "mpklink-grant: %s: %s\n", file, strerror(errno));
		return errno == ENOENT ? EXIT_NOT_FOUND : EXIT_FAILED;
	}
	o.allow_missing_cgroup = true;
	ret = load_policy(file, &o, &pol);
	if (ret)
		return ret;
	devices = json_array();
	for (c = 0; c < pol.nr_channels && !ret; c++)
		if (pol.channels[c].nr_containers &&
		    add_channel(devices, path,
				strcmp(file, DEFAULT_POLICY) ? policy_abs : NULL,
				&pol.channels[c]))
			ret = EXIT_FAILED;
	spec = json_pack("{s:s, s:s, s:o, s:{s:[{s:s, s:s}]}}",
			 "cdiVersion", CDI_VERSION, "kind", CDI_KIND,
			 "devices", devices, "containerEdits", "deviceNodes",
			 "path", "/dev/mpklink", "permissions", "rw");
	if (!ret && !json_array_size(devices)) {
		fprintf(stderr,
			"mpklink-grant: cdi: %s has no container rules, so no device to declare ('container cgroup=/PARENT RIGHTS' in a channel)\n",
			file);
		ret = EXIT_NOT_FOUND;
	}
	if (!ret && (!spec || json_dumpf(spec, stdout, JSON_INDENT(2)) ||
		     putchar('\n') == EOF || fflush(stdout))) {
		fprintf(stderr, "mpklink-grant: cdi: writing the spec failed\n");
		ret = EXIT_FAILED;
	}
	json_decref(spec);
	policy_free(&pol);
	return ret;
}
