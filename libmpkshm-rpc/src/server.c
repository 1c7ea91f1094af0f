// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Servers: requests from mpkshm_serve(), unpacked with the method's input
 * descriptor, handed to the service's implementation, its reply packed
 * where it goes.
 *
 * Everything a client controls ends in a status for that client and
 * nothing else: a header that is not ours, a method no service here has,
 * a body that does not unpack.  What mpkshm_serve() refuses before we see
 * it (too large, forged, replayed) its callers learn from libmpkshm.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpkshm-rpc.h"
#include "wire.h"

#define MPKRPC_EXPORT __attribute__((visibility("default")))

struct method {
	uint64_t id;
	ProtobufCService *service;
	unsigned int index;
};

/* What a verified caller looked like, once looked up. */
struct known_caller {
	uint64_t member_id;		/* 0: free */
	struct mpkrpc_caller caller;
};

struct mpkrpc_server {
	struct mpkshm_channel *ch;
	size_t max_message;
	bool signed_channel;
	pthread_rwlock_t lock;		/* methods, services */
	struct method *methods;		/* sorted by id */
	unsigned int n_methods;
	ProtobufCService **services;
	unsigned int n_services;
	pthread_mutex_t callers_lock;
	struct known_caller callers[64];
	unsigned int next_caller;
	_Atomic uint64_t calls, failed, unimplemented, invalid;
};

/* One request being served: the closure_data a method's function gets. */
struct serving {
	struct mpkrpc_server *server;
	struct mpkshm_request *req;
	const ProtobufCMessageDescriptor *output;	/* the method's */
	bool replied;
	int fail_status;
	char fail_message[MPKRPC_MESSAGE_MAX + 1];
	bool have_caller;
	struct mpkrpc_caller caller;
};

static int reply_status(struct serving *s, int status, const char *message)
{
	struct {
		struct mpkrpc_wire_reply hdr;
		char message[MPKRPC_MESSAGE_MAX];
	} r = { .hdr = { .magic = MPKRPC_REPLY_MAGIC, .status = (uint32_t)status } };
	size_t len = message ? strnlen(message, MPKRPC_MESSAGE_MAX) : 0;

	memcpy(r.message, message ? message : "", len);
	r.hdr.message_len = (uint32_t)len;
	s->replied = true;
	atomic_fetch_add(&s->server->failed, 1);
	return mpkshm_reply(s->server->ch, s->req, &r, sizeof(r.hdr) + len);
}

/* Packs @msg as the OK reply: in place when it fits one record. */
static int reply_message(struct serving *s, const ProtobufCMessage *msg)
{
	struct mpkrpc_wire_reply hdr = { .magic = MPKRPC_REPLY_MAGIC };
	size_t len = sizeof(hdr) + protobuf_c_message_get_packed_size(msg);
	struct mpkshm_channel *ch = s->server->ch;
	uint8_t *buf;
	void *slot;
	int err;

	s->replied = true;
	if (len <= s->server->max_message &&
	    !mpkshm_reply_reserve(ch, s->req, len, &slot)) {
		buf = slot;
		memcpy(buf, &hdr, sizeof(hdr));
		protobuf_c_message_pack(msg, buf + sizeof(hdr));
		return mpkshm_reply_commit(ch, s->req, len);
	}
	buf = mpkrpc_big_alloc(len);
	if (!buf) {
		s->replied = false;
		return reply_status(s, MPKRPC_RESOURCE_EXHAUSTED,
				    "no memory for the reply");
	}
	memcpy(buf, &hdr, sizeof(hdr));
	protobuf_c_message_pack(msg, buf + sizeof(hdr));
	err = mpkshm_reply(ch, s->req, buf, len);
	mpkrpc_big_free(buf);
	return err;
}

/* The closure a method's function runs: its reply, or NULL for failure. */
static void closure(const ProtobufCMessage *msg, void *closure_data)
{
	struct serving *s = closure_data;

	if (s->replied)
		return;		/* a second run of the closure: ignored */
	if (msg && msg->descriptor != s->output)
		reply_status(s, MPKRPC_INTERNAL,
			     "the method replied with a message of another type");
	else if (msg)
		reply_message(s, msg);
	else
		reply_status(s, s->fail_status, s->fail_message);
}

static const struct method *find_method(const struct mpkrpc_server *srv,
					uint64_t id)
{
	unsigned int lo = 0, hi = srv->n_methods;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (srv->methods[mid].id == id)
			return &srv->methods[mid];
		if (srv->methods[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int handle(void *arg, struct mpkshm_request *req)
{
	struct mpkrpc_server *srv = arg;
	struct serving s = {
		.server = srv, .req = req, .fail_status = MPKRPC_INTERNAL,
	};
	struct mpkrpc_wire_request hdr;
	const ProtobufCMethodDescriptor *desc;
	ProtobufCMessage *input;
	struct method m;
	const struct method *found;

	if (req->len < sizeof(hdr))
		goto invalid;
	memcpy(&hdr, req->data, sizeof(hdr));
	if (hdr.magic != MPKRPC_REQUEST_MAGIC)
		goto invalid;
	pthread_rwlock_rdlock(&srv->lock);
	found = find_method(srv, hdr.method);
	if (found)
		m = *found;
	pthread_rwlock_unlock(&srv->lock);
	if (!found) {
		atomic_fetch_add(&srv->unimplemented, 1);
		reply_status(&s, MPKRPC_UNIMPLEMENTED,
			     "no such method served here");
		return 0;
	}
	desc = &m.service->descriptor->methods[m.index];
	s.output = desc->output;
	input = protobuf_c_message_unpack(desc->input, &mpkrpc_allocator,
					  req->len - sizeof(hdr),
					  (const uint8_t *)req->data + sizeof(hdr));
	if (!input)
		goto invalid;
	atomic_fetch_add(&srv->calls, 1);
	m.service->invoke(m.service, m.index, input, closure, &s);
	protobuf_c_message_free_unpacked(input, &mpkrpc_allocator);
	if (!s.replied)
		reply_status(&s, MPKRPC_INTERNAL,
			     "the method returned without running its closure");
	return 0;

invalid:
	atomic_fetch_add(&srv->invalid, 1);
	reply_status(&s, MPKRPC_INVALID_ARGUMENT, "the request does not unpack");
	return 0;	/* a status the caller gets, not the server's failure */
}

MPKRPC_EXPORT int mpkrpc_server_new(struct mpkshm_channel *ch,
				    struct mpkrpc_server **out)
{
	struct mpkrpc_server *srv;
	struct mpkshm_info info;
	int err;

	if (!ch || !out)
		return -EINVAL;
	err = mpkshm_info(ch, &info);
	if (err)
		return err;
	if ((info.rights & (MPKSHM_RIGHT_READ | MPKSHM_RIGHT_WRITE)) !=
	    (MPKSHM_RIGHT_READ | MPKSHM_RIGHT_WRITE))
		return -EPERM;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->ch = ch;
	srv->max_message = info.max_message;
	srv->signed_channel = info.protection & MPKSHM_PROT_SIGNED;
	pthread_rwlock_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->callers_lock, NULL);
	*out = srv;
	return 0;
}

MPKRPC_EXPORT void mpkrpc_server_free(struct mpkrpc_server *srv)
{
	if (!srv)
		return;
	pthread_rwlock_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->callers_lock);
	free(srv->methods);
	free(srv->services);
	free(srv);
}

static int by_id(const void *a, const void *b)
{
	const struct method *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Room for @n methods and one more service; srv->lock held. */
static int make_room(struct mpkrpc_server *srv, unsigned int n)
{
	ProtobufCService **services;
	struct method *methods;

	methods = realloc(srv->methods, (n ? n : 1) * sizeof(*methods));
	if (!methods)
		return -ENOMEM;
	srv->methods = methods;
	services = realloc(srv->services,
			   (srv->n_services + 1) * sizeof(*services));
	if (!services)
		return -ENOMEM;
	srv->services = services;
	return 0;
}

MPKRPC_EXPORT int mpkrpc_server_add(struct mpkrpc_server *srv,
				    ProtobufCService *service)
{
	const ProtobufCServiceDescriptor *desc;
	unsigned int i, n;
	int err = 0;

	if (!srv || !service || !service->descriptor || !service->invoke ||
	    service->descriptor->magic != PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC)
		return -EINVAL;
	desc = service->descriptor;
	pthread_rwlock_wrlock(&srv->lock);
	for (i = 0; i < srv->n_services; i++)
		if (!strcmp(srv->services[i]->descriptor->name, desc->name))
			err = -EEXIST;
	n = srv->n_methods + desc->n_methods;
	if (!err)
		err = make_room(srv, n);
	if (!err) {
		srv->services[srv->n_services++] = service;
		for (i = 0; i < desc->n_methods; i++)
			srv->methods[srv->n_methods + i] = (struct method){
				.id = mpkrpc_method_id(desc, i),
				.service = service, .index = i,
			};
		srv->n_methods = n;
		qsort(srv->methods, n, sizeof(*srv->methods), by_id);
	}
	pthread_rwlock_unlock(&srv->lock);
	return err;
}

MPKRPC_EXPORT int mpkrpc_serve(struct mpkrpc_server *srv)
{
	if (!srv)
		return -EINVAL;
	return mpkshm_serve(srv->ch, handle, srv);
}

MPKRPC_EXPORT void mpkrpc_server_stop(struct mpkrpc_server *srv)
{
	if (srv)
		mpkshm_serve_stop(srv->ch);
}

/* The member behind @member_id, looked up once per member. */
static void look_up(struct mpkrpc_server *srv, uint64_t member_id,
		    struct mpkrpc_caller *out)
{
	struct mpkshm_member m;
	unsigned int i;

	*out = (struct mpkrpc_caller){ .member_id = member_id };
	pthread_mutex_lock(&srv->callers_lock);
	for (i = 0; i < 64; i++) {
		if (srv->callers[i].member_id == member_id) {
			*out = srv->callers[i].caller;
			pthread_mutex_unlock(&srv->callers_lock);
			return;
		}
	}
	pthread_mutex_unlock(&srv->callers_lock);
	/* Member ids are never reused: what we learn stays true. */
	if (mpkshm_member_info(srv->ch, member_id, &m))
		return;
	out->pid = m.pid;
	out->uid = m.uid;
	/* libmpkshm verified the request with the key on record, if signed. */
	out->authenticated = srv->signed_channel && m.has_public_key;
	if (out->authenticated)
		memcpy(out->public_key, m.public_key, sizeof(out->public_key));
	pthread_mutex_lock(&srv->callers_lock);
	srv->callers[srv->next_caller] = (struct known_caller){
		.member_id = member_id, .caller = *out,
	};
	srv->next_caller = (srv->next_caller + 1) % 64;
	pthread_mutex_unlock(&srv->callers_lock);
}

MPKRPC_EXPORT const struct mpkrpc_caller *mpkrpc_server_caller(void *closure_data)
{
	struct serving *s = closure_data;

	if (!s)
		return NULL;
	if (!s->have_caller) {
		look_up(s->server, s->req->client, &s->caller);
		s->have_caller = true;
	}
	return &s->caller;
}

MPKRPC_EXPORT void mpkrpc_server_fail(void *closure_data, int status,
				      const char *message)
{
	struct serving *s = closure_data;

	if (!s)
		return;
	s->fail_status = status > 0 ? status : MPKRPC_INTERNAL;
	snprintf(s->fail_message, sizeof(s->fail_message), "%s",
		 message ? message : "");
}

MPKRPC_EXPORT void mpkrpc_server_stats(struct mpkrpc_server *srv,
				       struct mpkrpc_server_stats *stats)
{
	if (!srv || !stats)
		return;
	*stats = (struct mpkrpc_server_stats){
		.calls = atomic_load(&srv->calls),
		.failed = atomic_load(&srv->failed),
		.unimplemented = atomic_load(&srv->unimplemented),
		.invalid = atomic_load(&srv->invalid),
	};
}
