// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Messages on every backend: copy and zero copy, sizes up to and beyond a
 * segment, destinations, back-pressure, timeouts, waiting, and the fd.
 */
#include <poll.h>
#include <pthread.h>

#include "kselftest_harness.h"
#include "lib_test.h"
#include "pkey_fault.h"

LT_FIXTURE(msg)

TEST_F(msg, sent_message_is_received_with_its_sender)
{
	struct mpkshm_msg info;
	char buf[16];

	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "hello", 5, 1000));
	ASSERT_EQ(5, mpkshm_recv(self->b, buf, sizeof(buf), &info, 1000));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	EXPECT_EQ(lt_id(self->a), info.sender);
	EXPECT_EQ(1, info.seq);
}

TEST_F(msg, zero_copy_reserve_commit_peek_release)
{
	struct mpkshm_msg m;
	void *buf;

	ASSERT_EQ(0, mpkshm_reserve(self->a, 64, &buf, 1000));
	memset(buf, 'z', 64);
	ASSERT_EQ(0, mpkshm_commit(self->a, 40, MPKSHM_TO_ALL));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	EXPECT_EQ(40, m.len);
	EXPECT_EQ('z', ((const char *)m.data)[39]);
	EXPECT_EQ(0, mpkshm_release(self->b, &m));
	EXPECT_EQ(-ETIMEDOUT, mpkshm_peek(self->b, &m, 0));
}

TEST_F(msg, abandoned_reservation_sends_nothing)
{
	struct mpkshm_msg m;
	void *buf;

	ASSERT_EQ(0, mpkshm_reserve(self->a, 8, &buf, 1000));
	ASSERT_EQ(0, mpkshm_abandon(self->a));
	EXPECT_EQ(-ETIMEDOUT, mpkshm_peek(self->b, &m, 0));
}

TEST_F(msg, messages_sent_before_the_first_receive_are_kept)
{
	char buf[8];
	int i;

	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, &i, sizeof(i),
					 1000));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(sizeof(i), mpkshm_recv(self->b, buf, sizeof(buf),
						 NULL, 1000));
		EXPECT_EQ(i, *(int *)buf);
	}
}

static unsigned char *pattern(size_t len)
{
	unsigned char *p = malloc(len);
	size_t i;

	for (i = 0; p && i < len; i++)
		p[i] = (unsigned char)(i * 131 + 7);
	return p;
}

struct sender {
	struct mpkshm_channel *ch;
	const void *buf;
	size_t len;
	int err;
};

static void *send_in_background(void *arg)
{
	struct sender *s = arg;

	s->err = mpkshm_send(s->ch, MPKSHM_TO_ALL, s->buf, s->len, 5000);
	return NULL;
}

TEST_F(msg, message_larger_than_the_segment_is_split_and_reassembled)
{
	size_t len = 5 * LT_SEGMENT + 123;
	unsigned char *out = pattern(len), *in = malloc(len);
	struct sender s = { self->a, out, len, 0 };
	pthread_t t;

	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, in);
	ASSERT_EQ(0, pthread_create(&t, NULL, send_in_background, &s));
	EXPECT_EQ((ssize_t)len, mpkshm_recv(self->b, in, len, NULL, 5000));
	pthread_join(t, NULL);
	EXPECT_EQ(0, s.err);
	EXPECT_EQ(0, memcmp(in, out, len));
	free(in);
	free(out);
}

TEST_F(msg, receive_into_a_small_buffer_is_emsgsize_and_keeps_the_message)
{
	struct mpkshm_msg info;
	char small[4], big[16];

	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "0123456789", 10,
				 1000));
	EXPECT_EQ(-EMSGSIZE, mpkshm_recv(self->b, small, sizeof(small), &info,
					 1000));
	EXPECT_EQ(10, info.len);
	EXPECT_EQ(10, mpkshm_recv(self->b, big, sizeof(big), NULL, 1000));
}

TEST_F(msg, reservation_beyond_max_message_is_emsgsize)
{
	struct mpkshm_info info;
	void *buf;

	ASSERT_EQ(0, mpkshm_info(self->a, &info));
	EXPECT_EQ(0, mpkshm_reserve(self->a, info.max_message, &buf, 1000));
	EXPECT_EQ(0, mpkshm_abandon(self->a));
	EXPECT_EQ(-EMSGSIZE, mpkshm_reserve(self->a, info.max_message + 1,
					    &buf, 1000));
}

struct big_receiver {
	struct mpkshm_channel *ch;
	size_t cap;
	ssize_t got;
	unsigned char last;
};

static void *receive_big(void *arg)
{
	struct big_receiver *r = arg;
	unsigned char *buf = malloc(r->cap);

	r->got = buf ? mpkshm_recv(r->ch, buf, r->cap, NULL, 5000) : -ENOMEM;
	if (r->got > 0)
		r->last = buf[r->got - 1];
	free(buf);
	return NULL;
}

/*
 * After one small message the largest one no longer fits before the ring's
 * end: a pad fills the rest, which a reader waiting for data must step
 * over, and then the message goes (pad and message together are more than
 * a ring, so they cannot wait for room together).
 */
TEST_F(msg, largest_message_goes_after_a_pad_to_a_waiting_reader)
{
	struct big_receiver r = { .ch = self->b };
	struct mpkshm_info info;
	char small[8];
	pthread_t t;
	void *buf;

	ASSERT_EQ(0, mpkshm_info(self->a, &info));
	r.cap = info.max_message;
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "small", 5, 1000));
	ASSERT_EQ(5, mpkshm_recv(self->b, small, sizeof(small), NULL, 1000));
	ASSERT_EQ(0, pthread_create(&t, NULL, receive_big, &r));
	EXPECT_EQ(0, mpkshm_reserve(self->a, info.max_message, &buf, 3000));
	if (buf) {
		memset(buf, 0x5a, info.max_message);
		EXPECT_EQ(0, mpkshm_commit(self->a, info.max_message,
					   MPKSHM_TO_ALL));
	}
	pthread_join(t, NULL);
	EXPECT_EQ((ssize_t)info.max_message, r.got);
	EXPECT_EQ(0x5a, r.last);
}

TEST_F(msg, split_message_is_emsgsize_to_peek_and_whole_to_recv)
{
	size_t len = 2 * LT_SEGMENT;
	char *big = calloc(1, len);
	struct sender s = { self->a, big, len, 0 };
	struct mpkshm_msg m;
	pthread_t t;

	ASSERT_NE(NULL, big);
	ASSERT_EQ(0, pthread_create(&t, NULL, send_in_background, &s));
	EXPECT_EQ(-EMSGSIZE, mpkshm_peek(self->b, &m, 5000));
	EXPECT_EQ((ssize_t)len, mpkshm_recv(self->b, big, len, NULL, 5000));
	pthread_join(t, NULL);
	EXPECT_EQ(0, s.err);
	free(big);
}

/*
 * A writer (the fixture's a) with two readers, b and a slower c, sends a
 * split message: the first receive on b takes what the ring holds and
 * times out waiting for the rest, which the writer sends only when c,
 * started then, makes room.
 */
struct part_received {
	size_t len;
	unsigned char *out, *in;	/* sent; b's buffer */
	struct sender s;
	struct big_receiver c;
	pthread_t sending, receiving;
};

static void part_receive(struct __test_metadata *_metadata,
			 struct part_received *p, struct mpkshm_channel *a,
			 struct mpkshm_channel *b, enum mpkshm_backend backend,
			 const char *name)
{
	p->len = 5 * LT_SEGMENT + 123;
	p->out = pattern(p->len);
	p->in = malloc(p->len);
	ASSERT_NE(NULL, p->out);
	ASSERT_NE(NULL, p->in);
	p->s = (struct sender) { a, p->out, p->len, 0 };
	p->c = (struct big_receiver) { .cap = p->len };
	ASSERT_EQ(0, lt_open(backend, name, 0, &p->c.ch));
	ASSERT_EQ(0, pthread_create(&p->sending, NULL, send_in_background,
				    &p->s));
	usleep(50000);
	ASSERT_EQ(-ETIMEDOUT, mpkshm_recv(b, p->in, p->len, NULL, 0));
	ASSERT_EQ(0, pthread_create(&p->receiving, NULL, receive_big, &p->c));
}

/* Checks that the sender and c are done, and what b received. */
static void part_received_whole(struct __test_metadata *_metadata,
				struct part_received *p)
{
	pthread_join(p->sending, NULL);
	pthread_join(p->receiving, NULL);
	EXPECT_EQ(0, p->s.err);
	EXPECT_EQ((ssize_t)p->len, p->c.got);
	EXPECT_EQ(0, memcmp(p->in, p->out, p->len));
	mpkshm_close(p->c.ch);
	free(p->in);
	free(p->out);
}

/*
 * The event loop of Documentation/api.md receives with timeout 0: a split
 * message's next fragment is often not there yet, and the receive that
 * says ETIMEDOUT keeps what it took for the next one.
 */
TEST_F(msg, split_message_arrives_whole_to_an_event_loop_receiving_with_timeout_0)
{
	struct pollfd pfd = { .fd = mpkshm_fd(self->b), .events = POLLIN };
	long long deadline = lt_now_ns() + 10000000000LL;
	struct part_received p;
	ssize_t n = -ETIMEDOUT;

	part_receive(_metadata, &p, self->a, self->b, variant->backend,
		     self->name);
	while (n == -ETIMEDOUT && lt_now_ns() < deadline) {
		if (mpkshm_wait_prepare(self->b) == 0)
			poll(&pfd, 1, 100);
		n = mpkshm_recv(self->b, p.in, p.len, NULL, 0);
	}
	EXPECT_EQ((ssize_t)p.len, n);
	part_received_whole(_metadata, &p);
}

TEST_F(msg, peek_while_a_split_message_is_part_received_is_emsgsize)
{
	struct part_received p;
	struct mpkshm_msg m;

	part_receive(_metadata, &p, self->a, self->b, variant->backend,
		     self->name);
	EXPECT_EQ(-EMSGSIZE, mpkshm_peek(self->b, &m, 5000));
	EXPECT_EQ((ssize_t)p.len, mpkshm_recv(self->b, p.in, p.len, NULL,
					      5000));
	part_received_whole(_metadata, &p);
}

TEST_F(msg, split_send_that_timed_out_part_way_is_skipped_for_the_next_message)
{
	size_t len = 5 * LT_SEGMENT;
	unsigned char *out = pattern(len), *in = malloc(len);
	struct sender s = { self->a, "after", 5, 0 };
	pthread_t t;

	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, in);
	/* Nobody reads: the ring fills with its first fragments. */
	ASSERT_EQ(-ETIMEDOUT, mpkshm_send(self->a, MPKSHM_TO_ALL, out, len,
					  100));
	ASSERT_EQ(0, pthread_create(&t, NULL, send_in_background, &s));
	EXPECT_EQ(5, mpkshm_recv(self->b, in, len, NULL, 5000));
	pthread_join(t, NULL);
	EXPECT_EQ(0, s.err);
	EXPECT_EQ(0, memcmp(in, "after", 5));
	/* The writer is not taken for corrupt: its next message comes too. */
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "again", 5, 1000));
	EXPECT_EQ(5, mpkshm_recv(self->b, in, len, NULL, 1000));
	free(in);
	free(out);
}

TEST_F(msg, message_for_one_member_skips_the_others)
{
	struct mpkshm_channel *c;
	char buf[8];

	ASSERT_EQ(0, lt_open(variant->backend, self->name, 0, &c));
	ASSERT_EQ(0, mpkshm_send(self->a, lt_id(c), "to-c", 4, 1000));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "all", 3, 1000));
	EXPECT_EQ(4, mpkshm_recv(c, buf, sizeof(buf), NULL, 1000));
	EXPECT_EQ(0, memcmp(buf, "to-c", 4));
	EXPECT_EQ(3, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
	EXPECT_EQ(0, memcmp(buf, "all", 3));
	EXPECT_EQ(3, mpkshm_recv(c, buf, sizeof(buf), NULL, 1000));
	mpkshm_close(c);
}

TEST_F(msg, send_to_a_member_that_is_not_there_is_epipe)
{
	EXPECT_EQ(-EPIPE, mpkshm_send(self->a, 987654321, "x", 1, 1000));
}

TEST_F(msg, commit_to_a_member_that_is_not_there_is_epipe_and_frees_the_reservation)
{
	char buf[16];
	void *p;

	ASSERT_EQ(0, mpkshm_reserve(self->a, 8, &p, 1000));
	memcpy(p, "nobody", 6);
	EXPECT_EQ(-EPIPE, mpkshm_commit(self->a, 6, 0x7777777777ull));
	/* Nothing was published, and the writer may reserve again. */
	EXPECT_EQ(-ETIMEDOUT, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 10));
	ASSERT_EQ(0, mpkshm_reserve(self->a, 8, &p, 1000));
	memcpy(p, "ok", 2);
	EXPECT_EQ(0, mpkshm_commit(self->a, 2, MPKSHM_TO_ALL));
	EXPECT_EQ(2, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
}

TEST_F(msg, every_reader_receives_every_message)
{
	struct mpkshm_channel *c;
	char buf[8];
	int i;

	ASSERT_EQ(0, lt_open(variant->backend, self->name, 0, &c));
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, &i, sizeof(i),
					 1000));
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(sizeof(i), mpkshm_recv(self->b, buf, 8, NULL, 1000));
		EXPECT_EQ(i, *(int *)buf);
		ASSERT_EQ(sizeof(i), mpkshm_recv(c, buf, 8, NULL, 1000));
		EXPECT_EQ(i, *(int *)buf);
	}
	mpkshm_close(c);
}

TEST_F(msg, full_ring_makes_the_writer_wait_until_a_reader_consumes)
{
	char chunk[4096] = { 0 }, buf[4096];
	int sent = 0;

	while (mpkshm_send(self->a, MPKSHM_TO_ALL, chunk, sizeof(chunk), 0) == 0)
		sent++;
	EXPECT_LT(5, sent);
	EXPECT_EQ(-ETIMEDOUT, mpkshm_send(self->a, MPKSHM_TO_ALL, chunk,
					  sizeof(chunk), 20));
	ASSERT_EQ(sizeof(buf), mpkshm_recv(self->b, buf, sizeof(buf), NULL, 0));
	EXPECT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, chunk, sizeof(chunk),
				 1000));
}

TEST_F(msg, receive_with_nothing_sent_times_out)
{
	long long start = lt_now_ns();
	char buf[8];

	EXPECT_EQ(-ETIMEDOUT, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 50));
	EXPECT_LE(50000000LL, lt_now_ns() - start);
}

static void *send_later(void *arg)
{
	usleep(100000);
	mpkshm_send(arg, MPKSHM_TO_ALL, "late", 4, 1000);
	return NULL;
}

TEST_F(msg, sleeping_receiver_is_woken_by_the_doorbell)
{
	struct mpkshm_options o;
	struct mpkshm_channel *sleeper;
	pthread_t t;
	char buf[8];

	/* Spin 0: it goes to sleep at once and must be woken. */
	mpkshm_options_init(&o);
	o.backend = variant->backend;
	o.spin_us = 0;
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &sleeper));
	ASSERT_EQ(0, pthread_create(&t, NULL, send_later, self->a));
	EXPECT_EQ(4, mpkshm_recv(sleeper, buf, sizeof(buf), NULL, 5000));
	pthread_join(t, NULL);
	mpkshm_close(sleeper);
}

TEST_F(msg, armed_fd_polls_readable_when_a_message_arrives)
{
	struct pollfd pfd = { .fd = mpkshm_fd(self->b), .events = POLLIN };
	char buf[8];

	ASSERT_LE(0, pfd.fd);
	ASSERT_EQ(0, mpkshm_wait_prepare(self->b));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 1000));
	EXPECT_EQ(1, poll(&pfd, 1, 5000));
	EXPECT_EQ(1, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 0));
}

TEST_F(msg, wait_prepare_says_when_a_message_already_waits)
{
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 1000));
	EXPECT_EQ(1, mpkshm_wait_prepare(self->b));
}

TEST_F(msg, send_inside_the_threads_own_reservation_is_ebusy)
{
	void *buf;

	ASSERT_EQ(0, mpkshm_reserve(self->a, 8, &buf, 1000));
	/* The same thread: an error, not a deadlock on its own lock. */
	EXPECT_EQ(-EBUSY, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 0));
	EXPECT_EQ(-EBUSY, mpkshm_reserve(self->a, 8, &buf, 0));
	EXPECT_EQ(0, mpkshm_abandon(self->a));
	EXPECT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 1000));
}

TEST_F(msg, receive_inside_the_threads_own_peek_is_ebusy)
{
	struct mpkshm_msg m;
	char buf[8];

	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "one", 3, 1000));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "two", 3, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	EXPECT_EQ(-EBUSY, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 0));
	EXPECT_EQ(-EBUSY, mpkshm_wait_prepare(self->b));
	EXPECT_EQ(0, mpkshm_release(self->b, &m));
	/* Nothing was taken twice or skipped. */
	ASSERT_EQ(3, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
	EXPECT_EQ(0, memcmp(buf, "two", 3));
}

TEST_F(msg, close_with_a_peek_open_ends_the_window)
{
	struct mpkshm_info info;
	struct mpkshm_msg m;

	ASSERT_EQ(0, mpkshm_info(self->b, &info));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	EXPECT_EQ(0, mpkshm_close(self->b));
	self->b = NULL;
	/* The thread's PKRU no longer opens the key (3: access disabled). */
	if (info.pkey >= 0)
		EXPECT_EQ(3, pkey_fault_pkru_bits(info.pkey));
	/* a keeps working, and the next open of the channel too. */
	EXPECT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "y", 1, 1000));
}

TEST_F(msg, members_lists_both_endpoints)
{
	struct mpkshm_member m[8];
	int n, i, self_count = 0;

	n = mpkshm_members(self->a, m, 8);
	ASSERT_EQ(2, n);
	for (i = 0; i < n; i++) {
		self_count += m[i].self;
		EXPECT_EQ(MPKSHM_RIGHT_READ | MPKSHM_RIGHT_WRITE, m[i].rights);
	}
	EXPECT_EQ(1, self_count);
}

static int handle(void *arg, struct mpkshm_request *req)
{
	char out[32];
	int n = snprintf(out, sizeof(out), "%zu bytes", req->len);

	return mpkshm_reply(arg, req, out, n);
}

static void *serve(void *arg)
{
	mpkshm_serve(arg, handle, arg);
	return NULL;
}

TEST_F(msg, call_gets_the_reply_to_its_request)
{
	char resp[32];
	uint64_t server;
	size_t len;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, serve, self->b));
	ASSERT_EQ(0, mpkshm_find_peer(self->a, &server, 1000));
	EXPECT_EQ(lt_id(self->b), server);
	ASSERT_EQ(0, mpkshm_call(self->a, server, "abcdef", 6, resp,
				 sizeof(resp), &len, 5000));
	EXPECT_EQ(0, strncmp(resp, "6 bytes", len));
	mpkshm_serve_stop(self->b);
	pthread_join(t, NULL);
}

static int handle_slowly_once(void *arg, struct mpkshm_request *req)
{
	static int calls;

	if (calls++ == 0)
		usleep(300000);	/* the first call times out meanwhile */
	return mpkshm_reply(arg, req, &calls, sizeof(calls));
}

static void *serve_slowly(void *arg)
{
	mpkshm_serve(arg, handle_slowly_once, arg);
	return NULL;
}

TEST_F(msg, call_times_out_and_the_late_reply_is_discarded)
{
	uint64_t server;
	size_t len;
	int resp;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, serve_slowly, self->b));
	ASSERT_EQ(0, mpkshm_find_peer(self->a, &server, 1000));
	EXPECT_EQ(-ETIMEDOUT, mpkshm_call(self->a, server, "1", 1, &resp,
					  sizeof(resp), &len, 50));
	ASSERT_EQ(0, mpkshm_call(self->a, server, "2", 1, &resp, sizeof(resp),
				 &len, 5000));
	EXPECT_EQ(2, resp);	/* the second call's reply, not the first's */
	mpkshm_serve_stop(self->b);
	pthread_join(t, NULL);
}

TEST_F(msg, child_after_fork_has_no_endpoints)
{
	pid_t pid = fork();
	char buf[4];

	if (pid == 0) {
		if (mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 0) != -EBADF ||
		    mpkshm_recv(self->b, buf, 4, NULL, 0) != -EBADF)
			_exit(1);
		mpkshm_close(self->a);	/* frees; touches nothing shared */
		_exit(0);
	}
	EXPECT_EQ(0, lt_wait(pid));
	/* The parent's endpoints are unharmed. */
	EXPECT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "y", 1, 1000));
	EXPECT_EQ(1, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
}

TEST_F(msg, send_only_endpoint_does_not_hold_writers_back)
{
	char chunk[4096] = { 0 }, buf[4096];
	struct mpkshm_channel *quiet;
	int i;

	ASSERT_EQ(0, lt_open(variant->backend, self->name,
			     MPKSHM_OPEN_SEND_ONLY, &quiet));
	EXPECT_EQ(-EPERM, mpkshm_recv(quiet, buf, sizeof(buf), NULL, 0));
	/* Far more than a ring: only b reads, and b keeps up. */
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, chunk,
					 sizeof(chunk), 1000));
		ASSERT_EQ(sizeof(buf), mpkshm_recv(self->b, buf, sizeof(buf),
						   NULL, 1000));
	}
	mpkshm_close(quiet);
}

TEST(bad_names_and_options_are_einval)
{
	struct mpkshm_channel *ch;
	struct mpkshm_options o;

	EXPECT_EQ(-EINVAL, mpkshm_open("", NULL, &ch));
	EXPECT_EQ(-EINVAL, mpkshm_open("a/b", NULL, &ch));
	EXPECT_EQ(-EINVAL, mpkshm_open(NULL, NULL, &ch));
	mpkshm_options_init(&o);
	o.size = sizeof(o) + 8;
	EXPECT_EQ(-EINVAL, mpkshm_open("ok", &o, &ch));
	mpkshm_options_init(&o);
	o.flags = 0x100;
	EXPECT_EQ(-EINVAL, mpkshm_open("ok", &o, &ch));
	mpkshm_options_init(&o);
	o.backend = 99;
	EXPECT_EQ(-EINVAL, mpkshm_open("ok", &o, &ch));
}

TEST(missing_channel_without_create_is_enoent)
{
	struct mpkshm_channel *ch;
	struct mpkshm_options o;

	mpkshm_options_init(&o);
	o.backend = MPKSHM_BACKEND_THREAD;
	EXPECT_EQ(-ENOENT, mpkshm_open("never-created", &o, &ch));
	o.backend = MPKSHM_BACKEND_MEMFD;
	EXPECT_EQ(-ENOENT, mpkshm_open("never-created", &o, &ch));
}

TEST_F(msg, null_output_pointers_are_einval)
{
	EXPECT_EQ(-EINVAL, mpkshm_info(self->a, NULL));
	EXPECT_EQ(-EINVAL, mpkshm_peek(self->b, NULL, 0));
	EXPECT_EQ(-EINVAL, mpkshm_find_peer(self->a, NULL, 0));
}

TEST_HARNESS_MAIN
