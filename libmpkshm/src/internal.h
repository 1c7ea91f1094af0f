/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libmpkshm internals: the memory formats every backend shares, and the
 * interface between the backend-neutral core and the backends.
 *
 * Every backend presents a channel the way /dev/mpklink lays it out: a
 * directory (struct mpklink_dir), and one slot per member made of a control
 * page that only that member writes and, for writers, a segment that only
 * that member writes.  The core (channel.c, ring.c) works on that layout
 * alone.
 */
#ifndef MPKSHM_INTERNAL_H
#define MPKSHM_INTERNAL_H

#include <linux/mpklink.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sodium.h>

#include "mpkshm.h"

#define MPKSHM_EXPORT __attribute__((visibility("default")))

#define MPKSHM_PAGE		4096u
#define MPKSHM_MAX_MEMBERS	MPKLINK_MAX_MEMBERS
#define MPKSHM_SIG_BYTES	64	/* Ed25519 */

/* --- a member's control page (written by that member only) ------------- */

/* This reader's progress in one writer's ring. */
struct mpkshm_cursor {
	_Atomic uint64_t tail;		/* bytes of the ring consumed */
	_Atomic uint64_t writer_id;	/* whose ring (0: none) */
};

/*
 * Where a writer wants a reader to start: set when the writer first sees the
 * reader in the directory, to its head then.  Until the reader registers a
 * cursor, the writer keeps that position as the reader's tail, so nothing
 * published after it saw the reader is lost.
 */
struct mpkshm_start {
	_Atomic uint64_t pos;
	_Atomic uint64_t reader_id;	/* for which reader (0: none) */
};

#define MPKSHM_WAIT_DATA	0x1	/* asleep until a writer publishes */
#define MPKSHM_WAIT_SPACE	0x2	/* asleep until a reader consumes */

struct mpkshm_ctrl {
	struct mpkshm_cursor cursors[MPKSHM_MAX_MEMBERS];	/* as reader */
	struct mpkshm_start starts[MPKSHM_MAX_MEMBERS];		/* as writer */
	_Alignas(64) _Atomic uint32_t waiting;	/* MPKSHM_WAIT_* */
	_Atomic uint32_t send_only;	/* never receives: writers do not wait */
};

_Static_assert(sizeof(struct mpkshm_ctrl) <= MPKLINK_CTRL_SIZE,
	       "the control structure fits the control page");

/* --- a writer's ring, at the start of its segment ----------------------- */

#define MPKSHM_RING_MAGIC	0x4d504b52494e4731ull	/* "MPKRING1" */
#define MPKSHM_ALIGN		64u

struct mpkshm_ring {
	_Atomic uint64_t head;		/* bytes published, ever */
	uint64_t magic;
	uint64_t member_id;		/* the writer */
	uint64_t pad[5];
	/* records, MPKSHM_ALIGN-aligned, up to the end of the segment */
};

/* Record kinds. */
#define MPKSHM_REC_PAD		1	/* skip to the ring's start */
#define MPKSHM_REC_DATA		2
#define MPKSHM_REC_REQUEST	3
#define MPKSHM_REC_RESPONSE	4

/* Record flags. */
#define MPKSHM_REC_FIRST	0x1	/* first fragment of a message */
#define MPKSHM_REC_LAST		0x2	/* last fragment of a message */
#define MPKSHM_REC_SIGNED	0x4	/* a signature follows the payload */

struct mpkshm_rec {
	uint32_t len;			/* payload bytes of this record */
	uint16_t kind;			/* MPKSHM_REC_* */
	uint16_t flags;			/* MPKSHM_REC_FIRST | _LAST | _SIGNED */
	uint64_t seq;			/* the message's number, from 1 */
	uint64_t dest;			/* member id, or 0: everyone */
	uint64_t correlation;
	uint64_t total;			/* the whole message's length */
	uint64_t reserved;
	/* payload, then the signature if MPKSHM_REC_SIGNED */
};

#define MPKSHM_REC_HDR		((uint32_t)sizeof(struct mpkshm_rec))

static inline uint64_t mpkshm_align(uint64_t n)
{
	return (n + MPKSHM_ALIGN - 1) & ~(uint64_t)(MPKSHM_ALIGN - 1);
}

/* Bytes a record with @len payload bytes takes in the ring. */
static inline uint64_t mpkshm_rec_size(uint64_t len, bool sig)
{
	return mpkshm_align(MPKSHM_REC_HDR + len + (sig ? MPKSHM_SIG_BYTES : 0));
}

/* --- ring.c: reading a ring someone else writes (never trusted) --------- */

struct mpkshm_rec_view {
	struct mpkshm_rec hdr;		/* copied once: what we checked */
	const uint8_t *payload;		/* in the ring */
	uint64_t next;			/* tail after consuming it */
};

/*
 * Looks at the record at @tail of the ring (@data, @capacity bytes) whose
 * head reads @head.  Returns 1 and fills @view, 0 when there is none, or
 * -EBADMSG when the writer's indices or headers are impossible.  Every
 * index and length is checked before use; nothing outside the ring is
 * ever read.
 */
int mpkshm_ring_look(const uint8_t *data, uint64_t capacity, uint64_t head,
		     uint64_t tail, struct mpkshm_rec_view *view);

/* The ring capacity a segment of @segment_size bytes gives. */
static inline uint64_t mpkshm_ring_capacity(uint64_t segment_size)
{
	return (segment_size - sizeof(struct mpkshm_ring)) & ~(uint64_t)(MPKSHM_ALIGN - 1);
}

/* --- pku.c: protection-key windows -------------------------------------- */

/*
 * Open and close @pkey for the calling thread, nestably; @write opens it
 * for writing too.  Only that key's PKRU bits change (read-modify-write).
 * No-ops for pkey < 0 (no PKU).
 */
void mpkshm_window_open(int pkey, bool write);
void mpkshm_window_close(int pkey, bool write);
/* A writing window of this thread becomes read-only, or back: one WRPKRU. */
void mpkshm_window_downgrade(int pkey);
void mpkshm_window_upgrade(int pkey);

/*
 * Keys for the memfd and thread backends: a fresh one while the process has
 * one free, else the least used of those the library holds (channels then
 * share a key).  -1 without PKU, -ENOSPC when every key is the
 * application's.
 */
int mpkshm_key_take(void);
void mpkshm_key_put(int pkey);

/*
 * Keys the kernel allocated for kernel-backend channels: which one to ask
 * the kernel to share when it has no free key left, and the counts.
 */
int mpkshm_key_least_used(void);
void mpkshm_key_use(int pkey, int delta);

/* --- the endpoint -------------------------------------------------------- */

struct mpkshm_channel;

struct mpkshm_backend_ops {
	const char *name;
	/* Fills the public key of the member in @slot (signed channels). */
	int (*peer_pubkey)(struct mpkshm_channel *ch, unsigned int slot);
	/* Sets up the views and geometry of @ch; see struct mpkshm_channel. */
	int (*open)(struct mpkshm_channel *ch, const char *name,
		    const struct mpkshm_options *opts);
	void (*close)(struct mpkshm_channel *ch);
	/* Wakes the members in the slot bitmap @slots. */
	int (*notify)(struct mpkshm_channel *ch, uint64_t slots);
	/*
	 * Called after the endpoint's fd polled readable or the directory
	 * changed: consume the fd's readiness, learn about new members.
	 */
	int (*drain)(struct mpkshm_channel *ch);
	/* A member's views appeared or changed (memfd maps them lazily). */
	int (*peer_views)(struct mpkshm_channel *ch, unsigned int slot);
	int (*members)(struct mpkshm_channel *ch, struct mpkshm_member *out,
		       unsigned int room);
};

extern const struct mpkshm_backend_ops mpkshm_kernel_ops;
extern const struct mpkshm_backend_ops mpkshm_memfd_ops;
extern const struct mpkshm_backend_ops mpkshm_thread_ops;

struct mpkshm_peer {
	uint64_t member_id;		/* 0: free slot */
	unsigned int rights;
	const struct mpkshm_ctrl *ctrl;	/* read-only view */
	const uint8_t *seg;		/* read-only view, NULL: unreadable */
	bool corrupt;			/* its ring failed a check: skipped */
	bool has_pubkey;
	uint8_t pubkey[MPKLINK_PUBKEY_SIZE];
	uint64_t last_seq;		/* signed: the newest message verified */
};

/*
 * A split message that a receive began and whose next fragment had not
 * come by its deadline: the fragments it consumed, kept for the next
 * receive to go on with, so that a short timeout loses nothing.
 */
struct mpkshm_partial {
	uint8_t *bytes;			/* malloc()ed, @total long; NULL: none */
	uint64_t got;			/* bytes received so far */
	uint64_t total, seq, writer, correlation;
	unsigned int slot;
	uint16_t kind;
	crypto_sign_state sign;		/* signed channels: the hash so far */
};

struct mpkshm_channel {
	const struct mpkshm_backend_ops *ops;
	void *backend;
	enum mpkshm_backend kind;
	char name[MPKLINK_NAME_MAX];
	pid_t pid;			/* the opener: in a child, nothing works */
	unsigned int fork_generation;	/* forks counted at open */
	unsigned int flags;		/* MPKSHM_OPEN_* */
	unsigned int spin_us;
	int close_timeout_ms;
	int fd;				/* pollable */

	/* Geometry, filled by the backend's open. */
	unsigned int max_members;
	unsigned int slot;
	uint64_t member_id;
	unsigned int rights;
	uint64_t segment_size;
	uint64_t capacity;		/* of a ring */
	int pkey;
	unsigned int protection;
	bool signed_channel;

	/* Views, filled by the backend. */
	const struct mpklink_dir *dir;
	struct mpkshm_ctrl *own_ctrl;	/* writable */
	struct mpkshm_ring *own_ring;	/* writable; NULL without write right */
	struct mpkshm_peer peers[MPKSHM_MAX_MEMBERS];
	uint64_t dir_seq;		/* the directory as last applied */

	/* Writing (send_lock). */
	pthread_mutex_t send_lock;
	uint64_t next_seq;
	bool reserved;			/* a reservation is open */
	uint64_t res_pos;		/* where it starts */
	uint64_t res_room;		/* payload room */
	uint64_t space_until;		/* head may grow to this unchecked */

	/* Readers' start positions in our ring (starts_lock). */
	pthread_mutex_t starts_lock;

	/* Reading (recv_lock). */
	pthread_mutex_t recv_lock;
	bool peeking;			/* a peek window is open */
	unsigned int next_writer;	/* round robin */
	uint64_t next_correlation;
	struct mpkshm_partial partial;

	atomic_bool revoked;
	atomic_bool stop;		/* mpkshm_serve_stop() */
	unsigned char *secret_key;	/* sodium_malloc()ed, signed only */
	char description[256];
};

/* channel.c: shared by the backends */
int mpkshm_refresh(struct mpkshm_channel *ch);
bool mpkshm_peer_is(struct mpkshm_channel *ch, unsigned int slot,
		    uint64_t member_id);
void mpkshm_dir_read_slot(const struct mpklink_dir *dir, unsigned int slot,
			  uint64_t *member_id, uint32_t *rights,
			  uint32_t *flags);

/* fault.c: surviving a revocation that lands during an access */
int mpkshm_fault_register(struct mpkshm_channel *ch, void *start,
			  size_t len);
void mpkshm_fault_unregister(struct mpkshm_channel *ch);

/*
 * sign.c: a signature covers the channel's name, the sender's member id,
 * the message's sequence number and its payload (Ed25519ph, streamed, so a
 * split message is signed and verified fragment by fragment).
 */
int mpkshm_sign_load_key(struct mpkshm_channel *ch, const char *path);
void mpkshm_sign_free_key(struct mpkshm_channel *ch);
void mpkshm_sign_state_begin(crypto_sign_state *state, const char *channel,
			     uint64_t sender, uint64_t seq);
void mpkshm_sign_update(crypto_sign_state *state, const void *data,
			size_t len);
void mpkshm_sign_end(struct mpkshm_channel *ch, crypto_sign_state *state,
		     uint8_t *sig);
void mpkshm_sign(struct mpkshm_channel *ch, uint64_t seq, const void *msg,
		 size_t len, uint8_t *sig);
/* EKEYREJECTED: forged or altered; EPROTO: replayed. */
int mpkshm_verify_end(struct mpkshm_channel *ch, unsigned int slot,
		      crypto_sign_state *state, uint64_t seq,
		      const uint8_t *sig);
int mpkshm_verify(struct mpkshm_channel *ch, unsigned int slot, uint64_t seq,
		  const void *msg, size_t len, const uint8_t *sig);

/* bell.c: doorbells of the userspace backends (eventfds). */
int mpkshm_bell_open(int *rd, int *wr);
void mpkshm_bell_ring(int wr);
void mpkshm_bell_drain(int rd);

/* Time. */
uint64_t mpkshm_now_ns(void);

#endif /* MPKSHM_INTERNAL_H */
