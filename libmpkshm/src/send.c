// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Writing: this endpoint's ring, zero copy and copying, whole and split.
 *
 * How far the head may grow is set by the readers that still have
 * something to read: for each reader and class (messages, responses), its
 * cursor, or the mark we left it, if anything of that class for it lies
 * ahead.  A reader with nothing ahead for it bounds nothing: we move its
 * mark to our head before we overwrite what it has not passed, and it jumps
 * there (recv.c).  So a member that is not involved never holds a writer
 * back; one that does not read what is for it sets the pace (back-
 * pressure), except for replies, which drop a reader that holds the ring
 * for longer than the reply timeout.
 */
#include <errno.h>
#include <string.h>

#include "core.h"

uint64_t mpkshm_max_payload(struct mpkshm_channel *ch)
{
	uint64_t room = ch->capacity - MPKSHM_REC_HDR;

	if (ch->signed_channel)
		room -= MPKSHM_SIG_BYTES;
	return room;
}

/* Where reader @i is in class @k of our ring: its cursor or our mark. */
static uint64_t reader_pos(struct mpkshm_channel *ch, unsigned int i,
			   unsigned int k)
{
	const struct mpkshm_cursor *c = &ch->peers[i].ctrl->cursors[ch->slot];
	uint64_t mark = atomic_load_explicit(&ch->own_ctrl->marks[i].pos[k],
					     memory_order_relaxed);
	uint64_t tail;

	if (atomic_load_explicit(&c->writer_id[k], memory_order_acquire) !=
	    ch->member_id)
		return mark;	/* has not looked at us yet: it starts there */
	tail = atomic_load_explicit(&c->tail[k], memory_order_acquire);
	return tail > mark ? tail : mark;
}

/* Where our last record of class @k for reader @i ends: its or everyone's. */
static uint64_t reader_last_end(const struct mpkshm_channel *ch,
				unsigned int i, unsigned int k)
{
	uint64_t mine = ch->last_for[i][k], all = ch->last_for_all[k];

	return mine > all ? mine : all;
}

/*
 * How far our head may grow, from @head (send_lock held).  Moves the marks
 * of readers that have nothing ahead; with @drop, also of those that would
 * keep us from @need more bytes (they lose what they had not read).  A
 * position outside [head - capacity, head] is a reader's bug or malice and
 * is ignored: it cannot make us overwrite what an honest reader has not
 * read.
 */
static uint64_t writer_limit(struct mpkshm_channel *ch, uint64_t head,
			     uint64_t need, bool drop)
{
	uint64_t min_tail = head;
	bool marked = false;
	unsigned int i, k;

	atomic_thread_fence(memory_order_seq_cst);
	pthread_mutex_lock(&ch->marks_lock);
	mpkshm_for_each_slot(i, mpkshm_present(ch)) {
		struct mpkshm_mark *mk = &ch->own_ctrl->marks[i];
		uint64_t id = mpkshm_peer_id(ch, i);

		if (!id ||
		    !(__atomic_load_n(&ch->peers[i].rights, __ATOMIC_RELAXED) &
		      MPKSHM_RIGHT_READ) ||
		    atomic_load_explicit(&ch->peers[i].ctrl->send_only,
					 memory_order_relaxed) ||
		    atomic_load_explicit(&mk->reader_id,
					 memory_order_relaxed) != id)
			continue;
		for (k = 0; k < MPKSHM_CLASSES; k++) {
			uint64_t t = reader_pos(ch, i, k);
			uint64_t last = reader_last_end(ch, i, k);

			if (t > head || head - t > ch->capacity)
				continue;
			if (t >= last ||
			    (drop && t + ch->capacity < head + need)) {
				if (t < head) {
					atomic_store_explicit(&mk->pos[k], head,
							      memory_order_release);
					marked = true;
				}
				if (t < last) {
					atomic_fetch_add(&ch->own_ctrl->dropped[i][k], 1);
					mpkshm_count(ch, MPKSHM_STAT_READERS_DROPPED);
				}
				continue;
			}
			if (t < min_tail)
				min_tail = t;
		}
	}
	pthread_mutex_unlock(&ch->marks_lock);
	/* Every moved mark is seen before anything we write behind it. */
	if (marked)
		atomic_thread_fence(memory_order_seq_cst);
	return min_tail + ch->capacity;
}

struct space_need {
	uint64_t head;
	uint64_t bytes;
};

static int space_ready(struct mpkshm_channel *ch, void *arg)
{
	struct space_need *need = arg;
	int err = mpkshm_refresh(ch);

	if (err)
		return err;
	ch->space_until = writer_limit(ch, need->head, need->bytes, false);
	return ch->space_until - need->head >= need->bytes;
}

/*
 * Waits until the head may grow by @bytes from @head: fast when it may.
 * At @drop_by, readers that still hold the room are dropped.
 */
static int wait_for_room(struct mpkshm_channel *ch, uint64_t head,
			 uint64_t bytes, uint64_t deadline, uint64_t drop_by,
			 unsigned int flags)
{
	struct space_need need = { .head = head, .bytes = bytes };
	int ret;

	if (ch->space_until - head >= bytes)
		return 0;
	ret = mpkshm_wait_until(ch, space_ready, &need,
				MPKSHM_WAIT_SPACE, mpkshm_min(deadline, drop_by),
				flags);
	if (ret != -ETIMEDOUT || drop_by >= deadline)
		return ret < 0 ? ret : 0;
	ch->space_until = writer_limit(ch, head, bytes, true);
	return 0;
}

/*
 * Makes room for a record with @len payload bytes at the head (adding a
 * pad record when it would not fit before the ring's end) and returns where
 * it starts.  send_lock held, key open for writing.
 */
static int64_t make_room(struct mpkshm_channel *ch, uint64_t len, bool sig,
			 uint64_t deadline, uint64_t drop_by,
			 unsigned int flags)
{
	struct mpkshm_ring *ring = ch->own_ring;
	uint8_t *data = (uint8_t *)(ring + 1);
	uint64_t head = ch->head;
	uint64_t size = mpkshm_rec_size(len, sig);
	uint64_t off = head % ch->capacity, pad = 0;
	int ret;

	/*
	 * The pad goes first, on its own: waiting for pad and record at once
	 * could wait for more than a ring (a record over half of it).  It is
	 * for nobody, so no reader needs waking to pass it.
	 */
	if (ch->capacity - off < size)
		pad = ch->capacity - off;
	if (pad) {
		struct mpkshm_rec *rec = (struct mpkshm_rec *)(data + off);

		ret = wait_for_room(ch, head, pad, deadline, drop_by, flags);
		if (ret < 0)
			return ret;
		memset(rec, 0, sizeof(*rec));
		rec->kind = MPKSHM_REC_PAD;
		rec->len = (uint32_t)(pad - MPKSHM_REC_HDR);
		head += pad;
		ch->head = head;
		atomic_store_explicit(&ring->head, head, memory_order_release);
	}
	ret = wait_for_room(ch, head, size, deadline, drop_by, flags);
	if (ret < 0)
		return ret;
	return (int64_t)head;
}

struct record {
	uint32_t len;
	uint16_t kind;
	uint16_t flags;
	uint64_t seq;
	uint64_t dest;
	uint64_t correlation;
	uint64_t total;
	int32_t status;
};

/* Writes a record's header at @pos, publishes it and rings its readers. */
static void publish(struct mpkshm_channel *ch, uint64_t pos,
		    const struct record *r)
{
	struct mpkshm_ring *ring = ch->own_ring;
	uint8_t *data = (uint8_t *)(ring + 1);
	struct mpkshm_rec *rec = (struct mpkshm_rec *)(data + pos % ch->capacity);
	uint64_t end = pos + mpkshm_rec_size(r->len, r->flags & MPKSHM_REC_SIGNED);
	unsigned int i, cls = mpkshm_rec_class(r->kind);
	uint64_t readers = 0;

	rec->len = r->len;
	rec->kind = r->kind;
	rec->flags = r->flags;
	rec->seq = r->seq;
	rec->dest = r->dest;
	rec->correlation = r->correlation;
	rec->total = r->total;
	rec->status = r->status;
	rec->reserved = 0;
	if (r->dest == MPKSHM_TO_ALL) {
		ch->last_for_all[cls] = end;
		readers = mpkshm_present(ch);
	} else {
		mpkshm_for_each_slot(i, mpkshm_present(ch)) {
			if (mpkshm_peer_id(ch, i) != r->dest)
				continue;
			readers |= 1ull << i;
			ch->last_for[i][cls] = end;
		}
	}
	ch->head = end;
	atomic_store_explicit(&ring->head, end, memory_order_release);
	mpkshm_wake(ch, readers, MPKSHM_WAIT_DATA);
}

static int enter_send(struct mpkshm_channel *ch, uint64_t deadline)
{
	return mpkshm_enter(ch, &ch->send_lock, &ch->reserved, deadline);
}

int mpkshm_reserve_record(struct mpkshm_channel *ch, size_t len, void **buf,
			  uint64_t deadline, unsigned int flags)
{
	uint64_t drop_by = UINT64_MAX;
	unsigned int wait_flags = 0;
	int64_t pos;
	int err;

	err = mpkshm_check_writer(ch);
	if (err)
		return err;
	mpkshm_unarm_space(ch);
	if (!buf)
		return -EINVAL;
	/* Before any sum: SIZE_MAX - 47 must not wrap into a small record. */
	if (len > mpkshm_max_payload(ch))
		return -EMSGSIZE;
	if (flags & MPKSHM_SEND_REPLY) {
		drop_by = mpkshm_deadline(ch->reply_timeout_ms);
		wait_flags = MPKSHM_WAIT_STOPPABLE;
	}
	err = enter_send(ch, deadline);
	if (err)
		return err;
	mpkshm_window_open(ch->pkey, true);
	err = mpkshm_refresh(ch);
	pos = err ? err : make_room(ch, len, ch->signed_channel, deadline,
				    drop_by, wait_flags);
	if (pos < 0) {
		mpkshm_window_close(ch->pkey, true);
		mpkshm_unlock(ch, &ch->send_lock);
		return (int)pos;
	}
	ch->reserved = true;
	ch->res_owner = pthread_self();
	ch->res_pos = (uint64_t)pos;
	ch->res_room = len;
	*buf = (uint8_t *)(ch->own_ring + 1) + ch->res_pos % ch->capacity +
	       MPKSHM_REC_HDR;
	/* The window and send_lock stay held until commit or abandon. */
	return 0;
}

MPKSHM_EXPORT int mpkshm_reserve(struct mpkshm_channel *ch, size_t len,
				 void **buf, int timeout_ms)
{
	return mpkshm_reserve_record(ch, len, buf, mpkshm_deadline(timeout_ms),
				     0);
}

/* The reservation is this thread's: EINVAL none, EPERM another's. */
int mpkshm_own_reservation(struct mpkshm_channel *ch)
{
	if (!ch || !ch->reserved)
		return -EINVAL;
	return pthread_equal(ch->res_owner, pthread_self()) ? 0 : -EPERM;
}

int mpkshm_commit_record(struct mpkshm_channel *ch, size_t len, uint16_t kind,
			 uint64_t dest, uint64_t correlation, int32_t status)
{
	struct record r = {
		.len = (uint32_t)len, .kind = kind,
		.flags = MPKSHM_REC_FIRST | MPKSHM_REC_LAST,
		.dest = dest, .correlation = correlation, .total = len,
		.status = status,
	};
	uint8_t *payload;
	int err = mpkshm_own_reservation(ch);

	if (err)
		return err;
	if (len > ch->res_room)
		return -EMSGSIZE;
	r.seq = ++ch->next_seq;
	payload = (uint8_t *)(ch->own_ring + 1) + ch->res_pos % ch->capacity +
		  MPKSHM_REC_HDR;
	if (ch->signed_channel) {
		struct mpkshm_sign_what what = {
			.sender = ch->member_id, .seq = r.seq, .kind = r.kind,
			.status = r.status,
		};
		crypto_sign_state state;

		r.flags |= MPKSHM_REC_SIGNED;
		mpkshm_sign_state_begin(&state, ch->name, &what);
		mpkshm_sign_update(&state, payload, len);
		mpkshm_sign_end(ch, &state, payload + len);
	}
	publish(ch, ch->res_pos, &r);
	ch->reserved = false;
	mpkshm_window_close(ch->pkey, true);
	mpkshm_unlock(ch, &ch->send_lock);
	return 0;
}

static int reach(struct mpkshm_channel *ch, uint64_t dest);

MPKSHM_EXPORT int mpkshm_commit(struct mpkshm_channel *ch, size_t len,
				uint64_t dest)
{
	int err = mpkshm_own_reservation(ch);

	if (err)
		return err;
	if (len > ch->res_room)
		return -EMSGSIZE;	/* the reservation stays, to fix */
	/*
	 * As mpkshm_send(): a member that is gone is EPIPE, and nothing is
	 * published for no one to read.  The reservation goes with it.
	 */
	err = reach(ch, dest);
	if (err) {
		mpkshm_abandon(ch);
		return err;
	}
	return mpkshm_commit_record(ch, len, MPKSHM_REC_DATA, dest, 0, 0);
}

MPKSHM_EXPORT int mpkshm_abandon(struct mpkshm_channel *ch)
{
	int err = mpkshm_own_reservation(ch);

	if (err)
		return err;
	ch->reserved = false;
	mpkshm_window_close(ch->pkey, true);
	mpkshm_unlock(ch, &ch->send_lock);
	return 0;
}

/*
 * The largest record of a message of @len bytes: all of it when it fits
 * the ring, else fragments of a quarter of the ring, so a reader copies
 * one while the writer fills the next.
 */
static uint64_t chunk_max_for(struct mpkshm_channel *ch, uint64_t len)
{
	uint64_t chunk_max = mpkshm_max_payload(ch);

	if (len > chunk_max && chunk_max > 4 * MPKSHM_ALIGN)
		chunk_max = (ch->capacity / 4) & ~(uint64_t)(MPKSHM_ALIGN - 1);
	return chunk_max;
}

int mpkshm_room_now(struct mpkshm_channel *ch, uint64_t len)
{
	uint64_t chunk_max = chunk_max_for(ch, len), head, chunk, size, off,
		 need;
	int ret;

	/* Busy: that sender, or this thread's own reservation, finds out. */
	if (enter_send(ch, 0))
		return 1;
	mpkshm_window_open(ch->pkey, true);
	ret = mpkshm_refresh(ch);
	if (!ret) {
		chunk = len < chunk_max ? len : chunk_max;
		size = mpkshm_rec_size(chunk, ch->signed_channel && chunk == len);
		head = ch->head;
		off = head % ch->capacity;
		/* As make_room(): a pad first when it would not fit the end. */
		need = size + (ch->capacity - off < size ? ch->capacity - off : 0);
		ch->space_until = writer_limit(ch, head, need, false);
		ret = ch->space_until - head >= need;
	}
	mpkshm_window_close(ch->pkey, true);
	mpkshm_unlock(ch, &ch->send_lock);
	return ret;
}

/*
 * Sends a whole message as one record or as fragments (chunk_max_for()).
 * send_lock held, key open for writing.
 */
static int send_locked(struct mpkshm_channel *ch, struct record *r,
		       const void *buf, size_t len, uint64_t deadline,
		       uint64_t drop_by, unsigned int flags, bool *published)
{
	uint64_t chunk_max = chunk_max_for(ch, len), done = 0;
	uint8_t *data = (uint8_t *)(ch->own_ring + 1);
	struct mpkshm_sign_what what;
	crypto_sign_state state;
	r->seq = ++ch->next_seq;
	r->total = len;
	if (ch->signed_channel) {
		what = (struct mpkshm_sign_what){
			.sender = ch->member_id, .seq = r->seq,
			.kind = r->kind, .status = r->status,
		};
		mpkshm_sign_state_begin(&state, ch->name, &what);
	}
	do {
		uint64_t chunk = len - done < chunk_max ? len - done : chunk_max;
		uint8_t *payload;
		int64_t pos;

		r->flags = 0;
		if (done == 0)
			r->flags |= MPKSHM_REC_FIRST;
		if (done + chunk == len)
			r->flags |= MPKSHM_REC_LAST;
		if (ch->signed_channel && r->flags & MPKSHM_REC_LAST)
			r->flags |= MPKSHM_REC_SIGNED;
		pos = make_room(ch, chunk, r->flags & MPKSHM_REC_SIGNED,
				deadline, drop_by, flags);
		if (pos < 0)
			return (int)pos;
		payload = data + (uint64_t)pos % ch->capacity + MPKSHM_REC_HDR;
		if (chunk)	/* an empty message may come with no buffer */
			memcpy(payload, (const uint8_t *)buf + done, chunk);
		if (ch->signed_channel) {
			mpkshm_sign_update(&state, payload, chunk);
			if (r->flags & MPKSHM_REC_LAST)
				mpkshm_sign_end(ch, &state, payload + chunk);
		}
		r->len = (uint32_t)chunk;
		publish(ch, (uint64_t)pos, r);
		if (published)
			*published = true;
		done += chunk;
	} while (done < len);
	return 0;
}

/* Whether @member is a member of the channel now. */
static bool is_member(struct mpkshm_channel *ch, uint64_t member)
{
	unsigned int i;

	mpkshm_for_each_slot(i, mpkshm_present(ch))
		if (mpkshm_peer_id(ch, i) == member)
			return true;
	return false;
}

/* Takes the send lock and opens the key: end_send() gives both back. */
static int begin_send(struct mpkshm_channel *ch, uint64_t deadline)
{
	int err = enter_send(ch, deadline);

	if (!err)
		mpkshm_window_open(ch->pkey, true);
	return err;
}

/* The directory as it is now; EPIPE if @dest is not in it. */
static int reach(struct mpkshm_channel *ch, uint64_t dest)
{
	int err = mpkshm_refresh(ch);

	if (!err && dest != MPKSHM_TO_ALL && !is_member(ch, dest))
		err = -EPIPE;
	return err;
}

static void end_send(struct mpkshm_channel *ch)
{
	mpkshm_window_close(ch->pkey, true);
	mpkshm_unlock(ch, &ch->send_lock);
}

int mpkshm_send_message(struct mpkshm_channel *ch, uint16_t kind,
			uint64_t dest, uint64_t correlation, int32_t status,
			const void *buf, size_t len, uint64_t deadline,
			unsigned int flags, bool *published)
{
	struct record r = {
		.kind = kind, .dest = dest, .correlation = correlation,
		.status = status,
	};
	uint64_t drop_by = UINT64_MAX;
	unsigned int wait_flags = 0;
	int err;

	err = mpkshm_check_writer(ch);
	if (err)
		return err;
	mpkshm_unarm_space(ch);
	if (flags & MPKSHM_SEND_REPLY) {
		drop_by = mpkshm_deadline(ch->reply_timeout_ms);
		wait_flags = MPKSHM_WAIT_STOPPABLE;
	}
	err = begin_send(ch, deadline);
	if (err)
		return err;
	err = reach(ch, dest);
	if (!err)
		err = send_locked(ch, &r, buf, len, deadline, drop_by,
				  wait_flags, published);
	end_send(ch);
	return err;
}

MPKSHM_EXPORT int mpkshm_send(struct mpkshm_channel *ch, uint64_t dest,
			      const void *buf, size_t len, int timeout_ms)
{
	if (!buf && len)
		return -EINVAL;
	return mpkshm_send_message(ch, MPKSHM_REC_DATA, dest, 0, 0, buf, len,
				   mpkshm_deadline(timeout_ms), 0, NULL);
}

MPKSHM_EXPORT int mpkshm_send_many(struct mpkshm_channel *ch, uint64_t dest,
				   const struct iovec *msgs, unsigned int n,
				   int timeout_ms)
{
	uint64_t deadline = mpkshm_deadline(timeout_ms);
	unsigned int i, sent = 0;
	int err;

	if (!msgs || !n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!msgs[i].iov_base && msgs[i].iov_len)
			return -EINVAL;
	err = mpkshm_check_writer(ch);
	if (err)
		return err;
	mpkshm_unarm_space(ch);
	/* One window for the whole batch: two PKRU writes, not 2 * n. */
	err = begin_send(ch, deadline);
	if (err)
		return err;
	err = reach(ch, dest);
	for (i = 0; !err && i < n; i++) {
		struct record r = { .kind = MPKSHM_REC_DATA, .dest = dest };

		err = send_locked(ch, &r, msgs[i].iov_base, msgs[i].iov_len,
				  deadline, UINT64_MAX, 0, NULL);
		if (!err)
			sent++;
	}
	end_send(ch);
	return sent ? (int)sent : err;
}

int mpkshm_drained(struct mpkshm_channel *ch, void *arg)
{
	uint64_t head = ch->head;
	int err = mpkshm_refresh(ch);

	(void)arg;
	if (err)
		return err;
	return writer_limit(ch, head, 0, false) - ch->capacity == head;
}
