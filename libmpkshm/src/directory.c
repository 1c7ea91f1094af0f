// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The directory: which member holds which slot, as the kernel (or the
 * memfd broker, or the thread backend) publishes it under a sequence
 * count, applied to the endpoint's table of peers.
 *
 * Any thread of an endpoint may notice a change first (a sender, a
 * receiver, a call waiting for its response); dir_lock makes applying it
 * one thread's job, so that no update is lost between two of them.
 */
#include <errno.h>

#include "core.h"

void mpkshm_dir_read_slot(const struct mpklink_dir *dir, unsigned int slot,
			  uint64_t *member_id, uint32_t *rights,
			  uint32_t *flags)
{
	const volatile struct mpklink_dir_slot *s = &dir->slots[slot];
	uint64_t seq;

	do {
		seq = __atomic_load_n(&dir->seq, __ATOMIC_ACQUIRE);
		*member_id = s->member_id;
		*rights = s->rights;
		*flags = s->flags;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((seq & 1) || seq != __atomic_load_n(&dir->seq, __ATOMIC_RELAXED));
}

/*
 * As a writer: a reader joined.  It starts at our head now, in both
 * classes, having lost nothing yet; until its cursors show up, these marks
 * bound us (send.c).
 */
static void note_reader(struct mpkshm_channel *ch, unsigned int slot,
			uint64_t reader)
{
	struct mpkshm_mark *mk = &ch->own_ctrl->marks[slot];
	uint64_t head;
	unsigned int k;

	if (!ch->own_ring)
		return;
	pthread_mutex_lock(&ch->marks_lock);
	if (atomic_load_explicit(&mk->reader_id, memory_order_relaxed) != reader) {
		head = atomic_load(&ch->own_ring->head);
		atomic_store_explicit(&mk->reader_id, 0, memory_order_relaxed);
		for (k = 0; k < MPKSHM_CLASSES; k++)
			atomic_store_explicit(&mk->pos[k], head,
					      memory_order_relaxed);
		for (k = 0; k < MPKSHM_CLASSES; k++)
			atomic_store_explicit(&ch->own_ctrl->dropped[slot][k],
					      0, memory_order_relaxed);
		atomic_store_explicit(&mk->reader_id, reader,
				      memory_order_release);
	}
	pthread_mutex_unlock(&ch->marks_lock);
}

/* Applies the directory to the peers table (key open, dir_lock held). */
static int apply(struct mpkshm_channel *ch, uint64_t seq)
{
	bool pending = false;
	unsigned int i;
	int err = 0;

	for (i = 0; i < ch->max_members; i++) {
		struct mpkshm_peer *p = &ch->peers[i];
		uint32_t rights, flags;
		uint64_t id;

		mpkshm_dir_read_slot(ch->dir, i, &id, &rights, &flags);
		if (flags & MPKLINK_DIR_SLOT_REVOKED)
			id = 0;	/* gone as far as messages go */
		if (i == ch->slot) {
			if (id != ch->member_id)
				atomic_store(&ch->revoked, true);
			continue;
		}
		if (mpkshm_peer_id(ch, i) != id) {
			if (id)
				atomic_fetch_or(&ch->present, 1ull << i);
			__atomic_store_n(&p->rights, rights, __ATOMIC_RELAXED);
			__atomic_store_n(&p->member_id, id, __ATOMIC_RELEASE);
			if (!id)
				atomic_fetch_and(&ch->present, ~(1ull << i));
			if (id && rights & MPKSHM_RIGHT_READ)
				note_reader(ch, i, id);
		} else if (!id || __atomic_load_n(&p->seg, __ATOMIC_ACQUIRE)) {
			continue;
		}
		/* A view that is not ready yet is looked at again next time. */
		if (id && ch->ops->peer_views) {
			int ret = ch->ops->peer_views(ch, i);

			if (ret == -EAGAIN)
				pending = true;
			else if (ret)
				err = ret;
		}
	}
	if (!pending)
		atomic_store_explicit(&ch->dir_seq, seq, memory_order_release);
	return err;
}

/*
 * Applies directory changes (key open).  Cheap when nothing changed: one
 * load of the sequence count.
 */
int mpkshm_refresh(struct mpkshm_channel *ch)
{
	uint64_t seq = __atomic_load_n(&ch->dir->seq, __ATOMIC_ACQUIRE);
	int err = 0;

	if (seq != atomic_load_explicit(&ch->dir_seq, memory_order_acquire)) {
		pthread_mutex_lock(&ch->dir_lock);
		seq = __atomic_load_n(&ch->dir->seq, __ATOMIC_ACQUIRE);
		if (seq != atomic_load_explicit(&ch->dir_seq,
						memory_order_relaxed))
			err = apply(ch, seq);
		pthread_mutex_unlock(&ch->dir_lock);
	}
	if (atomic_load(&ch->revoked))
		return -EKEYREVOKED;
	return err;
}

static int writer_present(struct mpkshm_channel *ch, void *arg)
{
	struct mpkshm_member_search *s = arg;
	unsigned int i;
	int err = mpkshm_refresh(ch);

	if (err)
		return err;
	for (i = 0; i < ch->max_members; i++) {
		uint64_t id = mpkshm_peer_id(ch, i);

		if (i != ch->slot && id &&
		    __atomic_load_n(&ch->peers[i].rights, __ATOMIC_RELAXED) &
		    MPKSHM_RIGHT_WRITE) {
			s->id = id;
			return 1;
		}
	}
	return 0;
}

int mpkshm_await_member(struct mpkshm_channel *ch, mpkshm_ready_fn present,
			struct mpkshm_member_search *s, uint64_t *member_id,
			int timeout_ms)
{
	int ret;

	mpkshm_window_open(ch->pkey, true);
	ret = mpkshm_wait_until(ch, present, s, MPKSHM_WAIT_DATA,
				mpkshm_deadline(timeout_ms), 0);
	mpkshm_window_close(ch->pkey, true);
	if (ret < 0)
		return ret;
	*member_id = s->id;
	return 0;
}

MPKSHM_EXPORT int mpkshm_find_peer(struct mpkshm_channel *ch,
				   uint64_t *member_id, int timeout_ms)
{
	struct mpkshm_member_search s = { 0 };
	int ret = mpkshm_usable(ch);

	if (ret)
		return ret;
	if (!member_id)
		return -EINVAL;
	return mpkshm_await_member(ch, writer_present, &s, member_id,
				   timeout_ms);
}
