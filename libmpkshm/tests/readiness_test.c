// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Readiness to send: mpkshm_wait_prepare_send() and mpkshm_fd() let an
 * event loop wait for room in its ring as it waits for messages, on every
 * backend, without spinning and without losing either wake-up when it
 * waits for both.
 */
#include <poll.h>
#include <stdatomic.h>

#include "kselftest_harness.h"
#include "lib_test.h"

LT_FIXTURE(ready)

#define MSG	1024

/* Sends from @ch until its ring is full (a send that cannot start). */
static int fill_ring(struct mpkshm_channel *ch)
{
	static char buf[MSG];
	int n, err;

	for (n = 0; n < 10000; n++) {
		err = mpkshm_send(ch, MPKSHM_TO_ALL, buf, sizeof(buf), 0);
		if (err == -ETIMEDOUT)
			return n;
		if (err)
			return err;
	}
	return -ENOSPC;
}

static int readable(struct mpkshm_channel *ch, int timeout_ms)
{
	struct pollfd pfd = { .fd = mpkshm_fd(ch), .events = POLLIN };

	return poll(&pfd, 1, timeout_ms);
}

TEST_F(ready, room_to_send_says_send_now)
{
	EXPECT_EQ(1, mpkshm_wait_prepare_send(self->a, MSG));
	EXPECT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 0));
}

TEST_F(ready, full_ring_says_sleep_until_a_reader_takes_a_message)
{
	char buf[MSG];

	ASSERT_LT(0, fill_ring(self->a));
	ASSERT_EQ(0, mpkshm_wait_prepare_send(self->a, MSG));
	EXPECT_EQ(0, readable(self->a, 0));
	ASSERT_EQ(MSG, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
	EXPECT_EQ(1, readable(self->a, 5000));
	EXPECT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, buf, sizeof(buf), 0));
}

TEST_F(ready, room_that_came_before_the_prepare_is_seen)
{
	char buf[MSG];

	ASSERT_LT(0, fill_ring(self->a));
	ASSERT_EQ(MSG, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
	EXPECT_EQ(1, mpkshm_wait_prepare_send(self->a, MSG));
}

/*
 * Armed for both, in either order: each prepare drains the fd, so each
 * must look again at what the other armed it for.
 */
TEST_F(ready, message_and_room_armed_together_lose_neither)
{
	char buf[MSG];
	int order;

	ASSERT_LT(0, fill_ring(self->a));
	for (order = 0; order < 2; order++) {
		if (order == 0) {
			ASSERT_EQ(0, mpkshm_wait_prepare(self->a));
			ASSERT_EQ(0, mpkshm_wait_prepare_send(self->a, MSG));
		} else {
			ASSERT_EQ(0, mpkshm_wait_prepare_send(self->a, MSG));
			ASSERT_EQ(0, mpkshm_wait_prepare(self->a));
		}
		/* A message for a: the fd wakes, and it is there. */
		ASSERT_EQ(0, mpkshm_send(self->b, MPKSHM_TO_ALL, "m", 1, 1000));
		EXPECT_EQ(1, readable(self->a, 5000));
		EXPECT_EQ(1, mpkshm_recv(self->a, buf, sizeof(buf), NULL, 0));
		/* Still armed for room: a reader taking one wakes it again. */
		if (order == 0) {
			EXPECT_EQ(0, mpkshm_wait_prepare(self->a));
		} else {
			EXPECT_EQ(0, mpkshm_wait_prepare_send(self->a, MSG));
			EXPECT_EQ(0, mpkshm_wait_prepare(self->a));
		}
		EXPECT_EQ(0, readable(self->a, 0));
		ASSERT_EQ(MSG, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
		EXPECT_EQ(1, readable(self->a, 5000));
		EXPECT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, buf,
					 sizeof(buf), 0));
		/* Full again, for the next order. */
		ASSERT_LE(0, fill_ring(self->a));
		while (mpkshm_recv(self->a, buf, sizeof(buf), NULL, 0) > 0)
			;
	}
}

struct slow_reader {
	struct mpkshm_channel *ch;
	int n;
	int bad;			/* messages out of order or damaged */
};

static void *read_slowly(void *arg)
{
	struct slow_reader *r = arg;
	char buf[MSG];
	int i, len;

	for (i = 0; i < r->n; i++) {
		len = mpkshm_recv(r->ch, buf, sizeof(buf), NULL, 10000);
		if (len != MSG || *(int *)buf != i)
			r->bad++;
		if (i % 64 == 0)
			usleep(1000);
	}
	return NULL;
}

/*
 * The event loop: send while there is room, else prepare and sleep on the
 * fd.  Whenever the library says there is room (at prepare, or after the
 * wake-up) the next send must succeed: a "room" with nothing behind it is
 * what would make an event loop spin.  Every message arrives in order.
 */
TEST_F(ready, event_loop_sends_to_a_slow_reader_without_spinning)
{
	struct slow_reader r = { .ch = self->b, .n = 4000 };
	int sent = 0, sleeps = 0, idle_wakeups = 0, failed = 0, false_room = 0;
	bool said_room = false;
	char buf[MSG] = { 0 };
	pthread_t t;
	int ret;

	ASSERT_EQ(0, pthread_create(&t, NULL, read_slowly, &r));
	while (sent < r.n) {
		*(int *)buf = sent;
		ret = mpkshm_send(self->a, MPKSHM_TO_ALL, buf, sizeof(buf), 0);
		if (ret == 0) {
			sent++;
			said_room = false;
			continue;
		}
		ASSERT_EQ(-ETIMEDOUT, ret);
		failed++;
		if (said_room)
			false_room++;
		ret = mpkshm_wait_prepare_send(self->a, sizeof(buf));
		ASSERT_LE(0, ret);
		said_room = ret == 1;
		if (said_room)
			continue;
		sleeps++;
		ASSERT_EQ(1, readable(self->a, 10000)) TH_LOG("no wake-up");
		ret = mpkshm_wait_prepare_send(self->a, sizeof(buf));
		ASSERT_LE(0, ret);
		said_room = ret == 1;
		if (!said_room)
			idle_wakeups++;
	}
	pthread_join(t, NULL);
	EXPECT_EQ(0, r.bad);
	TH_LOG("%d messages, %d full, %d sleeps, %d wake-ups without room",
	       sent, failed, sleeps, idle_wakeups);
	EXPECT_EQ(0, false_room);
	/* The reader's pauses fill the ring: the loop did sleep. */
	EXPECT_LT(0, sleeps);
	EXPECT_LE(idle_wakeups, sleeps / 2 + 1);
}

TEST_HARNESS_MAIN
