// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The memfd backend, for machines without mpklink.ko.  UNPROTECTED: no
 * attestation, no revocation, and any process of the same user can join
 * the channel.  It keeps the same layout and code path as a kernel channel
 * so that the two can be compared, and so services can be developed where
 * the module is not loaded.
 *
 * Every memfd channel of a user is served by that user's broker,
 * mpkshm-broker (broker/), a process of its own listening on the abstract
 * Unix socket "mpkshm/EUID" (memfd_wire.h).  The first member to open a
 * channel with MPKSHM_OPEN_CREATE while the user has no broker binds that
 * name and starts the broker with the socket (memfd_join.c); every member
 * then asks the broker for its channel by name.  A channel lives while any
 * member does, and the broker while any channel does.
 *
 * Abstract names belong to no one: a process of another user can bind
 * ours first.  So a member talks only to a broker whose SO_PEERCRED is our
 * own effective uid; a name held by anyone else is EADDRINUSE, never a
 * join, and nothing is sent before that check, not even the channel's
 * name.
 *
 * Joining: the broker sends the slot, the member id and the directory (a
 * memfd members map read-only); the member creates a memfd for its slot
 * (control page and segment), maps it read-write, seals it
 * (F_SEAL_FUTURE_WRITE, GROW, SHRINK, SEAL) so that others can map it
 * read-only only, and sends it and its doorbell (bell.c) to the broker,
 * which passes every member's to every other member.  Each member maps the
 * channel at fixed addresses laid out like a kernel channel: a range is
 * reserved once, and a peer's memfd is mapped over its slot (MAP_FIXED)
 * when the broker sends it, tagged with the endpoint's protection key.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "memfd_join.h"
#include "memfd_wire.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE)

struct memfd_channel {
	int sock;			/* to the broker */
	uint8_t *base;			/* the whole channel, read-only */
	size_t map_len;
	uint64_t slot_size;
	uint8_t *own;			/* own slot, read-write */
	int segfd;
	int own_bell;			/* our doorbell's write end */
	/* One thread at a time takes in the broker's messages. */
	pthread_mutex_t socket_lock;
	/* The others' doorbells (write ends); the lock keeps a ring from
	 * racing with a member's departure closing its fd. */
	pthread_mutex_t bells_lock;
	int peer_bell[MPKSHM_MAX_MEMBERS];
	uint64_t mapped_id[MPKSHM_MAX_MEMBERS];	/* whose memfd each slot shows */
};

/* --- a member ------------------------------------------------------------ */

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
static void read_socket(struct mpkshm_channel *ch)
{
	struct memfd_channel *m = ch->backend;
	struct mpkshm_wire w = { 0 };
	int fds[2], err;

	pthread_mutex_lock(&m->socket_lock);
	/* An error is the broker gone: we keep what we have. */
	while (!mpkshm_wire_recv(m->sock, &w, fds)) {
		if (w.type != MPKSHM_WIRE_PEER || w.slot >= ch->max_members ||
		    w.slot == ch->slot || fds[0] < 0 || fds[1] < 0) {
			mpkshm_wire_close_fds(fds);
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
		/* Now we can see it sleep and ring it: say so. */
		mpkshm_window_open(ch->pkey, true);
		if (err)
			atomic_fetch_and(&ch->own_ctrl->mapped,
					 ~(1ull << w.slot));
		else
			atomic_fetch_or(&ch->own_ctrl->mapped, 1ull << w.slot);
		mpkshm_window_close(ch->pkey, true);
	}
	pthread_mutex_unlock(&m->socket_lock);
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
		__atomic_store_n(&ch->peers[slot].seg, NULL, __ATOMIC_RELAXED);
		return -EAGAIN;
	}
	__atomic_store_n(&ch->peers[slot].seg,
			 slot_addr(m, slot) + MPKLINK_CTRL_SIZE,
			 __ATOMIC_RELEASE);
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
	pthread_mutex_destroy(&m->socket_lock);
	if (ch->fd >= 0)
		close(ch->fd);
	if (ch->sleep_fd >= 0)
		close(ch->sleep_fd);
	if (m->own_bell >= 0)
		close(m->own_bell);
	mpkshm_key_put(ch->pkey);
	free(m);
}

/* The broker puts us in the directory once it has our memfd. */
static int wait_for_own_slot(struct mpkshm_channel *ch, uint64_t deadline)
{
	struct memfd_channel *m = ch->backend;
	struct pollfd pfd[2] = {
		{ .fd = ch->fd, .events = POLLIN },
		{ .fd = m->sock, .events = POLLIN },
	};
	uint32_t rights, flags;
	uint64_t id;

	for (;;) {
		mpkshm_window_open(ch->pkey, false);
		mpkshm_dir_read_slot(ch->dir, ch->slot, &id, &rights, &flags);
		mpkshm_window_close(ch->pkey, false);
		if (id == ch->member_id)
			return 0;
		if (!mpkshm_ms_left(deadline))
			return -ETIMEDOUT;
		poll(pfd, 2, mpkshm_ms_left(deadline));
		/* It dropped us: it found our memfd or doorbell unfit. */
		if (pfd[1].revents & (POLLHUP | POLLERR))
			return -EPROTO;
		mpkshm_bell_drain(ch->fd);
	}
}

/* Sets up the views once the broker said where we are. */
static int memfd_map(struct mpkshm_channel *ch, const struct mpkshm_wire *w,
		     int dirfd, uint64_t deadline)
{
	struct memfd_channel *m = ch->backend;
	struct mpkshm_wire hello = {
		.type = MPKSHM_WIRE_HELLO, .version = MPKSHM_WIRE_VERSION,
	};
	unsigned int i;
	int fds[2], err;
	void *p;

	ch->slot = w->slot;
	ch->member_id = w->member_id;
	ch->segment_size = w->segment_size;
	ch->max_members = w->max_members;
	if (ch->segment_size < 2 * MPKSHM_PAGE ||
	    ch->segment_size % MPKSHM_PAGE ||
	    ch->segment_size > MPKSHM_MAX_SEGMENT || !ch->max_members ||
	    ch->max_members > MPKSHM_MAX_MEMBERS || w->slot >= ch->max_members)
		return -EPROTO;
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
	err = mpkshm_wire_send(m->sock, &hello, fds, 2);
	if (err)
		return err == -EAGAIN ? -EPROTO : err;
	return wait_for_own_slot(ch, deadline);
}

/* Asks the broker for channel @name (and to create it, if we may). */
static int ask(struct mpkshm_channel *ch, const char *name,
	       const struct mpkshm_options *opts)
{
	struct memfd_channel *m = ch->backend;
	struct mpkshm_wire w = {
		.type = MPKSHM_WIRE_OPEN, .version = MPKSHM_WIRE_VERSION,
		.segment_size = opts->segment_size,
		.max_members = opts->max_members,
		.flags = opts->flags & MPKSHM_OPEN_CREATE ? MPKSHM_WIRE_CREATE : 0,
	};
	int err;

	snprintf(w.name, sizeof(w.name), "%s", name);
	err = mpkshm_wire_send(m->sock, &w, NULL, 0);
	/* EPIPE: it closed its listener with us in the backlog (exiting). */
	if (err == -EPIPE)
		return -ECONNRESET;
	return err == -EAGAIN ? -EPROTO : err;
}

/*
 * The broker's answer: our slot and the directory, or a refusal.
 * ECONNRESET: it closed without a word (it is exiting); EAGAIN: it has
 * too many connections waiting (both: try again).
 */
static int welcome(struct mpkshm_channel *ch, uint64_t deadline)
{
	struct memfd_channel *m = ch->backend;
	struct mpkshm_wire w = { 0 };
	int fds[2], err;

	err = mpkshm_wire_recv_by(m->sock, &w, fds, deadline);
	if (err)
		return err;
	if (w.type == MPKSHM_WIRE_REFUSED) {
		mpkshm_wire_close_fds(fds);
		switch (w.error) {
		case EACCES: case EUSERS: case ENOENT: case EINVAL:
		case EMFILE: case EAGAIN:
			return -w.error;
		default:
			return -EPROTO;
		}
	}
	if (w.type != MPKSHM_WIRE_WELCOME || fds[0] < 0 || fds[1] >= 0) {
		mpkshm_wire_close_fds(fds);
		return -EPROTO;
	}
	err = memfd_map(ch, &w, fds[0], deadline);
	close(fds[0]);
	return err;
}

/*
 * Joins channel @name through our user's broker, starting the broker if
 * there is none and the caller may create channels.  Losing the race to
 * start it is joining the winner's; finding the name held by a socket
 * that does not accept us is EADDRINUSE.
 */
static int join(struct mpkshm_channel *ch, const char *name,
		const struct mpkshm_options *opts, uint64_t deadline)
{
	struct memfd_channel *m = ch->backend;
	uint64_t taken_until = 0;	/* how long a starter may take to listen */
	bool name_taken = false;
	int err;

	for (;;) {
		m->sock = mpkshm_broker_connect(deadline);
		if (m->sock == -ENOENT && name_taken &&
		    mpkshm_now_ns() >= taken_until)
			return -EADDRINUSE;	/* bound, and never listening */
		if (m->sock == -ENOENT && opts->flags & MPKSHM_OPEN_CREATE &&
		    mpkshm_ms_left(deadline)) {
			/*
			 * EADDRINUSE: bound by a starter not listening yet, or
			 * by a broker on its way out; once it is gone, ours
			 * binds.
			 */
			err = mpkshm_broker_start();
			if (err && err != -EADDRINUSE)
				return err;
			if (err && !name_taken)
				taken_until = mpkshm_now_ns() + 1000000000ull;
			name_taken = err == -EADDRINUSE;
			if (name_taken)
				usleep(1000);
			continue;
		}
		if (m->sock < 0) {
			err = m->sock;
			m->sock = -1;
			return err == -ENOENT && name_taken ? -EADDRINUSE : err;
		}
		err = ask(ch, name, opts);
		if (!err)
			err = welcome(ch, deadline);
		if ((err != -ECONNRESET && err != -EAGAIN) ||
		    !mpkshm_ms_left(deadline))
			return err == -ECONNRESET || err == -EAGAIN ?
			       -ETIMEDOUT : err;
		/* It was exiting as we came, or busy: start over. */
		close(m->sock);
		m->sock = -1;
		name_taken = false;
		usleep(1000);
	}
}

static int memfd_open(struct mpkshm_channel *ch, const char *name,
		      const struct mpkshm_options *opts)
{
	uint64_t deadline = opts->open_timeout_ms < 0 ? UINT64_MAX :
			    mpkshm_now_ns() +
			    (uint64_t)opts->open_timeout_ms * 1000000u;
	struct memfd_channel *m;
	unsigned int i;
	int err;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->sock = m->segfd = m->own_bell = -1;
	pthread_mutex_init(&m->bells_lock, NULL);
	pthread_mutex_init(&m->socket_lock, NULL);
	for (i = 0; i < MPKSHM_MAX_MEMBERS; i++)
		m->peer_bell[i] = -1;
	ch->backend = m;
	ch->pkey = mpkshm_key_take();
	if (ch->pkey == -ENOSPC) {
		ch->pkey = -1;
		memfd_close(ch);
		return -ENOSPC;
	}
	/* A channel we would create must make sense before we ask. */
	if (opts->flags & MPKSHM_OPEN_CREATE &&
	    (opts->segment_size < 2 * MPKSHM_PAGE ||
	     opts->segment_size % MPKSHM_PAGE ||
	     opts->segment_size > MPKSHM_MAX_SEGMENT || !opts->max_members ||
	     opts->max_members > MPKSHM_MAX_MEMBERS))
		err = -EINVAL;
	else
		err = mpkshm_bell_open(&ch->fd, &m->own_bell);
	if (!err)
		err = join(ch, name, opts, deadline);
	/* Without it, sleeping falls back to poll() and read(). */
	if (!err)
		ch->sleep_fd = mpkshm_bell_sleeper(ch->fd, m->sock);
	if (err)
		memfd_close(ch);
	return err;
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
	read_socket(ch);
	return 0;
}

/*
 * Sleeps on the doorbell and the broker's socket together (bell.c), so
 * that the socket is read only when the broker sent something (a new
 * member's memfd), not after every wake-up.
 */
static int memfd_sleep(struct mpkshm_channel *ch, uint64_t deadline)
{
	struct memfd_channel *m = ch->backend;
	bool ready = false, gone = false;
	int woke;

	if (ch->sleep_fd < 0)
		return -ENOSYS;
	woke = mpkshm_bell_sleep(ch->sleep_fd, deadline, &ready, &gone);
	if (ready)
		read_socket(ch);
	if (gone)	/* the broker left: we keep what we have */
		epoll_ctl(ch->sleep_fd, EPOLL_CTL_DEL, m->sock, NULL);
	return woke;
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
				.uid = geteuid(), .self = i == ch->slot,
			};
		n++;
	}
	mpkshm_window_close(ch->pkey, false);
	return (int)n;
}

static int memfd_no_pubkey(struct mpkshm_channel *ch, unsigned int slot,
		   uint64_t member_id, uint8_t *key)
{
	(void)ch;
	(void)slot;
	(void)member_id;
	(void)key;
	return -ENOKEY;
}

const struct mpkshm_backend_ops mpkshm_memfd_ops = {
	.name = "memfd",
	.open = memfd_open,
	.close = memfd_close,
	.notify = memfd_notify,
	.drain = memfd_drain,
	.sleep = memfd_sleep,
	.peer_views = memfd_peer_views,
	.members = memfd_members,
	.peer_pubkey = memfd_no_pubkey,
};
