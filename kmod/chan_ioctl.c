// SPDX-License-Identifier: GPL-2.0
/*
 * What a channel fd answers: its member's own description (INFO), the
 * members listing (MEMBERS, also behind the device's admin listing), and
 * the doorbell ioctls, which doorbell.c implements.  Like every operation
 * but close, each works only from the address space that attached.
 */

#include <linux/fs.h>
#include <linux/pid.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "mpklink.h"

void mpklink_fill_info(const struct mpklink_member *member,
		       struct mpklink_attach *out)
{
	const struct mpklink_channel *ch = member->channel;

	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	strscpy(out->name, ch->name, sizeof(out->name));
	out->pkey = member->pkey;
	out->rights = member->rights;
	out->slot = member->slot;
	out->max_members = ch->max_members;
	out->segment_size = ch->segment_size;
	out->member_id = member->id;
	out->map_size = ch->map_size;
	out->slot_size = ch->slot_size;
	out->channel_flags = ch->flags;
}

/*
 * Copies up to *@count live members of @ch to @entries and sets *@count to
 * their number.  @self marks the caller's own membership, if any.
 */
int mpklink_members_list(struct mpklink_channel *ch,
			 const struct mpklink_member *self,
			 struct mpklink_member_info __user *entries, u32 *count)
{
	struct user_namespace *ns = current_user_ns();
	struct mpklink_member_info *out;
	struct mpklink_member *m;
	u32 room, n = 0;

	mutex_lock(&ch->lock);
	room = min(*count, ch->nr_members);
	out = mpklink_listing_alloc(room, sizeof(*out));
	if (room && !out) {
		mutex_unlock(&ch->lock);
		return -ENOMEM;
	}
	list_for_each_entry(m, &ch->members, node) {
		if (n < room) {
			struct mpklink_member_info *e = &out[n];

			e->member_id = m->id;
			e->slot = m->slot;
			e->pid = pid_vnr(m->tgid);
			e->uid = from_kuid_munged(ns, m->att->euid);
			e->gid = from_kgid_munged(ns, m->att->egid);
			e->rights = m->rights;
			e->pkey = m->pkey;
			if (m->has_pubkey)
				e->flags |= MPKLINK_MEMBER_PUBKEY;
			if (m == self)
				e->flags |= MPKLINK_MEMBER_SELF;
			if (m->revoked)
				e->flags |= MPKLINK_MEMBER_REVOKED;
			if (m->att->exe_known)
				e->flags |= MPKLINK_MEMBER_EXE;
			memcpy(e->exe_sha256, m->att->exe_sha256,
			       MPKLINK_SHA256_SIZE);
			memcpy(e->pubkey, m->pubkey, MPKLINK_PUBKEY_SIZE);
		}
		n++;
	}
	mutex_unlock(&ch->lock);
	*count = n;
	return mpklink_listing_copy_out(entries, out, room, sizeof(*out));
}

static long mpklink_chan_ioc_info(struct mpklink_member *member,
				  struct mpklink_attach __user *uarg)
{
	struct mpklink_attach req;
	int err;

	err = mpklink_copy_arg(&req, sizeof(req), uarg);
	if (err)
		return err;
	if (req.flags)
		return -EINVAL;
	mpklink_fill_info(member, &req);
	return copy_to_user(uarg, &req, sizeof(req)) ? -EFAULT : 0;
}

static long mpklink_chan_ioc_members(struct mpklink_member *member,
				     struct mpklink_listing __user *uarg)
{
	struct mpklink_listing req;
	int err;

	err = mpklink_copy_arg(&req, sizeof(req), uarg);
	if (err)
		return err;
	err = mpklink_listing_check(&req, sizeof(struct mpklink_member_info),
				    false);
	if (err)
		return err;
	err = mpklink_members_list(member->channel, member,
				   u64_to_user_ptr(req.entries), &req.count);
	if (err)
		return err;
	return put_user(req.count, &uarg->count);
}

long mpklink_chan_ioctl(struct file *file, unsigned int cmd,
			unsigned long arg)
{
	struct mpklink_member *member = file->private_data;

	if (current->mm != mpklink_mm_struct(member->mmk))
		return -EACCES;
	switch (cmd) {
	case MPKLINK_CHAN_IOC_INFO:
	case MPKLINK_CHAN_IOC_MEMBERS:
	case MPKLINK_CHAN_IOC_NOTIFY:
	case MPKLINK_CHAN_IOC_WAIT:
		break;
	default:
		return -ENOTTY;
	}
	if (READ_ONCE(member->revoked))
		return -EKEYREVOKED;
	switch (cmd) {
	case MPKLINK_CHAN_IOC_INFO:
		return mpklink_chan_ioc_info(member, (void __user *)arg);
	case MPKLINK_CHAN_IOC_MEMBERS:
		return mpklink_chan_ioc_members(member, (void __user *)arg);
	case MPKLINK_CHAN_IOC_WAIT:
		return mpklink_wait(member, (void __user *)arg);
	default:
		return mpklink_notify(member, (void __user *)arg);
	}
}
