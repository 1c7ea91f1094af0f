// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The thread backend: the model of the prototype MPKLink grew from, where
 * the services are threads of one process.  A channel is one anonymous
 * region, laid out like a kernel channel and tagged with one protection key
 * that every endpoint shares; each thread has its own PKRU, so the key is
 * open only for threads inside a library call or window.  It exists so that
 * the benchmark compares the two models like for like.
 *
 * No isolation between endpoints beyond PKRU: any thread of the process can
 * open the key.  Doorbells are eventfds (bell.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

struct thread_region {
	struct thread_region *next;
	pid_t pid;			/* a fork child inherits, but owns none */
	char name[MPKLINK_NAME_MAX];
	unsigned int users;
	uint8_t *base;			/* writable view */
	uint8_t *ro;			/* the same pages, mapped read-only */
	size_t len;
	uint64_t slot_size;
	unsigned int max_members;
	int pkey;
	uint64_t last_id;
	int bell[MPKSHM_MAX_MEMBERS];	/* write ends; -1: free slot */
};

static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_region *regions;

static struct thread_region *region_find(const char *name)
{
	struct thread_region *r;

	for (r = regions; r; r = r->next)
		if (r->pid == getpid() && !strcmp(r->name, name))
			return r;
	return NULL;
}

static struct mpklink_dir *region_dir(struct thread_region *r)
{
	return (struct mpklink_dir *)r->base;
}

/* Like the kernel's: directory updates under a sequence count. */
static void dir_set(struct thread_region *r, unsigned int slot, uint64_t id,
		    uint32_t rights)
{
	struct mpklink_dir *dir = region_dir(r);

	__atomic_store_n(&dir->seq, dir->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	dir->slots[slot].member_id = id;
	dir->slots[slot].rights = rights;
	dir->slots[slot].flags = id ? MPKLINK_DIR_SLOT_WRITER : 0;
	__atomic_store_n(&dir->seq, dir->seq + 1, __ATOMIC_RELEASE);
}

/*
 * The region twice over one memfd, both views under the channel's key: a
 * writable one, through which an endpoint writes only its own slot (and
 * the library the directory), and a read-only one through which it reads
 * the others, as the kernel and memfd backends map them.  So a stray write
 * into a message held by a peek faults on the page, whatever PKRU says.
 */
static int region_map(struct thread_region *r)
{
	int fd, err = 0;

	fd = memfd_create("mpkshm-thread", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)r->len)) {
		err = -errno;
		goto out;
	}
	r->base = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED) {
		err = -ENOMEM;
		goto out;
	}
	r->ro = mmap(NULL, r->len, PROT_READ, MAP_SHARED, fd, 0);
	if (r->ro == MAP_FAILED) {
		munmap(r->base, r->len);
		err = -ENOMEM;
		goto out;
	}
	/* A fork child gets neither view: its endpoints are not its own. */
	madvise(r->base, r->len, MADV_DONTFORK);
	madvise(r->ro, r->len, MADV_DONTFORK);
	r->pkey = mpkshm_key_take();
	if (r->pkey == -ENOSPC ||
	    (r->pkey >= 0 &&
	     (pkey_mprotect(r->base, r->len, PROT_READ | PROT_WRITE, r->pkey) ||
	      pkey_mprotect(r->ro, r->len, PROT_READ, r->pkey)))) {
		mpkshm_key_put(r->pkey);
		munmap(r->base, r->len);
		munmap(r->ro, r->len);
		err = -ENOSPC;
	}
out:
	close(fd);
	return err;
}

static int region_create(const char *name, const struct mpkshm_options *o,
			 struct thread_region **out)
{
	struct thread_region *r;
	struct mpklink_dir *dir;
	unsigned int i;
	int err;

	if (!o->segment_size || o->segment_size % MPKSHM_PAGE ||
	    o->segment_size < 2 * MPKSHM_PAGE ||
	    o->segment_size > MPKSHM_MAX_SEGMENT || !o->max_members ||
	    o->max_members > MPKSHM_MAX_MEMBERS)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	strcpy(r->name, name);
	r->pid = getpid();
	r->max_members = o->max_members;
	r->slot_size = MPKLINK_CTRL_SIZE + o->segment_size;
	r->len = MPKLINK_DIR_SIZE + r->max_members * r->slot_size;
	err = region_map(r);
	if (err) {
		free(r);
		return err;
	}
	for (i = 0; i < MPKSHM_MAX_MEMBERS; i++)
		r->bell[i] = -1;
	mpkshm_window_open(r->pkey, true);
	dir = region_dir(r);
	dir->magic = MPKLINK_DIR_MAGIC;
	dir->version = MPKLINK_API_VERSION;
	dir->max_members = r->max_members;
	dir->ctrl_size = MPKLINK_CTRL_SIZE;
	dir->segment_size = o->segment_size;
	dir->slot_size = r->slot_size;
	mpkshm_window_close(r->pkey, true);
	r->next = regions;
	regions = r;
	*out = r;
	return 0;
}

static void region_drop(struct thread_region *r)
{
	struct thread_region **p;

	if (--r->users)
		return;
	for (p = &regions; *p != r; p = &(*p)->next)
		;
	*p = r->next;
	munmap(r->base, r->len);
	munmap(r->ro, r->len);
	mpkshm_key_put(r->pkey);
	free(r);
}

static int thread_open(struct mpkshm_channel *ch, const char *name,
		       const struct mpkshm_options *opts)
{
	struct thread_region *r;
	unsigned int slot, i;
	int rd, wr, err;

	err = mpkshm_bell_open(&rd, &wr);
	if (err)
		return err;
	pthread_mutex_lock(&regions_lock);
	r = region_find(name);
	if (!r && !(opts->flags & MPKSHM_OPEN_CREATE))
		err = -ENOENT;
	else if (!r)
		err = region_create(name, opts, &r);
	if (!err) {
		for (slot = 0; slot < r->max_members && r->bell[slot] >= 0;
		     slot++)
			;
		if (slot == r->max_members)
			err = -EUSERS;	/* a new region has room: not new */
	}
	if (err) {
		pthread_mutex_unlock(&regions_lock);
		close(rd);
		close(wr);
		return err;
	}
	r->users++;
	r->bell[slot] = wr;
	ch->backend = r;
	ch->fd = rd;
	/* Without it, sleeping falls back to poll() and read(). */
	ch->sleep_fd = mpkshm_bell_sleeper(rd, -1);
	ch->slot = slot;
	ch->member_id = ++r->last_id;
	ch->rights = MPKSHM_RIGHT_READ | MPKSHM_RIGHT_WRITE;
	ch->segment_size = r->slot_size - MPKLINK_CTRL_SIZE;
	ch->max_members = r->max_members;
	ch->pkey = r->pkey;
	ch->dir = (const struct mpklink_dir *)r->ro;
	for (i = 0; i < r->max_members; i++) {
		const uint8_t *s = r->ro + MPKLINK_DIR_SIZE + i * r->slot_size;

		ch->peers[i].ctrl = (const struct mpkshm_ctrl *)s;
		ch->peers[i].seg = s + MPKLINK_CTRL_SIZE;
	}
	ch->own_ctrl = (struct mpkshm_ctrl *)(r->base + MPKLINK_DIR_SIZE +
					      slot * r->slot_size);
	ch->own_ring = (struct mpkshm_ring *)((uint8_t *)ch->own_ctrl +
					      MPKLINK_CTRL_SIZE);
	mpkshm_window_open(r->pkey, true);
	/* A slot used before holds the last user's bytes: start clean. */
	memset(ch->own_ctrl, 0, r->slot_size);
	dir_set(r, slot, ch->member_id, ch->rights);
	mpkshm_window_close(r->pkey, true);
	pthread_mutex_unlock(&regions_lock);
	return 0;
}

static void thread_close(struct mpkshm_channel *ch)
{
	struct thread_region *r = ch->backend;
	unsigned int i;

	pthread_mutex_lock(&regions_lock);
	mpkshm_window_open(r->pkey, true);
	dir_set(r, ch->slot, 0, 0);
	mpkshm_window_close(r->pkey, true);
	close(r->bell[ch->slot]);
	close(ch->fd);
	if (ch->sleep_fd >= 0)
		close(ch->sleep_fd);
	r->bell[ch->slot] = -1;
	/* The others learn from the directory; wake them to look. */
	for (i = 0; i < r->max_members; i++)
		if (r->bell[i] >= 0)
			mpkshm_bell_ring(r->bell[i]);
	region_drop(r);
	pthread_mutex_unlock(&regions_lock);
}

static int thread_notify(struct mpkshm_channel *ch, uint64_t slots)
{
	struct thread_region *r = ch->backend;
	unsigned int i;

	/* Under the lock: a departing member closes its bell under it. */
	pthread_mutex_lock(&regions_lock);
	for (i = 0; i < r->max_members; i++)
		if (slots & (1ull << i) && r->bell[i] >= 0)
			mpkshm_bell_ring(r->bell[i]);
	pthread_mutex_unlock(&regions_lock);
	return 0;
}

static int thread_drain(struct mpkshm_channel *ch)
{
	mpkshm_bell_drain(ch->fd);
	return 0;
}

static int thread_sleep(struct mpkshm_channel *ch, uint64_t deadline)
{
	bool unused_ready, unused_gone;

	if (ch->sleep_fd < 0)
		return -ENOSYS;
	return mpkshm_bell_sleep(ch->sleep_fd, deadline, &unused_ready,
				 &unused_gone);
}

static int thread_members(struct mpkshm_channel *ch, struct mpkshm_member *out,
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
				.pid = getpid(), .uid = getuid(),
				.self = i == ch->slot,
			};
		n++;
	}
	mpkshm_window_close(ch->pkey, false);
	return (int)n;
}

static int no_pubkey(struct mpkshm_channel *ch, unsigned int slot,
		     uint64_t member_id, uint8_t *key)
{
	(void)ch;
	(void)slot;
	(void)member_id;
	(void)key;
	return -ENOKEY;
}

const struct mpkshm_backend_ops mpkshm_thread_ops = {
	.name = "thread",
	.open = thread_open,
	.close = thread_close,
	.notify = thread_notify,
	.drain = thread_drain,
	.sleep = thread_sleep,
	.members = thread_members,
	.peer_pubkey = no_pubkey,
};
