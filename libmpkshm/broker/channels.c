// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * mpkshm-broker's channels: each with its directory (a memfd sealed so
 * that members can map it read-only only), its slots and member ids, and
 * the passing of each member's sealed slot memfd and doorbell to every
 * other member.
 *
 * Nobody is trusted: a member that sends anything but one well-formed
 * HELLO is dropped, and every socket is written with MSG_DONTWAIT.  What
 * a member has not been sent yet is a bitmap of slots ("untold"), sent
 * once it has read what it was sent before (at most UNREAD_MAX bytes
 * unread), so a member that stops reading delays only itself and cannot
 * pile up descriptors in flight, which the kernel counts against the
 * user's RLIMIT_NOFILE for every other member too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "broker.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE)

struct channel *channel_find(struct channel *chs, unsigned int n,
			     const char *name)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (chs[i].name[0] && !strcmp(chs[i].name, name))
			return &chs[i];
	return NULL;
}

int channel_create(struct channel *c, const char *name, uint64_t segment_size,
		   unsigned int max_members)
{
	unsigned int i;

	memset(c, 0, sizeof(*c));
	c->dirfd = memfd_create("mpkshm-directory", MFD_CLOEXEC |
				MFD_ALLOW_SEALING);
	if (c->dirfd < 0)
		return errno;
	if (ftruncate(c->dirfd, MPKLINK_DIR_SIZE)) {
		close(c->dirfd);
		return ENOMEM;
	}
	c->dir = mmap(NULL, MPKLINK_DIR_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED, c->dirfd, 0);
	/* Our mapping stays writable; nobody can make another one. */
	if (c->dir == MAP_FAILED || fcntl(c->dirfd, F_ADD_SEALS, SEALS)) {
		if (c->dir != MAP_FAILED)
			munmap(c->dir, MPKLINK_DIR_SIZE);
		close(c->dirfd);
		return ENOMEM;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->segment_size = segment_size;
	c->max_members = max_members;
	for (i = 0; i < MPKLINK_MAX_MEMBERS; i++)
		c->m[i] = (struct member){ .sock = -1, .pidfd = -1 };
	c->dir->magic = MPKLINK_DIR_MAGIC;
	c->dir->version = MPKLINK_API_VERSION;
	c->dir->max_members = max_members;
	c->dir->ctrl_size = MPKLINK_CTRL_SIZE;
	c->dir->segment_size = segment_size;
	c->dir->slot_size = MPKLINK_CTRL_SIZE + segment_size;
	return 0;
}

void channel_destroy(struct channel *c)
{
	unsigned int i;

	for (i = 0; i < c->max_members; i++)
		channel_drop(c, i);
	munmap(c->dir, MPKLINK_DIR_SIZE);
	close(c->dirfd);
	c->name[0] = '\0';
}

unsigned int channel_members(const struct channel *c)
{
	unsigned int i, n = 0;

	for (i = 0; i < c->max_members; i++)
		n += c->m[i].sock >= 0;
	return n;
}

static void dir_set(struct channel *c, unsigned int slot, uint64_t id)
{
	struct mpklink_dir *dir = c->dir;

	__atomic_store_n(&dir->seq, dir->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	dir->slots[slot].member_id = id;
	dir->slots[slot].rights = id ? MPKLINK_RIGHTS_ALL : 0;
	dir->slots[slot].flags = id ? MPKLINK_DIR_SLOT_WRITER : 0;
	__atomic_store_n(&dir->seq, dir->seq + 1, __ATOMIC_RELEASE);
}

/* Doorbells were made non-blocking when they were accepted. */
static void ring_all(struct channel *c)
{
	unsigned int i;

	for (i = 0; i < c->max_members; i++)
		if (c->m[i].joined)
			eventfd_write(c->m[i].bell, 1);
}

void channel_drop(struct channel *c, unsigned int slot)
{
	struct member *m = &c->m[slot];
	bool was_joined = m->joined;
	unsigned int i;

	if (m->sock < 0)
		return;
	if (was_joined) {
		dir_set(c, slot, 0);
		close(m->segfd);
		close(m->bell);
	}
	close(m->sock);
	if (m->pidfd >= 0)
		close(m->pidfd);
	*m = (struct member){ .sock = -1, .pidfd = -1 };
	for (i = 0; i < c->max_members; i++)
		c->m[i].untold &= ~(1ull << slot);
	if (was_joined)
		ring_all(c);
}

/* Whether @m has more unread from us than it needs. */
static bool backlogged(const struct member *m)
{
	int queued;

	return !ioctl(m->sock, SIOCOUTQ, &queued) && queued > UNREAD_MAX;
}

void channel_tell(struct channel *c, unsigned int slot)
{
	struct member *m = &c->m[slot];
	bool told = false;

	while (m->sock >= 0 && m->untold && !backlogged(m)) {
		unsigned int s = __builtin_ctzll(m->untold);
		struct member *o = &c->m[s];
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
			channel_drop(c, slot);
			return;
		}
		m->untold &= ~(1ull << s);
		told = true;
	}
	/* It may be asleep waiting for one of these: wake it to read them. */
	if (told && m->joined)
		eventfd_write(m->bell, 1);
}

int channel_admit(struct channel *c, int sock, int pidfd, uint64_t id,
		  uint64_t hello_by)
{
	struct mpkshm_wire w = {
		.type = MPKSHM_WIRE_WELCOME, .version = MPKSHM_WIRE_VERSION,
		.member_id = id, .segment_size = c->segment_size,
		.max_members = c->max_members,
	};
	unsigned int slot;

	for (slot = 0; slot < c->max_members && c->m[slot].sock >= 0; slot++)
		;
	if (slot == c->max_members)
		return EUSERS;
	c->m[slot] = (struct member){
		.sock = sock, .pidfd = pidfd, .id = id,
		.segfd = -1, .bell = -1, .hello_by = hello_by,
	};
	w.slot = slot;
	if (mpkshm_wire_send(sock, &w, &c->dirfd, 1)) {
		channel_drop(c, slot);	/* closes both */
		return EPIPE;
	}
	return 0;
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
static bool acceptable(const struct channel *c, const int fds[2])
{
	struct stat st;
	int seals;

	if (fds[0] < 0 || fds[1] < 0)
		return false;
	seals = fcntl(fds[0], F_GET_SEALS);
	if (seals < 0 || (seals & SEALS) != SEALS || fstat(fds[0], &st) ||
	    st.st_size != (off_t)(MPKLINK_CTRL_SIZE + c->segment_size))
		return false;
	/* Rung by the broker and every member: it must never block them. */
	return is_eventfd(fds[1]) &&
	       !fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
}

void channel_readable(struct channel *c, unsigned int slot)
{
	struct member *m = &c->m[slot];
	struct mpkshm_wire w = { 0 };
	unsigned int i;
	int fds[2], err;

	err = mpkshm_wire_recv(m->sock, &w, fds);
	if (err == -EAGAIN)
		return;
	if (err || w.type != MPKSHM_WIRE_HELLO || m->joined ||
	    !acceptable(c, fds)) {
		mpkshm_wire_close_fds(fds);
		channel_drop(c, slot);
		return;
	}
	m->segfd = fds[0];
	m->bell = fds[1];
	m->joined = true;
	/*
	 * Everyone learns of everyone: the newcomer of all, all of it, and
	 * each before the directory names the newcomer, so that a member that
	 * sees it there finds its memfd waiting in its socket.
	 */
	for (i = 0; i < c->max_members; i++) {
		if (!c->m[i].joined || i == slot)
			continue;
		c->m[i].untold |= 1ull << slot;
		m->untold |= 1ull << i;
		channel_tell(c, i);
	}
	channel_tell(c, slot);
	if (m->sock < 0)
		return;		/* it could not even take that */
	dir_set(c, slot, m->id);
	ring_all(c);
}
