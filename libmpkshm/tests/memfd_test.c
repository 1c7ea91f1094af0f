// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The memfd backend's broker and its peers, none of them trusted: a
 * process of another user holding the broker's name first, one knocking
 * on our broker, a creator that leaves or is killed, a member that stops
 * calling into the library, a broker that says nothing or sends garbage,
 * a writer that joins while a reader sleeps.  The tests that need a second
 * user run as root and become uid 65534 in a child.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <dirent.h>
#include <sched.h>

#include "kselftest_harness.h"
#include "lib_test.h"
#include "../src/memfd_wire.h"

#define OTHER_UID	65534

static int open_memfd(const char *name, unsigned int flags, int timeout_ms,
		      struct mpkshm_channel **ch)
{
	struct mpkshm_options o;

	mpkshm_options_init(&o);
	o.backend = MPKSHM_BACKEND_MEMFD;
	o.flags = flags;
	o.segment_size = LT_SEGMENT;
	o.close_timeout_ms = 200;
	o.open_timeout_ms = timeout_ms;
	return mpkshm_open(name, &o, ch);
}

static int become_other_user(void)
{
	return setresgid(OTHER_UID, OTHER_UID, OTHER_UID) ||
	       setresuid(OTHER_UID, OTHER_UID, OTHER_UID) ? -1 : 0;
}

/* A socket bound to the abstract name of @uid's broker. */
static int bind_name(uid_t uid, bool listening)
{
	struct sockaddr_un addr;
	socklen_t len;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	mpkshm_wire_address(&addr, &len, uid);
	if (s < 0 || bind(s, (struct sockaddr *)&addr, len) ||
	    (listening && listen(s, 8)))
		return -1;
	return s;
}

/*
 * Abstract names are per network namespace: a test that holds, fakes or
 * watches its user's broker name gets a namespace of its own, so no real
 * broker (of another test) is in the way.  Needs root.
 */
static int own_names(void)
{
	return unshare(CLONE_NEWNET) ? -errno : 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1;	/* the directory's own */
}

/* --- someone else holds the name ------------------------------------------ */

struct impostor_report {
	int connections;
	ssize_t bytes;		/* what victims sent it */
	int fds;
};

/*
 * As uid 65534: holds @victim's broker name (listening or not), counts
 * what connects and what it is sent, until @stop is closed.
 */
static int impostor(uid_t victim, bool listening, int ready, int stop,
		    int report)
{
	struct impostor_report r = { 0 };
	struct pollfd pfd[2];
	int s;

	if (become_other_user())
		return 1;
	s = bind_name(victim, listening);
	if (s < 0 || write(ready, "r", 1) != 1)
		return 2;
	pfd[0] = (struct pollfd){ .fd = stop, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = s, .events = POLLIN };
	/* Until told to stop, and nobody is left waiting to be accepted. */
	while (poll(pfd, listening ? 2 : 1, -1) > 0 &&
	       (!pfd[0].revents || (listening && pfd[1].revents))) {
		char buf[256], control[CMSG_SPACE(8 * sizeof(int))];
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control,
			.msg_controllen = sizeof(control),
		};
		struct pollfd one;
		struct cmsghdr *cm;
		int c = accept(s, NULL, NULL);
		ssize_t n;

		if (c < 0)
			continue;
		r.connections++;
		one = (struct pollfd){ .fd = c, .events = POLLIN };
		while (poll(&one, 1, 300) > 0 &&
		       (n = recvmsg(c, &mh, MSG_DONTWAIT)) > 0) {
			r.bytes += n;
			for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
				r.fds += (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			mh.msg_controllen = sizeof(control);
		}
		close(c);
	}
	return write(report, &r, sizeof(r)) == sizeof(r) ? 0 : 3;
}

struct held_name {
	pid_t pid;
	int stop, report;
};

static int hold_name(struct held_name *h, bool listening)
{
	int ready[2], stop[2], report[2];
	char c;

	if (pipe(ready) || pipe(stop) || pipe(report))
		return -1;
	h->pid = fork();
	if (h->pid == 0) {
		close(stop[1]);
		_exit(impostor(geteuid(), listening, ready[1], stop[0],
			       report[1]));
	}
	close(ready[1]);
	close(stop[0]);
	close(report[1]);
	h->stop = stop[1];
	h->report = report[0];
	return read(ready[0], &c, 1) == 1 ? 0 : -1;
}

static int release_name(struct held_name *h, struct impostor_report *r)
{
	ssize_t n;

	close(h->stop);
	n = read(h->report, r, sizeof(*r));
	close(h->report);
	return lt_wait(h->pid) == 0 && n == sizeof(*r) ? 0 : -1;
}

TEST(name_held_by_another_user_is_eaddrinuse_and_told_nothing)
{
	struct impostor_report r;
	struct mpkshm_channel *ch;
	struct held_name h;
	char name[MPKLINK_NAME_MAX];

	if (geteuid() != 0)
		SKIP(return, "needs root to run a process of another user");
	ASSERT_EQ(0, own_names());
	lt_name(name, "impostor");
	ASSERT_EQ(0, hold_name(&h, true));
	EXPECT_EQ(-EADDRINUSE, open_memfd(name, MPKSHM_OPEN_CREATE, 2000, &ch));
	EXPECT_EQ(-EADDRINUSE, open_memfd(name, 0, 2000, &ch));
	ASSERT_EQ(0, release_name(&h, &r));
	EXPECT_LE(1, r.connections);
	/* Not a byte, not a descriptor: least of all the segment memfd. */
	EXPECT_EQ(0, r.bytes);
	EXPECT_EQ(0, r.fds);
}

TEST(name_bound_without_listening_by_another_user_is_eaddrinuse)
{
	struct impostor_report r;
	struct mpkshm_channel *ch;
	struct held_name h;
	char name[MPKLINK_NAME_MAX];
	long long start;

	if (geteuid() != 0)
		SKIP(return, "needs root to run a process of another user");
	ASSERT_EQ(0, own_names());
	lt_name(name, "squatter");
	ASSERT_EQ(0, hold_name(&h, false));
	start = lt_now_ns();
	EXPECT_EQ(-EADDRINUSE, open_memfd(name, MPKSHM_OPEN_CREATE, 3000, &ch));
	EXPECT_GT(3000000000LL, lt_now_ns() - start);
	ASSERT_EQ(0, release_name(&h, &r));
}

TEST(broker_ends_when_its_users_last_channel_ends)
{
	struct mpkshm_channel *a, *b;
	char one[MPKLINK_NAME_MAX], two[MPKLINK_NAME_MAX];
	struct sockaddr_un addr;
	long long deadline;
	socklen_t len;
	int s, err = 0;

	if (geteuid() != 0)
		SKIP(return, "needs root for a network namespace of its own");
	ASSERT_EQ(0, own_names());
	lt_name(one, "one");
	lt_name(two, "two");
	/* One broker for both: the second channel needs none started. */
	ASSERT_EQ(0, open_memfd(one, MPKSHM_OPEN_CREATE, 2000, &a));
	ASSERT_EQ(0, open_memfd(two, MPKSHM_OPEN_CREATE, 2000, &b));
	mpkshm_close(a);
	EXPECT_EQ(-ENOENT, open_memfd(one, 0, 2000, &a));
	mpkshm_close(b);
	mpkshm_wire_address(&addr, &len, geteuid());
	deadline = lt_now_ns() + 2000000000LL;
	while (lt_now_ns() < deadline) {
		s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		err = connect(s, (struct sockaddr *)&addr, len) ? errno : 0;
		close(s);
		if (err == ECONNREFUSED)
			break;
		usleep(1000);
	}
	EXPECT_EQ(ECONNREFUSED, err);
}

TEST(broker_refuses_a_process_of_another_user)
{
	struct mpkshm_channel *a;
	char name[MPKLINK_NAME_MAX];
	uid_t owner = geteuid();
	pid_t pid;

	if (geteuid() != 0)
		SKIP(return, "needs root to run a process of another user");
	ASSERT_EQ(0, own_names());
	lt_name(name, "refuse");
	ASSERT_EQ(0, open_memfd(name, MPKSHM_OPEN_CREATE, 2000, &a));
	pid = fork();
	if (pid == 0) {
		struct mpkshm_wire w;
		struct sockaddr_un addr;
		struct pollfd pfd;
		socklen_t len;
		int s, fds[2];

		if (become_other_user())
			_exit(1);
		s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		mpkshm_wire_address(&addr, &len, owner);
		if (connect(s, (struct sockaddr *)&addr, len))
			_exit(2);
		pfd = (struct pollfd){ .fd = s, .events = POLLIN };
		if (poll(&pfd, 1, 2000) != 1 || mpkshm_wire_recv(s, &w, fds))
			_exit(3);
		/* Told why, and given nothing: no directory. */
		_exit(w.type == MPKSHM_WIRE_REFUSED && w.error == EACCES &&
		      fds[0] < 0 ? 0 : 4);
	}
	EXPECT_EQ(0, lt_wait(pid));
	EXPECT_EQ(1, mpkshm_members(a, NULL, 0));
	mpkshm_close(a);
}

TEST(missing_broker_program_is_enopkg)
{
	struct mpkshm_channel *ch;
	char name[MPKLINK_NAME_MAX];

	lt_name(name, "nobroker");
	setenv("MPKSHM_BROKER", "/nonexistent/mpkshm-broker", 1);
	EXPECT_EQ(-ENOPKG, open_memfd(name, MPKSHM_OPEN_CREATE, 2000, &ch));
	/* Nothing is left holding the name. */
	EXPECT_EQ(-ENOENT, open_memfd(name, 0, 2000, &ch));
}

/* --- the channel lives while any member does ------------------------------ */

/* @from sends @text to everyone; @to receives it. */
static bool exchange(struct mpkshm_channel *from, struct mpkshm_channel *to,
		     const char *text)
{
	char buf[64];
	ssize_t n;

	if (mpkshm_send(from, MPKSHM_TO_ALL, text, strlen(text), 2000))
		return false;
	n = mpkshm_recv(to, buf, sizeof(buf), NULL, 2000);
	return n == (ssize_t)strlen(text) && !memcmp(buf, text, n);
}

TEST(creator_closing_leaves_the_others_working_and_joinable)
{
	struct mpkshm_channel *a, *b, *c, *d;
	char name[MPKLINK_NAME_MAX];

	lt_name(name, "creator");
	ASSERT_EQ(0, open_memfd(name, MPKSHM_OPEN_CREATE, 2000, &a));
	ASSERT_EQ(0, open_memfd(name, 0, 2000, &b));
	ASSERT_EQ(0, open_memfd(name, 0, 2000, &c));
	ASSERT_EQ(0, mpkshm_close(a));
	EXPECT_TRUE(exchange(b, c, "after the creator left"));
	ASSERT_EQ(0, open_memfd(name, 0, 2000, &d));
	EXPECT_TRUE(exchange(d, b, "a newcomer"));
	mpkshm_close(d);
	mpkshm_close(c);
	mpkshm_close(b);
}

TEST(creator_killed_leaves_the_others_working_and_joinable)
{
	struct mpkshm_channel *b, *c;
	char name[MPKLINK_NAME_MAX], x;
	long long deadline;
	int p[2];
	pid_t pid;

	lt_name(name, "killed");
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	if (pid == 0) {
		struct mpkshm_channel *a;

		if (open_memfd(name, MPKSHM_OPEN_CREATE, 2000, &a) ||
		    write(p[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(p[0], &x, 1));
	ASSERT_EQ(0, open_memfd(name, 0, 2000, &b));
	kill(pid, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, lt_wait(pid));
	ASSERT_EQ(0, open_memfd(name, 0, 2000, &c));
	EXPECT_TRUE(exchange(b, c, "after the creator died"));
	/* Its slot is freed: the broker saw it go. */
	deadline = lt_now_ns() + 2000000000LL;
	while (mpkshm_members(b, NULL, 0) != 2 && lt_now_ns() < deadline)
		usleep(1000);
	EXPECT_EQ(2, mpkshm_members(b, NULL, 0));
	mpkshm_close(c);
	mpkshm_close(b);
}

/*
 * The broker leaves the moment its user's last channel ends: an open that
 * arrives just then finds it gone from under its connection and must go
 * on to start (or join) the next one, never fail.
 */
TEST(opens_while_the_broker_leaves_all_succeed)
{
	long long until = lt_now_ns() + 8000000000LL;
	struct mpkshm_channel *a;
	char name[MPKLINK_NAME_MAX];
	int i, failed = 0, first_error = 0, err;

	if (geteuid() != 0)
		SKIP(return, "needs root for a network namespace of its own");
	ASSERT_EQ(0, own_names());
	lt_name(name, "churn");
	/* Each cycle starts a broker: in an emulated guest, 8 s is ~150. */
	for (i = 0; i < 1000 && lt_now_ns() < until; i++) {
		err = open_memfd(name, MPKSHM_OPEN_CREATE, 5000, &a);
		if (err) {
			failed++;
			first_error = first_error ? first_error : err;
			continue;
		}
		mpkshm_close(a);
	}
	EXPECT_EQ(0, failed) TH_LOG("first error %d in %d opens", first_error,
				    i);
}

TEST(channel_ends_when_its_last_member_leaves)
{
	struct mpkshm_channel *a;
	char name[MPKLINK_NAME_MAX];
	long long deadline;
	int err;

	lt_name(name, "last");
	ASSERT_EQ(0, open_memfd(name, MPKSHM_OPEN_CREATE, 2000, &a));
	mpkshm_close(a);
	deadline = lt_now_ns() + 2000000000LL;
	/* Its broker may not have gone yet: then we are its last member. */
	while ((err = open_memfd(name, 0, 2000, &a)) == 0 &&
	       lt_now_ns() < deadline)
		mpkshm_close(a);
	EXPECT_EQ(-ENOENT, err);
}

/* --- a member that stops calling into the library ---------------------- */

TEST(idle_member_holds_up_neither_joins_nor_departures)
{
	struct mpkshm_channel *a, *e;
	char name[MPKLINK_NAME_MAX], x;
	int ready[2], go[2], i;
	long long start, worst = 0;
	pid_t pid;

	lt_name(name, "idle");
	ASSERT_EQ(0, open_memfd(name, MPKSHM_OPEN_CREATE, 2000, &a));
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	if (pid == 0) {
		struct mpkshm_channel *idle;
		char buf[16];

		if (open_memfd(name, MPKSHM_OPEN_SINGLE_THREAD, 2000, &idle) ||
		    write(ready[1], "r", 1) != 1 || read(go[0], buf, 1) != 1)
			_exit(1);
		/* Back after everyone came and went: still a member. */
		_exit(mpkshm_recv(idle, buf, sizeof(buf), NULL, 5000) == 5 ?
		      0 : 2);
	}
	ASSERT_EQ(1, read(ready[0], &x, 1));
	/* Far more than its socket's buffer holds: each tells it of one. */
	for (i = 0; i < 400; i++) {
		start = lt_now_ns();
		ASSERT_EQ(0, open_memfd(name, 0, 3000, &e)) TH_LOG("join %d", i);
		if (lt_now_ns() - start > worst)
			worst = lt_now_ns() - start;
		mpkshm_close(e);
	}
	TH_LOG("400 joins past an idle member: the slowest took %lld us",
	       worst / 1000);
	EXPECT_GT(1000000000LL, worst);
	/* Departures were seen: a, the idle one, and nobody else. */
	start = lt_now_ns();
	while (mpkshm_members(a, NULL, 0) != 2 &&
	       lt_now_ns() - start < 2000000000LL)
		usleep(1000);
	EXPECT_EQ(2, mpkshm_members(a, NULL, 0));
	ASSERT_EQ(1, write(go[1], "g", 1));
	usleep(100000);
	EXPECT_EQ(0, mpkshm_send(a, MPKSHM_TO_ALL, "hello", 5, 2000));
	EXPECT_EQ(0, lt_wait(pid));
	mpkshm_close(a);
}

/* --- a broker that says nothing, or garbage ------------------------------- */

struct fake_broker {
	char name[MPKLINK_NAME_MAX];
	int listening;
	int nfds;		/* descriptors sent with the welcome */
	size_t bytes;		/* its size; 0: send nothing */
	pthread_t thread;
};

static void *fake_broker_main(void *arg)
{
	struct fake_broker *fb = arg;
	struct mpkshm_wire w = {
		.type = MPKSHM_WIRE_WELCOME, .version = MPKSHM_WIRE_VERSION,
		.segment_size = LT_SEGMENT, .max_members = 4,
	};
	char control[CMSG_SPACE(8 * sizeof(int))] = { 0 };
	struct iovec iov = { &w, fb->bytes };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	int c, fds[8], i;

	c = accept(fb->listening, NULL, NULL);
	if (c < 0)
		return NULL;
	if (fb->bytes) {
		for (i = 0; i < fb->nfds; i++)
			fds[i] = memfd_create("junk", MFD_CLOEXEC);
		if (fb->nfds) {
			mh.msg_control = control;
			mh.msg_controllen = CMSG_SPACE(fb->nfds * sizeof(int));
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(fb->nfds * sizeof(int));
			memcpy(CMSG_DATA(cm), fds, fb->nfds * sizeof(int));
		}
		sendmsg(c, &mh, MSG_NOSIGNAL);
		for (i = 0; i < fb->nfds; i++)
			close(fds[i]);
	}
	/* Hold the connection open until the member gives up. */
	read(c, fds, sizeof(fds));
	close(c);
	return NULL;
}

static int fake_broker_start(struct fake_broker *fb, const char *tag,
			     size_t bytes, int nfds)
{
	if (own_names())
		return -1;
	lt_name(fb->name, tag);
	fb->bytes = bytes;
	fb->nfds = nfds;
	fb->listening = bind_name(geteuid(), true);
	if (fb->listening < 0)
		return -1;
	return pthread_create(&fb->thread, NULL, fake_broker_main, fb);
}

static void fake_broker_stop(struct fake_broker *fb)
{
	shutdown(fb->listening, SHUT_RDWR);
	pthread_join(fb->thread, NULL);
	close(fb->listening);
}

TEST(open_gives_up_on_a_broker_that_says_nothing)
{
	struct mpkshm_channel *ch;
	struct fake_broker fb;
	long long start, took;

	if (geteuid() != 0)
		SKIP(return, "needs root for a network namespace of its own");
	ASSERT_EQ(0, fake_broker_start(&fb, "silent", 0, 0));
	start = lt_now_ns();
	EXPECT_EQ(-ETIMEDOUT, open_memfd(fb.name, 0, 300, &ch));
	took = lt_now_ns() - start;
	EXPECT_LE(250000000LL, took);
	EXPECT_GT(2000000000LL, took);
	fake_broker_stop(&fb);
}

/* A broker on its way out: it closes with the member in its backlog. */
static void *leaving_broker_main(void *arg)
{
	struct pollfd pfd = { .fd = *(int *)arg, .events = POLLIN };

	poll(&pfd, 1, 5000);
	close(pfd.fd);
	return NULL;
}

TEST(broker_leaving_with_the_member_in_its_backlog_is_replaced)
{
	struct mpkshm_channel *ch;
	char name[MPKLINK_NAME_MAX];
	pthread_t thread;
	int listening, err;

	if (geteuid() != 0)
		SKIP(return, "needs root for a network namespace of its own");
	ASSERT_EQ(0, own_names());
	lt_name(name, "leaving");
	listening = bind_name(geteuid(), true);
	ASSERT_LE(0, listening);
	ASSERT_EQ(0, pthread_create(&thread, NULL, leaving_broker_main,
				    &listening));
	err = open_memfd(name, MPKSHM_OPEN_CREATE, 5000, &ch);
	EXPECT_EQ(0, err);
	pthread_join(thread, NULL);
	if (!err)
		mpkshm_close(ch);
}

TEST(short_message_from_the_broker_is_eproto_and_leaks_no_descriptor)
{
	struct mpkshm_channel *ch;
	struct fake_broker fb;
	int before;

	if (geteuid() != 0)
		SKIP(return, "needs root for a network namespace of its own");
	before = count_fds();
	ASSERT_EQ(0, fake_broker_start(&fb, "short", 3, 2));
	EXPECT_EQ(-EPROTO, open_memfd(fb.name, 0, 2000, &ch));
	fake_broker_stop(&fb);
	EXPECT_EQ(before, count_fds());
}

TEST(welcome_with_too_many_descriptors_is_eproto_and_leaks_none)
{
	struct mpkshm_channel *ch;
	struct fake_broker fb;
	int before;

	if (geteuid() != 0)
		SKIP(return, "needs root for a network namespace of its own");
	before = count_fds();
	ASSERT_EQ(0, fake_broker_start(&fb, "fds", sizeof(struct mpkshm_wire),
				       5));
	EXPECT_EQ(-EPROTO, open_memfd(fb.name, 0, 2000, &ch));
	fake_broker_stop(&fb);
	EXPECT_EQ(before, count_fds());
}

/* --- a writer joining while a reader sleeps ------------------------------- */

struct sleeper {
	struct mpkshm_channel *ch;
	ssize_t got;
	long long at;
};

static void *sleep_in_recv(void *arg)
{
	struct sleeper *s = arg;
	char buf[16];

	s->got = mpkshm_recv(s->ch, buf, sizeof(buf), NULL, 3000);
	s->at = lt_now_ns();
	return NULL;
}

/*
 * The newcomer writes before the broker has told it of the sleeping
 * reader (it cannot see the reader's waiting flag, nor ring it): the
 * reader must not sleep through the message.
 */
TEST(reader_asleep_when_a_writer_joins_gets_its_first_message)
{
	char name[MPKLINK_NAME_MAX];
	long long sent, worst = 0;
	struct mpkshm_options o;
	struct mpkshm_channel *w;
	struct sleeper s;
	pthread_t t;
	int round;

	for (round = 0; round < 50; round++) {
		lt_name(name, "joinwake");
		mpkshm_options_init(&o);
		o.backend = MPKSHM_BACKEND_MEMFD;
		o.flags = MPKSHM_OPEN_CREATE;
		o.segment_size = LT_SEGMENT;
		o.spin_us = 0;		/* asleep at once */
		s = (struct sleeper){ .got = 0 };
		ASSERT_EQ(0, mpkshm_open(name, &o, &s.ch));
		ASSERT_EQ(0, pthread_create(&t, NULL, sleep_in_recv, &s));
		usleep(2000);
		ASSERT_EQ(0, open_memfd(name, 0, 2000, &w));
		sent = lt_now_ns();
		ASSERT_EQ(0, mpkshm_send(w, MPKSHM_TO_ALL, "first", 5, 2000));
		pthread_join(t, NULL);
		ASSERT_EQ(5, s.got) TH_LOG("round %d", round);
		if (s.at - sent > worst)
			worst = s.at - sent;
		mpkshm_close(w);
		mpkshm_close(s.ch);
	}
	TH_LOG("the slowest of 50 first messages arrived after %lld us",
	       worst / 1000);
	EXPECT_GT(500000000LL, worst);
}

TEST_HARNESS_MAIN
