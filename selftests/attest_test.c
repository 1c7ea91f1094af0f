// SPDX-License-Identifier: GPL-2.0
/*
 * Attestation and grants: when the kernel hashes an executable (only for
 * an attach a digest grant could admit, and only up to max_exe_size), that
 * its digest cache lets file systems go, that rotating a grant's public
 * key reaches live members, who may administer through which fd, and what
 * a denial logs.
 *
 * "attest_test --attach NAME" is a helper mode: exe_copy.h.
 */
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"
#include "exe_copy.h"

#define MAX_EXE_SIZE	"/sys/module/mpklink/parameters/max_exe_size"

FIXTURE(attest)
{
	int dev;
	char name[MPKLINK_NAME_MAX];
};

FIXTURE_SETUP(attest)
{
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->name, "attest");
	ASSERT_EQ(0, mpk_create(self->dev, self->name));
}

FIXTURE_TEARDOWN(attest)
{
	mpk_destroy(self->dev, self->name);
	close(self->dev);
}

static struct mpklink_principal by_uid_and_exe(uid_t uid, const char *path)
{
	struct mpklink_principal p = {
		.match = MPKLINK_MATCH_UID | MPKLINK_MATCH_EXE, .uid = uid,
	};

	if (sha256_file(path, p.exe_sha256))
		memset(p.exe_sha256, 0xee, sizeof(p.exe_sha256));
	return p;
}

TEST_F(attest, attach_to_a_channel_without_digest_grants_hashes_nothing)
{
	long before = mpk_stat("exe_hashes");
	int fd;

	ASSERT_LE(0, before);
	ASSERT_EQ(0, mpk_grant(self->dev, self->name, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	fd = mpk_attach(self->dev, self->name, NULL);
	ASSERT_LE(0, fd);
	EXPECT_EQ(before, mpk_stat("exe_hashes"));
	close(fd);
}

TEST_F(attest, digest_grant_for_another_user_hashes_nothing)
{
	long before = mpk_stat("exe_hashes");

	ASSERT_EQ(0, mpk_grant(self->dev, self->name,
			       by_uid_and_exe(MPK_OTHER_UID, "/proc/self/exe"),
			       MPKLINK_RIGHT_READ));
	EXPECT_EQ(-EACCES, mpk_attach(self->dev, self->name, NULL));
	EXPECT_EQ(before, mpk_stat("exe_hashes"));
}

TEST_F(attest, digest_is_hashed_once_while_a_member_attested_with_it_lives)
{
	long before = mpk_stat("exe_hashes");
	int first, second, third;

	ASSERT_EQ(0, mpk_grant(self->dev, self->name,
			       by_uid_and_exe(0, "/proc/self/exe"),
			       MPKLINK_RIGHT_READ));
	first = mpk_attach(self->dev, self->name, NULL);
	ASSERT_LE(0, first);
	EXPECT_EQ(before + 1, mpk_stat("exe_hashes"));
	second = mpk_attach(self->dev, self->name, NULL);
	ASSERT_LE(0, second);
	EXPECT_EQ(before + 1, mpk_stat("exe_hashes"));
	close(first);
	close(second);
	/* The cache entry went with its last member. */
	third = mpk_attach(self->dev, self->name, NULL);
	ASSERT_LE(0, third);
	EXPECT_EQ(before + 2, mpk_stat("exe_hashes"));
	close(third);
}

static long read_long(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f && fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

TEST_F(attest, executable_larger_than_max_exe_size_is_refused_unhashed)
{
	long saved = read_long(MAX_EXE_SIZE), before;
	char kmsg_pid[64], last[2048];
	int log, err;

	ASSERT_LT(0, saved);
	ASSERT_EQ(0, mpk_grant(self->dev, self->name,
			       by_uid_and_exe(0, "/proc/self/exe"),
			       MPKLINK_RIGHT_READ));
	log = mpk_kmsg_open_at_end();
	ASSERT_LE(0, log);
	ASSERT_EQ(0, mpk_write_file(MAX_EXE_SIZE, "4096"));
	before = mpk_stat("exe_hashes");
	err = mpk_attach(self->dev, self->name, NULL);
	ASSERT_EQ(0, mpk_write_file(MAX_EXE_SIZE, "%ld", saved));
	EXPECT_EQ(-EACCES, err);
	EXPECT_EQ(before, mpk_stat("exe_hashes"));
	/* The denial says why (unless rate-limited after earlier ones). */
	snprintf(kmsg_pid, sizeof(kmsg_pid), "denied: pid %d ", getpid());
	if (mpk_kmsg_count(log, kmsg_pid, last, sizeof(last)))
		EXPECT_NE(NULL, strstr(last, "larger than max_exe_size"))
			TH_LOG("%s", last);
	close(log);
}

static int list_members(int dev, const char *chan,
			struct mpklink_member_info *m, __u32 n)
{
	struct mpklink_listing req = {
		.size = sizeof(req), .entry_size = sizeof(*m),
		.count = n, .entries = (__u64)(uintptr_t)m,
	};

	snprintf(req.name, sizeof(req.name), "%s", chan);
	if (ioctl(dev, MPKLINK_IOC_MEMBERS, &req))
		return -errno;
	return req.count;
}

TEST_F(attest, listing_shows_a_digest_only_for_members_it_was_hashed_for)
{
	unsigned char digest[32], zero[32] = { 0 };
	struct mpklink_member_info m[2];
	char other[MPKLINK_NAME_MAX];
	int fd, fd2;

	ASSERT_EQ(0, sha256_file("/proc/self/exe", digest));
	ASSERT_EQ(0, mpk_grant(self->dev, self->name,
			       by_uid_and_exe(0, "/proc/self/exe"),
			       MPKLINK_RIGHT_READ));
	fd = mpk_attach(self->dev, self->name, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, list_members(self->dev, self->name, m, 2));
	EXPECT_EQ(MPKLINK_MEMBER_EXE, m[0].flags & MPKLINK_MEMBER_EXE);
	EXPECT_EQ(0, memcmp(digest, m[0].exe_sha256, 32));

	mpk_name(other, "attest-uid");
	ASSERT_EQ(0, mpk_create(self->dev, other));
	ASSERT_EQ(0, mpk_grant(self->dev, other, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	fd2 = mpk_attach(self->dev, other, NULL);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(1, list_members(self->dev, other, m, 2));
	EXPECT_EQ(0, m[0].flags & MPKLINK_MEMBER_EXE);
	EXPECT_EQ(0, memcmp(zero, m[0].exe_sha256, 32));
	close(fd2);
	close(fd);
	mpk_destroy(self->dev, other);
}

TEST_F(attest, file_system_of_a_departed_member_unmounts)
{
	char dir[64], path[96];

	snprintf(dir, sizeof(dir), "/tmp/mpk-attest-mnt-%d", getpid());
	ASSERT_EQ(0, mkdir(dir, 0755));
	ASSERT_EQ(0, mount("mpk", dir, "tmpfs", 0, "mode=0755"));
	snprintf(path, sizeof(path), "%s/member", dir);
	ASSERT_EQ(0, copy_self(path, 0));
	ASSERT_EQ(0, mpk_grant(self->dev, self->name,
			       by_uid_and_exe(0, path), MPKLINK_RIGHT_READ));
	/* It attaches (so its digest is cached), then exits. */
	EXPECT_EQ(0, run_helper(path, self->name));
	EXPECT_EQ(0, umount2(dir, 0)) TH_LOG("umount: %s", strerror(errno));
	if (umount2(dir, MNT_DETACH) && errno != EINVAL)
		TH_LOG("detach: %s", strerror(errno));
	rmdir(dir);
}

/* --- public keys of live members ------------------------------------------ */

static int grant_key(int dev, const char *chan, int key_byte)
{
	struct mpklink_grant req = {
		.size = sizeof(req),
		.rights = MPKLINK_RIGHT_READ,
		.principal = mpk_by_uid(0),
	};

	snprintf(req.name, sizeof(req.name), "%s", chan);
	if (key_byte >= 0) {
		req.flags = MPKLINK_GRANT_PUBKEY;
		memset(req.pubkey, key_byte, sizeof(req.pubkey));
	}
	return mpk_ret(ioctl(dev, MPKLINK_IOC_GRANT, &req));
}

/* 0 when the member behind @fd is live, -EKEYREVOKED once revoked. */
static int member_state(int fd)
{
	struct mpklink_attach info = { .size = sizeof(info) };

	return mpk_ret(ioctl(fd, MPKLINK_CHAN_IOC_INFO, &info));
}

TEST_F(attest, new_public_key_revokes_members_enrolled_with_the_old)
{
	int fd;

	ASSERT_EQ(0, grant_key(self->dev, self->name, 0x11));
	fd = mpk_attach(self->dev, self->name, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, grant_key(self->dev, self->name, 0x22));
	EXPECT_EQ(-EKEYREVOKED, member_state(fd));
	close(fd);
}

TEST_F(attest, withdrawn_public_key_revokes_members_enrolled_with_it)
{
	int fd;

	ASSERT_EQ(0, grant_key(self->dev, self->name, 0x11));
	fd = mpk_attach(self->dev, self->name, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, grant_key(self->dev, self->name, -1));
	EXPECT_EQ(-EKEYREVOKED, member_state(fd));
	close(fd);
}

TEST_F(attest, same_public_key_granted_again_keeps_the_member)
{
	int fd;

	ASSERT_EQ(0, grant_key(self->dev, self->name, 0x11));
	fd = mpk_attach(self->dev, self->name, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, grant_key(self->dev, self->name, 0x11));
	EXPECT_EQ(0, member_state(fd));
	close(fd);
}

TEST_F(attest, public_key_added_later_keeps_a_member_enrolled_without)
{
	int fd;

	ASSERT_EQ(0, grant_key(self->dev, self->name, -1));
	fd = mpk_attach(self->dev, self->name, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, grant_key(self->dev, self->name, 0x11));
	EXPECT_EQ(0, member_state(fd));
	close(fd);
}

/* --- whose fd administers ---------------------------------------------------- */

static int drop_to_other_user(void)
{
	return setgroups(0, NULL) ||
	       setresgid(MPK_OTHER_GID, MPK_OTHER_GID, MPK_OTHER_GID) ||
	       setresuid(MPK_OTHER_UID, MPK_OTHER_UID, MPK_OTHER_UID);
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, c = 0;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd = -1;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

TEST_F(attest, root_cannot_administer_through_an_fd_a_user_opened)
{
	char other[MPKLINK_NAME_MAX];
	int sv[2], fd;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (drop_to_other_user())
			_exit(125);
		fd = mpk_dev();
		_exit(fd < 0 || send_fd(sv[1], fd) ? 1 : 0);
	}
	fd = recv_fd(sv[0]);
	ASSERT_EQ(0, mpk_wait(pid));
	ASSERT_LE(0, fd);
	mpk_name(other, "attest-fd");
	EXPECT_EQ(-EPERM, mpk_create(fd, other));
	EXPECT_EQ(-EPERM, mpk_destroy(fd, self->name));
	/* Attaching attests the caller, whoever opened the fd. */
	ASSERT_EQ(0, mpk_grant(self->dev, self->name, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	EXPECT_LE(0, mpk_attach(fd, self->name, NULL));
	close(fd);
	close(sv[0]);
	close(sv[1]);
	mpk_destroy(self->dev, other);
}

static int administer_as_other_user(void *arg)
{
	const int *dev = arg;
	char other[MPKLINK_NAME_MAX];

	mpk_name(other, "attest-fd2");
	return mpk_create(*dev, other) == -EPERM ? 0 : 1;
}

TEST_F(attest, user_holding_an_fd_root_opened_cannot_administer)
{
	EXPECT_EQ(0, mpk_run_as(MPK_OTHER_UID, MPK_OTHER_GID, 0,
				administer_as_other_user, &self->dev));
}

/* --- what a denial logs ------------------------------------------------------ */

struct denial {
	const char *chan;
	int report[2];			/* the denied process's host pid */
};

/* pid 1 of a new pid namespace; its host pid is what the log must show. */
static int attach_in_pid_namespace(void *arg)
{
	const struct denial *d = arg;
	pid_t pid;

	if (unshare(CLONE_NEWPID))
		return 2;
	pid = fork();
	if (pid < 0)
		return 3;
	if (pid == 0)
		_exit(mpk_attach_fresh(d->chan, NULL) == -EACCES ? 0 : 4);
	if (write(d->report[1], &pid, sizeof(pid)) != sizeof(pid))
		return 5;
	return mpk_wait(pid);
}

TEST_F(attest, denial_log_names_the_host_pid_of_a_namespaced_process)
{
	struct denial d = { .chan = self->name };
	char needle[128], last[2048];
	int log, attempt, found = 0;
	pid_t host_pid;

	ASSERT_EQ(0, pipe2(d.report, O_CLOEXEC));
	/* Denials are rate-limited (10 per 5 s): a second try waits that out. */
	for (attempt = 0; attempt < 2 && !found; attempt++) {
		if (attempt)
			sleep(6);
		log = mpk_kmsg_open_at_end();
		ASSERT_LE(0, log);
		ASSERT_EQ(0, mpk_run_child(attach_in_pid_namespace, &d));
		ASSERT_EQ((ssize_t)sizeof(host_pid),
			  read(d.report[0], &host_pid, sizeof(host_pid)));
		snprintf(needle, sizeof(needle), "%s denied: pid %d comm",
			 self->name, host_pid);
		found = mpk_kmsg_count(log, needle, last, sizeof(last));
		close(log);
	}
	EXPECT_EQ(1, found) TH_LOG("no \"%s\" in the log", needle);
	close(d.report[0]);
	close(d.report[1]);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--attach"))
		return attach_helper(argv[2]);
	(void)patch_marker[0];
	return test_harness_run(argc, argv);
}
