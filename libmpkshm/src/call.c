// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Calls: a request to a server and its response, blocking or in flight
 * many at a time.
 *
 * Every call in flight has a state (on the caller's stack for
 * mpkshm_call(), allocated for mpkshm_call_start()) in a table keyed by its
 * correlation id, with the buffer its response goes to.  Responses are a
 * class of their own in every writer's ring (recv.c), so taking them never
 * consumes a message that mpkshm_recv() is to get.  One thread at a time,
 * the leader, takes responses for every call in flight, copying each into
 * its call's buffer; the others wait on call_cond, and whichever waiter
 * finds no leader becomes it.  So any number of threads may call on one
 * endpoint at once, each getting its own reply.  A response that matches
 * no call in flight (it came after its call timed out or was cancelled,
 * or from someone else than the call's server) is passed over.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"

#define PENDING		1		/* status of a call in flight */
#define NO_SLOT		(~0u)

struct mpkshm_call_state {
	struct mpkshm_call_state *next;	/* in its bucket */
	uint64_t id;			/* its correlation */
	uint64_t server;
	unsigned int server_slot;	/* NO_SLOT: not known yet */
	uint8_t *resp;
	size_t cap;
	uint64_t deadline;
	int status;			/* PENDING, 0 or -errno; atomic */
	size_t len;			/* the response's */
	bool waited;			/* a thread waits for it */
	bool started;			/* its response's first fragment came */
	uint64_t seq, got, total;
	crypto_sign_state sign;
};

static struct mpkshm_call_state **bucket(struct mpkshm_channel *ch,
					 uint64_t id)
{
	return &ch->calls[id % MPKSHM_CALL_BUCKETS];
}

/* call_lock held for all of these. */
static struct mpkshm_call_state *lookup(struct mpkshm_channel *ch,
					uint64_t id)
{
	struct mpkshm_call_state *c;

	for (c = *bucket(ch, id); c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void unlink_call(struct mpkshm_channel *ch,
			struct mpkshm_call_state *c)
{
	struct mpkshm_call_state **p;

	for (p = bucket(ch, c->id); *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			return;
		}
	}
}

static int status_of(const struct mpkshm_call_state *c)
{
	return __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
}

static void complete(struct mpkshm_channel *ch, struct mpkshm_call_state *c,
		     int status)
{
	__atomic_store_n(&c->status, status, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&ch->call_cond);
}

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
			if (status_of(c) == PENDING && which(ch, c, arg))
				complete(ch, c, err);
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
	return c->server_slot != NO_SLOT &&
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
			return complete(ch, c, -EBADMSG), 1;
		c->started = true;
		c->seq = h->seq;
		c->total = h->total;
		c->got = 0;
		c->len = h->total;
		if (h->total > c->cap)
			return complete(ch, c, -EMSGSIZE), 1;
		if (ch->signed_channel)
			mpkshm_sign_state_begin(&c->sign, ch->name, &what);
	} else if (!c->started || h->seq != c->seq) {
		return 0;	/* the tail of a reply we did not see begin */
	}
	if (h->total != c->total || h->len > c->total - c->got)
		return complete(ch, c, -EBADMSG), 1;
	memcpy(c->resp + c->got, f->view.payload, h->len);
	err = mpkshm_read_was_whole(ch, f, MPKSHM_CLASS_RESP);
	if (err)
		return complete(ch, c, err), 1;
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
	complete(ch, c, err);
	return 1;
}

/* A response record for us: to its call, or passed over. */
static void dispatch(struct mpkshm_channel *ch, const struct mpkshm_found *f)
{
	struct mpkshm_call_state *c;
	bool lost = false;

	pthread_mutex_lock(&ch->call_lock);
	c = lookup(ch, f->view.hdr.correlation);
	if (c && status_of(c) == PENDING && c->server == f->writer) {
		take_fragment(ch, c, f);
		lost = status_of(c) == -ENOBUFS;
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

	for (i = 0; i < ch->max_members; i++) {
		if (i == ch->slot)
			continue;
		for (;;) {
			f = (struct mpkshm_found){ .only_slot = (int)i };
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
	return status_of(c) != PENDING;
}

/*
 * Waits until @c is answered, its deadline (ETIMEDOUT), or @until (then
 * it stays in flight).  call_lock held.
 */
static void wait_for(struct mpkshm_channel *ch, struct mpkshm_call_state *c,
		     uint64_t until)
{
	struct timespec ts;
	uint64_t now;
	int err;

	until = mpkshm_min(until, c->deadline);
	while (status_of(c) == PENDING) {
		now = mpkshm_now_ns();
		if (now >= c->deadline) {
			complete(ch, c, -ETIMEDOUT);
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

static unsigned int slot_of(struct mpkshm_channel *ch, uint64_t member)
{
	unsigned int i;

	for (i = 0; i < ch->max_members; i++)
		if (i != ch->slot && mpkshm_peer_is(ch, i, member))
			return i;
	return NO_SLOT;
}

/* Puts @c in flight: registered, then its request sent. */
static int start(struct mpkshm_channel *ch, struct mpkshm_call_state *c,
		 uint64_t server, const void *req, size_t req_len,
		 void *resp, size_t cap, uint64_t deadline)
{
	int err = mpkshm_check_writer(ch);

	if (!err)
		err = mpkshm_check_reader(ch);
	if (err)
		return err;
	if ((!resp && cap) || (!req && req_len) || server == MPKSHM_TO_ALL)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->id = atomic_fetch_add(&ch->next_correlation, 1) + 1;
	c->server = server;
	c->server_slot = slot_of(ch, server);
	c->resp = resp;
	c->cap = cap;
	c->deadline = deadline;
	c->status = PENDING;
	pthread_mutex_lock(&ch->call_lock);
	c->next = *bucket(ch, c->id);
	*bucket(ch, c->id) = c;
	pthread_mutex_unlock(&ch->call_lock);

	err = mpkshm_send_message(ch, MPKSHM_REC_REQUEST, server, c->id, 0,
				  req, req_len, deadline, 0);
	pthread_mutex_lock(&ch->call_lock);
	if (err) {
		unlink_call(ch, c);
	} else if (c->server_slot == NO_SLOT) {
		c->server_slot = slot_of(ch, server);	/* sending refreshed */
		if (c->server_slot == NO_SLOT && status_of(c) == PENDING)
			complete(ch, c, -ECONNRESET);
	}
	pthread_mutex_unlock(&ch->call_lock);
	return err == -EPIPE ? -ECONNRESET : err;
}

/* The end of a call: its result, and it leaves the table. */
static int finish(struct mpkshm_channel *ch, struct mpkshm_call_state *c,
		  size_t *resp_len)
{
	int ret = status_of(c);

	unlink_call(ch, c);
	if (resp_len && (!ret || ret == -EMSGSIZE))
		*resp_len = c->len;
	return ret;
}

MPKSHM_EXPORT int mpkshm_call(struct mpkshm_channel *ch, uint64_t server,
			      const void *req, size_t req_len, void *resp,
			      size_t cap, size_t *resp_len, int timeout_ms)
{
	uint64_t deadline = mpkshm_deadline(timeout_ms);
	struct mpkshm_call_state c;
	int ret;

	ret = start(ch, &c, server, req, req_len, resp, cap, deadline);
	if (ret)
		return ret;
	pthread_mutex_lock(&ch->call_lock);
	c.waited = true;
	wait_for(ch, &c, UINT64_MAX);
	ret = finish(ch, &c, resp_len);
	pthread_mutex_unlock(&ch->call_lock);
	return ret;
}

MPKSHM_EXPORT int mpkshm_call_start(struct mpkshm_channel *ch,
				    uint64_t server, const void *req,
				    size_t req_len, void *resp, size_t cap,
				    int timeout_ms, uint64_t *call)
{
	struct mpkshm_call_state *c;
	int ret;

	if (!call)
		return -EINVAL;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	ret = start(ch, c, server, req, req_len, resp, cap,
		    mpkshm_deadline(timeout_ms));
	if (ret) {
		free(c);
		return ret;
	}
	*call = c->id;
	return 0;
}

MPKSHM_EXPORT int mpkshm_call_wait(struct mpkshm_channel *ch, uint64_t call,
				   size_t *resp_len, int timeout_ms)
{
	uint64_t until = mpkshm_deadline(timeout_ms);
	struct mpkshm_call_state *c;
	int ret = mpkshm_usable(ch);

	if (ret)
		return ret;
	mpkshm_unarm(ch);
	pthread_mutex_lock(&ch->call_lock);
	c = lookup(ch, call);
	if (!c || c->waited) {
		pthread_mutex_unlock(&ch->call_lock);
		return c ? -EBUSY : -EINVAL;
	}
	c->waited = true;
	wait_for(ch, c, until);
	c->waited = false;
	if (status_of(c) == PENDING) {
		pthread_mutex_unlock(&ch->call_lock);
		return -EAGAIN;
	}
	ret = finish(ch, c, resp_len);
	pthread_mutex_unlock(&ch->call_lock);
	free(c);
	return ret;
}

MPKSHM_EXPORT int mpkshm_call_cancel(struct mpkshm_channel *ch, uint64_t call)
{
	struct mpkshm_call_state *c;

	if (!ch)
		return -EINVAL;
	pthread_mutex_lock(&ch->call_lock);
	c = lookup(ch, call);
	if (!c || c->waited) {
		pthread_mutex_unlock(&ch->call_lock);
		return c ? -EBUSY : -EINVAL;
	}
	unlink_call(ch, c);
	pthread_mutex_unlock(&ch->call_lock);
	free(c);
	return 0;
}

static bool answered_unwaited(struct mpkshm_channel *ch)
{
	struct mpkshm_call_state *c;
	unsigned int b;

	for (b = 0; b < MPKSHM_CALL_BUCKETS; b++)
		for (c = ch->calls[b]; c; c = c->next)
			if (!c->waited && status_of(c) != PENDING)
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

void mpkshm_calls_free(struct mpkshm_channel *ch)
{
	struct mpkshm_call_state *c, *next;
	unsigned int b;

	/* Only mpkshm_call_start()'s are left: mpkshm_call() waits. */
	for (b = 0; b < MPKSHM_CALL_BUCKETS; b++) {
		for (c = ch->calls[b]; c; c = next) {
			next = c->next;
			free(c);
		}
		ch->calls[b] = NULL;
	}
}
