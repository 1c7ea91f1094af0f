// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Calls that succeed, every way there is to make one: protoc-c's stub with
 * its closure, the generated helper, many sizes, many threads, many calls
 * in flight from one thread; and a client that dies half way, which must
 * cost the server nothing.  Every backend (lib_test.h).
 */
#include "kselftest_harness.h"
#include "rpc_lib_test.h"

LT_FIXTURE(rpc);

/* Fills @len bytes with a pattern of @seed, different per call. */
static void pattern(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 8));
}

static bool echoed(const Rpctest__Blob *in, const uint8_t *sent, size_t len)
{
	return in && in->data.len == len && !memcmp(in->data.data, sent, len) &&
	       in->checksum == rt_checksum(sent, len);
}

struct stub_result {
	bool called;
	bool intact;
	const uint8_t *sent;
	size_t len;
};

static void stub_closure(const Rpctest__Blob *out, void *data)
{
	struct stub_result *r = data;

	r->called = true;
	r->intact = echoed(out, r->sent, r->len);
}

TEST_F(rpc, protoc_c_stub_runs_its_closure_with_the_reply)
{
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	uint8_t data[100];
	Rpctest__Blob req = RPCTEST__BLOB__INIT;
	struct stub_result r = { .sent = data, .len = sizeof(data) };
	struct rt_server s;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	pattern(data, sizeof(data), 1);
	req.data.data = data;
	req.data.len = sizeof(data);
	/* protoc-c's own stub, through the client's ProtobufCService. */
	rpctest__echo__echo(mpkrpc_client_service(c), &req, stub_closure, &r);
	EXPECT_TRUE(r.called);
	EXPECT_TRUE(r.intact);
	EXPECT_EQ(MPKRPC_OK, mpkrpc_client_last_status());
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST_F(rpc, generated_helper_returns_the_reply)
{
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	Rpctest__Blob req = RPCTEST__BLOB__INIT, *resp = NULL;
	uint8_t data[] = "word count";
	struct rt_server s;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	req.data.data = data;
	req.data.len = sizeof(data);
	ASSERT_EQ(MPKRPC_OK, rpctest__echo__echo_call(c, &req, &resp, 2000));
	EXPECT_TRUE(echoed(resp, data, sizeof(data)));
	rpctest__blob__free_unpacked(resp, NULL);
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

/*
 * Sizes from 1 B to 1 MiB: mostly small, one call in a hundred above the
 * segment (split both ways), so the guest's emulated copies stay bounded.
 */
static size_t size_of_call(unsigned int i)
{
	unsigned int shift = i % 100 == 99 ? 16 + (i / 100) % 5 : (i * 7) % 13;
	size_t len = ((size_t)1 << shift) + (i * 2654435761u) % ((size_t)1 << shift);

	return len > (1u << 20) ? 1u << 20 : len;
}

/*
 * Ten thousand calls up to 1 MiB: under TCG on a loaded host more than the
 * harness's default 30 s.  It checks that every reply comes back intact.
 */
TEST_F_TIMEOUT(rpc, ten_thousand_calls_of_1_byte_to_1_mib_come_back_intact, 240)
{
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	uint8_t *data = malloc(1u << 20);
	unsigned int i, bad = 0, first_bad = 0;
	size_t largest = 0, smallest = SIZE_MAX;
	struct rt_server s;

	ASSERT_NE(NULL, c);
	ASSERT_NE(NULL, data);
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	for (i = 0; i < 10000; i++) {
		Rpctest__Blob req = RPCTEST__BLOB__INIT, *resp = NULL;
		size_t len = size_of_call(i);
		int st;

		pattern(data, len, i);
		req.data.data = data;
		req.data.len = len;
		st = rpctest__echo__echo_call(c, &req, &resp, 10000);
		if (st != MPKRPC_OK || !echoed(resp, data, len)) {
			if (!bad++)
				first_bad = i;
		}
		if (resp)
			rpctest__blob__free_unpacked(resp, NULL);
		largest = len > largest ? len : largest;
		smallest = len < smallest ? len : smallest;
	}
	EXPECT_EQ(0, bad) TH_LOG("first bad call %u (%zu bytes)", first_bad,
				 size_of_call(first_bad));
	EXPECT_EQ(1, smallest);
	EXPECT_EQ(1u << 20, largest);
	EXPECT_EQ(0, rt_server_stop(&s));
	free(data);
	mpkrpc_client_free(c);
}

struct caller_thread {
	struct mpkrpc_client *c;
	unsigned int id;
	unsigned int good;
	pthread_t thread;
};

static void *calls_from_a_thread(void *arg)
{
	struct caller_thread *t = arg;
	uint8_t data[300];
	unsigned int i;

	for (i = 0; i < 300; i++) {
		Rpctest__Blob req = RPCTEST__BLOB__INIT, *resp = NULL;
		size_t len = 1 + (i * 13 + t->id * 17) % sizeof(data);

		pattern(data, len, t->id * 1000 + i);
		req.data.data = data;
		req.data.len = len;
		if (rpctest__echo__echo_call(t->c, &req, &resp, 10000) ==
		    MPKRPC_OK && echoed(resp, data, len))
			t->good++;
		if (resp)
			rpctest__blob__free_unpacked(resp, NULL);
	}
	return NULL;
}

TEST_F(rpc, eight_threads_calling_on_one_client_each_get_their_own_replies)
{
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	struct caller_thread t[8];
	struct rt_server s;
	unsigned int i;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	for (i = 0; i < 8; i++) {
		t[i] = (struct caller_thread){ .c = c, .id = i };
		ASSERT_EQ(0, pthread_create(&t[i].thread, NULL,
					    calls_from_a_thread, &t[i]));
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i].thread, NULL);
		EXPECT_EQ(300, t[i].good) TH_LOG("thread %u", i);
	}
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

struct in_flight {
	uint8_t data[64];
	size_t len;
	int runs;
	bool intact;
};

static void flight_closure(const Rpctest__Blob *out, void *arg)
{
	struct in_flight *f = arg;

	f->runs++;
	f->intact = echoed(out, f->data, f->len);
}

TEST_F(rpc, one_thread_keeps_64_calls_in_flight_each_closure_runs_once)
{
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	struct in_flight f[64];
	long long deadline;
	struct rt_server s;
	unsigned int i, ran = 0;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	for (i = 0; i < 64; i++) {
		Rpctest__Blob req = RPCTEST__BLOB__INIT;

		f[i] = (struct in_flight){ .len = 1 + i };
		pattern(f[i].data, f[i].len, i);
		req.data.data = f[i].data;
		req.data.len = f[i].len;
		ASSERT_EQ(MPKRPC_OK, rpctest__echo__echo_start(c, &req,
				flight_closure, &f[i], 10000, NULL));
	}
	EXPECT_EQ(64, mpkrpc_client_in_flight(c));
	deadline = lt_now_ns() + 10000000000LL;
	while (ran < 64 && lt_now_ns() < deadline) {
		int n = mpkrpc_client_dispatch(c, 1000);

		ASSERT_LE(0, n);
		ran += (unsigned int)n;
	}
	EXPECT_EQ(64, ran);
	EXPECT_EQ(0, mpkrpc_client_in_flight(c));
	for (i = 0; i < 64; i++) {
		EXPECT_EQ(1, f[i].runs) TH_LOG("call %u", i);
		EXPECT_TRUE(f[i].intact) TH_LOG("call %u", i);
	}
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST_F(rpc, cancelled_call_never_runs_its_closure)
{
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	Rpctest__SleepRequest req = RPCTEST__SLEEP_REQUEST__INIT;
	struct in_flight f = { 0 };
	struct rt_server s;
	uint64_t call;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	req.ms = 50;
	ASSERT_EQ(MPKRPC_OK, rpctest__echo__sleep_start(c, &req,
			(Rpctest__Blob_Closure)flight_closure, &f, 5000,
			&call));
	EXPECT_EQ(0, mpkrpc_client_cancel(c, call));
	EXPECT_EQ(-ENOENT, mpkrpc_client_cancel(c, call));
	EXPECT_EQ(0, mpkrpc_client_dispatch(c, 200));
	EXPECT_EQ(0, f.runs);
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

/* A client in a process of its own: starts a slow call, then is killed. */
static int dying_client(const char *name, enum mpkshm_backend backend,
			uint64_t server, int ready)
{
	Rpctest__SleepRequest req = RPCTEST__SLEEP_REQUEST__INIT;
	struct mpkshm_channel *ch;
	struct mpkrpc_client *c;
	struct in_flight f = { 0 };

	int err = lt_open(backend, name, 0, &ch);

	if (err)
		return 100 - err;
	if (rpctest__echo__client_new(ch, server, &c))
		return 1;
	req.ms = 300;
	if (rpctest__echo__sleep_start(c, &req,
			(Rpctest__Blob_Closure)flight_closure, &f, 5000, NULL))
		return 2;
	if (write(ready, "r", 1) != 1)
		return 3;
	pause();	/* killed here, its call in flight */
	return 0;
}

TEST_F(rpc, client_killed_mid_call_stops_no_server)
{
	struct mpkrpc_client *c = rt_client(self->b, self->a);
	Rpctest__Blob req = RPCTEST__BLOB__INIT, *resp = NULL;
	uint8_t data[] = "still here";
	struct rt_server s;
	uint64_t server;
	int p[2], status;
	char ch;
	pid_t pid;

	if (variant->backend == MPKSHM_BACKEND_THREAD)
		SKIP(return, "thread endpoints live in one process");
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, rt_server_start(&s, self->a));
	ASSERT_EQ(0, pipe(p));
	server = rt_member_id(self->a);	/* the child's endpoints are none */
	pid = fork();
	if (pid == 0)
		_exit(dying_client(self->name, variant->backend, server, p[1]));
	close(p[1]);	/* a child that fails ends the read */
	ASSERT_EQ(1, read(p[0], &ch, 1)) {
		waitpid(pid, &status, 0);
		TH_LOG("the client exited with %d", WEXITSTATUS(status));
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	req.data.data = data;
	req.data.len = sizeof(data);
	EXPECT_EQ(MPKRPC_OK, rpctest__echo__echo_call(c, &req, &resp, 5000));
	EXPECT_TRUE(echoed(resp, data, sizeof(data)));
	if (resp)
		rpctest__blob__free_unpacked(resp, NULL);
	EXPECT_EQ(0, rt_server_stop(&s));
	close(p[0]);
	mpkrpc_client_free(c);
}

TEST_HARNESS_MAIN
