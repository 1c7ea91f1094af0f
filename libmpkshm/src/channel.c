// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The backend-neutral core: endpoints, messages, waiting, request/response.
 *
 * Every writer publishes into a ring in its own segment; every reader keeps
 * its progress in each writer's ring (a cursor) in its own control page.
 * Nothing is ever written to memory another member owns, so there are no
 * cross-process locks, and a member can only damage what it owns.
 *
 * Waiting costs no system call while both sides keep up: a waiter spins,
 * then says in its control page that it is about to sleep, checks once
 * more, and sleeps on its fd; the other side, after publishing or
 * consuming, looks at that word and rings only the members that said so.
 * (The flag is written before the re-check and read after the publish,
 * each followed by a full fence, so one of the two always sees the other.)
 *
 * The channel's key is open only inside these functions and the zero-copy
 * windows (pku.c).
 */
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_SPIN_US		50
#define DEFAULT_CLOSE_TIMEOUT	1000
#define DEFAULT_SEGMENT		(1u << 20)
#define DEFAULT_MEMBERS		16

uint64_t mpkshm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* Deadline for a timeout in ms: UINT64_MAX forever. */
static uint64_t deadline_after(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return mpkshm_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/*
 * The locks are error-checking: a thread that calls, say, mpkshm_send()
 * inside its own reservation gets EBUSY instead of deadlocking on itself.
 */
static void lock(struct mpkshm_channel *ch, pthread_mutex_t *m)
{
	if (!(ch->flags & MPKSHM_OPEN_SINGLE_THREAD))
		pthread_mutex_lock(m);
}

static int lock_unless_own(struct mpkshm_channel *ch, pthread_mutex_t *m)
{
	if (ch->flags & MPKSHM_OPEN_SINGLE_THREAD)
		return 0;
	return pthread_mutex_lock(m) == EDEADLK ? -EBUSY : 0;
}

static void unlock(struct mpkshm_channel *ch, pthread_mutex_t *m)
{
	if (!(ch->flags & MPKSHM_OPEN_SINGLE_THREAD))
		pthread_mutex_unlock(m);
}

/*
 * Entering the send or receive side.  Taken by the thread holding a
 * reservation (or a peek) open, or with one open on a single-threaded
 * endpoint: EBUSY, since the window must be closed first.
 */
static int enter_send(struct mpkshm_channel *ch)
{
	if (lock_unless_own(ch, &ch->send_lock))
		return -EBUSY;
	if (ch->reserved) {
		unlock(ch, &ch->send_lock);
		return -EBUSY;
	}
	return 0;
}

static int enter_recv(struct mpkshm_channel *ch)
{
	if (lock_unless_own(ch, &ch->recv_lock))
		return -EBUSY;
	if (ch->peeking) {
		unlock(ch, &ch->recv_lock);
		return -EBUSY;
	}
	return 0;
}

/*
 * Forks, counted in the child, so that every call can tell an inherited
 * endpoint without a getpid() system call (glibc no longer caches it).
 */
static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void count_fork_in_child(void)
{
	atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, count_fork_in_child);
}

/* Every call starts here: in a child after fork there are no endpoints. */
static int usable(struct mpkshm_channel *ch)
{
	if (!ch || ch->fork_generation !=
	    atomic_load_explicit(&fork_generation, memory_order_relaxed))
		return -EBADF;
	if (atomic_load_explicit(&ch->revoked, memory_order_relaxed))
		return -EKEYREVOKED;
	return 0;
}

/* --- the directory ------------------------------------------------------- */

void mpkshm_dir_read_slot(const struct mpklink_dir *dir, unsigned int slot,
			  uint64_t *member_id, uint32_t *rights,
			  uint32_t *flags)
{
	const volatile struct mpklink_dir_slot *s = &dir->slots[slot];
	uint64_t seq;

	do {
		seq = __atomic_load_n(&dir->seq, __ATOMIC_ACQUIRE);
		*member_id = s->member_id;
		*rights = s->rights;
		*flags = s->flags;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((seq & 1) || seq != __atomic_load_n(&dir->seq, __ATOMIC_RELAXED));
}

/*
 * As a writer: a reader joined; it starts at our head now.  Either thread
 * (sender, receiver) may notice first; the first one's position counts.
 */
static void note_reader_start(struct mpkshm_channel *ch, unsigned int slot,
			      uint64_t reader)
{
	struct mpkshm_start *st = &ch->own_ctrl->starts[slot];

	if (!ch->own_ring)
		return;
	lock(ch, &ch->starts_lock);
	if (atomic_load_explicit(&st->reader_id, memory_order_relaxed) != reader) {
		atomic_store_explicit(&st->pos,
				      atomic_load(&ch->own_ring->head),
				      memory_order_relaxed);
		atomic_store_explicit(&st->reader_id, reader,
				      memory_order_release);
	}
	unlock(ch, &ch->starts_lock);
}

/*
 * Applies directory changes to the peers table (key open).  Cheap when
 * nothing changed: one load of the sequence count.
 */
static int refresh_locked(struct mpkshm_channel *ch)
{
	uint64_t seq = __atomic_load_n(&ch->dir->seq, __ATOMIC_ACQUIRE);
	bool pending = false;
	unsigned int i;
	int err = 0;

	if (seq == ch->dir_seq)
		return 0;
	for (i = 0; i < ch->max_members; i++) {
		struct mpkshm_peer *p = &ch->peers[i];
		uint32_t rights, flags;
		uint64_t id;

		mpkshm_dir_read_slot(ch->dir, i, &id, &rights, &flags);
		if (flags & MPKLINK_DIR_SLOT_REVOKED)
			id = 0;	/* gone as far as messages go */
		if (i == ch->slot) {
			if (id != ch->member_id)
				atomic_store(&ch->revoked, true);
			continue;
		}
		if (__atomic_load_n(&p->member_id, __ATOMIC_RELAXED) != id) {
			p->corrupt = false;
			p->has_pubkey = false;
			p->last_seq = 0;
			__atomic_store_n(&p->rights, rights, __ATOMIC_RELAXED);
			__atomic_store_n(&p->member_id, id, __ATOMIC_RELEASE);
			if (id && rights & MPKSHM_RIGHT_READ)
				note_reader_start(ch, i, id);
		} else if (!id || p->seg) {
			continue;
		}
		/* A view that is not ready yet is looked at again next time. */
		if (id && ch->ops->peer_views) {
			int ret = ch->ops->peer_views(ch, i);

			if (ret == -EAGAIN)
				pending = true;
			else if (ret)
				err = ret;
		}
	}
	if (!pending)
		ch->dir_seq = seq;
	if (atomic_load(&ch->revoked))
		return -EKEYREVOKED;
	return err;
}

int mpkshm_refresh(struct mpkshm_channel *ch)
{
	return refresh_locked(ch);
}

bool mpkshm_peer_is(struct mpkshm_channel *ch, unsigned int slot,
		    uint64_t member_id)
{
	return __atomic_load_n(&ch->peers[slot].member_id, __ATOMIC_ACQUIRE) ==
	       member_id;
}

static uint64_t peer_id(struct mpkshm_channel *ch, unsigned int slot)
{
	return __atomic_load_n(&ch->peers[slot].member_id, __ATOMIC_ACQUIRE);
}

static const struct mpkshm_ring *peer_ring(struct mpkshm_channel *ch,
					   unsigned int slot)
{
	return (const struct mpkshm_ring *)ch->peers[slot].seg;
}

/* --- waking and waiting -------------------------------------------------- */

/* Rings the members that said they sleep waiting for @what. */
static void wake(struct mpkshm_channel *ch, uint64_t candidates,
		 uint32_t what)
{
	uint64_t slots = 0;
	unsigned int i;

	/* Pairs with the fence after a waiter sets its flag. */
	atomic_thread_fence(memory_order_seq_cst);
	for (i = 0; i < ch->max_members; i++) {
		if (!(candidates & (1ull << i)) || !peer_id(ch, i))
			continue;
		if (atomic_load_explicit(&ch->peers[i].ctrl->waiting,
					 memory_order_relaxed) & what)
			slots |= 1ull << i;
	}
	if (slots)
		ch->ops->notify(ch, slots);
}

/*
 * Waits until @ready(ch, arg) is non-zero (returned), an error, or the
 * deadline (ETIMEDOUT).  Called with the key open for writing and @m held;
 * both are kept while spinning and dropped while asleep.
 */
static int wait_until(struct mpkshm_channel *ch, pthread_mutex_t *m,
		      int (*ready)(struct mpkshm_channel *, void *), void *arg,
		      uint32_t what, uint64_t deadline)
{
	uint64_t spin_until, now;
	unsigned int spins;
	int ret, timeout;
	struct pollfd pfd;

	/* Most calls find what they wait for at once: no clock then. */
	ret = ready(ch, arg);
	if (ret)
		return ret;
	now = mpkshm_now_ns();
	spin_until = ch->spin_us == MPKSHM_SPIN_FOREVER ? UINT64_MAX :
		     now + (uint64_t)ch->spin_us * 1000u;
	for (spins = 0;; spins++) {
		ret = ready(ch, arg);
		if (ret)
			return ret;
		/* Reading the clock costs more than looking: not every time. */
		if (spins % 32) {
			__builtin_ia32_pause();
			continue;
		}
		now = mpkshm_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (now < spin_until) {
			__builtin_ia32_pause();
			continue;
		}

		/* Say we sleep, look once more, then sleep. */
		atomic_fetch_or(&ch->own_ctrl->waiting, what);
		atomic_thread_fence(memory_order_seq_cst);
		ret = ready(ch, arg);
		if (ret) {
			atomic_fetch_and(&ch->own_ctrl->waiting, ~what);
			return ret;
		}
		pfd.fd = ch->fd;
		pfd.events = POLLIN;
		if (deadline == UINT64_MAX)
			timeout = -1;
		else
			timeout = (int)((deadline - now + 999999) / 1000000);
		mpkshm_window_close(ch->pkey, true);
		unlock(ch, m);
		ret = poll(&pfd, 1, timeout);	/* EINTR: just look again */
		lock(ch, m);
		mpkshm_window_open(ch->pkey, true);
		atomic_fetch_and(&ch->own_ctrl->waiting, ~what);
		if (ret > 0 && ch->ops->drain) {
			ret = ch->ops->drain(ch);
			if (ret < 0)
				return ret;
		}
		ret = refresh_locked(ch);
		if (ret < 0)
			return ret;
	}
}

/* --- writing ------------------------------------------------------------- */

/*
 * How far this writer's head may grow: readers' cursors bound it, and a
 * reader that has not looked at us yet is bound by where we want it to
 * start.  A cursor outside [head - capacity, head] is a reader's bug or
 * malice and is ignored: it cannot make us overwrite what an honest reader
 * has not read.
 */
static uint64_t writer_limit(struct mpkshm_channel *ch, uint64_t head)
{
	uint64_t min_tail = head, tail;
	unsigned int i;

	atomic_thread_fence(memory_order_seq_cst);
	for (i = 0; i < ch->max_members; i++) {
		const struct mpkshm_cursor *c;

		if (i == ch->slot || !peer_id(ch, i) ||
		    !(__atomic_load_n(&ch->peers[i].rights, __ATOMIC_RELAXED) &
		      MPKSHM_RIGHT_READ) ||
		    atomic_load_explicit(&ch->peers[i].ctrl->send_only,
					 memory_order_relaxed))
			continue;
		c = &ch->peers[i].ctrl->cursors[ch->slot];
		if (atomic_load_explicit(&c->writer_id, memory_order_acquire) ==
		    ch->member_id) {
			tail = atomic_load_explicit(&c->tail,
						    memory_order_acquire);
		} else if (atomic_load_explicit(&ch->own_ctrl->starts[i].reader_id,
						memory_order_acquire) ==
			   peer_id(ch, i)) {
			/* Has not looked at us yet: it will start here. */
			tail = atomic_load_explicit(&ch->own_ctrl->starts[i].pos,
						    memory_order_relaxed);
		} else {
			continue;
		}
		if (tail > head || head - tail > ch->capacity)
			continue;
		if (tail < min_tail)
			min_tail = tail;
	}
	return min_tail + ch->capacity;
}

struct space_need {
	uint64_t head;
	uint64_t bytes;
};

static int space_ready(struct mpkshm_channel *ch, void *arg)
{
	struct space_need *need = arg;
	int err = refresh_locked(ch);

	if (err)
		return err;
	ch->space_until = writer_limit(ch, need->head);
	return ch->space_until - need->head >= need->bytes;
}

/* Waits until the head may grow by @bytes from @head: fast when it may. */
static int wait_for_room(struct mpkshm_channel *ch, uint64_t head,
			 uint64_t bytes, uint64_t deadline)
{
	struct space_need need = { .head = head, .bytes = bytes };

	if (ch->space_until - head >= bytes)
		return 0;
	return wait_until(ch, &ch->send_lock, space_ready, &need,
			  MPKSHM_WAIT_SPACE, deadline);
}

/*
 * Makes room for a record with @len payload bytes at the head (adding a
 * pad record when it would not fit before the ring's end) and returns where
 * it starts.  send_lock held, key open for writing.
 */
static int64_t make_room(struct mpkshm_channel *ch, uint64_t len, bool sig,
			 uint64_t deadline)
{
	struct mpkshm_ring *ring = ch->own_ring;
	uint8_t *data = (uint8_t *)(ring + 1);
	uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
	uint64_t size = mpkshm_rec_size(len, sig);
	uint64_t off = head % ch->capacity, pad = 0;
	int ret;

	/*
	 * The pad goes first, on its own: waiting for pad and record at once
	 * could wait for more than a ring (a record over half of it).
	 */
	if (ch->capacity - off < size)
		pad = ch->capacity - off;
	if (pad) {
		struct mpkshm_rec *rec = (struct mpkshm_rec *)(data + off);

		ret = wait_for_room(ch, head, pad, deadline);
		if (ret < 0)
			return ret;
		memset(rec, 0, sizeof(*rec));
		rec->kind = MPKSHM_REC_PAD;
		rec->len = (uint32_t)(pad - MPKSHM_REC_HDR);
		head += pad;
		atomic_store_explicit(&ring->head, head, memory_order_release);
		/* Sleeping readers must step over it to free our space. */
		wake(ch, ~(1ull << ch->slot), MPKSHM_WAIT_DATA);
	}
	ret = wait_for_room(ch, head, size, deadline);
	if (ret < 0)
		return ret;
	return (int64_t)head;
}

/* Writes a record's header at @pos and publishes it. */
static void publish(struct mpkshm_channel *ch, uint64_t pos, uint32_t len,
		    uint16_t kind, uint16_t flags, uint64_t seq, uint64_t dest,
		    uint64_t correlation, uint64_t total)
{
	struct mpkshm_ring *ring = ch->own_ring;
	uint8_t *data = (uint8_t *)(ring + 1);
	struct mpkshm_rec *rec = (struct mpkshm_rec *)(data + pos % ch->capacity);
	uint64_t readers = 0;
	unsigned int i;

	rec->len = len;
	rec->kind = kind;
	rec->flags = flags;
	rec->seq = seq;
	rec->dest = dest;
	rec->correlation = correlation;
	rec->total = total;
	rec->reserved = 0;
	atomic_store_explicit(&ring->head,
			      pos + mpkshm_rec_size(len, flags & MPKSHM_REC_SIGNED),
			      memory_order_release);
	for (i = 0; i < ch->max_members; i++)
		if (i != ch->slot && (dest == MPKSHM_TO_ALL ||
				      peer_id(ch, i) == dest))
			readers |= 1ull << i;
	wake(ch, readers, MPKSHM_WAIT_DATA);
}

static int check_writer(struct mpkshm_channel *ch)
{
	int err = usable(ch);

	if (err)
		return err;
	return ch->own_ring ? 0 : -EPERM;
}

MPKSHM_EXPORT int mpkshm_reserve(struct mpkshm_channel *ch, size_t len,
				 void **buf, int timeout_ms)
{
	uint64_t deadline = deadline_after(timeout_ms);
	int64_t pos;
	int err;

	err = check_writer(ch);
	if (err)
		return err;
	if (mpkshm_rec_size(len, ch->signed_channel) > ch->capacity)
		return -EMSGSIZE;
	err = enter_send(ch);
	if (err)
		return err;
	mpkshm_window_open(ch->pkey, true);
	err = refresh_locked(ch);
	pos = err ? err : make_room(ch, len, ch->signed_channel, deadline);
	if (pos < 0) {
		mpkshm_window_close(ch->pkey, true);
		unlock(ch, &ch->send_lock);
		return (int)pos;
	}
	ch->reserved = true;
	ch->res_pos = (uint64_t)pos;
	ch->res_room = len;
	*buf = (uint8_t *)(ch->own_ring + 1) + ch->res_pos % ch->capacity +
	       MPKSHM_REC_HDR;
	/* The window and send_lock stay held until commit or abandon. */
	return 0;
}

MPKSHM_EXPORT int mpkshm_commit(struct mpkshm_channel *ch, size_t len,
				uint64_t dest)
{
	uint16_t flags = MPKSHM_REC_FIRST | MPKSHM_REC_LAST;
	uint64_t seq;
	uint8_t *payload;

	if (!ch || !ch->reserved)
		return -EINVAL;
	if (len > ch->res_room)
		return -EMSGSIZE;
	seq = ++ch->next_seq;
	payload = (uint8_t *)(ch->own_ring + 1) + ch->res_pos % ch->capacity +
		  MPKSHM_REC_HDR;
	if (ch->signed_channel) {
		flags |= MPKSHM_REC_SIGNED;
		mpkshm_sign(ch, seq, payload, len, payload + len);
	}
	publish(ch, ch->res_pos, (uint32_t)len, MPKSHM_REC_DATA, flags, seq,
		dest, 0, len);
	ch->reserved = false;
	mpkshm_window_close(ch->pkey, true);
	unlock(ch, &ch->send_lock);
	return 0;
}

MPKSHM_EXPORT int mpkshm_abandon(struct mpkshm_channel *ch)
{
	if (!ch || !ch->reserved)
		return -EINVAL;
	ch->reserved = false;
	mpkshm_window_close(ch->pkey, true);
	unlock(ch, &ch->send_lock);
	return 0;
}

/* The largest payload one record can carry (capacity is aligned). */
static uint64_t max_payload(struct mpkshm_channel *ch)
{
	uint64_t room = ch->capacity - MPKSHM_REC_HDR;

	if (ch->signed_channel)
		room -= MPKSHM_SIG_BYTES;
	return room;
}

/*
 * Sends a whole message as one record or as fragments.  Fragments are
 * sized to a quarter of the ring, so a reader copies one while the writer
 * fills the next.  send_lock held, key open for writing.
 */
static int send_locked(struct mpkshm_channel *ch, uint16_t kind,
		       uint64_t dest, uint64_t correlation, const void *buf,
		       size_t len, uint64_t deadline)
{
	uint64_t chunk_max = max_payload(ch), done = 0, seq = ++ch->next_seq;
	uint8_t *data = (uint8_t *)(ch->own_ring + 1);
	crypto_sign_state state;

	if (len > chunk_max && chunk_max > 4 * MPKSHM_ALIGN)
		chunk_max = (ch->capacity / 4) & ~(uint64_t)(MPKSHM_ALIGN - 1);
	if (ch->signed_channel)
		mpkshm_sign_state_begin(&state, ch->name, ch->member_id, seq);
	do {
		uint64_t chunk = len - done < chunk_max ? len - done : chunk_max;
		uint16_t flags = 0;
		uint8_t *payload;
		int64_t pos;

		if (done == 0)
			flags |= MPKSHM_REC_FIRST;
		if (done + chunk == len)
			flags |= MPKSHM_REC_LAST;
		if (ch->signed_channel && flags & MPKSHM_REC_LAST)
			flags |= MPKSHM_REC_SIGNED;
		pos = make_room(ch, chunk, flags & MPKSHM_REC_SIGNED, deadline);
		if (pos < 0)
			return (int)pos;
		payload = data + (uint64_t)pos % ch->capacity + MPKSHM_REC_HDR;
		memcpy(payload, (const uint8_t *)buf + done, chunk);
		if (ch->signed_channel) {
			mpkshm_sign_update(&state, payload, chunk);
			if (flags & MPKSHM_REC_LAST)
				mpkshm_sign_end(ch, &state, payload + chunk);
		}
		publish(ch, (uint64_t)pos, (uint32_t)chunk, kind, flags, seq,
			dest, correlation, len);
		done += chunk;
	} while (done < len);
	return 0;
}

/* Whether @member is a member of the channel now. */
static bool is_member(struct mpkshm_channel *ch, uint64_t member)
{
	unsigned int i;

	for (i = 0; i < ch->max_members; i++)
		if (peer_id(ch, i) == member)
			return true;
	return false;
}

static int send_message(struct mpkshm_channel *ch, uint16_t kind,
			uint64_t dest, uint64_t correlation, const void *buf,
			size_t len, int timeout_ms)
{
	uint64_t deadline = deadline_after(timeout_ms);
	int err;

	err = check_writer(ch);
	if (err)
		return err;
	err = enter_send(ch);
	if (err)
		return err;
	mpkshm_window_open(ch->pkey, true);
	err = refresh_locked(ch);
	if (!err && dest != MPKSHM_TO_ALL && !is_member(ch, dest))
		err = -EPIPE;
	if (!err)
		err = send_locked(ch, kind, dest, correlation, buf, len,
				  deadline);
	mpkshm_window_close(ch->pkey, true);
	unlock(ch, &ch->send_lock);
	return err;
}

MPKSHM_EXPORT int mpkshm_send(struct mpkshm_channel *ch, uint64_t dest,
			      const void *buf, size_t len, int timeout_ms)
{
	return send_message(ch, MPKSHM_REC_DATA, dest, 0, buf, len,
			    timeout_ms);
}

/* --- reading ------------------------------------------------------------- */

/*
 * The cursor of this reader for writer @slot, set up when the writer is new
 * to it, at the position the writer noted for us when it first saw us
 * (note_reader_start()).  NULL while it has not: until then it is not
 * bound by us and may overwrite any position we could pick, so there is
 * nothing for us there yet.  It notes us on its next call into the
 * library, before it publishes anything more.
 */
static struct mpkshm_cursor *cursor_for(struct mpkshm_channel *ch,
					unsigned int slot, uint64_t writer)
{
	struct mpkshm_cursor *c = &ch->own_ctrl->cursors[slot];
	const struct mpkshm_start *st = &ch->peers[slot].ctrl->starts[ch->slot];
	uint64_t start;

	if (atomic_load_explicit(&c->writer_id, memory_order_relaxed) == writer)
		return c;
	if (atomic_load_explicit(&st->reader_id, memory_order_acquire) !=
	    ch->member_id)
		return NULL;
	start = atomic_load_explicit(&st->pos, memory_order_relaxed);
	start &= ~(uint64_t)(MPKSHM_ALIGN - 1);
	/*
	 * The writer bounds its head by this position until the cursor shows
	 * up, so it cannot have lapped us: a head more than a ring beyond it
	 * is the writer's corruption, for mpkshm_ring_look() to report.
	 */
	atomic_store_explicit(&c->tail, start, memory_order_relaxed);
	atomic_store_explicit(&c->writer_id, writer, memory_order_release);
	return c;
}

/* Consumes up to @next in writer @slot's ring and wakes it if it waits. */
static void consume(struct mpkshm_channel *ch, unsigned int slot,
		    uint64_t next)
{
	atomic_store_explicit(&ch->own_ctrl->cursors[slot].tail, next,
			      memory_order_release);
	wake(ch, 1ull << slot, MPKSHM_WAIT_SPACE);
}

struct found {
	unsigned int slot;
	uint64_t writer;
	struct mpkshm_rec_view view;
	int only_slot;			/* >= 0: look at this writer only */
	uint64_t only_writer;
};

/*
 * Whether @writer still holds @slot, from the directory itself rather than
 * our copy of it.  The kernel (and the memfd broker) clears a member's
 * directory slot before its pages go, and then they read as zeros to
 * everyone: what was copied out of a writer's ring before this says true
 * was copied intact.
 */
static bool writer_stayed(struct mpkshm_channel *ch, unsigned int slot,
			  uint64_t writer)
{
	/* Our reads of its ring come before the look at the directory. */
	atomic_thread_fence(memory_order_acquire);
	return __atomic_load_n(&ch->dir->slots[slot].member_id,
			       __ATOMIC_ACQUIRE) == writer;
}

/*
 * Looks for the next record for us in writer @slot's ring, consuming pads
 * and records addressed to others on the way.  1: found; 0: nothing;
 * -EBADMSG: the ring is corrupt (the writer is skipped from now on).
 */
static int look_at_writer(struct mpkshm_channel *ch, unsigned int slot,
			  struct found *f)
{
	struct mpkshm_peer *p = &ch->peers[slot];
	uint64_t writer = peer_id(ch, slot);
	const struct mpkshm_ring *ring;
	struct mpkshm_cursor *c;
	int ret;

	if (!writer || p->corrupt || !p->seg ||
	    !(__atomic_load_n(&p->rights, __ATOMIC_RELAXED) & MPKSHM_RIGHT_WRITE))
		return 0;
	ring = peer_ring(ch, slot);
	/* Not set up by its owner yet (or not this writer's): nothing there. */
	if (__atomic_load_n(&ring->member_id, __ATOMIC_ACQUIRE) != writer)
		return 0;
	c = cursor_for(ch, slot, writer);
	if (!c)
		return 0;
	for (;;) {
		uint64_t tail = atomic_load_explicit(&c->tail, memory_order_relaxed);
		uint64_t head = atomic_load_explicit(&ring->head,
						     memory_order_acquire);

		ret = mpkshm_ring_look((const uint8_t *)(ring + 1), ch->capacity,
				       head, tail, &f->view);
		if (ret < 0) {
			/* Zeros where a writer that just left used to be. */
			if (!writer_stayed(ch, slot, writer))
				return 0;
			p->corrupt = true;
			return ret;
		}
		if (!ret)
			return 0;
		if (f->view.hdr.kind == MPKSHM_REC_PAD ||
		    (f->view.hdr.dest != MPKSHM_TO_ALL &&
		     f->view.hdr.dest != ch->member_id)) {
			consume(ch, slot, f->view.next);
			continue;
		}
		f->slot = slot;
		f->writer = writer;
		return 1;
	}
}

/* Round robin over the writers.  recv_lock held, key open. */
static int find_next(struct mpkshm_channel *ch, void *arg)
{
	struct found *f = arg;
	unsigned int n, i;
	int ret, err;

	err = refresh_locked(ch);
	if (err)
		return err;
	if (f->only_slot >= 0) {
		if (peer_id(ch, f->only_slot) != f->only_writer)
			return -ECONNRESET;
		ret = look_at_writer(ch, f->only_slot, f);
		return ret;
	}
	for (n = 0; n < ch->max_members; n++) {
		i = (ch->next_writer + n) % ch->max_members;
		if (i == ch->slot)
			continue;
		ret = look_at_writer(ch, i, f);
		if (ret) {
			ch->next_writer = (i + 1) % ch->max_members;
			return ret;
		}
	}
	return 0;
}

static int check_reader(struct mpkshm_channel *ch)
{
	int err = usable(ch);

	if (err)
		return err;
	if (!(ch->rights & MPKSHM_RIGHT_READ) ||
	    ch->flags & MPKSHM_OPEN_SEND_ONLY)
		return -EPERM;
	return 0;
}

/* Verifies a one-record signed message in place. */
static int verify_record(struct mpkshm_channel *ch, const struct found *f)
{
	const struct mpkshm_rec *h = &f->view.hdr;

	if (!ch->signed_channel)
		return 0;
	if (!(h->flags & MPKSHM_REC_SIGNED))
		return -EKEYREJECTED;
	return mpkshm_verify(ch, f->slot, h->seq, f->view.payload, h->len,
			     f->view.payload + h->len);
}

/*
 * The next fragment of a split message did not come by the deadline: keeps
 * the @got bytes received so far (at @dst, @buf or the kept bytes of an
 * earlier receive) for the next receive, which goes on from there.
 * Returns ETIMEDOUT, or ENOMEM when they cannot be kept (the rest of the
 * message is then discarded as it arrives).
 */
static int partial_keep(struct mpkshm_channel *ch, const struct found *f,
			uint8_t *dst, const void *buf, uint64_t got,
			const struct mpkshm_partial *msg,
			const crypto_sign_state *state)
{
	struct mpkshm_partial *part = &ch->partial;

	if (dst == buf) {
		dst = malloc(msg->total);
		if (!dst)
			return -ENOMEM;
		memcpy(dst, buf, got);
	}
	*part = *msg;
	part->bytes = dst;
	part->got = got;
	part->slot = f->slot;
	part->writer = f->writer;
	if (ch->signed_channel)
		part->sign = *state;
	return -ETIMEDOUT;
}

/* Whether a receive kept the first part of a message from @writer. */
static bool partial_from(const struct mpkshm_channel *ch, unsigned int slot,
			 uint64_t writer)
{
	return ch->partial.bytes && ch->partial.slot == slot &&
	       ch->partial.writer == writer;
}

static void recv_fill_info(struct mpkshm_msg *info,
			   const struct mpkshm_partial *msg)
{
	if (!info)
		return;
	info->len = msg->total;
	info->sender = msg->writer;
	info->sender_slot = msg->slot;
	info->seq = msg->seq;
	info->correlation = msg->correlation;
	info->_kind = msg->kind;
}

MPKSHM_EXPORT int mpkshm_peek(struct mpkshm_channel *ch,
			      struct mpkshm_msg *msg, int timeout_ms)
{
	uint64_t deadline = deadline_after(timeout_ms);
	struct found f = { .only_slot = -1 };
	int ret;

	ret = check_reader(ch);
	if (!ret)
		ret = enter_recv(ch);
	if (ret)
		return ret;
	mpkshm_window_open(ch->pkey, true);
	atomic_fetch_and(&ch->own_ctrl->waiting, ~MPKSHM_WAIT_DATA);
	for (;;) {
		const uint16_t whole = MPKSHM_REC_FIRST | MPKSHM_REC_LAST;

		ret = wait_until(ch, &ch->recv_lock, find_next, &f,
				 MPKSHM_WAIT_DATA, deadline);
		if (ret == 1 && !(f.view.hdr.flags & MPKSHM_REC_FIRST) &&
		    !partial_from(ch, f.slot, f.writer)) {
			/* The tail of a message whose start we never saw. */
			consume(ch, f.slot, f.view.next);
			continue;
		}
		if (ret == 1 && (f.view.hdr.flags & whole) != whole)
			ret = -EMSGSIZE;	/* split: mpkshm_recv() */
		if (ret == 1) {
			ret = verify_record(ch, &f);
			/* Rejected: consumed, as mpkshm_recv() does, or it
			 * blocks every later message from that writer. */
			if (ret < 0)
				consume(ch, f.slot, f.view.next);
		} else if (ret == 0) {
			ret = -EAGAIN;
		}
		/* A message whose writer left went with it: the next one. */
		if (ret || writer_stayed(ch, f.slot, f.writer))
			break;
	}
	if (ret < 0) {
		mpkshm_window_close(ch->pkey, true);
		unlock(ch, &ch->recv_lock);
		return ret;
	}
	msg->data = f.view.payload;
	msg->len = f.view.hdr.len;
	msg->sender = f.writer;
	msg->sender_slot = f.slot;
	msg->seq = f.view.hdr.seq;
	msg->correlation = f.view.hdr.correlation;
	msg->_pos = f.view.next - mpkshm_rec_size(f.view.hdr.len,
						  f.view.hdr.flags & MPKSHM_REC_SIGNED);
	msg->_next = f.view.next;
	msg->_kind = f.view.hdr.kind;
	msg->_open = 1;
	ch->peeking = true;
	/* Read-only for the caller's window; recv_lock stays held. */
	mpkshm_window_downgrade(ch->pkey);
	return 0;
}

MPKSHM_EXPORT int mpkshm_release(struct mpkshm_channel *ch,
				 struct mpkshm_msg *msg)
{
	bool stayed;

	if (!ch || !msg || !msg->_open)
		return -EINVAL;
	msg->_open = 0;
	ch->peeking = false;
	/* The cursor is in our control page: write access, then close. */
	mpkshm_window_upgrade(ch->pkey);
	/* The caller's reads of the message are behind us: were they whole? */
	stayed = writer_stayed(ch, msg->sender_slot, msg->sender);
	if (mpkshm_peer_is(ch, msg->sender_slot, msg->sender))
		consume(ch, msg->sender_slot, msg->_next);
	mpkshm_window_close(ch->pkey, true);
	unlock(ch, &ch->recv_lock);
	if (atomic_load(&ch->revoked))
		return -EKEYREVOKED;
	return stayed ? 0 : -ECONNRESET;
}

/*
 * Receives a whole message, reassembling fragments, into @buf.  recv_lock
 * held, key open for writing.  @f->only_slot: the first fragment must come
 * from that writer (-1: any).  A split message an earlier receive kept
 * (partial_keep()) comes first.  Returns its length or a negative errno;
 * fills @info.
 */
static ssize_t recv_locked(struct mpkshm_channel *ch, void *buf, size_t cap,
			   struct mpkshm_msg *info, struct found *f,
			   uint64_t deadline)
{
	struct mpkshm_partial msg = { 0 }, *part = &ch->partial;
	uint8_t *dst = buf;	/* where fragments go */
	crypto_sign_state state = { 0 };
	uint64_t got = 0;
	ssize_t ret;

	if (part->bytes &&
	    (f->only_slot < 0 ||
	     partial_from(ch, (unsigned int)f->only_slot, f->only_writer))) {
		recv_fill_info(info, part);
		if (part->total > cap)
			return -EMSGSIZE;	/* still kept */
		/* Ours now: from here on every return frees or keeps it. */
		msg = *part;
		dst = part->bytes;
		part->bytes = NULL;
		got = msg.got;
		if (ch->signed_channel)
			state = msg.sign;
		f->slot = msg.slot;
		f->writer = msg.writer;
		f->only_slot = (int)msg.slot;
		f->only_writer = msg.writer;
	}

	for (;;) {
		const struct mpkshm_rec *h = &f->view.hdr;

		ret = wait_until(ch, &ch->recv_lock, find_next, f,
				 MPKSHM_WAIT_DATA, deadline);
		if (ret == -ETIMEDOUT && got) {
			ret = partial_keep(ch, f, dst, buf, got, &msg, &state);
			if (ret == -ETIMEDOUT)
				return ret;	/* dst is kept */
		}
		if (ret == 0)
			ret = -EAGAIN;
		if (ret < 0)
			goto out;

		/*
		 * A first fragment in the middle of a message: its writer gave
		 * up on that one (a send that timed out part way) and this
		 * one starts afresh.
		 */
		if (h->flags & MPKSHM_REC_FIRST && (!got || h->seq != msg.seq)) {
			msg = (struct mpkshm_partial) {
				.total = h->total,
				.seq = h->seq,
				.writer = f->writer,
				.correlation = h->correlation,
				.slot = f->slot,
				.kind = h->kind,
			};
			got = 0;
			if (dst != buf)
				free(dst);
			dst = buf;
			recv_fill_info(info, &msg);
			if (msg.total > cap)
				return -EMSGSIZE;	/* left queued */
			if (ch->signed_channel)
				mpkshm_sign_state_begin(&state, ch->name,
							f->writer, msg.seq);
			/* Fragments follow in the same writer's ring. */
			f->only_slot = (int)f->slot;
			f->only_writer = f->writer;
		} else if (!got) {
			/* The tail of a message whose start we never saw. */
			consume(ch, f->slot, f->view.next);
			return -EAGAIN;
		}

		if (h->seq != msg.seq || h->total != msg.total ||
		    h->len > msg.total - got ||
		    (got && h->flags & MPKSHM_REC_FIRST)) {
			if (!writer_stayed(ch, f->slot, f->writer)) {
				ret = got ? -ECONNRESET : -EAGAIN;
				goto out;
			}
			ch->peers[f->slot].corrupt = true;
			ret = -EBADMSG;
			goto out;
		}
		memcpy(dst + got, f->view.payload, h->len);
		/* Its writer left during the copy: the bytes may be zeros. */
		if (!writer_stayed(ch, f->slot, f->writer)) {
			ret = got ? -ECONNRESET : -EAGAIN;
			goto out;
		}
		if (ch->signed_channel)
			mpkshm_sign_update(&state, dst + got, h->len);
		got += h->len;
		if (!(h->flags & MPKSHM_REC_LAST)) {
			consume(ch, f->slot, f->view.next);
			continue;
		}
		if (got != msg.total) {
			ch->peers[f->slot].corrupt = true;
			ret = -EBADMSG;
			goto out;
		}
		ret = 0;
		if (ch->signed_channel)
			ret = h->flags & MPKSHM_REC_SIGNED ?
			      mpkshm_verify_end(ch, f->slot, &state, msg.seq,
						f->view.payload + h->len) :
			      -EKEYREJECTED;
		consume(ch, f->slot, f->view.next);
		if (!ret) {
			if (dst != buf)
				memcpy(buf, dst, msg.total);
			ret = (ssize_t)msg.total;
		}
		goto out;
	}
out:
	if (dst != buf)
		free(dst);
	return ret;
}

MPKSHM_EXPORT ssize_t mpkshm_recv(struct mpkshm_channel *ch, void *buf,
				  size_t cap, struct mpkshm_msg *info,
				  int timeout_ms)
{
	uint64_t deadline = deadline_after(timeout_ms);
	struct found f = { .only_slot = -1 };
	ssize_t ret;

	ret = check_reader(ch);
	if (!ret)
		ret = enter_recv(ch);
	if (ret)
		return ret;
	mpkshm_window_open(ch->pkey, true);
	atomic_fetch_and(&ch->own_ctrl->waiting, ~MPKSHM_WAIT_DATA);
	do {
		f.only_slot = -1;
		ret = recv_locked(ch, buf, cap, info, &f, deadline);
	} while (ret == -EAGAIN && mpkshm_now_ns() < deadline);
	mpkshm_window_close(ch->pkey, true);
	unlock(ch, &ch->recv_lock);
	return ret == -EAGAIN ? -ETIMEDOUT : ret;
}

/* --- request/response ---------------------------------------------------- */

MPKSHM_EXPORT int mpkshm_call(struct mpkshm_channel *ch, uint64_t server,
			      const void *req, size_t req_len, void *resp,
			      size_t cap, size_t *resp_len, int timeout_ms)
{
	uint64_t deadline = deadline_after(timeout_ms), correlation;
	struct mpkshm_msg info;
	unsigned int slot;
	ssize_t ret;
	int err;

	err = check_writer(ch);
	if (!err)
		err = check_reader(ch);
	if (!err)
		err = enter_recv(ch);	/* fail before sending, not after */
	if (err)
		return err;
	unlock(ch, &ch->recv_lock);
	err = enter_send(ch);
	if (err)
		return err;
	correlation = ++ch->next_correlation;
	unlock(ch, &ch->send_lock);
	err = send_message(ch, MPKSHM_REC_REQUEST, server, correlation, req,
			   req_len, timeout_ms);
	if (err)
		return err == -EPIPE ? -ECONNRESET : err;

	err = enter_recv(ch);
	if (err)
		return err;
	mpkshm_window_open(ch->pkey, true);
	for (slot = 0; slot < ch->max_members; slot++)
		if (peer_id(ch, slot) == server)
			break;
	do {
		struct found f = {
			.only_slot = (int)slot,
			.only_writer = server,
		};

		if (slot == ch->max_members) {
			ret = -ECONNRESET;
			break;
		}
		ret = recv_locked(ch, resp, cap, &info, &f, deadline);
		if (ret >= 0 && (info._kind != MPKSHM_REC_RESPONSE ||
				 info.correlation != correlation))
			ret = -EAGAIN;	/* a late reply to an older call */
	} while (ret == -EAGAIN && mpkshm_now_ns() < deadline);
	mpkshm_window_close(ch->pkey, true);
	unlock(ch, &ch->recv_lock);
	if (ret == -EAGAIN)
		return -ETIMEDOUT;
	if (ret < 0)
		return (int)ret;
	if (resp_len)
		*resp_len = (size_t)ret;
	return 0;
}

MPKSHM_EXPORT int mpkshm_reply(struct mpkshm_channel *ch,
			       struct mpkshm_request *req, const void *data,
			       size_t len)
{
	int err;

	if (!req || req->_replied)
		return -EINVAL;
	req->_replied = true;
	err = send_message(ch, MPKSHM_REC_RESPONSE, req->client,
			   req->_correlation, data, len, -1);
	/* A client that left before its reply is not the server's error. */
	return err == -EPIPE ? 0 : err;
}

MPKSHM_EXPORT void mpkshm_serve_stop(struct mpkshm_channel *ch)
{
	atomic_store(&ch->stop, true);
	/* Wake the server wherever it sleeps: ring our own doorbell. */
	ch->ops->notify(ch, 1ull << ch->slot);
}

MPKSHM_EXPORT int mpkshm_serve(struct mpkshm_channel *ch,
			       mpkshm_handler handler, void *arg)
{
	size_t cap = 64 * 1024;
	uint8_t *buf = malloc(cap);
	struct mpkshm_request req;
	struct mpkshm_msg info;
	ssize_t n;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	atomic_store(&ch->stop, false);
	while (!atomic_load(&ch->stop)) {
		n = mpkshm_recv(ch, buf, cap, &info, 100);
		if (n == -ETIMEDOUT)
			continue;
		if (n == -EMSGSIZE) {
			uint8_t *bigger = realloc(buf, info.len);

			if (!bigger) {
				err = -ENOMEM;
				break;
			}
			buf = bigger;
			cap = info.len;
			continue;
		}
		if (n == -EBADMSG || n == -EKEYREJECTED || n == -EPROTO)
			continue;	/* a bad client; others go on */
		if (n < 0) {
			err = (int)n;
			break;
		}
		if (info._kind != MPKSHM_REC_REQUEST)
			continue;
		req = (struct mpkshm_request) {
			.data = buf,
			.len = (size_t)n,
			.client = info.sender,
			._correlation = info.correlation,
		};
		err = handler(arg, &req);
		if (err < 0)
			break;
		err = req._replied ? 0 : mpkshm_reply(ch, &req, NULL, 0);
		if (err < 0)
			break;
	}
	free(buf);
	return err;
}

/* --- endpoints ----------------------------------------------------------- */

MPKSHM_EXPORT void mpkshm_options_init(struct mpkshm_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->backend = MPKSHM_BACKEND_KERNEL;
	opts->spin_us = DEFAULT_SPIN_US;
	opts->segment_size = DEFAULT_SEGMENT;
	opts->max_members = DEFAULT_MEMBERS;
	opts->close_timeout_ms = DEFAULT_CLOSE_TIMEOUT;
}

static bool name_valid(const char *name)
{
	size_t len = name ? strnlen(name, MPKLINK_NAME_MAX) : 0;
	size_t i;

	if (len == 0 || len == MPKLINK_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void describe(struct mpkshm_channel *ch)
{
	const char *keys = ch->pkey >= 0 ?
		"pages tagged with a protection key that is closed outside library calls" :
		"no protection keys on this CPU: channel memory is open to the whole process";

	switch (ch->kind) {
	case MPKSHM_BACKEND_KERNEL:
		snprintf(ch->description, sizeof(ch->description),
			 "mpklink kernel channel: attested members, writer-owned segments, revocation; %s",
			 keys);
		break;
	case MPKSHM_BACKEND_MEMFD:
		snprintf(ch->description, sizeof(ch->description),
			 "memfd channel: UNPROTECTED (no attestation or revocation; processes of the same user can read it); %s",
			 keys);
		break;
	default:
		snprintf(ch->description, sizeof(ch->description),
			 "thread channel (one process); %s", keys);
		break;
	}
}

MPKSHM_EXPORT int mpkshm_open(const char *name,
			      const struct mpkshm_options *user_opts,
			      struct mpkshm_channel **out)
{
	struct mpkshm_options opts;
	struct mpkshm_channel *ch;
	pthread_mutexattr_t attr;
	unsigned int i;
	int err;

	if (!out || !name_valid(name))
		return -EINVAL;
	mpkshm_options_init(&opts);
	if (user_opts) {
		if (user_opts->size < sizeof(size_t) ||
		    user_opts->size > sizeof(opts))
			return -EINVAL;
		memcpy(&opts, user_opts, user_opts->size);
		opts.size = sizeof(opts);
	}
	if (opts.flags & ~(MPKSHM_OPEN_SINGLE_THREAD | MPKSHM_OPEN_CREATE |
			   MPKSHM_OPEN_SEND_ONLY))
		return -EINVAL;
	if (sodium_init() < 0)
		return -ENOSYS;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	strcpy(ch->name, name);
	ch->pid = getpid();
	pthread_once(&atfork_once, register_atfork);
	ch->fork_generation = atomic_load(&fork_generation);
	ch->flags = opts.flags;
	ch->spin_us = opts.spin_us;
	ch->close_timeout_ms = opts.close_timeout_ms;
	ch->fd = -1;
	ch->pkey = -1;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&ch->send_lock, &attr);
	pthread_mutex_init(&ch->recv_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&ch->starts_lock, NULL);
	switch (opts.backend ? opts.backend : MPKSHM_BACKEND_KERNEL) {
	case MPKSHM_BACKEND_KERNEL:
		ch->ops = &mpkshm_kernel_ops;
		break;
	case MPKSHM_BACKEND_MEMFD:
		ch->ops = &mpkshm_memfd_ops;
		break;
	case MPKSHM_BACKEND_THREAD:
		ch->ops = &mpkshm_thread_ops;
		break;
	default:
		free(ch);
		return -EINVAL;
	}
	ch->kind = opts.backend ? opts.backend : MPKSHM_BACKEND_KERNEL;
	err = ch->ops->open(ch, name, &opts);
	if (err) {
		free(ch);
		return err;
	}
	ch->capacity = mpkshm_ring_capacity(ch->segment_size);
	if (ch->pkey >= 0)
		ch->protection |= MPKSHM_PROT_PKU;
	if (ch->signed_channel) {
		err = mpkshm_sign_load_key(ch, opts.secret_key_path);
		if (err) {
			ch->ops->close(ch);
			free(ch);
			return err;
		}
		ch->protection |= MPKSHM_PROT_SIGNED;
	}
	describe(ch);

	mpkshm_window_open(ch->pkey, true);
	if (ch->own_ring) {
		ch->own_ring->magic = MPKSHM_RING_MAGIC;
		ch->own_ring->member_id = ch->member_id;
	}
	for (i = 0; i < MPKSHM_MAX_MEMBERS; i++) {
		atomic_store(&ch->own_ctrl->cursors[i].writer_id, 0);
		atomic_store(&ch->own_ctrl->starts[i].reader_id, 0);
	}
	atomic_store(&ch->own_ctrl->send_only,
		     !!(ch->flags & MPKSHM_OPEN_SEND_ONLY));
	ch->dir_seq = UINT64_MAX;
	err = refresh_locked(ch);
	mpkshm_window_close(ch->pkey, true);
	if (err) {
		mpkshm_close(ch);
		return err;
	}
	*out = ch;
	return 0;
}

/* Whether every reader took everything this endpoint wrote. */
static int drained(struct mpkshm_channel *ch, void *arg)
{
	uint64_t head = atomic_load(&ch->own_ring->head);
	int err = refresh_locked(ch);

	(void)arg;
	if (err)
		return err;
	return writer_limit(ch, head) - ch->capacity == head;
}

MPKSHM_EXPORT int mpkshm_close(struct mpkshm_channel *ch)
{
	int err = 0;

	if (!ch)
		return -EINVAL;
	/* Windows this thread left open are closed with it. */
	if (ch->pid == getpid() && ch->reserved)
		mpkshm_abandon(ch);
	if (ch->pid == getpid() && ch->peeking) {
		ch->peeking = false;
		mpkshm_window_close(ch->pkey, false);
		unlock(ch, &ch->recv_lock);
	}
	if (ch->pid == getpid() && !atomic_load(&ch->revoked)) {
		if (ch->own_ring && ch->close_timeout_ms) {
			lock(ch, &ch->send_lock);
			mpkshm_window_open(ch->pkey, true);
			err = wait_until(ch, &ch->send_lock, drained, NULL,
					 MPKSHM_WAIT_SPACE,
					 deadline_after(ch->close_timeout_ms));
			mpkshm_window_close(ch->pkey, true);
			unlock(ch, &ch->send_lock);
			err = err < 0 ? err : 0;
		}
		ch->ops->close(ch);
	} else if (ch->pid == getpid()) {
		ch->ops->close(ch);
	}
	/* In a fork child the mappings and fds are not ours to touch. */
	free(ch->partial.bytes);
	mpkshm_sign_free_key(ch);
	pthread_mutex_destroy(&ch->send_lock);
	pthread_mutex_destroy(&ch->recv_lock);
	pthread_mutex_destroy(&ch->starts_lock);
	free(ch);
	return err;
}

MPKSHM_EXPORT int mpkshm_info(struct mpkshm_channel *ch,
			      struct mpkshm_info *info)
{
	int err = usable(ch);

	if (err)
		return err;
	memset(info, 0, sizeof(*info));
	info->backend = ch->kind;
	info->rights = ch->rights;
	info->protection = ch->protection;
	info->pkey = ch->pkey;
	info->slot = ch->slot;
	info->member_id = ch->member_id;
	info->max_members = ch->max_members;
	info->segment_size = ch->segment_size;
	info->max_message = max_payload(ch);
	return 0;
}

MPKSHM_EXPORT const char *mpkshm_protection_string(struct mpkshm_channel *ch)
{
	return ch ? ch->description : "no channel";
}

MPKSHM_EXPORT int mpkshm_members(struct mpkshm_channel *ch,
				 struct mpkshm_member *out, unsigned int room)
{
	int err = usable(ch);

	if (err)
		return err;
	return ch->ops->members(ch, out, room);
}

struct peer_search {
	uint64_t id;
};

static int writer_present(struct mpkshm_channel *ch, void *arg)
{
	struct peer_search *s = arg;
	unsigned int i;
	int err = refresh_locked(ch);

	if (err)
		return err;
	for (i = 0; i < ch->max_members; i++) {
		uint64_t id = peer_id(ch, i);

		if (i != ch->slot && id &&
		    __atomic_load_n(&ch->peers[i].rights, __ATOMIC_RELAXED) &
		    MPKSHM_RIGHT_WRITE) {
			s->id = id;
			return 1;
		}
	}
	return 0;
}

MPKSHM_EXPORT int mpkshm_find_peer(struct mpkshm_channel *ch,
				   uint64_t *member_id, int timeout_ms)
{
	struct peer_search s = { 0 };
	int ret = usable(ch);

	if (!ret)
		ret = enter_recv(ch);
	if (ret)
		return ret;
	mpkshm_window_open(ch->pkey, true);
	ret = wait_until(ch, &ch->recv_lock, writer_present, &s,
			 MPKSHM_WAIT_DATA, deadline_after(timeout_ms));
	mpkshm_window_close(ch->pkey, true);
	unlock(ch, &ch->recv_lock);
	if (ret < 0)
		return ret;
	*member_id = s.id;
	return 0;
}

MPKSHM_EXPORT int mpkshm_fd(struct mpkshm_channel *ch)
{
	int err = usable(ch);

	return err ? err : ch->fd;
}

MPKSHM_EXPORT int mpkshm_wait_prepare(struct mpkshm_channel *ch)
{
	struct found f = { .only_slot = -1 };
	int ret = check_reader(ch);

	if (!ret)
		ret = enter_recv(ch);
	if (ret)
		return ret;
	mpkshm_window_open(ch->pkey, true);
	ret = ch->ops->drain ? ch->ops->drain(ch) : 0;
	if (!ret) {
		/* As wait_until() does before it sleeps. */
		atomic_fetch_or(&ch->own_ctrl->waiting, MPKSHM_WAIT_DATA);
		atomic_thread_fence(memory_order_seq_cst);
		ret = find_next(ch, &f);
	}
	mpkshm_window_close(ch->pkey, true);
	unlock(ch, &ch->recv_lock);
	return ret < 0 ? ret : ret > 0;
}
