// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Clients: a request packed where it goes, a reply unpacked from where it
 * came.
 *
 * A request that fits one record is packed straight into this endpoint's
 * segment (mpkshm_reserve(), then mpkshm_call_commit()): no copy.  A
 * larger one is packed into a buffer that mpkshm_call_start() splits.
 * The reply arrives in memory libmpkshm allocates for it
 * (mpkshm_call_take()), unpacked and freed.  Calls are libmpkshm's, so
 * any number of threads call at once on one client.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpkshm-rpc.h"
#include "wire.h"

#define MPKRPC_EXPORT __attribute__((visibility("default")))
#define DEFAULT_TIMEOUT_MS	5000

/* A call started by mpkrpc_call_start() whose closure has not run. */
struct pending {
	struct pending *next;
	uint64_t call;
	unsigned int method;
	ProtobufCClosure closure;
	void *closure_data;
};

struct mpkrpc_client {
	ProtobufCService service;	/* first: invoke() gets it back */
	struct mpkshm_channel *ch;
	uint64_t server;
	size_t max_message;		/* what one record carries */
	uint64_t *method_ids;
	int timeout_ms;
	pthread_mutex_t lock;		/* pending */
	pthread_mutex_t dispatching;	/* one dispatcher at a time */
	struct pending *pending;
	unsigned int in_flight;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* What is left of a timeout that ends at @end (ms), for libmpkshm. */
static int left(uint64_t end)
{
	uint64_t now = now_ms();

	if (end == UINT64_MAX)
		return -1;
	return now >= end ? 0 : (int)(end - now);
}

/* Sends the request of @method and puts its call in flight in *@call. */
static int send_request(struct mpkrpc_client *c, unsigned int method,
			const ProtobufCMessage *input, uint64_t end,
			uint64_t *call)
{
	const ProtobufCMethodDescriptor *m = &c->service.descriptor->methods[method];
	struct mpkrpc_wire_request hdr = {
		.magic = MPKRPC_REQUEST_MAGIC, .method = c->method_ids[method],
	};
	size_t body, len;
	uint8_t *buf;
	int err;

	if (!input || input->descriptor != m->input)
		return -EINVAL;
	body = protobuf_c_message_get_packed_size(input);
	len = sizeof(hdr) + body;
	if (len <= c->max_message) {
		void *slot;

		err = mpkshm_reserve(c->ch, len, &slot, left(end));
		if (err)
			return err;
		buf = slot;
		memcpy(buf, &hdr, sizeof(hdr));
		protobuf_c_message_pack(input, buf + sizeof(hdr));
		return mpkshm_call_commit(c->ch, len, c->server, NULL, 0,
					  left(end), call);
	}
	buf = mpkrpc_big_alloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &hdr, sizeof(hdr));
	protobuf_c_message_pack(input, buf + sizeof(hdr));
	err = mpkshm_call_start(c->ch, c->server, buf, len, NULL, 0, left(end),
				call);
	mpkrpc_big_free(buf);
	return err;
}

/*
 * The reply @resp (@len bytes) to @method: its status, and on OK the
 * unpacked message in *@output.  Records the status for this thread.
 */
static int read_reply(struct mpkrpc_client *c, unsigned int method,
		      const uint8_t *resp, size_t len,
		      ProtobufCMessage **output)
{
	const ProtobufCMethodDescriptor *m = &c->service.descriptor->methods[method];
	struct mpkrpc_wire_reply hdr;
	const uint8_t *body;

	*output = NULL;
	if (len < sizeof(hdr)) {
		mpkrpc_set_last(MPKRPC_DATA_LOSS, "short reply", 11);
		return MPKRPC_DATA_LOSS;
	}
	memcpy(&hdr, resp, sizeof(hdr));
	if (hdr.magic != MPKRPC_REPLY_MAGIC ||
	    hdr.message_len > len - sizeof(hdr) ||
	    hdr.message_len > MPKRPC_MESSAGE_MAX) {
		mpkrpc_set_last(MPKRPC_DATA_LOSS, "not a reply", 11);
		return MPKRPC_DATA_LOSS;
	}
	body = resp + sizeof(hdr) + hdr.message_len;
	if (hdr.status != MPKRPC_OK) {
		/* A status out of range is passed on: the server knows. */
		mpkrpc_set_last((int)hdr.status, (const char *)resp + sizeof(hdr),
				hdr.message_len);
		return (int)hdr.status;
	}
	*output = protobuf_c_message_unpack(m->output, NULL,
					    len - sizeof(hdr) - hdr.message_len,
					    body);
	if (!*output) {
		mpkrpc_set_last(MPKRPC_DATA_LOSS, "reply does not unpack", 21);
		return MPKRPC_DATA_LOSS;
	}
	mpkrpc_set_last(MPKRPC_OK, NULL, 0);
	return MPKRPC_OK;
}

/* The end of a call in libmpkshm's terms (@err) turned into a status. */
static int ended(struct mpkrpc_client *c, unsigned int method, int err,
		 void *resp, size_t len, ProtobufCMessage **output)
{
	int status;

	*output = NULL;
	if (err) {
		status = mpkrpc_status_from_errno(err);
		mpkrpc_set_last(status, NULL, 0);
		return status;
	}
	status = read_reply(c, method, resp, len, output);
	free(resp);
	return status;
}

static uint64_t end_of(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
}

MPKRPC_EXPORT int mpkrpc_call(struct mpkrpc_client *c, unsigned int method,
			      const ProtobufCMessage *input,
			      ProtobufCMessage **output, int timeout_ms)
{
	uint64_t end = end_of(timeout_ms), call;
	void *resp = NULL;
	size_t len = 0;
	int err;

	if (!output)
		return MPKRPC_INVALID_ARGUMENT;
	*output = NULL;
	if (!c || method >= c->service.descriptor->n_methods) {
		mpkrpc_set_last(MPKRPC_INVALID_ARGUMENT, NULL, 0);
		return MPKRPC_INVALID_ARGUMENT;
	}
	err = send_request(c, method, input, end, &call);
	/* Its deadline, set when it was sent, ends the wait. */
	if (!err)
		err = mpkshm_call_take(c->ch, call, &resp, &len, -1);
	return ended(c, method, err, resp, len, output);
}

/* protoc-c's stubs come here: the call, then its closure. */
static void invoke(ProtobufCService *service, unsigned int method,
		   const ProtobufCMessage *input, ProtobufCClosure closure,
		   void *closure_data)
{
	struct mpkrpc_client *c = (struct mpkrpc_client *)service;
	ProtobufCMessage *output = NULL;

	mpkrpc_call(c, method, input, &output, c->timeout_ms);
	if (closure)
		closure(output, closure_data);
	if (output)
		protobuf_c_message_free_unpacked(output, NULL);
}

static void destroy(ProtobufCService *service)
{
	mpkrpc_client_free((struct mpkrpc_client *)service);
}

MPKRPC_EXPORT int mpkrpc_client_new(struct mpkshm_channel *ch,
				    uint64_t server,
				    const ProtobufCServiceDescriptor *desc,
				    struct mpkrpc_client **out)
{
	struct mpkrpc_client *c;
	struct mpkshm_info info;
	unsigned int i;
	int err;

	if (!ch || !desc || !out || !server ||
	    desc->magic != PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC)
		return -EINVAL;
	err = mpkshm_info(ch, &info);
	if (err)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->method_ids = calloc(desc->n_methods ? desc->n_methods : 1,
			       sizeof(*c->method_ids));
	if (!c->method_ids) {
		free(c);
		return -ENOMEM;
	}
	for (i = 0; i < desc->n_methods; i++)
		c->method_ids[i] = mpkrpc_method_id(desc, i);
	c->service.descriptor = desc;
	c->service.invoke = invoke;
	c->service.destroy = destroy;
	c->ch = ch;
	c->server = server;
	c->max_message = info.max_message;
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->dispatching, NULL);
	*out = c;
	return 0;
}

MPKRPC_EXPORT void mpkrpc_client_free(struct mpkrpc_client *c)
{
	struct pending *p, *next;

	if (!c)
		return;
	for (p = c->pending; p; p = next) {
		next = p->next;
		mpkshm_call_cancel(c->ch, p->call);
		free(p);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->dispatching);
	free(c->method_ids);
	free(c);
}

MPKRPC_EXPORT ProtobufCService *mpkrpc_client_service(struct mpkrpc_client *c)
{
	return c ? &c->service : NULL;
}

MPKRPC_EXPORT void mpkrpc_client_set_timeout(struct mpkrpc_client *c,
					     int timeout_ms)
{
	if (c)
		c->timeout_ms = timeout_ms;
}

/* --- calls in flight --------------------------------------------------- */

MPKRPC_EXPORT int mpkrpc_call_start(struct mpkrpc_client *c,
				    unsigned int method,
				    const ProtobufCMessage *input,
				    ProtobufCClosure closure,
				    void *closure_data, int timeout_ms,
				    uint64_t *call)
{
	struct pending *p;
	int err;

	if (!c || !closure || method >= c->service.descriptor->n_methods)
		return MPKRPC_INVALID_ARGUMENT;
	p = calloc(1, sizeof(*p));
	if (!p)
		return MPKRPC_RESOURCE_EXHAUSTED;
	err = send_request(c, method, input, end_of(timeout_ms), &p->call);
	if (err) {
		free(p);
		return mpkrpc_status_from_errno(err);
	}
	p->method = method;
	p->closure = closure;
	p->closure_data = closure_data;
	pthread_mutex_lock(&c->lock);
	p->next = c->pending;
	c->pending = p;
	c->in_flight++;
	pthread_mutex_unlock(&c->lock);
	if (call)
		*call = p->call;
	return MPKRPC_OK;
}

/* Takes the first call that ended off the list, or NULL. */
static struct pending *next_ended(struct mpkrpc_client *c, int *err,
				  void **resp, size_t *len)
{
	struct pending **pp, *p;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->pending; (p = *pp); pp = &p->next) {
		*err = mpkshm_call_take(c->ch, p->call, resp, len, 0);
		if (*err == -EAGAIN)
			continue;
		*pp = p->next;
		c->in_flight--;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return p;
}

static int run_ended(struct mpkrpc_client *c)
{
	ProtobufCMessage *output;
	struct pending *p;
	void *resp = NULL;
	size_t len = 0;
	int err, ran = 0;

	while ((p = next_ended(c, &err, &resp, &len))) {
		ended(c, p->method, err, resp, len, &output);
		p->closure(output, p->closure_data);
		if (output)
			protobuf_c_message_free_unpacked(output, NULL);
		free(p);
		resp = NULL;
		ran++;
	}
	return ran;
}

MPKRPC_EXPORT int mpkrpc_client_dispatch(struct mpkrpc_client *c,
					 int timeout_ms)
{
	uint64_t end = end_of(timeout_ms);
	struct pollfd pfd;
	int ran;

	if (!c)
		return -EINVAL;
	pfd.fd = mpkshm_fd(c->ch);
	if (pfd.fd < 0)
		return pfd.fd;
	pfd.events = POLLIN;
	pthread_mutex_lock(&c->dispatching);
	for (;;) {
		ran = run_ended(c);
		if (ran || !left(end) || !mpkrpc_client_in_flight(c))
			break;
		/*
		 * 1: something waits, a response (taken next round) or a
		 * message for mpkshm_recv(), which is not ours to take: then
		 * sleep a little rather than spin on it.
		 */
		if (mpkshm_wait_prepare(c->ch) == 0)
			poll(&pfd, 1, left(end));
		else
			poll(NULL, 0, left(end) < 0 || left(end) > 1 ? 1 : 0);
	}
	pthread_mutex_unlock(&c->dispatching);
	return ran;
}

MPKRPC_EXPORT int mpkrpc_client_fd(struct mpkrpc_client *c)
{
	return c ? mpkshm_fd(c->ch) : -EINVAL;
}

MPKRPC_EXPORT int mpkrpc_client_cancel(struct mpkrpc_client *c, uint64_t call)
{
	struct pending **pp, *p;

	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	for (pp = &c->pending; (p = *pp); pp = &p->next) {
		if (p->call == call) {
			*pp = p->next;
			c->in_flight--;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (!p)
		return -ENOENT;
	mpkshm_call_cancel(c->ch, call);
	free(p);
	return 0;
}

MPKRPC_EXPORT unsigned int mpkrpc_client_in_flight(struct mpkrpc_client *c)
{
	unsigned int n;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	n = c->in_flight;
	pthread_mutex_unlock(&c->lock);
	return n;
}
