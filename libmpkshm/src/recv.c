// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Reading other members' rings: cursors, the writers' marks, and receiving
 * in place (peek and release).  Reassembling split messages is
 * reassemble.c's.
 *
 * A reader follows each writer's ring with two cursors, one for messages
 * (data and requests) and one for responses, each passing what is not its
 * class.  A writer may move its mark for us past records that are not for
 * us before it overwrites them (send.c): so a record header we read there
 * may be torn, and after reading one we look at the mark again, and go to
 * it if it moved past.  Records for us are overwritten only when the writer
 * drops us (a reply timeout), which it counts in its dropped[]: a read of
 * one is checked afterwards (mpkshm_read_was_whole()), and the loss
 * reported once as ENOBUFS.
 */
#include <errno.h>
#include <string.h>

#include "core.h"

/* Looks at one writer cut short by its mark moving, at most. */
#define MAX_MARK_MOVES	1000

/*
 * Our cursor for class @cls of writer @slot, set up when the writer is new
 * to us, at the mark the writer left us when it first saw us.  NULL while
 * it has not: until then it is not bound by us and may overwrite any
 * position we could pick, so there is nothing for us there yet.  It notes
 * us on its next call into the library, before it publishes anything more.
 */
static struct mpkshm_cursor *cursor_for(struct mpkshm_channel *ch,
					unsigned int slot, unsigned int cls,
					uint64_t writer)
{
	struct mpkshm_cursor *c = &ch->own_ctrl->cursors[slot];
	const struct mpkshm_mark *mk = &ch->peers[slot].ctrl->marks[ch->slot];
	uint64_t start;

	if (atomic_load_explicit(&c->writer_id[cls], memory_order_relaxed) ==
	    writer)
		return c;
	if (atomic_load_explicit(&mk->reader_id, memory_order_acquire) !=
	    ch->member_id)
		return NULL;
	start = atomic_load_explicit(&mk->pos[cls], memory_order_acquire);
	start &= ~(uint64_t)(MPKSHM_ALIGN - 1);
	atomic_store_explicit(&c->tail[cls], start, memory_order_relaxed);
	atomic_store_explicit(&c->writer_id[cls], writer, memory_order_release);
	return c;
}

/* The writer's mark for us in class @cls, 0 when it has none for us. */
static uint64_t mark_for_us(struct mpkshm_channel *ch, unsigned int slot,
			    unsigned int cls)
{
	const struct mpkshm_mark *mk = &ch->peers[slot].ctrl->marks[ch->slot];

	if (atomic_load_explicit(&mk->reader_id, memory_order_acquire) !=
	    ch->member_id)
		return 0;
	return atomic_load_explicit(&mk->pos[cls], memory_order_acquire);
}

/* Whether the writer dropped us since we last looked (once per drop). */
static bool dropped_us(struct mpkshm_channel *ch, unsigned int slot,
		       unsigned int cls)
{
	struct mpkshm_reading *r = &ch->peers[slot].reading[cls];
	uint16_t now = atomic_load_explicit(
		&ch->peers[slot].ctrl->dropped[ch->slot][cls],
		memory_order_acquire);

	if (now == r->dropped_seen)
		return false;
	r->dropped_seen = now;
	return true;
}

void mpkshm_consume(struct mpkshm_channel *ch, unsigned int slot,
		    unsigned int cls, uint64_t next)
{
	atomic_store_explicit(&ch->own_ctrl->cursors[slot].tail[cls], next,
			      memory_order_release);
	mpkshm_wake(ch, 1ull << slot, MPKSHM_WAIT_SPACE);
}

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

int mpkshm_read_was_whole(struct mpkshm_channel *ch,
			  const struct mpkshm_found *f, unsigned int cls)
{
	if (!writer_stayed(ch, f->slot, f->writer))
		return -ECONNRESET;
	return mark_for_us(ch, f->slot, cls) > f->pos ? -ENOBUFS : 0;
}

int mpkshm_look_at_writer(struct mpkshm_channel *ch, unsigned int slot,
			  unsigned int cls, struct mpkshm_found *f)
{
	struct mpkshm_peer *p = &ch->peers[slot];
	struct mpkshm_reading *r = &p->reading[cls];
	uint64_t writer = mpkshm_peer_id(ch, slot);
	const struct mpkshm_ring *ring;
	struct mpkshm_cursor *c;
	unsigned int moves;
	bool fresh;
	int ret;

	ring = (const struct mpkshm_ring *)__atomic_load_n(&p->seg,
							   __ATOMIC_ACQUIRE);
	if (!writer || !ring ||
	    !(__atomic_load_n(&p->rights, __ATOMIC_RELAXED) & MPKSHM_RIGHT_WRITE))
		return 0;
	if (r->id != writer)
		*r = (struct mpkshm_reading){ .id = writer };
	if (r->corrupt)
		return 0;
	/* Not set up by its owner yet (or not this writer's): nothing there. */
	if (__atomic_load_n(&ring->member_id, __ATOMIC_ACQUIRE) != writer)
		return 0;
	fresh = atomic_load_explicit(&ch->own_ctrl->cursors[slot].writer_id[cls],
				     memory_order_relaxed) != writer;
	c = cursor_for(ch, slot, cls, writer);
	if (!c)
		return 0;
	if (fresh && dropped_us(ch, slot, cls))
		return -ENOBUFS;
	for (moves = 0;;) {
		uint64_t tail = atomic_load_explicit(&c->tail[cls],
						     memory_order_relaxed);
		uint64_t mark = mark_for_us(ch, slot, cls);
		uint64_t head = atomic_load_explicit(&ring->head,
						     memory_order_acquire);
		const struct mpkshm_rec *h = &f->view.hdr;
		uint64_t moved;

		/* Nothing for us before the mark: go there. */
		if (mark > tail && mark <= head && !(mark % MPKSHM_ALIGN)) {
			atomic_store_explicit(&c->tail[cls], mark,
					      memory_order_release);
			if (dropped_us(ch, slot, cls))
				return -ENOBUFS;
			tail = mark;
		}
		ret = mpkshm_ring_look((const uint8_t *)(ring + 1), ch->capacity,
				       head, tail, &f->view);
		/*
		 * The header we copied may be torn if the mark moved past it
		 * meanwhile: look again from there.  An honest writer moves it
		 * at most once a lap; one that never stops moving it is
		 * corrupt.
		 */
		atomic_thread_fence(memory_order_acquire);
		moved = mark_for_us(ch, slot, cls);
		if (moved != mark && moved > tail) {
			if (++moves < MAX_MARK_MOVES)
				continue;
			ret = -EBADMSG;
		}
		if (ret < 0) {
			/* Zeros where a writer that just left used to be. */
			if (!writer_stayed(ch, slot, writer))
				return 0;
			r->corrupt = true;
			return ret;
		}
		if (!ret)
			return 0;
		if (h->kind == MPKSHM_REC_PAD ||
		    mpkshm_rec_class(h->kind) != cls ||
		    (h->dest != MPKSHM_TO_ALL && h->dest != ch->member_id)) {
			mpkshm_consume(ch, slot, cls, f->view.next);
			continue;
		}
		f->slot = slot;
		f->writer = writer;
		f->pos = tail;
		return 1;
	}
}

/*
 * The next message for us, round robin over the writers (or from
 * f->only_slot alone).  recv_lock held, key open.
 */
int mpkshm_find_message(struct mpkshm_channel *ch, void *arg)
{
	struct mpkshm_found *f = arg;
	uint64_t present, later;
	unsigned int n, i;
	int ret, err;

	err = mpkshm_refresh(ch);
	if (!err)
		err = mpkshm_partials_departed(ch);
	if (err)
		return err;
	if (f->only_slot >= 0)
		return mpkshm_look_at_writer(ch, (unsigned int)f->only_slot,
					     MPKSHM_CLASS_MSG, f);
	/* From next_writer on, then from the first: the writers there are. */
	present = mpkshm_present(ch);
	later = ch->next_writer < 64 ? ~0ull << ch->next_writer : 0;
	for (n = 0; n < 2; n++) {
		mpkshm_for_each_slot(i, present & (n ? ~later : later)) {
			ret = mpkshm_look_at_writer(ch, i, MPKSHM_CLASS_MSG, f);
			if (ret) {
				ch->next_writer = i + 1;
				return ret;
			}
		}
	}
	return 0;
}

int mpkshm_verify_record(struct mpkshm_channel *ch,
			 const struct mpkshm_found *f, unsigned int cls)
{
	const struct mpkshm_rec *h = &f->view.hdr;
	struct mpkshm_sign_what what = {
		.sender = f->writer, .seq = h->seq, .kind = h->kind,
		.status = h->status,
	};
	crypto_sign_state state;

	if (!ch->signed_channel)
		return 0;
	if (!(h->flags & MPKSHM_REC_SIGNED))
		return -EKEYREJECTED;
	mpkshm_sign_state_begin(&state, ch->name, &what);
	mpkshm_sign_update(&state, f->view.payload, h->len);
	return mpkshm_verify_end(ch, f->slot, &state, f->writer, h->seq,
				 &ch->peers[f->slot].reading[cls].last_seq,
				 f->view.payload + h->len);
}

int mpkshm_enter_recv(struct mpkshm_channel *ch, uint64_t deadline)
{
	return mpkshm_enter(ch, &ch->recv_lock, &ch->peeking, deadline);
}

MPKSHM_EXPORT int mpkshm_peek(struct mpkshm_channel *ch,
			      struct mpkshm_msg *msg, int timeout_ms)
{
	const uint16_t whole = MPKSHM_REC_FIRST | MPKSHM_REC_LAST;
	uint64_t deadline = mpkshm_deadline(timeout_ms);
	struct mpkshm_found f;
	int ret;

	ret = mpkshm_check_reader(ch);
	if (ret)
		return ret;
	if (!msg)
		return -EINVAL;
	mpkshm_unarm(ch);
	ret = mpkshm_enter_recv(ch, deadline);
	if (ret)
		return ret;
	mpkshm_window_open(ch->pkey, true);
	/* What a batch held is said first. */
	ret = mpkshm_take_held_error(ch);
	if (ret)
		goto done;
	for (;;) {
		f.only_slot = -1;
		ret = mpkshm_wait_until(ch, mpkshm_find_message,
					&f, MPKSHM_WAIT_DATA, deadline, 0);
		if (ret < 0)
			break;
		if (!(f.view.hdr.flags & MPKSHM_REC_FIRST)) {
			if (mpkshm_partial_of(ch, f.slot, f.writer)) {
				ret = -EMSGSIZE;	/* recv() is taking it */
				break;
			}
			/* The tail of a message whose start we never saw. */
			mpkshm_consume(ch, f.slot, MPKSHM_CLASS_MSG, f.view.next);
			continue;
		}
		if ((f.view.hdr.flags & whole) != whole) {
			ret = -EMSGSIZE;	/* split: mpkshm_recv() */
			break;
		}
		ret = mpkshm_verify_record(ch, &f, MPKSHM_CLASS_MSG);
		if (ret < 0) {
			/* Rejected: consumed, as mpkshm_recv() does, or it
			 * blocks every later message from that writer. */
			mpkshm_consume(ch, f.slot, MPKSHM_CLASS_MSG, f.view.next);
			break;
		}
		/* A message whose writer left went with it: the next one. */
		if (writer_stayed(ch, f.slot, f.writer))
			break;
	}
done:
	if (ret < 0) {
		mpkshm_window_close(ch->pkey, true);
		mpkshm_unlock(ch, &ch->recv_lock);
		return ret;
	}
	memset(msg, 0, sizeof(*msg));
	msg->data = f.view.payload;
	msg->len = f.view.hdr.len;
	msg->sender = f.writer;
	msg->sender_slot = f.slot;
	msg->seq = f.view.hdr.seq;
	msg->correlation = f.view.hdr.correlation;
	msg->_pos = f.pos;
	msg->_next = f.view.next;
	msg->_kind = f.view.hdr.kind;
	msg->_open = 1;
	ch->peeking = true;
	ch->peek_owner = pthread_self();
	/*
	 * The window stays as it is until release, recv_lock held: the
	 * message is in a view mapped read-only (every backend maps its
	 * peers' pages so), and a stray write into it faults there.  Not
	 * downgrading the key saves two PKRU writes per message
	 * (Documentation/design.md, "What protects what").
	 */
	return 0;
}

MPKSHM_EXPORT int mpkshm_release(struct mpkshm_channel *ch,
				 struct mpkshm_msg *msg)
{
	struct mpkshm_found f;
	int ret;

	if (!ch || !msg || !msg->_open || !ch->peeking)
		return -EINVAL;
	if (!pthread_equal(ch->peek_owner, pthread_self()))
		return -EPERM;
	msg->_open = 0;
	ch->peeking = false;
	/* The caller's reads of the message are behind us: were they whole? */
	f.slot = msg->sender_slot;
	f.writer = msg->sender;
	f.pos = msg->_pos;
	ret = mpkshm_read_was_whole(ch, &f, MPKSHM_CLASS_MSG);
	if (ret != -ENOBUFS && mpkshm_peer_is(ch, msg->sender_slot, msg->sender))
		mpkshm_consume(ch, msg->sender_slot, MPKSHM_CLASS_MSG,
			       msg->_next);
	mpkshm_window_close(ch->pkey, true);
	mpkshm_unlock(ch, &ch->recv_lock);
	if (atomic_load(&ch->revoked))
		return -EKEYREVOKED;
	return ret;
}

int mpkshm_message_waits(struct mpkshm_channel *ch)
{
	struct mpkshm_found f = { .only_slot = -1 };
	int ret;

	if (mpkshm_check_reader(ch))
		return 0;
	if (ch->peeking && pthread_equal(ch->peek_owner, pthread_self()))
		return -EBUSY;	/* this thread's peek is open */
	/*
	 * Another thread receiving (maybe asleep, holding recv_lock) takes
	 * what comes: the caller may sleep on the fd meanwhile.
	 */
	if (mpkshm_trylock(ch, &ch->recv_lock))
		return 0;
	if (ch->peeking) {
		mpkshm_unlock(ch, &ch->recv_lock);
		return 0;
	}
	/* A held error is news too: the receive it wakes says it. */
	ret = ch->held_error || mpkshm_partial_complete(ch) ? 1 :
	      mpkshm_find_message(ch, &f);
	mpkshm_unlock(ch, &ch->recv_lock);
	return ret;
}
