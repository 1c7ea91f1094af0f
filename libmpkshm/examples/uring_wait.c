// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Waiting for channel messages inside an io_uring loop.
 *
 * A service that already runs an io_uring event loop should not park a
 * thread in mpkshm_recv(): it adds the channel's fd to the ring instead.
 * The pattern, which this program shows end to end:
 *
 *   1. mpkshm_wait_prepare(): returns 1 when a message is already there
 *      (receive it, do not sleep), 0 when sleeping is safe;
 *   2. submit IORING_OP_POLL_ADD for POLLIN on mpkshm_fd();
 *   3. when that completes, receive with timeout 0 until ETIMEDOUT says
 *      nothing is left, then go back to 1.
 *
 * Here the loop also carries a timeout (an idle tick, standing in for the
 * service's other work), and a sender thread in the same process plays the
 * peer, pausing between messages so that the loop really sleeps.
 *
 * usage: uring_wait [-b kernel|memfd|thread] [-n MESSAGES] CHANNEL
 *
 * memfd and thread channels are created if absent; a kernel channel must
 * exist and grant this user read and write (mpklink-grant).  Prints one
 * line of results and exits 0 when every message arrived once, in order.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpkshm.h>

#define POLL_TAG	1
#define TICK_TAG	2

struct sender {
	struct mpkshm_channel *ch;
	unsigned int count;
	int err;
};

static void *send_slowly(void *arg)
{
	struct sender *s = arg;
	struct timespec gap = { 0, 2 * 1000 * 1000 };
	unsigned int i;

	for (i = 1; i <= s->count && !s->err; i++) {
		nanosleep(&gap, NULL);
		s->err = mpkshm_send(s->ch, MPKSHM_TO_ALL, &i, sizeof(i), 5000);
	}
	return NULL;
}

static int submit_poll(struct io_uring *ring, int fd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, POLL_TAG);
	return io_uring_submit(ring) < 0 ? -EIO : 0;
}

static int submit_tick(struct io_uring *ring, struct __kernel_timespec *ts)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout(sqe, ts, 0, 0);
	io_uring_sqe_set_data64(sqe, TICK_TAG);
	return io_uring_submit(ring) < 0 ? -EIO : 0;
}

/* Receives what is there without waiting; 0 when nothing is left. */
static int drain(struct mpkshm_channel *ch, unsigned int *expect)
{
	unsigned int value;
	ssize_t n;

	for (;;) {
		n = mpkshm_recv(ch, &value, sizeof(value), NULL, 0);
		if (n == -ETIMEDOUT)
			return 0;
		if (n < 0)
			return (int)n;
		if (n != sizeof(value) || value != *expect) {
			fprintf(stderr, "uring_wait: got message %u, expected %u\n",
				value, *expect);
			return -EPROTO;
		}
		(*expect)++;
	}
}

static int parse_backend(const char *s, enum mpkshm_backend *out)
{
	if (!strcmp(s, "kernel"))
		*out = MPKSHM_BACKEND_KERNEL;
	else if (!strcmp(s, "memfd"))
		*out = MPKSHM_BACKEND_MEMFD;
	else if (!strcmp(s, "thread"))
		*out = MPKSHM_BACKEND_THREAD;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct __kernel_timespec tick = { .tv_sec = 1 };
	struct mpkshm_channel *rx = NULL, *tx = NULL;
	struct sender sender = { .count = 100 };
	unsigned int expect = 1, sleeps = 0, ticks = 0;
	struct mpkshm_options o;
	struct io_uring ring;
	bool poll_armed = false;
	pthread_t thread;
	int opt, err;

	mpkshm_options_init(&o);
	while ((opt = getopt(argc, argv, "b:n:")) != -1) {
		switch (opt) {
		case 'b':
			if (parse_backend(optarg, &o.backend))
				goto usage;
			break;
		case 'n':
			sender.count = (unsigned int)strtoul(optarg, NULL, 10);
			if (!sender.count)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	if (o.backend != MPKSHM_BACKEND_KERNEL)
		o.flags |= MPKSHM_OPEN_CREATE;
	/* Sleep at once: this example is about the sleeping path. */
	o.spin_us = 0;

	err = mpkshm_open(argv[optind], &o, &rx);
	if (!err) {
		o.flags |= MPKSHM_OPEN_SEND_ONLY;
		err = mpkshm_open(argv[optind], &o, &tx);
	}
	if (err) {
		fprintf(stderr, "uring_wait: %s: %s\n", argv[optind],
			mpkshm_strerror(err));
		goto out;
	}
	err = -io_uring_queue_init(8, &ring, 0);
	if (err) {
		fprintf(stderr, "uring_wait: io_uring: %s\n", strerror(err));
		goto out;
	}
	sender.ch = tx;
	err = -pthread_create(&thread, NULL, send_slowly, &sender);
	if (err)
		goto out_ring;

	err = submit_tick(&ring, &tick);
	while (!err && expect <= sender.count) {
		struct io_uring_cqe *cqe;
		__u64 tag;

		if (!poll_armed) {
			/* 1: a message may have come since the last drain. */
			err = mpkshm_wait_prepare(rx);
			if (err > 0) {
				err = drain(rx, &expect);
				continue;
			}
			/* 2: safe to sleep. */
			if (!err)
				err = submit_poll(&ring, mpkshm_fd(rx));
			if (err)
				break;
			poll_armed = true;
			sleeps++;
		}
		err = -io_uring_wait_cqe(&ring, &cqe);
		if (err == -EINTR) {
			err = 0;
			continue;
		}
		if (err)
			break;
		tag = io_uring_cqe_get_data64(cqe);
		io_uring_cqe_seen(&ring, cqe);
		if (tag == TICK_TAG) {
			ticks++;
			err = submit_tick(&ring, &tick);
		} else {
			/* 3: woken; take everything there is. */
			poll_armed = false;
			err = drain(rx, &expect);
		}
	}
	pthread_join(thread, NULL);
	if (!err)
		err = sender.err;
	if (err)
		fprintf(stderr, "uring_wait: %s\n", mpkshm_strerror(err));
	else
		printf("uring_wait: %u messages in order, %u io_uring sleeps, %u idle ticks\n",
		       sender.count, sleeps, ticks);
out_ring:
	io_uring_queue_exit(&ring);
out:
	if (tx)
		mpkshm_close(tx);
	if (rx)
		mpkshm_close(rx);
	return err ? 1 : 0;

usage:
	fprintf(stderr, "usage: %s [-b kernel|memfd|thread] [-n MESSAGES] CHANNEL\n",
		argv[0]);
	return 2;
}
