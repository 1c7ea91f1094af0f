// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Receiving whole messages: copying one-record messages out, and
 * reassembling split ones.
 *
 * A split message arrives as fragments of a quarter ring (FIRST ... LAST,
 * one sequence number, its total length in each).  While its fragments
 * keep coming, mpkshm_recv() follows that one writer and copies them
 * straight into the caller's buffer.  When the next fragment is late (past
 * FRAGMENT_PATIENCE_NS, or the caller's deadline), what was taken is
 * parked: copied to a buffer of its own, one per writer, and taken up again
 * as its fragments come, while the other writers are served.  So a timeout
 * loses nothing, and a writer that stops half way through a message holds
 * back no one but itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* How long one writer's next fragment may keep the others waiting. */
#define FRAGMENT_PATIENCE_NS	10000000u

struct mpkshm_partial *mpkshm_partial_of(struct mpkshm_channel *ch,
					 unsigned int slot, uint64_t writer)
{
	struct mpkshm_partial *p = ch->partial[slot];

	return p && p->writer == writer ? p : NULL;
}

static void partial_drop(struct mpkshm_channel *ch, unsigned int slot)
{
	struct mpkshm_partial *p = ch->partial[slot];

	if (!p)
		return;
	if (p->parked)
		free(p->bytes);
	free(p);
	ch->partial[slot] = NULL;
	ch->partials--;
}

void mpkshm_partials_free(struct mpkshm_channel *ch)
{
	unsigned int i;

	for (i = 0; i < MPKSHM_MAX_MEMBERS; i++)
		partial_drop(ch, i);
}

bool mpkshm_partial_complete(struct mpkshm_channel *ch)
{
	unsigned int i;

	for (i = 0; ch->partials && i < ch->max_members; i++)
		if (ch->partial[i] && ch->partial[i]->complete)
			return true;
	return false;
}

int mpkshm_partials_departed(struct mpkshm_channel *ch)
{
	unsigned int i;

	for (i = 0; ch->partials && i < ch->max_members; i++) {
		struct mpkshm_partial *p = ch->partial[i];

		if (!p || p->complete ||
		    mpkshm_peer_is(ch, i, p->writer))
			continue;
		partial_drop(ch, i);
		return -ECONNRESET;
	}
	return 0;
}

/* The message's fields for the caller, from its first fragment. */
static void fill_info(struct mpkshm_msg *info, const struct mpkshm_found *f)
{
	const struct mpkshm_rec *h = &f->view.hdr;

	if (!info)
		return;
	memset(info, 0, sizeof(*info));
	info->len = h->total;
	info->sender = f->writer;
	info->sender_slot = f->slot;
	info->seq = h->seq;
	info->correlation = h->correlation;
	info->_kind = h->kind;
}

/*
 * The fragments we took into the caller's buffer go to a buffer of their
 * own.  ENOMEM: they cannot; the message is lost (its other fragments are
 * passed over as they come).
 */
static int park(struct mpkshm_channel *ch, unsigned int slot)
{
	struct mpkshm_partial *p = ch->partial[slot];
	uint8_t *bytes;

	if (!p || p->parked || !p->bytes)
		return 0;
	bytes = malloc(p->total ? p->total : 1);
	if (!bytes) {
		p->bytes = NULL;	/* discard the rest */
		return -ENOMEM;
	}
	memcpy(bytes, p->bytes, p->got);
	p->bytes = bytes;
	p->parked = true;
	return 0;
}

/* Delivers a message that was whole but did not fit an earlier buffer. */
static ssize_t deliver_complete(struct mpkshm_channel *ch, void *buf,
				size_t cap, struct mpkshm_msg *info)
{
	unsigned int i;
	ssize_t len;

	for (i = 0; ch->partials && i < ch->max_members; i++) {
		struct mpkshm_partial *p = ch->partial[i];

		if (!p || !p->complete)
			continue;
		if (info) {
			memset(info, 0, sizeof(*info));
			*info = p->info;
		}
		if (p->total > cap)
			return -EMSGSIZE;
		memcpy(buf, p->bytes, p->total);
		len = (ssize_t)p->total;
		partial_drop(ch, i);
		return len;
	}
	return 0;
}

/* A one-record message, copied out. */
static ssize_t take_whole(struct mpkshm_channel *ch,
			  const struct mpkshm_found *f, void *buf)
{
	const struct mpkshm_rec *h = &f->view.hdr;
	ssize_t ret;

	memcpy(buf, f->view.payload, h->len);
	ret = mpkshm_read_was_whole(ch, f, MPKSHM_CLASS_MSG);
	if (ret == -ECONNRESET)
		return -EAGAIN;	/* it went with its writer: the next one */
	if (ret)
		return ret;
	ret = mpkshm_verify_record(ch, f, MPKSHM_CLASS_MSG);
	mpkshm_consume(ch, f->slot, MPKSHM_CLASS_MSG, f->view.next);
	return ret ? ret : (ssize_t)h->len;
}

/* A first fragment: the message is ours to take, into @buf. */
static int begin(struct mpkshm_channel *ch, const struct mpkshm_found *f,
		 void *buf, bool discard)
{
	const struct mpkshm_rec *h = &f->view.hdr;
	struct mpkshm_partial *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->bytes = discard ? NULL : buf;
	p->total = h->total;
	p->seq = h->seq;
	p->writer = f->writer;
	fill_info(&p->info, f);
	if (ch->signed_channel) {
		struct mpkshm_sign_what what = {
			.sender = f->writer, .seq = h->seq, .kind = h->kind,
		};

		mpkshm_sign_state_begin(&p->sign, ch->name, &what);
	}
	ch->partial[f->slot] = p;
	ch->partials++;
	return 0;
}

/*
 * The next fragment of @p.  0 when more are to come, the length when the
 * message is whole in the caller's buffer, EMSGSIZE when it is whole but
 * larger than @cap (kept), or an error that ends the message.
 */
static ssize_t take_fragment(struct mpkshm_channel *ch,
			     const struct mpkshm_found *f,
			     struct mpkshm_partial *p, void *buf, size_t cap)
{
	const struct mpkshm_rec *h = &f->view.hdr;
	ssize_t ret;

	if (h->seq != p->seq || h->total != p->total ||
	    h->len > p->total - p->got || (p->got && h->flags & MPKSHM_REC_FIRST)) {
		ret = mpkshm_read_was_whole(ch, f, MPKSHM_CLASS_MSG);
		if (!ret) {
			ch->peers[f->slot].reading[MPKSHM_CLASS_MSG].corrupt = true;
			ret = -EBADMSG;
		}
		partial_drop(ch, f->slot);
		return ret;
	}
	if (p->bytes)
		memcpy(p->bytes + p->got, f->view.payload, h->len);
	ret = mpkshm_read_was_whole(ch, f, MPKSHM_CLASS_MSG);
	if (ret) {
		partial_drop(ch, f->slot);
		return ret;
	}
	if (ch->signed_channel && p->bytes)
		mpkshm_sign_update(&p->sign, p->bytes + p->got, h->len);
	p->got += h->len;
	if (!(h->flags & MPKSHM_REC_LAST)) {
		mpkshm_consume(ch, f->slot, MPKSHM_CLASS_MSG, f->view.next);
		return 0;
	}
	ret = 0;
	if (p->got != p->total) {
		ch->peers[f->slot].reading[MPKSHM_CLASS_MSG].corrupt = true;
		ret = -EBADMSG;
	} else if (ch->signed_channel && p->bytes) {
		ret = h->flags & MPKSHM_REC_SIGNED ?
		      mpkshm_verify_end(ch, f->slot, &p->sign, f->writer, p->seq,
					&ch->peers[f->slot].reading[MPKSHM_CLASS_MSG].last_seq,
					f->view.payload + h->len) :
		      -EKEYREJECTED;
	}
	mpkshm_consume(ch, f->slot, MPKSHM_CLASS_MSG, f->view.next);
	if (ret || !p->bytes) {		/* rejected, or discarded whole */
		partial_drop(ch, f->slot);
		return ret ? ret : -EAGAIN;
	}
	if (!p->parked) {
		ret = (ssize_t)p->total;	/* already in @buf */
	} else if (p->total <= cap) {
		memcpy(buf, p->bytes, p->total);
		ret = (ssize_t)p->total;
	} else {
		p->complete = true;
		return -EMSGSIZE;
	}
	partial_drop(ch, f->slot);
	return ret;
}

/*
 * Takes the record @f found: -EAGAIN when that did not finish a message
 * for the caller.  @follow: the slot whose split message goes into @buf.
 */
static ssize_t take(struct mpkshm_channel *ch, const struct mpkshm_found *f,
		    void *buf, size_t cap, struct mpkshm_msg *info,
		    int *follow)
{
	const struct mpkshm_rec *h = &f->view.hdr;
	struct mpkshm_partial *p = ch->partial[f->slot];
	ssize_t ret;
	int err;

	if (p && p->writer != f->writer) {
		partial_drop(ch, f->slot);
		p = NULL;
	}
	if (h->flags & MPKSHM_REC_FIRST) {
		/* Its writer gave up on the one before (a send timed out). */
		if (p && !p->complete) {
			partial_drop(ch, f->slot);
			p = NULL;
		}
		if (p) {	/* whole, waiting for a larger buffer */
			if (info)
				*info = p->info;
			return -EMSGSIZE;
		}
		fill_info(info, f);
		if (h->total > cap)
			return -EMSGSIZE;	/* left queued */
		if (h->flags & MPKSHM_REC_LAST)
			return take_whole(ch, f, buf);
		err = begin(ch, f, buf, false);
		if (err)
			return err;
		*follow = (int)f->slot;
		p = ch->partial[f->slot];
	} else if (!p || p->complete) {
		/* The tail of a message whose start we never saw. */
		mpkshm_consume(ch, f->slot, MPKSHM_CLASS_MSG, f->view.next);
		return -EAGAIN;
	}
	ret = take_fragment(ch, f, p, buf, cap);
	if (ret == -EMSGSIZE && info)
		*info = ch->partial[f->slot]->info;
	if (ret || !ch->partial[f->slot])
		*follow = -1;
	return ret ? ret : -EAGAIN;
}

int mpkshm_take_held_error(struct mpkshm_channel *ch)
{
	int err = ch->held_error;

	ch->held_error = 0;
	return err;
}

/* recv_lock held, key open for writing. */
static ssize_t recv_locked(struct mpkshm_channel *ch, void *buf, size_t cap,
			   struct mpkshm_msg *info, uint64_t deadline,
			   unsigned int wait_flags)
{
	uint64_t patience = 0, until;
	struct mpkshm_found f;
	int follow = -1, err;
	ssize_t ret;

	ret = mpkshm_take_held_error(ch);
	if (!ret)
		ret = deliver_complete(ch, buf, cap, info);
	if (ret)
		return ret;
	for (;;) {
		f.only_slot = follow;
		until = follow >= 0 ? mpkshm_min(deadline, patience) : deadline;
		ret = mpkshm_wait_until(ch, mpkshm_find_message,
					&f, MPKSHM_WAIT_DATA, until, wait_flags);
		if (ret == 1) {
			ret = take(ch, &f, buf, cap, info, &follow);
			/* Each fragment taken gives the writer time for one more. */
			if (follow >= 0)
				patience = mpkshm_now_ns() + FRAGMENT_PATIENCE_NS;
			if (ret != -EAGAIN)
				break;
			continue;
		}
		if (follow >= 0) {
			/* That writer is slow: keep its part, serve others. */
			err = park(ch, (unsigned int)follow);
			follow = -1;
			if (err)
				return err;
			if (ret == -ETIMEDOUT && mpkshm_now_ns() < deadline)
				continue;
		}
		break;
	}
	if (follow >= 0 && ret < 0) {
		err = park(ch, (unsigned int)follow);
		if (err)
			return err;
	}
	return ret;
}

ssize_t mpkshm_recv_message(struct mpkshm_channel *ch, void *buf, size_t cap,
			    struct mpkshm_msg *info, uint64_t deadline,
			    unsigned int flags)
{
	ssize_t ret;

	ret = mpkshm_check_reader(ch);
	if (ret)
		return ret;
	if (!buf && cap)
		return -EINVAL;
	mpkshm_unarm(ch);
	ret = mpkshm_enter_recv(ch, deadline);
	if (ret)
		return ret;
	mpkshm_window_open(ch->pkey, true);
	ret = recv_locked(ch, buf, cap, info, deadline,
			  flags & MPKSHM_RECV_STOPPABLE ? MPKSHM_WAIT_STOPPABLE : 0);
	mpkshm_window_close(ch->pkey, true);
	mpkshm_unlock(ch, &ch->recv_lock);
	return ret;
}

MPKSHM_EXPORT ssize_t mpkshm_recv(struct mpkshm_channel *ch, void *buf,
				  size_t cap, struct mpkshm_msg *info,
				  int timeout_ms)
{
	return mpkshm_recv_message(ch, buf, cap, info,
				   mpkshm_deadline(timeout_ms), 0);
}

MPKSHM_EXPORT int mpkshm_recv_many(struct mpkshm_channel *ch,
				   struct mpkshm_recv_buf *bufs, unsigned int n,
				   int timeout_ms)
{
	uint64_t deadline = mpkshm_deadline(timeout_ms);
	unsigned int i;
	ssize_t ret;

	if (!bufs || !n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!bufs[i].buf && bufs[i].cap)
			return -EINVAL;
	ret = mpkshm_check_reader(ch);
	if (ret)
		return (int)ret;
	mpkshm_unarm(ch);
	ret = mpkshm_enter_recv(ch, deadline);
	if (ret)
		return (int)ret;
	/* One window for the whole batch: two PKRU writes, not 2 * n. */
	mpkshm_window_open(ch->pkey, true);
	for (i = 0; i < n; i++) {
		/* Only the first waits: the rest take what is there. */
		ret = recv_locked(ch, bufs[i].buf, bufs[i].cap, &bufs[i].info,
				  i ? 0 : deadline, 0);
		if (ret < 0)
			break;
		bufs[i].len = (size_t)ret;
	}
	/*
	 * An error after the first message is the next call's to say.  Some
	 * are said only once (the ring that was garbage is skipped from now
	 * on), so it is held; a message still queued (EMSGSIZE) says itself
	 * again, and an empty ring is no error.
	 */
	if (i && ret < 0 && ret != -ETIMEDOUT && ret != -EAGAIN &&
	    ret != -EMSGSIZE)
		ch->held_error = (int)ret;
	mpkshm_window_close(ch->pkey, true);
	mpkshm_unlock(ch, &ch->recv_lock);
	return i ? (int)i : (int)ret;
}

int mpkshm_recv_discard(struct mpkshm_channel *ch,
			const struct mpkshm_msg *info)
{
	struct mpkshm_partial *p;
	struct mpkshm_found f = { .only_slot = (int)info->sender_slot };
	int ret;

	if (info->sender_slot >= ch->max_members)
		return -EINVAL;
	ret = mpkshm_enter_recv(ch, UINT64_MAX);
	if (ret)
		return ret;
	mpkshm_window_open(ch->pkey, true);
	p = mpkshm_partial_of(ch, info->sender_slot, info->sender);
	if (p && p->complete) {
		partial_drop(ch, info->sender_slot);	/* whole, too large */
		ret = 1;
	} else {
		ret = mpkshm_find_message(ch, &f);
	}
	if (ret == 1 && !p && f.writer == info->sender &&
	    f.view.hdr.seq == info->seq && f.view.hdr.flags & MPKSHM_REC_FIRST) {
		if (f.view.hdr.flags & MPKSHM_REC_LAST)
			ret = 0;
		else
			ret = begin(ch, &f, NULL, true);
		mpkshm_consume(ch, f.slot, MPKSHM_CLASS_MSG, f.view.next);
	}
	mpkshm_window_close(ch->pkey, true);
	mpkshm_unlock(ch, &ch->recv_lock);
	return ret < 0 ? ret : 0;
}
