// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Roles: a name a member announces in its own control page ("server"), so
 * that a client on a channel with other clients can find the server.
 *
 * Only the member writes its control page, and every other member reads
 * it, so a role is as trustworthy as its owner: anyone granted may
 * announce "server".  What the kernel attested about the member found
 * (mpkshm_member_info()) is what an application checks where that matters.
 */
#include <errno.h>
#include <string.h>

#include "core.h"

bool mpkshm_role_valid(const char *role)
{
	size_t len = strnlen(role, MPKSHM_ROLE_MAX), i;

	if (len == 0 || len == MPKSHM_ROLE_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = role[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Writes our role (key open) and rings whoever sleeps looking for one: a
 * finder that saw us join with no role yet must look again.
 */
void mpkshm_announce_role(struct mpkshm_channel *ch, const char *role)
{
	char *own = ch->own_ctrl->role;

	memset(own, 0, MPKSHM_ROLE_MAX);
	if (!role)
		return;
	memcpy(own, role, strlen(role));
	mpkshm_wake(ch, ~0ull, MPKSHM_WAIT_DATA);
}

/*
 * Copies the role in control page @ctrl to @out, or "" when it is not a
 * valid role (its owner may write anything there).  Key open.
 */
static void read_role(const struct mpkshm_ctrl *ctrl, char out[MPKSHM_ROLE_MAX])
{
	memset(out, 0, MPKSHM_ROLE_MAX);
	if (!ctrl)
		return;
	memcpy(out, (const char *)ctrl->role, MPKSHM_ROLE_MAX - 1);
	if (!mpkshm_role_valid(out))
		memset(out, 0, MPKSHM_ROLE_MAX);
}

static const struct mpkshm_ctrl *ctrl_of(struct mpkshm_channel *ch,
					 unsigned int slot)
{
	if (slot == ch->slot)
		return ch->own_ctrl;
	/* memfd: NULL until the broker handed us the member's pages. */
	return __atomic_load_n(&ch->peers[slot].ctrl, __ATOMIC_ACQUIRE);
}

void mpkshm_fill_roles(struct mpkshm_channel *ch, struct mpkshm_member *out,
		       unsigned int n)
{
	unsigned int i;

	/* Maps what the memfd broker has handed us of new members. */
	mpkshm_window_open(ch->pkey, true);
	mpkshm_refresh(ch);
	for (i = 0; i < n; i++)
		if (out[i].slot < ch->max_members)
			read_role(ctrl_of(ch, out[i].slot), out[i].role);
	mpkshm_window_close(ch->pkey, true);
}

static int role_present(struct mpkshm_channel *ch, void *arg)
{
	struct mpkshm_member_search *s = arg;
	char role[MPKSHM_ROLE_MAX];
	unsigned int i;
	int err = mpkshm_refresh(ch);

	if (err)
		return err;
	for (i = 0; i < ch->max_members; i++) {
		uint64_t id = mpkshm_peer_id(ch, i);

		if (i == ch->slot || !id)
			continue;
		read_role(ctrl_of(ch, i), role);
		/* The slot may have changed hands while we read its page. */
		if (!strcmp(role, s->role) && mpkshm_peer_is(ch, i, id)) {
			s->id = id;
			return 1;
		}
	}
	return 0;
}

MPKSHM_EXPORT int mpkshm_find_member(struct mpkshm_channel *ch,
				     const char *role, uint64_t *member_id,
				     int timeout_ms)
{
	struct mpkshm_member_search s = { .role = role };
	int ret;

	if (!role)
		return mpkshm_find_peer(ch, member_id, timeout_ms);
	if (!member_id || !mpkshm_role_valid(role))
		return -EINVAL;
	ret = mpkshm_usable(ch);
	if (ret)
		return ret;
	return mpkshm_await_member(ch, role_present, &s, member_id, timeout_ms);
}
