// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Calls on every backend: many threads calling at once on one endpoint,
 * many calls in flight from one thread, readiness of replies on the fd, a
 * call consuming only its own response (the server's other messages stay
 * for mpkshm_recv()), one deadline for the whole call, cancelling, and the
 * server's errors reaching the caller.
 */
#include <poll.h>
#include <pthread.h>

#include "kselftest_harness.h"
#include "lib_test.h"

LT_FIXTURE(call)

#define THREADS		8
#define CALLS		300

struct caller {
	struct mpkshm_channel *ch;
	uint64_t server;
	int index;
	int ok, wrong, failed, last_err;
};

static void *call_many(void *arg)
{
	struct caller *c = arg;
	uint64_t req[2], resp[2];
	size_t len;
	int i, err;

	for (i = 0; i < CALLS; i++) {
		req[0] = c->index;
		req[1] = i;
		err = mpkshm_call(c->ch, c->server, req, sizeof(req), resp,
				  sizeof(resp), &len, 5000);
		if (err) {
			c->failed++;
			c->last_err = err;
		} else if (len != sizeof(resp) || resp[0] != req[0] ||
			   resp[1] != req[1]) {
			c->wrong++;
		} else {
			c->ok++;
		}
	}
	return NULL;
}

TEST_F(call, eight_threads_calling_on_one_endpoint_each_get_their_own_reply)
{
	struct caller c[THREADS];
	pthread_t t[THREADS];
	struct lt_server s;
	int i;

	ASSERT_EQ(0, lt_server_start(&s, self->b, lt_echo, NULL));
	for (i = 0; i < THREADS; i++) {
		c[i] = (struct caller){ .ch = self->a, .server = lt_id(self->b),
					.index = i };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, call_many, &c[i]));
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(CALLS, c[i].ok) TH_LOG("thread %d: %d wrong, %d failed (last %s)",
						 i, c[i].wrong, c[i].failed,
						 mpkshm_strerror(c[i].last_err));
	}
	EXPECT_EQ(0, lt_server_stop(&s));
}

TEST_F(call, one_thread_keeps_64_calls_in_flight)
{
	uint64_t ids[64], resp[64];
	struct lt_server s;
	size_t len;
	uint64_t i;

	ASSERT_EQ(0, lt_server_start(&s, self->b, lt_echo, NULL));
	for (i = 0; i < 64; i++)
		ASSERT_EQ(0, mpkshm_call_start(self->a, lt_id(self->b), &i,
					       sizeof(i), &resp[i],
					       sizeof(resp[i]), 5000, &ids[i]));
	/* Collected in the reverse order: each reply went to its own call. */
	for (i = 64; i-- > 0;) {
		ASSERT_EQ(0, mpkshm_call_wait(self->a, ids[i], &len, 5000));
		EXPECT_EQ(sizeof(resp[i]), len);
		EXPECT_EQ(i, resp[i]);
	}
	EXPECT_EQ(-EINVAL, mpkshm_call_wait(self->a, ids[0], &len, 0));
	EXPECT_EQ(0, lt_server_stop(&s));
}

TEST_F(call, reply_to_a_call_in_flight_makes_the_fd_readable)
{
	struct pollfd pfd = { .fd = mpkshm_fd(self->a), .events = POLLIN };
	long long deadline = lt_now_ns() + 5000000000LL;
	struct lt_server s;
	char resp[8];
	uint64_t id;
	size_t len;
	int err = -EAGAIN, polls = 0;

	ASSERT_EQ(0, mpkshm_call_start(self->a, lt_id(self->b), "ping", 4,
				       resp, sizeof(resp), 5000, &id));
	/* Nothing yet: the server has not started. */
	EXPECT_EQ(-EAGAIN, mpkshm_call_wait(self->a, id, &len, 0));
	ASSERT_EQ(0, lt_server_start(&s, self->b, lt_echo, NULL));
	while (err == -EAGAIN && lt_now_ns() < deadline) {
		if (mpkshm_wait_prepare(self->a) == 0)
			polls += poll(&pfd, 1, 1000);
		err = mpkshm_call_wait(self->a, id, &len, 0);
	}
	EXPECT_EQ(0, err);
	EXPECT_EQ(4, len);
	EXPECT_EQ(0, memcmp(resp, "ping", 4));
	EXPECT_EQ(0, lt_server_stop(&s));
}

/* Sends the server's news to everyone before replying. */
struct newsy {
	struct mpkshm_channel *ch;
	size_t news_len;
	unsigned char *news;
};

static int reply_after_news(void *arg, struct mpkshm_request *req)
{
	struct newsy *n = arg;
	int err = mpkshm_send(n->ch, MPKSHM_TO_ALL, n->news, n->news_len, 5000);

	return err ? err : mpkshm_reply(n->ch, req, "done", 4);
}

TEST_F(call, message_the_server_sends_during_a_call_stays_for_recv)
{
	struct newsy n = { .ch = self->b, .news_len = 4,
			   .news = (unsigned char *)"news" };
	struct mpkshm_msg info;
	struct lt_server s;
	char resp[8], buf[8];
	size_t len;

	ASSERT_EQ(0, lt_server_start(&s, self->b, reply_after_news, &n));
	ASSERT_EQ(0, mpkshm_call(self->a, lt_id(self->b), "q", 1, resp,
				 sizeof(resp), &len, 5000));
	EXPECT_EQ(0, memcmp(resp, "done", 4));
	ASSERT_EQ(4, mpkshm_recv(self->a, buf, sizeof(buf), &info, 1000));
	EXPECT_EQ(0, memcmp(buf, "news", 4));
	EXPECT_EQ(lt_id(self->b), info.sender);
	EXPECT_EQ(0, lt_server_stop(&s));
}

/*
 * The news is larger than the calls' buffers: a call that looked at it
 * would fail with EMSGSIZE, and every later one behind it.
 */
TEST_F(call, message_too_large_for_the_calls_buffer_breaks_no_call)
{
	struct newsy n = { .ch = self->b, .news_len = 1024 };
	unsigned char got[1024];
	struct lt_server s;
	char resp[8];
	size_t len;
	int i;

	n.news = malloc(n.news_len);
	ASSERT_NE(NULL, n.news);
	memset(n.news, 'N', n.news_len);
	ASSERT_EQ(0, lt_server_start(&s, self->b, reply_after_news, &n));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, mpkshm_call(self->a, lt_id(self->b), "q", 1, resp,
					 sizeof(resp), &len, 5000));
		EXPECT_EQ(4, len);
	}
	for (i = 0; i < 3; i++)
		EXPECT_EQ(1024, mpkshm_recv(self->a, got, sizeof(got), NULL,
					    1000));
	EXPECT_EQ(0, lt_server_stop(&s));
	free(n.news);
}

/* Fills @a's ring with messages for @b, which does not read them. */
static void fill_ring(struct __test_metadata *_metadata,
		      struct mpkshm_channel *a, uint64_t b)
{
	char chunk[4096] = { 0 };
	int i;

	for (i = 0; i < 64; i++)
		if (mpkshm_send(a, b, chunk, sizeof(chunk), 0))
			break;
	ASSERT_EQ(-ETIMEDOUT, mpkshm_send(a, b, chunk, sizeof(chunk), 0));
}

struct blocked_send {
	struct mpkshm_channel *ch;
	uint64_t to;
	int err;
};

static void *send_into_full_ring(void *arg)
{
	struct blocked_send *b = arg;
	char chunk[4096] = { 0 };

	b->err = mpkshm_send(b->ch, b->to, chunk, sizeof(chunk), 300);
	return NULL;
}

/*
 * Another thread holds the send side, waiting for room: the call's wait
 * for its turn to send counts against its own timeout, not in addition.
 */
TEST_F(call, call_takes_no_longer_than_its_timeout)
{
	struct blocked_send b = { .ch = self->a, .to = lt_id(self->b) };
	long long start, took;
	char resp[8];
	pthread_t t;
	size_t len;

	fill_ring(_metadata, self->a, lt_id(self->b));
	ASSERT_EQ(0, pthread_create(&t, NULL, send_into_full_ring, &b));
	usleep(20000);
	start = lt_now_ns();
	EXPECT_EQ(-ETIMEDOUT, mpkshm_call(self->a, lt_id(self->b), "q", 1,
					  resp, sizeof(resp), &len, 300));
	took = lt_now_ns() - start;
	pthread_join(t, NULL);
	EXPECT_EQ(-ETIMEDOUT, b.err);
	TH_LOG("a call with a 300 ms timeout took %lld ms", took / 1000000);
	EXPECT_GT(450000000LL, took);
}

static int reply_slowly(void *arg, struct mpkshm_request *req)
{
	struct lt_server *s = arg;

	if (req->len == 1 && *(const char *)req->data == 's')
		usleep(200000);
	return mpkshm_reply(s->ch, req, req->data, req->len);
}

TEST_F(call, cancelled_call_drops_its_late_reply)
{
	struct lt_server s;
	char first[8], second[8];
	uint64_t id;
	size_t len;

	ASSERT_EQ(0, lt_server_start(&s, self->b, reply_slowly, NULL));
	ASSERT_EQ(0, mpkshm_call_start(self->a, lt_id(self->b), "s", 1, first,
				       sizeof(first), 5000, &id));
	EXPECT_EQ(0, mpkshm_call_cancel(self->a, id));
	EXPECT_EQ(-EINVAL, mpkshm_call_cancel(self->a, id));
	memset(first, 0, sizeof(first));
	ASSERT_EQ(0, mpkshm_call(self->a, lt_id(self->b), "f", 1, second,
				 sizeof(second), &len, 5000));
	EXPECT_EQ('f', second[0]);
	/* The first's reply came meanwhile: into no buffer. */
	EXPECT_EQ(0, first[0]);
	EXPECT_EQ(0, lt_server_stop(&s));
}

struct waiter {
	struct mpkshm_channel *ch;
	uint64_t id;
	int err;
};

static void *wait_for_call(void *arg)
{
	struct waiter *w = arg;
	size_t len;

	w->err = mpkshm_call_wait(w->ch, w->id, &len, 2000);
	return NULL;
}

TEST_F(call, second_thread_waiting_for_the_same_call_is_ebusy)
{
	struct waiter w = { .ch = self->a };
	struct lt_server s;
	char resp[8];
	pthread_t t;
	size_t len;

	ASSERT_EQ(0, mpkshm_call_start(self->a, lt_id(self->b), "x", 1, resp,
				       sizeof(resp), 5000, &w.id));
	ASSERT_EQ(0, pthread_create(&t, NULL, wait_for_call, &w));
	usleep(50000);
	EXPECT_EQ(-EBUSY, mpkshm_call_wait(self->a, w.id, &len, 0));
	EXPECT_EQ(-EBUSY, mpkshm_call_cancel(self->a, w.id));
	ASSERT_EQ(0, lt_server_start(&s, self->b, lt_echo, NULL));
	pthread_join(t, NULL);
	EXPECT_EQ(0, w.err);
	EXPECT_EQ(0, lt_server_stop(&s));
}

static int fail_as_asked(void *arg, struct mpkshm_request *req)
{
	struct lt_server *s = arg;
	int err;

	memcpy(&err, req->data, sizeof(err));
	if (err == EPERM)	/* said in so many words */
		return mpkshm_reply_error(s->ch, req, EPERM);
	return -err;		/* returned without a reply */
}

TEST_F(call, server_error_reaches_the_caller)
{
	static const struct {
		int sent, got;
	} cases[] = {
		{ ENOENT, -ENOENT },
		{ EINVAL, -EINVAL },
		{ EPERM, -EPERM },
		/* Errors that mean something of the call itself are not it. */
		{ EAGAIN, -EREMOTEIO },
		{ ETIMEDOUT, -EREMOTEIO },
		{ ECONNRESET, -EREMOTEIO },
		/* And a failure that is no errno at all is still a failure. */
		{ 5000, -EREMOTEIO },
		{ 1 << 30, -EREMOTEIO },
	};
	struct mpkshm_serve_stats st = { .size = sizeof(st) };
	struct lt_server s;
	char resp[8];
	size_t len, i;

	ASSERT_EQ(0, lt_server_start(&s, self->b, fail_as_asked, NULL));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int sent = cases[i].sent, want = cases[i].got;
		int got = mpkshm_call(self->a, lt_id(self->b), &sent,
				      sizeof(sent), resp, sizeof(resp), &len,
				      5000);

		EXPECT_EQ(want, got) TH_LOG("server said %d", sent);
	}
	EXPECT_EQ(0, lt_server_stop(&s));
	ASSERT_EQ(0, mpkshm_serve_stats(self->b, &st));
	EXPECT_EQ(8, st.requests);
	EXPECT_EQ(7, st.handler_errors);
}

TEST_F(call, call_with_bad_arguments_is_einval)
{
	char resp[8];
	uint64_t id;
	size_t len;

	EXPECT_EQ(-EINVAL, mpkshm_call(self->a, MPKSHM_TO_ALL, "x", 1, resp,
				       sizeof(resp), &len, 100));
	EXPECT_EQ(-EINVAL, mpkshm_call(self->a, lt_id(self->b), NULL, 1, resp,
				       sizeof(resp), &len, 100));
	EXPECT_EQ(-EINVAL, mpkshm_call_start(self->a, lt_id(self->b), "x", 1,
					     resp, sizeof(resp), 100, NULL));
	EXPECT_EQ(-EINVAL, mpkshm_call_wait(self->a, 12345, &len, 0));
	EXPECT_EQ(-ECONNRESET, mpkshm_call_start(self->a, 999999, "x", 1,
						 resp, sizeof(resp), 100, &id));
}

TEST_HARNESS_MAIN
