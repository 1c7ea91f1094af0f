// SPDX-License-Identifier: GPL-2.0
/*
 * What closing keys in every thread costs, and that it stays bounded: a
 * thread that does not run its work (the parent of a vfork() child waits
 * for the child killably, which the work's wake-up does not interrupt) has
 * one work, whatever the number of keys taken and handed back meanwhile;
 * and an attach refused for a full channel closes nothing.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"
#include "pkey_fault.h"

/*
 * Cycles of the memory test (MPKLINK_PKRU_CYCLES overrides).  Under TCG
 * one attach and close takes about 0.5 ms here, so 100,000 of them take
 * about a minute on either kernel.  A debug kernel (KASAN, lockdep) is
 * over ten times slower: there the slab count means nothing anyway (see
 * below), and what does, pkru_works staying at one and kmemleak finding
 * nothing, shows as well in 10,000.
 */
#define CYCLES		100000
#define DEBUG_CYCLES	10000
#define WARM_UP		100

static int cycles(void)
{
	const char *s = getenv("MPKLINK_PKRU_CYCLES");

	if (s)
		return atoi(s);
	return mpk_debug_kernel() ? DEBUG_CYCLES : CYCLES;
}

static long module_refcnt(void)
{
	FILE *f = fopen("/sys/module/mpklink/refcnt", "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* A line of /proc/meminfo, in kB, or -1. */
static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char k[64];
	long v, found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld kB", k, &v) == 2)
		if (!strncmp(k, key, strlen(key)) && k[strlen(key)] == ':')
			found = v;
	fclose(f);
	return found;
}

/* A thread of this process that vfork()s and stays parked there. */
struct parked {
	pthread_t thread;
	int ready[2];		/* the child says it runs */
	int go[2];		/* the child exits when it reads a byte */
	pid_t child;
};

static void *park_in_vfork(void *arg)
{
	struct parked *p = arg;
	pid_t pid;
	char c;

	pid = vfork();
	if (pid == 0) {
		/* Only system calls: the child borrows this thread's stack. */
		if (write(p->ready[1], "x", 1) == 1)
			while (read(p->go[0], &c, 1) < 0 && errno == EINTR)
				;
		_exit(0);
	}
	p->child = pid;
	return NULL;
}

static int park_start(struct parked *p)
{
	char c;

	if (pipe(p->ready) || pipe(p->go))
		return -1;
	if (pthread_create(&p->thread, NULL, park_in_vfork, p))
		return -1;
	/* Once the child runs, its parent thread is in vfork() for good. */
	return read(p->ready[0], &c, 1) == 1 ? 0 : -1;
}

static void park_end(struct parked *p)
{
	/* Not a close: the child has its own copy of the write end. */
	if (write(p->go[1], "x", 1) != 1)
		return;
	close(p->go[1]);
	pthread_join(p->thread, NULL);
	waitpid(p->child, NULL, 0);
	close(p->go[0]);
	close(p->ready[0]);
	close(p->ready[1]);
}

FIXTURE(work)
{
	int dev;
	char name[MPKLINK_NAME_MAX];
};

FIXTURE_SETUP(work)
{
	if (!pkey_fault_has_pku())
		SKIP(return, "no protection keys: nothing is closed");
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->name, "work");
	ASSERT_EQ(0, mpk_create_n(self->dev, self->name, MPK_PAGE, 1));
	ASSERT_EQ(0, mpk_grant(self->dev, self->name, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
}

FIXTURE_TEARDOWN(work)
{
	mpk_destroy(self->dev, self->name);
	close(self->dev);
}

static int attach_close(int dev, const char *name, int n)
{
	int i, fd;

	for (i = 0; i < n; i++) {
		fd = mpk_attach(dev, name, NULL);
		if (fd < 0)
			return fd;
		close(fd);
	}
	return 0;
}

TEST_F_TIMEOUT(work, attach_close_cycles_beside_a_vfork_parked_thread_keep_memory_and_module_references_flat, 300)
{
	long refs, works, slab, syncs, after_refs, after_works, after_slab;
	struct parked p;
	long long start;
	int i;

	ASSERT_EQ(0, park_start(&p));
	/* The parked thread gets its one work here. */
	ASSERT_EQ(0, attach_close(self->dev, self->name, WARM_UP));
	refs = module_refcnt();
	works = mpk_stat("pkru_works");
	slab = meminfo_kb("Slab");
	syncs = mpk_stat("pkru_syncs");
	ASSERT_LE(0, refs);
	start = mpk_now_ns();
	ASSERT_EQ(0, attach_close(self->dev, self->name, cycles()));
	TH_LOG("%d attach and close cycles took %lld ms, %ld key closings",
	       cycles(), (mpk_now_ns() - start) / 1000000,
	       mpk_stat("pkru_syncs") - syncs);
	/* Let RCU and deferred frees of the members' files catch up. */
	for (i = 0; i < 20; i++) {
		after_slab = meminfo_kb("Slab");
		if (after_slab - slab < 2048)
			break;
		usleep(100000);
	}
	after_refs = module_refcnt();
	after_works = mpk_stat("pkru_works");
	TH_LOG("module refcnt %ld -> %ld, pkru_works %ld -> %ld, Slab %ld -> %ld kB",
	       refs, after_refs, works, after_works, slab, after_slab);
	EXPECT_EQ(refs, after_refs);
	EXPECT_EQ(1, works);		/* the parked thread's */
	EXPECT_EQ(1, after_works);
	/*
	 * Two works a cycle would be 200,000 allocations: 25 MB at least.  A
	 * debug kernel's KASAN keeps freed objects in quarantine, so slab
	 * means nothing there; kmemleak and pkru_works above say it.
	 */
	if (!mpk_debug_kernel())
		EXPECT_GT(4096, after_slab - slab);

	park_end(&p);
	/* Now the parked thread runs its work, and the reaper frees it. */
	for (i = 0; i < 100 && mpk_stat("pkru_works"); i++)
		usleep(10000);
	EXPECT_EQ(0, mpk_stat("pkru_works"));
	EXPECT_EQ(refs - 1, module_refcnt());
}

static int parked_key = -1;
static unsigned int parked_bits;

static void *park_open_then_report(void *arg)
{
	struct parked *p = arg;

	pkey_fault_wrpkru(0);	/* every key open, as a stray WRPKRU leaves it */
	park_in_vfork(p);
	parked_bits = pkey_fault_pkru_bits(parked_key);
	return NULL;
}

TEST_F(work, parked_thread_closes_the_key_before_it_returns_from_vfork)
{
	struct mpklink_attach a;
	struct parked p;
	char c;
	int fd;

	ASSERT_EQ(0, pipe(p.ready));
	ASSERT_EQ(0, pipe(p.go));
	ASSERT_EQ(0, pthread_create(&p.thread, NULL, park_open_then_report, &p));
	ASSERT_EQ(1, read(p.ready[0], &c, 1));
	fd = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, fd);
	parked_key = a.pkey;
	close(fd);		/* closed again: the same work, one more key */
	fd = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, fd);
	ASSERT_EQ(parked_key, a.pkey);	/* the idle key, reused */
	park_end(&p);
	EXPECT_EQ(3, parked_bits);
	close(fd);
}

/*
 * A work closes the keys being taken or handed back, not every key of
 * mpklink's: a thread asleep in the kernel inside a library window keeps
 * that window's key open.
 */
struct windowed {
	int key;
	int pipe;
	unsigned int bits_open, bits_new;
	int new_key;
};

static void *sleep_in_a_window(void *arg)
{
	struct windowed *w = arg;
	char c;

	pkey_set(w->key, 0);
	if (read(w->pipe, &c, 1) == 1) {
		w->bits_open = pkey_fault_pkru_bits(w->key);
		w->bits_new = pkey_fault_pkru_bits(w->new_key);
	}
	return NULL;
}

TEST_F(work, closing_a_new_key_leaves_another_threads_window_open)
{
	struct mpklink_attach a, b;
	char other[MPKLINK_NAME_MAX];
	struct windowed w = { 0 };
	int fa, fb, p[2];
	pthread_t t;

	mpk_name(other, "work2");
	ASSERT_EQ(0, mpk_create(self->dev, other));
	ASSERT_EQ(0, mpk_grant(self->dev, other, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	fa = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, fa);
	ASSERT_EQ(0, pipe(p));
	w.key = a.pkey;
	w.pipe = p[0];
	ASSERT_EQ(0, pthread_create(&t, NULL, sleep_in_a_window, &w));
	usleep(50000);
	fb = mpk_attach(self->dev, other, &b);
	ASSERT_LE(0, fb);
	ASSERT_NE(a.pkey, b.pkey);
	w.new_key = b.pkey;
	ASSERT_EQ(1, write(p[1], "x", 1));
	pthread_join(t, NULL);
	EXPECT_EQ(0, w.bits_open);
	EXPECT_EQ(3, w.bits_new);
	close(fb);
	close(fa);
	mpk_destroy(self->dev, other);
}

TEST_F(work, attach_to_a_full_channel_is_eusers_without_closing_any_key)
{
	struct mpklink_attach a;
	long syncs;
	int fd;

	fd = mpk_attach(self->dev, self->name, &a);
	ASSERT_LE(0, fd);
	syncs = mpk_stat("pkru_syncs");
	ASSERT_LE(0, syncs);
	EXPECT_EQ(-EUSERS, mpk_attach(self->dev, self->name, NULL));
	EXPECT_EQ(syncs, mpk_stat("pkru_syncs"));
	close(fd);
}

TEST_HARNESS_MAIN
