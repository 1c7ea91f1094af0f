// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks on executable-digest grants: making the kernel attest a digest
 * that does not describe the code that runs.
 *
 * A channel grants uid 1001 when it runs one program (a copy of this
 * binary, patched so its digest is its own).  The attacker runs as uid
 * 1001 and does not run that program: it tries to pass for it
 *
 *  - by pointing its mm->exe_file at the granted file with
 *    prctl(PR_SET_MM_MAP) from a user namespace of its own, where it holds
 *    CAP_CHECKPOINT_RESTORE (Debian lets any user create one);
 *  - by running the granted bytes from a file system it controls: a tmpfs
 *    it mounted in a user namespace, or FUSE, whose server can hand the
 *    kernel's reads the granted bytes while the process runs others.
 *
 * Each attack is first shown to work where it should (the control: the
 * granted program itself gets in), so a refusal means the attack was
 * stopped, not that nothing could attach.  The suite ends with
 * "attacks: N tried, N blocked, N out of scope" (attack_tally.h).
 *
 * "attack_exe_test --attach NAME" is a helper mode: exe_copy.h.
 */
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <linux/prctl.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"
#include "attack_tally.h"
#include "exe_copy.h"
#include "leave_chroot.h"

#define ATTACKER_UID	MPK_OTHER_UID
#define ATTACKER_GID	MPK_OTHER_GID

FIXTURE(exe)
{
	int dev;
	char name[MPKLINK_NAME_MAX];
	char granted[64];		/* the granted program: a patched copy */
};

/* Grants the attacker's uid read on the digest of the file at @path. */
static int grant_digest_of(int dev, const char *chan, const char *path)
{
	struct mpklink_principal p = {
		.match = MPKLINK_MATCH_UID | MPKLINK_MATCH_EXE,
		.uid = ATTACKER_UID,
	};

	if (sha256_file(path, p.exe_sha256))
		return -1;
	return mpk_grant(dev, chan, p, MPKLINK_RIGHT_READ);
}

FIXTURE_SETUP(exe)
{
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->name, "atkexe");
	ASSERT_EQ(0, mpk_create(self->dev, self->name));
	snprintf(self->granted, sizeof(self->granted),
		 "/tmp/mpk-granted-%d", getpid());
	ASSERT_EQ(0, copy_self(self->granted, 1));
	ASSERT_EQ(0, grant_digest_of(self->dev, self->name, self->granted));
}

FIXTURE_TEARDOWN(exe)
{
	unlink(self->granted);
	mpk_destroy(self->dev, self->name);
	close(self->dev);
}

struct exec_args {
	const char *exe;
	const char *chan;
};

static int exec_attach(void *arg)
{
	const struct exec_args *e = arg;

	execl(e->exe, e->exe, "--attach", e->chan, (char *)NULL);
	return 126;
}

/*
 * Whether this kernel has user namespaces at all (EINVAL without
 * CONFIG_USER_NS).  Any other refusal is the environment's, and a failure:
 * Debian's kernels let any user create one.
 */
static int user_namespaces(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (leave_chroot())
			_exit(126);
		_exit(unshare(CLONE_NEWUSER) ? errno : 0);
	}
	return mpk_wait(pid);
}

/* As mpk_run_as(), out of the chroot first. */
static int run_as_attacker(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (leave_chroot() || setgroups(0, NULL) ||
		    setresgid(ATTACKER_GID, ATTACKER_GID, ATTACKER_GID) ||
		    setresuid(ATTACKER_UID, ATTACKER_UID, ATTACKER_UID) ||
		    prctl(PR_SET_DUMPABLE, 1))
			_exit(125);
		_exit(fn(arg));
	}
	return mpk_wait(pid);
}

#define REQUIRE_USER_NAMESPACES()					\
	do {								\
		if (user_namespaces() == EINVAL)			\
			SKIP(return, "this kernel has no user namespaces"); \
	} while (0)

/* --- PR_SET_MM_MAP from a user namespace --------------------------------- */

/*
 * What the attacker's code needs once its own image is gone: it runs from
 * an anonymous copy of blob_run() and calls nothing but the kernel.
 */
struct blob_args {
	unsigned long unmap_start[8];
	unsigned long unmap_len[8];
	long nr_unmap;
	struct prctl_mm_map map;
	long dev;
	struct mpklink_attach req;
	long result_fd;
	long results[3];		/* munmap, prctl, attach */
};

/* A system call with four arguments; the fifth (prctl checks it) is 0. */
#define BLOB_SYSCALL(nr, a1, a2, a3, a4)				\
({									\
	long __ret;							\
	register long __r10 asm("r10") = (long)(a4);			\
	register long __r8 asm("r8") = 0;				\
	asm volatile("syscall"						\
		     : "=a"(__ret)					\
		     : "0"((long)(nr)), "D"((long)(a1)), "S"((long)(a2)), \
		       "d"((long)(a3)), "r"(__r10), "r"(__r8)		\
		     : "rcx", "r11", "memory");				\
	__ret;								\
})

__attribute__((section("mpk_blob"), noinline, used, no_stack_protector))
static void blob_run(struct blob_args *a)
{
	long i, ret = 0;

	for (i = 0; i < a->nr_unmap && !ret; i++)
		ret = BLOB_SYSCALL(SYS_munmap, a->unmap_start[i],
				   a->unmap_len[i], 0, 0);
	a->results[0] = ret;
	a->results[1] = a->results[2] = -1;
	if (!ret) {
		a->results[1] = BLOB_SYSCALL(SYS_prctl, PR_SET_MM,
					     PR_SET_MM_MAP, &a->map,
					     sizeof(a->map));
		if (!a->results[1])
			a->results[2] = BLOB_SYSCALL(SYS_ioctl, a->dev,
						     MPKLINK_IOC_ATTACH,
						     &a->req, 0);
	}
	BLOB_SYSCALL(SYS_write, a->result_fd, a->results,
		     sizeof(a->results), 0);
	for (;;)
		BLOB_SYSCALL(SYS_exit_group, 0, 0, 0, 0);
}

extern const char __start_mpk_blob[], __stop_mpk_blob[];

/* The mm fields PR_SET_MM_MAP wants, as they are: /proc/self/stat. */
static int read_mm_map(struct prctl_mm_map *m)
{
	unsigned long long v[52] = { 0 };
	char buf[4096], *p;
	ssize_t n;
	int fd, field;

	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');		/* after comm, which may hold spaces */
	if (!p)
		return -1;
	/* Field 3 (state) follows ") ". */
	for (field = 3, p += 2; *p && field < 52; field++) {
		v[field] = strtoull(p, &p, 10);
		while (*p == ' ' || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= 'a' && *p <= 'z'))
			p++;
	}
	memset(m, 0, sizeof(*m));
	m->start_code = v[26];
	m->end_code = v[27];
	m->start_stack = v[28];
	m->start_data = v[45];
	m->end_data = v[46];
	m->start_brk = v[47];
	m->brk = (unsigned long)sbrk(0);
	m->arg_start = v[48];
	m->arg_end = v[49];
	m->env_start = v[50];
	m->env_end = v[51];
	return m->start_code && m->end_code ? 0 : -1;
}

/* Every mapping of this process's executable goes into @a. */
static int find_own_image(struct blob_args *a)
{
	char exe[PATH_MAX], line[PATH_MAX + 128];
	unsigned long start, end;
	ssize_t len;
	FILE *maps;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return -1;
	exe[len] = '\0';
	maps = fopen("/proc/self/maps", "re");
	if (!maps)
		return -1;
	while (fgets(line, sizeof(line), maps)) {
		char *path = strchr(line, '/');

		if (!path || sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (strcmp(path, exe) || a->nr_unmap == 8)
			continue;
		a->unmap_start[a->nr_unmap] = start;
		a->unmap_len[a->nr_unmap] = end - start;
		a->nr_unmap++;
	}
	fclose(maps);
	return a->nr_unmap ? 0 : -1;
}

struct masquerade {
	const char *granted;
	const char *chan;
	int result_fd;
};

/*
 * As the attacker: a user namespace of its own, its image unmapped, and
 * mm->exe_file pointed at the granted program; then attach.  Reports what
 * each step returned through the pipe; returns 0, or where it got stuck.
 */
static int masquerade(void *arg)
{
	const struct masquerade *m = arg;
	struct blob_args *a;
	/* The linker's bounds of the section: addresses, not one object. */
	size_t blob_len = (uintptr_t)__stop_mpk_blob - (uintptr_t)__start_mpk_blob;
	void *code;
	int exe_fd;

	/* In anonymous memory: the image's data goes with it. */
	a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	code = mmap(NULL, blob_len, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || code == MAP_FAILED)
		return 2;
	memset(a, 0, sizeof(*a));
	a->req.size = sizeof(a->req);
	snprintf(a->req.name, sizeof(a->req.name), "%s", m->chan);
	a->dev = mpk_dev();
	exe_fd = open(m->granted, O_RDONLY | O_CLOEXEC);
	if (a->dev < 0 || exe_fd < 0)
		return 3;
	if (unshare(CLONE_NEWUSER))
		return 4;
	if (read_mm_map(&a->map) || find_own_image(a))
		return 5;
	a->map.exe_fd = exe_fd;
	a->result_fd = m->result_fd;
	memcpy(code, __start_mpk_blob, blob_len);
	((void (*)(struct blob_args *))code)(a);
	return 6;			/* not reached */
}

TEST_F(exe, exe_file_replaced_by_pr_set_mm_map_in_a_user_namespace_is_refused)
{
	struct exec_args granted = { .exe = self->granted, .chan = self->name };
	struct masquerade m = { .granted = self->granted, .chan = self->name };
	long results[3] = { 0 };
	int pipefd[2];

	REQUIRE_USER_NAMESPACES();
	/* The control: the granted program itself is admitted. */
	ASSERT_EQ(0, mpk_run_as(ATTACKER_UID, ATTACKER_GID, 0, exec_attach,
				&granted));

	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	m.result_fd = pipefd[1];
	ASSERT_EQ(0, run_as_attacker(masquerade, &m));
	close(pipefd[1]);
	ASSERT_EQ((ssize_t)sizeof(results),
		  read(pipefd[0], results, sizeof(results)));
	close(pipefd[0]);
	/* The attack's steps worked: its exe_file is the granted program. */
	ASSERT_EQ(0, results[0]) TH_LOG("munmap of the image: %ld", results[0]);
	ASSERT_EQ(0, results[1]) TH_LOG("PR_SET_MM_MAP: %ld", results[1]);
	/* And the kernel did not take exe_file's word for it. */
	EXPECT_EQ(-EACCES, results[2]);
}

/* --- the granted bytes on a file system the attacker mounted ------------- */

struct userns_mount {
	char dir[64];
	int ready[2];			/* the mounter says it is ready */
	int done[2];			/* the test says it may go */
};

/*
 * As the attacker: a user and mount namespace of its own, a tmpfs there
 * holding a copy of the granted program; then waits for the test.
 */
static int mount_in_userns(void *arg)
{
	struct userns_mount *u = arg;
	char path[128], c = 0;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS))
		return 2;
	if (mpk_write_file("/proc/self/setgroups", "deny") ||
	    mpk_write_file("/proc/self/uid_map", "0 %d 1", ATTACKER_UID) ||
	    mpk_write_file("/proc/self/gid_map", "0 %d 1", ATTACKER_GID))
		return 3;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("mpk", u->dir, "tmpfs", 0, "mode=0755"))
		return 4;
	snprintf(path, sizeof(path), "%s/granted", u->dir);
	if (copy_self(path, 1))
		return 5;
	if (write(u->ready[1], &c, 1) != 1)
		return 6;
	return read(u->done[0], &c, 1) >= 0 ? 0 : 7;
}

TEST_F(exe, granted_program_on_a_tmpfs_mounted_in_a_user_namespace_is_refused)
{
	struct exec_args e = { .chan = self->name };
	struct userns_mount u;
	char path[160], c;
	pid_t mounter;

	REQUIRE_USER_NAMESPACES();
	ASSERT_EQ(0, mpk_run_as(ATTACKER_UID, ATTACKER_GID, 0, exec_attach,
				&(struct exec_args){ self->granted, self->name }));

	snprintf(u.dir, sizeof(u.dir), "/tmp/mpk-userns-%d", getpid());
	ASSERT_EQ(0, mkdir(u.dir, 0777));
	ASSERT_EQ(0, pipe2(u.ready, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(u.done, O_CLOEXEC));
	mounter = fork();
	ASSERT_LE(0, mounter);
	if (mounter == 0) {
		close(u.ready[0]);
		close(u.done[1]);
		/* As run_as_attacker(), but its pid is the one that mounts. */
		if (leave_chroot() || setgroups(0, NULL) ||
		    setresgid(ATTACKER_GID, ATTACKER_GID, ATTACKER_GID) ||
		    setresuid(ATTACKER_UID, ATTACKER_UID, ATTACKER_UID) ||
		    prctl(PR_SET_DUMPABLE, 1))
			_exit(125);
		_exit(mount_in_userns(&u));
	}
	close(u.ready[1]);
	close(u.done[0]);
	ASSERT_EQ(1, read(u.ready[0], &c, 1)) TH_LOG("the mounter failed");

	/*
	 * The attacker's other process, in the initial namespaces, runs the
	 * bytes from there: the same digest as the granted program.
	 */
	snprintf(path, sizeof(path), "/proc/%d/root%s/granted", mounter,
		 u.dir);
	e.exe = path;
	EXPECT_EQ(EACCES, mpk_run_as(ATTACKER_UID, ATTACKER_GID, 0,
				     exec_attach, &e));
	close(u.done[1]);
	EXPECT_EQ(0, mpk_wait(mounter));
	close(u.ready[0]);
	rmdir(u.dir);
}

/* The granted bytes served by FUSE: bindfs of a directory holding them. */
TEST_F(exe, granted_program_served_by_fuse_is_refused)
{
	char src[64], mnt[64], cmd[256], path[128];
	struct exec_args e = { .chan = self->name };

	/* Debian's 6.1 has FUSE as a module; a kernel may not have it. */
	if (access("/dev/fuse", F_OK) && system("modprobe fuse") &&
	    system("grep -qw fuse /proc/filesystems"))
		SKIP(return, "this kernel has no FUSE");
	ASSERT_EQ(0, access("/dev/fuse", F_OK));
	snprintf(src, sizeof(src), "/tmp/mpk-fuse-src-%d", getpid());
	snprintf(mnt, sizeof(mnt), "/tmp/mpk-fuse-mnt-%d", getpid());
	ASSERT_EQ(0, mkdir(src, 0755));
	ASSERT_EQ(0, mkdir(mnt, 0755));
	snprintf(path, sizeof(path), "%s/granted", src);
	ASSERT_EQ(0, copy_self(path, 1));
	/* The control: the granted program, from the directory FUSE serves. */
	e.exe = path;
	ASSERT_EQ(0, mpk_run_as(ATTACKER_UID, ATTACKER_GID, 0, exec_attach, &e));

	snprintf(cmd, sizeof(cmd), "bindfs -o allow_other %s %s", src, mnt);
	ASSERT_EQ(0, system(cmd));
	snprintf(path, sizeof(path), "%s/granted", mnt);
	e.exe = path;
	EXPECT_EQ(EACCES, mpk_run_as(ATTACKER_UID, ATTACKER_GID, 0,
				     exec_attach, &e));
	EXPECT_EQ(0, umount2(mnt, MNT_DETACH));
	snprintf(path, sizeof(path), "%s/granted", src);
	unlink(path);
	rmdir(src);
	rmdir(mnt);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--attach"))
		return attach_helper(argv[2]);
	(void)patch_marker[0];
	attack_tally_start();
	return test_harness_run(argc, argv);
}
