// SPDX-License-Identifier: GPL-2.0
/*
 * Events and doorbells: how members learn that something happened without
 * spinning.
 *
 * Each member has a small queue of events about other members (joined,
 * left, revoked) and a doorbell counter that other members ring.  read()
 * of the channel fd returns them as struct mpklink_event records; poll()
 * reports POLLIN while any is pending, and POLLERR | POLLHUP once the
 * member itself is revoked; MPKLINK_CHAN_IOC_WAIT sleeps for them and takes
 * the rings in one call.  Rings are counted, not queued, so a busy
 * writer can ring as often as it likes without ever losing a wake-up or
 * filling the queue.
 */

#include <linux/fs.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

#include "mpklink.h"

void mpklink_events_init(struct mpklink_events *ev)
{
	init_waitqueue_head(&ev->wq);
	spin_lock_init(&ev->lock);
	mutex_init(&ev->read_lock);
	atomic64_set(&ev->rings, 0);
}

void mpklink_events_release(struct mpklink_events *ev)
{
	while (ev->count) {
		put_pid(ev->queue[ev->head].pid);
		ev->head = (ev->head + 1) % MPKLINK_EVENTS_MAX;
		ev->count--;
	}
}

static bool mpklink_events_pending(struct mpklink_events *ev)
{
	return READ_ONCE(ev->count) || READ_ONCE(ev->lost) ||
	       atomic64_read(&ev->rings);
}

static void mpklink_events_wake(struct mpklink_events *ev, __poll_t mask)
{
	wake_up_interruptible_poll(&ev->wq, mask);
}

/* Wakes everything waiting on a member that was just revoked. */
void mpklink_events_hangup(struct mpklink_events *ev)
{
	mpklink_events_wake(ev, EPOLLIN | EPOLLRDNORM | EPOLLERR | EPOLLHUP);
}

/* Queues an event about member @about (NULL: none) for member @to. */
void mpklink_event_post(struct mpklink_member *to, u32 type,
			const struct mpklink_member *about, u32 reason)
{
	struct mpklink_events *ev = &to->events;
	struct mpklink_event_k *e;

	spin_lock(&ev->lock);
	if (ev->count == MPKLINK_EVENTS_MAX) {
		ev->lost++;
		spin_unlock(&ev->lock);
		mpklink_events_wake(ev, EPOLLIN | EPOLLRDNORM);
		return;
	}
	e = &ev->queue[(ev->head + ev->count) % MPKLINK_EVENTS_MAX];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->reason = reason;
	if (about) {
		e->slot = about->slot;
		e->member_id = about->id;
		e->pid = get_pid(about->tgid);
		if (about == to)
			e->flags = MPKLINK_EVENT_SELF;
	}
	ev->count++;
	spin_unlock(&ev->lock);
	mpklink_events_wake(ev, EPOLLIN | EPOLLRDNORM);
}

/* Tells every other member of @ch about @about. */
void mpklink_channel_event(struct mpklink_channel *ch,
			   const struct mpklink_member *about, u32 type,
			   u32 reason)
{
	struct mpklink_member *m;

	lockdep_assert_held(&ch->lock);
	list_for_each_entry(m, &ch->members, node)
		if (m != about)
			mpklink_event_post(m, type, about, reason);
}

long mpklink_notify(struct mpklink_member *member,
		    struct mpklink_notify __user *uarg)
{
	struct mpklink_channel *ch = member->channel;
	struct mpklink_notify req;
	long rung = 0;
	u64 targets;
	u32 i;
	int err;

	err = mpklink_copy_arg(&req, sizeof(req), uarg);
	if (err)
		return err;
	if (req.flags || req.reserved[0] || req.reserved[1])
		return -EINVAL;
	if (ch->max_members < 64 && req.slots >> ch->max_members)
		return -EINVAL;
	targets = req.slots ?: ~BIT_ULL(member->slot);

	/* slots_rwsem keeps every member in a slot alive while we ring it. */
	down_read(&ch->slots_rwsem);
	if (member->revoked) {
		up_read(&ch->slots_rwsem);
		return -EKEYREVOKED;
	}
	for (i = 0; i < ch->max_members; i++) {
		struct mpklink_member *to = ch->slots[i].member;

		if (!(targets & BIT_ULL(i)) || !to || to->revoked)
			continue;
		atomic64_inc(&to->events.rings);
		mpklink_events_wake(&to->events, EPOLLIN | EPOLLRDNORM);
		rung++;
	}
	up_read(&ch->slots_rwsem);
	atomic64_add(rung, &ch->notifications);
	atomic64_add(rung, &mpklink_stats.notifications);
	return rung;
}

static bool mpklink_wait_over(struct mpklink_member *member)
{
	return mpklink_events_pending(&member->events) ||
	       READ_ONCE(member->revoked);
}

/*
 * Sleeps until something is pending, then takes the doorbell's rings and
 * says how many records wait for read(): what poll() and read() do, in one
 * system call, for a member that sleeps on every message.
 */
long mpklink_wait(struct mpklink_member *member,
		  struct mpklink_wait __user *uarg)
{
	struct mpklink_events *ev = &member->events;
	struct mpklink_wait req;
	long err = 0;
	u32 events;
	u64 rings;

	err = mpklink_copy_arg(&req, sizeof(req), uarg);
	if (err)
		return err;
	if (req.flags || req.rings || req.events || req.reserved0 ||
	    req.reserved[0] || req.reserved[1])
		return -EINVAL;
	if (!req.timeout_ns || mpklink_wait_over(member))
		err = 0;
	else if (req.timeout_ns >= KTIME_MAX)
		err = wait_event_interruptible(ev->wq,
					       mpklink_wait_over(member));
	else
		err = wait_event_interruptible_hrtimeout(ev->wq,
							 mpklink_wait_over(member),
							 ns_to_ktime(req.timeout_ns));
	/* Not restarted: the caller's timeout is relative. */
	if (err == -ERESTARTSYS)
		return -EINTR;
	if (err)
		return -ETIMEDOUT;
	if (READ_ONCE(member->revoked))
		return -EKEYREVOKED;

	/* read() takes rings under read_lock too: neither takes them twice. */
	if (mutex_lock_interruptible(&ev->read_lock))
		return -EINTR;
	rings = atomic64_xchg(&ev->rings, 0);
	spin_lock(&ev->lock);
	events = ev->count + (ev->lost ? 1 : 0);
	spin_unlock(&ev->lock);
	mutex_unlock(&ev->read_lock);
	if (!rings && !events)
		return -ETIMEDOUT;	/* another thread took them first */
	if (put_user(rings, &uarg->rings) || put_user(events, &uarg->events))
		return -EFAULT;
	return 0;
}

/*
 * The next record, without consuming it: lost events first, then queued
 * ones in order, then the doorbell.  Returns false when there is none.
 */
static bool mpklink_events_peek(struct mpklink_events *ev,
				struct mpklink_event *out, u64 *rings)
{
	struct mpklink_event_k *e;
	bool found = true;

	memset(out, 0, sizeof(*out));
	*rings = 0;
	spin_lock(&ev->lock);
	if (ev->lost) {
		out->type = MPKLINK_EVENT_OVERFLOW;
		out->count = ev->lost;
	} else if (ev->count) {
		e = &ev->queue[ev->head];
		out->type = e->type;
		out->slot = e->slot;
		out->member_id = e->member_id;
		out->reason = e->reason;
		out->flags = e->flags;
		out->pid = e->pid ? pid_vnr(e->pid) : 0;
	} else {
		*rings = atomic64_read(&ev->rings);
		out->type = MPKLINK_EVENT_DOORBELL;
		out->count = *rings;
		found = *rings != 0;
	}
	spin_unlock(&ev->lock);
	return found;
}

static void mpklink_events_consume(struct mpklink_events *ev,
				   const struct mpklink_event *rec, u64 rings)
{
	struct pid *pid = NULL;

	if (rec->type == MPKLINK_EVENT_DOORBELL) {
		/* Rings that arrived since the peek stay pending. */
		atomic64_sub(rings, &ev->rings);
		return;
	}
	spin_lock(&ev->lock);
	if (rec->type == MPKLINK_EVENT_OVERFLOW) {
		ev->lost -= rec->count;
	} else {
		pid = ev->queue[ev->head].pid;
		ev->head = (ev->head + 1) % MPKLINK_EVENTS_MAX;
		ev->count--;
	}
	spin_unlock(&ev->lock);
	put_pid(pid);
}

ssize_t mpklink_events_read(struct file *file, char __user *buf, size_t len,
			    loff_t *ppos)
{
	struct mpklink_member *member = file->private_data;
	struct mpklink_events *ev = &member->events;
	struct mpklink_event rec;
	ssize_t done = 0;
	u64 rings;
	int err;

	if (current->mm != mpklink_mm_struct(member->mmk))
		return -EACCES;
	if (len < sizeof(rec))
		return -EINVAL;

	if (mutex_lock_interruptible(&ev->read_lock))
		return -ERESTARTSYS;
	while (!mpklink_events_pending(ev)) {
		mutex_unlock(&ev->read_lock);
		if (READ_ONCE(member->revoked))
			return 0;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		err = wait_event_interruptible(ev->wq,
					       mpklink_events_pending(ev) ||
					       READ_ONCE(member->revoked));
		if (err)
			return err;
		if (mutex_lock_interruptible(&ev->read_lock))
			return -ERESTARTSYS;
	}
	/* Copy one record at a time: a record is consumed once copied. */
	while (len - done >= sizeof(rec) &&
	       mpklink_events_peek(ev, &rec, &rings)) {
		if (copy_to_user(buf + done, &rec, sizeof(rec))) {
			if (!done)
				done = -EFAULT;
			break;
		}
		mpklink_events_consume(ev, &rec, rings);
		done += sizeof(rec);
	}
	mutex_unlock(&ev->read_lock);
	return done;
}

__poll_t mpklink_events_poll(struct file *file, struct poll_table_struct *pt)
{
	struct mpklink_member *member = file->private_data;
	struct mpklink_events *ev = &member->events;
	__poll_t mask = 0;

	if (current->mm != mpklink_mm_struct(member->mmk))
		return EPOLLERR;
	poll_wait(file, &ev->wq, pt);
	if (mpklink_events_pending(ev))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (READ_ONCE(member->revoked))
		mask |= EPOLLERR | EPOLLHUP;
	return mask;
}
