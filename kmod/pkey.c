// SPDX-License-Identifier: GPL-2.0
/*
 * Protection keys of attached processes: one record per address space,
 * the keys mpklink allocated there and how many members use each.
 *
 * mpklink allocates a key in the attaching process's address space with
 * the kernel's own allocator (so pkey_alloc() will not hand it out) and
 * tags the channel's mappings with it.  It never hands a key back:
 * pkey_free() does not ask who allocated a key, so the process may free
 * one of mpklink's and get the same number from its next pkey_alloc();
 * handing "ours" back then would free the process's own key, and the
 * allocator would give that number out twice.  A key whose last member
 * left is closed in every thread and kept, idle, for the next attach of
 * the same address space; the keys go with the address space (exit,
 * execve).  An idle key the process freed meanwhile is forgotten (it is
 * no longer allocated, so it is not ours to reuse); one it freed and
 * allocated again cannot be told from ours.
 *
 * Taking a key closes it in every thread first (pkru.c).  Only attach
 * takes keys, in the attaching process, under mpklink_mm->lock and
 * mmap_lock, both killable.  Dropping one (leave, revocation) takes only
 * key_lock: revocation runs in an administrator's ioctl, which must not
 * wait for locks a member's process holds.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/pkeys.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "mpklink.h"

static DEFINE_HASHTABLE(mpklink_mms, 6);
static DEFINE_SPINLOCK(mpklink_mms_lock);

struct mm_struct *mpklink_mm_struct(const struct mpklink_mm *mmk)
{
	return mmk->mm;
}

static struct mpklink_mm *mpklink_mm_find_rcu(struct mm_struct *mm)
{
	struct mpklink_mm *mmk;

	hash_for_each_possible_rcu(mpklink_mms, mmk, node, (unsigned long)mm)
		if (mmk->mm == mm)
			return mmk;
	return NULL;
}

/* The keys @mm holds for mpklink, for the task_newtask probe. */
u16 mpklink_mm_keys_rcu(struct mm_struct *mm)
{
	struct mpklink_mm *mmk = mpklink_mm_find_rcu(mm);

	return mmk ? READ_ONCE(mmk->keys) : 0;
}

static void mpklink_mm_free_rcu(struct rcu_head *rcu)
{
	kfree(container_of(rcu, struct mpklink_mm, rcu));
}

static void mpklink_mm_free(struct mpklink_mm *mmk)
{
	put_pid(mmk->tgid);
	mmdrop(mmk->mm);
	call_rcu(&mmk->rcu, mpklink_mm_free_rcu);
}

/* An unused record whose address space is gone can go. */
static bool mpklink_mm_dead(struct mpklink_mm *mmk)
{
	return !atomic_read(&mmk->refs) && !atomic_read(&mmk->mm->mm_users);
}

/* Unhashes dead records onto @gc; under mpklink_mms_lock. */
static void mpklink_mms_sweep(struct list_head *gc, bool all)
{
	struct mpklink_mm *mmk;
	struct hlist_node *tmp;
	int bkt;

	hash_for_each_safe(mpklink_mms, bkt, tmp, mmk, node) {
		if (!all && !mpklink_mm_dead(mmk))
			continue;
		hash_del_rcu(&mmk->node);
		list_add(&mmk->gc_node, gc);
	}
}

static void mpklink_mms_free(struct list_head *gc)
{
	struct mpklink_mm *mmk, *tmp;

	list_for_each_entry_safe(mmk, tmp, gc, gc_node)
		mpklink_mm_free(mmk);
}

/* The record of the calling process's address space, with a reference. */
struct mpklink_mm *mpklink_mm_get_current(void)
{
	struct mm_struct *mm = current->mm;
	struct mpklink_mm *mmk, *new;
	LIST_HEAD(gc);

	if (!mm)
		return ERR_PTR(-EINVAL);
	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		return ERR_PTR(-ENOMEM);

	spin_lock(&mpklink_mms_lock);
	hash_for_each_possible(mpklink_mms, mmk, node, (unsigned long)mm) {
		/* Ours is live: mm_users is not 0. */
		if (mmk->mm == mm) {
			atomic_inc(&mmk->refs);
			spin_unlock(&mpklink_mms_lock);
			kfree(new);
			return mmk;
		}
	}
	/*
	 * Records outlive their members while the address space lives;
	 * those of address spaces gone since go now, so that there are
	 * never more of them than address spaces that attached since.
	 */
	mpklink_mms_sweep(&gc, false);
	new->mm = mm;
	mmgrab(mm);
	new->tgid = get_pid(task_tgid(current));
	atomic_set(&new->refs, 1);
	mutex_init(&new->lock);
	spin_lock_init(&new->key_lock);
	init_waitqueue_head(&new->key_wq);
	spin_lock_init(&new->works_lock);
	hash_init(new->works);
	hash_add_rcu(mpklink_mms, &new->node, (unsigned long)mm);
	spin_unlock(&mpklink_mms_lock);
	mpklink_mms_free(&gc);
	return new;
}

/* Another reference, for someone who holds one. */
void mpklink_mm_get(struct mpklink_mm *mmk)
{
	atomic_inc(&mmk->refs);
}

void mpklink_mm_put(struct mpklink_mm *mmk)
{
	if (!atomic_dec_and_lock(&mmk->refs, &mpklink_mms_lock))
		return;
	/* Its keys stay mpklink's while the address space lives. */
	if (atomic_read(&mmk->mm->mm_users)) {
		spin_unlock(&mpklink_mms_lock);
		return;
	}
	hash_del_rcu(&mmk->node);
	spin_unlock(&mpklink_mms_lock);
	mpklink_mm_free(mmk);
}

/* Module exit: nothing holds a record any more (no member, no work). */
void mpklink_mms_exit(void)
{
	LIST_HEAD(gc);

	spin_lock(&mpklink_mms_lock);
	mpklink_mms_sweep(&gc, true);
	spin_unlock(&mpklink_mms_lock);
	mpklink_mms_free(&gc);
}

static int mpklink_mm_key_share(struct mpklink_mm *mmk, int share)
{
	int ret = -EINVAL;

	spin_lock(&mmk->key_lock);
	/* Only a key in use, hence closed everywhere since it was taken. */
	if (share < MPKLINK_NR_PKEYS && mmk->key_users[share] &&
	    !(mmk->busy & BIT(share))) {
		mmk->key_users[share]++;
		ret = share;
	}
	spin_unlock(&mmk->key_lock);
	return ret;
}

/*
 * An idle key to reuse, marked busy, or -1.  Idle keys the process
 * pkey_free()d behind our back are forgotten.  Under mmap_lock.
 */
static int mpklink_mm_key_idle(struct mpklink_mm *mmk)
{
	int k, idle = -1;

	spin_lock(&mmk->key_lock);
	for (k = 0; k < MPKLINK_NR_PKEYS; k++) {
		if (!(mmk->keys & BIT(k)) || mmk->key_users[k] ||
		    mmk->busy & BIT(k))
			continue;
		if (!mm_pkey_is_allocated(mmk->mm, k))
			WRITE_ONCE(mmk->keys, mmk->keys & ~BIT(k));
		else if (idle < 0)
			idle = k;
	}
	if (idle >= 0)
		mmk->busy |= BIT(idle);
	spin_unlock(&mmk->key_lock);
	return idle;
}

/*
 * A key from the allocator, marked busy; or, if the allocator handed out a
 * key we hold in use (the process freed it behind our back), that key with
 * one user more, which needs no closing: returns it with *@in_use set.
 * Under mmap_lock.
 */
static int mpklink_mm_key_alloc(struct mpklink_mm *mmk, bool *in_use)
{
	int key;

	for (;;) {
		key = mm_pkey_alloc(mmk->mm);
		if (key < 0)
			return -ENOSPC;
		spin_lock(&mmk->key_lock);
		if (!(mmk->keys & BIT(key))) {
			WRITE_ONCE(mmk->keys, mmk->keys | BIT(key));
			mmk->busy |= BIT(key);
			break;
		}
		if (mmk->key_users[key] && !(mmk->busy & BIT(key))) {
			/* Members' mappings still carry it: one user more. */
			mmk->key_users[key]++;
			*in_use = true;
			break;
		}
		/*
		 * Ours, being closed, and freed behind our back: allocated
		 * again now, as it should be.  Each turn allocates one more
		 * key, so this ends.
		 */
		spin_unlock(&mmk->key_lock);
	}
	spin_unlock(&mmk->key_lock);
	return key;
}

/*
 * Takes a key for a new member: an idle one or a fresh one, closed in every
 * thread first, or (@share >= 0) one this address space uses for mpklink
 * already.  Returns the key, -1 without PKU, or a negative errno: ENOSPC
 * when no key is free, EINTR on a fatal signal, ENOMEM.
 */
int mpklink_mm_key_get(struct mpklink_mm *mmk, int share)
{
	struct mm_struct *mm = mmk->mm;
	bool in_use = false;
	int key, err;

	if (!mpklink_have_pku())
		return share >= 0 ? -EINVAL : -1;
	if (share >= 0)
		return mpklink_mm_key_share(mmk, share);

	if (mutex_lock_killable(&mmk->lock))
		return -EINTR;
	for (;;) {
		unsigned int closings;

		spin_lock(&mmk->key_lock);
		closings = mmk->closings;
		spin_unlock(&mmk->key_lock);
		if (mmap_write_lock_killable(mm)) {
			mutex_unlock(&mmk->lock);
			return -EINTR;
		}
		key = mpklink_mm_key_idle(mmk);
		if (key < 0)
			key = mpklink_mm_key_alloc(mmk, &in_use);
		mmap_write_unlock(mm);
		if (key != -ENOSPC)
			break;
		/*
		 * None free, but a key being closed (mpklink_mm_key_put(),
		 * in a departure or a revocation) is idle in a moment: wait
		 * for it, as the attach would have waited for the closer's
		 * lock.  Under mmk->lock every busy key is one being closed.
		 */
		if (wait_event_killable(mmk->key_wq,
					READ_ONCE(mmk->closings) != closings ||
					!READ_ONCE(mmk->busy))) {
			mutex_unlock(&mmk->lock);
			return -EINTR;
		}
		if (READ_ONCE(mmk->closings) == closings)
			break;
	}
	if (key < 0 || in_use) {
		mutex_unlock(&mmk->lock);
		return key;
	}

	/* New threads see the key before we look for existing ones. */
	smp_mb();
	err = mpklink_pkru_close_everywhere(mmk, BIT(key));
	spin_lock(&mmk->key_lock);
	/* On failure the key stays ours, idle, and is closed when reused. */
	if (!err)
		mmk->key_users[key] = 1;
	mmk->busy &= ~BIT(key);
	spin_unlock(&mmk->key_lock);
	mutex_unlock(&mmk->lock);
	return err ?: key;
}

/*
 * Drops a member's use of @pkey.  The last use closes it in every thread;
 * the key stays allocated, idle, for a later attach.  Busy while being
 * closed, so that nobody shares or reuses it meanwhile: a thread could open
 * it for the new channel, and this closing would then shut its window.
 * Sleeps only waiting (killably, briefly) for the threads' works.
 */
void mpklink_mm_key_put(struct mpklink_mm *mmk, int pkey)
{
	if (pkey < 0)
		return;
	spin_lock(&mmk->key_lock);
	if (WARN_ON_ONCE(!mmk->key_users[pkey]) || --mmk->key_users[pkey]) {
		spin_unlock(&mmk->key_lock);
		return;
	}
	mmk->busy |= BIT(pkey);
	spin_unlock(&mmk->key_lock);

	/* Without memory some thread may keep it open: reuse closes it. */
	if (mpklink_pkru_close_everywhere(mmk, BIT(pkey)))
		pr_warn_ratelimited("protection key %d left open in some threads until reused: out of memory\n",
				    pkey);
	spin_lock(&mmk->key_lock);
	mmk->busy &= ~BIT(pkey);
	mmk->closings++;
	spin_unlock(&mmk->key_lock);
	wake_up_all(&mmk->key_wq);
}
