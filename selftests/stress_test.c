// SPDX-License-Identifier: GPL-2.0
/*
 * Races: attach, detach, map, unmap, touching memory, thread creation and
 * process exit (some killed) against grant, revoke, destroy and create, on
 * every CPU at once, for at least 10,000 iterations.  Each worker accepts
 * only the errors a race can legitimately cause; at the end nothing may be
 * left: no member, no page beyond the channels that exist.  tools/vm fails
 * the run on any oops, WARNING or lockdep report meanwhile.
 */
#include <pthread.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"
#include "pkey_fault.h"

#define CHANNELS	4
#define ATTACHERS	3
#define ITERATIONS	3400	/* per attacher; the admin races all along */

struct pool {
	char names[CHANNELS][MPKLINK_NAME_MAX];
	volatile int stop;
	/* Outcomes of attach, for the log: 0, ENOENT, EACCES, EUSERS. */
	int outcome[4];
};

static unsigned int rnd(unsigned int *state)
{
	*state = *state * 1103515245 + 12345;
	return *state >> 8;
}

/* Touch the channel with the key open; revocation may make it fault. */
static int touch(volatile char *p, int pkey, int write)
{
	struct pkey_fault f;
	int faulted;

	pkey_set(pkey, 0);
	faulted = write ? pkey_fault_write_byte(p, 1, &f) :
			  pkey_fault_read_byte(p, &f);
	pkey_set(pkey, PKEY_DISABLE_ACCESS);
	if (!faulted)
		return 0;
	if (f.signo == SIGBUS || (f.signo == SIGSEGV && f.code == SEGV_PKUERR))
		return 0;	/* revoked under our feet */
	return -1;
}

struct toucher {
	volatile char *p;
	int pkey;
	int err;
};

static void *touch_thread(void *arg)
{
	struct toucher *t = arg;

	t->err = touch(t->p, t->pkey, 0);
	return NULL;
}

/* One attach-to-detach cycle; returns 0 or a code naming the surprise. */
static int cycle(struct pool *pool, unsigned int *seed, int spawn_thread)
{
	const char *name = pool->names[rnd(seed) % CHANNELS];
	struct mpklink_attach a;
	char *all, *own;
	int fd, err = 0;

	fd = mpk_attach_fresh(name, &a);
	__atomic_fetch_add(&pool->outcome[fd >= 0 ? 0 : fd == -ENOENT ? 1 :
					  fd == -EACCES ? 2 : 3], 1,
			   __ATOMIC_RELAXED);
	if (fd == -ENOENT || fd == -EACCES || fd == -EUSERS)
		return 0;
	if (fd < 0)
		return 20;
	all = mpk_map_all(fd, &a);
	own = mpk_map_own(fd, &a);
	if ((all == MAP_FAILED || own == MAP_FAILED) && errno != EKEYREVOKED)
		err = 21;
	if (!err && all != MAP_FAILED && own != MAP_FAILED) {
		if (touch(own + MPKLINK_CTRL_SIZE - 1, a.pkey, 1) ||
		    touch(all + MPKLINK_DIR_SIZE, a.pkey, 0))
			err = 22;
		if (!err && spawn_thread) {
			struct toucher t = { all + MPKLINK_DIR_SIZE, a.pkey, 0 };
			pthread_t th;

			if (pthread_create(&th, NULL, touch_thread, &t))
				err = 23;
			else if (pthread_join(th, NULL) || t.err)
				err = 24;
		}
	}
	if (all != MAP_FAILED)
		munmap(all, a.map_size);
	if (own != MAP_FAILED)
		munmap(own, mpk_own_len(&a));
	close(fd);
	return err;
}

static int attacher(struct pool *pool, int id)
{
	unsigned int seed = 1000 + id;
	int i, err;

	if (pkey_fault_catch_install())
		return 99;
	for (i = 0; i < ITERATIONS; i++) {
		if (i % 50 == 25) {
			/* A member that dies: exits, or is killed mid-cycle. */
			pid_t pid = fork();

			if (pid == 0)
				_exit(cycle(pool, &seed, 0));
			if (rnd(&seed) % 2) {
				usleep(rnd(&seed) % 200);
				kill(pid, SIGKILL);
			}
			err = mpk_wait(pid);
			if (err && err != 128 + SIGKILL)
				return 40 + err;
			continue;
		}
		err = cycle(pool, &seed, i % 8 == 0);
		if (err)
			return err;
	}
	return 0;
}

static int admin(struct pool *pool)
{
	unsigned int seed = 7;
	int dev = mpk_dev(), err;
	const char *name;

	if (dev < 0)
		return 90;
	while (!pool->stop) {
		name = pool->names[rnd(&seed) % CHANNELS];
		/*
		 * Destroy races every member away, then the channel comes back
		 * at once; mostly the grant changes, so that most attaches
		 * still find a way in.
		 */
		switch (rnd(&seed) % 16) {
		case 0:
			err = mpk_destroy(dev, name);
			if (err && err != -ENOENT)
				return 91;
			err = mpk_create_n(dev, name, 4 * MPK_PAGE, 4);
			if (err && err != -EEXIST)
				return 92;
			err = mpk_grant(dev, name, mpk_by_uid(0),
					MPKLINK_RIGHTS_ALL);
			if (err && err != -ENOENT)
				return 95;
			break;
		case 1:
		case 2:
			err = mpk_revoke(dev, name, mpk_by_uid(0));
			if (err && err != -ENOENT)
				return 93;
			break;
		default:
			err = mpk_grant(dev, name, mpk_by_uid(0),
					rnd(&seed) % 2 ? MPKLINK_RIGHTS_ALL :
							 MPKLINK_RIGHT_READ);
			if (err && err != -ENOENT)
				return 94;
			break;
		}
		usleep(rnd(&seed) % 2000);
	}
	close(dev);
	return 0;
}

/*
 * A fixture only for its time limit: the harness's 30 s is for the Debian
 * kernels, and a debug kernel (make debug-kernel-check) is several times
 * slower.
 */
FIXTURE(stress) {};
FIXTURE_SETUP(stress) {}
FIXTURE_TEARDOWN(stress) {}

TEST_F_TIMEOUT(stress, ten_thousand_racing_iterations_leave_nothing_behind, 900)
{
	struct pool *pool = mmap(NULL, sizeof(*pool), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long pages, members, channels, attaches, revocations;
	pid_t workers[ATTACHERS], adm;
	int dev = mpk_dev(), i;

	ASSERT_NE(MAP_FAILED, pool);
	ASSERT_LE(0, dev);
	pages = mpk_stat("pages");
	members = mpk_stat("members");
	channels = mpk_stat("channels");
	attaches = mpk_stat("attaches");
	revocations = mpk_stat("revocations");
	for (i = 0; i < CHANNELS; i++) {
		snprintf(pool->names[i], MPKLINK_NAME_MAX, "stress.%d.%d",
			 getpid(), i);
		ASSERT_EQ(0, mpk_create_n(dev, pool->names[i], 4 * MPK_PAGE, 4));
		ASSERT_EQ(0, mpk_grant(dev, pool->names[i], mpk_by_uid(0),
				       MPKLINK_RIGHTS_ALL));
	}
	adm = fork();
	if (adm == 0)
		_exit(admin(pool));
	for (i = 0; i < ATTACHERS; i++) {
		workers[i] = fork();
		if (workers[i] == 0)
			_exit(attacher(pool, i));
	}
	for (i = 0; i < ATTACHERS; i++)
		EXPECT_EQ(0, mpk_wait(workers[i])) TH_LOG("attacher %d", i);
	pool->stop = 1;
	EXPECT_EQ(0, mpk_wait(adm));

	/* The races really happened: members attached and were revoked. */
	attaches = mpk_stat("attaches") - attaches;
	revocations = mpk_stat("revocations") - revocations;
	TH_LOG("%ld attaches, %ld revocations of live members; attach: %d ok, %d ENOENT, %d EACCES, %d other",
	       attaches, revocations, pool->outcome[0], pool->outcome[1],
	       pool->outcome[2], pool->outcome[3]);
	EXPECT_LT(ATTACHERS * ITERATIONS / 2, attaches);
	EXPECT_LT(10, revocations);

	for (i = 0; i < CHANNELS; i++)
		mpk_destroy(dev, pool->names[i]);
	EXPECT_EQ(members, mpk_stat("members"));
	EXPECT_EQ(channels, mpk_stat("channels"));
	EXPECT_EQ(pages, mpk_stat("pages"));
	close(dev);
}

TEST_HARNESS_MAIN
