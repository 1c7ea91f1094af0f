// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The kernel backend: channels of /dev/mpklink (Documentation/design.md).
 *
 * The kernel does the enforcing: it attests the process at attach, gives it
 * a protection key, tags every mapping with it, makes only the member's own
 * slot writable, and revokes live.  This file only attaches, maps the
 * channel twice (all of it read-only, the own slot read-write), rings
 * doorbells and reads events.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

struct kernel_channel {
	void *all;		/* the whole channel, read-only */
	size_t all_len;
	void *own;		/* own control page and segment, read-write */
	size_t own_len;
	uint64_t slot_size;
	bool no_wait;		/* a module without MPKLINK_CHAN_IOC_WAIT */
};

static int attach(int dev, const char *name, struct mpklink_attach *a)
{
	int fd, key;

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	strcpy(a->name, name);
	fd = ioctl(dev, MPKLINK_IOC_ATTACH, a);
	if (fd >= 0 || errno != ENOSPC)
		return fd >= 0 ? fd : -errno;
	/* No free key in this process: share the least used of ours. */
	key = mpkshm_key_least_used();
	if (key < 0)
		return -ENOSPC;
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->flags = MPKLINK_ATTACH_SHARE_PKEY;
	a->pkey = key;
	strcpy(a->name, name);
	fd = ioctl(dev, MPKLINK_IOC_ATTACH, a);
	return fd >= 0 ? fd : -errno;
}

static void kernel_close(struct mpkshm_channel *ch)
{
	struct kernel_channel *k = ch->backend;

	mpkshm_fault_unregister(ch);
	if (k->own && k->own != MAP_FAILED)
		munmap(k->own, k->own_len);
	if (k->all && k->all != MAP_FAILED)
		munmap(k->all, k->all_len);
	if (ch->fd >= 0)
		close(ch->fd);
	mpkshm_key_use(ch->pkey, -1);
	free(k);
}

static int kernel_open(struct mpkshm_channel *ch, const char *name,
		       const struct mpkshm_options *opts)
{
	struct mpklink_attach a;
	struct kernel_channel *k;
	unsigned int i;
	int dev, err;

	(void)opts;
	dev = open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	ch->fd = attach(dev, name, &a);
	close(dev);
	if (ch->fd < 0)
		return ch->fd;
	k = calloc(1, sizeof(*k));
	if (!k) {
		close(ch->fd);
		return -ENOMEM;
	}
	ch->backend = k;
	fcntl(ch->fd, F_SETFL, O_NONBLOCK);
	ch->slot = a.slot;
	ch->member_id = a.member_id;
	ch->rights = a.rights;
	ch->segment_size = a.segment_size;
	ch->max_members = a.max_members;
	ch->pkey = a.pkey;
	ch->signed_channel = a.channel_flags & MPKLINK_CREATE_SIGNED;
	ch->protection = MPKSHM_PROT_KERNEL;
	mpkshm_key_use(ch->pkey, 1);
	k->slot_size = a.slot_size;

	k->all_len = a.map_size;
	k->all = mmap(NULL, k->all_len, PROT_READ, MAP_SHARED, ch->fd, 0);
	k->own_len = MPKLINK_CTRL_SIZE;
	if (a.rights & MPKLINK_RIGHT_WRITE)
		k->own_len += a.segment_size;
	k->own = mmap(NULL, k->own_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      ch->fd, MPKLINK_DIR_SIZE + a.slot * a.slot_size);
	if (k->all == MAP_FAILED || k->own == MAP_FAILED) {
		err = -errno;
		kernel_close(ch);
		return err;
	}
	ch->dir = k->all;
	for (i = 0; i < ch->max_members; i++) {
		const uint8_t *slot = (const uint8_t *)k->all + MPKLINK_DIR_SIZE +
				      i * k->slot_size;

		ch->peers[i].ctrl = (const struct mpkshm_ctrl *)slot;
		ch->peers[i].seg = slot + MPKLINK_CTRL_SIZE;
	}
	ch->own_ctrl = k->own;
	if (a.rights & MPKLINK_RIGHT_WRITE)
		ch->own_ring = (struct mpkshm_ring *)((uint8_t *)k->own +
						      MPKLINK_CTRL_SIZE);
	err = mpkshm_fault_register(ch, k->all, k->all_len);
	if (!err)
		err = mpkshm_fault_register(ch, k->own, k->own_len);
	if (err)
		kernel_close(ch);
	return err;
}

static int kernel_notify(struct mpkshm_channel *ch, uint64_t slots)
{
	struct mpklink_notify req = { .size = sizeof(req), .slots = slots };

	if (ioctl(ch->fd, MPKLINK_CHAN_IOC_NOTIFY, &req) < 0) {
		if (errno == EKEYREVOKED)
			atomic_store(&ch->revoked, true);
		return -errno;
	}
	return 0;
}

/*
 * Reads every pending event; the directory tells the rest.  A short read
 * took the last of them: no second read to hear EAGAIN.
 */
static int kernel_drain(struct mpkshm_channel *ch)
{
	struct mpklink_event ev[16];
	ssize_t n;
	int i;

	do {
		n = read(ch->fd, ev, sizeof(ev));
		for (i = 0; i < n / (ssize_t)sizeof(ev[0]); i++)
			if (ev[i].type == MPKLINK_EVENT_REVOKED &&
			    ev[i].flags & MPKLINK_EVENT_SELF)
				atomic_store(&ch->revoked, true);
	} while (n == (ssize_t)sizeof(ev));
	if (n == 0)		/* end of file: revoked */
		atomic_store(&ch->revoked, true);
	return atomic_load(&ch->revoked) ? -EKEYREVOKED : 0;
}

static int kernel_sleep(struct mpkshm_channel *ch, uint64_t deadline)
{
	struct kernel_channel *k = ch->backend;
	struct mpklink_wait req = { .size = sizeof(req) };
	uint64_t now;

	if (k->no_wait)
		return -ENOSYS;
	if (deadline == UINT64_MAX) {
		req.timeout_ns = UINT64_MAX;
	} else {
		now = mpkshm_now_ns();
		req.timeout_ns = deadline > now ? deadline - now : 0;
	}
	if (!ioctl(ch->fd, MPKLINK_CHAN_IOC_WAIT, &req)) {
		if (req.events)
			return kernel_drain(ch) ?: 1;
		return 1;
	}
	switch (errno) {
	case ETIMEDOUT:
	case EINTR:
		return 0;
	case ENOTTY:		/* an older module: poll and read */
		k->no_wait = true;
		return -ENOSYS;
	case EKEYREVOKED:
		atomic_store(&ch->revoked, true);
		return -EKEYREVOKED;
	default:
		return -errno;
	}
}

static int list_members(struct mpkshm_channel *ch,
			struct mpklink_member_info *info, unsigned int room)
{
	struct mpklink_listing req = {
		.size = sizeof(req),
		.entry_size = sizeof(*info),
		.count = room,
		.entries = (uintptr_t)info,
	};

	if (ioctl(ch->fd, MPKLINK_CHAN_IOC_MEMBERS, &req) < 0)
		return -errno;
	return (int)req.count;
}

_Static_assert(sizeof(((struct mpkshm_member *)0)->public_key) ==
	       MPKLINK_PUBKEY_SIZE, "an enrolled key fits mpkshm_member");

static int kernel_members(struct mpkshm_channel *ch, struct mpkshm_member *out,
			  unsigned int room)
{
	struct mpklink_member_info info[MPKSHM_MAX_MEMBERS];
	int n, i;

	n = list_members(ch, info, MPKSHM_MAX_MEMBERS);
	for (i = 0; i < n && (unsigned int)i < room; i++) {
		out[i] = (struct mpkshm_member) {
			.member_id = info[i].member_id,
			.slot = info[i].slot,
			.rights = info[i].rights,
			.pid = (pid_t)info[i].pid,
			.uid = info[i].uid,
			.self = info[i].flags & MPKLINK_MEMBER_SELF,
			.has_public_key = info[i].flags & MPKLINK_MEMBER_PUBKEY,
		};
		if (out[i].has_public_key)
			memcpy(out[i].public_key, info[i].pubkey,
			       sizeof(out[i].public_key));
	}
	return n;
}

static int kernel_peer_pubkey(struct mpkshm_channel *ch, unsigned int slot,
			      uint64_t member_id, uint8_t *key)
{
	struct mpklink_member_info info[MPKSHM_MAX_MEMBERS];
	int n, i;

	(void)slot;
	n = list_members(ch, info, MPKSHM_MAX_MEMBERS);
	for (i = 0; i < n && i < MPKSHM_MAX_MEMBERS; i++) {
		if (info[i].member_id != member_id ||
		    !(info[i].flags & MPKLINK_MEMBER_PUBKEY))
			continue;
		memcpy(key, info[i].pubkey, MPKLINK_PUBKEY_SIZE);
		return 0;
	}
	return -ENOKEY;
}

const struct mpkshm_backend_ops mpkshm_kernel_ops = {
	.name = "kernel",
	.open = kernel_open,
	.close = kernel_close,
	.notify = kernel_notify,
	.drain = kernel_drain,
	.sleep = kernel_sleep,
	.members = kernel_members,
	.peer_pubkey = kernel_peer_pubkey,
};
