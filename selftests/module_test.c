// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink.ko loads, creates /dev/mpklink with the documented mode, refuses
 * to unload while the device is open, and unloads and reloads cleanly.
 *
 * tools/vm loads the module before the tests; MPKLINK_KO names the file so
 * the reload test can load it again.  The unload test runs last.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"

#define DEVICE "/dev/mpklink"
#define MISC_MAJOR 10

static int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int delete_module(const char *name, int flags)
{
	return syscall(__NR_delete_module, name, flags);
}

static int load_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = syscall(__NR_finit_module, fd, "", 0);
	close(fd);
	return ret;
}

TEST(module_is_live)
{
	char state[32];

	ASSERT_EQ(0, read_file("/sys/module/mpklink/initstate", state,
			       sizeof(state)));
	EXPECT_STREQ("live\n", state);
}

TEST(device_is_misc_char_device_mode_0666)
{
	char dev[32], expect[32];
	struct stat st;

	ASSERT_EQ(0, stat(DEVICE, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0666, st.st_mode & 07777);
	EXPECT_EQ(MISC_MAJOR, major(st.st_rdev));
	ASSERT_EQ(0, read_file("/sys/class/misc/mpklink/dev", dev, sizeof(dev)));
	snprintf(expect, sizeof(expect), "%u:%u\n", major(st.st_rdev),
		 minor(st.st_rdev));
	EXPECT_STREQ(expect, dev);
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = open(DEVICE, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, ioctl(fd, _IO('x', 0xfe), 0));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
}

TEST(unload_refused_while_device_open)
{
	int fd = open(DEVICE, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, delete_module("mpklink", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	close(fd);
	EXPECT_EQ(0, access("/sys/module/mpklink", F_OK));
}

TEST(unload_refused_while_a_mapping_remains)
{
	char name[MPKLINK_NAME_MAX];
	struct mpklink_attach a;
	int dev = mpk_dev(), fd;
	void *all;

	ASSERT_LE(0, dev);
	mpk_name(name, "unload");
	ASSERT_EQ(0, mpk_create(dev, name));
	ASSERT_EQ(0, mpk_grant(dev, name, mpk_by_uid(0), MPKLINK_RIGHT_READ));
	fd = mpk_attach(dev, name, &a);
	ASSERT_LE(0, fd);
	all = mpk_map_all(fd, &a);
	ASSERT_NE(MAP_FAILED, all);
	close(fd);
	close(dev);
	EXPECT_EQ(-1, delete_module("mpklink", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	munmap(all, a.map_size);
	dev = mpk_dev();
	ASSERT_LE(0, dev);
	EXPECT_EQ(0, mpk_destroy(dev, name));
	close(dev);
}

/* A thread that vfork()s and stays parked there until @go has a byte. */
struct parked {
	int ready[2], go[2];
	pid_t child;
};

static void *park_in_vfork(void *arg)
{
	struct parked *p = arg;
	pid_t pid;
	char c;

	pid = vfork();
	if (pid == 0) {
		if (write(p->ready[1], "x", 1) == 1)
			while (read(p->go[0], &c, 1) < 0 && errno == EINTR)
				;
		_exit(0);
	}
	p->child = pid;
	return NULL;
}

/*
 * A PKRU work pending on a thread that cannot run it (parked in vfork())
 * holds the module: unload is refused until the thread runs it, and then
 * succeeds, with no module code left running (the console is scanned for
 * oopses).
 */
TEST(unload_waits_for_a_pkru_work_pending_on_a_vfork_parked_thread)
{
	const char *ko = getenv("MPKLINK_KO");
	char name[MPKLINK_NAME_MAX];
	struct parked p;
	pthread_t t;
	int dev, fd, i, ret = -1;
	char c;

	if (!ko)
		SKIP(return, "MPKLINK_KO not set: cannot reload the module");
	dev = mpk_dev();
	ASSERT_LE(0, dev);
	mpk_name(name, "parked");
	ASSERT_EQ(0, mpk_create(dev, name));
	ASSERT_EQ(0, mpk_grant(dev, name, mpk_by_uid(0), MPKLINK_RIGHT_READ));
	ASSERT_EQ(0, pipe(p.ready));
	ASSERT_EQ(0, pipe(p.go));
	ASSERT_EQ(0, pthread_create(&t, NULL, park_in_vfork, &p));
	ASSERT_EQ(1, read(p.ready[0], &c, 1));
	fd = mpk_attach(dev, name, NULL);
	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(0, mpk_destroy(dev, name));
	close(dev);
	if (mpk_stat("pkru_works") <= 0) {
		/* Not a close: the child has its own copy of the write end. */
		ASSERT_EQ(1, write(p.go[1], "x", 1));
		pthread_join(t, NULL);
		SKIP(return, "no PKRU work pending (no protection keys?)");
	}
	EXPECT_EQ(-1, delete_module("mpklink", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	ASSERT_EQ(1, write(p.go[1], "x", 1));
	pthread_join(t, NULL);
	waitpid(p.child, NULL, 0);
	/* Unload as soon as the reaper dropped the work's reference. */
	for (i = 0; i < 1000; i++) {
		ret = delete_module("mpklink", O_NONBLOCK);
		if (!ret || errno != EWOULDBLOCK)
			break;
		usleep(2000);
	}
	ASSERT_EQ(0, ret) TH_LOG("delete_module: %s", strerror(errno));
	ASSERT_EQ(0, load_module(ko));
}

/*
 * What the channels held is counted by the module itself: on unload it
 * warns if its count of pages, channels or members is not back to zero.
 * (MemFree moved by 5 MB between two reads here, more than 100 idle
 * channels hold, so it cannot tell.)  On the debug kernel kmemleak checks
 * the rest.
 */
TEST(unload_with_idle_channels_tears_them_down_and_leaks_nothing)
{
	const char *ko = getenv("MPKLINK_KO");
	struct mpklink_listing list = {
		.size = sizeof(list),
		.entry_size = sizeof(struct mpklink_channel_info),
	};
	char name[MPKLINK_NAME_MAX];
	long channels;
	int dev, i, kmsg;

	if (!ko)
		SKIP(return, "MPKLINK_KO not set: cannot reload the module");
	kmsg = mpk_kmsg_open_at_end();
	ASSERT_LE(0, kmsg);
	channels = mpk_stat("channels");
	dev = mpk_dev();
	ASSERT_LE(0, dev);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "idle.%d", i);
		ASSERT_EQ(0, mpk_create_n(dev, name, 64 * MPK_PAGE, 64));
		ASSERT_EQ(0, mpk_grant(dev, name, mpk_by_uid(i), MPKLINK_RIGHT_READ));
	}
	close(dev);
	EXPECT_EQ(channels + 100, mpk_stat("channels"));
	ASSERT_EQ(0, delete_module("mpklink", O_NONBLOCK));
	ASSERT_EQ(0, load_module(ko));
	EXPECT_EQ(0, mpk_kmsg_count(kmsg, "not freed", NULL, 0));
	close(kmsg);
	EXPECT_EQ(0, mpk_stat("channels"));
	EXPECT_EQ(0, mpk_stat("pages"));
	dev = mpk_dev();
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, ioctl(dev, MPKLINK_IOC_LIST, &list));
	EXPECT_EQ(0, list.count);
	close(dev);
}

TEST(unload_then_reload)
{
	const char *ko = getenv("MPKLINK_KO");
	struct stat st;

	if (!ko)
		SKIP(return, "MPKLINK_KO not set: cannot reload the module");
	ASSERT_EQ(0, delete_module("mpklink", O_NONBLOCK));
	EXPECT_EQ(-1, stat(DEVICE, &st));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, access("/sys/module/mpklink", F_OK));
	ASSERT_EQ(0, load_module(ko)) TH_LOG("finit_module(%s): %s", ko,
					     strerror(errno));
	ASSERT_EQ(0, stat(DEVICE, &st));
	EXPECT_EQ(0666, st.st_mode & 07777);
}

TEST_HARNESS_MAIN
