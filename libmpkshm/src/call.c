// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Calls: a request to a server and its response, blocking or in flight
 * many at a time.
 *
 * Every call in flight has a state (on the caller's stack for
 * mpkshm_call(), allocated for the others) in a table keyed by its
 * correlation id, with the buffer its response goes to: the caller's, or
 * one allocated when the response begins.  responses.c takes responses
 * for all of them, so any number of threads may call on one endpoint at
 * once, each getting its own reply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calls.h"

static unsigned int slot_of(struct mpkshm_channel *ch, uint64_t member)
{
	unsigned int i;

	for (i = 0; i < ch->max_members; i++)
		if (i != ch->slot && mpkshm_peer_is(ch, i, member))
			return i;
	return MPKSHM_NO_SLOT;
}

/*
 * Registers @c, a call to @server whose response goes to @resp (@cap
 * bytes), or to memory allocated when it begins (@alloc).  The request is
 * sent after: a response can find its call from the start.
 */
static int enlist(struct mpkshm_channel *ch, struct mpkshm_call_state *c,
		  uint64_t server, void *resp, size_t cap, bool alloc,
		  uint64_t deadline)
{
	if ((!resp && cap && !alloc) || server == MPKSHM_TO_ALL)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->id = atomic_fetch_add(&ch->next_correlation, 1) + 1;
	c->server = server;
	c->server_slot = slot_of(ch, server);
	c->resp = alloc ? NULL : resp;
	c->cap = alloc ? 0 : cap;
	c->alloc = alloc;
	c->deadline = deadline;
	c->status = MPKSHM_CALL_PENDING;
	pthread_mutex_lock(&ch->call_lock);
	c->next = *mpkshm_call_bucket(ch, c->id);
	*mpkshm_call_bucket(ch, c->id) = c;
	pthread_mutex_unlock(&ch->call_lock);
	return 0;
}

/* After sending @c's request (@err): in flight, or out of the table. */
static int sent(struct mpkshm_channel *ch, struct mpkshm_call_state *c,
		int err)
{
	pthread_mutex_lock(&ch->call_lock);
	if (err) {
		mpkshm_call_unlink(ch, c);
	} else if (c->server_slot == MPKSHM_NO_SLOT) {
		c->server_slot = slot_of(ch, c->server); /* sending refreshed */
		if (c->server_slot == MPKSHM_NO_SLOT &&
		    mpkshm_call_status(c) == MPKSHM_CALL_PENDING)
			mpkshm_call_complete(ch, c, -ECONNRESET);
	}
	pthread_mutex_unlock(&ch->call_lock);
	return err == -EPIPE ? -ECONNRESET : err;
}

/* Puts @c in flight: registered, then its request sent. */
static int start(struct mpkshm_channel *ch, struct mpkshm_call_state *c,
		 uint64_t server, const void *req, size_t req_len,
		 void *resp, size_t cap, bool alloc, uint64_t deadline)
{
	int err = mpkshm_check_writer(ch);

	if (!err)
		err = mpkshm_check_reader(ch);
	if (!err && !req && req_len)
		err = -EINVAL;
	if (!err)
		err = enlist(ch, c, server, resp, cap, alloc, deadline);
	if (err)
		return err;
	err = mpkshm_send_message(ch, MPKSHM_REC_REQUEST, server, c->id, 0,
				  req, req_len, deadline, 0, NULL);
	return sent(ch, c, err);
}

/* The end of a call: its result, and it leaves the table. */
static int finish(struct mpkshm_channel *ch, struct mpkshm_call_state *c,
		  size_t *resp_len)
{
	int ret = mpkshm_call_status(c);

	mpkshm_call_unlink(ch, c);
	if (resp_len && (!ret || ret == -EMSGSIZE))
		*resp_len = c->len;
	return ret;
}

static void forget(struct mpkshm_call_state *c)
{
	if (c->alloc)
		free(c->resp);
	free(c);
}

MPKSHM_EXPORT int mpkshm_call(struct mpkshm_channel *ch, uint64_t server,
			      const void *req, size_t req_len, void *resp,
			      size_t cap, size_t *resp_len, int timeout_ms)
{
	uint64_t deadline = mpkshm_deadline(timeout_ms);
	struct mpkshm_call_state c;
	int ret;

	ret = start(ch, &c, server, req, req_len, resp, cap, false, deadline);
	if (ret)
		return ret;
	pthread_mutex_lock(&ch->call_lock);
	c.waited = true;
	mpkshm_call_wait_for(ch, &c, UINT64_MAX);
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
	ret = start(ch, c, server, req, req_len, resp, cap, !resp && !cap,
		    mpkshm_deadline(timeout_ms));
	if (ret) {
		free(c);
		return ret;
	}
	*call = c->id;
	return 0;
}

MPKSHM_EXPORT int mpkshm_call_commit(struct mpkshm_channel *ch, size_t len,
				     uint64_t server, void *resp, size_t cap,
				     int timeout_ms, uint64_t *call)
{
	struct mpkshm_call_state *c;
	int err = mpkshm_own_reservation(ch);

	if (err)
		return err;
	if (len > ch->res_room)
		return -EMSGSIZE;
	err = mpkshm_check_reader(ch);
	if (!err && !call)
		err = -EINVAL;
	/* The window is open: the directory can be read as a send does. */
	if (!err)
		err = mpkshm_refresh(ch);
	if (!err && server != MPKSHM_TO_ALL &&
	    slot_of(ch, server) == MPKSHM_NO_SLOT)
		err = -ECONNRESET;
	c = err ? NULL : malloc(sizeof(*c));
	if (!err && !c)
		err = -ENOMEM;
	if (!err)
		err = enlist(ch, c, server, resp, cap, !resp && !cap,
			     mpkshm_deadline(timeout_ms));
	if (err) {
		free(c);
		mpkshm_abandon(ch);
		return err;
	}
	err = mpkshm_commit_record(ch, len, MPKSHM_REC_REQUEST, server, c->id,
				   0);
	err = sent(ch, c, err);
	if (err) {
		free(c);
		return err;
	}
	*call = c->id;
	return 0;
}

/*
 * Waits for @call as mpkshm_call_wait() says; with the call's end, *@cp
 * is out of the table and the caller's to free.
 */
static int await(struct mpkshm_channel *ch, uint64_t call, bool alloc,
		 int timeout_ms, size_t *resp_len,
		 struct mpkshm_call_state **cp)
{
	uint64_t until = mpkshm_deadline(timeout_ms);
	struct mpkshm_call_state *c;
	int ret = mpkshm_usable(ch);

	if (ret)
		return ret;
	mpkshm_unarm(ch);
	pthread_mutex_lock(&ch->call_lock);
	c = mpkshm_call_lookup(ch, call);
	if (!c || c->waited || c->alloc != alloc) {
		pthread_mutex_unlock(&ch->call_lock);
		return c && c->waited ? -EBUSY : -EINVAL;
	}
	c->waited = true;
	mpkshm_call_wait_for(ch, c, until);
	c->waited = false;
	if (mpkshm_call_status(c) == MPKSHM_CALL_PENDING) {
		pthread_mutex_unlock(&ch->call_lock);
		return -EAGAIN;
	}
	ret = finish(ch, c, resp_len);
	pthread_mutex_unlock(&ch->call_lock);
	*cp = c;
	return ret;
}

MPKSHM_EXPORT int mpkshm_call_wait(struct mpkshm_channel *ch, uint64_t call,
				   size_t *resp_len, int timeout_ms)
{
	struct mpkshm_call_state *c = NULL;
	int ret = await(ch, call, false, timeout_ms, resp_len, &c);

	if (c)
		forget(c);
	return ret;
}

MPKSHM_EXPORT int mpkshm_call_take(struct mpkshm_channel *ch, uint64_t call,
				   void **resp, size_t *resp_len,
				   int timeout_ms)
{
	struct mpkshm_call_state *c = NULL;
	int ret;

	if (!resp || !resp_len)
		return -EINVAL;
	ret = await(ch, call, true, timeout_ms, resp_len, &c);
	if (!ret) {
		*resp = c->resp;	/* the caller's now */
		c->resp = NULL;
	}
	if (c)
		forget(c);
	return ret;
}

MPKSHM_EXPORT int mpkshm_call_cancel(struct mpkshm_channel *ch, uint64_t call)
{
	struct mpkshm_call_state *c;

	if (!ch)
		return -EINVAL;
	pthread_mutex_lock(&ch->call_lock);
	c = mpkshm_call_lookup(ch, call);
	if (!c || c->waited) {
		pthread_mutex_unlock(&ch->call_lock);
		return c ? -EBUSY : -EINVAL;
	}
	mpkshm_call_unlink(ch, c);
	pthread_mutex_unlock(&ch->call_lock);
	forget(c);
	return 0;
}

void mpkshm_calls_free(struct mpkshm_channel *ch)
{
	struct mpkshm_call_state *c, *next;
	unsigned int b;

	/* Only allocated ones are left: mpkshm_call() waits. */
	for (b = 0; b < MPKSHM_CALL_BUCKETS; b++) {
		for (c = ch->calls[b]; c; c = next) {
			next = c->next;
			forget(c);
		}
		ch->calls[b] = NULL;
	}
}
