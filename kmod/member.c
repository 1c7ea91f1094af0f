// SPDX-License-Identifier: GPL-2.0
/*
 * Members: attaching to a channel, the channel fd that represents the
 * membership, revocation, and leaving (what the fd answers is in
 * chan_ioctl.c).
 *
 * A member is bound to the address space that attached: its fd is
 * close-on-exec, and used from any other process (passed over a socket,
 * kept across exec) every operation but close fails with EACCES.  The
 * member leaves when its fd and every mapping of it are gone; the other
 * members get an event saying whether it closed or its process exited.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/pid.h>
#include <linux/pseudo_fs.h>
#include <linux/ratelimit.h>
#include <linux/sched/coredump.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "mpklink.h"

#define MPKLINK_FS_MAGIC	0x4d504b4c	/* "MPKL" */

/*
 * A private pseudo file system, never mounted where userspace could see
 * it, provides one inode per member: the address_space its mappings live in.
 */
static struct vfsmount *mpklink_mnt;

static int mpklink_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, MPKLINK_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type mpklink_fs_type = {
	.name = "mpklink",
	.init_fs_context = mpklink_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

int mpklink_fs_init(void)
{
	mpklink_mnt = kern_mount(&mpklink_fs_type);
	return PTR_ERR_OR_ZERO(mpklink_mnt);
}

void mpklink_fs_exit(void)
{
	kern_unmount(mpklink_mnt);
}

static atomic64_t mpklink_next_member_id = ATOMIC64_INIT(0);
static DEFINE_RATELIMIT_STATE(mpklink_deny_ratelimit, 5 * HZ, 10);

/* Any thread of the calling process being traced. */
/*
 * Makes the caller's address space non-dumpable, as ssh-agent makes
 * itself: set_dumpable() is not exported, so its one line is done here.
 * Nothing undoes it but the process itself (prctl) or its next execve().
 */
static void mpklink_seal_current_mm(void)
{
	set_mask_bits(&current->mm->flags, MMF_DUMPABLE_MASK,
		      SUID_DUMP_DISABLE);
}

static bool mpklink_current_traced(void)
{
	struct task_struct *t;
	bool traced = false;

	rcu_read_lock();
	for_each_thread(current, t) {
		if (t->ptrace) {
			traced = true;
			break;
		}
	}
	rcu_read_unlock();
	return traced;
}

static void mpklink_log_denial(struct mpklink_channel *ch,
			       const struct mpklink_attestation *att)
{
	char comm[TASK_COMM_LEN];

	atomic64_inc(&ch->denials);
	atomic64_inc(&mpklink_stats.denials);
	if (!__ratelimit(&mpklink_deny_ratelimit))
		return;
	get_task_comm(comm, current);
	/* The host's pid: the log is read outside the caller's namespace. */
	pr_notice("attach to channel %s denied: pid %d comm %s uid %u%s%s\n",
		  ch->name, task_tgid_nr(current), comm,
		  from_kuid(&init_user_ns, att->euid),
		  att->exe_refused ? "; no executable digest: " : "",
		  att->exe_refused ?: "");
}

static int mpklink_free_slot(struct mpklink_channel *ch)
{
	u32 i;

	for (i = 0; i < ch->max_members; i++)
		if (!ch->slots[i].member)
			return i;
	return -EUSERS;
}

/*
 * Joins @member to its channel; called with no lock held.  @rights are
 * those the grants gave before the key was taken: the slot's pages are
 * allocated for them before the channel's lock is taken, and again in the
 * rare case that grants changed the write right meanwhile.
 */
static int mpklink_member_join(struct mpklink_member *member,
			       const struct mpklink_attestation *att,
			       u32 rights)
{
	struct mpklink_channel *ch = member->channel;
	const struct mpklink_grant_entry *keyed;
	struct mpklink_slot_pages sp = {};
	bool with_segment = rights & MPKLINK_RIGHT_WRITE;
	int slot, err;

	for (;;) {
		err = mpklink_slot_pages_alloc(ch, with_segment, &sp);
		if (err)
			return err;
		mutex_lock(&ch->lock);
		if (ch->destroyed) {
			err = -ENOENT;
			goto out;
		}
		/* Again: grants may have changed while we took the key. */
		member->rights = mpklink_grants_match(ch, att, &keyed);
		if (!member->rights) {
			mpklink_log_denial(ch, att);
			err = -EACCES;
			goto out;
		}
		if (!!(member->rights & MPKLINK_RIGHT_WRITE) == with_segment)
			break;
		mutex_unlock(&ch->lock);
		mpklink_slot_pages_free(&sp);
		with_segment = !with_segment;
	}
	if (keyed) {
		member->has_pubkey = true;
		memcpy(member->pubkey, keyed->pubkey, MPKLINK_PUBKEY_SIZE);
	}
	slot = mpklink_free_slot(ch);
	if (slot < 0) {
		err = slot;
		goto out;
	}
	member->slot = slot;
	mpklink_slot_fill(ch, slot, member, &sp);
	/* The directory before the event, as in mpklink_member_leave(). */
	mpklink_dir_set_slot(ch, slot, member->id, member->rights, 0);
	mpklink_channel_event(ch, member, MPKLINK_EVENT_JOIN, 0);
	list_add_tail(&member->node, &ch->members);
	WRITE_ONCE(ch->nr_members, ch->nr_members + 1);
	atomic64_inc(&ch->attaches);
	atomic64_inc(&mpklink_stats.attaches);
	atomic_inc(&mpklink_stats.members);
out:
	mutex_unlock(&ch->lock);
	mpklink_slot_pages_free(&sp);
	return err;
}

/* Whether the member's process is exiting (or gone), rather than closing. */
static bool mpklink_member_exited(const struct mpklink_member *member)
{
	struct task_struct *t;
	bool exited;

	if (!(current->flags & PF_KTHREAD) && task_tgid(current) == member->tgid)
		return current->flags & PF_EXITING;
	/* Released from elsewhere, e.g. the delayed fput worker. */
	rcu_read_lock();
	t = pid_task(member->tgid, PIDTYPE_TGID);
	exited = !t || t->flags & PF_EXITING;
	rcu_read_unlock();
	return exited;
}

/* Drops the member's use of its key, once: at revocation or departure. */
static void mpklink_member_drop_key(struct mpklink_member *member)
{
	if (xchg(&member->key_held, false))
		mpklink_mm_key_put(member->mmk, member->pkey);
}

static void mpklink_member_leave(struct mpklink_member *member)
{
	struct mpklink_channel *ch = member->channel;
	u32 reason = mpklink_member_exited(member) ? MPKLINK_LEAVE_EXITED :
						     MPKLINK_LEAVE_CLOSED;
	struct mpklink_slot_pages sp;

	mutex_lock(&ch->lock);
	list_del(&member->node);
	WRITE_ONCE(ch->nr_members, ch->nr_members - 1);
	/*
	 * The directory first: a member woken by the event must find the
	 * change when it looks, or it would sleep again with nothing to wake
	 * it.
	 */
	mpklink_dir_set_slot(ch, member->slot, 0, 0, 0);
	mpklink_channel_event(ch, member, MPKLINK_EVENT_LEAVE, reason);
	mpklink_slot_empty(ch, member->slot, &sp);
	mutex_unlock(&ch->lock);
	mpklink_slot_pages_free(&sp);
	atomic_dec(&mpklink_stats.members);
	mpklink_member_drop_key(member);
}

static void mpklink_member_free(struct mpklink_member *member)
{
	if (member->inode)
		iput(member->inode);
	put_pid(member->tgid);
	mpklink_attestation_free(member->att);
	if (member->mmk)
		mpklink_mm_put(member->mmk);
	mpklink_events_release(&member->events);
	mpklink_channel_put(member->channel);
	kfree(member);
}

static void mpklink_member_put(struct mpklink_member *member)
{
	if (refcount_dec_and_test(&member->ref))
		mpklink_member_free(member);
}

static int mpklink_chan_release(struct inode *inode, struct file *file)
{
	struct mpklink_member *member = file->private_data;

	mpklink_member_leave(member);
	mpklink_member_put(member);
	return 0;
}

/*
 * Revokes @member: it never gets a page again, its mappings are torn down
 * now, and it and the other members are told.  Called with the channel's
 * lock held; returns true when the caller must finish the revocation with
 * mpklink_members_finish_revoke() after dropping the lock (the member is
 * then on the caller's list, with a reference).
 */
bool mpklink_member_revoke(struct mpklink_member *member, u32 reason)
{
	struct mpklink_channel *ch = member->channel;

	lockdep_assert_held(&ch->lock);
	if (member->revoked)
		return false;
	/* Faults check under slots_rwsem: none maps a page after this. */
	down_write(&ch->slots_rwsem);
	WRITE_ONCE(member->revoked, reason);
	up_write(&ch->slots_rwsem);
	unmap_mapping_range(member->inode->i_mapping, 0, 0, 1);

	mpklink_dir_set_slot(ch, member->slot, member->id, member->rights,
			     MPKLINK_DIR_SLOT_REVOKED);
	mpklink_event_post(member, MPKLINK_EVENT_REVOKED, member, reason);
	mpklink_channel_event(ch, member, MPKLINK_EVENT_REVOKED, reason);
	mpklink_events_hangup(&member->events);
	atomic64_inc(&ch->revocations);
	atomic64_inc(&mpklink_stats.revocations);
	refcount_inc(&member->ref);
	return true;
}

/*
 * The part of revocation done without the channel's lock: the member's use
 * of its key, closed in every thread if it was the last.  That takes no
 * lock of the member's process (no mmap_lock, no mpklink_mm->lock), so the
 * administrator's ioctl that revokes cannot be held up by the member.
 */
void mpklink_members_finish_revoke(struct list_head *revoked)
{
	struct mpklink_member *member, *tmp;

	list_for_each_entry_safe(member, tmp, revoked, revoke_node) {
		list_del(&member->revoke_node);
		mpklink_member_drop_key(member);
		mpklink_member_put(member);
	}
}

void mpklink_member_show(struct seq_file *m,
			 const struct mpklink_member *member)
{
	const struct mpklink_attestation *att = member->att;

	seq_printf(m, "  member %llu slot %u pid %d uid %u gid %u rights %s%s key %d state %s",
		   member->id, member->slot, pid_nr(member->tgid),
		   from_kuid(&init_user_ns, att->euid),
		   from_kgid(&init_user_ns, att->egid),
		   member->rights & MPKLINK_RIGHT_READ ? "r" : "",
		   member->rights & MPKLINK_RIGHT_WRITE ? "w" : "",
		   member->pkey, member->revoked ? "revoked" : "live");
	if (att->exe_known)
		seq_printf(m, " exe %*phN\n", MPKLINK_SHA256_SIZE,
			   att->exe_sha256);
	else
		seq_puts(m, " exe -\n");
}

static bool mpklink_attach_req_valid(const struct mpklink_attach *req)
{
	if (req->flags & ~MPKLINK_ATTACH_SHARE_PKEY || req->channel_flags ||
	    req->reserved0 || memchr_inv(req->reserved, 0, sizeof(req->reserved)))
		return false;
	if (req->flags & MPKLINK_ATTACH_SHARE_PKEY && req->pkey < 0)
		return false;
	return true;
}

static const struct file_operations mpklink_chan_fops;

int mpklink_attach(struct mpklink_attach __user *uarg)
{
	struct mpklink_attestation *att;
	const struct mpklink_grant_entry *keyed;
	struct mpklink_member *member;
	struct mpklink_channel *ch;
	struct mpklink_attach req;
	struct file *file;
	bool want_exe;
	u32 rights;
	int fd, err;

	err = mpklink_copy_arg(&req, sizeof(req), uarg);
	if (err)
		return err;
	if (!mpklink_attach_req_valid(&req))
		return -EINVAL;
	ch = mpklink_channel_find(req.name);
	if (IS_ERR(ch))
		return PTR_ERR(ch);

	member = kzalloc(sizeof(*member), GFP_KERNEL_ACCOUNT);
	if (!member) {
		mpklink_channel_put(ch);
		return -ENOMEM;
	}
	refcount_set(&member->ref, 1);
	member->channel = ch;		/* the lookup's reference */
	member->pkey = -1;
	INIT_LIST_HEAD(&member->node);
	mpklink_events_init(&member->events);

	/* A tracer could read the channel through this process. */
	if (mpklink_current_traced()) {
		err = -EPERM;
		goto err_free;
	}
	att = kmalloc(sizeof(*att), GFP_KERNEL_ACCOUNT);
	if (!att) {
		err = -ENOMEM;
		goto err_free;
	}
	err = mpklink_attest_current(att);
	if (err) {
		kfree(att);
		goto err_free;
	}
	/* Kept, to re-evaluate the grants whenever they change. */
	att->cred = get_cred(att->cred);
	member->att = att;

	/* Hashing is slow: only for an attach a digest grant could admit. */
	mutex_lock(&ch->lock);
	want_exe = mpklink_grants_want_exe(ch, att);
	mutex_unlock(&ch->lock);
	if (want_exe) {
		err = mpklink_attest_exe(att);
		if (err)
			goto err_free;
	}

	/*
	 * Refuse before taking a key, which costs every thread a PKRU write:
	 * no grant, or no free slot (join checks both again).
	 */
	mutex_lock(&ch->lock);
	rights = ch->destroyed ? 0 : mpklink_grants_match(ch, att, &keyed);
	if (!rights && !ch->destroyed)
		mpklink_log_denial(ch, att);
	err = ch->destroyed ? -ENOENT : rights ? 0 : -EACCES;
	if (!err && mpklink_free_slot(ch) < 0)
		err = -EUSERS;
	mutex_unlock(&ch->lock);
	if (err)
		goto err_free;

	/*
	 * Granted.  From now on a process of the same user must not read
	 * what this one copies out of the channel (ptrace, /proc/PID/mem,
	 * process_vm_readv all need the mm dumpable), and a tracer that
	 * attached since the check above is caught by this one.
	 */
	mpklink_seal_current_mm();
	if (mpklink_current_traced()) {
		err = -EPERM;
		goto err_free;
	}

	member->tgid = get_pid(task_tgid(current));
	member->id = atomic64_inc_return(&mpklink_next_member_id);
	member->mmk = mpklink_mm_get_current();
	if (IS_ERR(member->mmk)) {
		err = PTR_ERR(member->mmk);
		member->mmk = NULL;
		goto err_free;
	}
	member->inode = alloc_anon_inode(mpklink_mnt->mnt_sb);
	if (IS_ERR(member->inode)) {
		err = PTR_ERR(member->inode);
		member->inode = NULL;
		goto err_free;
	}
	member->pkey = mpklink_mm_key_get(member->mmk,
					  req.flags & MPKLINK_ATTACH_SHARE_PKEY ?
					  req.pkey : -1);
	if (member->pkey < -1) {
		err = member->pkey;
		member->pkey = -1;
		goto err_free;
	}
	member->key_held = true;

	err = mpklink_member_join(member, att, rights);
	if (err)
		goto err_key;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		err = fd;
		goto err_leave;
	}
	file = anon_inode_getfile("[mpklink]", &mpklink_chan_fops, member,
				  O_RDWR);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		put_unused_fd(fd);
		goto err_leave;
	}
	/* Mappings go into the member's own address_space. */
	file->f_mapping = member->inode->i_mapping;

	mpklink_fill_info(member, &req);
	if (copy_to_user(uarg, &req, sizeof(req))) {
		put_unused_fd(fd);
		fput(file);	/* its release leaves the channel */
		return -EFAULT;
	}
	fd_install(fd, file);
	return fd;

err_leave:
	mpklink_member_leave(member);
	goto err_free;
err_key:
	mpklink_member_drop_key(member);
err_free:
	mpklink_member_put(member);
	return err;
}

static const struct file_operations mpklink_chan_fops = {
	.owner = THIS_MODULE,
	.release = mpklink_chan_release,
	.mmap = mpklink_mmap,
	.read = mpklink_events_read,
	.poll = mpklink_events_poll,
	.unlocked_ioctl = mpklink_chan_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};
