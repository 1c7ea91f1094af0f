// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * What a message costs in PKRU writes, on each side: one to open the
 * channel's key and one to close it, whether the call copies or works in
 * place, and whether it finds its message at once or sleeps for it; and
 * as much for a whole batch (Documentation/design.md, "What protects
 * what").  Counted by the
 * library itself, per thread; only where the CPU has protection keys.
 */
#include <pthread.h>
#include <time.h>

#include "kselftest_harness.h"
#include "lib_test.h"

/* libmpkshm's own count of this thread's PKRU writes (not exported). */
uint64_t mpkshm_pkru_writes(void);

LT_FIXTURE(cost)

static void need_pku(struct __test_metadata *_metadata)
{
	if (!mpkshm_pku_supported())
		SKIP(_exit(255), "no protection keys on this CPU");
}

/* A first message each way: setting up cursors is not a message's cost. */
static void warm_up(struct __test_metadata *_metadata,
		    struct mpkshm_channel *a, struct mpkshm_channel *b)
{
	char buf[8];

	ASSERT_EQ(0, mpkshm_send(a, MPKSHM_TO_ALL, "warm", 4, 1000));
	ASSERT_EQ(4, mpkshm_recv(b, buf, sizeof(buf), NULL, 1000));
	ASSERT_EQ(0, mpkshm_send(b, MPKSHM_TO_ALL, "warm", 4, 1000));
	ASSERT_EQ(4, mpkshm_recv(a, buf, sizeof(buf), NULL, 1000));
}

TEST_F(cost, copying_send_and_recv_write_pkru_twice_each)
{
	uint64_t before;
	char buf[64];

	need_pku(_metadata);
	warm_up(_metadata, self->a, self->b);
	before = mpkshm_pkru_writes();
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "copied", 6, 1000));
	EXPECT_EQ(2, mpkshm_pkru_writes() - before);
	before = mpkshm_pkru_writes();
	ASSERT_EQ(6, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
	EXPECT_EQ(2, mpkshm_pkru_writes() - before);
}

TEST_F(cost, reserve_commit_and_peek_release_write_pkru_twice_each)
{
	struct mpkshm_msg m;
	uint64_t before;
	void *buf;

	need_pku(_metadata);
	warm_up(_metadata, self->a, self->b);
	before = mpkshm_pkru_writes();
	ASSERT_EQ(0, mpkshm_reserve(self->a, 16, &buf, 1000));
	memcpy(buf, "in place, 16 B..", 16);
	ASSERT_EQ(0, mpkshm_commit(self->a, 16, MPKSHM_TO_ALL));
	EXPECT_EQ(2, mpkshm_pkru_writes() - before);
	before = mpkshm_pkru_writes();
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	EXPECT_EQ(0, memcmp(m.data, "in place, 16 B..", 16));
	ASSERT_EQ(0, mpkshm_release(self->b, &m));
	EXPECT_EQ(2, mpkshm_pkru_writes() - before);
}

struct later {
	struct mpkshm_channel *ch;
	int ms;
	int ret;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void *send_later(void *arg)
{
	struct later *l = arg;

	sleep_ms(l->ms);
	l->ret = mpkshm_send(l->ch, MPKSHM_TO_ALL, "late", 4, 1000);
	return NULL;
}

TEST_F(cost, recv_that_sleeps_for_its_message_writes_pkru_twice)
{
	struct later l = { .ch = self->a, .ms = 50 };
	uint64_t before, start;
	struct timespec t0, t1;
	char buf[8];
	pthread_t t;

	need_pku(_metadata);
	warm_up(_metadata, self->a, self->b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, pthread_create(&t, NULL, send_later, &l));
	before = mpkshm_pkru_writes();
	ASSERT_EQ(4, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 5000));
	EXPECT_EQ(2, mpkshm_pkru_writes() - before);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	EXPECT_EQ(0, l.ret);
	/* It did wait (far past any spinning) for the message. */
	start = (uint64_t)t0.tv_sec * 1000 + (uint64_t)t0.tv_nsec / 1000000;
	EXPECT_LE(start + 40,
		  (uint64_t)t1.tv_sec * 1000 + (uint64_t)t1.tv_nsec / 1000000);
}

static void *drain_later(void *arg)
{
	struct later *l = arg;
	char buf[4096];
	int n;

	sleep_ms(l->ms);
	while ((n = mpkshm_recv(l->ch, buf, sizeof(buf), NULL, 200)) >= 0)
		l->ret++;
	return NULL;
}

TEST_F(cost, send_that_sleeps_for_room_writes_pkru_twice)
{
	struct later l = { .ch = self->b, .ms = 50 };
	static char big[4096];
	uint64_t before;
	pthread_t t;
	int sent = 0;

	need_pku(_metadata);
	warm_up(_metadata, self->a, self->b);
	/* Fill the ring: a send that finds no room fails at once. */
	while (!mpkshm_send(self->a, MPKSHM_TO_ALL, big, sizeof(big), 0))
		sent++;
	ASSERT_LT(0, sent);
	ASSERT_EQ(0, pthread_create(&t, NULL, drain_later, &l));
	before = mpkshm_pkru_writes();
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, big, sizeof(big),
				 5000));
	EXPECT_EQ(2, mpkshm_pkru_writes() - before);
	pthread_join(t, NULL);
	EXPECT_EQ(sent + 1, l.ret);
}

TEST_F(cost, a_batch_of_sixteen_writes_pkru_twice_on_each_side)
{
	struct mpkshm_recv_buf r[16];
	char bufs[16][8];
	struct iovec v[16];
	uint64_t before;
	int i;

	need_pku(_metadata);
	warm_up(_metadata, self->a, self->b);
	for (i = 0; i < 16; i++) {
		v[i] = (struct iovec){ "sixteen", 7 };
		r[i] = (struct mpkshm_recv_buf){ .buf = bufs[i], .cap = sizeof(bufs[i]) };
	}
	before = mpkshm_pkru_writes();
	ASSERT_EQ(16, mpkshm_send_many(self->a, MPKSHM_TO_ALL, v, 16, 1000));
	EXPECT_EQ(2, mpkshm_pkru_writes() - before);
	before = mpkshm_pkru_writes();
	ASSERT_EQ(16, mpkshm_recv_many(self->b, r, 16, 1000));
	EXPECT_EQ(2, mpkshm_pkru_writes() - before);
}

TEST_HARNESS_MAIN
