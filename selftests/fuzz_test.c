// SPDX-License-Identifier: GPL-2.0
/*
 * A fuzzer for /dev/mpklink and channel fds.
 *
 * Worker processes, three at a time with three threads each, throw
 * operations at the module: every ioctl with a valid argument or with one
 * field mutated (sizes, flags, reserved fields, unterminated and invalid
 * strings, numbers out of range, bad and half-mapped pointers, read-only
 * output buffers), random ioctl numbers of mpklink's type, mmap of channel
 * fds with random offsets, lengths, protections and flags, then munmap,
 * mprotect, pkey_mprotect, mremap, remap_file_pages, madvise and friends on
 * what is mapped, touching the mappings, doorbells, event reads, poll and
 * epoll.  Meanwhile threads close and dup the fds other threads use; create,
 * destroy, grant and revoke the channels being used; fork children that use
 * inherited fds, and children that attach, map and then exit or are
 * SIGKILLed; start threads; and try to unload the module.  One worker in
 * four runs as an unprivileged user, one frees protection keys it does not
 * own; some workers are SIGKILLed or exit while every thread is busy.
 * When the operations are done, the module is unloaded while a child keeps
 * opening the device, and loaded again.
 *
 * What it checks, one TAP line each, is listed in main().  Oopses, WARNINGs,
 * lockdep reports and hung tasks are found by tools/vm, which scans the
 * guest's console after every run.
 *
 * MPKLINK_FUZZ_SEED (default: from the clock) seeds everything and is
 * printed: each thread's sequence of operations follows from it (not the
 * interleaving, which is the point).  MPKLINK_FUZZ_OPS (default 100000) is
 * the number of operations in all.
 */
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include "kselftest.h"
#include "mpklink_test.h"
#include "pkey_fault.h"

#define DEFAULT_OPS	100000
#define WORKERS_AT_ONCE	3
#define THREADS		3
#define WORKER_OPS_MIN	1500
#define WORKER_OPS_MAX	5000
#define POOL		6
#define RANDOM_NAMES	16
#define TABLE_SIZE	48
#define SCRATCH_SIZE	(4 * MPK_PAGE)
/* Threads' own fds live up here, out of reach of the shared fd table. */
#define PRIVATE_FD_MIN	900
/*
 * Channel mappings are placed in a fixed range far below where the kernel
 * puts anything by itself (it allocates top-down from near the stack), so
 * MAP_FIXED there never hits the heap, a stack or a library, and anything
 * mapped there is a channel mapping.
 */
#define ARENA		((char *)0x100000000000UL)
#define ARENA_PAGES	512
#define ARENA_SIZE	(ARENA_PAGES * MPK_PAGE)
#define FUZZ_UID	1000
#define NOTES		24
#define NOTE_LEN	240
#define STALL_SECONDS	30
#define SLOW_OP_NS	(10 * 1000000000LL)
#define NUDGE_NS	(500 * 1000000LL)
#define UNCERTAIN	(-1)
#ifndef PROT_SEM
#define PROT_SEM	0x8	/* accepted and ignored on x86 */
#endif

/* Operation kinds and their weights (per mille, roughly). */
#define FOR_EACH_OP(X)							\
	X(dev_ioctl, 140) X(random_ioctl, 50) X(attach, 50)		\
	X(chan_ioctl, 110) X(read, 60) X(poll, 40) X(epoll, 30)		\
	X(mmap, 110) X(munmap, 35) X(mprotect, 30) X(pkey_mprotect, 30)	\
	X(mremap, 30) X(remap_pages, 10) X(madvise, 30) X(touch, 100)	\
	X(procmem, 15) X(close, 35) X(dup, 10) X(dev_open, 10)		\
	X(admin, 40) X(pkey, 5) X(foreign_child, 3) X(victim_child, 5)	\
	X(thread, 3) X(unload, 2)

#define OP_ENUM(name, weight) OP_##name,
enum op_kind { FOR_EACH_OP(OP_ENUM) NR_OPS };
#define OP_NAME(name, weight) #name,
static const char *const op_names[] = { FOR_EACH_OP(OP_NAME) };
#define OP_WEIGHT(name, weight) weight,
static const unsigned int op_weights[] = { FOR_EACH_OP(OP_WEIGHT) };

enum worker_kind { WORKER_ROOT, WORKER_CHAOS, WORKER_USER };
enum worker_end { END_CLEAN, END_ABRUPT, END_KILLED };

/* Shared by the parent, the workers and their children. */
struct shared {
	long target;
	atomic_int stop;
	atomic_long ops;
	atomic_long kind[NR_OPS];
	atomic_long worker_ops[WORKERS_AT_ONCE];
	atomic_long max_op_ns;
	/* The properties, counted. */
	atomic_long unexpected_errno;
	atomic_long verdicts, wrong_verdicts;
	atomic_long foreign_checks, foreign_wrong;
	atomic_long events_read, bad_events;
	atomic_long procmem_tries, procmem_leaks;
	atomic_long unloads, wrong_unloads;
	atomic_long key_checks, key_leaks;
	atomic_long children, children_bad;
	atomic_long slow_ops;
	atomic_int nr_notes;
	char notes[NOTES][NOTE_LEN];
	/* Set up by the parent. */
	bool pku;
	char prefix[32];
	char anchor[MPKLINK_NAME_MAX];
	char pool[POOL][MPKLINK_NAME_MAX];
	uint8_t exe_sha256[MPKLINK_SHA256_SIZE];
};

static struct shared *sh;

/* One per worker process (each has its own copy). */
struct watch {
	atomic_llong start_ns;		/* of the operation running, or 0 */
	atomic_int tid;
	atomic_int kind;
	atomic_int nudged;
};

struct proc {
	enum worker_kind kind;
	int slot;
	atomic_int table[TABLE_SIZE];	/* fds any thread may use or close */
	char *guard;			/* a page, then a PROT_NONE page */
	atomic_int anchor_pkey;		/* the first thread's, shared by the rest */
	atomic_int done;
	long abrupt_at;			/* ops after which a thread exits all */
	struct watch watch[THREADS];
};

static struct proc proc;

union req {
	struct mpklink_create create;
	struct mpklink_destroy destroy;
	struct mpklink_grant grant;
	struct mpklink_listing list;
	struct mpklink_attach attach;
	struct mpklink_notify notify;
	uint32_t size;
	unsigned char bytes[1024];
};

struct thr {
	uint64_t rng;
	int index;			/* -1: started by OP_thread */
	bool in_child;
	long budget;
	int dev;			/* private fds, see PRIVATE_FD_MIN */
	int chan;			/* a member of the anchor channel, or -1 */
	int epfd;
	int memfd;
	struct mpklink_attach info;	/* of chan */
	char *ro;			/* a page made read-only for output tests */
	/*
	 * What the kernel fills: listings, events, /proc/self/mem reads.  A
	 * PROT_NONE page follows it, so that a listing longer than
	 * SCRATCH_SIZE (a mutated count, a channel with many grants) ends in
	 * EFAULT instead of in the heap.
	 */
	unsigned char *scratch;
	union req req __attribute__((aligned(64)));
};

/* --- small helpers -------------------------------------------------------- */

static uint64_t rnd(struct thr *t)
{
	uint64_t z = (t->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned int below(struct thr *t, unsigned int n)
{
	return n ? rnd(t) % n : 0;
}

static bool chance(struct thr *t, unsigned int percent)
{
	return below(t, 100) < percent;
}

static void fill_random(struct thr *t, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = rnd(t);
}

static const char *err_name(int err)
{
	return err ? strerrorname_np(err) ?: "E?" : "success";
}

/* Records a failure for the parent to print (the first NOTES of them). */
static void __attribute__((format(printf, 1, 2))) note(const char *fmt, ...)
{
	int i = atomic_fetch_add(&sh->nr_notes, 1);
	va_list ap;

	if (i >= NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(sh->notes[i], NOTE_LEN, fmt, ap);
	va_end(ap);
}

static bool in_set(const int *set, int err)
{
	for (; *set; set++)
		if (*set == err)
			return true;
	return false;
}

#define ERRS(...) ((const int[]){ __VA_ARGS__, 0 })

/* Every interface's documented errors (EINTR: the watchdog's nudge). */
#define IOCTL_ERRS ERRS(ENOTTY, EINVAL, EFAULT, EPERM, EACCES, ENOENT,	\
			EEXIST, ENOSPC, EUSERS, EKEYREVOKED, ENOMEM,	\
			EBADF, EMFILE)
#define MMAP_ERRS ERRS(EINVAL, EACCES, EPERM, EKEYREVOKED, ENODEV,	\
		       ENOMEM, EBADF, EOVERFLOW, EEXIST, EAGAIN,	\
		       EOPNOTSUPP)
#define VM_ERRS ERRS(EINVAL, ENOMEM, EACCES, EPERM, EFAULT, EAGAIN,	\
		     EBUSY, EOPNOTSUPP, EKEYREVOKED, ENODEV, EHWPOISON)
#define READ_ERRS ERRS(EAGAIN, EINVAL, EFAULT, EACCES, EBADF)

/*
 * A failed call must fail with an error its interface documents; @ret is
 * the call's return value, -1 meaning failure with errno.
 */
static void check_errno(enum op_kind kind, const char *what, long ret,
			const int *allowed)
{
	int err = errno;

	if (ret != -1 || err == EINTR || in_set(allowed, err))
		return;
	atomic_fetch_add(&sh->unexpected_errno, 1);
	note("%s: %s failed with %s, not a documented error", op_names[kind],
	     what, err_name(err));
}

/*
 * A call whose outcome is certain (a success, or one errno): @want is 0 or
 * that errno.  A nudge from the watchdog (EINTR) proves nothing either way.
 */
static void verdict(const char *what, long ret, int want)
{
	int got = ret < 0 ? errno : 0;

	if (got == EINTR)
		return;
	atomic_fetch_add(&sh->verdicts, 1);
	if (got == want)
		return;
	atomic_fetch_add(&sh->wrong_verdicts, 1);
	note("%s: expected %s, got %s", what, err_name(want), err_name(got));
}

/* Moves @fd out of the table's range; the thread's own from then on. */
static int hide_fd(int fd)
{
	int hidden;

	if (fd < 0)
		return fd;
	hidden = fcntl(fd, F_DUPFD_CLOEXEC, PRIVATE_FD_MIN);
	close(fd);
	return hidden;
}

static int table_get(struct thr *t)
{
	return atomic_load(&proc.table[below(t, TABLE_SIZE)]);
}

/*
 * Puts @fd in a random slot and closes what was there.  An fd number is in
 * at most one slot, and only while it is open; threads that read the slot
 * earlier may still use the number, which is the race this is about.
 */
static void table_put(struct thr *t, int fd)
{
	int old;

	if (fd < 0)
		return;
	old = atomic_exchange(&proc.table[below(t, TABLE_SIZE)], fd);
	if (old >= 0)
		close(old);
}

/* Takes an fd out of the table to close or replace it; -1 if none. */
static int table_take(struct thr *t)
{
	return atomic_exchange(&proc.table[below(t, TABLE_SIZE)], -1);
}

/* Channel fds never block readers: reads must not hang the fuzzer. */
static int nonblocking(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* --- pointers -------------------------------------------------------------- */

enum ptr_kind {
	PTR_NULL, PTR_LOW, PTR_KERNEL, PTR_NONCANONICAL, PTR_STRADDLE,
	NR_FAULTING_PTRS,
	PTR_ARENA = NR_FAULTING_PTRS,
	NR_PTRS
};

/*
 * A pointer to @size bytes that the kernel certainly cannot copy (below
 * NR_FAULTING_PTRS), or that may or may not be mapped (PTR_ARENA).
 */
static void *bad_ptr(struct thr *t, enum ptr_kind kind, size_t size)
{
	switch (kind) {
	case PTR_NULL:
		return NULL;
	case PTR_LOW:		/* below mmap_min_addr */
		return (void *)(uintptr_t)(1 + below(t, 4095));
	case PTR_KERNEL:
		return (void *)(0xffffffff81000000ul + below(t, 1 << 20));
	case PTR_NONCANONICAL:
		return (void *)(0x8000000000000000ul + (rnd(t) & 0xffffffffffffull));
	case PTR_STRADDLE:	/* starts mapped, ends in the PROT_NONE page */
		return proc.guard + MPK_PAGE - 1 - below(t, size > 2 ? size - 2 : 1);
	default:
		return ARENA + below(t, ARENA_SIZE);
	}
}

/* A random page-aligned range inside the arena. */
static void arena_range(struct thr *t, char **start, size_t *len)
{
	unsigned int first = below(t, ARENA_PAGES);
	unsigned int pages = 1 + below(t, chance(t, 80) ? 16 : 128);

	if (first + pages > ARENA_PAGES)
		pages = ARENA_PAGES - first;
	*start = ARENA + (size_t)first * MPK_PAGE;
	*len = (size_t)pages * MPK_PAGE;
}

static bool in_arena(const void *p, size_t len)
{
	uintptr_t start = (uintptr_t)p, arena = (uintptr_t)ARENA;

	return start >= arena && len <= ARENA_SIZE &&
	       start - arena <= ARENA_SIZE - len;
}

/* A mapping that landed outside the arena is this thread's alone: unmap. */
static void keep_in_arena(void *p, size_t len)
{
	if (p != MAP_FAILED && !in_arena(p, len))
		munmap(p, len);
}

/* --- arguments ------------------------------------------------------------- */

static void pick_name(struct thr *t, char *name)
{
	unsigned int r = below(t, 20);

	if (r < 15)
		strcpy(name, sh->pool[below(t, POOL)]);
	else if (r < 19)
		snprintf(name, MPKLINK_NAME_MAX, "%s.r%u", sh->prefix,
			 below(t, RANDOM_NAMES));
	else
		snprintf(name, MPKLINK_NAME_MAX, "%s.none", sh->prefix);
}

static void pick_principal(struct thr *t, struct mpklink_principal *p)
{
	memset(p, 0, sizeof(*p));
	switch (below(t, 8)) {
	case 0:
	case 1:
		p->match = MPKLINK_MATCH_UID;
		break;
	case 2:
		p->match = MPKLINK_MATCH_UID;
		p->uid = FUZZ_UID;
		break;
	case 3:
		p->match = MPKLINK_MATCH_GID;
		break;
	case 4:
		p->match = MPKLINK_MATCH_CGROUP;
		strcpy(p->cgroup, "/");
		break;
	case 5:
		p->match = MPKLINK_MATCH_EXE;
		memcpy(p->exe_sha256, sh->exe_sha256, MPKLINK_SHA256_SIZE);
		break;
	case 6:
		p->match = MPKLINK_MATCH_UID | MPKLINK_MATCH_EXE;
		memcpy(p->exe_sha256, sh->exe_sha256, MPKLINK_SHA256_SIZE);
		break;
	default:
		p->match = MPKLINK_MATCH_GID;
		p->gid = FUZZ_UID;
		break;
	}
}

static const unsigned long dev_cmds[] = {
	MPKLINK_IOC_API_VERSION, MPKLINK_IOC_CREATE, MPKLINK_IOC_DESTROY,
	MPKLINK_IOC_GRANT, MPKLINK_IOC_REVOKE, MPKLINK_IOC_LIST,
	MPKLINK_IOC_GRANTS, MPKLINK_IOC_MEMBERS, MPKLINK_IOC_ATTACH,
};

static const unsigned long chan_cmds[] = {
	MPKLINK_CHAN_IOC_INFO, MPKLINK_CHAN_IOC_MEMBERS, MPKLINK_CHAN_IOC_NOTIFY,
};

static bool is_admin(unsigned long cmd)
{
	return cmd != MPKLINK_IOC_API_VERSION && cmd != MPKLINK_IOC_ATTACH;
}

static bool is_listing(unsigned long cmd)
{
	return cmd == MPKLINK_IOC_LIST || cmd == MPKLINK_IOC_GRANTS ||
	       cmd == MPKLINK_IOC_MEMBERS || cmd == MPKLINK_CHAN_IOC_MEMBERS;
}

static size_t entry_size_of(unsigned long cmd)
{
	if (cmd == MPKLINK_IOC_LIST)
		return sizeof(struct mpklink_channel_info);
	if (cmd == MPKLINK_IOC_GRANTS)
		return sizeof(struct mpklink_grant);
	return sizeof(struct mpklink_member_info);
}

/* A valid argument for @cmd (on a pool or random channel); its size. */
static size_t valid_req(struct thr *t, unsigned long cmd, union req *r)
{
	memset(r, 0, sizeof(*r));
	switch (cmd) {
	case MPKLINK_IOC_CREATE:
		r->create.size = sizeof(r->create);
		r->create.segment_size = (1 + below(t, 4)) * MPK_PAGE;
		r->create.max_members = below(t, 9);
		r->create.flags = chance(t, 10) ? MPKLINK_CREATE_SIGNED : 0;
		pick_name(t, r->create.name);
		return sizeof(r->create);
	case MPKLINK_IOC_DESTROY:
		r->destroy.size = sizeof(r->destroy);
		pick_name(t, r->destroy.name);
		return sizeof(r->destroy);
	case MPKLINK_IOC_GRANT:
	case MPKLINK_IOC_REVOKE:
		r->grant.size = sizeof(r->grant);
		pick_name(t, r->grant.name);
		pick_principal(t, &r->grant.principal);
		if (cmd == MPKLINK_IOC_GRANT) {
			r->grant.rights = 1 + below(t, 3);
			if (chance(t, 10)) {
				r->grant.flags = MPKLINK_GRANT_PUBKEY;
				fill_random(t, r->grant.pubkey,
					    sizeof(r->grant.pubkey));
			}
		}
		return sizeof(r->grant);
	case MPKLINK_IOC_LIST:
	case MPKLINK_IOC_GRANTS:
	case MPKLINK_IOC_MEMBERS:
	case MPKLINK_CHAN_IOC_MEMBERS:
		r->list.size = sizeof(r->list);
		r->list.entry_size = entry_size_of(cmd);
		r->list.count = below(t, 8);
		r->list.entries = (uintptr_t)t->scratch;
		if (cmd == MPKLINK_IOC_GRANTS || cmd == MPKLINK_IOC_MEMBERS)
			pick_name(t, r->list.name);
		return sizeof(r->list);
	case MPKLINK_IOC_ATTACH:
	case MPKLINK_CHAN_IOC_INFO:
		r->attach.size = sizeof(r->attach);
		if (cmd == MPKLINK_IOC_ATTACH) {
			pick_name(t, r->attach.name);
			if (chance(t, 20)) {
				r->attach.flags = MPKLINK_ATTACH_SHARE_PKEY;
				r->attach.pkey = below(t, 17);
			}
		}
		return sizeof(r->attach);
	case MPKLINK_CHAN_IOC_NOTIFY:
		r->notify.size = sizeof(r->notify);
		if (chance(t, 70))
			r->notify.slots = rnd(t);
		return sizeof(r->notify);
	}
	return 0;
}

/* Where a request's name is, if it has one. */
static char *req_name(unsigned long cmd, union req *r)
{
	switch (cmd) {
	case MPKLINK_IOC_CREATE:
		return r->create.name;
	case MPKLINK_IOC_DESTROY:
		return r->destroy.name;
	case MPKLINK_IOC_GRANT:
	case MPKLINK_IOC_REVOKE:
		return r->grant.name;
	case MPKLINK_IOC_LIST:
	case MPKLINK_IOC_GRANTS:
	case MPKLINK_IOC_MEMBERS:
	case MPKLINK_CHAN_IOC_MEMBERS:
		return r->list.name;
	case MPKLINK_IOC_ATTACH:
		return r->attach.name;
	}
	return NULL;
}

/* Sets an undefined flag bit; false if @cmd has no flags it checks. */
static bool bad_flags(struct thr *t, unsigned long cmd, union req *r)
{
	uint32_t bit = 1u << (1 + below(t, 31));

	switch (cmd) {
	case MPKLINK_IOC_CREATE:
		r->create.flags |= bit;
		return true;
	case MPKLINK_IOC_DESTROY:
		r->destroy.flags = bit;
		return true;
	case MPKLINK_IOC_GRANT:
		r->grant.flags |= bit;
		return true;
	case MPKLINK_IOC_REVOKE:
		r->grant.flags = bit;
		return true;
	case MPKLINK_IOC_ATTACH:
		r->attach.flags |= bit;
		return true;
	case MPKLINK_CHAN_IOC_INFO:
		r->attach.flags = bit;
		return true;
	case MPKLINK_CHAN_IOC_NOTIFY:
		r->notify.flags = bit;
		return true;
	default:			/* the listings */
		r->list.flags = bit;
		return true;
	}
}

/* Sets a reserved field; false if @cmd does not check its reserved fields. */
static bool bad_reserved(struct thr *t, unsigned long cmd, union req *r)
{
	uint64_t v = rnd(t) | 1;

	switch (cmd) {
	case MPKLINK_IOC_CREATE:
		if (chance(t, 50))
			r->create.reserved0 = v;
		else
			r->create.reserved[below(t, 4)] = v;
		return true;
	case MPKLINK_IOC_DESTROY:
		r->destroy.reserved[below(t, 2)] = v;
		return true;
	case MPKLINK_IOC_GRANT:
	case MPKLINK_IOC_REVOKE:
		if (chance(t, 50))
			r->grant.reserved0 = v;
		else
			r->grant.reserved[below(t, 2)] = v;
		return true;
	case MPKLINK_IOC_ATTACH:
		switch (below(t, 3)) {
		case 0:
			r->attach.reserved0 = v;
			break;
		case 1:
			r->attach.channel_flags = v;
			break;
		default:
			r->attach.reserved[below(t, 3)] = v;
		}
		return true;
	case MPKLINK_CHAN_IOC_NOTIFY:
		r->notify.reserved[below(t, 2)] = v;
		return true;
	case MPKLINK_CHAN_IOC_INFO:
		return false;		/* an out structure: ignored */
	default:
		r->list.reserved[below(t, 2)] = v;
		return true;
	}
}

/* Breaks the name so that it can never be valid. */
static void bad_name(struct thr *t, char *name)
{
	static const char bad[] = " /\x01\x7f\x80*:~\\\n";
	size_t len = strlen(name);

	switch (below(t, 3)) {
	case 0:			/* no NUL in the array */
		memset(name, 'a' + below(t, 26), MPKLINK_NAME_MAX);
		break;
	case 1:
		name[0] = '\0';
		break;
	default:
		name[len ? below(t, len) : 0] = bad[below(t, sizeof(bad) - 1)];
		break;
	}
}

/*
 * Makes the principal of a grant invalid in one way (they are validated
 * after the channel is found, so the caller names an existing channel).
 */
static void bad_principal(struct thr *t, struct mpklink_principal *p)
{
	static const char *const bad_paths[] = {
		"", "a", "//", "/a/", "/.", "/a/..", "/a//b", "/\x01",
	};

	switch (below(t, 8)) {
	case 0:
		p->match = 0;
		break;
	case 1:
		p->match |= MPKLINK_MATCH_ALL + 1 + below(t, 1000);
		break;
	case 2:
		p->reserved = 1 + below(t, 1000);
		break;
	case 3:			/* a field the principal does not name */
		p->match = MPKLINK_MATCH_EXE;
		p->uid = 1 + below(t, 1000);
		break;
	case 4:
		p->match = MPKLINK_MATCH_UID;
		p->uid = 0xffffffff;	/* no such uid */
		break;
	case 5:
		p->match = MPKLINK_MATCH_CGROUP;
		strcpy(p->cgroup, bad_paths[below(t, 8)]);
		break;
	case 6:
		p->match = MPKLINK_MATCH_CGROUP;
		memset(p->cgroup, 'c', sizeof(p->cgroup));
		p->cgroup[0] = '/';
		break;
	default:		/* bytes after the NUL */
		p->match = MPKLINK_MATCH_CGROUP;
		strcpy(p->cgroup, "/");
		p->cgroup[2 + below(t, 200)] = 'x';
		break;
	}
}

/* How an argument was spoiled, and what must come of it. */
struct mutation {
	const char *what;
	int want;		/* an errno, 0, or UNCERTAIN */
	void *arg;		/* where the argument is */
	bool read_only;		/* copy it to t->ro and make that read-only */
};

/*
 * Spoils one thing about a valid request for @cmd on a device (@on_chan
 * false) or channel fd.  The outcomes it calls certain assume the caller's
 * own fd, the right to the ioctl, and no revocation (the anchor channel's).
 */
static void mutate(struct thr *t, unsigned long cmd, union req *r,
		   size_t size, bool on_chan, struct mutation *m)
{
	char *name = req_name(cmd, r);
	bool has_anchor_fd = t->chan >= 0;

	m->arg = r;
	m->read_only = false;
	m->want = UNCERTAIN;
	switch (below(t, 12)) {
	case 0:
		m->what = "size";
		r->size = chance(t, 50) ? size + 1 + below(t, 64) :
					  below(t, size);
		if (chance(t, 10))
			r->size = 0xffffffff;
		m->want = EINVAL;
		return;
	case 1:
		m->what = "faulting pointer";
		m->arg = bad_ptr(t, below(t, NR_FAULTING_PTRS), size);
		m->want = EFAULT;
		return;
	case 2:
		m->what = "pointer into the arena";
		m->arg = bad_ptr(t, PTR_ARENA, size);
		return;
	case 3:
		m->what = "random field";
		fill_random(t, r->bytes + 4 + below(t, size - 4),
			    1 + below(t, 8));
		/*
		 * The kernel writes a listing wherever @entries points, and a
		 * partly random pointer points into the fuzzer's own heap,
		 * whose corruption killed workers now and then.  Pointers the
		 * kernel cannot write to are case 8's.
		 */
		if (is_listing(cmd))
			r->list.entries = (uintptr_t)t->scratch;
		return;
	case 4:
		m->what = "flags";
		if (bad_flags(t, cmd, r))
			m->want = EINVAL;
		return;
	case 5:
		m->what = "reserved";
		if (bad_reserved(t, cmd, r))
			m->want = EINVAL;
		return;
	case 6:
		m->what = "name";
		if (!name || cmd == MPKLINK_CHAN_IOC_MEMBERS ||
		    cmd == MPKLINK_IOC_LIST) {
			/* A name where there must be none. */
			if (is_listing(cmd)) {
				strcpy(r->list.name, "x");
				m->want = EINVAL;
			}
			return;
		}
		bad_name(t, name);
		m->want = EINVAL;
		return;
	case 7:
		m->what = "read-only argument";
		m->read_only = true;
		/* Outcomes certain when everything but the copy-out works. */
		switch (cmd) {
		case MPKLINK_IOC_LIST:
			m->want = EFAULT;
			break;
		case MPKLINK_IOC_GRANTS:
			strcpy(name, sh->anchor);
			m->want = EFAULT;
			break;
		case MPKLINK_IOC_MEMBERS:
			strcpy(name, sh->anchor);
			r->list.count = 0;
			m->want = EFAULT;
			break;
		case MPKLINK_IOC_ATTACH:
			/*
			 * Attaches, then the copy-out fails: it leaves again.
			 * With the thread's own key, so that a process out of
			 * keys (ENOSPC) does not make the outcome uncertain.
			 */
			if (!has_anchor_fd)
				break;
			strcpy(name, sh->anchor);
			r->attach.flags = t->info.pkey >= 0 ?
					  MPKLINK_ATTACH_SHARE_PKEY : 0;
			r->attach.pkey = t->info.pkey;
			m->want = EFAULT;
			break;
		case MPKLINK_CHAN_IOC_INFO:
		case MPKLINK_CHAN_IOC_MEMBERS:
			m->want = EFAULT;
			break;
		case MPKLINK_CHAN_IOC_NOTIFY:
			m->want = 0;
			break;
		}
		return;
	case 8:
		m->what = "listing entries";
		if (!is_listing(cmd))
			break;
		if (chance(t, 50)) {
			r->list.entry_size = entry_size_of(cmd) +
					     (chance(t, 50) ? 1 + below(t, 64) :
							      -1 - below(t, 64));
			m->want = EINVAL;
			return;
		}
		/* Entries the kernel cannot write, with some to write. */
		r->list.entries = (uintptr_t)bad_ptr(t, below(t, NR_FAULTING_PTRS),
						     r->list.entry_size);
		r->list.count = 1 + below(t, 8);
		if (cmd == MPKLINK_IOC_GRANTS ||
		    (cmd == MPKLINK_IOC_MEMBERS && has_anchor_fd))
			strcpy(name, sh->anchor);
		if (cmd == MPKLINK_IOC_LIST || cmd == MPKLINK_IOC_GRANTS ||
		    has_anchor_fd)
			m->want = EFAULT;
		return;
	default:
		break;
	}

	/* Mutations particular to one request. */
	m->what = "field out of range";
	switch (cmd) {
	case MPKLINK_IOC_CREATE:
		switch (below(t, 5)) {
		case 0:
			r->create.segment_size = 0;
			break;
		case 1:
			r->create.segment_size += 1 + below(t, MPK_PAGE - 1);
			break;
		case 2:
			r->create.segment_size = (64ull << 20) + MPK_PAGE;
			break;
		case 3:
			r->create.segment_size = ~0ull << below(t, 64);
			break;
		default:
			r->create.max_members = MPKLINK_MAX_MEMBERS + 1 +
						below(t, 100000);
			break;
		}
		m->want = EINVAL;
		return;
	case MPKLINK_IOC_GRANT:
		switch (below(t, 3)) {
		case 0:
			r->grant.rights = chance(t, 30) ? 0 :
					  rnd(t) | (MPKLINK_RIGHTS_ALL + 1);
			break;
		case 1:
			r->grant.flags = 0;
			r->grant.pubkey[below(t, MPKLINK_PUBKEY_SIZE)] = 1;
			break;
		default:
			m->what = "principal";
			strcpy(name, sh->anchor);
			bad_principal(t, &r->grant.principal);
			break;
		}
		m->want = EINVAL;
		return;
	case MPKLINK_IOC_REVOKE:
		if (chance(t, 50)) {
			r->grant.rights = 1 + below(t, 3);
		} else {
			m->what = "principal";
			strcpy(name, sh->anchor);
			bad_principal(t, &r->grant.principal);
		}
		m->want = EINVAL;
		return;
	case MPKLINK_IOC_ATTACH:
		r->attach.flags = MPKLINK_ATTACH_SHARE_PKEY;
		if (chance(t, 50)) {
			r->attach.pkey = -1 - below(t, 1000);
		} else {
			/* Not a key: refused once everything else passed. */
			strcpy(name, sh->anchor);
			r->attach.pkey = 16 + below(t, 1000);
		}
		m->want = EINVAL;
		return;
	case MPKLINK_CHAN_IOC_NOTIFY:
		/* Every slot of the anchor channel exists: all bits valid. */
		r->notify.slots = rnd(t);
		m->want = on_chan && has_anchor_fd ? 0 : UNCERTAIN;
		return;
	default:
		return;
	}
}

/* Runs an ioctl, through a read-only copy of the argument if asked. */
static long do_ioctl(struct thr *t, int fd, unsigned long cmd,
		     struct mutation *m, size_t size)
{
	long ret;
	int err;

	if (!m->read_only)
		return ioctl(fd, cmd, m->arg);
	memcpy(t->ro, m->arg, size);
	mprotect(t->ro, MPK_PAGE, PROT_READ);
	ret = ioctl(fd, cmd, t->ro);
	err = errno;
	mprotect(t->ro, MPK_PAGE, PROT_READ | PROT_WRITE);
	errno = err;
	return ret;
}

/* --- the operations -------------------------------------------------------- */

static bool root(void)
{
	return proc.kind != WORKER_USER;
}

static void op_dev_ioctl(struct thr *t)
{
	unsigned long cmd = dev_cmds[below(t, ARRAY_SIZE(dev_cmds))];
	bool own = chance(t, 70);
	int fd = own ? t->dev : table_get(t);
	struct mutation m = { "valid", UNCERTAIN, &t->req, false };
	size_t size = valid_req(t, cmd, &t->req);
	char what[96];
	long ret;

	if (cmd != MPKLINK_IOC_API_VERSION && chance(t, 60))
		mutate(t, cmd, &t->req, size, false, &m);
	ret = do_ioctl(t, fd, cmd, &m, size);
	if (cmd == MPKLINK_IOC_ATTACH && ret >= 0)
		table_put(t, nonblocking(ret));
	if (!own) {
		check_errno(OP_dev_ioctl, "device ioctl", ret, IOCTL_ERRS);
		return;
	}
	snprintf(what, sizeof(what), "device ioctl %#lx, %s", cmd, m.what);
	if (cmd == MPKLINK_IOC_API_VERSION) {
		atomic_fetch_add(&sh->verdicts, 1);
		if (ret != MPKLINK_API_VERSION) {
			atomic_fetch_add(&sh->wrong_verdicts, 1);
			note("API_VERSION returned %ld", ret);
		}
		return;
	}
	if (is_admin(cmd) && !root())
		m.want = EPERM;	/* checked before the argument is read */
	if (m.want == UNCERTAIN)
		check_errno(OP_dev_ioctl, what, ret, IOCTL_ERRS);
	else
		verdict(what, ret, m.want);
}

static void op_chan_ioctl(struct thr *t)
{
	unsigned long cmd = chan_cmds[below(t, ARRAY_SIZE(chan_cmds))];
	bool own = t->chan >= 0 && chance(t, 60);
	int fd = own ? t->chan : table_get(t);
	struct mutation m = { "valid", own ? 0 : UNCERTAIN, &t->req, false };
	size_t size = valid_req(t, cmd, &t->req);
	char what[96];
	long ret;

	if (chance(t, 50))
		mutate(t, cmd, &t->req, size, true, &m);
	ret = do_ioctl(t, fd, cmd, &m, size);
	if (!own) {
		check_errno(OP_chan_ioctl, "channel ioctl", ret, IOCTL_ERRS);
		return;
	}
	snprintf(what, sizeof(what), "channel ioctl %#lx, %s", cmd, m.what);
	if (m.want == UNCERTAIN) {
		check_errno(OP_chan_ioctl, what, ret, IOCTL_ERRS);
		return;
	}
	verdict(what, ret, m.want);
	/* The member's own description never changes. */
	if (ret == 0 && cmd == MPKLINK_CHAN_IOC_INFO && !m.read_only &&
	    m.arg == &t->req) {
		atomic_fetch_add(&sh->verdicts, 1);
		if (t->req.attach.member_id != t->info.member_id ||
		    t->req.attach.slot != t->info.slot ||
		    t->req.attach.map_size != t->info.map_size ||
		    strcmp(t->req.attach.name, sh->anchor)) {
			atomic_fetch_add(&sh->wrong_verdicts, 1);
			note("INFO changed: member %llu slot %u",
			     (unsigned long long)t->req.attach.member_id,
			     t->req.attach.slot);
		}
	}
}

static bool known_cmd(unsigned long cmd, const unsigned long *cmds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cmds[i] == cmd)
			return true;
	return false;
}

/* Any ioctl number of mpklink's type, with random bytes behind it. */
static void op_random_ioctl(struct thr *t)
{
	static const unsigned int sizes[] = {
		sizeof(struct mpklink_create), sizeof(struct mpklink_destroy),
		sizeof(struct mpklink_grant), sizeof(struct mpklink_listing),
		sizeof(struct mpklink_attach), sizeof(struct mpklink_notify),
	};
	unsigned int nr = chance(t, 50) ? below(t, 0x50) : below(t, 256);
	unsigned int size = chance(t, 50) ? sizes[below(t, 6)] :
					    below(t, 1 << 14);
	unsigned long cmd = _IOC(below(t, 4), MPKLINK_IOC_TYPE, nr, size);
	unsigned int where = below(t, 4);
	int fd = where == 0 ? t->dev : where == 1 ? t->chan : table_get(t);
	void *arg = t->scratch;
	long ret;

	fill_random(t, t->scratch, 1024);
	if (chance(t, 50))
		*(uint32_t *)t->scratch = size;
	if (chance(t, 20))
		arg = bad_ptr(t, below(t, NR_PTRS), size);
	ret = ioctl(fd, cmd, arg);
	if (ret >= 0 && cmd == MPKLINK_IOC_ATTACH)
		table_put(t, nonblocking(ret));
	if ((where == 0 && !known_cmd(cmd, dev_cmds, ARRAY_SIZE(dev_cmds))) ||
	    (where == 1 && fd >= 0 &&
	     !known_cmd(cmd, chan_cmds, ARRAY_SIZE(chan_cmds))))
		verdict("unknown ioctl number", ret, ENOTTY);
	else
		check_errno(OP_random_ioctl, "random ioctl", ret, IOCTL_ERRS);
}

static void op_attach(struct thr *t)
{
	struct mpklink_attach *a = &t->req.attach;
	int fd = chance(t, 80) ? t->dev : table_get(t);
	long ret;

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	if (chance(t, 5))
		strcpy(a->name, sh->anchor);
	else
		pick_name(t, a->name);
	if (chance(t, 25)) {
		a->flags = MPKLINK_ATTACH_SHARE_PKEY;
		a->pkey = 1 + below(t, 15);
	}
	ret = ioctl(fd, MPKLINK_IOC_ATTACH, a);
	check_errno(OP_attach, "attach", ret, IOCTL_ERRS);
	if (ret >= 0)
		table_put(t, nonblocking(ret));
}

/* Event records read whole and well formed. */
static void check_events(const struct mpklink_event *ev, long bytes)
{
	long i, n = bytes / (long)sizeof(*ev);

	atomic_fetch_add(&sh->events_read, n);
	if (bytes % sizeof(*ev)) {
		atomic_fetch_add(&sh->bad_events, 1);
		note("read returned %ld bytes: not whole records", bytes);
		return;
	}
	for (i = 0; i < n; i++) {
		if (ev[i].type >= MPKLINK_EVENT_DOORBELL &&
		    ev[i].type <= MPKLINK_EVENT_OVERFLOW &&
		    !(ev[i].flags & ~MPKLINK_EVENT_SELF) && !ev[i].reserved0 &&
		    !ev[i].reserved[0] && !ev[i].reserved[1])
			continue;
		atomic_fetch_add(&sh->bad_events, 1);
		note("event type %u flags %#x reason %u: malformed", ev[i].type,
		     ev[i].flags, ev[i].reason);
	}
}

static void op_read(struct thr *t)
{
	bool own = t->chan >= 0 && chance(t, 30);
	int fd = own ? t->chan : table_get(t);
	size_t len = below(t, 9) * sizeof(struct mpklink_event);
	bool good_buf = chance(t, 80);
	void *buf = good_buf ? (void *)t->scratch :
			       bad_ptr(t, below(t, NR_PTRS), 64);
	long ret;

	if (chance(t, 20))
		len += below(t, sizeof(struct mpklink_event));
	ret = read(fd, buf, len);
	if (own && good_buf && len < sizeof(struct mpklink_event))
		verdict("read of less than a record", ret, EINVAL);
	else
		check_errno(OP_read, "read", ret, READ_ERRS);
	if (ret > 0 && good_buf)
		check_events(buf, ret);
}

static void op_poll(struct thr *t)
{
	static const short events[] = { POLLIN, POLLOUT, POLLPRI, POLLRDNORM };
	struct pollfd pfd[4];
	int n = 1 + below(t, 4), i, ret;

	for (i = 0; i < n; i++) {
		pfd[i].fd = i == 0 && t->chan >= 0 && chance(t, 40) ? t->chan :
			    table_get(t);
		pfd[i].events = events[below(t, 4)] | (chance(t, 50) ? POLLIN : 0);
		pfd[i].revents = 0;
	}
	ret = poll(pfd, n, below(t, 3));
	check_errno(OP_poll, "poll", ret, ERRS(ENOMEM));
	/* The anchor member is never revoked: readable or nothing. */
	if (ret >= 0 && pfd[0].fd == t->chan && t->chan >= 0) {
		atomic_fetch_add(&sh->verdicts, 1);
		if (pfd[0].revents & ~(POLLIN | POLLRDNORM)) {
			atomic_fetch_add(&sh->wrong_verdicts, 1);
			note("poll of a live member: revents %#x",
			     pfd[0].revents);
		}
	}
}

static void op_epoll(struct thr *t)
{
	static const uint32_t events[] = {
		EPOLLIN, EPOLLIN | EPOLLET, EPOLLIN | EPOLLONESHOT,
		EPOLLIN | EPOLLEXCLUSIVE, EPOLLOUT | EPOLLERR, EPOLLPRI,
	};
	struct epoll_event ev[8];
	int fd = t->chan >= 0 && chance(t, 20) ? t->chan : table_get(t);
	long ret;

	ev[0].events = events[below(t, ARRAY_SIZE(events))];
	ev[0].data.u64 = rnd(t);
	switch (below(t, 4)) {
	case 0:
		ret = epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, ev);
		break;
	case 1:
		ret = epoll_ctl(t->epfd, EPOLL_CTL_MOD, fd, ev);
		break;
	case 2:
		ret = epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, ev);
		break;
	default:
		ret = epoll_wait(t->epfd, ev, 8, below(t, 2));
		break;
	}
	check_errno(OP_epoll, "epoll", ret,
		    ERRS(EBADF, EEXIST, ENOENT, EPERM, EINVAL, ENOMEM, ELOOP,
			 ENOSPC));
}

/* The geometry of the channel behind @fd, if it is a channel fd of ours. */
static bool chan_geometry(int fd, struct mpklink_attach *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	return ioctl(fd, MPKLINK_CHAN_IOC_INFO, a) == 0;
}

/* An mmap of the anchor member with one thing wrong; its certain outcome. */
static int anchor_mmap_case(struct thr *t, off_t *off, size_t *len, int *prot,
			    int *flags, const char **what)
{
	const struct mpklink_attach *a = &t->info;
	off_t own = mpk_slot_offset(a, a->slot);

	*off = 0;
	*len = MPK_PAGE;
	*prot = PROT_READ;
	*flags = MAP_SHARED;
	switch (below(t, 8)) {
	case 0:
		*what = "MAP_PRIVATE";
		*flags = MAP_PRIVATE;
		return EINVAL;
	case 1:
		*what = "PROT_EXEC";
		*prot |= PROT_EXEC;
		return EPERM;
	case 2:
		*what = "writable directory";
		*prot |= PROT_WRITE;
		return EACCES;
	case 3:
		*what = "writable beyond the own slot";
		*off = own - MPK_PAGE;
		*len = mpk_own_len(a) + MPK_PAGE;
		*prot |= PROT_WRITE;
		return EACCES;
	case 4:
		*what = "offset beyond the channel";
		*off = a->map_size + MPK_PAGE * below(t, 4);
		return EINVAL;
	case 5:
		*what = "length beyond the channel";
		*len = a->map_size + MPK_PAGE;
		return EINVAL;
	case 6:
		*what = "the own slot, writable";
		*off = own;
		*len = mpk_own_len(a);
		*prot |= PROT_WRITE;
		return 0;
	default:
		*what = "the whole channel";
		*len = a->map_size;
		return 0;
	}
}

static void op_mmap(struct thr *t)
{
	static const int prots[] = {
		PROT_READ, PROT_READ, PROT_READ | PROT_WRITE,
		PROT_READ | PROT_WRITE, PROT_NONE, PROT_WRITE,
		PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC,
		PROT_READ | PROT_SEM, PROT_READ | PROT_GROWSDOWN,
	};
	struct mpklink_attach a;
	int fd, prot, flags, want = UNCERTAIN;
	const char *what = "mmap";
	size_t len, fixed_room;
	unsigned int first;
	char *addr = NULL;
	off_t off;
	void *p;

	if (t->chan >= 0 && chance(t, 25)) {
		fd = t->chan;
		want = anchor_mmap_case(t, &off, &len, &prot, &flags, &what);
		/* Somewhere certain to fit, so the outcome is the module's. */
		first = below(t, ARENA_PAGES / 2);
		if (len <= ARENA_SIZE / 2) {
			addr = ARENA + (size_t)first * MPK_PAGE;
			flags |= MAP_FIXED;
		}
		p = mmap(addr, len, prot, flags, fd, off);
		verdict(what, p == MAP_FAILED ? -1 : 0, want);
		keep_in_arena(p, len);
		return;
	}

	fd = table_get(t);
	if (chance(t, 70) && chan_geometry(fd, &a)) {
		unsigned int slot = chance(t, 50) ? a.slot : below(t, a.max_members + 1);

		switch (below(t, 5)) {
		case 0:
			off = 0;
			len = MPK_PAGE;
			break;
		case 1:
			off = mpk_slot_offset(&a, slot);
			len = chance(t, 50) ? MPK_PAGE : a.slot_size;
			break;
		case 2:
			off = mpk_slot_offset(&a, a.slot);
			len = mpk_own_len(&a);
			break;
		case 3:
			off = 0;
			len = a.map_size;
			break;
		default:
			off = below(t, a.map_size / MPK_PAGE + 2) * MPK_PAGE;
			len = (1 + below(t, 8)) * MPK_PAGE;
			break;
		}
		if (chance(t, 10))
			len += chance(t, 50) ? MPK_PAGE : -MPK_PAGE;
	} else {
		switch (below(t, 4)) {
		case 0:
			off = (off_t)below(t, 64) * MPK_PAGE;
			break;
		case 1:
			off = below(t, 1 << 20);	/* unaligned, mostly */
			break;
		case 2:
			off = (off_t)(rnd(t) & ~(MPK_PAGE - 1));
			break;
		default:
			off = -(off_t)MPK_PAGE * (1 + below(t, 4));
			break;
		}
		len = chance(t, 90) ? (1 + below(t, 32)) * MPK_PAGE :
				      chance(t, 50) ? below(t, 3 * MPK_PAGE) :
						      (size_t)1 << (20 + below(t, 24));
	}

	prot = chance(t, 95) ? prots[below(t, ARRAY_SIZE(prots))] : (int)rnd(t);
	switch (below(t, 50)) {
	case 0:
		flags = MAP_PRIVATE;
		break;
	case 1:
		flags = 0;
		break;
	case 2:
	case 3:
	case 4:
		flags = MAP_SHARED_VALIDATE;
		if (chance(t, 50))
			flags |= chance(t, 50) ? MAP_SYNC : 1 << (21 + below(t, 8));
		break;
	default:
		flags = MAP_SHARED;
		break;
	}
	if (chance(t, 10))
		flags |= MAP_POPULATE;
	if (chance(t, 5))
		flags |= MAP_LOCKED;
	if (chance(t, 5))
		flags |= MAP_NORESERVE;
	if (chance(t, 3))
		flags |= MAP_GROWSDOWN;
	if (chance(t, 2))
		flags |= MAP_HUGETLB;

	/* MAP_FIXED only where the whole (rounded) length fits the arena. */
	first = below(t, ARENA_PAGES);
	addr = ARENA + (size_t)first * MPK_PAGE;
	fixed_room = ARENA_SIZE - (size_t)first * MPK_PAGE;
	switch (below(t, 10)) {
	case 0:
	case 1:
		addr = NULL;
		break;
	case 2:
	case 3:
		break;			/* a hint */
	case 4:
		if (len <= fixed_room)
			flags |= MAP_FIXED_NOREPLACE;
		break;
	default:
		if (len <= fixed_room)
			flags |= MAP_FIXED;
		break;
	}
	p = mmap(addr, len, prot, flags, fd, off);
	check_errno(OP_mmap, "mmap", p == MAP_FAILED ? -1 : 0, MMAP_ERRS);
	keep_in_arena(p, (len + MPK_PAGE - 1) & ~(MPK_PAGE - 1));
}

static void op_munmap(struct thr *t)
{
	size_t len;
	char *p;

	arena_range(t, &p, &len);
	check_errno(OP_munmap, "munmap", munmap(p, len), ERRS(0));
}

static int random_prot(struct thr *t)
{
	static const int prots[] = {
		PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE,
		PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC,
		PROT_READ | PROT_GROWSDOWN, PROT_READ | PROT_GROWSUP,
	};

	return chance(t, 95) ? prots[below(t, ARRAY_SIZE(prots))] : (int)rnd(t);
}

static void op_mprotect(struct thr *t)
{
	size_t len;
	char *p;

	arena_range(t, &p, &len);
	check_errno(OP_mprotect, "mprotect", mprotect(p, len, random_prot(t)),
		    VM_ERRS);
}

static void op_pkey_mprotect(struct thr *t)
{
	int keys[] = { -1, 0, 1 + below(t, 15), 16, t->info.pkey,
		       (int)rnd(t) };
	size_t len;
	char *p;

	arena_range(t, &p, &len);
	check_errno(OP_pkey_mprotect, "pkey_mprotect",
		    pkey_mprotect(p, len, random_prot(t),
				  keys[below(t, ARRAY_SIZE(keys))]),
		    VM_ERRS);
}

static void op_mremap(struct thr *t)
{
	size_t old_len, new_len;
	char *old, *target = NULL;
	int flags;
	void *p;

	arena_range(t, &old, &old_len);
	switch (below(t, 4)) {
	case 0:
		new_len = old_len;
		break;
	case 1:
		new_len = old_len > MPK_PAGE ? old_len - MPK_PAGE : old_len;
		break;
	case 2:
		new_len = old_len + (1 + below(t, 4)) * MPK_PAGE;
		break;
	default:
		new_len = below(t, 8 * MPK_PAGE);
		break;
	}
	if (chance(t, 5))
		old_len = 0;
	switch (below(t, 6)) {
	case 0:
		flags = 0;
		break;
	case 1:
		flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;
		break;
	case 2:
		flags = MREMAP_FIXED;	/* without MAYMOVE: invalid */
		break;
	case 3:
		flags = MREMAP_MAYMOVE;
		break;
	default:
		flags = MREMAP_MAYMOVE | MREMAP_FIXED;
		break;
	}
	if (flags & MREMAP_FIXED) {
		size_t room;

		arena_range(t, &target, &room);
		if (new_len > ARENA_SIZE - (size_t)(target - ARENA))
			new_len = ARENA_SIZE - (size_t)(target - ARENA);
	}
	p = mremap(old, old_len, new_len, flags, target);
	check_errno(OP_mremap, "mremap", p == MAP_FAILED ? -1 : 0,
		    ERRS(EFAULT, EINVAL, ENOMEM, EAGAIN));
	keep_in_arena(p, (new_len + MPK_PAGE - 1) & ~(MPK_PAGE - 1));
}

static void op_remap_pages(struct thr *t)
{
	size_t len;
	char *p;
	long ret;

	arena_range(t, &p, &len);
	ret = syscall(__NR_remap_file_pages, p, chance(t, 90) ? len : len - 1,
		      chance(t, 95) ? 0 : PROT_READ, below(t, 64),
		      chance(t, 80) ? 0 : MAP_NONBLOCK);
	check_errno(OP_remap_pages, "remap_file_pages", ret, VM_ERRS);
}

static void op_madvise(struct thr *t)
{
	/* Never MADV_HWPOISON or MADV_SOFT_OFFLINE: they hurt real pages. */
	static const int advice[] = {
		MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED,
		MADV_DONTNEED, MADV_FREE, MADV_REMOVE, MADV_DONTFORK,
		MADV_DOFORK, MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE,
		MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK,
		MADV_KEEPONFORK, MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ,
		MADV_POPULATE_WRITE,
	};
	unsigned char vec[128];
	size_t len;
	char *p;
	long ret;

	arena_range(t, &p, &len);
	switch (below(t, 6)) {
	case 0:
		ret = msync(p, len, chance(t, 50) ? MS_SYNC :
				    MS_ASYNC | (chance(t, 50) ? MS_INVALIDATE : 0));
		break;
	case 1:
		ret = chance(t, 50) ? mlock(p, len) : munlock(p, len);
		break;
	case 2:
		ret = mincore(p, len, vec);
		break;
	default:
		ret = madvise(p, len, advice[below(t, ARRAY_SIZE(advice))]);
		break;
	}
	check_errno(OP_madvise, "madvise", ret, VM_ERRS);
}

/* Reads or writes one byte of the arena with every key open, or as is. */
static void op_touch(struct thr *t)
{
	volatile char *p = ARENA + below(t, ARENA_SIZE);
	bool open_all = sh->pku && chance(t, 70);
	uint32_t pkru = sh->pku ? pkey_fault_rdpkru() : 0;
	struct pkey_fault f;

	if (open_all)
		pkey_fault_wrpkru(0);
	if (chance(t, 50))
		pkey_fault_read_byte(p, &f);
	else
		pkey_fault_write_byte(p, (char)rnd(t), &f);
	if (open_all)
		pkey_fault_wrpkru(pkru);
}

/* /proc/self/mem and process_vm_* must never reach channel memory. */
static void op_procmem(struct thr *t)
{
	char *p = ARENA + below(t, ARENA_SIZE);
	size_t len = 1 + below(t, 64);
	struct iovec local = { t->scratch, len }, remote = { p, len };
	long ret;

	switch (below(t, 4)) {
	case 0:
	case 1:
		/*
		 * A member is non-dumpable, so its /proc files are root's: a
		 * worker of another uid that attached before this thread
		 * started could not open it (EACCES), and is asked again.
		 */
		if (t->memfd < 0)
			t->memfd = hide_fd(open("/proc/self/mem",
						O_RDWR | O_CLOEXEC));
		if (t->memfd < 0)
			ret = -1;
		else if (below(t, 2))
			ret = pread(t->memfd, t->scratch, len, (off_t)p);
		else
			ret = pwrite(t->memfd, t->scratch, len, (off_t)p);
		break;
	case 2:
		ret = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
		break;
	default:
		ret = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
		break;
	}
	atomic_fetch_add(&sh->procmem_tries, 1);
	if (ret > 0) {
		atomic_fetch_add(&sh->procmem_leaks, 1);
		note("procmem: %ld bytes at %p moved", ret, (void *)p);
	}
	check_errno(OP_procmem, "/proc/self/mem", ret,
		    ERRS(EIO, EFAULT, ENOMEM, EPERM, ESRCH, EACCES));
}

static void op_close(struct thr *t)
{
	int fd = table_take(t);

	if (fd >= 0)
		check_errno(OP_close, "close", close(fd), ERRS(EBADF));
}

static void op_dup(struct thr *t)
{
	int src = table_get(t), dst, fd;

	switch (below(t, 3)) {
	case 0:
		fd = dup(src);
		break;
	case 1:
		dst = table_take(t);
		fd = dst >= 0 ? dup2(src, dst) : dup(src);
		if (fd < 0 && dst >= 0)
			close(dst);
		break;
	default:
		fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
		break;
	}
	check_errno(OP_dup, "dup", fd, ERRS(EBADF, EMFILE));
	table_put(t, fd);
}

static void op_dev_open(struct thr *t)
{
	static const int modes[] = { O_RDWR, O_RDWR, O_RDONLY, O_WRONLY, O_PATH };
	int fd = open(MPKLINK_DEVICE_PATH,
		      modes[below(t, ARRAY_SIZE(modes))] | O_CLOEXEC);

	check_errno(OP_dev_open, "open", fd, ERRS(EMFILE, ENFILE));
	table_put(t, fd);
}

/* Valid administration of the pool's channels, racing with their use. */
static void op_admin(struct thr *t)
{
	union req *r = &t->req;
	unsigned long cmd;
	long ret;

	switch (below(t, 20)) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
		cmd = MPKLINK_IOC_CREATE;
		break;
	case 6:
	case 7:
	case 8:
		cmd = MPKLINK_IOC_DESTROY;
		break;
	case 9:
	case 10:
	case 11:
		cmd = MPKLINK_IOC_REVOKE;
		break;
	default:
		cmd = MPKLINK_IOC_GRANT;
		break;
	}
	valid_req(t, cmd, r);
	/* Mostly grants that let root in, so that attaches succeed. */
	if (cmd == MPKLINK_IOC_GRANT && chance(t, 50)) {
		memset(&r->grant.principal, 0, sizeof(r->grant.principal));
		r->grant.principal.match = MPKLINK_MATCH_UID;
		r->grant.rights = chance(t, 70) ? MPKLINK_RIGHTS_ALL :
						  MPKLINK_RIGHT_READ;
	}
	ret = ioctl(t->dev, cmd, r);
	if (!root())
		verdict("administration as a user", ret, EPERM);
	else
		check_errno(OP_admin, "administration", ret,
			    ERRS(EEXIST, ENOENT, ENOSPC, ENOMEM));
}

static void op_pkey(struct thr *t)
{
	int key = pkey_alloc(0, below(t, 4));

	if (key >= 0)
		pkey_free(key);
	/* A chaos worker frees keys it does not own, mpklink's included. */
	if (proc.kind == WORKER_CHAOS && chance(t, 50))
		pkey_free(1 + below(t, 15));
}

static void op_unload(struct thr *t)
{
	long ret = syscall(__NR_delete_module, "mpklink",
			   chance(t, 50) ? O_NONBLOCK : 0);
	int err = errno, want = root() ? EWOULDBLOCK : EPERM;

	atomic_fetch_add(&sh->unloads, 1);
	if (ret == -1 && err == want)
		return;
	atomic_fetch_add(&sh->wrong_unloads, 1);
	note("unload while busy: %s, expected %s", ret ? err_name(err) :
	     "unloaded", err_name(want));
}

/* --- children and threads ------------------------------------------------ */

static void run_op(struct thr *t, enum op_kind kind);

/*
 * Waits for child @pid, SIGKILLing it after @kill_after_us (-1: never) and
 * in any case after 10 s; returns its status.
 */
static int reap(pid_t pid, long kill_after_us)
{
	long long start = mpk_now_ns(), deadline = start + 10000000000LL;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (kill_after_us >= 0 && mpk_now_ns() - start >= kill_after_us * 1000) {
			kill(pid, SIGKILL);
			kill_after_us = -1;
		}
		if (mpk_now_ns() > deadline) {
			note("a child did not finish in 10 s");
			atomic_fetch_add(&sh->children_bad, 1);
			kill(pid, SIGKILL);
			deadline = LLONG_MAX;
		}
		usleep(100);
	}
}

static void child_status(const char *who, int status)
{
	atomic_fetch_add(&sh->children, 1);
	if (status != -1 && ((WIFEXITED(status) && !WEXITSTATUS(status)) ||
			     (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)))
		return;
	atomic_fetch_add(&sh->children_bad, 1);
	note("%s ended with status %#x", who, status);
}

/* A child uses what it inherited: only close may work on a channel fd. */
static void foreign_checks(struct thr *t)
{
	struct pollfd pfd = { .fd = t->chan, .events = POLLIN };
	struct mpklink_notify notify = { .size = sizeof(notify) };
	struct mpklink_attach info = { .size = sizeof(info) };
	long results[5];
	int i;

	results[0] = ioctl(t->chan, MPKLINK_CHAN_IOC_INFO, &info) ? errno : 0;
	results[1] = ioctl(t->chan, MPKLINK_CHAN_IOC_NOTIFY, &notify) ? errno : 0;
	results[2] = read(t->chan, t->scratch, 256) < 0 ? errno : 0;
	results[3] = mmap(NULL, MPK_PAGE, PROT_READ, MAP_SHARED, t->chan, 0) ==
		     MAP_FAILED ? errno : 0;
	results[4] = poll(&pfd, 1, 0) == 1 && pfd.revents == POLLERR ? EACCES : 0;
	for (i = 0; i < 5; i++) {
		atomic_fetch_add(&sh->foreign_checks, 1);
		if (results[i] == EACCES)
			continue;
		atomic_fetch_add(&sh->foreign_wrong, 1);
		note("inherited channel fd, check %d: %s instead of EACCES", i,
		     err_name(results[i]));
	}
}

/* Child-safe operations: system calls only, no locks another thread holds. */
static const enum op_kind child_ops[] = {
	OP_dev_ioctl, OP_random_ioctl, OP_attach, OP_chan_ioctl, OP_read,
	OP_poll, OP_mmap, OP_munmap, OP_mprotect, OP_touch, OP_close,
	OP_dev_open,
};

static void op_foreign_child(struct thr *t)
{
	long kill_after = chance(t, 50) ? (long)below(t, 3000) : -1;
	pid_t pid = fork();
	int i, n;

	if (pid == 0) {
		t->in_child = true;
		if (t->chan >= 0)
			foreign_checks(t);
		/* Other fds: whatever they are, nothing may break. */
		t->chan = -1;
		n = below(t, 40);
		for (i = 0; i < n; i++)
			run_op(t, child_ops[below(t, ARRAY_SIZE(child_ops))]);
		_exit(0);
	}
	if (pid > 0)
		child_status("a child using inherited fds", reap(pid, kill_after));
}

/* A member that maps, touches and rings, and exits or is killed. */
static void victim(struct thr *t)
{
	struct mpklink_notify notify = { .size = sizeof(notify) };
	struct mpklink_attach a;
	char name[MPKLINK_NAME_MAX];
	volatile char *all, *own;
	struct pkey_fault f;
	int fd, i, n = below(t, 200);
	size_t all_len, own_len;
	long got;

	if (chance(t, 20))
		strcpy(name, sh->anchor);
	else
		pick_name(t, name);
	fd = mpk_attach_fresh(name, &a);
	if (fd < 0)
		return;
	nonblocking(fd);
	/* MAP_FIXED stays inside the arena, however big the channel. */
	all_len = a.map_size < ARENA_SIZE / 2 ? a.map_size : ARENA_SIZE / 2;
	own_len = mpk_own_len(&a) < ARENA_SIZE / 2 ? mpk_own_len(&a) :
						     ARENA_SIZE / 2;
	all = mmap(ARENA, all_len, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	own = mmap(ARENA + ARENA_SIZE / 2, own_len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, fd, mpk_slot_offset(&a, a.slot));
	if (sh->pku)
		pkey_fault_wrpkru(0);
	for (i = 0; i < n; i++) {
		atomic_fetch_add(&sh->ops, 1);
		switch (below(t, 4)) {
		case 0:
			if (all != MAP_FAILED)
				pkey_fault_read_byte(all + below(t, all_len), &f);
			break;
		case 1:
			if (own != MAP_FAILED)
				pkey_fault_write_byte(own + below(t, own_len),
						      (char)i, &f);
			break;
		case 2:
			notify.slots = chance(t, 50) ? 0 : rnd(t) &
				(a.max_members < 64 ? (1ull << a.max_members) - 1 : ~0ull);
			ioctl(fd, MPKLINK_CHAN_IOC_NOTIFY, &notify);
			break;
		default:
			got = read(fd, t->scratch, 8 * sizeof(struct mpklink_event));
			if (got > 0)
				check_events((void *)t->scratch, got);
			break;
		}
	}
}

static void op_victim_child(struct thr *t)
{
	long kill_after = chance(t, 60) ? (long)below(t, 4000) : -1;
	pid_t pid = fork();

	if (pid == 0) {
		t->in_child = true;
		victim(t);
		_exit(0);	/* with everything still open and mapped */
	}
	if (pid > 0)
		child_status("a member that exits or is killed",
			     reap(pid, kill_after));
}

static void *fuzz_thread(void *arg);

/* A thread that starts while keys are held, does a little, and ends. */
static void op_thread(struct thr *t)
{
	struct thr *nt = calloc(1, sizeof(*nt));
	pthread_t th;

	if (!nt)
		return;
	nt->rng = rnd(t);
	nt->index = -1;
	nt->budget = 10 + below(t, 30);
	if (pthread_create(&th, NULL, fuzz_thread, nt)) {
		free(nt);
		return;
	}
	pthread_join(th, NULL);
}

/* --- the loop -------------------------------------------------------------- */

static unsigned int op_weights_total;

static enum op_kind pick_op(struct thr *t)
{
	unsigned int r = below(t, op_weights_total), i;

	for (i = 0; i < NR_OPS; i++) {
		if (r < op_weights[i])
			return i;
		r -= op_weights[i];
	}
	return OP_touch;
}

static void run_op(struct thr *t, enum op_kind kind)
{
	struct watch *w = t->index >= 0 && !t->in_child ? &proc.watch[t->index] :
							   NULL;
	long long start = mpk_now_ns(), took, max;

	atomic_fetch_add(&sh->ops, 1);
	atomic_fetch_add(&sh->kind[kind], 1);
	atomic_fetch_add(&sh->worker_ops[proc.slot], 1);
	/* Children of the operations below are watched by their parent. */
	if (w && kind != OP_foreign_child && kind != OP_victim_child &&
	    kind != OP_thread) {
		atomic_store(&w->kind, kind);
		atomic_store(&w->nudged, 0);
		atomic_store(&w->start_ns, start);
	}
	switch (kind) {
#define OP_CASE(name, weight) case OP_##name: op_##name(t); break;
	FOR_EACH_OP(OP_CASE)
	default:
		break;
	}
	if (w)
		atomic_store(&w->start_ns, 0);
	took = mpk_now_ns() - start;
	max = atomic_load(&sh->max_op_ns);
	while (took > max && !atomic_compare_exchange_weak(&sh->max_op_ns, &max, took))
		;
}

static bool thread_setup(struct thr *t)
{
	t->chan = t->epfd = t->memfd = -1;
	t->info.pkey = -1;
	t->dev = hide_fd(mpk_dev());
	if (t->dev < 0)
		return false;
	t->ro = mmap(NULL, MPK_PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->ro == MAP_FAILED)
		return false;
	t->scratch = mmap(NULL, SCRATCH_SIZE + MPK_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->scratch == MAP_FAILED ||
	    mprotect(t->scratch + SCRATCH_SIZE, MPK_PAGE, PROT_NONE))
		return false;
	t->epfd = hide_fd(epoll_create1(EPOLL_CLOEXEC));
	t->memfd = hide_fd(open("/proc/self/mem", O_RDWR | O_CLOEXEC));
	if (t->index < 0)
		return true;
	/* The worker's threads share one key for their anchor members. */
	if (t->index == 0) {
		t->chan = mpk_attach(t->dev, sh->anchor, &t->info);
		atomic_store(&proc.anchor_pkey, t->chan >= 0 ? t->info.pkey : -1);
	} else {
		int key;

		while ((key = atomic_load(&proc.anchor_pkey)) == -2)
			usleep(100);
		t->chan = mpk_attach_flags(t->dev, sh->anchor,
					   key >= 0 ? MPKLINK_ATTACH_SHARE_PKEY : 0,
					   key, &t->info);
	}
	t->chan = nonblocking(hide_fd(t->chan));
	return true;
}

static void thread_teardown(struct thr *t)
{
	close(t->dev);
	close(t->chan);
	close(t->epfd);
	close(t->memfd);
	munmap(t->ro, MPK_PAGE);
	munmap(t->scratch, SCRATCH_SIZE + MPK_PAGE);
}

static void *fuzz_thread(void *arg)
{
	struct thr *t = arg;
	long i;

	if (!thread_setup(t)) {
		note("worker thread setup failed: %s", err_name(errno));
		if (t->index == 0)
			atomic_store(&proc.anchor_pkey, -1);
		if (t->index < 0)
			free(t);
		return NULL;
	}
	for (i = 0; i < t->budget && !atomic_load(&sh->stop); i++) {
		enum op_kind kind = pick_op(t);

		if (t->index < 0 && (kind == OP_thread || kind == OP_foreign_child ||
				     kind == OP_victim_child))
			continue;
		run_op(t, kind);
		/* Exit with the other threads busy, mappings and fds open. */
		if (proc.abrupt_at &&
		    atomic_load(&sh->worker_ops[proc.slot]) >= proc.abrupt_at)
			_exit(0);
	}
	thread_teardown(t);
	if (t->index < 0)
		free(t);
	return NULL;
}

static void nudge_handler(int sig)
{
	(void)sig;
}

/* Interrupts operations that wait too long; reports ones that never end. */
static void *watchdog(void *arg)
{
	bool reported[THREADS] = { false };
	int i;

	(void)arg;
	while (!atomic_load(&proc.done)) {
		long long now = mpk_now_ns();

		for (i = 0; i < THREADS; i++) {
			struct watch *w = &proc.watch[i];
			long long start = atomic_load(&w->start_ns);

			if (!start || now - start < NUDGE_NS)
				continue;
			if (!atomic_exchange(&w->nudged, 1))
				syscall(__NR_tgkill, getpid(), atomic_load(&w->tid),
					SIGUSR1);
			if (now - start > SLOW_OP_NS && !reported[i]) {
				reported[i] = true;
				atomic_fetch_add(&sh->slow_ops, 1);
				note("%s did not return in %lld s",
				     op_names[atomic_load(&w->kind)],
				     SLOW_OP_NS / 1000000000LL);
			}
		}
		usleep(20000);
	}
	return NULL;
}

struct thread_start {
	struct thr *t;
	atomic_int *tid;
};

static void *watched_thread(void *arg)
{
	struct thread_start *s = arg;

	atomic_store(s->tid, (int)syscall(__NR_gettid));
	return fuzz_thread(s->t);
}

/*
 * Fresh attaches (no key sharing) to a channel of its own until ENOSPC:
 * how many succeeded, or -1 if something else stopped them.  Each takes an
 * idle key mpklink kept for this process, or a free one.
 */
static int attach_every_key(int *fds, int room)
{
	char name[MPKLINK_NAME_MAX];
	int dev = mpk_dev(), m = 0, fd, i;

	if (dev < 0)
		return -1;
	snprintf(name, sizeof(name), "fuzz.keys.%d", getpid());
	if (mpk_create_n(dev, name, MPK_PAGE, room) ||
	    mpk_grant(dev, name, mpk_by_uid(0), MPKLINK_RIGHT_READ)) {
		mpk_destroy(dev, name);
		close(dev);
		return -1;
	}
	while (m < room) {
		fd = mpk_attach(dev, name, NULL);
		if (fd < 0)
			break;
		fds[m++] = fd;
	}
	if (fd < 0 && fd != -ENOSPC)
		fd = -1;
	mpk_destroy(dev, name);
	close(dev);
	if (fd == -1) {
		for (i = 0; i < m; i++)
			close(fds[i]);
		return -1;
	}
	return m;
}

/*
 * Unmaps every channel mapping, closes every fd; every key can be used
 * again.  mpklink keeps the keys it took (idle, for this process's next
 * attach: it never hands one back), so attaches come first: they take the
 * idle keys and then the free ones, until none is left; whatever pkey_alloc()
 * still finds is counted too.  A key whose use count leaked stays taken.
 */
static void check_keys_returned(void)
{
	/* Exactly the channel fds' name: a path may contain "mpklink" too. */
	static const char chan_map[] = " anon_inode:[mpklink]\n";
	const size_t len = sizeof(chan_map) - 1;
	int fd, n = 0, keys[16], fds[16], attached;
	size_t cap = 0;
	char *line = NULL;
	ssize_t got;
	FILE *maps;

	for (fd = 3; fd < PRIVATE_FD_MIN + 100; fd++)
		close(fd);
	munmap(ARENA, ARENA_SIZE);
	maps = fopen("/proc/self/maps", "r");
	while (maps && (got = getline(&line, &cap, maps)) > 0) {
		unsigned long start, end;

		if ((size_t)got > len && !strcmp(line + got - len, chan_map) &&
		    sscanf(line, "%lx-%lx", &start, &end) == 2)
			munmap((void *)start, end - start);
	}
	free(line);
	if (maps)
		fclose(maps);
	attached = attach_every_key(fds, 16);
	if (attached < 0)
		return;		/* no channel of its own to try: not a check */
	while (n < 16 && (keys[n] = pkey_alloc(0, 0)) >= 0)
		n++;
	atomic_fetch_add(&sh->key_checks, 1);
	if (attached + n != 15) {
		atomic_fetch_add(&sh->key_leaks, 1);
		note("a worker could use %d keys after closing everything (%d attaches, %d pkey_alloc), not 15",
		     attached + n, attached, n);
	}
	while (n--)
		pkey_free(keys[n]);
	while (attached--)
		close(fds[attached]);
}

static int worker(enum worker_kind kind, int slot, long budget,
		  enum worker_end end, uint64_t seed);

/*
 * A fault that no pkey_fault_*() access expected kills the worker, as the
 * default action would, after saying where (the instruction relative to
 * worker(), for addr2line), so that the report points at the access.
 */
static void worker_fault(int signo, siginfo_t *si, void *ctx)
{
	const ucontext_t *uc = ctx;

	if (!pkey_fault_armed)
		note("worker %d: %s, si_code %d, address %p, pkey %d, at worker%+lld",
		     getpid(), signo == SIGSEGV ? "SIGSEGV" : "SIGBUS",
		     si->si_code, si->si_addr,
		     signo == SIGSEGV && si->si_code == SEGV_PKUERR ?
		     (int)si->si_pkey : -1,
		     (long long)(uc->uc_mcontext.gregs[REG_RIP] -
				 (long long)(uintptr_t)worker));
	pkey_fault_handler(signo, si, ctx);
}

static int worker(enum worker_kind kind, int slot, long budget,
		  enum worker_end end, uint64_t seed)
{
	struct sigaction sa = { .sa_handler = nudge_handler };
	struct thread_start starts[THREADS];
	pthread_t threads[THREADS], dog;
	struct thr *t[THREADS];
	int i;

	memset(&proc, 0, sizeof(proc));
	proc.kind = kind;
	proc.slot = slot;
	atomic_store(&proc.anchor_pkey, -2);
	for (i = 0; i < TABLE_SIZE; i++)
		atomic_store(&proc.table[i], -1);
	if (end == END_ABRUPT)
		proc.abrupt_at = budget / 4 + (long)(seed % (budget / 2 + 1));
	if (kind == WORKER_USER &&
	    (setgroups(0, NULL) || setresgid(FUZZ_UID, FUZZ_UID, FUZZ_UID) ||
	     setresuid(FUZZ_UID, FUZZ_UID, FUZZ_UID) ||
	     prctl(PR_SET_DUMPABLE, 1)))
		return 10;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) || pkey_fault_catch_install())
		return 11;
	sa = (struct sigaction) {
		.sa_sigaction = worker_fault,
		.sa_flags = SA_SIGINFO,
	};
	if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL))
		return 11;
	proc.guard = mmap(NULL, 2 * MPK_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (proc.guard == MAP_FAILED ||
	    mprotect(proc.guard + MPK_PAGE, MPK_PAGE, PROT_NONE))
		return 12;

	for (i = 0; i < THREADS; i++) {
		t[i] = calloc(1, sizeof(*t[i]));
		if (!t[i])
			return 13;
		t[i]->rng = seed ^ (0x1000193ull * (i + 1));
		t[i]->index = i;
		t[i]->budget = budget / THREADS;
		starts[i].t = t[i];
		starts[i].tid = &proc.watch[i].tid;
		if (pthread_create(&threads[i], NULL, watched_thread, &starts[i]))
			return 14;
	}
	if (pthread_create(&dog, NULL, watchdog, NULL))
		return 15;
	for (i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	atomic_store(&proc.done, 1);
	pthread_join(dog, NULL);
	/* The threads' own children are reaped; their keys must come back. */
	if (kind == WORKER_ROOT && sh->pku)
		check_keys_returned();
	for (i = 0; i < THREADS; i++)
		free(t[i]);
	return 0;
}

/* --- the parent ------------------------------------------------------------ */

struct running {
	pid_t pid;
	long kill_at;		/* this worker's op count, or 0 */
	long long started;
};

static uint64_t seed_from_env(void)
{
	const char *s = getenv("MPKLINK_FUZZ_SEED");

	if (s && *s)
		return strtoull(s, NULL, 0);
	return (uint64_t)mpk_now_ns() ^ ((uint64_t)getpid() << 32);
}

static long ops_from_env(void)
{
	const char *s = getenv("MPKLINK_FUZZ_OPS");
	long n = s && *s ? strtol(s, NULL, 0) : DEFAULT_OPS;

	return n > 0 ? n : DEFAULT_OPS;
}

static int sha256_file(const char *path, uint8_t *out)
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || sodium_init() < 0)
		return -1;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	close(fd);
	crypto_hash_sha256_final(&st, out);
	return n < 0 ? -1 : 0;
}

static int setup_channels(int dev)
{
	int i, err;

	err = mpk_create_n(dev, sh->anchor, MPK_PAGE, MPKLINK_MAX_MEMBERS);
	if (!err)
		err = mpk_grant(dev, sh->anchor, mpk_by_uid(0), MPKLINK_RIGHTS_ALL);
	if (!err)
		err = mpk_grant(dev, sh->anchor, mpk_by_uid(FUZZ_UID),
				MPKLINK_RIGHTS_ALL);
	for (i = 0; i < POOL && !err; i++) {
		err = mpk_create_n(dev, sh->pool[i], (1 + i % 3) * MPK_PAGE,
				   2 + i);
		if (!err)
			err = mpk_grant(dev, sh->pool[i], mpk_by_uid(0),
					MPKLINK_RIGHTS_ALL);
	}
	return err;
}

#define MAX_LISTED	1024	/* max_channels */

/* The channels that exist now: how many, names in @info. */
static int list_channels(int dev, struct mpklink_channel_info *info)
{
	struct mpklink_listing list = {
		.size = sizeof(list), .entry_size = sizeof(info[0]),
		.count = MAX_LISTED, .entries = (uintptr_t)info,
	};

	if (ioctl(dev, MPKLINK_IOC_LIST, &list))
		return 0;
	return list.count < MAX_LISTED ? list.count : MAX_LISTED;
}

/*
 * Destroys every channel that did not exist before the run (@before):
 * mutated requests create channels under any name.
 */
static void destroy_new_channels(int dev, const struct mpklink_channel_info *before,
				 int nr_before)
{
	static struct mpklink_channel_info now[MAX_LISTED];
	int n = list_channels(dev, now), i, j;

	for (i = 0; i < n; i++) {
		struct mpklink_destroy d = { .size = sizeof(d) };

		for (j = 0; j < nr_before; j++)
			if (!strcmp(now[i].name, before[j].name))
				break;
		if (j < nr_before)
			continue;
		memcpy(d.name, now[i].name, sizeof(d.name));
		ioctl(dev, MPKLINK_IOC_DESTROY, &d);
	}
}

static void kill_all(struct running *run)
{
	int i;

	for (i = 0; i < WORKERS_AT_ONCE; i++)
		if (run[i].pid > 0)
			kill(run[i].pid, SIGKILL);
}

struct run_result {
	long workers, killed, bad_workers;
	bool stalled;
	long long ns;
};

static void run_workers(uint64_t seed, struct run_result *res)
{
	struct running run[WORKERS_AT_ONCE] = { 0 };
	static struct thr rng;	/* only its generator is used */
	long long start = mpk_now_ns(), progress_at = start;
	long last_ops = 0, spawned = 0;
	int i, status, live;

	rng.rng = seed;

	memset(res, 0, sizeof(*res));
	for (;;) {
		long ops = atomic_load(&sh->ops);
		long long now = mpk_now_ns();

		if (ops >= sh->target)
			atomic_store(&sh->stop, 1);
		if (ops != last_ops) {
			last_ops = ops;
			progress_at = now;
		} else if (now - progress_at > STALL_SECONDS * 1000000000LL) {
			res->stalled = true;
			note("no operation finished for %d s", STALL_SECONDS);
			kill_all(run);
			atomic_store(&sh->stop, 1);
			progress_at = LLONG_MAX / 2;
		}
		live = 0;
		for (i = 0; i < WORKERS_AT_ONCE; i++) {
			struct running *r = &run[i];

			if (r->pid > 0 && waitpid(r->pid, &status, WNOHANG) == r->pid) {
				bool killed = r->kill_at && WIFSIGNALED(status) &&
					      WTERMSIG(status) == SIGKILL;

				res->killed += killed;
				if (!killed && !(WIFEXITED(status) &&
						 !WEXITSTATUS(status)) &&
				    !(res->stalled && WIFSIGNALED(status))) {
					res->bad_workers++;
					note("worker %d ended with status %#x",
					     r->pid, status);
				}
				/* Its children, orphaned if it was killed. */
				kill(-r->pid, SIGKILL);
				r->pid = 0;
			}
			if (r->pid > 0 && r->kill_at &&
			    atomic_load(&sh->worker_ops[i]) >= r->kill_at)
				kill(r->pid, SIGKILL);
			if (r->pid <= 0 && !atomic_load(&sh->stop)) {
				long budget = WORKER_OPS_MIN +
					      below(&rng, WORKER_OPS_MAX - WORKER_OPS_MIN);
				enum worker_kind kind = spawned % 4 == 3 ? WORKER_USER :
							spawned % 4 == 1 ? WORKER_CHAOS :
									   WORKER_ROOT;
				enum worker_end end = below(&rng, 4) == 0 ? END_KILLED :
						      below(&rng, 3) == 0 ? END_ABRUPT :
									    END_CLEAN;
				uint64_t wseed = rnd(&rng);

				atomic_store(&sh->worker_ops[i], 0);
				r->kill_at = end == END_KILLED ?
					     1 + (long)below(&rng, budget) : 0;
				r->pid = fork();
				if (r->pid == 0) {
					/* A group of its own, with its children. */
					setpgid(0, 0);
					_exit(worker(kind, i, budget, end, wseed));
				}
				if (r->pid > 0)
					setpgid(r->pid, r->pid);
				spawned++;
			}
			live += r->pid > 0;
		}
		if (!live && atomic_load(&sh->stop))
			break;
		usleep(5000);
	}
	res->workers = spawned;
	res->ns = mpk_now_ns() - start;
	/*
	 * Orphans come to us (the subreaper): gone, every channel they could
	 * create exists by now, for the count of what is left.
	 */
	while (waitpid(-1, &status, 0) > 0 || errno == EINTR)
		;
}

/*
 * The module goes while a child keeps opening the device (each open either
 * holds the module or finds it gone), then comes back.
 */
static void unload_reload(const char *ko, bool *unloaded, bool *reloaded)
{
	atomic_int *seen = mmap(NULL, MPK_PAGE, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long long deadline = mpk_now_ns() + 20000000000LL;
	int tries = 0, fd, kofd;
	pid_t opener;

	*unloaded = *reloaded = false;
	if (seen == MAP_FAILED)
		return;
	/* seen[0]: stop; [1] opens; [2] absent; [3] other errors; [4] opens after reload */
	opener = fork();
	if (opener == 0) {
		while (!atomic_load(&seen[0])) {
			fd = open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
			if (fd >= 0) {
				if (ioctl(fd, MPKLINK_IOC_API_VERSION) ==
				    MPKLINK_API_VERSION)
					atomic_fetch_add(&seen[1], 1);
				else
					atomic_fetch_add(&seen[3], 1);
				close(fd);
			} else if (errno == ENOENT || errno == ENODEV ||
				   errno == ENXIO) {
				atomic_fetch_add(&seen[2], 1);
			} else {
				atomic_fetch_add(&seen[3], 1);
			}
		}
		_exit(0);
	}
	while (mpk_now_ns() < deadline) {
		tries++;
		if (!syscall(__NR_delete_module, "mpklink", O_NONBLOCK)) {
			*unloaded = true;
			break;
		}
		if (errno != EWOULDBLOCK) {
			note("unload with nothing open: %s", err_name(errno));
			break;
		}
		usleep(500);
	}
	ksft_print_msg("unload took %d attempts against a child opening the device\n",
		       tries);
	if (*unloaded) {
		long absent = atomic_load(&seen[2]);

		while (atomic_load(&seen[2]) == absent && mpk_now_ns() < deadline)
			usleep(1000);
		kofd = open(ko, O_RDONLY | O_CLOEXEC);
		*reloaded = kofd >= 0 && !syscall(__NR_finit_module, kofd, "", 0);
		if (kofd >= 0)
			close(kofd);
		if (*reloaded) {
			long opens = atomic_load(&seen[1]);

			while (atomic_load(&seen[1]) == opens && mpk_now_ns() < deadline)
				usleep(1000);
			*reloaded = atomic_load(&seen[1]) > opens;
		}
	}
	atomic_store(&seen[0], 1);
	mpk_wait(opener);
	if (atomic_load(&seen[3])) {
		note("the opener saw %d unexpected results", atomic_load(&seen[3]));
		*unloaded = false;
	}
	ksft_print_msg("the opener: %d opens, %d found no module, %d other\n",
		       atomic_load(&seen[1]), atomic_load(&seen[2]),
		       atomic_load(&seen[3]));
	munmap(seen, MPK_PAGE);
}

int main(void)
{
	static struct mpklink_channel_info before[MAX_LISTED];
	long pages, members, channels;
	const char *ko = getenv("MPKLINK_KO");
	uint64_t seed = seed_from_env();
	struct run_result res;
	bool unloaded, reloaded;
	int dev, i, nr_notes, nr_before;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ksft_print_header();
	if (geteuid() != 0)
		ksft_exit_skip("needs root (run in the guest: tools/vm test fuzz_test)\n");
	ksft_set_plan(13);
	for (i = 0; i < NR_OPS; i++)
		op_weights_total += op_weights[i];
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	sh->target = ops_from_env();
	/* A killed worker's children are reparented to us, to be reaped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		ksft_exit_fail_msg("PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
	sh->pku = pkey_fault_has_pku();
	snprintf(sh->prefix, sizeof(sh->prefix), "fz.%d", getpid());
	snprintf(sh->anchor, sizeof(sh->anchor), "%s.anchor", sh->prefix);
	for (i = 0; i < POOL; i++)
		snprintf(sh->pool[i], sizeof(sh->pool[i]), "%s.p%d", sh->prefix, i);
	if (sha256_file("/proc/self/exe", sh->exe_sha256))
		ksft_exit_fail_msg("cannot hash /proc/self/exe\n");

	ksft_print_msg("seed %#llx (MPKLINK_FUZZ_SEED=%#llx reproduces each thread's operations), %ld operations (MPKLINK_FUZZ_OPS), pku %s\n",
		       (unsigned long long)seed, (unsigned long long)seed,
		       sh->target, sh->pku ? "yes" : "no");
	/* Held open all along: unload attempts meanwhile must be refused. */
	dev = mpk_dev();
	if (dev < 0)
		ksft_exit_fail_msg("open %s: %s\n", MPKLINK_DEVICE_PATH,
				   strerror(errno));
	pages = mpk_stat("pages");
	members = mpk_stat("members");
	channels = mpk_stat("channels");
	nr_before = list_channels(dev, before);
	if (setup_channels(dev))
		ksft_exit_fail_msg("cannot set up the fuzzer's channels\n");

	run_workers(seed, &res);

	ksft_print_msg("%ld operations in %.1f s by %ld worker processes (%ld SIGKILLed mid-run), %ld children; slowest operation %.1f ms\n",
		       atomic_load(&sh->ops), res.ns / 1e9, res.workers, res.killed,
		       atomic_load(&sh->children),
		       atomic_load(&sh->max_op_ns) / 1e6);
	for (i = 0; i < NR_OPS; i++)
		ksft_print_msg("  %-14s %ld\n", op_names[i],
			       atomic_load(&sh->kind[i]));

	ksft_test_result(atomic_load(&sh->ops) >= sh->target,
			 "fuzzed %ld operations, at least the %ld asked for\n",
			 atomic_load(&sh->ops), sh->target);
	ksft_test_result(!res.bad_workers && !atomic_load(&sh->children_bad),
			 "every worker and child exited normally or by the fuzzer's SIGKILL (%ld workers, %ld children)\n",
			 res.workers, atomic_load(&sh->children));
	ksft_test_result(!res.stalled && !atomic_load(&sh->slow_ops),
			 "no operation hung: every one returned within %lld s\n",
			 SLOW_OP_NS / 1000000000LL);
	ksft_test_result(!atomic_load(&sh->unexpected_errno),
			 "every failing call failed with an error its interface documents\n");
	ksft_test_result(!atomic_load(&sh->wrong_verdicts),
			 "mutated arguments with a certain outcome got it (%ld checked)\n",
			 atomic_load(&sh->verdicts));
	ksft_test_result(!atomic_load(&sh->foreign_wrong) &&
			 atomic_load(&sh->foreign_checks),
			 "channel fds used from another process fail with EACCES (%ld checked)\n",
			 atomic_load(&sh->foreign_checks));
	ksft_test_result(!atomic_load(&sh->bad_events),
			 "event reads return whole, well-formed records (%ld read)\n",
			 atomic_load(&sh->events_read));
	ksft_test_result(!atomic_load(&sh->procmem_leaks),
			 "/proc/self/mem and process_vm_readv/writev never reached channel memory (%ld tries)\n",
			 atomic_load(&sh->procmem_tries));
	ksft_test_result(!atomic_load(&sh->wrong_unloads) && atomic_load(&sh->unloads),
			 "unloading the module while it is in use is refused (%ld tries)\n",
			 atomic_load(&sh->unloads));
	if (sh->pku)
		ksft_test_result(!atomic_load(&sh->key_leaks) &&
				 atomic_load(&sh->key_checks),
				 "workers that closed everything could use every protection key again (%ld workers)\n",
				 atomic_load(&sh->key_checks));
	else
		ksft_test_result_skip("no PKU: no protection keys to get back\n");

	destroy_new_channels(dev, before, nr_before);
	close(dev);
	ksft_test_result(mpk_stat("members") == members && members == 0 &&
			 mpk_stat("channels") == channels &&
			 mpk_stat("pages") == pages,
			 "nothing left: %ld members (0), %ld channels (%ld), %ld pages (%ld) in debugfs\n",
			 mpk_stat("members"), mpk_stat("channels"), channels,
			 mpk_stat("pages"), pages);

	if (ko) {
		unload_reload(ko, &unloaded, &reloaded);
		ksft_test_result(unloaded,
				 "with everything closed, the module unloads while a process keeps opening the device\n");
		ksft_test_result(reloaded && mpk_stat("channels") == 0 &&
				 mpk_stat("members") == 0 && mpk_stat("pages") == 0,
				 "the module loads again and works, with nothing in it\n");
	} else {
		ksft_test_result_skip("MPKLINK_KO not set: no unload and reload\n");
		ksft_test_result_skip("MPKLINK_KO not set: no unload and reload\n");
	}

	nr_notes = atomic_load(&sh->nr_notes);
	for (i = 0; i < nr_notes && i < NOTES; i++)
		ksft_print_msg("failure: %s\n", sh->notes[i]);
	if (nr_notes > NOTES)
		ksft_print_msg("... and %d more\n", nr_notes - NOTES);
	if (ksft_get_fail_cnt())
		ksft_print_msg("to reproduce: MPKLINK_FUZZ_SEED=%#llx MPKLINK_FUZZ_OPS=%ld\n",
			       (unsigned long long)seed, sh->target);
	ksft_finished();
}
