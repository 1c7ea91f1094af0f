// SPDX-License-Identifier: GPL-2.0
/*
 * Live revocation: revoking a grant (or destroying the channel) takes
 * effect on members that are running.  Their mappings are torn down within
 * 10 ms and never served a page again, their key is closed, their fd
 * reports the revocation, and the other members keep working without
 * losing a message.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"
#include "pkey_fault.h"

#define TEN_MS_NS	10000000LL

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Shared between the test and its children (MAP_SHARED anonymous). */
struct shared {
	atomic_int ready;
	atomic_llong revoked_at;	/* when the revoke ioctl started */
	atomic_llong faulted_at;
	atomic_llong closed_at;		/* when a watching thread saw its
					 * PKRU close the key */
	int fault_signo, fault_code, refault_signo;
	int poll_revents;
	long long poll_woke_at;
	int read_type, read_flags, read_eof, ioctl_errno, mmap_errno;
	atomic_int reader_done;		/* the ring reader was reaped */
	/* What a ring reader saw when a message was wrong. */
	struct {
		unsigned long long seq, head, cap, word, again;
		int index;
	} bad;
};

static struct shared *shared_new(void)
{
	void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

FIXTURE(revoke)
{
	int dev;
	char chan[MPKLINK_NAME_MAX];
	struct shared *sh;
};

FIXTURE_SETUP(revoke)
{
	struct sched_param rt = { .sched_priority = 1 };

	/*
	 * The victims spin on every CPU: the revoker must not wait for a
	 * time slice, or the 10 ms bounds measure the scheduler, not
	 * mpklink.  Its children go back to the normal policy.
	 */
	sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &rt);
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->chan, "revoke");
	ASSERT_EQ(0, mpk_create(self->dev, self->chan));
	/* The fixture's own writer: the segment the victims read. */
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	self->sh = shared_new();
	ASSERT_NE(NULL, self->sh);
}

FIXTURE_TEARDOWN(revoke)
{
	mpk_destroy(self->dev, self->chan);
	close(self->dev);
}

struct watcher {
	struct shared *sh;
	int pkey;
	atomic_int started;
};

/*
 * Spins with the key open, touching nothing, until the kernel closes the
 * key in its PKRU.  (The reading thread cannot tell: restoring PKRU after
 * catching its fault would undo the kernel's change.)
 */
static void *watch_pkru(void *arg)
{
	struct watcher *w = arg;

	pkey_fault_wrpkru(0);
	atomic_store(&w->started, 1);
	while (pkey_fault_pkru_bits(w->pkey) != 3)
		;
	atomic_store(&w->sh->closed_at, now_ns());
	return NULL;
}

/*
 * A member (uid 1000) whose main thread spins reading the channel until it
 * faults, while a second thread watches its PKRU.
 */
static int spinning_reader(void *arg)
{
	struct shared *sh = ((void **)arg)[0];
	const char *chan = ((void **)arg)[1];
	struct watcher w = { .sh = sh };
	struct mpklink_attach a;
	struct pkey_fault f;
	volatile char *all;
	pthread_t t;
	int fd;

	if (pkey_fault_catch_install())
		return 99;
	fd = mpk_attach_fresh(chan, &a);
	if (fd < 0)
		return 1;
	all = mpk_map_all(fd, &a);
	if (all == MAP_FAILED)
		return 2;
	w.pkey = a.pkey;
	if (pthread_create(&t, NULL, watch_pkru, &w))
		return 4;
	while (!atomic_load(&w.started))
		;
	pkey_set(a.pkey, 0);
	atomic_store(&sh->ready, 1);
	while (!pkey_fault_read_byte(all + MPKLINK_DIR_SIZE, &f))
		;
	atomic_store(&sh->faulted_at, now_ns());
	sh->fault_signo = f.signo;
	sh->fault_code = f.code;
	/* Even with every key open again, no page is served. */
	pkey_fault_wrpkru(0);
	if (!pkey_fault_read_byte(all + MPKLINK_DIR_SIZE, &f))
		return 3;
	sh->refault_signo = f.signo;
	pthread_join(t, NULL);
	return 0;
}

/* Runs @fn as uid 1000 in the background; returns its pid. */
static pid_t start_as_user(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (setresgid(MPK_TEST_GID, MPK_TEST_GID, MPK_TEST_GID) ||
		    setresuid(MPK_TEST_UID, MPK_TEST_UID, MPK_TEST_UID) ||
		    prctl(PR_SET_DUMPABLE, 1))
			_exit(125);
		_exit(fn(arg));
	}
	return pid;
}

static void wait_ready(struct shared *sh)
{
	while (!atomic_load(&sh->ready))
		usleep(1000);
	usleep(20000);
}

/* Grants uid 1000 the read right and starts @fn as a member; its pid. */
static pid_t start_victim(int dev, const char *chan, struct shared *sh,
			  int (*fn)(void *), void **arg)
{
	pid_t pid;

	if (mpk_grant(dev, chan, mpk_by_uid(MPK_TEST_UID), MPKLINK_RIGHT_READ))
		return -1;
	arg[0] = sh;
	arg[1] = (void *)chan;
	pid = start_as_user(fn, arg);
	if (pid > 0)
		wait_ready(sh);
	return pid;
}

TEST_F(revoke, spinning_reader_faults_within_10ms_and_never_sees_a_page_again)
{
	long long took, closed;
	void *arg[2];
	pid_t pid;

	pid = start_victim(self->dev, self->chan, self->sh, spinning_reader, arg);
	ASSERT_LT(0, pid);
	atomic_store(&self->sh->revoked_at, now_ns());
	ASSERT_EQ(0, mpk_revoke(self->dev, self->chan,
				mpk_by_uid(MPK_TEST_UID)));
	ASSERT_EQ(0, mpk_wait(pid));
	took = self->sh->faulted_at - self->sh->revoked_at;
	closed = self->sh->closed_at - self->sh->revoked_at;
	TH_LOG("the reader faulted %lld us, the other thread's key closed %lld us after the revoke started",
	       took / 1000, closed / 1000);
	EXPECT_GT(TEN_MS_NS, took);
	EXPECT_GT(TEN_MS_NS, closed);
	/* Torn down (SIGBUS) or closed (SEGV_PKUERR), whichever came first. */
	EXPECT_TRUE(self->sh->fault_signo == SIGBUS ||
		    (self->sh->fault_signo == SIGSEGV &&
		     self->sh->fault_code == SEGV_PKUERR));
	/* With the key reopened, there is no page behind it. */
	EXPECT_EQ(SIGBUS, self->sh->refault_signo);
}

/* A member that sleeps in poll() and then checks what its fd reports. */
static int polling_member(void *arg)
{
	struct shared *sh = ((void **)arg)[0];
	const char *chan = ((void **)arg)[1];
	struct mpklink_attach a, info = { .size = sizeof(info) };
	struct mpklink_event ev;
	struct pollfd pfd;
	int fd;

	fd = mpk_attach_fresh(chan, &a);
	if (fd < 0)
		return 1;
	pfd.fd = fd;
	pfd.events = POLLIN;
	atomic_store(&sh->ready, 1);
	if (poll(&pfd, 1, 10000) != 1)
		return 2;
	sh->poll_woke_at = now_ns();
	sh->poll_revents = pfd.revents;
	if (read(fd, &ev, sizeof(ev)) != sizeof(ev))
		return 3;
	sh->read_type = ev.type;
	sh->read_flags = ev.flags;
	sh->read_eof = read(fd, &ev, sizeof(ev)) == 0;
	sh->ioctl_errno = ioctl(fd, MPKLINK_CHAN_IOC_INFO, &info) ? errno : 0;
	sh->mmap_errno = mpk_map(fd, 0, MPK_PAGE, PROT_READ) == MAP_FAILED ?
			 errno : 0;
	return 0;
}

TEST_F(revoke, member_sleeping_in_poll_wakes_with_pollerr_and_pollhup)
{
	void *arg[2];
	pid_t pid;

	pid = start_victim(self->dev, self->chan, self->sh, polling_member, arg);
	ASSERT_LT(0, pid);
	self->sh->revoked_at = now_ns();
	ASSERT_EQ(0, mpk_revoke(self->dev, self->chan,
				mpk_by_uid(MPK_TEST_UID)));
	ASSERT_EQ(0, mpk_wait(pid));
	EXPECT_EQ(POLLERR | POLLHUP,
		  self->sh->poll_revents & (POLLERR | POLLHUP));
	EXPECT_GT(TEN_MS_NS, self->sh->poll_woke_at - self->sh->revoked_at);
	EXPECT_EQ(MPKLINK_EVENT_REVOKED, self->sh->read_type);
	EXPECT_EQ(MPKLINK_EVENT_SELF, self->sh->read_flags);
	EXPECT_EQ(1, self->sh->read_eof);
	EXPECT_EQ(EKEYREVOKED, self->sh->ioctl_errno);
	EXPECT_EQ(EKEYREVOKED, self->sh->mmap_errno);
}

TEST_F(revoke, destroying_the_channel_revokes_its_members)
{
	void *arg[2];
	pid_t pid;

	pid = start_victim(self->dev, self->chan, self->sh, polling_member, arg);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, mpk_destroy(self->dev, self->chan));
	ASSERT_EQ(0, mpk_wait(pid));
	EXPECT_EQ(POLLERR | POLLHUP,
		  self->sh->poll_revents & (POLLERR | POLLHUP));
	EXPECT_EQ(EKEYREVOKED, self->sh->ioctl_errno);
}

TEST_F(revoke, fewer_rights_revoke_more_rights_do_not)
{
	struct mpklink_attach a, info = { .size = sizeof(info) };
	int fd;

	fd = mpk_attach(self->dev, self->chan, &a);
	ASSERT_LE(0, fd);
	/* rw -> rw plus another grant: nothing lost. */
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_gid(0),
			       MPKLINK_RIGHT_READ));
	EXPECT_EQ(0, ioctl(fd, MPKLINK_CHAN_IOC_INFO, &info));
	/* rw -> r: the write right is lost. */
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	EXPECT_EQ(-1, ioctl(fd, MPKLINK_CHAN_IOC_INFO, &info));
	EXPECT_EQ(EKEYREVOKED, errno);
	close(fd);
}

TEST_F(revoke, revoked_members_pages_go_only_with_its_last_mapping)
{
	struct mpklink_attach a;
	long before;
	void *own;
	int fd;

	before = mpk_stat("pages");
	fd = mpk_attach(self->dev, self->chan, &a);
	ASSERT_LE(0, fd);
	own = mpk_map_own(fd, &a);
	ASSERT_NE(MAP_FAILED, own);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, mpk_revoke(self->dev, self->chan, mpk_by_uid(0)));
	EXPECT_EQ(before + 1 + (long)(MPK_SEGMENT / MPK_PAGE),
		  mpk_stat("pages"));
	ASSERT_EQ(0, munmap(own, a.slot_size));
	EXPECT_EQ(before, mpk_stat("pages"));
}

struct stale_thread {
	int key;
	int pipe;		/* read end: wait for the go */
	volatile char *fresh;	/* memory tagged with the key number later */
	unsigned int pkru_bits;
	int faulted;
	struct pkey_fault fault;
};

static void *open_key_then_wait(void *arg)
{
	struct stale_thread *st = arg;
	char c;

	pkey_set(st->key, 0);
	if (read(st->pipe, &c, 1) != 1)
		return NULL;
	st->pkru_bits = pkey_fault_pkru_bits(st->key);
	st->faulted = pkey_fault_read_byte(st->fresh, &st->fault);
	return NULL;
}

/*
 * A thread had the channel's key open; the membership ends (revoked, or
 * detached by closing the fd).  mpklink keeps the key: the process's own
 * pkey_alloc() gets another number, and the next attach reuses it for new
 * channel memory.  The thread must not reach that memory.
 */
static void stale_key_after(struct __test_metadata *_metadata,
			    FIXTURE_DATA(revoke) *self, int detach)
{
	struct stale_thread st = { 0 };
	struct mpklink_attach a, b;
	int p[2], key2, fd, fd2;
	pthread_t t;

	ASSERT_EQ(0, pkey_fault_catch_install());
	fd = mpk_attach(self->dev, self->chan, &a);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe(p));
	st.key = a.pkey;
	st.pipe = p[0];
	ASSERT_EQ(0, pthread_create(&t, NULL, open_key_then_wait, &st));
	usleep(50000);
	/* The key is closed everywhere, and kept. */
	if (detach) {
		ASSERT_EQ(0, close(fd));
	} else {
		ASSERT_EQ(0, mpk_revoke(self->dev, self->chan, mpk_by_uid(0)));
		ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
				       MPKLINK_RIGHTS_ALL));
	}
	key2 = pkey_alloc(0, 0);
	EXPECT_NE(a.pkey, key2);
	if (key2 >= 0)
		pkey_free(key2);
	fd2 = mpk_attach(self->dev, self->chan, &b);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(a.pkey, b.pkey);
	st.fresh = mpk_map_all(fd2, &b);
	ASSERT_NE(MAP_FAILED, st.fresh);
	ASSERT_EQ(1, write(p[1], "x", 1));
	pthread_join(t, NULL);
	EXPECT_EQ(3, st.pkru_bits);
	ASSERT_EQ(1, st.faulted);
	EXPECT_EQ(SEGV_PKUERR, st.fault.code);
	EXPECT_EQ(b.pkey, st.fault.pkey);
	munmap((void *)st.fresh, b.map_size);
	close(fd2);
	if (!detach)
		close(fd);
}

TEST_F(revoke, thread_with_the_key_open_before_revocation_cannot_reach_it_reused)
{
	stale_key_after(_metadata, self, 0);
}

TEST_F(revoke, thread_with_the_key_open_before_detach_cannot_reach_it_reused)
{
	stale_key_after(_metadata, self, 1);
}

/*
 * Two members exchange checksummed messages through the writer's segment
 * (a single-producer ring whose consumer progress lives in the reader's
 * control page) while a third member is revoked.
 */
#define MESSAGES	100000
#define MSG_WORDS	8

struct ring {
	_Atomic unsigned long long head;
	unsigned long long pad[7];
	unsigned long long msg[][MSG_WORDS];
};

static unsigned long long checksum(const unsigned long long *w)
{
	unsigned long long sum = 0x9e3779b97f4a7c15ULL;
	int i;

	for (i = 0; i < MSG_WORDS - 1; i++)
		sum = (sum ^ w[i]) * 0x100000001b3ULL;
	return sum;
}

struct exchange {
	const char *chan;
	struct shared *sh;
};

/* Writer: publishes MESSAGES messages; returns 0 when all were taken. */
static int ring_writer(void *arg)
{
	struct exchange *x = arg;
	struct mpklink_attach a;
	unsigned long long seq, cap, *m;
	volatile unsigned long long *tail;
	char *own, *all;
	struct ring *r;
	int fd, i;

	fd = mpk_attach_fresh(x->chan, &a);
	if (fd < 0)
		return 1;
	own = mpk_map_own(fd, &a);
	all = mpk_map_all(fd, &a);
	if (own == MAP_FAILED || all == MAP_FAILED)
		return 2;
	pkey_set(a.pkey, 0);
	r = (struct ring *)(own + MPKLINK_CTRL_SIZE);
	cap = (a.segment_size - sizeof(*r)) / sizeof(r->msg[0]);
	/* The reader is in slot 1 (the writer in 0): its progress. */
	tail = (void *)(all + mpk_slot_offset(&a, 1) + a.slot * 64);
	atomic_fetch_add(&x->sh->ready, 1);
	for (seq = 0; seq < MESSAGES; seq++) {
		while (seq - __atomic_load_n(tail, __ATOMIC_ACQUIRE) >= cap)
			if (atomic_load(&x->sh->reader_done))
				return 3;	/* it failed: see its status */
		m = r->msg[seq % cap];
		for (i = 0; i < MSG_WORDS - 1; i++)
			m[i] = seq * 31 + i;
		m[MSG_WORDS - 1] = checksum(m);
		atomic_store_explicit(&r->head, seq + 1, memory_order_release);
	}
	/*
	 * A member's pages go when it leaves (and read as zeros): stay until
	 * the reader is done, whose status says whether all came intact.
	 */
	while (!atomic_load(&x->sh->reader_done))
		;
	return 0;
}

/* Records a wrong word, and the same word read again a moment later. */
static int ring_reader_saw(struct exchange *x, unsigned long long seq,
			   unsigned long long head, unsigned long long cap,
			   volatile unsigned long long *word, int index)
{
	x->sh->bad.seq = seq;
	x->sh->bad.head = head;
	x->sh->bad.cap = cap;
	x->sh->bad.index = index;
	x->sh->bad.word = *word;
	usleep(10000);
	x->sh->bad.again = *word;
	return 10;
}

static int ring_reader(void *arg)
{
	struct exchange *x = arg;
	struct mpklink_attach a;
	unsigned long long seq, cap, head, *m;
	volatile unsigned long long *tail;
	char *own, *all;
	struct ring *r;
	int fd, i;

	fd = mpk_attach_fresh(x->chan, &a);
	if (fd < 0)
		return 1;
	own = mpk_map_own(fd, &a);
	all = mpk_map_all(fd, &a);
	if (own == MAP_FAILED || all == MAP_FAILED || a.slot != 1)
		return 2;
	pkey_set(a.pkey, 0);
	r = (struct ring *)(all + mpk_slot_offset(&a, 0) + MPKLINK_CTRL_SIZE);
	cap = (a.segment_size - sizeof(*r)) / sizeof(r->msg[0]);
	tail = (void *)(own + 0 * 64);	/* progress on the slot-0 writer */
	atomic_fetch_add(&x->sh->ready, 1);
	for (seq = 0; seq < MESSAGES; seq++) {
		do {
			head = atomic_load_explicit(&r->head,
						    memory_order_acquire);
		} while (head <= seq);
		m = r->msg[seq % cap];
		for (i = 0; i < MSG_WORDS - 1; i++)
			if (m[i] != seq * 31 + i)
				return ring_reader_saw(x, seq, head, cap, &m[i], i);
		if (m[MSG_WORDS - 1] != checksum(m))
			return ring_reader_saw(x, seq, head, cap,
					       &m[MSG_WORDS - 1], MSG_WORDS - 1);
		__atomic_store_n(tail, seq + 1, __ATOMIC_RELEASE);
	}
	return 0;
}

TEST_F(revoke, others_exchange_100000_messages_unharmed_by_a_revocation)
{
	struct exchange x = { self->chan, self->sh };
	pid_t writer, reader, victim;
	void *arg[2];

	/* Writer in slot 0 (rw as root), reader in slot 1, victim uid 1000. */
	writer = fork();
	if (writer == 0)
		_exit(ring_writer(&x));
	while (atomic_load(&self->sh->ready) < 1)
		usleep(1000);
	reader = fork();
	if (reader == 0)
		_exit(ring_reader(&x));
	while (atomic_load(&self->sh->ready) < 2)
		usleep(1000);
	atomic_store(&self->sh->ready, 0);
	victim = start_victim(self->dev, self->chan, self->sh, spinning_reader,
			      arg);
	ASSERT_LT(0, victim);
	ASSERT_EQ(0, mpk_revoke(self->dev, self->chan,
				mpk_by_uid(MPK_TEST_UID)));
	EXPECT_EQ(0, mpk_wait(victim));
	EXPECT_EQ(0, mpk_wait(reader)) {
		TH_LOG("message %llu (head %llu, %llu slots) word %d: %#llx, %#llx 10 ms later; expected %#llx",
		       self->sh->bad.seq, self->sh->bad.head,
		       self->sh->bad.cap, self->sh->bad.index,
		       self->sh->bad.word, self->sh->bad.again,
		       self->sh->bad.seq * 31 + self->sh->bad.index);
	}
	atomic_store(&self->sh->reader_done, 1);
	EXPECT_EQ(0, mpk_wait(writer));
	EXPECT_EQ(SIGBUS, self->sh->refault_signo);
}

TEST_HARNESS_MAIN
