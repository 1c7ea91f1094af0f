// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Waking and waiting.
 *
 * Waiting costs no system call while both sides keep up: a waiter spins,
 * then says in its control page that it is about to sleep, checks once
 * more, and sleeps on its fd; the other side, after publishing or
 * consuming, looks at that word and rings only the members that said so.
 * (The flag is written before the re-check and read after the publish,
 * each followed by a full fence, so one of the two always sees the other.)
 *
 * Several threads of one endpoint may wait at once (a sender for room, a
 * receiver, callers for their responses).  Draining the fd's readiness in
 * one of them must not leave another asleep on a wake-up it never saw, so
 * one thread at a time polls the fd and drains it (the sleeper); the
 * others wait for it to say that it woke (followers), and every waiter
 * notes the count of wake-ups before its last look, so a wake-up that
 * comes between that look and its sleep is never slept through.  When the
 * application sleeps on mpkshm_fd() itself (mpkshm_wait_prepare() said
 * so), the fd's readiness is left to it: threads in the library then look
 * every millisecond instead.
 */
#include <errno.h>
#include <poll.h>
#include <time.h>

#include "core.h"

/* While the application owns the fd's readiness, how often to look. */
#define SHARED_FD_LOOK_NS	1000000u
/* While a writer cannot ring us yet (memfd, joining), how often to look. */
#define UNSEEN_LOOK_NS		1000000u

void mpkshm_wake(struct mpkshm_channel *ch, uint64_t candidates,
		 uint32_t what)
{
	uint64_t slots = 0, left = candidates;

	/* Pairs with the fence after a waiter sets its flag. */
	atomic_thread_fence(memory_order_seq_cst);
	/* The candidates only: mostly one, of up to 64 members. */
	for (; left; left &= left - 1) {
		unsigned int i = (unsigned int)__builtin_ctzll(left);
		const struct mpkshm_peer *p = &ch->peers[i];

		if (i >= ch->max_members || !mpkshm_peer_id(ch, i))
			continue;
		/*
		 * A member whose pages we have not mapped yet (memfd) may be
		 * asleep on what we just did: map it now, or ring it blind.
		 */
		if (!__atomic_load_n(&p->seg, __ATOMIC_ACQUIRE) &&
		    ch->ops->peer_views && ch->ops->peer_views(ch, i)) {
			slots |= 1ull << i;
			continue;
		}
		if (atomic_load_explicit(&p->ctrl->waiting,
					 memory_order_relaxed) & what)
			slots |= 1ull << i;
	}
	if (slots)
		ch->ops->notify(ch, slots);
}

/*
 * Our control page's waiting word, from how many of our threads sleep for
 * each thing (and whether the application armed mpkshm_fd() for data):
 * one thread waking must not clear the bit another still sleeps on.
 */
static void waiting_add(struct mpkshm_channel *ch, uint32_t what, int delta)
{
	uint32_t word = 0;
	unsigned int i;

	pthread_mutex_lock(&ch->sleep_lock);
	for (i = 0; i < 2; i++) {
		if (what & (1u << i))
			ch->waiters[i] += delta;
		if (ch->waiters[i])
			word |= 1u << i;
	}
	/* Callers mostly have the key open already: then no WRPKRU. */
	mpkshm_window_open(ch->pkey, true);
	atomic_store(&ch->own_ctrl->waiting, word);
	mpkshm_window_close(ch->pkey, true);
	pthread_mutex_unlock(&ch->sleep_lock);
}

/* The application says it sleeps on mpkshm_fd() for @what. */
static void arm_app(struct mpkshm_channel *ch, unsigned int what)
{
	waiting_add(ch, what, 1);
	atomic_fetch_or(&ch->app_armed, what);
	atomic_thread_fence(memory_order_seq_cst);
}

static void unarm_app(struct mpkshm_channel *ch, unsigned int what)
{
	if (atomic_load_explicit(&ch->app_armed, memory_order_relaxed) & what &&
	    atomic_fetch_and(&ch->app_armed, ~what) & what)
		waiting_add(ch, what, -1);
}

void mpkshm_unarm(struct mpkshm_channel *ch)
{
	unarm_app(ch, MPKSHM_WAIT_DATA);
}

void mpkshm_unarm_space(struct mpkshm_channel *ch)
{
	unarm_app(ch, MPKSHM_WAIT_SPACE);
}

static struct timespec abs_time(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000u),
				  .tv_nsec = (long)(ns % 1000000000u) };
}

/*
 * Sleeps until the endpoint's fd polls readable, a wake-up after @epoch,
 * or @deadline.  Returns 0, or the error draining the fd reported.
 */
static int sleep_on_fd(struct mpkshm_channel *ch, uint64_t epoch,
		       uint64_t deadline)
{
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
	struct timespec ts;
	int err = 0, ret;

	pthread_mutex_lock(&ch->sleep_lock);
	if (atomic_load(&ch->wake_epoch) != epoch) {
		pthread_mutex_unlock(&ch->sleep_lock);
		return 0;
	}
	if (!ch->sleeper && !atomic_load(&ch->app_armed)) {
		ch->sleeper = true;
		pthread_mutex_unlock(&ch->sleep_lock);
		/* One system call where the backend can sleep and drain in it. */
		err = ch->ops->sleep ? ch->ops->sleep(ch, deadline) : -ENOSYS;
		if (err == -ENOSYS) {
			err = 0;
			ret = poll(&pfd, 1, mpkshm_ms_until(deadline));	/* EINTR: look again */
		} else {
			ret = 0;	/* drained already */
			if (err > 0 && atomic_load(&ch->app_armed))
				/* The application armed the fd meanwhile:
				 * give it back the readiness we took. */
				ch->ops->notify(ch, 1ull << ch->slot);
			err = err < 0 ? err : 0;
		}
		pthread_mutex_lock(&ch->sleep_lock);
		ch->sleeper = false;
		if (ret > 0 && ch->ops->drain && !atomic_load(&ch->app_armed))
			err = ch->ops->drain(ch);
		atomic_fetch_add(&ch->wake_epoch, 1);
		if (ch->followers)
			pthread_cond_broadcast(&ch->sleep_cond);
		pthread_mutex_unlock(&ch->sleep_lock);
		return err;
	}
	if (atomic_load(&ch->app_armed))
		deadline = mpkshm_min(deadline,
				      mpkshm_now_ns() + SHARED_FD_LOOK_NS);
	ts = abs_time(deadline);
	ch->followers++;
	while (atomic_load(&ch->wake_epoch) == epoch &&
	       mpkshm_now_ns() < deadline) {
		if (deadline == UINT64_MAX)
			pthread_cond_wait(&ch->sleep_cond, &ch->sleep_lock);
		else
			pthread_cond_timedwait(&ch->sleep_cond, &ch->sleep_lock,
					       &ts);
	}
	ch->followers--;
	pthread_mutex_unlock(&ch->sleep_lock);
	return 0;
}

/*
 * Whether every writer can see us sleep and ring us, and we can see it:
 * on the memfd backend each learns of the other from the broker, late.
 */
static bool writers_see_us(struct mpkshm_channel *ch)
{
	uint64_t me = 1ull << ch->slot;
	unsigned int i;

	for (i = 0; i < ch->max_members; i++) {
		const struct mpkshm_peer *p = &ch->peers[i];

		if (i == ch->slot || !mpkshm_peer_id(ch, i) ||
		    !(__atomic_load_n(&p->rights, __ATOMIC_RELAXED) &
		      MPKSHM_RIGHT_WRITE))
			continue;
		if (!__atomic_load_n(&p->seg, __ATOMIC_ACQUIRE) ||
		    !(atomic_load_explicit(&p->ctrl->mapped,
					   memory_order_relaxed) & me))
			return false;
	}
	return true;
}

/*
 * What a waiter for data watches between full looks: the directory's
 * sequence count and the heads of the writers' rings, a load each, where
 * a look costs a few hundred instructions that delay the message's
 * detection (25 ns of a 64 B round trip).  Heads only grow, so the sum
 * moves when any does; a writer that moves its head back and forth may
 * hide a change, but only for QUIET_SPINS, after which we look anyway.
 */
#define QUIET_SPINS	64

static uint64_t watched_sum(struct mpkshm_channel *ch)
{
	uint64_t sum = __atomic_load_n(&ch->dir->seq, __ATOMIC_RELAXED);
	unsigned int i;

	mpkshm_for_each_slot(i, mpkshm_present(ch)) {
		const struct mpkshm_ring *ring = (const struct mpkshm_ring *)
			__atomic_load_n(&ch->peers[i].seg, __ATOMIC_ACQUIRE);

		if (ring)
			sum += atomic_load_explicit(&ring->head,
						    memory_order_relaxed);
	}
	return sum;
}

/* Spins a while before the next look: until something watched moves. */
static void spin_quietly(struct mpkshm_channel *ch, uint32_t what)
{
	uint64_t sum;
	unsigned int i;

	if (!(what & MPKSHM_WAIT_DATA)) {
		__builtin_ia32_pause();
		return;
	}
	sum = watched_sum(ch);
	for (i = 0; i < QUIET_SPINS; i++) {
		__builtin_ia32_pause();
		if (watched_sum(ch) != sum)
			return;
	}
}

static bool stopped(struct mpkshm_channel *ch, unsigned int flags)
{
	return flags & MPKSHM_WAIT_STOPPABLE &&
	       atomic_load_explicit(&ch->stop, memory_order_relaxed);
}

int mpkshm_wait_until(struct mpkshm_channel *ch, mpkshm_ready_fn ready, void *arg, uint32_t what,
		      uint64_t deadline, unsigned int flags)
{
	uint64_t spin_until, sleep_until, now, epoch;
	unsigned int spins;
	bool clocked;
	int ret;

	/* Most calls find what they wait for at once: no clock then. */
	ret = ready(ch, arg);
	if (ret)
		return ret;
	if (!deadline)		/* only a look (the rest of a batch) */
		return -ETIMEDOUT;
	/*
	 * No deadline and no spin to time: no clock either.  Where the clock
	 * source has no vDSO (a TCG guest), each read is a system call.
	 */
	clocked = deadline != UINT64_MAX ||
		  (ch->spin_us != 0 && ch->spin_us != MPKSHM_SPIN_FOREVER);
	now = clocked ? mpkshm_now_ns() : 0;
	spin_until = ch->spin_us == MPKSHM_SPIN_FOREVER ? UINT64_MAX :
		     now + (uint64_t)ch->spin_us * 1000u;
	for (spins = 0;; spins++) {
		ret = ready(ch, arg);
		if (ret)
			return ret;
		/* Reading the clock costs more than looking: not every time. */
		if (spins % 32) {
			spin_quietly(ch, what);
			continue;
		}
		if (stopped(ch, flags))
			return -ECANCELED;
		now = clocked ? mpkshm_now_ns() : 0;
		if (now >= deadline)
			return -ETIMEDOUT;
		if (now < spin_until) {
			__builtin_ia32_pause();
			continue;
		}

		/* Say we sleep, look once more, then sleep. */
		epoch = atomic_load(&ch->wake_epoch);
		waiting_add(ch, what, 1);
		atomic_thread_fence(memory_order_seq_cst);
		ret = ready(ch, arg);
		if (ret || stopped(ch, flags)) {
			waiting_add(ch, what, -1);
			return ret ? ret : -ECANCELED;
		}
		/* A writer that cannot ring us yet: look again soon. */
		sleep_until = deadline;
		if (what & MPKSHM_WAIT_DATA && ch->ops->peer_views &&
		    !writers_see_us(ch))
			sleep_until = mpkshm_min(deadline, mpkshm_now_ns() +
						 UNSEEN_LOOK_NS);
		/*
		 * The window stays open while we sleep: only this thread's
		 * PKRU has it, a signal handler runs with the kernel's initial
		 * PKRU, and closing and reopening would cost two PKRU writes
		 * per sleep (Documentation/design.md, "What protects what").
		 */
		ret = sleep_on_fd(ch, epoch, sleep_until);
		waiting_add(ch, what, -1);
		if (ret < 0)
			return ret;
		ret = mpkshm_refresh(ch);
		if (ret < 0)
			return ret;
	}
}

/*
 * Consumes the fd's old readiness before the application sleeps on it,
 * unless a thread in the library polls it.  Key open.
 */
static int drain_for_app(struct mpkshm_channel *ch)
{
	int ret = 0;

	pthread_mutex_lock(&ch->sleep_lock);
	if (!ch->sleeper && ch->ops->drain) {
		ret = ch->ops->drain(ch);
		atomic_fetch_add(&ch->wake_epoch, 1);
		if (ch->followers)
			pthread_cond_broadcast(&ch->sleep_cond);
	}
	pthread_mutex_unlock(&ch->sleep_lock);
	return ret ? ret : mpkshm_refresh(ch);
}

/*
 * Whether anything the application armed the fd for is there already:
 * draining may have taken the wake-up of either, so both are looked at.
 */
static int app_ready(struct mpkshm_channel *ch)
{
	unsigned int armed = atomic_load(&ch->app_armed);
	int ret = 0;

	if (armed & MPKSHM_WAIT_DATA) {
		ret = mpkshm_message_waits(ch);
		if (!ret)
			ret = mpkshm_response_waits(ch);
	}
	if (!ret && armed & MPKSHM_WAIT_SPACE)
		ret = mpkshm_room_now(ch, atomic_load(&ch->app_room_len));
	return ret;
}

MPKSHM_EXPORT int mpkshm_wait_prepare(struct mpkshm_channel *ch)
{
	int ret = mpkshm_usable(ch);

	if (ret)
		return ret;
	mpkshm_unarm(ch);
	mpkshm_window_open(ch->pkey, true);
	ret = drain_for_app(ch);
	if (!ret) {
		/* As mpkshm_wait_until() does before it sleeps. */
		arm_app(ch, MPKSHM_WAIT_DATA);
		ret = app_ready(ch);
		if (ret)
			mpkshm_unarm(ch);
	}
	mpkshm_window_close(ch->pkey, true);
	return ret < 0 ? ret : ret > 0;
}

MPKSHM_EXPORT int mpkshm_wait_prepare_send(struct mpkshm_channel *ch,
					   size_t len)
{
	int ret = mpkshm_check_writer(ch);

	if (ret)
		return ret;
	mpkshm_unarm_space(ch);
	mpkshm_window_open(ch->pkey, true);
	ret = drain_for_app(ch);
	if (!ret) {
		atomic_store(&ch->app_room_len, len);
		arm_app(ch, MPKSHM_WAIT_SPACE);
		ret = app_ready(ch);
		if (ret)
			mpkshm_unarm_space(ch);
	}
	mpkshm_window_close(ch->pkey, true);
	return ret < 0 ? ret : ret > 0;
}
