// SPDX-License-Identifier: GPL-2.0
/*
 * PKRU consistency: when mpklink takes a protection key for a channel, the
 * key is closed in every thread of the process (running, sleeping, or not
 * yet created), even in threads that had that key number open from an
 * earlier use; and it is closed everywhere before it is handed back.
 *
 * Each test first opens the key in the other thread, so only mpklink's
 * update can make the thread's later access fault.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"
#include "pkey_fault.h"

struct probe {
	/* In: what the thread does before its access. */
	int block_in_read;	/* 1: sleep in read(pipe); 0: spin */
	int stale_key;		/* >= 0: open only this key, else all keys */
	int pipe[2];
	atomic_int ready;	/* the thread opened its keys */
	atomic_int go;		/* spin until set */
	volatile char *addr;	/* what to touch */
	/* Out. */
	unsigned int pkru_bits;	/* of the channel key, before touching */
	int faulted;
	struct pkey_fault fault;
	ssize_t read_ret;
};

static int channel_key;

static void *probe_thread(void *arg)
{
	struct probe *p = arg;
	char c;

	if (p->stale_key >= 0)
		pkey_set(p->stale_key, 0);
	else
		pkey_fault_wrpkru(0);	/* every key open */
	atomic_store(&p->ready, 1);
	if (p->block_in_read)
		p->read_ret = read(p->pipe[0], &c, 1);
	else
		while (!atomic_load(&p->go))
			;
	p->pkru_bits = pkey_fault_pkru_bits(channel_key);
	p->faulted = pkey_fault_read_byte(p->addr, &p->fault);
	return NULL;
}

FIXTURE(chan)
{
	int dev;
	char name[MPKLINK_NAME_MAX];
};

FIXTURE_SETUP(chan)
{
	ASSERT_EQ(0, pkey_fault_catch_install());
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->name, "pkru");
	ASSERT_EQ(0, mpk_create(self->dev, self->name));
	ASSERT_EQ(0, mpk_grant(self->dev, self->name, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
}

FIXTURE_TEARDOWN(chan)
{
	mpk_destroy(self->dev, self->name);
	close(self->dev);
}

/*
 * Starts a probe thread, attaches and maps while it runs (spinning or
 * asleep) with its keys open, then lets it touch the channel.
 */
static int attach_under_probe(int dev, const char *name, struct probe *p,
			      struct mpklink_attach *a, int *fd)
{
	pthread_t t;
	void *all;

	if (pipe(p->pipe) || pthread_create(&t, NULL, probe_thread, p))
		return -1;
	while (!atomic_load(&p->ready))
		;
	usleep(20000);	/* let it reach read() or its spin loop */
	*fd = mpk_attach(dev, name, a);
	if (*fd < 0)
		return -2;
	channel_key = a->pkey;
	all = mpk_map_all(*fd, a);
	if (all == MAP_FAILED)
		return -3;
	p->addr = all;
	atomic_store(&p->go, 1);
	if (p->block_in_read && write(p->pipe[1], "x", 1) != 1)
		return -4;
	pthread_join(t, NULL);
	close(p->pipe[0]);
	close(p->pipe[1]);
	return 0;
}

TEST_F(chan, running_thread_with_every_key_open_gets_the_key_closed)
{
	struct probe p = { .stale_key = -1 };
	struct mpklink_attach a;
	int fd;

	ASSERT_EQ(0, attach_under_probe(self->dev, self->name, &p, &a, &fd));
	EXPECT_EQ(3, p.pkru_bits);
	ASSERT_EQ(1, p.faulted);
	EXPECT_EQ(SEGV_PKUERR, p.fault.code);
	EXPECT_EQ(a.pkey, p.fault.pkey);
	close(fd);
}

TEST_F(chan, sleeping_thread_gets_the_key_closed_and_its_read_restarts)
{
	struct probe p = { .block_in_read = 1, .stale_key = -1 };
	struct mpklink_attach a;
	int fd;

	ASSERT_EQ(0, attach_under_probe(self->dev, self->name, &p, &a, &fd));
	EXPECT_EQ(1, p.read_ret);	/* not EINTR: restarted invisibly */
	EXPECT_EQ(3, p.pkru_bits);
	ASSERT_EQ(1, p.faulted);
	EXPECT_EQ(SEGV_PKUERR, p.fault.code);
	close(fd);
}

TEST_F(chan, reused_key_number_carries_no_stale_grant)
{
	struct probe p = { .block_in_read = 1 };
	struct mpklink_attach a;
	int fd;

	/* The thread opens key k; k is freed; mpklink then allocates k. */
	p.stale_key = pkey_alloc(0, 0);
	ASSERT_LT(0, p.stale_key);
	channel_key = p.stale_key;
	ASSERT_EQ(0, pipe(p.pipe));
	{
		pthread_t t;

		ASSERT_EQ(0, pthread_create(&t, NULL, probe_thread, &p));
		while (!atomic_load(&p.ready))
			;
		usleep(20000);
		ASSERT_EQ(0, pkey_free(p.stale_key));
		fd = mpk_attach(self->dev, self->name, &a);
		ASSERT_LE(0, fd);
		if (a.pkey != p.stale_key)
			SKIP(return, "mpklink took key %d, not the freed %d",
			     a.pkey, p.stale_key);
		p.addr = mpk_map_all(fd, &a);
		ASSERT_NE(MAP_FAILED, p.addr);
		ASSERT_EQ(1, write(p.pipe[1], "x", 1));
		pthread_join(t, NULL);
	}
	EXPECT_EQ(3, p.pkru_bits);
	ASSERT_EQ(1, p.faulted);
	EXPECT_EQ(SEGV_PKUERR, p.fault.code);
	close(fd);
}

static void *report_new_thread(void *arg)
{
	struct probe *p = arg;

	p->pkru_bits = pkey_fault_pkru_bits(channel_key);
	p->faulted = pkey_fault_read_byte(p->addr, &p->fault);
	return NULL;
}

TEST_F(chan, thread_created_later_starts_closed_though_its_creator_is_open)
{
	struct probe p = { 0 };
	struct mpklink_attach a;
	struct pkey_fault f;
	pthread_t t;
	int fd;

	fd = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, fd);
	channel_key = a.pkey;
	p.addr = mpk_map_all(fd, &a);
	ASSERT_NE(MAP_FAILED, p.addr);
	ASSERT_EQ(0, pkey_set(a.pkey, 0));	/* the creator opens it */
	ASSERT_EQ(0, pthread_create(&t, NULL, report_new_thread, &p));
	pthread_join(t, NULL);
	EXPECT_EQ(0, pkey_fault_read_byte(p.addr, &f));	/* creator: open */
	EXPECT_EQ(3, p.pkru_bits);
	ASSERT_EQ(1, p.faulted);
	EXPECT_EQ(SEGV_PKUERR, p.fault.code);
	pkey_set(a.pkey, PKEY_DISABLE_ACCESS);
	close(fd);
}

static void *open_key_then_sleep(void *arg)
{
	struct probe *p = arg;
	char c;

	pkey_set(channel_key, 0);
	atomic_store(&p->ready, 1);
	p->read_ret = read(p->pipe[0], &c, 1);
	p->pkru_bits = pkey_fault_pkru_bits(channel_key);
	return NULL;
}

/*
 * When its last member leaves, the key is closed in every thread and kept
 * (never handed back: see key_the_process_took_back_is_not_freed below);
 * the next attach reuses it, closed everywhere again.
 */
TEST_F(chan, key_is_closed_in_every_thread_when_its_last_member_leaves_and_kept)
{
	struct probe p = { 0 };
	struct mpklink_attach a, b;
	pthread_t t;
	void *all;
	int fd, again;

	fd = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, fd);
	channel_key = a.pkey;
	all = mpk_map_all(fd, &a);
	ASSERT_NE(MAP_FAILED, all);
	ASSERT_EQ(0, pipe(p.pipe));
	ASSERT_EQ(0, pthread_create(&t, NULL, open_key_then_sleep, &p));
	while (!atomic_load(&p.ready))
		;
	usleep(20000);
	/* Detach: the last mapping and the fd go. */
	ASSERT_EQ(0, munmap(all, a.map_size));
	ASSERT_EQ(0, close(fd));
	again = pkey_alloc(0, 0);
	EXPECT_NE(a.pkey, again);	/* still mpklink's */
	if (again >= 0)
		pkey_free(again);
	ASSERT_EQ(1, write(p.pipe[1], "x", 1));
	pthread_join(t, NULL);
	EXPECT_EQ(3, p.pkru_bits);
	fd = mpk_attach(self->dev, self->name, &b);
	ASSERT_LE(0, fd);
	EXPECT_EQ(a.pkey, b.pkey);	/* reused */
	close(fd);
}

/*
 * pkey_free() does not ask who allocated a key, so a process can free the
 * one mpklink holds for it, and its next attach then gets the same number
 * from the allocator.  The first member still uses that key: the count
 * must not go wrong (the kernel would report a warning), and the key stays
 * mpklink's after both leave.
 */
TEST_F(chan, key_freed_behind_mpklinks_back_stays_counted)
{
	struct mpklink_attach a, b;
	int first, second, again;

	first = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, first);
	if (a.pkey < 0)
		SKIP(return, "no protection keys");
	ASSERT_EQ(0, pkey_free(a.pkey));
	second = mpk_attach(self->dev, self->name, &b);
	ASSERT_LE(0, second);
	ASSERT_EQ(a.pkey, b.pkey);	/* the lowest free key again */
	ASSERT_EQ(0, close(second));
	again = pkey_alloc(0, 0);
	EXPECT_NE(a.pkey, again);	/* the first member still holds it */
	if (again >= 0)
		pkey_free(again);
	ASSERT_EQ(0, close(first));
	again = pkey_alloc(0, 0);
	EXPECT_NE(a.pkey, again);	/* kept for the next attach */
	if (again >= 0)
		pkey_free(again);
}

/*
 * The process frees mpklink's key behind its back and pkey_alloc() gives
 * it the same number: from then on the process owns that key.  The member
 * leaving must not free it (the allocator would hand it out twice).
 */
TEST_F(chan, key_the_process_took_back_is_not_freed_by_mpklink)
{
	struct mpklink_attach a;
	int fd, mine, other;

	fd = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, fd);
	if (a.pkey < 0)
		SKIP(return, "no protection keys");
	ASSERT_EQ(0, pkey_free(a.pkey));
	mine = pkey_alloc(0, 0);
	if (mine != a.pkey)
		SKIP(return, "pkey_alloc() gave %d, not the freed %d", mine,
		     a.pkey);
	ASSERT_EQ(0, close(fd));
	other = pkey_alloc(0, 0);
	EXPECT_NE(mine, other);		/* not handed out twice */
	EXPECT_EQ(0, pkey_free(mine));	/* still allocated: the process's */
	if (other >= 0)
		pkey_free(other);
}

TEST_F(chan, sixteen_threads_all_get_the_key_closed)
{
	struct probe p[16];
	struct mpklink_attach a;
	pthread_t t[16];
	void *all;
	int fd, i;

	memset(p, 0, sizeof(p));
	for (i = 0; i < 16; i++) {
		p[i].stale_key = -1;
		p[i].block_in_read = i % 2;
		ASSERT_EQ(0, pipe(p[i].pipe));
		ASSERT_EQ(0, pthread_create(&t[i], NULL, probe_thread, &p[i]));
	}
	for (i = 0; i < 16; i++)
		while (!atomic_load(&p[i].ready))
			;
	usleep(20000);
	fd = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, fd);
	channel_key = a.pkey;
	all = mpk_map_all(fd, &a);
	ASSERT_NE(MAP_FAILED, all);
	for (i = 0; i < 16; i++) {
		p[i].addr = all;
		atomic_store(&p[i].go, 1);
		if (p[i].block_in_read)
			ASSERT_EQ(1, write(p[i].pipe[1], "x", 1));
	}
	for (i = 0; i < 16; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(3, p[i].pkru_bits) TH_LOG("thread %d", i);
		EXPECT_EQ(1, p[i].faulted) TH_LOG("thread %d", i);
	}
	close(fd);
}

/*
 * How long closing a key in every thread takes, at attach and at
 * revocation, for 1, 16 and 128 threads asleep in read().  Printed for
 * Documentation/design.md; the test checks every thread ended up closed.
 */
struct sleeper {
	int pipe;
	unsigned int pkru_bits;
};

static void *sleep_in_read(void *arg)
{
	struct sleeper *s = arg;
	char c;

	pkey_fault_wrpkru(0);
	if (read(s->pipe, &c, 1) == 1)
		s->pkru_bits = pkey_fault_pkru_bits(channel_key);
	return NULL;
}

FIXTURE(threads)
{
	int dev;
	char name[MPKLINK_NAME_MAX];
};

FIXTURE_VARIANT(threads)
{
	int count;
};

FIXTURE_VARIANT_ADD(threads, one) { .count = 1 };
FIXTURE_VARIANT_ADD(threads, sixteen) { .count = 16 };
FIXTURE_VARIANT_ADD(threads, one_hundred_twenty_eight) { .count = 128 };

FIXTURE_SETUP(threads)
{
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->name, "threads");
	ASSERT_EQ(0, mpk_create(self->dev, self->name));
	ASSERT_EQ(0, mpk_grant(self->dev, self->name, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
}

FIXTURE_TEARDOWN(threads)
{
	mpk_destroy(self->dev, self->name);
	close(self->dev);
}

TEST_F(threads, closing_a_key_reaches_every_thread_and_is_timed)
{
	int n = variant->count, i, p[2], fd;
	struct sleeper *s = calloc(n, sizeof(*s));
	pthread_t *t = calloc(n, sizeof(*t));
	struct mpklink_attach a;
	long attach_ns, revoke_ns;

	ASSERT_NE(NULL, s);
	ASSERT_NE(NULL, t);
	ASSERT_EQ(0, pipe(p));
	/* The test's own thread counts as one of the n. */
	for (i = 1; i < n; i++) {
		s[i].pipe = p[0];
		ASSERT_EQ(0, pthread_create(&t[i], NULL, sleep_in_read, &s[i]));
	}
	usleep(100000);
	fd = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, fd);
	channel_key = a.pkey;
	attach_ns = mpk_stat("pkru_sync_last_ns");
	EXPECT_EQ(n, mpk_stat("pkru_sync_last_threads"));
	ASSERT_EQ(0, mpk_revoke(self->dev, self->name, mpk_by_uid(0)));
	revoke_ns = mpk_stat("pkru_sync_last_ns");
	EXPECT_EQ(n, mpk_stat("pkru_sync_last_threads"));
	for (i = 1; i < n; i++)
		ASSERT_EQ(1, write(p[1], "x", 1));
	for (i = 1; i < n; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(3, s[i].pkru_bits) TH_LOG("thread %d", i);
	}
	TH_LOG("%d threads: closing the key took %ld us at attach, %ld us at revocation",
	       n, attach_ns / 1000, revoke_ns / 1000);
	close(fd);
	free(s);
	free(t);
}

TEST_HARNESS_MAIN
