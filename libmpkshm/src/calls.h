/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * Calls in flight, shared by call.c (the table and the API) and
 * responses.c (taking responses to them).  call_lock held for all of it.
 */
#ifndef MPKSHM_CALLS_H
#define MPKSHM_CALLS_H

#include "core.h"

#define MPKSHM_CALL_PENDING	1	/* status of a call in flight */
#define MPKSHM_NO_SLOT		(~0u)

struct mpkshm_call_state {
	struct mpkshm_call_state *next;	/* in its bucket */
	uint64_t id;			/* its correlation */
	uint64_t server;
	unsigned int server_slot;	/* NO_SLOT: not known yet */
	uint8_t *resp;
	size_t cap;
	bool alloc;			/* resp is ours: allocated at its start */
	uint64_t deadline;
	int status;			/* PENDING, 0 or -errno; atomic */
	size_t len;			/* the response's */
	bool waited;			/* a thread waits for it */
	bool started;			/* its response's first fragment came */
	uint64_t seq, got, total;
	crypto_sign_state sign;
};

static inline struct mpkshm_call_state **mpkshm_call_bucket(struct mpkshm_channel *ch,
					 uint64_t id)
{
	return &ch->calls[id % MPKSHM_CALL_BUCKETS];
}

static inline struct mpkshm_call_state *mpkshm_call_lookup(struct mpkshm_channel *ch,
					uint64_t id)
{
	struct mpkshm_call_state *c;

	for (c = *mpkshm_call_bucket(ch, id); c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static inline void mpkshm_call_unlink(struct mpkshm_channel *ch,
			struct mpkshm_call_state *c)
{
	struct mpkshm_call_state **p;

	for (p = mpkshm_call_bucket(ch, c->id); *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			return;
		}
	}
}

static inline int mpkshm_call_status(const struct mpkshm_call_state *c)
{
	return __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
}

static inline void mpkshm_call_complete(struct mpkshm_channel *ch, struct mpkshm_call_state *c,
		     int status)
{
	__atomic_store_n(&c->status, status, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&ch->call_cond);
}

/*
 * Waits until @c is answered, its deadline (ETIMEDOUT), or @until (then
 * it stays in flight), taking responses for every call meanwhile when no
 * other thread does.
 */
void mpkshm_call_wait_for(struct mpkshm_channel *ch,
			  struct mpkshm_call_state *c, uint64_t until);

#endif /* MPKSHM_CALLS_H */
