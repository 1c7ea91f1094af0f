// SPDX-License-Identifier: GPL-2.0
/*
 * A member cannot hold up the administrator: REVOKE and DESTROY, which
 * finish revoking members inside the administrator's ioctl, must return
 * promptly even while the member's process holds its mmap_lock for as long
 * as it likes.
 *
 * How the member holds it: a thread writes through /proc/self/mem into a
 * shared mapping of a file on a frozen ext4 (on a loop device).  The write
 * takes the address space's mmap_lock for reading, faults the page for
 * writing, and ext4's page_mkwrite then waits, uninterruptibly, for the
 * file system to thaw.  (A userfaultfd fault would not do: it drops
 * mmap_lock while it waits.)
 */
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"

#define PROMPT_NS	(1000LL * 1000 * 1000)	/* 1 s: the ioctl's bound */
#define HOLD_NS		(4LL * PROMPT_NS)	/* how long the lock is held */

struct shared {
	atomic_int stage;	/* 1 mapped, 2 frozen, 3 writing */
	int child_err;
};

FIXTURE(blocked)
{
	int dev;
	char chan[MPKLINK_NAME_MAX];
	char dir[64];
	char img[64];
	int mounted, frozen, dirfd;
	struct shared *sh;
	pid_t member;
};

FIXTURE_VARIANT(blocked)
{
	int destroy;
};

FIXTURE_VARIANT_ADD(blocked, revoke) { .destroy = 0 };
FIXTURE_VARIANT_ADD(blocked, destroy) { .destroy = 1 };

static int sh_cmd(const char *fmt, ...)
{
	char cmd[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

FIXTURE_SETUP(blocked)
{
	int fd;

	self->dirfd = -1;
	self->member = -1;
	snprintf(self->dir, sizeof(self->dir), "/tmp/mpk-frozen.%d", getpid());
	snprintf(self->img, sizeof(self->img), "/tmp/mpk-frozen.%d.img",
		 getpid());
	sh_cmd("modprobe -q loop; modprobe -q ext4");
	ASSERT_EQ(0, mkdir(self->dir, 0700));
	fd = open(self->img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 32 << 20));
	close(fd);
	/*
	 * The 6.1 harness would still run the test body after a SKIP here:
	 * leave the test's process with the harness's skip status (255), having
	 * cleaned up (the teardown does not run then).
	 */
	if (sh_cmd("mkfs.ext4 -q -F %s >/dev/null 2>&1", self->img)) {
		unlink(self->img);
		rmdir(self->dir);
		SKIP(_exit(255), "mkfs.ext4 failed: no ext4 to freeze");
	}
	if (sh_cmd("mount -o loop -t ext4 %s %s", self->img, self->dir)) {
		unlink(self->img);
		rmdir(self->dir);
		SKIP(_exit(255), "cannot mount ext4 on a loop device");
	}
	self->mounted = 1;
	self->dirfd = open(self->dir, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, self->dirfd);

	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->chan, "blocked");
	ASSERT_EQ(0, mpk_create(self->dev, self->chan));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
}

FIXTURE_TEARDOWN(blocked)
{
	if (self->frozen)
		ioctl(self->dirfd, FITHAW, 0);
	if (self->member > 0) {
		kill(self->member, SIGKILL);
		waitpid(self->member, NULL, 0);
	}
	if (self->dirfd >= 0)
		close(self->dirfd);
	if (self->mounted)
		sh_cmd("umount %s", self->dir);
	rmdir(self->dir);
	unlink(self->img);
	if (self->dev > 0) {
		mpk_destroy(self->dev, self->chan);
		close(self->dev);
	}
}

struct member_args {
	struct shared *sh;
	const char *chan;
	const char *dir;
	volatile char *page;
};

static void *write_through_proc_mem(void *arg)
{
	struct member_args *m = arg;
	int mem = open("/proc/self/mem", O_RDWR);
	char x = 'x';

	atomic_store(&m->sh->stage, 3);
	/* mmap_lock held, until the file system thaws. */
	if (mem < 0 || pwrite(mem, &x, 1, (off_t)(uintptr_t)m->page) != 1)
		m->sh->child_err = 5;
	return NULL;
}

/* The member: attached, mapped, and a thread stuck holding mmap_lock. */
static int member(struct member_args *m)
{
	struct mpklink_attach a;
	char path[128];
	pthread_t t;
	void *all;
	int fd, f;

	fd = mpk_attach_fresh(m->chan, &a);
	if (fd < 0)
		return 1;
	all = mpk_map_all(fd, &a);
	if (all == MAP_FAILED)
		return 2;
	snprintf(path, sizeof(path), "%s/f", m->dir);
	f = open(path, O_RDWR | O_CREAT, 0600);
	if (f < 0 || ftruncate(f, MPK_PAGE) || fsync(f))
		return 3;
	m->page = mmap(NULL, MPK_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, f,
		       0);
	if (m->page == MAP_FAILED)
		return 4;
	(void)m->page[0];	/* mapped clean: the next write calls ext4 */
	atomic_store(&m->sh->stage, 1);
	while (atomic_load(&m->sh->stage) < 2)
		usleep(1000);
	if (pthread_create(&t, NULL, write_through_proc_mem, m))
		return 6;
	pthread_join(t, NULL);
	return m->sh->child_err;
}

struct admin {
	int dev, destroy;
	const char *chan;
	atomic_llong done_at;
	int ret;
};

static void *admin_call(void *arg)
{
	struct admin *ad = arg;

	ad->ret = ad->destroy ? mpk_destroy(ad->dev, ad->chan) :
		  mpk_revoke(ad->dev, ad->chan, mpk_by_uid(0));
	atomic_store(&ad->done_at, mpk_now_ns());
	return NULL;
}

TEST_F_TIMEOUT(blocked, admin_ioctl_returns_promptly_while_the_member_holds_mmap_lock, 120)
{
	struct member_args m = { .sh = self->sh, .chan = self->chan,
				 .dir = self->dir };
	struct admin ad = { .dev = self->dev, .chan = self->chan,
			    .destroy = variant->destroy };
	long long start, took;
	pthread_t t;
	int i;

	self->member = fork();
	ASSERT_LE(0, self->member);
	if (self->member == 0)
		_exit(member(&m));
	for (i = 0; i < 5000 && atomic_load(&self->sh->stage) < 1; i++)
		usleep(1000);
	ASSERT_EQ(1, atomic_load(&self->sh->stage));
	ASSERT_EQ(0, ioctl(self->dirfd, FIFREEZE, 0));
	self->frozen = 1;
	atomic_store(&self->sh->stage, 2);
	while (atomic_load(&self->sh->stage) < 3)
		usleep(1000);
	usleep(200000);		/* let the write reach page_mkwrite */

	start = mpk_now_ns();
	ASSERT_EQ(0, pthread_create(&t, NULL, admin_call, &ad));
	while (!atomic_load(&ad.done_at) && mpk_now_ns() - start < HOLD_NS)
		usleep(10000);
	took = atomic_load(&ad.done_at) ? atomic_load(&ad.done_at) - start : -1;
	/* Thaw either way, or a blocked ioctl never returns. */
	EXPECT_EQ(0, ioctl(self->dirfd, FITHAW, 0));
	self->frozen = 0;
	pthread_join(t, NULL);
	TH_LOG("%s returned after %lld ms (-1: still blocked after %lld ms)",
	       variant->destroy ? "DESTROY" : "REVOKE",
	       took < 0 ? -1 : took / 1000000, HOLD_NS / 1000000);
	EXPECT_EQ(0, ad.ret);
	EXPECT_LE(0, took);
	EXPECT_GT(PROMPT_NS, took);
	EXPECT_EQ(0, mpk_wait(self->member));
	self->member = -1;
}

TEST_HARNESS_MAIN
