// SPDX-License-Identifier: GPL-2.0
/*
 * Doorbells and events: members ring each other through the kernel and
 * learn of joins, departures and deaths, through poll, epoll, a blocking
 * read, io_uring and MPKLINK_CHAN_IOC_WAIT (which sleeps and takes the
 * rings in one call, leaving other events to read()).
 */
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <time.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int pollin(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) < 0)
		return -1;
	return pfd.revents;
}

/* Reads every pending record; returns how many, or -errno. */
static int drain(int fd, struct mpklink_event *ev, int room)
{
	int flags = fcntl(fd, F_GETFL);
	ssize_t n;

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	n = read(fd, ev, room * sizeof(*ev));
	fcntl(fd, F_SETFL, flags);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n / sizeof(*ev);
}

FIXTURE(bell)
{
	int dev;
	char chan[MPKLINK_NAME_MAX];
	int a, b;			/* two members of this process */
	struct mpklink_attach ia, ib;
};

FIXTURE_SETUP(bell)
{
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->chan, "bell");
	ASSERT_EQ(0, mpk_create(self->dev, self->chan));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	self->a = mpk_attach(self->dev, self->chan, &self->ia);
	ASSERT_LE(0, self->a);
	self->b = mpk_attach(self->dev, self->chan, &self->ib);
	ASSERT_LE(0, self->b);
	/* a has an event: b joined.  Start with nothing pending. */
	ASSERT_EQ(1, drain(self->a, (struct mpklink_event[1]){}, 1));
}

FIXTURE_TEARDOWN(bell)
{
	close(self->a);
	close(self->b);
	mpk_destroy(self->dev, self->chan);
	close(self->dev);
}

TEST_F(bell, ring_makes_the_target_readable_and_reading_clears_it)
{
	struct mpklink_event ev[4];

	EXPECT_EQ(0, pollin(self->b, 0));
	EXPECT_EQ(1, mpk_ring(self->a, 1ULL << self->ib.slot));
	EXPECT_EQ(POLLIN, pollin(self->b, 0));
	EXPECT_EQ(0, pollin(self->a, 0));	/* the ringer is not rung */
	ASSERT_EQ(1, drain(self->b, ev, 4));
	EXPECT_EQ(MPKLINK_EVENT_DOORBELL, ev[0].type);
	EXPECT_EQ(1, ev[0].count);
	EXPECT_EQ(0, pollin(self->b, 0));
}

TEST_F(bell, rings_coalesce_into_one_record_with_their_count)
{
	struct mpklink_event ev[4];
	int i;

	for (i = 0; i < 5; i++)
		ASSERT_EQ(1, mpk_ring(self->a, 1ULL << self->ib.slot));
	ASSERT_EQ(1, drain(self->b, ev, 4));
	EXPECT_EQ(MPKLINK_EVENT_DOORBELL, ev[0].type);
	EXPECT_EQ(5, ev[0].count);
}

TEST_F(bell, ring_with_no_slots_rings_every_other_member)
{
	struct mpklink_attach ic;
	struct mpklink_event ev[8];
	int c = mpk_attach(self->dev, self->chan, &ic);

	ASSERT_LE(0, c);
	drain(self->a, ev, 8);		/* the join events */
	drain(self->b, ev, 8);
	EXPECT_EQ(2, mpk_ring(self->a, 0));
	EXPECT_EQ(POLLIN, pollin(self->b, 0));
	EXPECT_EQ(POLLIN, pollin(c, 0));
	EXPECT_EQ(0, pollin(self->a, 0));
	close(c);
}

TEST_F(bell, ring_of_slots_beyond_the_channel_is_einval)
{
	EXPECT_EQ(-EINVAL, mpk_ring(self->a, 1ULL << 63));
}

TEST_F(bell, blocking_read_returns_when_rung)
{
	int args[2] = { self->a, self->ib.slot };
	struct mpklink_event ev;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, mpk_ring_later, args));
	ASSERT_EQ(sizeof(ev), read(self->b, &ev, sizeof(ev)));
	EXPECT_EQ(MPKLINK_EVENT_DOORBELL, ev.type);
	pthread_join(t, NULL);
}

TEST_F(bell, poll_sleeps_until_rung)
{
	int args[2] = { self->a, self->ib.slot };
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, mpk_ring_later, args));
	EXPECT_EQ(POLLIN, pollin(self->b, 5000));
	pthread_join(t, NULL);
}

TEST_F(bell, epoll_wakes_when_rung)
{
	struct epoll_event e = { .events = EPOLLIN | EPOLLET };
	int args[2] = { self->a, self->ib.slot };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	pthread_t t;

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->b, &e));
	ASSERT_EQ(0, pthread_create(&t, NULL, mpk_ring_later, args));
	ASSERT_EQ(1, epoll_wait(ep, &e, 1, 5000));
	EXPECT_EQ(EPOLLIN, e.events & EPOLLIN);
	pthread_join(t, NULL);
	close(ep);
}

TEST_F(bell, io_uring_poll_completes_when_rung)
{
	int args[2] = { self->a, self->ib.slot };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring_;
	pthread_t t;

	ASSERT_EQ(0, io_uring_queue_init(4, &ring_, 0));
	sqe = io_uring_get_sqe(&ring_);
	ASSERT_NE(NULL, sqe);
	io_uring_prep_poll_add(sqe, self->b, POLLIN);
	ASSERT_EQ(1, io_uring_submit(&ring_));
	ASSERT_EQ(0, pthread_create(&t, NULL, mpk_ring_later, args));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring_, &cqe));
	EXPECT_EQ(POLLIN, cqe->res & POLLIN);
	io_uring_cqe_seen(&ring_, cqe);
	pthread_join(t, NULL);
	io_uring_queue_exit(&ring_);
}

TEST_F(bell, members_learn_who_joined_and_who_left)
{
	struct mpklink_event ev[4];
	struct mpklink_attach ic;
	int c;

	drain(self->a, ev, 4);
	c = mpk_attach(self->dev, self->chan, &ic);
	ASSERT_LE(0, c);
	ASSERT_EQ(1, drain(self->a, ev, 4));
	EXPECT_EQ(MPKLINK_EVENT_JOIN, ev[0].type);
	EXPECT_EQ(ic.slot, ev[0].slot);
	EXPECT_EQ(ic.member_id, ev[0].member_id);
	EXPECT_EQ(getpid(), (pid_t)ev[0].pid);
	close(c);
	ASSERT_EQ(1, drain(self->a, ev, 4));
	EXPECT_EQ(MPKLINK_EVENT_LEAVE, ev[0].type);
	EXPECT_EQ(MPKLINK_LEAVE_CLOSED, ev[0].reason);
	EXPECT_EQ(ic.member_id, ev[0].member_id);
}

static int attach_and_hang(void *chan)
{
	if (mpk_attach_fresh(chan, NULL) < 0)
		return 1;
	pause();
	return 0;
}

TEST_F(bell, killed_peer_is_reported_within_100ms)
{
	struct mpklink_event ev[4];
	long long killed, woke;
	pid_t pid;
	int n;

	drain(self->a, ev, 4);
	pid = fork();
	if (pid == 0)
		_exit(attach_and_hang(self->chan));
	ASSERT_EQ(POLLIN, pollin(self->a, 5000));	/* it joined */
	ASSERT_EQ(1, drain(self->a, ev, 4));
	ASSERT_EQ(MPKLINK_EVENT_JOIN, ev[0].type);
	killed = now_ns();
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(POLLIN, pollin(self->a, 5000));
	woke = now_ns();
	n = drain(self->a, ev, 4);
	ASSERT_EQ(1, n);
	EXPECT_EQ(MPKLINK_EVENT_LEAVE, ev[0].type);
	EXPECT_EQ(MPKLINK_LEAVE_EXITED, ev[0].reason);
	EXPECT_EQ(pid, (pid_t)ev[0].pid);
	TH_LOG("death reported %lld us after SIGKILL", (woke - killed) / 1000);
	EXPECT_GT(100000000LL, woke - killed);
	waitpid(pid, NULL, 0);
}

TEST_F(bell, lost_events_are_counted_in_an_overflow_record)
{
	struct mpklink_event ev[64];
	int i, c, n;

	drain(self->a, ev, 64);
	for (i = 0; i < 20; i++) {	/* 40 events for a queue of 32 */
		c = mpk_attach(self->dev, self->chan, NULL);
		ASSERT_LE(0, c);
		close(c);
	}
	n = drain(self->a, ev, 64);
	ASSERT_EQ(33, n);
	EXPECT_EQ(MPKLINK_EVENT_OVERFLOW, ev[0].type);
	EXPECT_EQ(8, ev[0].count);
	EXPECT_EQ(MPKLINK_EVENT_JOIN, ev[1].type);
}

TEST_F(bell, read_needs_room_for_a_record_and_honours_nonblock)
{
	struct mpklink_event ev;
	int flags = fcntl(self->b, F_GETFL);

	EXPECT_EQ(-1, read(self->b, &ev, sizeof(ev) - 1));
	EXPECT_EQ(EINVAL, errno);
	drain(self->b, &ev, 1);
	ASSERT_EQ(0, fcntl(self->b, F_SETFL, flags | O_NONBLOCK));
	EXPECT_EQ(-1, read(self->b, &ev, sizeof(ev)));
	EXPECT_EQ(EAGAIN, errno);
}

/* MPKLINK_CHAN_IOC_WAIT: poll() and read() of the rings in one call. */
#define NO_LIMIT (~0ULL)

static int wait_ioc(int fd, __u64 timeout_ns, struct mpklink_wait *out)
{
	struct mpklink_wait req = { .size = sizeof(req),
				    .timeout_ns = timeout_ns };
	int ret = mpk_ret(ioctl(fd, MPKLINK_CHAN_IOC_WAIT, &req));

	if (out)
		*out = req;
	return ret;
}

TEST_F(bell, wait_ioctl_pending_rings_are_taken_at_once_and_counted)
{
	struct mpklink_wait w;
	int i;

	for (i = 0; i < 3; i++)
		ASSERT_EQ(1, mpk_ring(self->a, 1ULL << self->ib.slot));
	ASSERT_EQ(0, wait_ioc(self->b, NO_LIMIT, &w));
	EXPECT_EQ(3, w.rings);
	EXPECT_EQ(0, w.events);
	/* Taken: the fd no longer polls readable. */
	EXPECT_EQ(0, pollin(self->b, 0));
}

TEST_F(bell, wait_ioctl_sleeps_until_rung)
{
	int args[2] = { self->a, self->ib.slot };
	struct mpklink_wait w;
	long long start = now_ns() / 1000000;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, mpk_ring_later, args));
	ASSERT_EQ(0, wait_ioc(self->b, 10ULL * 1000000000, &w));
	EXPECT_LE(start + 40, now_ns() / 1000000);
	EXPECT_EQ(1, w.rings);
	pthread_join(t, NULL);
}

TEST_F(bell, wait_ioctl_nothing_pending_times_out_with_etimedout)
{
	long long start = now_ns() / 1000000;

	EXPECT_EQ(-ETIMEDOUT, wait_ioc(self->b, 30 * 1000000ULL, NULL));
	EXPECT_LE(start + 25, now_ns() / 1000000);
	EXPECT_GT(start + 5000, now_ns() / 1000000);
	/* A zero timeout looks and does not sleep. */
	start = now_ns() / 1000000;
	EXPECT_EQ(-ETIMEDOUT, wait_ioc(self->b, 0, NULL));
	EXPECT_GT(start + 1000, now_ns() / 1000000);
}

TEST_F(bell, wait_ioctl_events_are_reported_and_left_for_read)
{
	struct mpklink_attach ic;
	struct mpklink_event ev[2];
	struct mpklink_wait w;
	int c = mpk_attach(self->dev, self->chan, &ic);

	ASSERT_LE(0, c);
	ASSERT_EQ(0, wait_ioc(self->a, NO_LIMIT, &w));
	EXPECT_EQ(0, w.rings);
	EXPECT_EQ(1, w.events);
	ASSERT_EQ(sizeof(ev[0]), read(self->a, ev, sizeof(ev)));
	EXPECT_EQ(MPKLINK_EVENT_JOIN, ev[0].type);
	EXPECT_EQ(ic.member_id, ev[0].member_id);
	close(c);
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST_F(bell, wait_ioctl_a_signal_interrupts_it_with_eintr)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct itimerspec it = { .it_value.tv_nsec = 50 * 1000000L };
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL,
				.sigev_signo = SIGALRM };
	timer_t timer;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	ASSERT_EQ(0, timer_create(CLOCK_MONOTONIC, &sev, &timer));
	ASSERT_EQ(0, timer_settime(timer, 0, &it, NULL));
	EXPECT_EQ(-EINTR, wait_ioc(self->b, NO_LIMIT, NULL));
	timer_delete(timer);
}

struct revoker {
	int dev;
	const char *chan;
};

static void *revoke_later(void *arg)
{
	struct revoker *r = arg;

	usleep(50000);
	mpk_revoke(r->dev, r->chan, mpk_by_uid(0));
	return NULL;
}

TEST_F(bell, wait_ioctl_revocation_wakes_a_sleeper_with_ekeyrevoked)
{
	struct revoker r = { self->dev, self->chan };
	struct timespec start, now;
	struct mpklink_wait w;
	pthread_t t;
	int ret;

	ASSERT_EQ(0, pthread_create(&t, NULL, revoke_later, &r));
	clock_gettime(CLOCK_MONOTONIC, &start);
	/*
	 * The grant covers both members: a's revocation may wake b first,
	 * as an event (a left), before b's own.  Only events may come
	 * before EKEYREVOKED, and within the wait's 10 s.
	 */
	do {
		ret = wait_ioc(self->b, 10ULL * 1000000000, &w);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (ret == 0 && w.events && !w.rings &&
		 now.tv_sec - start.tv_sec < 10);
	EXPECT_EQ(-EKEYREVOKED, ret)
		TH_LOG("woken with %d, %u rings, %u events", ret,
		       (unsigned int)w.rings, (unsigned int)w.events);
	pthread_join(t, NULL);
	EXPECT_EQ(-EKEYREVOKED, wait_ioc(self->a, 0, NULL));
}

TEST_F(bell, wait_ioctl_reserved_fields_flags_and_out_fields_must_be_zero)
{
	struct mpklink_wait req = { .size = sizeof(req), .flags = 1 };

	EXPECT_EQ(-EINVAL, mpk_ret(ioctl(self->b, MPKLINK_CHAN_IOC_WAIT, &req)));
	req = (struct mpklink_wait){ .size = sizeof(req), .reserved[1] = 1 };
	EXPECT_EQ(-EINVAL, mpk_ret(ioctl(self->b, MPKLINK_CHAN_IOC_WAIT, &req)));
	req = (struct mpklink_wait){ .size = sizeof(req), .rings = 1 };
	EXPECT_EQ(-EINVAL, mpk_ret(ioctl(self->b, MPKLINK_CHAN_IOC_WAIT, &req)));
	req = (struct mpklink_wait){ .size = sizeof(req) - 8 };
	EXPECT_EQ(-EINVAL, mpk_ret(ioctl(self->b, MPKLINK_CHAN_IOC_WAIT, &req)));
}

TEST_HARNESS_MAIN
