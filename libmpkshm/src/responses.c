// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Taking responses to the calls in flight.
 *
 * Responses are a class of their own in every writer's ring (recv.c), so
 * taking them never consumes a message that mpkshm_recv() is to get.  One
 * thread at a time, the leader, takes responses for every call in flight,
 * copying each into its call's buffer; the others wait on call_cond, and
 * whichever waiter finds no leader becomes it.  A response that matches no
 * call in flight (it came after its call timed out or was cancelled, or
 * from someone else than the call's server) is passed over.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calls.h"

/* Ends every call in flight for which @which says so, with @err. */
static void fail_calls(struct mpkshm_channel *ch, int err,
		       bool (*which)(struct mpkshm_channel *,
				     const struct mpkshm_call_state *, void *),
		       void *arg)
{
	struct mpkshm_call_state *c;
	unsigned int b;

	for (b = 0; b < MPKSHM_CALL_BUCKETS; b++)
		for (c = ch->calls[b]; c; c = c->next)
			if (mpkshm_call_status(c) == MPKSHM_CALL_PENDING && which(ch, c, arg))
				mpkshm_call_complete(ch, c, err);
}

static bool to_slot(struct mpkshm_channel *ch,
		    const struct mpkshm_call_state *c, void *arg)
{
	(void)ch;
	return c->server_slot == *(const unsigned int *)arg;
}

static bool server_left(struct mpkshm_channel *ch,
			const struct mpkshm_call_state *c, void *arg)
{
	(void)arg;
	return c->server_slot != MPKSHM_NO_SLOT &&
	       !mpkshm_peer_is(ch, c->server_slot, c->server);
}

static bool any(struct mpkshm_channel *ch, const struct mpkshm_call_state *c,
		void *arg)
{
	(void)ch;
	(void)c;
	(void)arg;
	return true;
}

/*
 * A server's error, as the caller gets it.  Errors that mean something of
 * the call itself here would mislead the caller: they arrive as EREMOTEIO.
 */
static int server_error(int32_t status)
{
	switch (status) {
	case EAGAIN: case EBUSY: case ETIMEDOUT: case ECONNRESET:
	case EKEYREVOKED: case ENOBUFS: case EPIPE: case EBADF:
		return -EREMOTEIO;
	default:
		return -status;
	}
}

/* A fragment of the response to @c; 1 when it is whole (or failed). */
static int take_fragment(struct mpkshm_channel *ch,
			 struct mpkshm_call_state *c,
			 const struct mpkshm_found *f)
{
	const struct mpkshm_rec *h = &f->view.hdr;
	int err;

	if (h->flags & MPKSHM_REC_FIRST) {
		struct mpkshm_sign_what what = {
			.sender = f->writer, .seq = h->seq, .kind = h->kind,
			.status = h->status,
		};

		if (h->status < 0 || h->status > MPKSHM_STATUS_MAX ||
		    (h->status && h->total))
			return mpkshm_call_complete(ch, c, -EBADMSG), 1;
		c->started = true;
		c->seq = h->seq;
		c->total = h->total;
		c->got = 0;
		c->len = h->total;
		if (c->alloc) {
			free(c->resp);
			c->resp = NULL;
			c->cap = 0;
			if (h->total > ch->max_response)
				return mpkshm_call_complete(ch, c, -EMSGSIZE), 1;
			c->resp = malloc(h->total ? h->total : 1);
			if (!c->resp)
				return mpkshm_call_complete(ch, c, -ENOMEM), 1;
			c->cap = h->total;
		}
		if (h->total > c->cap)
			return mpkshm_call_complete(ch, c, -EMSGSIZE), 1;
		if (ch->signed_channel)
			mpkshm_sign_state_begin(&c->sign, ch->name, &what);
	} else if (!c->started || h->seq != c->seq) {
		return 0;	/* the tail of a reply we did not see begin */
	}
	if (h->total != c->total || h->len > c->total - c->got)
		return mpkshm_call_complete(ch, c, -EBADMSG), 1;
	memcpy(c->resp + c->got, f->view.payload, h->len);
	err = mpkshm_read_was_whole(ch, f, MPKSHM_CLASS_RESP);
	if (err)
		return mpkshm_call_complete(ch, c, err), 1;
	if (ch->signed_channel)
		mpkshm_sign_update(&c->sign, c->resp + c->got, h->len);
	c->got += h->len;
	if (!(h->flags & MPKSHM_REC_LAST))
		return 0;
	err = c->got == c->total ? 0 : -EBADMSG;
	if (!err && ch->signed_channel)
		err = h->flags & MPKSHM_REC_SIGNED ?
		      mpkshm_verify_end(ch, f->slot, &c->sign, f->writer, c->seq,
					&ch->peers[f->slot].reading[MPKSHM_CLASS_RESP].last_seq,
					f->view.payload + h->len) :
		      -EKEYREJECTED;
	if (!err && h->status)
		err = server_error(h->status);
	mpkshm_call_complete(ch, c, err);
	return 1;
}

/* A response record for us: to its call, or passed over. */
static void dispatch(struct mpkshm_channel *ch, const struct mpkshm_found *f)
{
	struct mpkshm_call_state *c;
	bool lost = false;

	pthread_mutex_lock(&ch->call_lock);
	c = mpkshm_call_lookup(ch, f->view.hdr.correlation);
	if (c && mpkshm_call_status(c) == MPKSHM_CALL_PENDING && c->server == f->writer) {
		take_fragment(ch, c, f);
		lost = mpkshm_call_status(c) == -ENOBUFS;
	}
	pthread_mutex_unlock(&ch->call_lock);
	/* Overwritten under us: the mark, not the cursor, says where to go. */
	if (!lost)
		mpkshm_consume(ch, f->slot, MPKSHM_CLASS_RESP, f->view.next);
}

/* Takes every response there is; the leader only, key open. */
static void collect(struct mpkshm_channel *ch)
{
	uint64_t seq = atomic_load(&ch->dir_seq);
	struct mpkshm_found f;
	unsigned int i;
	int ret;

	mpkshm_for_each_slot(i, mpkshm_present(ch)) {
		for (;;) {
			f.only_slot = (int)i;
			ret = mpkshm_look_at_writer(ch, i, MPKSHM_CLASS_RESP, &f);
			if (ret == 1) {
				dispatch(ch, &f);
				continue;
			}
			if (ret < 0) {
				pthread_mutex_lock(&ch->call_lock);
				fail_calls(ch, ret, to_slot, &i);
				pthread_mutex_unlock(&ch->call_lock);
			}
			if (ret != -ENOBUFS)
				break;
		}
	}
	if (seq != ch->calls_dir_seq) {
		pthread_mutex_lock(&ch->call_lock);
		ch->calls_dir_seq = seq;
		fail_calls(ch, -ECONNRESET, server_left, NULL);
		pthread_mutex_unlock(&ch->call_lock);
	}
}

static int leader_ready(struct mpkshm_channel *ch, void *arg)
{
	struct mpkshm_call_state *c = arg;
	int err = mpkshm_refresh(ch);

	if (err)
		return err;
	collect(ch);
	return mpkshm_call_status(c) != MPKSHM_CALL_PENDING;
}

void mpkshm_call_wait_for(struct mpkshm_channel *ch,
			  struct mpkshm_call_state *c, uint64_t until)
{
	struct timespec ts;
	uint64_t now;
	int err;

	until = mpkshm_min(until, c->deadline);
	while (mpkshm_call_status(c) == MPKSHM_CALL_PENDING) {
		now = mpkshm_now_ns();
		if (now >= c->deadline) {
			mpkshm_call_complete(ch, c, -ETIMEDOUT);
			break;
		}
		if (now >= until)
			break;
		if (!ch->resp_leader) {
			ch->resp_leader = true;
			pthread_mutex_unlock(&ch->call_lock);
			mpkshm_window_open(ch->pkey, true);
			err = mpkshm_wait_until(ch, leader_ready, c,
						MPKSHM_WAIT_DATA, until, 0);
			mpkshm_window_close(ch->pkey, true);
			pthread_mutex_lock(&ch->call_lock);
			ch->resp_leader = false;
			pthread_cond_broadcast(&ch->call_cond);
			if (err < 0 && err != -ETIMEDOUT)
				fail_calls(ch, err, any, NULL);
			continue;
		}
		if (until == UINT64_MAX) {
			pthread_cond_wait(&ch->call_cond, &ch->call_lock);
		} else {
			ts.tv_sec = (time_t)(until / 1000000000u);
			ts.tv_nsec = (long)(until % 1000000000u);
			pthread_cond_timedwait(&ch->call_cond, &ch->call_lock,
					       &ts);
		}
	}
}

static bool answered_unwaited(struct mpkshm_channel *ch)
{
	struct mpkshm_call_state *c;
	unsigned int b;

	for (b = 0; b < MPKSHM_CALL_BUCKETS; b++)
		for (c = ch->calls[b]; c; c = c->next)
			if (!c->waited && mpkshm_call_status(c) != MPKSHM_CALL_PENDING)
				return true;
	return false;
}

static bool in_flight(struct mpkshm_channel *ch)
{
	unsigned int b;

	for (b = 0; b < MPKSHM_CALL_BUCKETS; b++)
		if (ch->calls[b])
			return true;
	return false;
}

int mpkshm_response_waits(struct mpkshm_channel *ch)
{
	int ret;

	pthread_mutex_lock(&ch->call_lock);
	if (!in_flight(ch) || ch->resp_leader) {
		/* A leader in the library takes them, and wakes the fd. */
		ret = in_flight(ch) && answered_unwaited(ch);
		pthread_mutex_unlock(&ch->call_lock);
		return ret;
	}
	ch->resp_leader = true;
	pthread_mutex_unlock(&ch->call_lock);
	collect(ch);
	pthread_mutex_lock(&ch->call_lock);
	ch->resp_leader = false;
	pthread_cond_broadcast(&ch->call_cond);
	ret = answered_unwaited(ch);
	pthread_mutex_unlock(&ch->call_lock);
	return ret;
}

