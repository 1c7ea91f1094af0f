// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Serving requests.
 *
 * A server survives anything its clients do.  A request that is corrupt,
 * forged, replayed, larger than max_request_size or left half way by its
 * client is dropped and counted, never an end of serving; a larger request
 * is passed over without being copied and its caller told EMSGSIZE.
 * Replies never wait long for anyone: a reader that holds the ring past
 * reply_timeout_ms is dropped (send.c).  Serving ends only when asked
 * (mpkshm_serve_stop(), which wakes every wait of a server) or when the
 * endpoint is revoked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define FIRST_BUFFER	(64u * 1024)

static int reply(struct mpkshm_channel *ch, struct mpkshm_request *req,
		 int32_t status, const void *data, size_t len)
{
	bool published = false;
	int err;

	if (!ch || !req || req->_replied)
		return -EINVAL;
	if (!data && len)
		return -EINVAL;
	err = mpkshm_send_message(ch, MPKSHM_REC_RESPONSE, req->client,
				  req->_correlation, status, data, len,
				  UINT64_MAX, MPKSHM_SEND_REPLY, &published);
	/*
	 * Answered, or partly (a second answer would follow fragments
	 * already out).  A reply that sent nothing leaves the request to be
	 * answered otherwise: by the handler, or by serve() after it, with
	 * this error if the handler says nothing else.
	 */
	if (!err || err == -EPIPE || published)
		req->_replied = true;
	else
		req->_reply_error = -err <= MPKSHM_STATUS_MAX ? (uint16_t)-err :
				    EREMOTEIO;
	/* A client that left before its reply is not the server's error. */
	if (err == -EPIPE)
		return 0;
	if (err)
		mpkshm_count(ch, MPKSHM_STAT_REPLY_ERRORS);
	return err;
}

MPKSHM_EXPORT int mpkshm_reply(struct mpkshm_channel *ch,
			       struct mpkshm_request *req, const void *data,
			       size_t len)
{
	return reply(ch, req, 0, data, len);
}

MPKSHM_EXPORT int mpkshm_reply_reserve(struct mpkshm_channel *ch,
				       struct mpkshm_request *req, size_t len,
				       void **buf)
{
	if (!ch || !req || req->_replied)
		return -EINVAL;
	return mpkshm_reserve_record(ch, len, buf, UINT64_MAX,
				     MPKSHM_SEND_REPLY);
}

MPKSHM_EXPORT int mpkshm_reply_commit(struct mpkshm_channel *ch,
				      struct mpkshm_request *req, size_t len)
{
	int err;

	if (!ch || !req || req->_replied)
		return -EINVAL;
	err = mpkshm_commit_record(ch, len, MPKSHM_REC_RESPONSE, req->client,
				   req->_correlation, 0);
	if (!err)
		req->_replied = true;
	return err;
}

MPKSHM_EXPORT int mpkshm_reply_error(struct mpkshm_channel *ch,
				     struct mpkshm_request *req, int err)
{
	if (err < 0)
		err = -err;
	if (!err || err > MPKSHM_STATUS_MAX)
		return -EINVAL;
	return reply(ch, req, err, NULL, 0);
}

MPKSHM_EXPORT void mpkshm_serve_stop(struct mpkshm_channel *ch)
{
	if (!ch)
		return;
	atomic_store(&ch->stop, true);
	/* Wake the server wherever it sleeps: ring our own doorbell. */
	ch->ops->notify(ch, 1ull << ch->slot);
}

/* Answers a request the server cannot take in, from what recv told. */
static void refuse(struct mpkshm_channel *ch, const struct mpkshm_msg *info,
		   int err)
{
	struct mpkshm_request req = {
		.client = info->sender, ._correlation = info->correlation,
	};

	if (info->_kind == MPKSHM_REC_REQUEST)
		reply(ch, &req, err, NULL, 0);
}

/*
 * A request too large for the buffer: a larger buffer, up to the limit; or
 * the request dropped and its caller told.  The buffer is *@buf, *@cap.
 */
static void grow(struct mpkshm_channel *ch, const struct mpkshm_msg *info,
		 uint8_t **buf, size_t *cap)
{
	uint8_t *bigger = NULL;
	int err = -EMSGSIZE;

	if (info->len <= ch->max_request) {
		bigger = realloc(*buf, info->len);
		err = -ENOMEM;
	}
	if (bigger) {
		*buf = bigger;
		*cap = info->len;
		return;
	}
	mpkshm_count(ch, err == -EMSGSIZE ? MPKSHM_STAT_TOO_LARGE :
					    MPKSHM_STAT_INCOMPLETE);
	if (!mpkshm_recv_discard(ch, info))
		refuse(ch, info, -err);
}

/*
 * What a failed receive says of the request it was (described by @info,
 * when it got that far): counted, or the end.
 */
static bool serving_goes_on(struct mpkshm_channel *ch, ssize_t n,
			    const struct mpkshm_msg *info)
{
	switch (n) {
	case -ETIMEDOUT:
		return true;
	case -EKEYREJECTED:
	case -EPROTO:
		/*
		 * Forged or replayed: its writer (whose ring it was in, which
		 * no one else can write) learns that it was refused.
		 */
		mpkshm_count(ch, MPKSHM_STAT_BAD);
		if (info->sender)
			refuse(ch, info, (int)-n);
		return true;
	case -EBADMSG:
		mpkshm_count(ch, MPKSHM_STAT_BAD);
		return true;
	case -ECONNRESET:
	case -ENOMEM:
		mpkshm_count(ch, MPKSHM_STAT_INCOMPLETE);
		return true;
	case -ENOBUFS:
		mpkshm_count(ch, MPKSHM_STAT_LOST);
		return true;
	default:
		/* ECANCELED (stopped), EKEYREVOKED, EBADF, ... */
		return false;
	}
}

MPKSHM_EXPORT int mpkshm_serve(struct mpkshm_channel *ch,
			       mpkshm_handler handler, void *arg)
{
	size_t cap = FIRST_BUFFER;
	struct mpkshm_request req;
	struct mpkshm_msg info;
	uint8_t *buf;
	ssize_t n;
	int err;

	err = mpkshm_check_writer(ch);
	if (!err)
		err = mpkshm_check_reader(ch);
	if (!err && !handler)
		err = -EINVAL;
	if (err)
		return err;
	if (cap > ch->max_request)
		cap = ch->max_request;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	atomic_fetch_add(&ch->serving, 1);
	while (!atomic_load(&ch->stop)) {
		memset(&info, 0, sizeof(info));
		n = mpkshm_recv_message(ch, buf, cap, &info, UINT64_MAX,
					MPKSHM_RECV_STOPPABLE);
		if (n == -EMSGSIZE) {
			grow(ch, &info, &buf, &cap);
			continue;
		}
		if (n < 0) {
			if (serving_goes_on(ch, n, &info))
				continue;
			err = n == -ECANCELED ? 0 : (int)n;
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
		mpkshm_count(ch, MPKSHM_STAT_REQUESTS);
		err = handler(arg, &req);
		if (err < 0)
			mpkshm_count(ch, MPKSHM_STAT_HANDLER_ERRORS);
		/*
		 * A failure that is no errno still fails the call: an empty
		 * reply would pass for success.
		 */
		if (!req._replied)
			reply(ch, &req, err >= 0 ? req._reply_error :
				  -err <= MPKSHM_STATUS_MAX ? -err : EREMOTEIO,
				  NULL, 0);
		err = 0;
	}
	free(buf);
	/* The last server to stop takes the request to stop with it. */
	if (atomic_fetch_sub(&ch->serving, 1) == 1)
		atomic_store(&ch->stop, false);
	return err;
}

MPKSHM_EXPORT int mpkshm_serve_stats(struct mpkshm_channel *ch,
				     struct mpkshm_serve_stats *stats)
{
#define COUNT(stat) atomic_load_explicit(&ch->stats[stat], memory_order_relaxed)
	struct mpkshm_serve_stats all;
	size_t size;
	int err = mpkshm_usable(ch);

	if (err)
		return err;
	if (!stats || stats->size < sizeof(size_t) + sizeof(uint64_t))
		return -EINVAL;
	all = (struct mpkshm_serve_stats){
		.size = sizeof(all),
		.requests = COUNT(MPKSHM_STAT_REQUESTS),
		.handler_errors = COUNT(MPKSHM_STAT_HANDLER_ERRORS),
		.dropped_too_large = COUNT(MPKSHM_STAT_TOO_LARGE),
		.dropped_bad = COUNT(MPKSHM_STAT_BAD),
		.dropped_incomplete = COUNT(MPKSHM_STAT_INCOMPLETE),
		.dropped_lost = COUNT(MPKSHM_STAT_LOST),
		.readers_dropped = COUNT(MPKSHM_STAT_READERS_DROPPED),
		.reply_errors = COUNT(MPKSHM_STAT_REPLY_ERRORS),
	};
#undef COUNT
	/* A caller built against an older header gets what it has room for. */
	size = stats->size < sizeof(all) ? stats->size : sizeof(all);
	memcpy(stats, &all, size);
	stats->size = size;
	return 0;
}
