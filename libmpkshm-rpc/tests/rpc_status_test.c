// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Every status the library gives, each reached by the failure it stands
 * for, and the server serving on after each: an unknown service, a
 * request that does not unpack or is not ours, a deadline, a method that
 * fails or forgets to reply, a status of the method's own, a message over
 * either side's limit, a server that is gone or dies mid-call, a rogue
 * server's replies.  Forged and replayed requests: rpc_signed_test.c.
 */
#include "kselftest_harness.h"
#include "rpc_lib_test.h"
#include "../src/wire.h"

LT_FIXTURE(status);

/* The status and message of a call of Fail(@code, @text). */
static int fail_with(struct mpkrpc_client *c, unsigned int code,
		     const char *text)
{
	Rpctest__FailRequest req = RPCTEST__FAIL_REQUEST__INIT;
	Rpctest__Blob *resp = NULL;
	int st;

	req.status = code;
	req.message = (char *)text;
	st = rpctest__echo__fail_call(c, &req, &resp, 2000);
	if (resp)
		rpctest__blob__free_unpacked(resp, NULL);
	return st;
}

/* An echo of @len bytes: its status. */
static int echo_of(struct mpkrpc_client *c, size_t len)
{
	Rpctest__Blob req = RPCTEST__BLOB__INIT, *resp = NULL;
	uint8_t *data = calloc(1, len ? len : 1);
	int st;

	req.data.data = data;
	req.data.len = len;
	st = rpctest__echo__echo_call(c, &req, &resp, 5000);
	if (resp)
		rpctest__blob__free_unpacked(resp, NULL);
	free(data);
	return st;
}

TEST_F(status, unknown_service_is_unimplemented)
{
	struct mpkrpc_client *other = NULL;
	Rpctest__Empty req = RPCTEST__EMPTY__INIT, *resp = NULL;
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	struct rt_server s;

	ASSERT_EQ(0, rpctest__elsewhere__client_new(self->b,
			rt_member_id(self->a), &other));
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	EXPECT_EQ(MPKRPC_UNIMPLEMENTED,
		  rpctest__elsewhere__ping_call(other, &req, &resp, 2000));
	EXPECT_EQ(NULL, resp);
	EXPECT_EQ(MPKRPC_OK, echo_of(c, 10));	/* and serving goes on */
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(other);
	mpkrpc_client_free(c);
}

/* What a raw request @req gets back: the status in our reply header. */
static int raw_call(struct mpkshm_channel *ch, uint64_t server,
		    const void *req, size_t len)
{
	struct mpkrpc_wire_reply hdr = { 0 };
	uint8_t resp[512];
	size_t got = 0;
	int err;

	err = mpkshm_call(ch, server, req, len, resp, sizeof(resp), &got, 2000);
	if (err)
		return -1000 + err;
	if (got < sizeof(hdr))
		return -1;
	memcpy(&hdr, resp, sizeof(hdr));
	return hdr.magic == MPKRPC_REPLY_MAGIC ? (int)hdr.status : -2;
}

TEST_F(status, request_that_does_not_unpack_is_invalid_argument)
{
	struct {
		struct mpkrpc_wire_request hdr;
		uint8_t body[32];
	} bad = { .hdr = { .magic = MPKRPC_REQUEST_MAGIC } };
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	struct rt_server s;

	bad.hdr.method = mpkrpc_method_id(&rpctest__echo__descriptor, 0);
	memset(bad.body, 0xff, sizeof(bad.body));	/* truncated varints */
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	EXPECT_EQ(MPKRPC_INVALID_ARGUMENT,
		  raw_call(self->b, rt_member_id(self->a), &bad, sizeof(bad)));
	/* Not even our header. */
	EXPECT_EQ(MPKRPC_INVALID_ARGUMENT,
		  raw_call(self->b, rt_member_id(self->a), "hello", 5));
	/* A method of ours that no service has. */
	bad.hdr.method ^= 1;
	EXPECT_EQ(MPKRPC_UNIMPLEMENTED,
		  raw_call(self->b, rt_member_id(self->a), &bad, sizeof(bad)));
	EXPECT_EQ(MPKRPC_OK, echo_of(c, 10));
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST_F(status, slow_reply_is_deadline_exceeded_on_time)
{
	Rpctest__SleepRequest req = RPCTEST__SLEEP_REQUEST__INIT;
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	Rpctest__Blob *resp = NULL;
	struct rt_server s;
	long long start, took;

	ASSERT_EQ(0, rt_server_start(&s, self->a));
	req.ms = 600;
	start = lt_now_ns();
	EXPECT_EQ(MPKRPC_DEADLINE_EXCEEDED,
		  rpctest__echo__sleep_call(c, &req, &resp, 100));
	took = lt_now_ns() - start;
	EXPECT_LE(90000000LL, took);
	EXPECT_GT(500000000LL, took);
	EXPECT_EQ(NULL, resp);
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST_F(status, method_that_fails_forgets_or_mistypes_is_internal)
{
	Rpctest__Empty req = RPCTEST__EMPTY__INIT, *resp = NULL;
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	struct rt_server s;

	ASSERT_EQ(0, rt_server_start(&s, self->a));
	EXPECT_EQ(MPKRPC_INTERNAL, fail_with(c, 0, NULL));
	EXPECT_EQ(MPKRPC_INTERNAL,
		  rpctest__echo__forget_call(c, &req, &resp, 2000));
	EXPECT_NE(NULL, strstr(mpkrpc_client_last_message(), "closure"));
	{
		Rpctest__Blob *blob = NULL;

		EXPECT_EQ(MPKRPC_INTERNAL,
			  rpctest__echo__mistyped_call(c, &req, &blob, 2000));
		EXPECT_NE(NULL, strstr(mpkrpc_client_last_message(),
				       "another type"));
	}
	EXPECT_EQ(MPKRPC_OK, echo_of(c, 10));
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST_F(status, method_status_and_message_reach_the_caller)
{
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	struct rt_server s;

	ASSERT_EQ(0, rt_server_start(&s, self->a));
	EXPECT_EQ(MPKRPC_NOT_FOUND, fail_with(c, MPKRPC_NOT_FOUND, "no order 7"));
	EXPECT_EQ(MPKRPC_NOT_FOUND, mpkrpc_client_last_status());
	EXPECT_STREQ("no order 7", mpkrpc_client_last_message());
	EXPECT_EQ(MPKRPC_PERMISSION_DENIED,
		  fail_with(c, MPKRPC_PERMISSION_DENIED, "not yours"));
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST_F(status, request_over_the_servers_limit_is_resource_exhausted)
{
	struct mpkshm_channel *small;
	struct mpkrpc_client *c;
	struct mpkshm_options o;
	struct rt_server s;

	lt_options(&o, variant->backend, 0);
	o.max_request_size = 4096;
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &small));
	c = rt_client(self->b, small);
	ASSERT_EQ(0, rt_server_start(&s, small));
	EXPECT_EQ(MPKRPC_RESOURCE_EXHAUSTED, echo_of(c, 8192));
	EXPECT_EQ(MPKRPC_OK, echo_of(c, 1000));
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
	mpkshm_close(small);
}

TEST_F(status, reply_over_the_clients_limit_is_resource_exhausted)
{
	struct mpkshm_channel *small;
	struct mpkrpc_client *c;
	struct mpkshm_options o;
	struct rt_server s;

	lt_options(&o, variant->backend, 0);
	o.max_response_size = 1024;
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &small));
	c = rt_client(small, self->a);
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	EXPECT_EQ(MPKRPC_RESOURCE_EXHAUSTED, echo_of(c, 4096));
	EXPECT_EQ(MPKRPC_OK, echo_of(c, 100));
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
	mpkshm_close(small);
}

TEST_F(status, server_not_on_the_channel_is_unavailable)
{
	struct mpkrpc_client *c;
	uint64_t gone = rt_member_id(self->a);

	mpkshm_close(self->a);
	self->a = NULL;
	ASSERT_EQ(0, rpctest__echo__client_new(self->b, gone, &c));
	EXPECT_EQ(MPKRPC_UNAVAILABLE, echo_of(c, 10));
	mpkrpc_client_free(c);
}

/* A server in a process of its own, killed while it sleeps in a call. */
static int doomed_server(const char *name, enum mpkshm_backend backend,
			 int ready)
{
	struct mpkshm_channel *ch;
	struct mpkrpc_server *srv;
	uint64_t id;

	if (lt_open(backend, name, 0, &ch) || mpkrpc_server_new(ch, &srv) ||
	    rpctest__echo__serve(srv, &rt_service))
		return 1;
	id = rt_member_id(ch);
	if (write(ready, &id, sizeof(id)) != sizeof(id))
		return 2;
	return mpkrpc_serve(srv) ? 3 : 0;
}

TEST_F(status, server_dying_mid_call_is_unavailable_at_once)
{
	Rpctest__SleepRequest req = RPCTEST__SLEEP_REQUEST__INIT;
	Rpctest__Blob *resp = NULL;
	struct mpkrpc_client *c;
	long long start, took;
	uint64_t server;
	int p[2], status;
	pid_t pid;

	if (variant->backend == MPKSHM_BACKEND_THREAD)
		SKIP(return, "thread endpoints live in one process");
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	if (pid == 0)
		_exit(doomed_server(self->name, variant->backend, p[1]));
	close(p[1]);	/* a child that fails ends the read */
	ASSERT_EQ(sizeof(server), read(p[0], &server, sizeof(server)));
	ASSERT_EQ(0, rpctest__echo__client_new(self->b, server, &c));
	if (fork() == 0) {
		usleep(100000);
		kill(pid, SIGKILL);
		_exit(0);
	}
	req.ms = 3000;
	start = lt_now_ns();
	EXPECT_EQ(MPKRPC_UNAVAILABLE,
		  rpctest__echo__sleep_call(c, &req, &resp, 5000));
	took = lt_now_ns() - start;
	EXPECT_GT(1500000000LL, took);
	waitpid(pid, &status, 0);
	wait(NULL);
	close(p[0]);
	mpkrpc_client_free(c);
}

/* A server of libmpkshm's that answers in its own way (not ours). */
static int rogue(void *arg, struct mpkshm_request *req)
{
	struct lt_server *s = arg;
	struct {
		struct mpkrpc_wire_reply hdr;
		uint8_t body[16];
	} r = { .hdr = { .magic = MPKRPC_REPLY_MAGIC } };

	memset(r.body, 0xff, sizeof(r.body));
	if (req->len % 2)
		return mpkshm_reply(s->ch, req, "no header", 9);
	return mpkshm_reply(s->ch, req, &r, sizeof(r));
}

TEST_F(status, reply_that_does_not_unpack_is_data_loss)
{
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	struct lt_server s;

	ASSERT_EQ(0, lt_server_start(&s, self->a, rogue, NULL));
	/* Packed sizes: 18 bytes of data make 20 + 16 of header, even. */
	EXPECT_EQ(MPKRPC_DATA_LOSS, echo_of(c, 18));
	EXPECT_EQ(MPKRPC_DATA_LOSS, echo_of(c, 17));
	EXPECT_EQ(0, lt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST(every_status_has_a_name_and_a_meaning)
{
	int st;

	for (st = MPKRPC_OK; st <= MPKRPC_UNAUTHENTICATED; st++) {
		if (st != MPKRPC_UNKNOWN)
			EXPECT_STRNE("UNKNOWN", mpkrpc_status_name(st));
		EXPECT_NE(0, strlen(mpkrpc_strerror(st)));
	}
	EXPECT_STREQ("DEADLINE_EXCEEDED",
		     mpkrpc_status_name(MPKRPC_DEADLINE_EXCEEDED));
	EXPECT_STREQ("UNKNOWN", mpkrpc_status_name(99));
	EXPECT_EQ(MPKRPC_DEADLINE_EXCEEDED, mpkrpc_status_from_errno(-ETIMEDOUT));
	EXPECT_EQ(MPKRPC_UNAVAILABLE, mpkrpc_status_from_errno(-ECONNRESET));
	EXPECT_EQ(MPKRPC_PERMISSION_DENIED,
		  mpkrpc_status_from_errno(-EKEYREJECTED));
	EXPECT_EQ(MPKRPC_PERMISSION_DENIED, mpkrpc_status_from_errno(-EPROTO));
	EXPECT_EQ(MPKRPC_RESOURCE_EXHAUSTED,
		  mpkrpc_status_from_errno(-EMSGSIZE));
}

TEST_HARNESS_MAIN
