/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * What the files of the backend-neutral core share among themselves:
 * endpoint.c (endpoints), directory.c (peers), wait.c (waking and
 * sleeping), send.c (writing), recv.c (reading messages), call.c (calls
 * and their responses), serve.c (serving requests).  Backends see
 * internal.h only.
 */
#ifndef MPKSHM_CORE_H
#define MPKSHM_CORE_H

#include <errno.h>
#include <sys/types.h>

#include "internal.h"

/* --- endpoint.c ---------------------------------------------------------- */

/* Nanoseconds from now for a timeout in ms (negative: UINT64_MAX, never). */
uint64_t mpkshm_deadline(int timeout_ms);
static inline uint64_t mpkshm_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * send_lock and recv_lock (struct mpkshm_side_lock): a thread that calls,
 * say, mpkshm_send() inside its own reservation gets EBUSY instead of
 * deadlocking on itself.  On a MPKSHM_OPEN_SINGLE_THREAD endpoint they are
 * not taken.  mpkshm_lock_by(): 0, -EBUSY (the caller holds it),
 * -ETIMEDOUT.  mpkshm_trylock(): 0 or -EBUSY (held, by anyone).
 */
void mpkshm_lock(struct mpkshm_channel *ch, struct mpkshm_side_lock *l);
int mpkshm_lock_by(struct mpkshm_channel *ch, struct mpkshm_side_lock *l,
		   uint64_t deadline);
int mpkshm_trylock(struct mpkshm_channel *ch, struct mpkshm_side_lock *l);
void mpkshm_unlock(struct mpkshm_channel *ch, struct mpkshm_side_lock *l);
/*
 * Entering the send or receive side (@l) by @deadline.  The thread holding
 * that side's zero-copy @window open (or any thread, on a single-threaded
 * endpoint with one open) gets EBUSY: the window must be closed first.
 */
int mpkshm_enter(struct mpkshm_channel *ch, struct mpkshm_side_lock *l,
		 const bool *window, uint64_t deadline);

/* Every call starts here: EBADF in a child after fork, EKEYREVOKED. */
int mpkshm_usable(struct mpkshm_channel *ch);
/* And EPERM without the right to write, or to receive. */
int mpkshm_check_writer(struct mpkshm_channel *ch);
int mpkshm_check_reader(struct mpkshm_channel *ch);

/* The counts mpkshm_serve_stats() reports, in its order. */
enum mpkshm_stat {
	MPKSHM_STAT_REQUESTS,
	MPKSHM_STAT_HANDLER_ERRORS,
	MPKSHM_STAT_TOO_LARGE,
	MPKSHM_STAT_BAD,
	MPKSHM_STAT_INCOMPLETE,
	MPKSHM_STAT_LOST,
	MPKSHM_STAT_READERS_DROPPED,
	MPKSHM_STAT_REPLY_ERRORS,
	MPKSHM_STATS
};

static inline void mpkshm_count(struct mpkshm_channel *ch,
				enum mpkshm_stat stat)
{
	atomic_fetch_add_explicit(&ch->stats[stat], 1, memory_order_relaxed);
}

/* --- wait.c -------------------------------------------------------------- */

/* Rings the members of the slot bitmap @candidates that sleep for @what. */
void mpkshm_wake(struct mpkshm_channel *ch, uint64_t candidates,
		 uint32_t what);

/*
 * Receiving calls begin with it: mpkshm_wait_prepare()'s promise to sleep
 * on mpkshm_fd() ends when the application receives.
 */
void mpkshm_unarm(struct mpkshm_channel *ch);
/* Roles (roles.c): valid names, announcing ours, showing others'. */
bool mpkshm_role_valid(const char *role);
void mpkshm_announce_role(struct mpkshm_channel *ch, const char *role);
void mpkshm_fill_roles(struct mpkshm_channel *ch, struct mpkshm_member *out,
		       unsigned int n);

/* Sending calls begin with it: mpkshm_wait_prepare_send()'s ends so. */
void mpkshm_unarm_space(struct mpkshm_channel *ch);
/*
 * Whether a message of @len bytes could start now, without waiting (1, 0,
 * or -errno); 1 when another thread holds the send lock (send.c).
 */
int mpkshm_room_now(struct mpkshm_channel *ch, uint64_t len);

typedef int (*mpkshm_ready_fn)(struct mpkshm_channel *ch, void *arg);

/* mpkshm_wait_until() flags */
#define MPKSHM_WAIT_STOPPABLE	0x1	/* mpkshm_serve_stop(): ECANCELED */

/*
 * Waits until @ready(ch, arg) is non-zero (returned), an error, or the
 * deadline (ETIMEDOUT).  Called with the key open for writing, which is
 * closed while asleep.  The caller's send_lock or recv_lock stays held
 * throughout: what the caller computed before waiting (where its record
 * goes, the message it is taking into its buffer) must not change under
 * it, so another thread's send (or receive) waits its turn.
 */
int mpkshm_wait_until(struct mpkshm_channel *ch, mpkshm_ready_fn ready,
		      void *arg, uint32_t what, uint64_t deadline,
		      unsigned int flags);

/* What find_peer and find_member look for, and the member found. */
struct mpkshm_member_search {
	const char *role;		/* NULL: any other writer */
	uint64_t id;			/* out */
};

/*
 * Waits up to @timeout_ms, key open, for @present(ch, @s) to find a
 * member; its id in *@member_id.  directory.c.
 */
int mpkshm_await_member(struct mpkshm_channel *ch, mpkshm_ready_fn present,
			struct mpkshm_member_search *s, uint64_t *member_id,
			int timeout_ms);

/* --- send.c -------------------------------------------------------------- */

/* The largest payload one record carries. */
uint64_t mpkshm_max_payload(struct mpkshm_channel *ch);

/* mpkshm_send_message() flags */
#define MPKSHM_SEND_REPLY	0x1	/* drop readers stuck past reply_timeout */

/*
 * Sends a whole message of @kind (one record, or fragments of a quarter
 * ring) to @dest by @deadline.  EPIPE: @dest is not a member.  On an
 * error, *@published (if not NULL) tells whether a fragment went out.
 */
int mpkshm_send_message(struct mpkshm_channel *ch, uint16_t kind,
			uint64_t dest, uint64_t correlation, int32_t status,
			const void *buf, size_t len, uint64_t deadline,
			unsigned int flags, bool *published);

/*
 * Zero copy: a reservation of @len payload bytes (send_lock held and the
 * key open for writing until the commit or abandon), waiting as @flags
 * say; its commit as one record of @kind.  EPERM: the reservation is
 * another thread's, EINVAL: there is none.
 */
int mpkshm_reserve_record(struct mpkshm_channel *ch, size_t len, void **buf,
			  uint64_t deadline, unsigned int flags);
int mpkshm_commit_record(struct mpkshm_channel *ch, size_t len, uint16_t kind,
			 uint64_t dest, uint64_t correlation, int32_t status);
int mpkshm_own_reservation(struct mpkshm_channel *ch);

/* Whether every reader took everything addressed to it (send_lock held). */
int mpkshm_drained(struct mpkshm_channel *ch, void *arg);

/* --- recv.c -------------------------------------------------------------- */

/*
 * A record found for us in a writer's ring.  Only only_slot is set before
 * a search: a look that finds a record fills the rest, and one that does
 * not leaves it unread (zeroing the whole, its header view included, cost
 * 6 ns a message).
 */
struct mpkshm_found {
	unsigned int slot;
	uint64_t writer;
	uint64_t pos;			/* where the record starts */
	struct mpkshm_rec_view view;
	int only_slot;			/* >= 0: look at this writer only */
};

/*
 * Looks for the next record of class @cls for us in writer @slot's ring,
 * passing pads, the other class and records for others.  1: found; 0:
 * nothing; -EBADMSG: the ring is corrupt (that writer is skipped from now
 * on); -ENOBUFS: the writer dropped us (we lost what we had not read).
 */
int mpkshm_look_at_writer(struct mpkshm_channel *ch, unsigned int slot,
			  unsigned int cls, struct mpkshm_found *f);
/* Passes everything up to @next of class @cls and wakes the writer. */
void mpkshm_consume(struct mpkshm_channel *ch, unsigned int slot,
		    unsigned int cls, uint64_t next);
/*
 * Whether what was just read of @f's record is what its writer wrote: the
 * writer is still there (a departed one reads as zeros) and has not
 * dropped us past the record (then it may be overwritten).  0, or
 * ECONNRESET, ENOBUFS.
 */
int mpkshm_read_was_whole(struct mpkshm_channel *ch,
			  const struct mpkshm_found *f, unsigned int cls);
/* Checks the signature of a one-record message in place. */
int mpkshm_verify_record(struct mpkshm_channel *ch,
			 const struct mpkshm_found *f, unsigned int cls);

/* The next message for us (round robin, or f->only_slot's); a ready_fn. */
int mpkshm_find_message(struct mpkshm_channel *ch, void *arg);
/* recv_lock by @deadline; EBUSY: this thread's peek is open. */
int mpkshm_enter_recv(struct mpkshm_channel *ch, uint64_t deadline);

/* --- reassemble.c -------------------------------------------------------- */

/* The split message being taken from @writer in @slot, or NULL. */
struct mpkshm_partial *mpkshm_partial_of(struct mpkshm_channel *ch,
					 unsigned int slot, uint64_t writer);
/* Whether a split message is whole and waits for a large enough buffer. */
bool mpkshm_partial_complete(struct mpkshm_channel *ch);
/* The error recv_many held for the next receive, once, or 0. recv_lock. */
int mpkshm_take_held_error(struct mpkshm_channel *ch);
/* ECONNRESET once for a split message whose writer left (it is freed). */
int mpkshm_partials_departed(struct mpkshm_channel *ch);

/* mpkshm_recv_message() flags */
#define MPKSHM_RECV_STOPPABLE	0x1	/* mpkshm_serve_stop(): ECANCELED */

ssize_t mpkshm_recv_message(struct mpkshm_channel *ch, void *buf, size_t cap,
			    struct mpkshm_msg *info, uint64_t deadline,
			    unsigned int flags);
/*
 * Drops the message mpkshm_recv_message() just refused as too large (from
 * @info's sender and sequence number), fragments still to come included.
 */
int mpkshm_recv_discard(struct mpkshm_channel *ch,
			const struct mpkshm_msg *info);
void mpkshm_partials_free(struct mpkshm_channel *ch);
/* Whether a message waits (for mpkshm_wait_prepare()): recv.c. */
int mpkshm_message_waits(struct mpkshm_channel *ch);

/* --- call.c -------------------------------------------------------------- */

/* Whether a response to a call in flight waits (mpkshm_wait_prepare()). */
int mpkshm_response_waits(struct mpkshm_channel *ch);
void mpkshm_calls_free(struct mpkshm_channel *ch);

#endif /* MPKSHM_CORE_H */
