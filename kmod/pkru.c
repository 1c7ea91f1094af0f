// SPDX-License-Identifier: GPL-2.0
/*
 * Keeping every thread's PKRU consistent with the keys mpklink holds.
 *
 * PKRU is per thread, so a key is closed (access- and write-disabled) in
 * every thread of the process when mpklink takes it for a channel, and
 * again when its last member goes:
 *
 *  - the calling thread writes its own PKRU;
 *  - every other thread of the group, io_uring's io-wq and SQPOLL threads
 *    included (they access user memory with their own PKRU), gets a
 *    task_work (TWA_SIGNAL, which also wakes it from an interruptible
 *    sleep) that writes its PKRU on its way back to user mode, or, for an
 *    io_uring thread, before its next request (io_run_task_work(),
 *    get_signal());
 *  - a synchronous IPI to the CPUs that run the address space then forces
 *    any thread running user code into the kernel: once it returns, every
 *    thread is certain to run the work before its next user instruction,
 *    whether it was running, sleeping or exiting;
 *  - threads created later copy their creator's PKRU (copy_thread()); the
 *    task_newtask tracepoint closes mpklink's keys in the new thread's saved
 *    PKRU before it first runs.
 *
 * A thread has at most one work pending.  One that does not run it soon
 * (the parent of a vfork() child waits killably, which TWA_SIGNAL does not
 * interrupt, until the child execs or exits) has later closings added to
 * the same work: it closes every key queued for it since it was queued.
 * Those are keys being taken or handed back, never a key in use that the
 * thread could have opened: it has run no user code since.
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
#include <linux/llist.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/rcupdate_wait.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/task_work.h>
#include <linux/timekeeping.h>
#include <linux/tracepoint.h>
#include <linux/workqueue.h>
#include <asm/pkru.h>

#include "mpklink.h"

#if !IS_ENABLED(CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS)
#error "mpklink needs CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS"
#endif

bool mpklink_have_pku(void)
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

/* What a closing waits for: the works it queued. */
struct mpklink_pkru_wait {
	atomic_t pending;		/* works not yet run, plus our bias */
	struct completion done;
};

/*
 * A thread's pending work.  Lifetime, and why the module stays: queued
 * with a reference on the module; mpklink_pkru_work_fn() runs in the thread,
 * then queues @ran (whose function, wakeme_after_rcu(), is in the kernel's
 * text) behind itself on the same thread, and hands the record to the
 * reaper.  task_work_run() calls works one after the other, so when @ran's
 * completion fires mpklink_pkru_work_fn() has returned; only then does the
 * reaper free the record and drop the module reference.  The reaper is
 * module code that runs after that, but mpklink_pkru_exit() waits for it.
 * (task_work_cancel() is not exported, so works cannot be taken back at
 * unload; instead the module cannot unload while one is pending.)
 */
struct mpklink_pkru_work {
	struct callback_head cb;
	struct rcu_synchronize ran;
	struct hlist_node node;		/* in mmk->works while pending */
	struct llist_node reap;		/* then on mpklink_pkru_reap_list */
	struct task_struct *task;	/* while pending: no reference needed */
	struct mpklink_mm *mmk;		/* holds a reference */
	struct mpklink_pkru_wait *wait;	/* who waits for it, or NULL */
	u16 keys;			/* every key queued since it was */
};

static LLIST_HEAD(mpklink_pkru_reap_list);
static void mpklink_pkru_reap(struct work_struct *unused);
static DECLARE_DELAYED_WORK(mpklink_pkru_reap_work, mpklink_pkru_reap);

static void mpklink_pkru_close_current(u32 close_bits)
{
	/* Nothing else writes this thread's PKRU while it is in the kernel. */
	write_pkru(read_pkru() | close_bits);
}

static void mpklink_pkru_work_free(struct mpklink_pkru_work *w)
{
	kfree(w);
	atomic_dec(&mpklink_stats.pkru_works);
}

/* Runs in the thread, on its way to user mode (or its next io request). */
static void mpklink_pkru_work_fn(struct callback_head *cb)
{
	struct mpklink_pkru_work *w = container_of(cb, struct mpklink_pkru_work,
						   cb);
	struct mpklink_mm *mmk = w->mmk;
	u16 keys;

	/* From here on, closings queue another work. */
	spin_lock(&mmk->works_lock);
	hash_del(&w->node);
	keys = w->keys;
	/* Under the lock: the waiter stops waiting under it (unwait). */
	if (w->wait && atomic_dec_and_test(&w->wait->pending))
		complete(&w->wait->done);
	spin_unlock(&mmk->works_lock);
	mpklink_pkru_close_current(mpklink_pkru_closed(keys));

	init_completion(&w->ran.completion);
	init_task_work(&w->ran.head, wakeme_after_rcu);
	/*
	 * Cannot fail: task_work_run() marks the list exited only once it
	 * is empty, and we run from it.  If it did, the record and the
	 * module reference leak, which is safe.
	 */
	if (WARN_ON_ONCE(task_work_add(current, &w->ran.head, TWA_NONE)))
		return;
	llist_add(&w->reap, &mpklink_pkru_reap_list);
	mod_delayed_work(system_wq, &mpklink_pkru_reap_work, 0);
}

static void mpklink_pkru_reap(struct work_struct *unused)
{
	struct llist_node *list = llist_del_all(&mpklink_pkru_reap_list);
	struct mpklink_pkru_work *w, *tmp;
	bool again = false;

	llist_for_each_entry_safe(w, tmp, list, reap) {
		/* Not yet returned: rare, and not worth sleeping for. */
		if (!try_wait_for_completion(&w->ran.completion)) {
			llist_add(&w->reap, &mpklink_pkru_reap_list);
			again = true;
			continue;
		}
		spin_lock(&w->mmk->works_lock);
		w->mmk->nr_works--;
		spin_unlock(&w->mmk->works_lock);
		mpklink_mm_put(w->mmk);
		mpklink_pkru_work_free(w);
		module_put(THIS_MODULE);
	}
	if (again)
		mod_delayed_work(system_wq, &mpklink_pkru_reap_work, 1);
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

static bool mpklink_pkru_wants_work(const struct mpklink_mm *mmk,
				    const struct task_struct *t)
{
	/* Kernel threads never use this PKRU; io_uring's threads do. */
	return t != current && READ_ONCE(t->mm) == mmk->mm &&
	       !(t->flags & PF_KTHREAD);
}

static struct mpklink_pkru_work *
mpklink_pkru_work_find(struct mpklink_mm *mmk, const struct task_struct *t)
{
	struct mpklink_pkru_work *w;

	hash_for_each_possible(mmk->works, w, node, (unsigned long)t)
		if (w->task == t)
			return w;
	return NULL;
}

/* Queues @w, taken from the spares, for @t; under works_lock. */
static void mpklink_pkru_work_queue(struct mpklink_mm *mmk,
				    struct mpklink_pkru_work *w,
				    struct task_struct *t, u16 keys,
				    struct mpklink_pkru_wait *wait)
{
	w->task = t;
	w->mmk = mmk;
	w->keys = keys;
	w->wait = wait;
	init_task_work(&w->cb, mpklink_pkru_work_fn);
	hash_add(mmk->works, &w->node, (unsigned long)t);
	mmk->nr_works++;
	atomic_inc(&wait->pending);
	mpklink_mm_get(mmk);
	__module_get(THIS_MODULE);
}

/* Takes back a work task_work_add() refused; under works_lock. */
static void mpklink_pkru_work_unqueue(struct mpklink_mm *mmk,
				      struct mpklink_pkru_work *w)
{
	hash_del(&w->node);
	mmk->nr_works--;
	atomic_dec(&w->wait->pending);
	/* The caller holds a reference and the module: neither goes. */
	atomic_dec(&mmk->refs);
	module_put(THIS_MODULE);
}

/*
 * One pass over the threads: adds @keys to pending works, queues works
 * from @spare for the others.  Returns how many threads had no spare.
 */
static unsigned int mpklink_pkru_walk(struct mpklink_mm *mmk,
				      struct task_struct *leader, u16 keys,
				      struct mpklink_pkru_wait *wait,
				      struct llist_head *spare,
				      unsigned int *threads, int *err)
{
	struct mpklink_pkru_work *w;
	struct task_struct *t;
	unsigned int missing = 0;

	*threads = 0;
	rcu_read_lock();
	for_each_thread(leader, t) {
		if (!mpklink_pkru_wants_work(mmk, t))
			continue;
		(*threads)++;
		spin_lock(&mmk->works_lock);
		w = mpklink_pkru_work_find(mmk, t);
		if (w) {
			w->keys |= keys;
			spin_unlock(&mmk->works_lock);
			continue;
		}
		if (llist_empty(spare)) {
			spin_unlock(&mmk->works_lock);
			missing++;
			continue;
		}
		if (mmk->nr_works >= mpklink_max_pkru_works) {
			spin_unlock(&mmk->works_lock);
			*err = -ENOMEM;
			break;
		}
		w = llist_entry(llist_del_first(spare), struct mpklink_pkru_work,
				reap);
		mpklink_pkru_work_queue(mmk, w, t, keys, wait);
		spin_unlock(&mmk->works_lock);
		if (task_work_add(t, &w->cb, TWA_SIGNAL)) {
			/* Past exit_task_work(): it runs no more user code. */
			spin_lock(&mmk->works_lock);
			mpklink_pkru_work_unqueue(mmk, w);
			spin_unlock(&mmk->works_lock);
			llist_add(&w->reap, spare);
		}
	}
	rcu_read_unlock();
	return missing;
}

/* Queues @keys for every other thread; allocates works as needed. */
static int mpklink_pkru_queue(struct mpklink_mm *mmk,
			      struct task_struct *leader, u16 keys,
			      struct mpklink_pkru_wait *wait,
			      unsigned int *threads)
{
	struct mpklink_pkru_work *w, *tmp;
	unsigned int missing = 0, n;
	LLIST_HEAD(spare);
	int err = 0, pass;

	/*
	 * Works cannot be allocated under RCU: a pass counts the threads
	 * that need one, they are allocated, and another pass queues them.
	 * Threads created meanwhile need none (the task_newtask probe) but
	 * get one; a few passes are enough.
	 */
	for (pass = 0; pass < 8; pass++) {
		missing = mpklink_pkru_walk(mmk, leader, keys, wait, &spare,
					    threads, &err);
		if (!missing || err)
			break;
		for (n = 0; n < missing + missing / 8; n++) {
			w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
			if (!w) {
				err = -ENOMEM;
				goto out;
			}
			atomic_inc(&mpklink_stats.pkru_works);
			llist_add(&w->reap, &spare);
		}
	}
	/* Threads kept appearing: as if out of memory, attach's documented error. */
	if (!err && missing)
		err = -ENOMEM;
out:
	llist_for_each_entry_safe(w, tmp, llist_del_all(&spare), reap)
		mpklink_pkru_work_free(w);
	return err;
}

/* Stops waiting: works still pending no longer point at @wait. */
static void mpklink_pkru_unwait(struct mpklink_mm *mmk,
				struct mpklink_pkru_wait *wait)
{
	struct mpklink_pkru_work *w;
	int bkt;

	spin_lock(&mmk->works_lock);
	if (atomic_read(&wait->pending))
		hash_for_each(mmk->works, bkt, w, node)
			if (w->wait == wait)
				w->wait = NULL;
	spin_unlock(&mmk->works_lock);
}

/*
 * Closes @keys in every thread of @mmk's process.  Returns once every
 * thread either has them closed or cannot run user code before closing
 * them; waits a little for the threads it queued works for (one in an
 * uninterruptible or killable sleep may take longer, and needs no waiting
 * for).  Threads whose work was pending already are not waited for: that
 * work closes @keys too.  Fails with ENOMEM (out of memory, over the
 * max_pkru_works cap, or threads created faster than works are allocated),
 * having closed @keys in some threads.  Takes no lock of
 * the process's: an administrator's revocation calls this.
 */
int mpklink_pkru_close_everywhere(struct mpklink_mm *mmk, u16 keys)
{
	u32 close_bits = mpklink_pkru_closed(keys);
	struct mem_cgroup *memcg, *old_memcg;
	struct mpklink_pkru_wait wait;
	struct task_struct *leader;
	u64 start_ns = ktime_get_ns();
	unsigned int threads = 0;
	int err;

	if (!keys || !mpklink_have_pku())
		return 0;
	if (current->mm == mmk->mm)
		mpklink_pkru_close_current(close_bits);

	leader = get_pid_task(mmk->tgid, PIDTYPE_TGID);
	if (!leader)
		return 0;	/* the process is gone */

	atomic_set(&wait.pending, 1);
	init_completion(&wait.done);
	/* The works are the process's cost, whoever closes the key. */
	memcg = get_mem_cgroup_from_mm(mmk->mm);
	old_memcg = set_active_memcg(memcg);
	err = mpklink_pkru_queue(mmk, leader, keys, &wait, &threads);
	set_active_memcg(old_memcg);
	mem_cgroup_put(memcg);
	put_task_struct(leader);

	/*
	 * task_work_add() kicked running threads asynchronously.  Wait until
	 * every CPU that runs this address space took an interrupt: a thread
	 * that was in user mode there is now in the kernel with the work
	 * pending.
	 */
	on_each_cpu_mask(mm_cpumask(mmk->mm), mpklink_pkru_ipi, NULL, true);

	if (!atomic_dec_and_test(&wait.pending))
		wait_for_completion_killable_timeout(&wait.done, HZ / 10);
	mpklink_pkru_unwait(mmk, &wait);
	mpklink_pkru_account(start_ns, threads + (current->mm == mmk->mm));
	return err;
}

/* --- threads created later ---------------------------------------------- */

/*
 * task_newtask fires in copy_process() after copy_thread() copied the
 * creator's PKRU to p->thread.pkru, after p joined its thread group, and
 * before p first runs.
 */
static void mpklink_newtask_probe(void *data, struct task_struct *p,
				  unsigned long clone_flags)
{
	u16 keys;

	if (!(clone_flags & CLONE_VM) || !p->mm || p->flags & PF_KTHREAD)
		return;
	/* Pairs with the barrier between publishing keys and walking threads. */
	smp_mb();
	rcu_read_lock();
	keys = mpklink_mm_keys_rcu(p->mm);
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
	/*
	 * No work is pending (each holds the module), but the reaper may
	 * still be returning from dropping the last one.
	 */
	cancel_delayed_work_sync(&mpklink_pkru_reap_work);
	mpklink_mms_exit();
	/* call_rcu()s of mpklink_mm_put() must finish before the module goes. */
	rcu_barrier();
}
