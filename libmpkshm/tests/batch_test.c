// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Batches: mpkshm_send_many() sends a list of messages in one window and
 * mpkshm_recv_many() takes what is waiting in one window, each message
 * whole and in order, as one call each would.
 */
#include <pthread.h>
#include <time.h>

#include "kselftest_harness.h"
#include "lib_test.h"

LT_FIXTURE(batch)

/* The last message is larger than the segment: split, it needs a reader. */
static char big[LT_SEGMENT * 2], got_big[LT_SEGMENT * 2];

struct reader {
	struct mpkshm_channel *ch;
	char small[8][16];
	int lens[9];
};

static void *read_nine(void *arg)
{
	struct reader *r = arg;
	int i;

	for (i = 0; i < 8; i++)
		r->lens[i] = mpkshm_recv(r->ch, r->small[i], sizeof(r->small[i]),
					 NULL, 5000);
	r->lens[8] = mpkshm_recv(r->ch, got_big, sizeof(got_big), NULL, 5000);
	return NULL;
}

TEST_F(batch, send_many_delivers_every_message_whole_and_in_order)
{
	struct reader r = { .ch = self->b };
	char small[8][16];
	struct iovec v[9];
	pthread_t t;
	int i;

	for (i = 0; i < 8; i++) {
		snprintf(small[i], sizeof(small[i]), "message %d", i);
		v[i] = (struct iovec){ small[i], strlen(small[i]) + 1 };
	}
	memset(big, 'b', sizeof(big));
	v[8] = (struct iovec){ big, sizeof(big) };
	ASSERT_EQ(0, pthread_create(&t, NULL, read_nine, &r));
	EXPECT_EQ(9, mpkshm_send_many(self->a, MPKSHM_TO_ALL, v, 9, 5000));
	pthread_join(t, NULL);
	for (i = 0; i < 8; i++) {
		EXPECT_EQ((int)v[i].iov_len, r.lens[i]);
		EXPECT_STREQ(small[i], r.small[i]);
	}
	EXPECT_EQ((int)sizeof(big), r.lens[8]);
	EXPECT_EQ(0, memcmp(big, got_big, sizeof(big)));
}

TEST_F(batch, recv_many_takes_what_waits_and_no_more)
{
	struct mpkshm_recv_buf r[16];
	char bufs[16][32];
	int i;

	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, &i, sizeof(i),
					 1000));
	for (i = 0; i < 16; i++)
		r[i] = (struct mpkshm_recv_buf){ .buf = bufs[i], .cap = sizeof(bufs[i]) };
	ASSERT_EQ(5, mpkshm_recv_many(self->b, r, 16, 1000));
	for (i = 0; i < 5; i++) {
		EXPECT_EQ(sizeof(int), r[i].len);
		EXPECT_EQ(i, *(int *)bufs[i]);
		EXPECT_EQ(i + 1, (int)r[i].info.seq);
	}
	/* Nothing left: the next one waits, and times out. */
	EXPECT_EQ(-ETIMEDOUT, mpkshm_recv_many(self->b, r, 16, 0));
}

struct later {
	struct mpkshm_channel *ch;
	int ret;
};

static void *send_later(void *arg)
{
	struct later *l = arg;
	struct timespec ts = { .tv_nsec = 50 * 1000000L };

	nanosleep(&ts, NULL);
	l->ret = mpkshm_send(l->ch, MPKSHM_TO_ALL, "late", 4, 1000);
	return NULL;
}

TEST_F(batch, recv_many_waits_for_the_first_message)
{
	struct later l = { .ch = self->a };
	struct mpkshm_recv_buf r[4];
	char bufs[4][8];
	pthread_t t;
	int i;

	for (i = 0; i < 4; i++)
		r[i] = (struct mpkshm_recv_buf){ .buf = bufs[i], .cap = sizeof(bufs[i]) };
	ASSERT_EQ(0, pthread_create(&t, NULL, send_later, &l));
	ASSERT_EQ(1, mpkshm_recv_many(self->b, r, 4, 5000));
	EXPECT_EQ(4, r[0].len);
	EXPECT_EQ(0, memcmp(bufs[0], "late", 4));
	pthread_join(t, NULL);
	EXPECT_EQ(0, l.ret);
}

TEST_F(batch, a_message_too_long_for_its_buffer_stays_for_the_next_call)
{
	struct mpkshm_recv_buf r[2];
	char bufs[2][8], large[100] = "a hundred bytes";

	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "four", 4, 1000));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, large, sizeof(large),
				 1000));
	r[0] = (struct mpkshm_recv_buf){ .buf = bufs[0], .cap = sizeof(bufs[0]) };
	r[1] = (struct mpkshm_recv_buf){ .buf = bufs[1], .cap = sizeof(bufs[1]) };
	ASSERT_EQ(1, mpkshm_recv_many(self->b, r, 2, 1000));
	EXPECT_EQ(4, r[0].len);
	EXPECT_EQ(-EMSGSIZE, mpkshm_recv_many(self->b, r, 2, 1000));
	ASSERT_EQ(sizeof(large), mpkshm_recv(self->b, large, sizeof(large),
					     NULL, 1000));
	EXPECT_STREQ("a hundred bytes", large);
}

TEST_F(batch, send_many_that_runs_out_of_room_says_how_many_went)
{
	static char chunk[LT_SEGMENT / 4];
	struct iovec v[16];
	char got[sizeof(chunk)];
	int i, sent;

	for (i = 0; i < 16; i++)
		v[i] = (struct iovec){ chunk, sizeof(chunk) };
	/* Four times the ring, no waiting: the first few go. */
	sent = mpkshm_send_many(self->a, MPKSHM_TO_ALL, v, 16, 0);
	ASSERT_LT(0, sent);
	ASSERT_GT(16, sent);
	for (i = 0; i < sent; i++)
		ASSERT_EQ(sizeof(chunk), mpkshm_recv(self->b, got, sizeof(got),
						     NULL, 1000));
	EXPECT_EQ(-ETIMEDOUT, mpkshm_recv(self->b, got, sizeof(got), NULL, 0));
}

TEST_F(batch, empty_or_missing_batches_are_einval)
{
	struct mpkshm_recv_buf r = { .buf = NULL, .cap = 8 };
	struct iovec v = { NULL, 8 };

	EXPECT_EQ(-EINVAL, mpkshm_send_many(self->a, MPKSHM_TO_ALL, &v, 0, 0));
	EXPECT_EQ(-EINVAL, mpkshm_send_many(self->a, MPKSHM_TO_ALL, NULL, 1, 0));
	EXPECT_EQ(-EINVAL, mpkshm_send_many(self->a, MPKSHM_TO_ALL, &v, 1, 0));
	EXPECT_EQ(-EINVAL, mpkshm_recv_many(self->b, &r, 0, 0));
	EXPECT_EQ(-EINVAL, mpkshm_recv_many(self->b, NULL, 1, 0));
	EXPECT_EQ(-EINVAL, mpkshm_recv_many(self->b, &r, 1, 0));
}

TEST_HARNESS_MAIN
