// SPDX-License-Identifier: GPL-2.0
/*
 * apply: make the kernel's channels and grants those of a policy; dump:
 * print the kernel's state as a policy.
 *
 * apply plans every change first (reading the kernel's state once), checks
 * the plan against the module's limits, and only then changes anything,
 * printing each change as it is made.  The kernel has no transactions, and
 * a destroyed channel cannot be brought back with its members, so apply
 * does not roll back: if the kernel refuses a change, apply stops there and
 * prints what was applied and what was not.
 *
 * Order: channels the policy removes are destroyed first (freeing room for
 * new ones), then channels whose size, members or signing changed are
 * recreated (a channel cannot be resized: its members are revoked), new
 * channels are created, grants are added or changed, and grants are revoked
 * last, so that a member whose rights the policy keeps under another grant
 * never loses them, even for a moment.  A grant that one of the channel's
 * container rules allows is a running container's (the OCI hook made it):
 * apply leaves it, and revokes it once no rule allows it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grant.h"

enum action_kind { A_DESTROY, A_RECREATE, A_CREATE, A_GRANT, A_REGRANT,
		   A_REVOKE };

struct action {
	enum action_kind kind;
	const char *channel;
	const struct policy_channel *want;	/* CREATE, RECREATE */
	const struct kchannel *have;		/* DESTROY, RECREATE */
	const struct mpklink_principal *principal;
	uint32_t rights, old_rights;
	const uint8_t *pubkey;			/* NULL: none */
	const uint8_t *old_pubkey;
};

struct plan {
	struct action *actions;
	unsigned int count;
};

static int add(struct plan *plan, const struct action *a)
{
	struct action *bigger;

	bigger = realloc(plan->actions, (plan->count + 1) * sizeof(*bigger));
	if (!bigger)
		return -ENOMEM;
	plan->actions = bigger;
	plan->actions[plan->count++] = *a;
	return 0;
}

static uint32_t members_of(const struct policy_channel *c)
{
	return c->max_members ? c->max_members :
	       (uint32_t)module_param("default_members", 16);
}

static bool same_geometry(const struct policy_channel *want,
			  const struct kchannel *have)
{
	return want->segment_size == have->info.segment_size &&
	       members_of(want) == have->info.max_members &&
	       want->is_signed == !!(have->info.flags & MPKLINK_CREATE_SIGNED);
}

static const struct mpklink_grant *find_grant(const struct kchannel *have,
					      const struct mpklink_principal *p)
{
	unsigned int i;

	for (i = 0; have && i < have->nr_grants; i++)
		if (principal_equal(&have->grants[i].principal, p))
			return &have->grants[i];
	return NULL;
}

static const struct policy_grant *find_wanted(const struct policy_channel *c,
					      const struct mpklink_principal *p)
{
	unsigned int i;

	for (i = 0; i < c->nr_grants; i++)
		if (principal_equal(&c->grants[i].principal.k, p))
			return &c->grants[i];
	return NULL;
}

static const struct policy_channel *find_channel(const struct policy *pol,
						 const char *name)
{
	unsigned int i;

	for (i = 0; i < pol->nr_channels; i++)
		if (!strcmp(pol->channels[i].name, name))
			return &pol->channels[i];
	return NULL;
}

/* Grants of @want, all new (after a create) or compared with @have. */
static int plan_grants(struct plan *plan, const struct policy_channel *want,
		       const struct kchannel *have, enum action_kind pass)
{
	unsigned int i;
	int err = 0;

	if (pass == A_REVOKE) {
		for (i = 0; have && i < have->nr_grants && !err; i++) {
			const struct mpklink_grant *g = &have->grants[i];

			/* A running container's grant, made by the OCI hook. */
			if (find_wanted(want, &g->principal) ||
			    container_grant_allowed(want, g))
				continue;
			err = add(plan, &(struct action) {
				.kind = A_REVOKE, .channel = want->name,
				.principal = &g->principal,
				.old_rights = g->rights,
			});
		}
		return err;
	}
	for (i = 0; i < want->nr_grants && !err; i++) {
		const struct policy_grant *w = &want->grants[i];
		const struct mpklink_grant *g = find_grant(have, &w->principal.k);
		const uint8_t *key = w->has_pubkey ? w->pubkey : NULL;
		const uint8_t *old_key = NULL;

		if (g && g->flags & MPKLINK_GRANT_PUBKEY)
			old_key = g->pubkey;
		if (g && g->rights == w->rights && !key == !old_key &&
		    (!key || !memcmp(key, old_key, MPKLINK_PUBKEY_SIZE)))
			continue;
		err = add(plan, &(struct action) {
			.kind = g ? A_REGRANT : A_GRANT, .channel = want->name,
			.principal = &w->principal.k, .rights = w->rights,
			.old_rights = g ? g->rights : 0, .pubkey = key,
			.old_pubkey = old_key,
		});
	}
	return err;
}

static int make_plan(const struct policy *pol, const struct kstate *st,
		     struct plan *plan)
{
	unsigned int i;
	int err = 0;

	for (i = 0; i < st->nr_channels && !err; i++)
		if (!find_channel(pol, st->channels[i].info.name))
			err = add(plan, &(struct action) {
				.kind = A_DESTROY,
				.channel = st->channels[i].info.name,
				.have = &st->channels[i],
			});
	for (i = 0; i < pol->nr_channels && !err; i++) {
		const struct policy_channel *want = &pol->channels[i];
		const struct kchannel *have =
			kstate_find((struct kstate *)st, want->name);

		if (!have || same_geometry(want, have))
			continue;
		err = add(plan, &(struct action) {
			.kind = A_RECREATE, .channel = want->name,
			.want = want, .have = have,
		});
		if (!err)
			err = plan_grants(plan, want, NULL, A_GRANT);
	}
	for (i = 0; i < pol->nr_channels && !err; i++) {
		const struct policy_channel *want = &pol->channels[i];

		if (kstate_find((struct kstate *)st, want->name))
			continue;
		err = add(plan, &(struct action) {
			.kind = A_CREATE, .channel = want->name, .want = want,
		});
		if (!err)
			err = plan_grants(plan, want, NULL, A_GRANT);
	}
	for (i = 0; i < pol->nr_channels && !err; i++) {
		const struct policy_channel *want = &pol->channels[i];
		const struct kchannel *have =
			kstate_find((struct kstate *)st, want->name);

		if (have && same_geometry(want, have))
			err = plan_grants(plan, want, have, A_GRANT);
	}
	for (i = 0; i < pol->nr_channels && !err; i++) {
		const struct policy_channel *want = &pol->channels[i];
		const struct kchannel *have =
			kstate_find((struct kstate *)st, want->name);

		if (have && same_geometry(want, have))
			err = plan_grants(plan, want, have, A_REVOKE);
	}
	return err;
}

/* The module's limits, checked before anything changes. */
static int check_limits(const struct policy *pol, char *err)
{
	uint64_t max_size = module_param("max_segment_size", 64ull << 20);
	uint64_t max_grants = module_param("max_grants", 256);
	uint64_t max_channels = module_param("max_channels", 1024);
	char a[32], b[32];
	unsigned int i;

	if (pol->nr_channels > max_channels) {
		snprintf(err, ERROR_MAX,
			 "the policy has %u channels; the module allows %llu (parameter max_channels)",
			 pol->nr_channels, (unsigned long long)max_channels);
		return -1;
	}
	for (i = 0; i < pol->nr_channels; i++) {
		const struct policy_channel *c = &pol->channels[i];

		if (c->segment_size > max_size) {
			format_size(c->segment_size, a, sizeof(a));
			format_size(max_size, b, sizeof(b));
			snprintf(err, ERROR_MAX,
				 "%s:%u:%u: channel '%s' has size %s; the module allows %s (parameter max_segment_size)",
				 c->at.file, c->at.line, c->at.col, c->name, a, b);
			return -1;
		}
		if (c->nr_grants > max_grants) {
			snprintf(err, ERROR_MAX,
				 "%s:%u:%u: channel '%s' has %u grants; the module allows %llu (parameter max_grants)",
				 c->at.file, c->at.line, c->at.col, c->name,
				 c->nr_grants, (unsigned long long)max_grants);
			return -1;
		}
	}
	return 0;
}

static void describe_channel(const struct policy_channel *c, char *buf,
			     size_t room)
{
	char size[32];

	format_size(c->segment_size, size, sizeof(size));
	snprintf(buf, room, "size %s, %u members%s", size, members_of(c),
		 c->is_signed ? ", signed" : "");
}

static void describe_key(const uint8_t *key, char *buf, size_t room)
{
	char hex[2 * MPKLINK_PUBKEY_SIZE + 1];

	if (!key) {
		snprintf(buf, room, "no key");
		return;
	}
	format_hex(key, MPKLINK_PUBKEY_SIZE, hex);
	snprintf(buf, room, "pubkey %.16s...", hex);
}

static void print_action(FILE *out, const struct action *a)
{
	char principal[1024], what[128], old[128];
	unsigned int members = a->have ? a->have->info.nr_members : 0;

	if (a->principal)
		principal_format(a->principal, principal, sizeof(principal));
	switch (a->kind) {
	case A_DESTROY:
		fprintf(out, "- channel %s", a->channel);
		break;
	case A_RECREATE: {
		struct policy_channel was = {
			.segment_size = a->have->info.segment_size,
			.max_members = a->have->info.max_members,
			.is_signed = a->have->info.flags & MPKLINK_CREATE_SIGNED,
		};

		describe_channel(&was, old, sizeof(old));
		describe_channel(a->want, what, sizeof(what));
		fprintf(out, "! channel %s recreated: %s -> %s", a->channel,
			old, what);
		break;
	}
	case A_CREATE:
		describe_channel(a->want, what, sizeof(what));
		fprintf(out, "+ channel %s: %s", a->channel, what);
		break;
	case A_GRANT:
		fprintf(out, "+ grant %s %s %s%s", a->channel, principal,
			rights_string(a->rights), a->pubkey ? " with pubkey" : "");
		break;
	case A_REGRANT:
		fprintf(out, "~ grant %s %s %s -> %s", a->channel, principal,
			rights_string(a->old_rights), rights_string(a->rights));
		if (!a->pubkey != !a->old_pubkey ||
		    (a->pubkey && memcmp(a->pubkey, a->old_pubkey,
					 MPKLINK_PUBKEY_SIZE))) {
			describe_key(a->old_pubkey, old, sizeof(old));
			describe_key(a->pubkey, what, sizeof(what));
			fprintf(out, ", %s -> %s", old, what);
		}
		break;
	case A_REVOKE:
		fprintf(out, "- grant %s %s %s", a->channel, principal,
			rights_string(a->old_rights));
		break;
	}
	if (members && (a->kind == A_DESTROY || a->kind == A_RECREATE))
		fprintf(out, " (%u live member%s revoked)", members,
			members == 1 ? "" : "s");
	fputc('\n', out);
}

static int run_action(int dev, const struct action *a)
{
	const struct policy_channel *w = a->want;
	int err;

	switch (a->kind) {
	case A_DESTROY:
		return device_destroy(dev, a->channel);
	case A_RECREATE:
		err = device_destroy(dev, a->channel);
		if (err)
			return err;
		return device_create(dev, a->channel, w->segment_size,
				     w->max_members, w->is_signed);
	case A_CREATE:
		return device_create(dev, a->channel, w->segment_size,
				     w->max_members, w->is_signed);
	case A_GRANT:
	case A_REGRANT:
		return device_grant(dev, a->channel, a->principal, a->rights,
				    a->pubkey);
	case A_REVOKE:
		return device_revoke(dev, a->channel, a->principal);
	}
	return -EINVAL;
}

int apply_policy(int dev, const struct policy *pol, bool dry_run, FILE *out)
{
	struct plan plan = { 0 };
	char err[ERROR_MAX];
	struct kstate st;
	unsigned int i;
	int ret;

	if (check_limits(pol, err)) {
		fprintf(stderr, "mpklink-grant: %s\n", err);
		return EXIT_USAGE;
	}
	ret = device_read_state(dev, NULL, &st);
	if (ret) {
		fprintf(stderr, "mpklink-grant: reading the kernel's channels: %s\n",
			strerror(-ret));
		return exit_code_for(ret);
	}
	ret = make_plan(pol, &st, &plan);
	if (ret) {
		fprintf(stderr, "mpklink-grant: %s\n", strerror(-ret));
		kstate_free(&st);
		free(plan.actions);
		return EXIT_FAILED;
	}
	if (!plan.count) {
		fprintf(out, "nothing to change: the kernel matches the policy\n");
	} else if (dry_run) {
		for (i = 0; i < plan.count; i++)
			print_action(out, &plan.actions[i]);
		fprintf(out, "%u change%s (dry run: nothing applied)\n",
			plan.count, plan.count == 1 ? "" : "s");
	} else {
		for (i = 0; i < plan.count; i++) {
			ret = run_action(dev, &plan.actions[i]);
			if (ret)
				break;
			print_action(out, &plan.actions[i]);
		}
		if (i == plan.count) {
			fprintf(out, "applied %u change%s\n", plan.count,
				plan.count == 1 ? "" : "s");
		} else {
			fflush(out);
			fprintf(stderr, "mpklink-grant: the kernel refused: %s\n",
				strerror(-ret));
			print_action(stderr, &plan.actions[i]);
			fprintf(stderr,
				"mpklink-grant: applied %u of %u changes (printed above); not applied:\n",
				i, plan.count);
			for (; i < plan.count; i++)
				print_action(stderr, &plan.actions[i]);
			ret = exit_code_for(ret);
		}
	}
	kstate_free(&st);
	free(plan.actions);
	return ret > 0 ? ret : ret ? exit_code_for(ret) : EXIT_OK;
}

/* --- dump ------------------------------------------------------------------ */

static void dump_json(const struct kstate *st, FILE *out)
{
	struct json_writer j = { .out = out };
	unsigned int i, g;

	jw_begin_object(&j, NULL);
	jw_begin_array(&j, "channels");
	for (i = 0; i < st->nr_channels; i++) {
		const struct kchannel *c = &st->channels[i];

		jw_begin_object(&j, NULL);
		jw_string(&j, "name", c->info.name);
		jw_uint(&j, "size", c->info.segment_size);
		jw_uint(&j, "members", c->info.max_members);
		jw_bool(&j, "signed", c->info.flags & MPKLINK_CREATE_SIGNED);
		jw_begin_array(&j, "grants");
		for (g = 0; g < c->nr_grants; g++)
			jw_grant(&j, &c->grants[g]);
		jw_end_array(&j);
		jw_end_object(&j);
	}
	jw_end_array(&j);
	jw_end_object(&j);
}

int dump_state(const struct kstate *st, bool json, FILE *out)
{
	char text[1024], size[32], hex[2 * MPKLINK_PUBKEY_SIZE + 1];
	unsigned int i, g;

	if (json) {
		dump_json(st, out);
		return EXIT_OK;
	}
	fprintf(out, "# mpklink policy: the kernel's channels and grants, as dumped by\n"
		     "# mpklink-grant.  \"mpklink-grant apply\" of this file changes nothing.\n");
	for (i = 0; i < st->nr_channels; i++) {
		const struct kchannel *c = &st->channels[i];

		format_size(c->info.segment_size, size, sizeof(size));
		fprintf(out, "\nchannel %s {\n\tsize %s\n\tmembers %u\n",
			c->info.name, size, c->info.max_members);
		if (c->info.flags & MPKLINK_CREATE_SIGNED)
			fprintf(out, "\tsigned\n");
		for (g = 0; g < c->nr_grants; g++) {
			const struct mpklink_grant *gr = &c->grants[g];

			principal_format(&gr->principal, text, sizeof(text));
			fprintf(out, "\tgrant %s %s", text,
				rights_string(gr->rights));
			if (gr->flags & MPKLINK_GRANT_PUBKEY) {
				format_hex(gr->pubkey, MPKLINK_PUBKEY_SIZE, hex);
				fprintf(out, " pubkey %s", hex);
			}
			fputc('\n', out);
		}
		fprintf(out, "}\n");
	}
	return EXIT_OK;
}
