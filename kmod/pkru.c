// SPDX-License-Identifier: GPL-2.0
/*
 * Protection keys of attached processes, and keeping every thread's PKRU
 * consistent with them.
 *
 * mpklink allocates a key in the attaching process's address space (so
 * pkey_alloc() will not hand it out) and tags the channel's mappings with
 * it.  PKRU is per thread, so a key is closed (access- and write-disabled)
 * in every thread of the process when mpklink takes it, and again before it
 * gives it back:
 *
 *  - the calling thread writes its own PKRU;
 *  - every other thread gets a task_work (TWA_SIGNAL, which also wakes it
 *    from an interruptible sleep) that writes its PKRU on its way back to
 *    user mode;
 *  - a synchronous IPI to the CPUs that run the address space then forces
 *    any thread running user code into the kernel: once it returns, every
 *    thread is certain to run the work before its next user instruction,
 *    whether it was running, sleeping or exiting;
 *  - threads created later copy their creator's PKRU (copy_thread()); the
 *    task_newtask tracepoint closes mpklink's keys in the new thread's saved
 *    PKRU before it first runs.
 *
 * x86 keeps a thread's PKRU in the register while it runs and in
 * thread.pkru while it is switched out; return to user mode never restores
 * it from the XSAVE buffer (XFEATURE_MASK_USER_RESTORE excludes PKRU), so
 * both writes stick.  Documentation/design.md, "PKRU consistency", has the
 * argument and the one gap (a signal frame saved before the change).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/hashtable.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/pkeys.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/task_work.h>
#include <linux/timekeeping.h>
#include <linux/tracepoint.h>
#include <asm/pkru.h>

#include "mpklink.h"

#if !IS_ENABLED(CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS)
#error "mpklink needs CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS"
#endif

#define MPKLINK_NR_PKEYS	16

struct mpklink_mm {
	struct hlist_node node;		/* in mpklink_mms, under the spinlock */
	struct mm_struct *mm;		/* mmgrab()ed */
	struct pid *tgid;		/* the process whose threads we update */
	refcount_t ref;			/* one per member */
	struct mutex lock;		/* keys and key_users */
	/* Keys held for mpklink; read locklessly by the tracepoint probe. */
	u16 keys;
	unsigned int key_users[MPKLINK_NR_PKEYS];
	struct rcu_head rcu;
};

static DEFINE_HASHTABLE(mpklink_mms, 6);
static DEFINE_SPINLOCK(mpklink_mms_lock);

static bool mpklink_have_pku(void)
{
	return cpu_feature_enabled(X86_FEATURE_OSPKE);
}

/* PKRU bits that close every key in @keys. */
static u32 mpklink_pkru_closed(u16 keys)
{
	u32 bits = 0;
	int k;

	for (k = 0; k < MPKLINK_NR_PKEYS; k++)
		if (keys & BIT(k))
			bits |= (PKRU_AD_BIT | PKRU_WD_BIT) << (k * PKRU_BITS_PER_PKEY);
	return bits;
}

/* --- closing keys in every thread --------------------------------------- */

struct mpklink_pkru_sync;

struct mpklink_pkru_work {
	struct callback_head cb;
	struct mpklink_pkru_sync *sync;
};

struct mpklink_pkru_sync {
	struct kref ref;		/* ours, and one per queued work */
	atomic_t pending;		/* works not yet run, plus our bias */
	struct completion done;
	u32 close_bits;
	unsigned int nr_works;
	struct mpklink_pkru_work works[];
};

static void mpklink_pkru_sync_free(struct kref *ref)
{
	kvfree(container_of(ref, struct mpklink_pkru_sync, ref));
}

static void mpklink_pkru_close_current(u32 close_bits)
{
	/* Nothing else writes this thread's PKRU while it is in the kernel. */
	write_pkru(read_pkru() | close_bits);
}

static void mpklink_pkru_work_fn(struct callback_head *cb)
{
	struct mpklink_pkru_work *w = container_of(cb, struct mpklink_pkru_work,
						   cb);
	struct mpklink_pkru_sync *sync = w->sync;

	mpklink_pkru_close_current(sync->close_bits);
	if (atomic_dec_and_test(&sync->pending))
		complete(&sync->done);
	kref_put(&sync->ref, mpklink_pkru_sync_free);
	/* Queued works hold the module: this is the last module code run. */
	module_put(THIS_MODULE);
}

static void mpklink_pkru_ipi(void *unused)
{
}

/* For /sys/kernel/debug/mpklink/stats: how long closing keys takes. */
static void mpklink_pkru_account(u64 start_ns, unsigned int threads)
{
	u64 ns = ktime_get_ns() - start_ns;
	s64 max = atomic64_read(&mpklink_stats.pkru_sync_max_ns);

	atomic64_inc(&mpklink_stats.pkru_syncs);
	atomic64_set(&mpklink_stats.pkru_sync_last_ns, ns);
	atomic_set(&mpklink_stats.pkru_sync_last_threads, threads);
	while (ns > max && !atomic64_try_cmpxchg(&mpklink_stats.pkru_sync_max_ns,
						 &max, ns))
		;
}

/*
 * Closes @keys in every thread of @mmk's process.  Returns once every
 * thread either has them closed or cannot run user code before closing
 * them; waits a little for the stragglers (a thread in an uninterruptible
 * sleep may take longer, and needs no waiting for).  Fails only with
 * ENOMEM, before changing anything but the calling thread.
 */
static int mpklink_pkru_close_everywhere(struct mpklink_mm *mmk, u16 keys)
{
	u32 close_bits = mpklink_pkru_closed(keys);
	struct mpklink_pkru_sync *sync;
	struct task_struct *leader, *t;
	unsigned int room, i = 0;
	u64 start_ns = ktime_get_ns();

	if (!keys || !mpklink_have_pku())
		return 0;
	if (current->mm == mmk->mm)
		mpklink_pkru_close_current(close_bits);

	leader = get_pid_task(mmk->tgid, PIDTYPE_TGID);
	if (!leader)
		return 0;	/* the process is gone */

	/*
	 * Threads created after this count see the new keys through the
	 * tracepoint (the caller published them first), so room for the
	 * threads counted now is enough.
	 */
	room = get_nr_threads(leader);
	sync = kvzalloc(struct_size(sync, works, room), GFP_KERNEL);
	if (!sync) {
		put_task_struct(leader);
		return -ENOMEM;
	}
	kref_init(&sync->ref);
	atomic_set(&sync->pending, 1);
	init_completion(&sync->done);
	sync->close_bits = close_bits;

	rcu_read_lock();
	for_each_thread(leader, t) {
		struct mpklink_pkru_work *w;

		if (i == room)
			break;
		if (t == current || t->mm != mmk->mm ||
		    t->flags & (PF_KTHREAD | PF_IO_WORKER))
			continue;
		w = &sync->works[i++];
		w->sync = sync;
		init_task_work(&w->cb, mpklink_pkru_work_fn);
		atomic_inc(&sync->pending);
		kref_get(&sync->ref);
		__module_get(THIS_MODULE);
		if (task_work_add(t, &w->cb, TWA_SIGNAL)) {
			/* Past exit_task_work(): it runs no more user code. */
			atomic_dec(&sync->pending);
			kref_put(&sync->ref, mpklink_pkru_sync_free);
			module_put(THIS_MODULE);
		}
	}
	rcu_read_unlock();
	put_task_struct(leader);
	sync->nr_works = i;

	/*
	 * task_work_add() kicked running threads asynchronously.  Wait until
	 * every CPU that runs this address space took an interrupt: a thread
	 * that was in user mode there is now in the kernel with the work
	 * pending.
	 */
	on_each_cpu_mask(mm_cpumask(mmk->mm), mpklink_pkru_ipi, NULL, true);

	if (!atomic_dec_and_test(&sync->pending))
		wait_for_completion_timeout(&sync->done, HZ / 10);
	kref_put(&sync->ref, mpklink_pkru_sync_free);
	mpklink_pkru_account(start_ns, i + (current->mm == mmk->mm));
	return 0;
}

/* --- threads created later ---------------------------------------------- */

static struct mpklink_mm *mpklink_mm_find_rcu(struct mm_struct *mm)
{
	struct mpklink_mm *mmk;

	hash_for_each_possible_rcu(mpklink_mms, mmk, node, (unsigned long)mm)
		if (mmk->mm == mm)
			return mmk;
	return NULL;
}

/*
 * task_newtask fires in copy_process() after copy_thread() copied the
 * creator's PKRU to p->thread.pkru, after p joined its thread group, and
 * before p first runs.
 */
static void mpklink_newtask_probe(void *data, struct task_struct *p,
				  unsigned long clone_flags)
{
	struct mpklink_mm *mmk;
	u16 keys = 0;

	if (!(clone_flags & CLONE_VM) || !p->mm || p->flags & PF_KTHREAD)
		return;
	/* Pairs with the barrier between publishing keys and walking threads. */
	smp_mb();
	rcu_read_lock();
	mmk = mpklink_mm_find_rcu(p->mm);
	if (mmk)
		keys = READ_ONCE(mmk->keys);
	rcu_read_unlock();
	if (keys)
		p->thread.pkru |= mpklink_pkru_closed(keys);
}

static struct tracepoint *mpklink_newtask_tp;

static void mpklink_find_newtask(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "task_newtask"))
		mpklink_newtask_tp = tp;
}

/* --- per address space -------------------------------------------------- */

struct mm_struct *mpklink_mm_struct(const struct mpklink_mm *mmk)
{
	return mmk->mm;
}

/* The record of the calling process's address space, with a reference. */
struct mpklink_mm *mpklink_mm_get_current(void)
{
	struct mm_struct *mm = current->mm;
	struct mpklink_mm *mmk, *new;

	if (!mm)
		return ERR_PTR(-EINVAL);
	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		return ERR_PTR(-ENOMEM);

	spin_lock(&mpklink_mms_lock);
	hash_for_each_possible(mpklink_mms, mmk, node, (unsigned long)mm) {
		if (mmk->mm == mm && refcount_inc_not_zero(&mmk->ref)) {
			spin_unlock(&mpklink_mms_lock);
			kfree(new);
			return mmk;
		}
	}
	new->mm = mm;
	mmgrab(mm);
	new->tgid = get_pid(task_tgid(current));
	refcount_set(&new->ref, 1);
	mutex_init(&new->lock);
	hash_add_rcu(mpklink_mms, &new->node, (unsigned long)mm);
	spin_unlock(&mpklink_mms_lock);
	return new;
}

static void mpklink_mm_free_rcu(struct rcu_head *rcu)
{
	kfree(container_of(rcu, struct mpklink_mm, rcu));
}

void mpklink_mm_put(struct mpklink_mm *mmk)
{
	/* Lookups take references with refcount_inc_not_zero(). */
	if (!refcount_dec_and_test(&mmk->ref))
		return;
	spin_lock(&mpklink_mms_lock);
	hash_del_rcu(&mmk->node);
	spin_unlock(&mpklink_mms_lock);
	WARN_ON_ONCE(mmk->keys);
	put_pid(mmk->tgid);
	mmdrop(mmk->mm);
	call_rcu(&mmk->rcu, mpklink_mm_free_rcu);
}

/*
 * Takes a key for a new member: a fresh one, closed in every thread, or
 * (@share >= 0) one this address space already holds for mpklink.  Returns
 * the key, -1 without PKU, or a negative errno: ENOSPC when no key is free.
 */
int mpklink_mm_key_get(struct mpklink_mm *mmk, int share)
{
	struct mm_struct *mm = mmk->mm;
	int key, err;

	if (!mpklink_have_pku())
		return share >= 0 ? -EINVAL : -1;

	mutex_lock(&mmk->lock);
	if (share >= 0) {
		if (share >= MPKLINK_NR_PKEYS || !(mmk->keys & BIT(share))) {
			mutex_unlock(&mmk->lock);
			return -EINVAL;
		}
		mmk->key_users[share]++;
		mutex_unlock(&mmk->lock);
		return share;
	}

	if (mmap_write_lock_killable(mm)) {
		mutex_unlock(&mmk->lock);
		return -EINTR;
	}
	key = mm_pkey_alloc(mm);
	mmap_write_unlock(mm);
	if (key < 0) {
		mutex_unlock(&mmk->lock);
		return -ENOSPC;
	}
	/*
	 * The allocator hands out a key we hold only if the process
	 * pkey_free()d it behind our back.  Members' mappings still carry it:
	 * it is ours again, with one user more, not a new key.
	 */
	if (mmk->keys & BIT(key)) {
		mmk->key_users[key]++;
		mutex_unlock(&mmk->lock);
		return key;
	}
	mmk->key_users[key] = 1;
	WRITE_ONCE(mmk->keys, mmk->keys | BIT(key));
	/* New threads see the key before we look for existing ones. */
	smp_mb();
	err = mpklink_pkru_close_everywhere(mmk, BIT(key));
	if (err) {
		/* Nothing is tagged with it yet: hand it straight back. */
		mmk->key_users[key] = 0;
		WRITE_ONCE(mmk->keys, mmk->keys & ~BIT(key));
		mmap_write_lock(mm);
		mm_pkey_free(mm, key);
		mmap_write_unlock(mm);
		key = err;
	}
	mutex_unlock(&mmk->lock);
	return key;
}

/*
 * Drops a member's use of @pkey.  The last use closes it in every thread
 * and only then hands it back to the address space, so that a later
 * pkey_alloc() of the same number carries no stale grant into any thread.
 */
void mpklink_mm_key_put(struct mpklink_mm *mmk, int pkey)
{
	struct mm_struct *mm = mmk->mm;

	if (pkey < 0)
		return;
	mutex_lock(&mmk->lock);
	if (WARN_ON_ONCE(!mmk->key_users[pkey]) || --mmk->key_users[pkey]) {
		mutex_unlock(&mmk->lock);
		return;
	}
	/*
	 * A key that could not be closed everywhere stays allocated: losing
	 * it until exit is better than handing it back still open.
	 */
	if (mpklink_pkru_close_everywhere(mmk, BIT(pkey))) {
		pr_warn_ratelimited("kept protection key %d: out of memory\n",
				    pkey);
	} else if (mmget_not_zero(mm)) {
		mmap_write_lock(mm);
		mm_pkey_free(mm, pkey);
		mmap_write_unlock(mm);
		mmput(mm);
	}
	WRITE_ONCE(mmk->keys, mmk->keys & ~BIT(pkey));
	mutex_unlock(&mmk->lock);
}

int mpklink_pkru_init(void)
{
	int err;

	for_each_kernel_tracepoint(mpklink_find_newtask, NULL);
	if (!mpklink_newtask_tp) {
		pr_err("no task_newtask tracepoint: cannot follow new threads\n");
		return -ENOENT;
	}
	err = tracepoint_probe_register(mpklink_newtask_tp,
					mpklink_newtask_probe, NULL);
	if (err)
		pr_err("cannot register the task_newtask probe: %d\n", err);
	return err;
}

void mpklink_pkru_exit(void)
{
	tracepoint_probe_unregister(mpklink_newtask_tp, mpklink_newtask_probe,
				    NULL);
	tracepoint_synchronize_unregister();
	/* call_rcu()s of mpklink_mm_put() must finish before the module goes. */
	rcu_barrier();
}
