// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * mpkshm-broker: the broker of one memfd channel, in a process of its own.
 *
 * libmpkshm starts it (backend_memfd.c) when a member opens a memfd channel
 * that does not exist yet, with MPKSHM_OPEN_CREATE: the library binds and
 * listens on the channel's abstract socket and hands the socket over as
 * descriptor 3.  It runs in its own session, so no member's exit, crash or
 * terminal signal takes it down, and it exits when the last member has
 * left: the channel lives exactly as long as some member does.
 *
 *   mpkshm-broker SEGMENT_SIZE MAX_MEMBERS NAME
 *
 * The broker owns the directory (a memfd sealed so that members can map it
 * read-only only), assigns slots and member ids, and passes each member's
 * sealed slot memfd and doorbell to every other member.  It trusts no
 * member: processes of another effective uid are refused (EACCES), a
 * member that sends anything but one well-formed HELLO is dropped, one
 * that connects and says nothing for HELLO_TIMEOUT_MS is dropped, and
 * every socket is written with MSG_DONTWAIT: what a member has not yet
 * been sent is remembered as a bitmap of slots ("untold"), sent when it
 * has read what it was sent before, so a member that stops reading delays
 * only itself and holds at most UNREAD_MAX bytes of our messages.  A
 * member leaves when its socket closes or its process exits (a pidfd), so
 * a forked child holding the socket does not keep a dead member in.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/mpklink.h>
#include <linux/sockios.h>

#include "../src/memfd_wire.h"

#define LISTEN_FD		3
#define HELLO_TIMEOUT_MS	10000	/* a joiner that says nothing is dropped */
#define IDLE_TIMEOUT_MS		10000	/* nobody joined since the start: exit */
#define UNREAD_MAX		(96 * 1024)	/* a member may leave unread */
#define RETELL_MS		100	/* then, how often we look again */
#define PAGE			4096u
#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE)

struct member {
	int sock;			/* -1: free slot */
	int pidfd;			/* its process, -1: not known */
	uint64_t id;
	bool joined;			/* sent its HELLO */
	int segfd;
	int bell;			/* its doorbell's write end */
	uint64_t untold;		/* slots whose member it was not sent */
	bool full;			/* its socket said EAGAIN: wait for POLLOUT */
	uint64_t hello_by;		/* ms: drop it if it has not joined */
};

struct broker {
	int dirfd;
	struct mpklink_dir *dir;
	unsigned int max_members;
	uint64_t segment_size;
	uint64_t last_id;
	bool ever_joined;
	uint64_t idle_until;		/* ms */
	struct member m[MPKLINK_MAX_MEMBERS];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dir_set(struct broker *b, unsigned int slot, uint64_t id)
{
	struct mpklink_dir *dir = b->dir;

	__atomic_store_n(&dir->seq, dir->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	dir->slots[slot].member_id = id;
	dir->slots[slot].rights = id ? MPKLINK_RIGHTS_ALL : 0;
	dir->slots[slot].flags = id ? MPKLINK_DIR_SLOT_WRITER : 0;
	__atomic_store_n(&dir->seq, dir->seq + 1, __ATOMIC_RELEASE);
}

/* Doorbells were made non-blocking when they were accepted. */
static void ring_all(struct broker *b)
{
	unsigned int i;

	for (i = 0; i < b->max_members; i++)
		if (b->m[i].joined)
			eventfd_write(b->m[i].bell, 1);
}

static void drop(struct broker *b, unsigned int slot)
{
	struct member *m = &b->m[slot];
	bool was_joined = m->joined;
	unsigned int i;

	if (m->sock < 0)
		return;
	if (was_joined) {
		dir_set(b, slot, 0);
		close(m->segfd);
		close(m->bell);
	}
	close(m->sock);
	if (m->pidfd >= 0)
		close(m->pidfd);
	*m = (struct member){ .sock = -1, .pidfd = -1 };
	for (i = 0; i < b->max_members; i++)
		b->m[i].untold &= ~(1ull << slot);
	if (was_joined)
		ring_all(b);
}

/*
 * Whether @m has more unread from us than it needs: a member that stops
 * reading would otherwise pile up descriptors in flight, which the kernel
 * counts against our user (RLIMIT_NOFILE), harming every other member.
 */
static bool backlogged(const struct member *m)
{
	int queued;

	return !ioctl(m->sock, SIOCOUTQ, &queued) && queued > UNREAD_MAX;
}

/* Sends @m what it was not told yet, as far as it takes it. */
static void tell(struct broker *b, unsigned int slot)
{
	struct member *m = &b->m[slot];
	bool told = false;

	while (m->sock >= 0 && m->untold && !backlogged(m)) {
		unsigned int s = __builtin_ctzll(m->untold);
		struct member *o = &b->m[s];
		struct mpkshm_wire w = {
			.type = MPKSHM_WIRE_PEER, .version = MPKSHM_WIRE_VERSION,
			.slot = s, .member_id = o->id,
		};
		int fds[2] = { o->segfd, o->bell }, err;

		if (!o->joined) {
			m->untold &= ~(1ull << s);
			continue;
		}
		err = mpkshm_wire_send(m->sock, &w, fds, 2);
		m->full = err == -EAGAIN;
		if (err == -EAGAIN)
			break;		/* later, when it has room */
		if (err) {
			drop(b, slot);
			return;
		}
		m->untold &= ~(1ull << s);
		told = true;
	}
	/* It may be asleep waiting for one of these: wake it to read them. */
	if (told && m->joined)
		eventfd_write(m->bell, 1);
}

static void refuse(int sock, int error)
{
	struct mpkshm_wire w = {
		.type = MPKSHM_WIRE_REFUSED, .version = MPKSHM_WIRE_VERSION,
		.error = error,
	};

	mpkshm_wire_send(sock, &w, NULL, 0);
	close(sock);
}

static void accept_member(struct broker *b)
{
	struct mpkshm_wire w = {
		.type = MPKSHM_WIRE_WELCOME, .version = MPKSHM_WIRE_VERSION,
	};
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned int slot;
	struct member *m;
	int sock;

	sock = accept4(LISTEN_FD, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (sock < 0)
		return;
	/* The name is guessable: only our own user may join. */
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    cred.uid != geteuid()) {
		refuse(sock, EACCES);
		return;
	}
	for (slot = 0; slot < b->max_members && b->m[slot].sock >= 0; slot++)
		;
	if (slot == b->max_members) {
		refuse(sock, EUSERS);
		return;
	}
	m = &b->m[slot];
	*m = (struct member){
		.sock = sock,
		.pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0),
		.id = ++b->last_id,
		.segfd = -1, .bell = -1,
		.hello_by = now_ms() + HELLO_TIMEOUT_MS,
	};
	w.slot = slot;
	w.member_id = m->id;
	w.segment_size = b->segment_size;
	w.max_members = b->max_members;
	if (mpkshm_wire_send(sock, &w, &b->dirfd, 1))
		drop(b, slot);
}

static bool is_eventfd(int fd)
{
	char link[64], target[32];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:[eventfd]");
}

/* A member's slot memfd and doorbell, as every other member will use them. */
static bool acceptable(struct broker *b, const int fds[2])
{
	struct stat st;
	int seals;

	if (fds[0] < 0 || fds[1] < 0)
		return false;
	seals = fcntl(fds[0], F_GET_SEALS);
	if (seals < 0 || (seals & SEALS) != SEALS || fstat(fds[0], &st) ||
	    st.st_size != (off_t)(MPKLINK_CTRL_SIZE + b->segment_size))
		return false;
	/* Rung by the broker and every member: it must never block them. */
	return is_eventfd(fds[1]) &&
	       !fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
}

static void hello(struct broker *b, unsigned int slot)
{
	struct member *m = &b->m[slot];
	struct mpkshm_wire w = { 0 };
	unsigned int i;
	int fds[2], err;

	err = mpkshm_wire_recv(m->sock, &w, fds);
	if (err == -EAGAIN)
		return;
	if (err || w.type != MPKSHM_WIRE_HELLO || m->joined ||
	    !acceptable(b, fds)) {
		mpkshm_wire_close_fds(fds);
		drop(b, slot);
		return;
	}
	m->segfd = fds[0];
	m->bell = fds[1];
	m->joined = true;
	b->ever_joined = true;
	/*
	 * Everyone learns of everyone: the newcomer of all, all of it, and
	 * each before the directory names the newcomer, so that a member that
	 * sees it there finds its memfd waiting in its socket.
	 */
	for (i = 0; i < b->max_members; i++) {
		if (!b->m[i].joined || i == slot)
			continue;
		b->m[i].untold |= 1ull << slot;
		m->untold |= 1ull << i;
		tell(b, i);
	}
	tell(b, slot);
	if (m->sock < 0)
		return;		/* it could not even take that */
	dir_set(b, slot, m->id);
	ring_all(b);
}

static unsigned int members(const struct broker *b)
{
	unsigned int i, n = 0;

	for (i = 0; i < b->max_members; i++)
		n += b->m[i].sock >= 0;
	return n;
}

static void serve(struct broker *b)
{
	struct pollfd pfd[1 + 2 * MPKLINK_MAX_MEMBERS];
	unsigned int slot_of[1 + 2 * MPKLINK_MAX_MEMBERS];
	unsigned int i, n;
	int timeout;

	for (;;) {
		uint64_t now = now_ms(), next = UINT64_MAX;

		for (i = 0; i < b->max_members; i++) {
			struct member *m = &b->m[i];

			if (m->sock >= 0 && !m->joined && now >= m->hello_by)
				drop(b, i);
			else if (m->sock >= 0 && !m->joined && m->hello_by < next)
				next = m->hello_by;
		}
		if (!members(b) && (b->ever_joined || now >= b->idle_until) &&
		    !poll(&(struct pollfd){ .fd = LISTEN_FD, .events = POLLIN },
			  1, 0))
			return;	/* unless someone is joining right now */
		if (!members(b) && b->idle_until < next)
			next = b->idle_until;
		/* Members with a backlog: their socket says nothing when read. */
		for (i = 0; i < b->max_members; i++)
			if (b->m[i].sock >= 0 && b->m[i].untold &&
			    now + RETELL_MS < next)
				next = now + RETELL_MS;
		timeout = next == UINT64_MAX ? -1 :
			  (int)(next - now < INT_MAX ? next - now : INT_MAX);

		n = 0;
		pfd[n++] = (struct pollfd){ .fd = LISTEN_FD, .events = POLLIN };
		for (i = 0; i < b->max_members; i++) {
			struct member *m = &b->m[i];

			if (m->sock < 0)
				continue;
			slot_of[n] = i;
			pfd[n++] = (struct pollfd){
				.fd = m->sock,
				.events = POLLIN | (m->untold && m->full ?
						    POLLOUT : 0),
			};
			if (m->pidfd >= 0) {
				slot_of[n] = i;
				pfd[n++] = (struct pollfd){ .fd = m->pidfd,
							    .events = POLLIN };
			}
		}
		if (poll(pfd, n, timeout) < 0)
			continue;
		for (i = 0; i < b->max_members; i++)
			if (b->m[i].sock >= 0 && b->m[i].untold)
				tell(b, i);
		if (pfd[0].revents & POLLIN)
			accept_member(b);
		for (i = 1; i < n; i++) {
			struct member *m = &b->m[slot_of[i]];
			short ev = pfd[i].revents;

			/* Dropped (and maybe reused) earlier in this round. */
			if (!ev || (m->sock != pfd[i].fd && m->pidfd != pfd[i].fd))
				continue;
			if (pfd[i].fd == m->pidfd || ev & (POLLHUP | POLLERR)) {
				drop(b, slot_of[i]);
				continue;
			}
			if (ev & POLLIN)
				hello(b, slot_of[i]);
			if (ev & POLLOUT && m->sock == pfd[i].fd)
				tell(b, slot_of[i]);
		}
	}
}

static int directory_create(struct broker *b)
{
	b->dirfd = memfd_create("mpkshm-directory", MFD_CLOEXEC |
				MFD_ALLOW_SEALING);
	if (b->dirfd < 0 || ftruncate(b->dirfd, MPKLINK_DIR_SIZE))
		return -1;
	b->dir = mmap(NULL, MPKLINK_DIR_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED, b->dirfd, 0);
	/* Our mapping stays writable; nobody can make another one. */
	if (b->dir == MAP_FAILED || fcntl(b->dirfd, F_ADD_SEALS, SEALS))
		return -1;
	b->dir->magic = MPKLINK_DIR_MAGIC;
	b->dir->version = MPKLINK_API_VERSION;
	b->dir->max_members = b->max_members;
	b->dir->ctrl_size = MPKLINK_CTRL_SIZE;
	b->dir->segment_size = b->segment_size;
	b->dir->slot_size = MPKLINK_CTRL_SIZE + b->segment_size;
	return 0;
}

static bool parse(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static struct broker b;
	struct rlimit files;
	uint64_t seg, members_max;
	socklen_t len = sizeof(int);
	unsigned int i;
	int listening;
	pid_t pid;

	if (argc != 4 || !parse(argv[1], 1ull << 40, &seg) ||
	    !parse(argv[2], MPKLINK_MAX_MEMBERS, &members_max) ||
	    seg < 2 * PAGE || seg % PAGE || !members_max ||
	    strnlen(argv[3], MPKLINK_NAME_MAX) == MPKLINK_NAME_MAX) {
		fprintf(stderr, "usage: mpkshm-broker SEGMENT_SIZE MAX_MEMBERS NAME\n"
			"(started by libmpkshm, with the channel's listening socket as fd 3)\n");
		return 2;
	}
	if (getsockopt(LISTEN_FD, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) ||
	    !listening) {
		fprintf(stderr, "mpkshm-broker: fd 3 is not a listening socket\n");
		return 2;
	}
	/* Nothing of the process that started us, and nobody to inspect us. */
	close_range(LISTEN_FD + 1, ~0u, 0);
	/* Descriptors in flight to members count against this limit. */
	if (!getrlimit(RLIMIT_NOFILE, &files)) {
		files.rlim_cur = files.rlim_max;
		setrlimit(RLIMIT_NOFILE, &files);
	}
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	fcntl(LISTEN_FD, F_SETFL, fcntl(LISTEN_FD, F_GETFL) | O_NONBLOCK);

	b.segment_size = seg;
	b.max_members = (unsigned int)members_max;
	for (i = 0; i < MPKLINK_MAX_MEMBERS; i++)
		b.m[i] = (struct member){ .sock = -1, .pidfd = -1 };
	if (directory_create(&b))
		return 1;
	/*
	 * The library waits for this process: it exits once the broker is
	 * ready, and the broker, reparented, is nobody's child to reap.
	 */
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid > 0)
		_exit(0);
	b.idle_until = now_ms() + IDLE_TIMEOUT_MS;
	serve(&b);
	return 0;
}
