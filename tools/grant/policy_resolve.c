// SPDX-License-Identifier: GPL-2.0
/*
 * Resolving a parsed policy: the second pass, which gives its grants and
 * container rules their meaning on this system (users, groups,
 * executables, cgroups, key files) and refuses what the syntax alone
 * cannot: two grants of one principal, a writer of a signed channel
 * without a key.  Kept apart from the parser so the fuzzer drives that
 * without touching the file system.
 */
#include <stdio.h>

#include "grant.h"

static int resolve_fail(char *err, size_t room, const struct where *at,
			const char *msg)
{
	snprintf(err, room, "%s:%u:%u: %s", at->file, at->line, at->col, msg);
	return -1;
}

/* One grant or container rule; @others are those before it, of its kind. */
static int resolve_one(struct policy_channel *ch, struct policy_grant *g,
		       const struct policy_grant *others, unsigned int nr_others,
		       const struct resolve_opts *opts, char *err,
		       size_t err_room)
{
	char msg[ERROR_MAX + 64], e[ERROR_MAX];
	size_t off = 0;
	unsigned int j;

	if (principal_parse(g->principal_text, g->principal_len, &g->principal,
			    opts, e, &off)) {
		struct where at = g->at;

		at.col += (unsigned int)off;
		return resolve_fail(err, err_room, &at, e);
	}
	if (g->pubkey_file && read_pubkey(g->pubkey_file, g->pubkey, e))
		return resolve_fail(err, err_room, &g->pubkey_at, e);
	for (j = 0; j < nr_others; j++) {
		if (!principal_equal(&others[j].principal.k, &g->principal.k))
			continue;
		snprintf(msg, sizeof(msg),
			 "the same principal as the %s at line %u: give it one with the union of the rights",
			 others == ch->containers ? "container rule" : "grant",
			 others[j].at.line);
		return resolve_fail(err, err_room, &g->at, msg);
	}
	if (ch->is_signed && g->rights & MPKLINK_RIGHT_WRITE &&
	    !g->has_pubkey) {
		snprintf(msg, sizeof(msg),
			 "channel '%s' is signed: a grant with the write right needs 'pubkey HEX' or 'pubkey-file PATH', or its messages cannot be verified",
			 ch->name);
		return resolve_fail(err, err_room, &g->at, msg);
	}
	return 0;
}

int policy_resolve(struct policy *pol, const struct resolve_opts *opts,
		   char *err, size_t err_room)
{
	struct resolve_opts rule_opts = *opts;
	unsigned int c, i;

	/* A container rule's cgroup is a parent made when containers start. */
	rule_opts.allow_missing_cgroup = true;
	for (c = 0; c < pol->nr_channels; c++) {
		struct policy_channel *ch = &pol->channels[c];

		for (i = 0; i < ch->nr_grants; i++)
			if (resolve_one(ch, &ch->grants[i], ch->grants, i, opts,
					err, err_room))
				return -1;
		for (i = 0; i < ch->nr_containers; i++)
			if (resolve_one(ch, &ch->containers[i], ch->containers,
					i, &rule_opts, err, err_room))
				return -1;
	}
	return 0;
}

