// SPDX-License-Identifier: GPL-2.0
/*
 * Access control: a channel's grants, and attestation of the process that
 * asks to attach (credentials, executable digest, cgroup).
 *
 * A grant matches when every field its principal names matches; a member's
 * rights are the union of the rights of every matching grant.  Members keep
 * their attestation, so when grants change each live member is matched
 * again, and one that lost any right is revoked.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>

#include "compat.h"
#include "mpklink.h"

/*
 * A cgroup v2 path as grants name it: "/", or "/" followed by components
 * separated by single slashes, none of them "." or "..", no trailing slash,
 * no control characters.  So one path has one spelling, and matching by
 * prefix means "this cgroup or below it".
 */
static bool mpklink_cgroup_path_valid(const char *path, size_t len)
{
	const char *comp = path + 1;
	size_t i;

	if (len == 0 || path[0] != '/')
		return false;
	if (len == 1)
		return true;
	for (i = 1; i <= len; i++) {
		if (i < len && path[i] != '/') {
			if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
				return false;
			continue;
		}
		/* path[i] ends the component starting at comp. */
		if (path + i == comp)
			return false;	/* empty: "//" or a trailing "/" */
		if (!strncmp(comp, ".", path + i - comp) ||
		    !strncmp(comp, "..", path + i - comp))
			return false;
		comp = path + i + 1;
	}
	return true;
}

int mpklink_principal_from_user(struct mpklink_principal_k *out,
				const struct mpklink_principal *in)
{
	struct user_namespace *ns = current_user_ns();
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!in->match || in->match & ~MPKLINK_MATCH_ALL || in->reserved)
		return -EINVAL;
	out->match = in->match;

	/* Fields the principal does not name must be zero. */
	if (in->match & MPKLINK_MATCH_UID) {
		out->uid = make_kuid(ns, in->uid);
		if (!uid_valid(out->uid))
			return -EINVAL;
	} else if (in->uid) {
		return -EINVAL;
	}
	if (in->match & MPKLINK_MATCH_GID) {
		out->gid = make_kgid(ns, in->gid);
		if (!gid_valid(out->gid))
			return -EINVAL;
	} else if (in->gid) {
		return -EINVAL;
	}
	if (in->match & MPKLINK_MATCH_EXE)
		memcpy(out->exe_sha256, in->exe_sha256, MPKLINK_SHA256_SIZE);
	else if (memchr_inv(in->exe_sha256, 0, MPKLINK_SHA256_SIZE))
		return -EINVAL;

	len = strnlen(in->cgroup, MPKLINK_CGROUP_PATH_MAX);
	if (len == MPKLINK_CGROUP_PATH_MAX)
		return -EINVAL;
	if (memchr_inv(in->cgroup + len, 0, MPKLINK_CGROUP_PATH_MAX - len))
		return -EINVAL;
	if (in->match & MPKLINK_MATCH_CGROUP) {
		if (!mpklink_cgroup_path_valid(in->cgroup, len))
			return -EINVAL;
		memcpy(out->cgroup, in->cgroup, len);
	} else if (len) {
		return -EINVAL;
	}
	return 0;
}

void mpklink_principal_to_user(struct mpklink_principal *out,
			       const struct mpklink_principal_k *in)
{
	struct user_namespace *ns = current_user_ns();

	memset(out, 0, sizeof(*out));
	out->match = in->match;
	if (in->match & MPKLINK_MATCH_UID)
		out->uid = from_kuid_munged(ns, in->uid);
	if (in->match & MPKLINK_MATCH_GID)
		out->gid = from_kgid_munged(ns, in->gid);
	memcpy(out->exe_sha256, in->exe_sha256, MPKLINK_SHA256_SIZE);
	strscpy(out->cgroup, in->cgroup, sizeof(out->cgroup));
}

static bool mpklink_principal_equal(const struct mpklink_principal_k *a,
				    const struct mpklink_principal_k *b)
{
	/* Unnamed fields are zeroed by mpklink_principal_from_user(). */
	return a->match == b->match && uid_eq(a->uid, b->uid) &&
	       gid_eq(a->gid, b->gid) &&
	       !memcmp(a->exe_sha256, b->exe_sha256, MPKLINK_SHA256_SIZE) &&
	       !strcmp(a->cgroup, b->cgroup);
}

/*
 * Attests the calling process: its credentials and cgroup.  The digest of
 * its executable is left to mpklink_attest_exe(), for attaches that a
 * digest grant could admit.  A cgroup path that cannot be found only makes
 * grants that name one fail to match.
 */
int mpklink_attest_current(struct mpklink_attestation *att)
{
	struct cgroup *cgrp;
	int len;

	memset(att, 0, sizeof(*att));
	att->cred = current_cred();
	att->euid = current_euid();
	att->egid = current_egid();

	/* The path from the root of the hierarchy, whatever our namespace. */
	rcu_read_lock();
	cgrp = task_dfl_cgroup(current);
	len = cgroup_path(cgrp, att->cgroup, sizeof(att->cgroup));
	rcu_read_unlock();
	if (len < 0 || len >= (int)sizeof(att->cgroup))
		att->cgroup[0] = '\0';
	return 0;
}

/*
 * Adds the digest of the calling process's executable to @att, when one
 * can describe the code that runs; otherwise leaves exe_known false, with
 * the reason in exe_refused.
 *
 * A process in a user namespace other than the initial one may hold
 * CAP_CHECKPOINT_RESTORE there, which lets prctl(PR_SET_MM_MAP) point
 * mm->exe_file at any executable file once its own image is unmapped: its
 * exe_file says nothing about its code.  It cannot leave that namespace for
 * the initial one, and neither can its children.
 */
int mpklink_attest_exe(struct mpklink_attestation *att)
{
	struct file *exe = NULL;
	int err = 0;

	if (att->exe_known || att->exe_refused)
		return 0;
	if (current_user_ns() != &init_user_ns) {
		att->exe_refused = "it runs in a user namespace";
		return 0;
	}
	if (current->mm)
		exe = mpklink_get_exe_file(current->mm);
	if (!exe) {
		att->exe_refused = "it has no executable";
		return 0;
	}
	err = mpklink_exe_digest(exe, att->exe_sha256, &att->exe_pin,
				 &att->exe_refused);
	fput(exe);
	if (!err)
		att->exe_known = true;
	else if (err != -EPERM)
		att->exe_refused = "its executable could not be read";
	if (fatal_signal_pending(current))
		return -EINTR;
	return 0;
}

void mpklink_attestation_free(struct mpklink_attestation *att)
{
	if (!att)
		return;
	mpklink_exe_unpin(att->exe_pin);
	put_cred(att->cred);
	kfree(att);
}

static bool mpklink_cgroup_within(const char *path, const char *ancestor)
{
	size_t len = strlen(ancestor);

	if (!path[0])
		return false;
	if (len == 1)	/* "/" */
		return true;
	return !strncmp(path, ancestor, len) &&
	       (path[len] == '\0' || path[len] == '/');
}

/* in_egroup_p() for credentials other than the current task's. */
static bool mpklink_cred_in_egroup(const struct cred *cred, kgid_t gid)
{
	const struct group_info *groups = cred->group_info;
	int i;

	if (gid_eq(cred->egid, gid))
		return true;
	for (i = 0; i < groups->ngroups; i++)
		if (gid_eq(groups->gid[i], gid))
			return true;
	return false;
}

/* Whether @att matches @p in every field but the executable's digest. */
static bool mpklink_principal_matches_but_exe(const struct mpklink_principal_k *p,
					      const struct mpklink_attestation *att)
{
	if ((p->match & MPKLINK_MATCH_UID) && !uid_eq(att->euid, p->uid))
		return false;
	if ((p->match & MPKLINK_MATCH_GID) &&
	    !mpklink_cred_in_egroup(att->cred, p->gid))
		return false;
	if ((p->match & MPKLINK_MATCH_CGROUP) &&
	    !mpklink_cgroup_within(att->cgroup, p->cgroup))
		return false;
	return true;
}

bool mpklink_principal_matches(const struct mpklink_principal_k *p,
			       const struct mpklink_attestation *att)
{
	if ((p->match & MPKLINK_MATCH_EXE) &&
	    (!att->exe_known ||
	     memcmp(att->exe_sha256, p->exe_sha256, MPKLINK_SHA256_SIZE)))
		return false;
	return mpklink_principal_matches_but_exe(p, att);
}

/*
 * Whether the digest of @att's executable could earn it a right on @ch: a
 * grant names a digest and matches in every other field.  Only then is the
 * executable hashed.
 */
bool mpklink_grants_want_exe(struct mpklink_channel *ch,
			     const struct mpklink_attestation *att)
{
	struct mpklink_grant_entry *g;

	lockdep_assert_held(&ch->lock);
	list_for_each_entry(g, &ch->grants, node)
		if (g->principal.match & MPKLINK_MATCH_EXE &&
		    mpklink_principal_matches_but_exe(&g->principal, att))
			return true;
	return false;
}

static struct mpklink_grant_entry *
mpklink_grant_find(struct mpklink_channel *ch,
		   const struct mpklink_principal_k *p)
{
	struct mpklink_grant_entry *g;

	lockdep_assert_held(&ch->lock);
	list_for_each_entry(g, &ch->grants, node)
		if (mpklink_principal_equal(&g->principal, p))
			return g;
	return NULL;
}

/*
 * Whether @m's enrolled public key is no longer the one its grants give:
 * the key was rotated or withdrawn, and peers would go on trusting
 * signatures by the old one.  A member enrolled without a key that now
 * would get one is left alone: it signs nothing.
 */
static bool mpklink_member_key_stale(const struct mpklink_member *m,
				     const struct mpklink_grant_entry *keyed)
{
	if (!m->has_pubkey)
		return false;
	return !keyed || memcmp(m->pubkey, keyed->pubkey, MPKLINK_PUBKEY_SIZE);
}

/*
 * Revokes every live member of @ch whose attestation no longer earns all of
 * its rights, or whose enrolled key changed, onto @revoked; the caller
 * finishes them after dropping the channel's lock.  A member whose rights
 * grew keeps the ones it has: the new rights come with its next attach.
 */
void mpklink_grants_changed(struct mpklink_channel *ch,
			    struct list_head *revoked)
{
	const struct mpklink_grant_entry *keyed;
	struct mpklink_member *m;
	u32 rights;

	lockdep_assert_held(&ch->lock);
	list_for_each_entry(m, &ch->members, node) {
		if (m->revoked)
			continue;
		rights = mpklink_grants_match(ch, m->att, &keyed);
		if ((m->rights & ~rights || mpklink_member_key_stale(m, keyed)) &&
		    mpklink_member_revoke(m, MPKLINK_REVOKED_GRANT))
			list_add_tail(&m->revoke_node, revoked);
	}
}

/* Adds a grant, or sets the rights of the grant with an equal principal. */
int mpklink_grant_set(struct mpklink_channel *ch,
		      const struct mpklink_grant *req)
{
	struct mpklink_grant_entry *g, *new;
	LIST_HEAD(revoked);
	int err;

	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		return -ENOMEM;
	err = mpklink_principal_from_user(&new->principal, &req->principal);
	if (err) {
		kfree(new);
		return err;
	}
	new->rights = req->rights;
	new->has_pubkey = req->flags & MPKLINK_GRANT_PUBKEY;
	memcpy(new->pubkey, req->pubkey, MPKLINK_PUBKEY_SIZE);

	mutex_lock(&ch->lock);
	if (ch->destroyed) {
		err = -ENOENT;
		goto out;
	}
	g = mpklink_grant_find(ch, &new->principal);
	if (g) {
		g->rights = new->rights;
		g->has_pubkey = new->has_pubkey;
		memcpy(g->pubkey, new->pubkey, MPKLINK_PUBKEY_SIZE);
		mpklink_grants_changed(ch, &revoked);
		goto out;
	}
	if (ch->nr_grants >= mpklink_max_grants) {
		err = -ENOSPC;
		goto out;
	}
	list_add_tail(&new->node, &ch->grants);
	WRITE_ONCE(ch->nr_grants, ch->nr_grants + 1);
	new = NULL;
out:
	mutex_unlock(&ch->lock);
	mpklink_members_finish_revoke(&revoked);
	kfree(new);
	return err;
}

int mpklink_grant_remove(struct mpklink_channel *ch,
			 const struct mpklink_grant *req)
{
	struct mpklink_principal_k p;
	struct mpklink_grant_entry *g;
	LIST_HEAD(revoked);
	int err;

	err = mpklink_principal_from_user(&p, &req->principal);
	if (err)
		return err;
	mutex_lock(&ch->lock);
	g = ch->destroyed ? NULL : mpklink_grant_find(ch, &p);
	if (g) {
		list_del(&g->node);
		WRITE_ONCE(ch->nr_grants, ch->nr_grants - 1);
		mpklink_grants_changed(ch, &revoked);
	}
	mutex_unlock(&ch->lock);
	mpklink_members_finish_revoke(&revoked);
	if (!g)
		return -ENOENT;
	kfree(g);
	return 0;
}

int mpklink_grant_list(struct mpklink_channel *ch,
		       struct mpklink_grant __user *entries, u32 *count)
{
	struct mpklink_grant_entry *g;
	struct mpklink_grant *out;
	u32 room, n = 0;

	mutex_lock(&ch->lock);
	room = min(*count, ch->nr_grants);
	out = mpklink_listing_alloc(room, sizeof(*out));
	if (room && !out) {
		mutex_unlock(&ch->lock);
		return -ENOMEM;
	}
	list_for_each_entry(g, &ch->grants, node) {
		if (n < room) {
			struct mpklink_grant *e = &out[n];

			e->size = sizeof(*e);
			e->flags = g->has_pubkey ? MPKLINK_GRANT_PUBKEY : 0;
			e->rights = g->rights;
			strscpy(e->name, ch->name, sizeof(e->name));
			mpklink_principal_to_user(&e->principal, &g->principal);
			memcpy(e->pubkey, g->pubkey, MPKLINK_PUBKEY_SIZE);
		}
		n++;
	}
	mutex_unlock(&ch->lock);
	*count = n;
	return mpklink_listing_copy_out(entries, out, room, sizeof(*out));
}

/*
 * The rights @att earns on @ch (0: none).  *@with_pubkey is the first
 * matching grant that carries a public key, for the member's record.
 */
u32 mpklink_grants_match(struct mpklink_channel *ch,
			 const struct mpklink_attestation *att,
			 const struct mpklink_grant_entry **with_pubkey)
{
	struct mpklink_grant_entry *g;
	u32 rights = 0;

	lockdep_assert_held(&ch->lock);
	*with_pubkey = NULL;
	list_for_each_entry(g, &ch->grants, node) {
		if (!mpklink_principal_matches(&g->principal, att))
			continue;
		rights |= g->rights;
		if (g->has_pubkey && !*with_pubkey)
			*with_pubkey = g;
	}
	return rights;
}

void mpklink_grant_show(struct seq_file *m, const struct mpklink_grant_entry *g)
{
	const struct mpklink_principal_k *p = &g->principal;

	seq_printf(m, "  grant rights %s%s", g->rights & MPKLINK_RIGHT_READ ? "r" : "",
		   g->rights & MPKLINK_RIGHT_WRITE ? "w" : "");
	if (p->match & MPKLINK_MATCH_UID)
		seq_printf(m, " uid %u", from_kuid(&init_user_ns, p->uid));
	if (p->match & MPKLINK_MATCH_GID)
		seq_printf(m, " gid %u", from_kgid(&init_user_ns, p->gid));
	if (p->match & MPKLINK_MATCH_EXE)
		seq_printf(m, " sha256 %*phN", MPKLINK_SHA256_SIZE, p->exe_sha256);
	if (p->match & MPKLINK_MATCH_CGROUP)
		seq_printf(m, " cgroup %s", p->cgroup);
	seq_puts(m, g->has_pubkey ? " pubkey\n" : "\n");
}
