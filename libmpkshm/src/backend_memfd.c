// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The memfd backend, for machines without mpklink.ko.  UNPROTECTED: no
 * attestation, no revocation, and any process of the same user can join
 * the channel or read its memory.  It keeps the same layout and code path
 * as a kernel channel so that the two can be compared, and so services can
 * be developed where the module is not loaded.
 *
 * The process that creates the channel runs a broker thread on an abstract
 * Unix socket ("mpkshm/UID/NAME"), accepting connections from its own user
 * only.  The broker owns the directory (a memfd, read-only to members) and
 * assigns slots.  Each member creates a memfd for its slot (control page
 * and segment), maps it read-write, then seals it (F_SEAL_FUTURE_WRITE,
 * GROW, SHRINK, SEAL) so that others can map it read-only only, and sends
 * it and its doorbell (bell.c) to the broker, which passes every
 * member's to every other member.  A member's process exiting closes its
 * socket; the broker then frees the slot and rings everyone.
 *
 * Each member maps the channel at fixed addresses laid out like a kernel
 * channel: a range is reserved once, and a peer's memfd is mapped over its
 * slot (MAP_FIXED) when the broker sends it, tagged with the endpoint's
 * protection key.  The channel lives while its creator's endpoint is open;
 * members already in it keep working after that, but nobody can join.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE)

/* Messages on the socket. */
enum { MSG_WELCOME = 1, MSG_HELLO, MSG_PEER };

struct wire {
	uint32_t type;
	uint32_t slot;
	uint64_t member_id;
	uint64_t segment_size;
	uint32_t max_members;
	uint32_t pad;
};

/* --- file descriptors over the socket ------------------------------------ */

static int send_msg(int sock, const struct wire *w, const int *fds, int nfds)
{
	char control[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	struct iovec iov = { (void *)w, sizeof(*w) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds) {
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == sizeof(*w) ? 0 : -EPIPE;
}

/* Receives a message with up to two fds (-1 where none came). */
static int recv_msg(int sock, struct wire *w, int *fds, int flags)
{
	char control[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { w, sizeof(*w) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cm;
	ssize_t n;

	fds[0] = fds[1] = -1;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int n_fds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			memcpy(fds, CMSG_DATA(cm), (n_fds > 2 ? 2 : n_fds) *
			       sizeof(int));
		}
	}
	if (n == 0)
		return -ECONNRESET;
	return n == sizeof(*w) ? 0 : -EBADMSG;
}

static void socket_name(struct sockaddr_un *addr, socklen_t *len,
			const char *name)
{
	int n;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	n = snprintf(addr->sun_path + 1, sizeof(addr->sun_path) - 1,
		     "mpkshm/%u/%s", (unsigned int)getuid(), name);
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

/* --- the broker (in the creating process) -------------------------------- */

struct broker_member {
	int sock;		/* -1: free */
	uint64_t id;
	bool joined;		/* sent its fds */
	int segfd;
	int bell;			/* its doorbell's write end */
};

struct broker {
	int listen;
	int stop[2];		/* a pipe: closing the write end stops it */
	pthread_t thread;
	int dirfd;
	struct mpklink_dir *dir;	/* read-write, the broker's */
	unsigned int max_members;
	uint64_t segment_size;
	uint64_t last_id;
	struct broker_member m[MPKSHM_MAX_MEMBERS];
};

static void broker_dir_set(struct broker *b, unsigned int slot, uint64_t id)
{
	struct mpklink_dir *dir = b->dir;

	__atomic_store_n(&dir->seq, dir->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	dir->slots[slot].member_id = id;
	dir->slots[slot].rights = id ? MPKLINK_RIGHTS_ALL : 0;
	dir->slots[slot].flags = id ? MPKLINK_DIR_SLOT_WRITER : 0;
	__atomic_store_n(&dir->seq, dir->seq + 1, __ATOMIC_RELEASE);
}

static void broker_ring_all(struct broker *b)
{
	unsigned int i;

	for (i = 0; i < b->max_members; i++)
		if (b->m[i].joined)
			mpkshm_bell_ring(b->m[i].bell);
}

static void broker_drop(struct broker *b, unsigned int slot)
{
	struct broker_member *m = &b->m[slot];

	if (m->joined) {
		broker_dir_set(b, slot, 0);
		close(m->segfd);
		close(m->bell);
	}
	close(m->sock);
	*m = (struct broker_member){ .sock = -1 };
	broker_ring_all(b);
}

static void broker_accept(struct broker *b)
{
	struct wire w = { .type = MSG_WELCOME };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned int slot;
	int sock;

	sock = accept4(b->listen, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0)
		return;
	/* Same user only: the name is guessable, the socket is not private. */
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    cred.uid != getuid()) {
		close(sock);
		return;
	}
	for (slot = 0; slot < b->max_members && b->m[slot].sock >= 0; slot++)
		;
	if (slot == b->max_members) {
		close(sock);	/* full: the joiner sees ECONNRESET */
		return;
	}
	b->m[slot].sock = sock;
	b->m[slot].id = ++b->last_id;
	w.slot = slot;
	w.member_id = b->m[slot].id;
	w.segment_size = b->segment_size;
	w.max_members = b->max_members;
	if (send_msg(sock, &w, &b->dirfd, 1))
		broker_drop(b, slot);
}

static bool segment_acceptable(struct broker *b, int segfd, int efd)
{
	struct stat st;
	int seals = fcntl(segfd, F_GET_SEALS);

	return efd >= 0 && seals >= 0 && (seals & SEALS) == SEALS &&
	       !fstat(segfd, &st) &&
	       st.st_size == (off_t)(MPKLINK_CTRL_SIZE + b->segment_size);
}

static void broker_hello(struct broker *b, unsigned int slot)
{
	struct broker_member *m = &b->m[slot];
	struct wire w = { 0 };
	int fds[2], err;
	unsigned int i;

	err = recv_msg(m->sock, &w, fds, 0);
	if (err || w.type != MSG_HELLO || m->joined ||
	    !segment_acceptable(b, fds[0], fds[1])) {
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		broker_drop(b, slot);
		return;
	}
	m->segfd = fds[0];
	m->bell = fds[1];
	m->joined = true;
	broker_dir_set(b, slot, m->id);
	/* Everyone learns of everyone: the newcomer of all, all of it. */
	for (i = 0; i < b->max_members; i++) {
		struct broker_member *o = &b->m[i];
		struct wire peer = { .type = MSG_PEER };
		int ofds[2];

		if (!o->joined || i == slot)
			continue;
		peer.slot = slot;
		peer.member_id = m->id;
		ofds[0] = m->segfd;
		ofds[1] = m->bell;
		send_msg(o->sock, &peer, ofds, 2);
		peer.slot = i;
		peer.member_id = o->id;
		ofds[0] = o->segfd;
		ofds[1] = o->bell;
		send_msg(m->sock, &peer, ofds, 2);
	}
	broker_ring_all(b);
}

static void *broker_main(void *arg)
{
	struct broker *b = arg;
	struct pollfd pfd[MPKSHM_MAX_MEMBERS + 2];
	unsigned int slots[MPKSHM_MAX_MEMBERS + 2];
	unsigned int i, n;

	for (;;) {
		n = 0;
		pfd[n++] = (struct pollfd){ .fd = b->stop[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = b->listen, .events = POLLIN };
		for (i = 0; i < b->max_members; i++) {
			if (b->m[i].sock < 0)
				continue;
			slots[n] = i;
			pfd[n++] = (struct pollfd){ .fd = b->m[i].sock,
						    .events = POLLIN };
		}
		if (poll(pfd, n, -1) < 0)
			continue;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			broker_accept(b);
		for (i = 2; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].revents & (POLLHUP | POLLERR))
				broker_drop(b, slots[i]);
			else
				broker_hello(b, slots[i]);
		}
	}
	for (i = 0; i < b->max_members; i++)
		if (b->m[i].sock >= 0)
			broker_drop(b, i);
	return NULL;
}

static int broker_start(const char *name, const struct mpkshm_options *o,
			struct broker **out)
{
	struct sockaddr_un addr;
	struct broker *b;
	socklen_t len;
	unsigned int i;

	if (!o->segment_size || o->segment_size % MPKSHM_PAGE ||
	    o->segment_size < 2 * MPKSHM_PAGE || !o->max_members ||
	    o->max_members > MPKSHM_MAX_MEMBERS)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->max_members = o->max_members;
	b->segment_size = o->segment_size;
	for (i = 0; i < MPKSHM_MAX_MEMBERS; i++)
		b->m[i].sock = -1;
	b->listen = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	b->dirfd = memfd_create("mpkshm-directory", MFD_CLOEXEC |
				MFD_ALLOW_SEALING);
	if (b->listen < 0 || b->dirfd < 0 || pipe2(b->stop, O_CLOEXEC) ||
	    ftruncate(b->dirfd, MPKLINK_DIR_SIZE))
		goto fail;
	b->dir = mmap(NULL, MPKLINK_DIR_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED, b->dirfd, 0);
	if (b->dir == MAP_FAILED ||
	    fcntl(b->dirfd, F_ADD_SEALS, SEALS))
		goto fail;
	b->dir->magic = MPKLINK_DIR_MAGIC;
	b->dir->version = MPKLINK_API_VERSION;
	b->dir->max_members = b->max_members;
	b->dir->ctrl_size = MPKLINK_CTRL_SIZE;
	b->dir->segment_size = b->segment_size;
	b->dir->slot_size = MPKLINK_CTRL_SIZE + b->segment_size;
	socket_name(&addr, &len, name);
	if (bind(b->listen, (struct sockaddr *)&addr, len)) {
		int err = errno == EADDRINUSE ? -EEXIST : -errno;

		munmap(b->dir, MPKLINK_DIR_SIZE);
		close(b->listen);
		close(b->dirfd);
		close(b->stop[0]);
		close(b->stop[1]);
		free(b);
		return err;
	}
	if (listen(b->listen, 16) ||
	    pthread_create(&b->thread, NULL, broker_main, b))
		goto fail;
	*out = b;
	return 0;
fail:
	/* Only reached before the thread exists. */
	if (b->dir && b->dir != MAP_FAILED)
		munmap(b->dir, MPKLINK_DIR_SIZE);
	if (b->listen >= 0)
		close(b->listen);
	if (b->dirfd >= 0)
		close(b->dirfd);
	free(b);
	return -ENOMEM;
}

static void broker_stop(struct broker *b)
{
	close(b->stop[1]);
	pthread_join(b->thread, NULL);
	close(b->stop[0]);
	close(b->listen);
	munmap(b->dir, MPKLINK_DIR_SIZE);
	close(b->dirfd);
	free(b);
}

/* --- a member ------------------------------------------------------------ */

struct memfd_channel {
	struct broker *broker;		/* when this endpoint created it */
	int sock;
	uint8_t *base;			/* the whole channel, read-only */
	size_t map_len;
	uint64_t slot_size;
	uint8_t *own;			/* own slot, read-write */
	int segfd;
	int own_bell;			/* our doorbell's write end */
	/* The others' doorbells (write ends); the lock keeps a ring from
	 * racing with a member's departure closing its fd. */
	pthread_mutex_t bells_lock;
	int peer_bell[MPKSHM_MAX_MEMBERS];
	uint64_t mapped_id[MPKSHM_MAX_MEMBERS];	/* whose memfd each slot shows */
};

static uint8_t *slot_addr(struct memfd_channel *m, unsigned int slot)
{
	return m->base + MPKLINK_DIR_SIZE + slot * m->slot_size;
}

static int tag(struct mpkshm_channel *ch, void *addr, size_t len, int prot)
{
	if (ch->pkey < 0)
		return 0;
	return pkey_mprotect(addr, len, prot, ch->pkey) ? -errno : 0;
}

/* Shows @fd (or zeros, fd < 0) in @slot of the read-only view. */
static int map_slot(struct mpkshm_channel *ch, unsigned int slot, int fd)
{
	struct memfd_channel *m = ch->backend;
	void *p;

	if (fd >= 0)
		p = mmap(slot_addr(m, slot), m->slot_size, PROT_READ,
			 MAP_SHARED | MAP_FIXED, fd, 0);
	else
		p = mmap(slot_addr(m, slot), m->slot_size, PROT_READ,
			 MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, m->slot_size, MADV_DONTFORK);
	return tag(ch, p, m->slot_size, PROT_READ);
}

/* Takes in the broker's messages: peers' memfds and doorbells. */
static int read_socket(struct mpkshm_channel *ch)
{
	struct memfd_channel *m = ch->backend;
	struct wire w = { 0 };
	int fds[2], err;

	for (;;) {
		err = recv_msg(m->sock, &w, fds, MSG_DONTWAIT);
		if (err == -EAGAIN)
			return 0;
		if (err)
			return 0;	/* the broker is gone: keep what we have */
		if (w.type != MSG_PEER || w.slot >= ch->max_members ||
		    w.slot == ch->slot || fds[0] < 0 || fds[1] < 0) {
			if (fds[0] >= 0)
				close(fds[0]);
			if (fds[1] >= 0)
				close(fds[1]);
			continue;
		}
		err = map_slot(ch, w.slot, fds[0]);
		close(fds[0]);
		pthread_mutex_lock(&m->bells_lock);
		if (m->peer_bell[w.slot] >= 0)
			close(m->peer_bell[w.slot]);
		m->peer_bell[w.slot] = fds[1];
		pthread_mutex_unlock(&m->bells_lock);
		__atomic_store_n(&m->mapped_id[w.slot], err ? 0 : w.member_id,
				 __ATOMIC_RELEASE);
	}
}

/*
 * The directory names a new member in @slot: its view is ready once the
 * broker's message with its memfd has been mapped.  -EAGAIN until then.
 */
static int memfd_peer_views(struct mpkshm_channel *ch, unsigned int slot)
{
	struct memfd_channel *m = ch->backend;
	uint64_t id = __atomic_load_n(&ch->peers[slot].member_id,
				      __ATOMIC_RELAXED);

	if (__atomic_load_n(&m->mapped_id[slot], __ATOMIC_ACQUIRE) != id)
		read_socket(ch);
	if (__atomic_load_n(&m->mapped_id[slot], __ATOMIC_ACQUIRE) != id) {
		ch->peers[slot].seg = NULL;
		return -EAGAIN;
	}
	ch->peers[slot].seg = slot_addr(m, slot) + MPKLINK_CTRL_SIZE;
	return 0;
}

static void memfd_close(struct mpkshm_channel *ch)
{
	struct memfd_channel *m = ch->backend;
	unsigned int i;

	if (m->sock >= 0)
		close(m->sock);	/* the broker frees our slot */
	if (m->base && m->base != MAP_FAILED)
		munmap(m->base, m->map_len);
	if (m->own && m->own != MAP_FAILED)
		munmap(m->own, m->slot_size);
	if (m->segfd >= 0)
		close(m->segfd);
	for (i = 0; i < MPKSHM_MAX_MEMBERS; i++)
		if (m->peer_bell[i] >= 0)
			close(m->peer_bell[i]);
	pthread_mutex_destroy(&m->bells_lock);
	if (ch->fd >= 0)
		close(ch->fd);
	if (m->own_bell >= 0)
		close(m->own_bell);
	if (m->broker)
		broker_stop(m->broker);
	mpkshm_key_put(ch->pkey);
	free(m);
}

static int connect_broker(const char *name)
{
	struct sockaddr_un addr;
	socklen_t len;
	int sock;

	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	socket_name(&addr, &len, name);
	if (connect(sock, (struct sockaddr *)&addr, len)) {
		int err = errno == ECONNREFUSED ? -ENOENT : -errno;

		close(sock);
		return err;
	}
	return sock;
}

/* The broker puts us in the directory once it has our memfd. */
static int wait_for_own_slot(struct mpkshm_channel *ch)
{
	uint64_t deadline = mpkshm_now_ns() + 5000000000ull, id;
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
	uint32_t rights, flags;

	for (;;) {
		mpkshm_window_open(ch->pkey, false);
		mpkshm_dir_read_slot(ch->dir, ch->slot, &id, &rights, &flags);
		mpkshm_window_close(ch->pkey, false);
		if (id == ch->member_id)
			return 0;
		if (mpkshm_now_ns() > deadline)
			return -ETIMEDOUT;
		poll(&pfd, 1, 100);
		mpkshm_bell_drain(ch->fd);
	}
}

/* Sets up the views once the broker said where we are. */
static int memfd_map(struct mpkshm_channel *ch, const struct wire *w,
		     int dirfd)
{
	struct memfd_channel *m = ch->backend;
	struct wire hello = { .type = MSG_HELLO };
	unsigned int i;
	int fds[2], err;
	void *p;

	ch->slot = w->slot;
	ch->member_id = w->member_id;
	ch->segment_size = w->segment_size;
	ch->max_members = w->max_members;
	if (!ch->segment_size || ch->segment_size % MPKSHM_PAGE ||
	    ch->max_members > MPKSHM_MAX_MEMBERS || w->slot >= ch->max_members)
		return -EBADMSG;
	ch->rights = MPKSHM_RIGHT_READ | MPKSHM_RIGHT_WRITE;
	m->slot_size = MPKLINK_CTRL_SIZE + ch->segment_size;
	m->map_len = MPKLINK_DIR_SIZE + ch->max_members * m->slot_size;

	/* Reserve the whole layout, then put the pieces in place. */
	m->base = mmap(NULL, m->map_len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->base == MAP_FAILED)
		return -ENOMEM;
	p = mmap(m->base, MPKLINK_DIR_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED,
		 dirfd, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, MPKLINK_DIR_SIZE, MADV_DONTFORK);
	err = tag(ch, p, MPKLINK_DIR_SIZE, PROT_READ);
	for (i = 0; !err && i < ch->max_members; i++)
		err = map_slot(ch, i, -1);
	if (err)
		return err;

	m->segfd = memfd_create("mpkshm-segment", MFD_CLOEXEC |
				MFD_ALLOW_SEALING);
	if (m->segfd < 0 || ftruncate(m->segfd, m->slot_size))
		return -ENOMEM;
	m->own = mmap(NULL, m->slot_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      m->segfd, 0);
	if (m->own == MAP_FAILED)
		return -ENOMEM;
	madvise(m->own, m->slot_size, MADV_DONTFORK);
	err = tag(ch, m->own, m->slot_size, PROT_READ | PROT_WRITE);
	if (err)
		return err;
	/* From now on nobody can map it writable, not even us again. */
	if (fcntl(m->segfd, F_ADD_SEALS, SEALS))
		return -errno;
	err = map_slot(ch, ch->slot, m->segfd);
	if (err)
		return err;
	m->mapped_id[ch->slot] = ch->member_id;

	ch->dir = (const struct mpklink_dir *)m->base;
	for (i = 0; i < ch->max_members; i++)
		ch->peers[i].ctrl = (const struct mpkshm_ctrl *)slot_addr(m, i);
	ch->own_ctrl = (struct mpkshm_ctrl *)m->own;
	ch->own_ring = (struct mpkshm_ring *)(m->own + MPKLINK_CTRL_SIZE);
	fds[0] = m->segfd;
	fds[1] = m->own_bell;
	err = send_msg(m->sock, &hello, fds, 2);
	if (err)
		return err;
	return wait_for_own_slot(ch);
}

static int memfd_open(struct mpkshm_channel *ch, const char *name,
		      const struct mpkshm_options *opts)
{
	struct memfd_channel *m;
	struct wire w = { 0 };
	int fds[2], err;
	unsigned int i;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->sock = m->segfd = m->own_bell = -1;
	pthread_mutex_init(&m->bells_lock, NULL);
	for (i = 0; i < MPKSHM_MAX_MEMBERS; i++)
		m->peer_bell[i] = -1;
	ch->backend = m;
	ch->pkey = mpkshm_key_take();
	if (ch->pkey == -ENOSPC) {
		ch->pkey = -1;
		memfd_close(ch);
		return -ENOSPC;
	}
	err = mpkshm_bell_open(&ch->fd, &m->own_bell);
	if (err) {
		memfd_close(ch);
		return err;
	}

	m->sock = connect_broker(name);
	if (m->sock == -ENOENT && opts->flags & MPKSHM_OPEN_CREATE) {
		err = broker_start(name, opts, &m->broker);
		if (!err || err == -EEXIST)	/* lost a race: join it */
			m->sock = connect_broker(name);
		else
			m->sock = err;
	}
	if (m->sock < 0) {
		err = m->sock;
		m->sock = -1;
		memfd_close(ch);
		return err;
	}
	err = recv_msg(m->sock, &w, fds, 0);
	if (!err && (w.type != MSG_WELCOME || fds[0] < 0))
		err = -EBADMSG;
	if (fds[1] >= 0)
		close(fds[1]);
	if (!err)
		err = memfd_map(ch, &w, fds[0]);
	if (fds[0] >= 0)
		close(fds[0]);
	if (err) {
		memfd_close(ch);
		return err == -ECONNRESET ? -EUSERS : err;
	}
	return 0;
}

static int memfd_notify(struct mpkshm_channel *ch, uint64_t slots)
{
	struct memfd_channel *m = ch->backend;
	unsigned int i;

	pthread_mutex_lock(&m->bells_lock);
	for (i = 0; i < ch->max_members; i++) {
		if (!(slots & (1ull << i)))
			continue;
		if (i == ch->slot)
			mpkshm_bell_ring(m->own_bell);
		else if (m->peer_bell[i] >= 0)
			mpkshm_bell_ring(m->peer_bell[i]);
	}
	pthread_mutex_unlock(&m->bells_lock);
	return 0;
}

static int memfd_drain(struct mpkshm_channel *ch)
{
	mpkshm_bell_drain(ch->fd);
	return read_socket(ch);
}

static int memfd_members(struct mpkshm_channel *ch, struct mpkshm_member *out,
			 unsigned int room)
{
	unsigned int i, n = 0;

	mpkshm_window_open(ch->pkey, false);
	for (i = 0; i < ch->max_members; i++) {
		uint32_t rights, flags;
		uint64_t id;

		mpkshm_dir_read_slot(ch->dir, i, &id, &rights, &flags);
		if (!id)
			continue;
		if (n < room)
			out[n] = (struct mpkshm_member) {
				.member_id = id, .slot = i, .rights = rights,
				.uid = getuid(), .self = i == ch->slot,
			};
		n++;
	}
	mpkshm_window_close(ch->pkey, false);
	return (int)n;
}

static int memfd_no_pubkey(struct mpkshm_channel *ch, unsigned int slot)
{
	(void)ch;
	(void)slot;
	return -ENOKEY;
}

const struct mpkshm_backend_ops mpkshm_memfd_ops = {
	.name = "memfd",
	.open = memfd_open,
	.close = memfd_close,
	.notify = memfd_notify,
	.drain = memfd_drain,
	.peer_views = memfd_peer_views,
	.members = memfd_members,
	.peer_pubkey = memfd_no_pubkey,
};
