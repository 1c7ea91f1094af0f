// SPDX-License-Identifier: GPL-2.0
/*
 * Attach: the kernel attests the process (uid, gid, executable digest,
 * cgroup) against the channel's grants, refuses traced processes, logs
 * refusals (rate-limited), and hands out a close-on-exec fd bound to the
 * attaching process.
 *
 * "attach_test --attach NAME" is a helper mode: attach to NAME and exit
 * with 0 or the errno.  Copies of this binary, patched or not, run it to
 * test digest grants.
 */
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"
#include "exe_copy.h"

FIXTURE(attach)
{
	int dev;
	char chan[MPKLINK_NAME_MAX];
};

FIXTURE_SETUP(attach)
{
	ASSERT_EQ(0, sodium_init() < 0);
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->chan, "attach");
	ASSERT_EQ(0, mpk_create(self->dev, self->chan));
}

FIXTURE_TEARDOWN(attach)
{
	mpk_destroy(self->dev, self->chan);
	close(self->dev);
}

static int attach_child(void *name)
{
	return mpk_errno_code(mpk_attach_fresh(name, NULL));
}

TEST_F(attach, matching_uid_attaches)
{
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(MPK_TEST_UID),
			       MPKLINK_RIGHTS_ALL));
	EXPECT_EQ(0, mpk_run_as(MPK_TEST_UID, MPK_TEST_GID, 0, attach_child,
				self->chan));
}

TEST_F(attach, wrong_uid_is_refused_with_eacces)
{
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(MPK_TEST_UID),
			       MPKLINK_RIGHTS_ALL));
	EXPECT_EQ(EACCES, mpk_run_as(MPK_OTHER_UID, MPK_OTHER_GID, 0,
				     attach_child, self->chan));
}

TEST_F(attach, supplementary_gid_matches)
{
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_gid(2000),
			       MPKLINK_RIGHT_READ));
	EXPECT_EQ(0, mpk_run_as(MPK_TEST_UID, MPK_TEST_GID, 2000, attach_child,
				self->chan));
}

TEST_F(attach, wrong_gid_is_refused_with_eacces)
{
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_gid(2000),
			       MPKLINK_RIGHT_READ));
	EXPECT_EQ(EACCES, mpk_run_as(MPK_TEST_UID, MPK_TEST_GID, 2001,
				     attach_child, self->chan));
}

TEST_F(attach, all_named_fields_must_match)
{
	struct mpklink_principal p = mpk_by_uid(MPK_TEST_UID);

	p.match |= MPKLINK_MATCH_GID;
	p.gid = 2000;
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, p, MPKLINK_RIGHT_READ));
	EXPECT_EQ(EACCES, mpk_run_as(MPK_TEST_UID, MPK_TEST_GID, 0,
				     attach_child, self->chan));
	EXPECT_EQ(0, mpk_run_as(MPK_TEST_UID, MPK_TEST_GID, 2000, attach_child,
				self->chan));
}

TEST_F(attach, rights_are_the_union_of_matching_grants)
{
	struct mpklink_attach a;
	int fd;

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_gid(0),
			       MPKLINK_RIGHT_WRITE));
	fd = mpk_attach(self->dev, self->chan, &a);
	ASSERT_LE(0, fd);
	EXPECT_EQ(MPKLINK_RIGHTS_ALL, a.rights);
	close(fd);
}

TEST_F(attach, executable_digest_grant_matches_any_copy_with_same_bytes)
{
	struct mpklink_principal p = { .match = MPKLINK_MATCH_EXE };
	char copy[64];

	ASSERT_EQ(0, sha256_file("/proc/self/exe", p.exe_sha256));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, p, MPKLINK_RIGHT_READ));
	EXPECT_EQ(0, mpk_run_child(attach_child, self->chan));
	snprintf(copy, sizeof(copy), "/tmp/mpk-copy-%d", getpid());
	ASSERT_EQ(0, copy_self(copy, 0));
	EXPECT_EQ(0, run_helper(copy, self->chan));
	unlink(copy);
}

TEST_F(attach, executable_with_one_byte_changed_is_refused)
{
	struct mpklink_principal p = { .match = MPKLINK_MATCH_EXE };
	char patched[64];

	ASSERT_EQ(0, sha256_file("/proc/self/exe", p.exe_sha256));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, p, MPKLINK_RIGHT_READ));
	snprintf(patched, sizeof(patched), "/tmp/mpk-patched-%d", getpid());
	ASSERT_EQ(0, copy_self(patched, 1));
	EXPECT_EQ(EACCES, run_helper(patched, self->chan));
	unlink(patched);
}

TEST_F(attach, digest_cache_notices_a_file_changed_in_place)
{
	struct mpklink_principal p = { .match = MPKLINK_MATCH_EXE };
	char copy[64];

	ASSERT_EQ(0, sha256_file("/proc/self/exe", p.exe_sha256));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, p, MPKLINK_RIGHT_READ));
	snprintf(copy, sizeof(copy), "/tmp/mpk-inplace-%d", getpid());
	ASSERT_EQ(0, copy_self(copy, 0));
	ASSERT_EQ(0, run_helper(copy, self->chan));	/* now cached */
	ASSERT_EQ(0, patch_in_place(copy, '1'));
	EXPECT_EQ(EACCES, run_helper(copy, self->chan));
	ASSERT_EQ(0, patch_in_place(copy, '0'));
	EXPECT_EQ(0, run_helper(copy, self->chan));
	unlink(copy);
}

/* cgroup tests: a cgroup of our own under the cgroup2 root. */
static int cgroup_attach_child(void *arg)
{
	char **args = arg;	/* { cgroup dir, channel } */
	char procs[256];

	snprintf(procs, sizeof(procs), "/sys/fs/cgroup%s/cgroup.procs", args[0]);
	if (mpk_write_file(procs, "0\n"))
		return 99;
	return mpk_errno_code(mpk_attach_fresh(args[1], NULL));
}

TEST_F(attach, cgroup_grant_matches_the_cgroup_and_below_only)
{
	char base[64], inner[96], sibling[96], dir[160];
	char *args[2] = { NULL, self->chan };

	snprintf(base, sizeof(base), "/mpk-%d", getpid());
	snprintf(inner, sizeof(inner), "%s/inner", base);
	snprintf(sibling, sizeof(sibling), "%sx", base); /* shares a prefix */
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", base);
	ASSERT_EQ(0, mkdir(dir, 0755));
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", inner);
	ASSERT_EQ(0, mkdir(dir, 0755));
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", sibling);
	ASSERT_EQ(0, mkdir(dir, 0755));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_cgroup(base),
			       MPKLINK_RIGHT_READ));

	args[0] = base;
	EXPECT_EQ(0, mpk_run_child(cgroup_attach_child, args));
	args[0] = inner;
	EXPECT_EQ(0, mpk_run_child(cgroup_attach_child, args));
	args[0] = sibling;
	EXPECT_EQ(EACCES, mpk_run_child(cgroup_attach_child, args));
	EXPECT_EQ(EACCES, mpk_run_child(attach_child, self->chan));

	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", inner);
	EXPECT_EQ(0, rmdir(dir));
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", base);
	EXPECT_EQ(0, rmdir(dir));
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", sibling);
	EXPECT_EQ(0, rmdir(dir));
}

static int traced_attach_child(void *name)
{
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
		return 99;
	return mpk_errno_code(mpk_attach_fresh(name, NULL));
}

TEST_F(attach, traced_process_is_refused_with_eperm)
{
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	EXPECT_EQ(EPERM, mpk_run_child(traced_attach_child, self->chan));
	EXPECT_EQ(0, mpk_run_child(attach_child, self->chan));
}

TEST_F(attach, refusal_is_logged_with_pid_comm_uid_and_channel)
{
	char needle[128], line[2048] = "", want[160];
	int kmsg, status;
	pid_t pid;

	/*
	 * Earlier tests were refused too: let the limiter's window (5 s, 10
	 * lines) start afresh.  The next test runs inside this window.
	 */
	sleep(6);
	kmsg = mpk_kmsg_open_at_end();
	ASSERT_LE(0, kmsg);
	pid = fork();
	if (pid == 0) {
		if (setresuid(MPK_TEST_UID, MPK_TEST_UID, MPK_TEST_UID))
			_exit(99);
		_exit(mpk_errno_code(mpk_attach_fresh(self->chan, NULL)));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(EACCES, WEXITSTATUS(status));
	snprintf(needle, sizeof(needle), "attach to channel %s denied", self->chan);
	ASSERT_EQ(1, mpk_kmsg_count(kmsg, needle, line, sizeof(line)));
	snprintf(want, sizeof(want), "pid %d comm attach_test uid %d", pid,
		 MPK_TEST_UID);
	EXPECT_NE(NULL, strstr(line, want)) {
		TH_LOG("log line: %s", line);
	}
	close(kmsg);
}

TEST_F(attach, refusals_are_rate_limited)
{
	char needle[128], line[2048];
	int kmsg, i, logged;

	kmsg = mpk_kmsg_open_at_end();
	ASSERT_LE(0, kmsg);
	for (i = 0; i < 200; i++)
		ASSERT_EQ(-EACCES, mpk_attach(self->dev, self->chan, NULL));
	snprintf(needle, sizeof(needle), "attach to channel %s denied", self->chan);
	logged = mpk_kmsg_count(kmsg, needle, line, sizeof(line));
	EXPECT_LE(1, logged);
	EXPECT_GE(10, logged);
	close(kmsg);
}

TEST_F(attach, channel_fd_is_close_on_exec)
{
	int fd;

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	fd = mpk_attach(self->dev, self->chan, NULL);
	ASSERT_LE(0, fd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

TEST_F(attach, attach_reports_rights_slot_key_and_geometry)
{
	struct mpklink_attach a, info = { .size = sizeof(info) };
	int fd;

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	fd = mpk_attach(self->dev, self->chan, &a);
	ASSERT_LE(0, fd);
	EXPECT_EQ(MPKLINK_RIGHTS_ALL, a.rights);
	EXPECT_EQ(0, a.slot);
	EXPECT_LT(0, a.pkey);
	EXPECT_GT(16, a.pkey);
	EXPECT_EQ(16, a.max_members);
	EXPECT_EQ(MPK_SEGMENT, a.segment_size);
	EXPECT_EQ(MPKLINK_CTRL_SIZE + MPK_SEGMENT, a.slot_size);
	EXPECT_EQ(MPKLINK_DIR_SIZE + 16 * a.slot_size, a.map_size);
	ASSERT_EQ(0, ioctl(fd, MPKLINK_CHAN_IOC_INFO, &info));
	EXPECT_EQ(0, memcmp(&a, &info, sizeof(a)));
	close(fd);
}

static int use_inherited_fd(void *arg)
{
	int fd = *(int *)arg;
	struct mpklink_attach info = { .size = sizeof(info) };
	void *p;

	if (ioctl(fd, MPKLINK_CHAN_IOC_INFO, &info) == 0 || errno != EACCES)
		return 1;
	p = mmap(NULL, MPK_PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED || errno != EACCES)
		return 2;
	return 0;
}

TEST_F(attach, channel_fd_is_useless_in_another_process)
{
	int fd;

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	fd = mpk_attach(self->dev, self->chan, NULL);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, mpk_run_child(use_inherited_fd, &fd));
	close(fd);
}

TEST_F(attach, second_channel_can_share_the_first_ones_key)
{
	char other[MPKLINK_NAME_MAX];
	struct mpklink_attach a, b;
	int fa, fb, user_key;

	mpk_name(other, "other");
	ASSERT_EQ(0, mpk_create(self->dev, other));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	ASSERT_EQ(0, mpk_grant(self->dev, other, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	fa = mpk_attach(self->dev, self->chan, &a);
	ASSERT_LE(0, fa);
	fb = mpk_attach_flags(self->dev, other, MPKLINK_ATTACH_SHARE_PKEY,
			      a.pkey, &b);
	ASSERT_LE(0, fb);
	EXPECT_EQ(a.pkey, b.pkey);

	/* A key the process allocated itself is not mpklink's to share. */
	user_key = pkey_alloc(0, 0);
	ASSERT_LE(0, user_key);
	EXPECT_EQ(-EINVAL, mpk_attach_flags(self->dev, other,
					    MPKLINK_ATTACH_SHARE_PKEY,
					    user_key, NULL));
	pkey_free(user_key);
	close(fa);
	close(fb);
	EXPECT_EQ(0, mpk_destroy(self->dev, other));
}

static int attach_without_free_keys(void *name)
{
	struct mpklink_attach a;
	int fd, shared;

	fd = mpk_attach_fresh(name, &a);
	if (fd < 0)
		return 10;
	while (pkey_alloc(0, 0) >= 0)
		;
	if (mpk_attach_fresh(name, NULL) != -ENOSPC)
		return 11;
	shared = mpk_attach_flags(mpk_dev(), name, MPKLINK_ATTACH_SHARE_PKEY,
				  a.pkey, NULL);
	return shared >= 0 ? 0 : 12;
}

TEST_F(attach, no_free_key_is_enospc_unless_sharing)
{
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	EXPECT_EQ(0, mpk_run_child(attach_without_free_keys, self->chan));
}

TEST_F(attach, destroyed_channel_cannot_be_attached)
{
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	ASSERT_EQ(0, mpk_destroy(self->dev, self->chan));
	EXPECT_EQ(-ENOENT, mpk_attach(self->dev, self->chan, NULL));
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--attach"))
		return attach_helper(argv[2]);
	(void)patch_marker[0];
	return test_harness_run(argc, argv);
}
