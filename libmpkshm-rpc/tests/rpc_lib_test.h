/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * What the RPC tests share: the rpctest.Echo service (rpc_test.proto) and
 * a server of it on a thread of its own, over every backend (lib_test.h's
 * fixture: endpoint a serves, endpoint b calls).
 */
#ifndef MPKRPC_LIB_TEST_H
#define MPKRPC_LIB_TEST_H

#include <poll.h>
#include <pthread.h>

#include "lib_test.h"
#include "rpc_test.mpkshm.h"

static inline uint64_t rt_checksum(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static void rt_echo(Rpctest__Echo_Service *service, const Rpctest__Blob *in,
		    Rpctest__Blob_Closure closure, void *closure_data)
{
	Rpctest__Blob out = RPCTEST__BLOB__INIT;

	(void)service;
	out.data = in->data;
	out.checksum = rt_checksum(in->data.data, in->data.len);
	closure(&out, closure_data);
}

static void rt_fail(Rpctest__Echo_Service *service,
		    const Rpctest__FailRequest *in,
		    Rpctest__Blob_Closure closure, void *closure_data)
{
	(void)service;
	if (in->status)
		mpkrpc_server_fail(closure_data, (int)in->status, in->message);
	closure(NULL, closure_data);
}

static void rt_sleep(Rpctest__Echo_Service *service,
		     const Rpctest__SleepRequest *in,
		     Rpctest__Blob_Closure closure, void *closure_data)
{
	Rpctest__Blob out = RPCTEST__BLOB__INIT;

	(void)service;
	poll(NULL, 0, (int)in->ms);
	closure(&out, closure_data);
}

static void rt_who_am_i(Rpctest__Echo_Service *service,
			const Rpctest__Empty *in,
			Rpctest__Caller_Closure closure, void *closure_data)
{
	const struct mpkrpc_caller *c = mpkrpc_server_caller(closure_data);
	Rpctest__Caller out = RPCTEST__CALLER__INIT;

	(void)service;
	(void)in;
	out.member_id = c->member_id;
	out.uid = c->uid;
	out.pid = c->pid;
	out.authenticated = c->authenticated;
	if (c->authenticated) {
		out.public_key.data = (uint8_t *)c->public_key;
		out.public_key.len = sizeof(c->public_key);
	}
	closure(&out, closure_data);
}

static void rt_forget(Rpctest__Echo_Service *service, const Rpctest__Empty *in,
		      Rpctest__Empty_Closure closure, void *closure_data)
{
	(void)service;
	(void)in;
	(void)closure;
	(void)closure_data;
}

static void rt_mistyped(Rpctest__Echo_Service *service,
			const Rpctest__Empty *in,
			Rpctest__Blob_Closure closure, void *closure_data)
{
	Rpctest__Empty wrong = RPCTEST__EMPTY__INIT;

	(void)service;
	(void)in;
	closure((const Rpctest__Blob *)(const void *)&wrong, closure_data);
}

static Rpctest__Echo_Service rt_service = RPCTEST__ECHO__INIT(rt_);

/* mpkrpc_serve() of rt_service on endpoint @ch, on a thread. */
struct rt_server {
	struct mpkrpc_server *srv;
	int err;
	pthread_t thread;
};

static inline void *rt_server_main(void *arg)
{
	struct rt_server *s = arg;

	s->err = mpkrpc_serve(s->srv);
	return NULL;
}

static inline int rt_server_start(struct rt_server *s,
				  struct mpkshm_channel *ch)
{
	int err = mpkrpc_server_new(ch, &s->srv);

	if (!err)
		err = rpctest__echo__serve(s->srv, &rt_service);
	if (!err)
		err = pthread_create(&s->thread, NULL, rt_server_main, s);
	return err;
}

/* Stops the server: what mpkrpc_serve() returned. */
static inline int rt_server_stop(struct rt_server *s)
{
	mpkrpc_server_stop(s->srv);
	pthread_join(s->thread, NULL);
	mpkrpc_server_free(s->srv);
	return s->err;
}

static inline uint64_t rt_member_id(struct mpkshm_channel *ch)
{
	struct mpkshm_info info;

	return mpkshm_info(ch, &info) ? 0 : info.member_id;
}

/* A client on @ch of the server endpoint @server_ch. */
static inline struct mpkrpc_client *rt_client(struct mpkshm_channel *ch,
					      struct mpkshm_channel *server_ch)
{
	struct mpkrpc_client *c = NULL;

	if (rpctest__echo__client_new(ch, rt_member_id(server_ch), &c))
		return NULL;
	return c;
}

#endif /* MPKRPC_LIB_TEST_H */
