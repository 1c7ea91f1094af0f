/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the mpklink selftests: thin wrappers over the uapi that
 * return -errno, channel names unique per test, running code as another
 * user in a child, and reading the module's counters.
 */
#ifndef MPKLINK_TEST_H
#define MPKLINK_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/mpklink.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define MPK_PAGE		4096UL
#define MPK_SEGMENT		(16 * MPK_PAGE)
#define MPK_TEST_UID		1000
#define MPK_TEST_GID		1000
#define MPK_OTHER_UID		1001
#define MPK_OTHER_GID		1001

static inline int mpk_ret(int ret)
{
	return ret < 0 ? -errno : ret;
}

static inline int mpk_dev(void)
{
	return open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

/* A channel name unique to this process and call. */
static inline void mpk_name(char *name, const char *tag)
{
	static unsigned int seq;

	snprintf(name, MPKLINK_NAME_MAX, "t.%s.%d.%u", tag, getpid(), seq++);
}

static inline int mpk_create_n(int dev, const char *name, __u64 segment,
			       __u32 members)
{
	struct mpklink_create req = {
		.size = sizeof(req),
		.segment_size = segment,
		.max_members = members,
	};

	snprintf(req.name, sizeof(req.name), "%s", name);
	return mpk_ret(ioctl(dev, MPKLINK_IOC_CREATE, &req));
}

static inline int mpk_create(int dev, const char *name)
{
	return mpk_create_n(dev, name, MPK_SEGMENT, 0);
}

static inline int mpk_destroy(int dev, const char *name)
{
	struct mpklink_destroy req = { .size = sizeof(req) };

	snprintf(req.name, sizeof(req.name), "%s", name);
	return mpk_ret(ioctl(dev, MPKLINK_IOC_DESTROY, &req));
}

static inline struct mpklink_principal mpk_by_uid(uid_t uid)
{
	struct mpklink_principal p = { .match = MPKLINK_MATCH_UID, .uid = uid };

	return p;
}

static inline struct mpklink_principal mpk_by_gid(gid_t gid)
{
	struct mpklink_principal p = { .match = MPKLINK_MATCH_GID, .gid = gid };

	return p;
}

static inline struct mpklink_principal mpk_by_cgroup(const char *path)
{
	struct mpklink_principal p = { .match = MPKLINK_MATCH_CGROUP };

	snprintf(p.cgroup, sizeof(p.cgroup), "%s", path);
	return p;
}

static inline int mpk_grant_ioc(int dev, unsigned long cmd, const char *name,
				const struct mpklink_principal *p,
				__u32 rights)
{
	struct mpklink_grant req = {
		.size = sizeof(req),
		.rights = rights,
		.principal = *p,
	};

	snprintf(req.name, sizeof(req.name), "%s", name);
	return mpk_ret(ioctl(dev, cmd, &req));
}

static inline int mpk_grant(int dev, const char *name,
			    struct mpklink_principal p, __u32 rights)
{
	return mpk_grant_ioc(dev, MPKLINK_IOC_GRANT, name, &p, rights);
}

static inline int mpk_revoke(int dev, const char *name,
			     struct mpklink_principal p)
{
	return mpk_grant_ioc(dev, MPKLINK_IOC_REVOKE, name, &p, 0);
}

/* Attaches; returns the channel fd or -errno.  @out may be NULL. */
static inline int mpk_attach_flags(int dev, const char *name, __u32 flags,
				   int pkey, struct mpklink_attach *out)
{
	struct mpklink_attach req = {
		.size = sizeof(req),
		.flags = flags,
		.pkey = pkey,
	};
	int fd;

	snprintf(req.name, sizeof(req.name), "%s", name);
	fd = mpk_ret(ioctl(dev, MPKLINK_IOC_ATTACH, &req));
	if (out)
		*out = req;
	return fd;
}

static inline int mpk_attach(int dev, const char *name,
			     struct mpklink_attach *out)
{
	return mpk_attach_flags(dev, name, 0, 0, out);
}

/* Attaches from a fresh /dev/mpklink fd, for children. */
static inline int mpk_attach_fresh(const char *name, struct mpklink_attach *out)
{
	int dev = mpk_dev(), fd;

	if (out)
		memset(out, 0, sizeof(*out));
	if (dev < 0)
		return -errno ?: -ENODEV;
	fd = mpk_attach(dev, name, out);
	close(dev);
	return fd;
}

static inline __u64 mpk_slot_offset(const struct mpklink_attach *a,
				    __u32 slot)
{
	return MPKLINK_DIR_SIZE + (__u64)slot * a->slot_size;
}

/* Maps @len bytes at channel offset @off; MAP_FAILED with errno on error. */
static inline void *mpk_map(int fd, __u64 off, size_t len, int prot)
{
	return mmap(NULL, len, prot, MAP_SHARED, fd, off);
}

/* The whole channel, read-only. */
static inline void *mpk_map_all(int fd, const struct mpklink_attach *a)
{
	return mpk_map(fd, 0, a->map_size, PROT_READ);
}

/* Bytes of the member's own writable part: control page, and segment. */
static inline size_t mpk_own_len(const struct mpklink_attach *a)
{
	size_t len = MPKLINK_CTRL_SIZE;

	if (a->rights & MPKLINK_RIGHT_WRITE)
		len += a->segment_size;
	return len;
}

/* The member's own slot, read-write: mpk_own_len() bytes. */
static inline void *mpk_map_own(int fd, const struct mpklink_attach *a)
{
	return mpk_map(fd, mpk_slot_offset(a, a->slot), mpk_own_len(a),
		       PROT_READ | PROT_WRITE);
}

/* One line of /sys/kernel/debug/mpklink/stats, or -1. */
static inline long mpk_stat(const char *key)
{
	FILE *f = fopen("/sys/kernel/debug/mpklink/stats", "r");
	char k[64];
	long v, found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", k, &v) == 2)
		if (!strcmp(k, key))
			found = v;
	fclose(f);
	return found;
}

/*
 * Whether this is a debug kernel (kmemleak, as "make debug-kernel-check"
 * builds it, with KASAN and lockdep): everything runs several times slower
 * and KASAN keeps freed objects in quarantine, so timings and slab sizes
 * measured there mean nothing; kmemleak reports leaks itself.
 */
/* Rings the members in @slots from channel fd @fd: how many, or -errno. */
static inline int mpk_ring(int fd, __u64 slots)
{
	struct mpklink_notify req = { .size = sizeof(req), .slots = slots };

	return mpk_ret(ioctl(fd, MPKLINK_CHAN_IOC_NOTIFY, &req));
}

/* A thread: 50 ms from now, member fds[0] rings the member in slot fds[1]. */
static inline void *mpk_ring_later(void *arg)
{
	int *fds = arg;

	usleep(50000);
	mpk_ring(fds[0], 1ULL << fds[1]);
	return NULL;
}

static inline int mpk_debug_kernel(void)
{
	return access("/sys/kernel/debug/kmemleak", F_OK) == 0;
}

/* Waits for @pid: its exit status, 128 + signal if killed, -1 on error. */
static inline int mpk_wait(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/*
 * Runs @fn in a child as @uid/@gid (no supplementary groups unless
 * @group, then that one).  Returns the child's exit status, 128 + signal
 * if it was killed, or -1 if it could not run.
 */
static inline int mpk_run_as(uid_t uid, gid_t gid, gid_t group,
			     int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		gid_t groups[1] = { group };

		/*
		 * Dropping root makes a process non-dumpable, which would give
		 * its /proc files to root; a real service is dumpable.
		 */
		if (setgroups(group ? 1 : 0, groups) || setresgid(gid, gid, gid) ||
		    setresuid(uid, uid, uid) || prctl(PR_SET_DUMPABLE, 1))
			_exit(125);
		_exit(fn(arg));
	}
	return mpk_wait(pid);
}

/* Runs @fn in a child of the same identity; as mpk_run_as(). */
static inline int mpk_run_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(arg));
	return mpk_wait(pid);
}

/* Child exit codes for "attach returned this errno" (0 for success). */
static inline int mpk_errno_code(int ret)
{
	return ret >= 0 ? 0 : -ret;
}

static inline int mpk_write_file(const char *path, const char *fmt, ...)
{
	va_list ap;
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -errno;
	va_start(ap, fmt);
	ret = vfprintf(f, fmt, ap) < 0 ? -EIO : 0;
	va_end(ap);
	if (fclose(f))
		ret = -errno;
	return ret;
}

/* CLOCK_MONOTONIC, in nanoseconds. */
static inline long long mpk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The kernel log from now on: /dev/kmsg at its end, non-blocking. */
static inline int mpk_kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * How many records logged since mpk_kmsg_open_at_end() contain @needle;
 * the last of them goes to @last (@size bytes, 0: not wanted).
 */
static inline int mpk_kmsg_count(int fd, const char *needle, char *last,
				 size_t size)
{
	char rec[2048];
	ssize_t n;
	int count = 0;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten meanwhile */
		if (n <= 0)
			return count;	/* EAGAIN: no more */
		rec[n] = '\0';
		if (strstr(rec, needle)) {
			count++;
			if (size)
				snprintf(last, size, "%s", rec);
		}
	}
}

/* One step of FNV-1a over a whole word: checksums of test messages. */
#define MPK_FNV_OFFSET	0xcbf29ce484222325ull

static inline uint64_t mpk_fnv(uint64_t sum, uint64_t v)
{
	return (sum ^ v) * 0x100000001b3ull;
}

/* A 64-bit finaliser (MurmurHash3's): test data that depends on every bit. */
static inline uint64_t mpk_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

#endif /* MPKLINK_TEST_H */
