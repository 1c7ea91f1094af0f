// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Robustness: a peer that writes garbage into its own ring cannot make the
 * library read or write outside it (EBADMSG); a peer that dies makes calls
 * fail within 100 ms; a revocation makes every call fail with EKEYREVOKED
 * without the library ever faulting, even mid-window; signals never cut a
 * wait short; a stray pointer still dies, through whatever fault handler
 * the application had.
 */
#include <pthread.h>
#include <sys/time.h>

#include "kselftest_harness.h"
#include "lib_test.h"
#include "pkey_fault.h"
#include "../src/internal.h"

LT_FIXTURE(rob)

/* The ring of writer @ch, found from a reservation at its start. */
static struct mpkshm_ring *ring_of(struct mpkshm_channel *ch)
{
	void *buf;

	if (mpkshm_reserve(ch, 8, &buf, 1000))
		return NULL;
	mpkshm_abandon(ch);
	return (struct mpkshm_ring *)((char *)buf - MPKSHM_REC_HDR -
				      sizeof(struct mpkshm_ring));
}

/* Runs @fn with the writer's key open, as a misbehaving writer would. */
#define AS_BAD_WRITER(ch, stmt) do {					\
		struct mpkshm_info _i;					\
		mpkshm_info(ch, &_i);					\
		if (_i.pkey >= 0)					\
			pkey_set(_i.pkey, 0);				\
		stmt;							\
		if (_i.pkey >= 0)					\
			pkey_set(_i.pkey, PKEY_DISABLE_ACCESS);		\
	} while (0)

TEST_F(rob, head_beyond_the_ring_is_ebadmsg_and_the_writer_is_skipped)
{
	struct mpkshm_ring *ring = ring_of(self->a);
	struct mpkshm_channel *c;
	char buf[16];

	ASSERT_NE(NULL, ring);
	AS_BAD_WRITER(self->a, ring->head = 1ull << 40);
	EXPECT_EQ(-EBADMSG, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 100));
	EXPECT_EQ(-ETIMEDOUT, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 10));
	/* Other writers are still heard. */
	ASSERT_EQ(0, lt_open(variant->backend, self->name, 0, &c));
	ASSERT_EQ(0, mpkshm_send(c, MPKSHM_TO_ALL, "ok", 2, 1000));
	EXPECT_EQ(2, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
	mpkshm_close(c);
}

TEST_F(rob, huge_record_length_is_ebadmsg)
{
	struct mpkshm_ring *ring = ring_of(self->a);
	struct mpkshm_rec *rec = (struct mpkshm_rec *)(ring + 1);
	char buf[16];

	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 1000));
	AS_BAD_WRITER(self->a, rec->len = 0xffffffff);
	EXPECT_EQ(-EBADMSG, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 100));
}

/*
 * EBADMSG is said once (the writer is skipped from then on): met after the
 * first message of a batch it must still reach the caller, from the next
 * receive, and the fd must say there is something to receive.
 */
TEST_F(rob, ebadmsg_after_the_first_message_of_a_batch_is_said_next)
{
	struct mpkshm_ring *ring = ring_of(self->a);
	struct mpkshm_rec *second = (struct mpkshm_rec *)((uint8_t *)(ring + 1) +
		mpkshm_rec_size(4, false));
	char bufs[2][16], buf[16];
	struct mpkshm_recv_buf r[2] = {
		{ .buf = bufs[0], .cap = sizeof(bufs[0]) },
		{ .buf = bufs[1], .cap = sizeof(bufs[1]) },
	};

	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "good", 4, 1000));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 1000));
	AS_BAD_WRITER(self->a, second->len = 0xffffffff);
	ASSERT_EQ(1, mpkshm_recv_many(self->b, r, 2, 1000));
	EXPECT_EQ(0, memcmp(bufs[0], "good", 4));
	EXPECT_EQ(1, mpkshm_wait_prepare(self->b)) TH_LOG("the held error is news");
	EXPECT_EQ(-EBADMSG, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 100));
	EXPECT_EQ(-ETIMEDOUT, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 10));
}

/* As above, for a peek after the batch. */
TEST_F(rob, ebadmsg_held_by_a_batch_is_said_by_a_peek_too)
{
	struct mpkshm_ring *ring = ring_of(self->a);
	struct mpkshm_rec *second = (struct mpkshm_rec *)((uint8_t *)(ring + 1) +
		mpkshm_rec_size(4, false));
	char bufs[2][16];
	struct mpkshm_recv_buf r[2] = {
		{ .buf = bufs[0], .cap = sizeof(bufs[0]) },
		{ .buf = bufs[1], .cap = sizeof(bufs[1]) },
	};
	struct mpkshm_msg m;

	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "good", 4, 1000));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 1000));
	AS_BAD_WRITER(self->a, second->len = 0xffffffff);
	ASSERT_EQ(1, mpkshm_recv_many(self->b, r, 2, 1000));
	EXPECT_EQ(-EBADMSG, mpkshm_peek(self->b, &m, 100));
	EXPECT_EQ(-ETIMEDOUT, mpkshm_peek(self->b, &m, 10));
}

TEST_F(rob, unknown_record_kind_is_ebadmsg)
{
	struct mpkshm_ring *ring = ring_of(self->a);
	struct mpkshm_rec *rec = (struct mpkshm_rec *)(ring + 1);
	struct mpkshm_msg m;

	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 1000));
	AS_BAD_WRITER(self->a, rec->kind = 77);
	EXPECT_EQ(-EBADMSG, mpkshm_peek(self->b, &m, 100));
}

/*
 * A first fragment announcing 32 bytes, then its "last" fragment (same
 * sequence number) announcing 64.  (A first fragment followed by another
 * message's first fragment is not a lie: it is what a send that timed out
 * part way leaves, and the reader skips it; see messages_test.)
 */
TEST_F(rob, fragment_that_lies_about_its_message_is_ebadmsg)
{
	struct mpkshm_ring *ring = ring_of(self->a);
	struct mpkshm_rec *first = (struct mpkshm_rec *)(ring + 1);
	struct mpkshm_rec *last = (struct mpkshm_rec *)((uint8_t *)first +
		mpkshm_rec_size(4, false));
	char buf[64];

	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "aaaa", 4, 1000));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "bbbb", 4, 1000));
	AS_BAD_WRITER(self->a, ({
		first->flags = MPKSHM_REC_FIRST;
		first->total = 32;
		last->flags = MPKSHM_REC_LAST;
		last->seq = first->seq;
		last->total = 64;
	}));
	EXPECT_EQ(-EBADMSG, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 100));
}

TEST_F(rob, random_garbage_in_a_ring_never_crashes_the_reader)
{
	unsigned int seed = 1, round;
	char buf[256];

	for (round = 0; round < 200; round++) {
		struct mpkshm_options o;
		struct mpkshm_channel *w;
		struct mpkshm_ring *ring;
		uint32_t *words;
		ssize_t n;
		int i;

		/* No reader takes garbage: closing need not wait for one. */
		lt_options(&o, variant->backend, 0);
		o.close_timeout_ms = 0;
		ASSERT_EQ(0, mpkshm_open(self->name, &o, &w));
		ring = ring_of(w);
		ASSERT_NE(NULL, ring);
		ASSERT_EQ(0, mpkshm_send(w, MPKSHM_TO_ALL, "seed", 4, 1000));
		words = (uint32_t *)ring;
		AS_BAD_WRITER(w, ({
			for (i = 0; i < 64; i++)
				words[rand_r(&seed) % 64] = rand_r(&seed);
		}));
		n = mpkshm_recv(self->b, buf, sizeof(buf), NULL, 0);
		EXPECT_TRUE(n == 4 || n == -EBADMSG || n == -ETIMEDOUT ||
			    n == -EMSGSIZE) TH_LOG("round %u: %zd", round, n);
		mpkshm_close(w);
	}
}

static int slow_handler(void *arg, struct mpkshm_request *req)
{
	(void)arg;
	(void)req;
	sleep(60);
	return 0;
}

struct killer {
	pid_t pid;
	long long killed_at;
};

static void *kill_after_200ms(void *arg)
{
	struct killer *k = arg;

	usleep(200000);
	k->killed_at = lt_now_ns();
	kill(k->pid, SIGKILL);
	return NULL;
}

TEST_F(rob, call_to_a_peer_that_dies_fails_within_100ms)
{
	struct mpkshm_channel *server;
	struct killer k;
	long long failed;
	int err, p[2];
	uint64_t id;
	pthread_t t;
	size_t len;
	char resp[8];

	if (variant->backend == MPKSHM_BACKEND_THREAD)
		SKIP(return, "threads of one process do not die alone");
	ASSERT_EQ(0, pipe(p));
	k.pid = fork();
	if (k.pid == 0) {
		if (lt_open(variant->backend, self->name, 0, &server))
			_exit(1);
		id = lt_id(server);
		if (write(p[1], &id, sizeof(id)) != sizeof(id))
			_exit(2);
		mpkshm_serve(server, slow_handler, NULL);
		_exit(0);
	}
	ASSERT_EQ(sizeof(id), read(p[0], &id, sizeof(id)));
	ASSERT_EQ(0, pthread_create(&t, NULL, kill_after_200ms, &k));
	err = mpkshm_call(self->a, id, "q", 1, resp, sizeof(resp), &len, 10000);
	failed = lt_now_ns();
	pthread_join(t, NULL);
	lt_wait(k.pid);
	EXPECT_EQ(-ECONNRESET, err);
	TH_LOG("the call failed %lld us after the server was killed",
	       (failed - k.killed_at) / 1000);
	EXPECT_GT(100000000LL, failed - k.killed_at);
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST_F(rob, signals_do_not_cut_a_wait_short)
{
	struct itimerval every_ms = {
		.it_interval = { 0, 1000 }, .it_value = { 0, 1000 },
	};
	struct itimerval off = { 0 };
	struct sigaction sa = { .sa_handler = on_alarm };
	long long start = lt_now_ns();
	char buf[8];

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &every_ms, NULL);
	EXPECT_EQ(-ETIMEDOUT, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 200));
	setitimer(ITIMER_REAL, &off, NULL);
	EXPECT_LE(200000000LL, lt_now_ns() - start);
}

/* --- revocation: kernel backend only ------------------------------------- */

static int revoke_uid0(const char *name)
{
	struct mpklink_grant g = {
		.size = sizeof(g),
		.principal = { .match = MPKLINK_MATCH_UID, .uid = 0 },
	};
	int dev = open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC), err = 0;

	strcpy(g.name, name);
	if (ioctl(dev, MPKLINK_IOC_REVOKE, &g))
		err = -errno;
	close(dev);
	return err;
}

struct revoker {
	const char *name;
	long long at;
};

static void *revoke_after_100ms(void *arg)
{
	struct revoker *r = arg;

	usleep(100000);
	r->at = lt_now_ns();
	revoke_uid0(r->name);
	return NULL;
}

TEST_F(rob, blocked_receive_returns_ekeyrevoked_when_revoked)
{
	struct revoker r = { self->name, 0 };
	long long returned;
	pthread_t t;
	char buf[8];

	if (variant->backend != MPKSHM_BACKEND_KERNEL)
		SKIP(return, "revocation is the kernel's");
	ASSERT_EQ(0, pthread_create(&t, NULL, revoke_after_100ms, &r));
	EXPECT_EQ(-EKEYREVOKED, mpkshm_recv(self->b, buf, sizeof(buf), NULL,
					    5000));
	returned = lt_now_ns();
	pthread_join(t, NULL);
	EXPECT_GT(100000000LL, returned - r.at);
	EXPECT_EQ(-EKEYREVOKED, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 0));
	EXPECT_EQ(-EKEYREVOKED, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 0));
}

TEST_F(rob, revocation_inside_a_window_is_survived_and_reported)
{
	struct mpkshm_msg m;
	volatile char c;

	if (variant->backend != MPKSHM_BACKEND_KERNEL)
		SKIP(return, "revocation is the kernel's");
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "data", 4, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	ASSERT_EQ(0, revoke_uid0(self->name));
	/* The page is gone: the library puts a harmless one in its place. */
	c = ((const volatile char *)m.data)[0];
	(void)c;
	EXPECT_EQ(-EKEYREVOKED, mpkshm_release(self->b, &m));
	EXPECT_EQ(-EKEYREVOKED, mpkshm_peek(self->b, &m, 0));
}

static volatile sig_atomic_t seen_code;

static void application_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	_exit(si->si_code == SEGV_PKUERR ? 42 : 43);
}

TEST_F(rob, stray_access_reaches_the_applications_own_fault_handler)
{
	struct sigaction sa = { .sa_sigaction = application_handler,
				.sa_flags = SA_SIGINFO };
	struct mpkshm_channel *w, *r;
	struct mpkshm_msg m;
	pid_t pid;

	if (!mpkshm_pku_supported())
		SKIP(return, "no protection keys on this CPU");
	pid = fork();
	if (pid == 0) {
		/* The application's handler first, then the library's. */
		sigaction(SIGSEGV, &sa, NULL);
		if (lt_open(variant->backend, self->name, 0, &w) ||
		    lt_open(variant->backend, self->name, 0, &r) ||
		    mpkshm_send(w, MPKSHM_TO_ALL, "x", 1, 1000) ||
		    mpkshm_peek(r, &m, 1000) || mpkshm_release(r, &m))
			_exit(1);
		seen_code = ((const volatile char *)m.data)[0];
		_exit(2);	/* the stray read must not succeed */
	}
	EXPECT_EQ(42, lt_wait(pid));
}

/* --- lengths and windows ------------------------------------------------- */

TEST_F(rob, reservation_whose_size_would_wrap_is_emsgsize)
{
	struct mpkshm_info info;
	void *buf;

	ASSERT_EQ(0, mpkshm_info(self->a, &info));
	EXPECT_EQ(-EMSGSIZE, mpkshm_reserve(self->a, SIZE_MAX - 47, &buf, 0));
	EXPECT_EQ(-EMSGSIZE, mpkshm_reserve(self->a, SIZE_MAX, &buf, 0));
	EXPECT_EQ(-EMSGSIZE, mpkshm_reserve(self->a, info.max_message + 1,
					    &buf, 0));
	/* The largest that fits still does, and a commit cannot grow it. */
	ASSERT_EQ(0, mpkshm_reserve(self->a, 16, &buf, 1000));
	EXPECT_EQ(-EMSGSIZE, mpkshm_commit(self->a, SIZE_MAX, MPKSHM_TO_ALL));
	EXPECT_EQ(-EMSGSIZE, mpkshm_commit(self->a, 17, MPKSHM_TO_ALL));
	EXPECT_EQ(0, mpkshm_commit(self->a, 16, MPKSHM_TO_ALL));
}

struct other_thread {
	struct mpkshm_channel *a, *b;
	struct mpkshm_msg *m;
	int commit, abandon, release, send;
};

static void *end_windows_from_another_thread(void *arg)
{
	struct other_thread *o = arg;

	if (o->m) {
		o->release = mpkshm_release(o->b, o->m);
	} else {
		o->commit = mpkshm_commit(o->a, 1, MPKSHM_TO_ALL);
		o->abandon = mpkshm_abandon(o->a);
	}
	return NULL;
}

static void *send_from_another_thread(void *arg)
{
	struct other_thread *o = arg;

	o->send = mpkshm_send(o->a, MPKSHM_TO_ALL, "2", 1, 2000);
	return NULL;
}

TEST_F(rob, window_ended_from_another_thread_is_eperm_and_harms_nothing)
{
	struct other_thread o = { .a = self->a, .b = self->b };
	struct mpkshm_msg m;
	pthread_t t;
	char buf[8];
	void *p;

	ASSERT_EQ(0, mpkshm_reserve(self->a, 8, &p, 1000));
	*(char *)p = '1';
	ASSERT_EQ(0, pthread_create(&t, NULL, end_windows_from_another_thread, &o));
	pthread_join(t, NULL);
	EXPECT_EQ(-EPERM, o.commit);
	EXPECT_EQ(-EPERM, o.abandon);
	/* Still ours, whole: it commits, and the send side is free again. */
	ASSERT_EQ(0, mpkshm_commit(self->a, 1, MPKSHM_TO_ALL));
	ASSERT_EQ(0, pthread_create(&t, NULL, send_from_another_thread, &o));
	pthread_join(t, NULL);
	EXPECT_EQ(0, o.send);

	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	o.m = &m;
	ASSERT_EQ(0, pthread_create(&t, NULL, end_windows_from_another_thread, &o));
	pthread_join(t, NULL);
	EXPECT_EQ(-EPERM, o.release);
	EXPECT_EQ('1', *(const char *)m.data);
	EXPECT_EQ(0, mpkshm_release(self->b, &m));
	EXPECT_EQ(1, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
	EXPECT_EQ('2', buf[0]);
}

/*
 * The library's fault handler is there for faults; a SIGSEGV sent with
 * kill() is a request to die, and must not be swallowed.
 */
TEST_F(rob, sigsegv_sent_by_kill_still_kills)
{
	struct mpkshm_channel *ch;
	pid_t pid;

	if (variant->backend != MPKSHM_BACKEND_KERNEL)
		SKIP(return, "the fault handler comes with kernel channels");
	pid = fork();
	if (pid == 0) {
		if (lt_open(variant->backend, self->name, 0, &ch))
			_exit(1);
		kill(getpid(), SIGSEGV);
		usleep(100000);
		_exit(2);	/* survived it */
	}
	EXPECT_EQ(128 + SIGSEGV, lt_wait(pid));
}

TEST_HARNESS_MAIN
