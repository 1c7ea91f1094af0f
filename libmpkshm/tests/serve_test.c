// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * A server survives its clients, on every backend: one that leaves half
 * way through a request, one that announces a request of a terabyte, one
 * whose request is over the server's limit, one that stops reading after a
 * call, one that never reads its replies; and mpkshm_serve_stop() ends
 * serving wherever it waits.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "kselftest_harness.h"
#include "lib_test.h"
#include "../src/internal.h"

LT_FIXTURE(srv)

/*
 * Publishes by hand, in the ring of @ch (an endpoint that has sent
 * nothing), the first fragment of a request to @dest announcing @total
 * bytes, and nothing after it.  @ch must not send again.
 */
static int forge_first_fragment(struct mpkshm_channel *ch, uint64_t dest,
				uint64_t total)
{
	struct mpkshm_ring *ring;
	struct mpkshm_rec *rec;
	void *buf;

	if (mpkshm_reserve(ch, 64, &buf, 1000))
		return -1;
	/* The key is open for writing inside the reservation. */
	rec = (struct mpkshm_rec *)((char *)buf - MPKSHM_REC_HDR);
	ring = (struct mpkshm_ring *)((char *)rec - sizeof(*ring));
	memset(buf, 'x', 64);
	*rec = (struct mpkshm_rec){
		.len = 64, .kind = MPKSHM_REC_REQUEST, .flags = MPKSHM_REC_FIRST,
		.seq = 1, .dest = dest, .correlation = 77, .total = total,
	};
	atomic_store(&ring->head, mpkshm_rec_size(64, false));
	return mpkshm_abandon(ch);
}

static int call_echo(struct mpkshm_channel *ch, uint64_t server,
		     const char *text)
{
	char resp[64];
	size_t len;
	int err = mpkshm_call(ch, server, text, strlen(text), resp,
			      sizeof(resp), &len, 5000);

	if (err)
		return err;
	return len == strlen(text) && !memcmp(resp, text, len) ? 0 : -EBADMSG;
}

/* Waits up to 2 s for the count @field of @ch's stats to reach @want. */
#define STAT_REACHES(ch, field, want) ({				\
	struct mpkshm_serve_stats _st = { .size = sizeof(_st) };	\
	long long _until = lt_now_ns() + 2000000000LL;			\
	do {								\
		mpkshm_serve_stats(ch, &_st);				\
	} while (_st.field < (want) && lt_now_ns() < _until &&		\
		 !usleep(1000));					\
	_st.field;							\
})

TEST_F(srv, client_leaving_half_way_through_a_request_stops_no_server)
{
	struct mpkshm_options o;
	struct mpkshm_channel *c;
	struct lt_server s;

	lt_options(&o, variant->backend, 0);
	o.close_timeout_ms = 0;
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &c));
	ASSERT_EQ(0, lt_server_start(&s, self->b, lt_echo, NULL));
	ASSERT_EQ(0, forge_first_fragment(c, lt_id(self->b), 128));
	/* Wakes the server, which takes the first fragment too. */
	ASSERT_EQ(0, call_echo(self->a, lt_id(self->b), "before"));
	usleep(50000);
	mpkshm_close(c);
	EXPECT_EQ(1, STAT_REACHES(self->b, dropped_incomplete, 1));
	EXPECT_EQ(0, call_echo(self->a, lt_id(self->b), "after"));
	EXPECT_EQ(0, lt_server_stop(&s));
}

TEST_F(srv, request_announcing_a_terabyte_is_dropped_and_serving_goes_on)
{
	struct mpkshm_channel *c;
	struct lt_server s;

	ASSERT_EQ(0, lt_open(variant->backend, self->name, 0, &c));
	ASSERT_EQ(0, lt_server_start(&s, self->b, lt_echo, NULL));
	ASSERT_EQ(0, forge_first_fragment(c, lt_id(self->b), 1ull << 40));
	ASSERT_EQ(0, call_echo(self->a, lt_id(self->b), "one"));
	EXPECT_EQ(1, STAT_REACHES(self->b, dropped_too_large, 1));
	EXPECT_EQ(0, call_echo(self->a, lt_id(self->b), "two"));
	EXPECT_EQ(0, lt_server_stop(&s));
	mpkshm_close(c);
}

TEST_F(srv, request_over_the_servers_limit_gets_emsgsize)
{
	struct mpkshm_options o;
	struct mpkshm_channel *server;
	static char big[10000];
	struct lt_server s;
	char resp[8];
	size_t len;

	lt_options(&o, variant->backend, 0);
	o.max_request_size = 4096;
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &server));
	ASSERT_EQ(0, lt_server_start(&s, server, lt_echo, NULL));
	EXPECT_EQ(-EMSGSIZE, mpkshm_call(self->a, lt_id(server), big,
					 sizeof(big), resp, sizeof(resp), &len,
					 5000));
	EXPECT_EQ(0, call_echo(self->a, lt_id(server), "small"));
	EXPECT_EQ(1, STAT_REACHES(server, dropped_too_large, 1));
	EXPECT_EQ(0, lt_server_stop(&s));
	mpkshm_close(server);
}

/*
 * c makes a call and then sleeps: the server's replies to others wrap its
 * ring many times over, passing records c will never read.
 */
TEST_F(srv, client_that_stops_reading_delays_no_reply_to_others)
{
	struct mpkshm_channel *c;
	long long start, worst = 0;
	static char payload[1000];
	char resp[1000];
	struct lt_server s;
	size_t len;
	int i;

	ASSERT_EQ(0, lt_open(variant->backend, self->name, 0, &c));
	ASSERT_EQ(0, lt_server_start(&s, self->b, lt_echo, NULL));
	ASSERT_EQ(0, call_echo(c, lt_id(self->b), "then I sleep"));
	for (i = 0; i < 2000; i++) {
		start = lt_now_ns();
		ASSERT_EQ(0, mpkshm_call(self->a, lt_id(self->b), payload,
					 sizeof(payload), resp, sizeof(resp),
					 &len, 5000)) TH_LOG("call %d", i);
		if (lt_now_ns() - start > worst)
			worst = lt_now_ns() - start;
	}
	TH_LOG("2000 calls, 30 rings' worth, past a client asleep: the slowest took %lld us",
	       worst / 1000);
	EXPECT_GT(500000000LL, worst);
	EXPECT_EQ(0, STAT_REACHES(self->b, readers_dropped, 1));
	EXPECT_EQ(0, lt_server_stop(&s));
	mpkshm_close(c);
}

/* Starts @n calls of 8 KiB from @c whose replies it does not read. */
static void start_unread_calls(struct __test_metadata *_metadata,
			       struct mpkshm_channel *c, uint64_t server,
			       uint64_t *ids, int n, char (*resp)[8192])
{
	static char payload[8192];
	int i;

	for (i = 0; i < n; i++)
		ASSERT_EQ(0, mpkshm_call_start(c, server, payload,
					       sizeof(payload), resp[i], 8192,
					       10000, &ids[i]));
}

TEST_F(srv, client_that_never_reads_its_replies_is_dropped_and_only_it_loses)
{
	static char resp[16][8192];
	struct mpkshm_options o;
	struct mpkshm_channel *server, *c;
	struct lt_server s;
	long long start, took;
	uint64_t ids[16];
	int i, lost = 0, err;
	size_t len;

	lt_options(&o, variant->backend, 0);
	o.reply_timeout_ms = 200;
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &server));
	ASSERT_EQ(0, lt_open(variant->backend, self->name, 0, &c));
	ASSERT_EQ(0, lt_server_start(&s, server, lt_echo, NULL));
	/* 128 KiB of replies for c: twice the server's ring. */
	start_unread_calls(_metadata, c, lt_id(server), ids, 16, resp);
	start = lt_now_ns();
	EXPECT_EQ(0, call_echo(self->a, lt_id(server), "me too"));
	took = lt_now_ns() - start;
	TH_LOG("the other client's call took %lld ms", took / 1000000);
	EXPECT_GT(2000000000LL, took);
	EXPECT_LE(1, STAT_REACHES(server, readers_dropped, 1));
	/* c learns that it lost replies; none of its calls hangs. */
	for (i = 0; i < 16; i++) {
		err = mpkshm_call_wait(c, ids[i], &len, 5000);
		EXPECT_TRUE(err == 0 || err == -ENOBUFS) TH_LOG("call %d: %d", i, err);
		lost += err == -ENOBUFS;
	}
	EXPECT_LE(1, lost);
	EXPECT_EQ(0, lt_server_stop(&s));
	mpkshm_close(c);
	mpkshm_close(server);
}

TEST_F(srv, serve_stop_ends_a_reply_that_waits_for_room)
{
	static char resp[16][8192];
	struct mpkshm_options o;
	struct mpkshm_channel *server, *c;
	struct lt_server s;
	long long start;
	uint64_t ids[16];

	lt_options(&o, variant->backend, 0);
	o.reply_timeout_ms = -1;	/* never drop anyone */
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &server));
	ASSERT_EQ(0, lt_open(variant->backend, self->name, 0, &c));
	ASSERT_EQ(0, lt_server_start(&s, server, lt_echo, NULL));
	/* Its eighth reply does not fit the ring: it waits for c. */
	start_unread_calls(_metadata, c, lt_id(server), ids, 8, resp);
	usleep(200000);
	start = lt_now_ns();
	EXPECT_EQ(0, lt_server_stop(&s));
	EXPECT_GT(500000000LL, lt_now_ns() - start);
	mpkshm_close(c);
	mpkshm_close(server);
}

/*
 * Echoes.  When a reply fails, waits until the test has drained the
 * caller's ring, then answers again with EIO or leaves it to serve().
 */
struct second_try {
	struct mpkshm_channel *ch;
	bool answer_again;
	atomic_bool drained;
	atomic_int failed;
	int first, second;		/* of the last reply that failed */
};

static int echo_or_eio(void *arg, struct mpkshm_request *req)
{
	struct second_try *t = arg;
	int err = mpkshm_reply(t->ch, req, req->data, req->len), i;

	if (!err)
		return 0;
	t->first = err;
	atomic_fetch_add(&t->failed, 1);
	for (i = 0; i < 5000 && !atomic_load(&t->drained); i++)
		usleep(1000);
	if (t->answer_again)
		t->second = mpkshm_reply_error(t->ch, req, EIO);
	return 0;
}

/*
 * The eighth 8 KiB reply does not fit c's unread ring and waits; a stop
 * ends it having sent nothing.  Once c has read the other seven, the
 * request, still unanswered, is answered: by the handler or by serve().
 */
static void reply_that_sent_nothing(struct __test_metadata *_metadata,
				    const char *name, enum mpkshm_backend backend,
				    bool answer_again, int want)
{
	static char resp[8][8192];
	struct second_try t = { .answer_again = answer_again };
	struct mpkshm_options o;
	struct mpkshm_channel *c;
	struct lt_server s;
	uint64_t ids[8];
	size_t len;
	int i;

	lt_options(&o, backend, 0);
	o.reply_timeout_ms = -1;	/* never drop anyone */
	ASSERT_EQ(0, mpkshm_open(name, &o, &t.ch));
	ASSERT_EQ(0, lt_open(backend, name, 0, &c));
	ASSERT_EQ(0, lt_server_start(&s, t.ch, echo_or_eio, &t));
	start_unread_calls(_metadata, c, lt_id(t.ch), ids, 8, resp);
	/* The eighth handed to the handler: its reply waits, or will. */
	ASSERT_EQ(8, STAT_REACHES(t.ch, requests, 8));
	mpkshm_serve_stop(t.ch);
	/* The stop must end the reply before c makes room for it. */
	for (i = 0; i < 2000 && !atomic_load(&t.failed); i++)
		usleep(1000);
	ASSERT_EQ(1, atomic_load(&t.failed));
	for (i = 0; i < 7; i++)
		EXPECT_EQ(0, mpkshm_call_wait(c, ids[i], &len, 2000))
			TH_LOG("call %d", i);
	atomic_store(&t.drained, true);
	EXPECT_EQ(want, mpkshm_call_wait(c, ids[7], &len, 2000));
	EXPECT_EQ(0, lt_server_stop(&s));
	EXPECT_EQ(-ECANCELED, t.first);
	if (answer_again)
		EXPECT_EQ(0, t.second);
	mpkshm_close(c);
	mpkshm_close(t.ch);
}

TEST_F(srv, reply_that_sent_nothing_can_still_be_answered)
{
	reply_that_sent_nothing(_metadata, self->name, variant->backend, true,
				-EIO);
}

TEST_F(srv, reply_that_sent_nothing_is_answered_by_serve_with_its_error)
{
	reply_that_sent_nothing(_metadata, self->name, variant->backend, false,
				-ECANCELED);
}

TEST_F(srv, serve_stopped_before_it_starts_returns_at_once)
{
	struct lt_server s;

	mpkshm_serve_stop(self->b);
	EXPECT_EQ(0, mpkshm_serve(self->b, lt_echo, &s));
	/* The stop was used up: the next server serves. */
	ASSERT_EQ(0, lt_server_start(&s, self->b, lt_echo, NULL));
	EXPECT_EQ(0, call_echo(self->a, lt_id(self->b), "served"));
	EXPECT_EQ(0, lt_server_stop(&s));
}

TEST_HARNESS_MAIN
