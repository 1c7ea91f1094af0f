// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink-grant's commands on one channel at a time: create, destroy,
 * grant, enroll, revoke, and the read commands list and show.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_create(int argc, char **argv)
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

int cmd_destroy(int argc, char **argv)
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

int cmd_grant(int argc, char **argv)
{
	return grant_or_enroll(argc, argv, false);
}

int cmd_enroll(int argc, char **argv)
{
	return grant_or_enroll(argc, argv, true);
}

int cmd_revoke(int argc, char **argv)
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

int cmd_list(int argc, char **argv)
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
		struct json_writer j = { .out = stdout };

		jw_begin_array(&j, NULL);
		for (i = 0; i < st.nr_channels; i++) {
			const struct mpklink_channel_info *c = &st.channels[i].info;

			jw_begin_object(&j, NULL);
			jw_string(&j, "name", c->name);
			jw_uint(&j, "size", c->segment_size);
			jw_uint(&j, "max_members", c->max_members);
			jw_uint(&j, "members", c->nr_members);
			jw_bool(&j, "signed", c->flags & MPKLINK_CREATE_SIGNED);
			jw_uint(&j, "grants", c->nr_grants);
			jw_uint(&j, "attaches", c->attaches);
			jw_uint(&j, "denials", c->denials);
			jw_uint(&j, "revocations", c->revocations);
			jw_uint(&j, "notifications", c->notifications);
			jw_end_object(&j);
		}
		jw_end_array(&j);
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
	struct json_writer j = { .out = stdout };
	unsigned int i;

	jw_begin_object(&j, NULL);
	jw_string(&j, "name", c->info.name);
	jw_uint(&j, "size", c->info.segment_size);
	jw_uint(&j, "max_members", c->info.max_members);
	jw_bool(&j, "signed", c->info.flags & MPKLINK_CREATE_SIGNED);
	jw_begin_object(&j, "counters");
	jw_uint(&j, "attaches", c->info.attaches);
	jw_uint(&j, "denials", c->info.denials);
	jw_uint(&j, "revocations", c->info.revocations);
	jw_uint(&j, "notifications", c->info.notifications);
	jw_end_object(&j);
	jw_begin_array(&j, "grants");
	for (i = 0; i < c->nr_grants; i++)
		jw_grant(&j, &c->grants[i]);
	jw_end_array(&j);
	jw_begin_array(&j, "members");
	for (i = 0; i < c->nr_members; i++) {
		const struct mpklink_member_info *m = &c->members[i];

		jw_begin_object(&j, NULL);
		jw_uint(&j, "member_id", m->member_id);
		jw_uint(&j, "slot", m->slot);
		jw_uint(&j, "pid", m->pid);
		jw_uint(&j, "uid", m->uid);
		jw_uint(&j, "gid", m->gid);
		jw_string(&j, "rights", rights_string(m->rights));
		jw_int(&j, "pkey", m->pkey);
		jw_bool(&j, "revoked", m->flags & MPKLINK_MEMBER_REVOKED);
		if (m->flags & MPKLINK_MEMBER_EXE) {
			format_hex(m->exe_sha256, MPKLINK_SHA256_SIZE, hex);
			jw_string(&j, "exe_sha256", hex);
		} else {
			jw_null(&j, "exe_sha256");
		}
		if (m->flags & MPKLINK_MEMBER_PUBKEY) {
			format_hex(m->pubkey, MPKLINK_PUBKEY_SIZE, hex);
			jw_string(&j, "pubkey", hex);
		} else {
			jw_null(&j, "pubkey");
		}
		jw_end_object(&j);
	}
	jw_end_array(&j);
	jw_end_object(&j);
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

int cmd_show(int argc, char **argv)
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
