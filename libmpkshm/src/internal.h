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

/*
 * A writer's records fall in two classes that each reader follows with a
 * cursor of its own, so that waiting for a response never consumes a
 * message and receiving messages never consumes a response.
 */
#define MPKSHM_CLASS_MSG	0	/* data and requests */
#define MPKSHM_CLASS_RESP	1	/* responses */
#define MPKSHM_CLASSES		2

/* This reader's progress in one writer's ring, per class. */
struct mpkshm_cursor {
	_Atomic uint64_t tail[MPKSHM_CLASSES];		/* bytes passed */
	_Atomic uint64_t writer_id[MPKSHM_CLASSES];	/* whose ring (0: none) */
};

/*
 * A writer's word to one reader: "nothing of class k for you before
 * pos[k]".  Set to the writer's head when it first sees the reader (the
 * reader starts there), and moved on when the reader's cursor lags behind
 * records that are all for others, so that a reader that is not involved
 * never holds the writer back; for a reply, also when the reader held the
 * ring for longer than the reply timeout (dropped[] counts that: the
 * reader lost what it had not read).  The writer moves a mark before it
 * overwrites anything behind it.
 */
struct mpkshm_mark {
	_Atomic uint64_t pos[MPKSHM_CLASSES];
	_Atomic uint64_t reader_id;	/* for which reader (0: none) */
};

/* Per reader slot and class: how often the writer dropped it (wraps). */
typedef _Atomic uint16_t mpkshm_dropped_t[MPKSHM_CLASSES];

#define MPKSHM_WAIT_DATA	0x1	/* asleep until a writer publishes */
#define MPKSHM_WAIT_SPACE	0x2	/* asleep until a reader consumes */

struct mpkshm_ctrl {
	struct mpkshm_cursor cursors[MPKSHM_MAX_MEMBERS];	/* as reader */
	struct mpkshm_mark marks[MPKSHM_MAX_MEMBERS];		/* as writer */
	mpkshm_dropped_t dropped[MPKSHM_MAX_MEMBERS];		/* as writer */
	_Alignas(64) _Atomic uint32_t waiting;	/* MPKSHM_WAIT_* */
	_Atomic uint32_t send_only;	/* never receives: writers do not wait */
	/*
	 * Slots whose control page and doorbell this member has (memfd
	 * members get them from the broker, late): only those can it see
	 * sleep and ring.  A reader sleeps briefly while a writer lacks it.
	 */
	_Atomic uint64_t mapped;
	/*
	 * 1.2: the role this member announces, NUL-terminated, written once
	 * at open.  Readers copy and check it: its owner may write anything.
	 */
	char role[MPKSHM_ROLE_MAX];
};

_Static_assert(sizeof(struct mpkshm_ctrl) <= MPKLINK_CTRL_SIZE,
	       "the control structure fits the control page");

/* --- a writer's ring, at the start of its segment ----------------------- */

#define MPKSHM_RING_MAGIC	0x4d504b52494e4732ull	/* "MPKRING2" */
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

/* A response's status: 0, or the server's error, a positive errno. */
#define MPKSHM_STATUS_MAX	4095

struct mpkshm_rec {
	uint32_t len;			/* payload bytes of this record */
	uint16_t kind;			/* MPKSHM_REC_* */
	uint16_t flags;			/* MPKSHM_REC_FIRST | _LAST | _SIGNED */
	uint64_t seq;			/* the message's number, from 1 */
	uint64_t dest;			/* member id, or 0: everyone */
	uint64_t correlation;
	uint64_t total;			/* the whole message's length */
	int32_t status;			/* responses only */
	uint32_t reserved;
	/* payload, then the signature if MPKSHM_REC_SIGNED */
};

#define MPKSHM_REC_HDR		((uint32_t)sizeof(struct mpkshm_rec))

static inline unsigned int mpkshm_rec_class(unsigned int kind)
{
	return kind == MPKSHM_REC_RESPONSE ? MPKSHM_CLASS_RESP :
					     MPKSHM_CLASS_MSG;
}

static inline uint64_t mpkshm_align(uint64_t n)
{
	return (n + MPKSHM_ALIGN - 1) & ~(uint64_t)(MPKSHM_ALIGN - 1);
}

/*
 * Bytes a record with @len payload bytes takes in the ring.  @len must be
 * at most a ring's capacity (callers check), so nothing here can wrap.
 */
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
/* This thread's PKRU writes so far (counted for tests and the benchmark). */
uint64_t mpkshm_pkru_writes(void);

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

/* The largest segment the userspace backends create (the kernel's is its
 * max_segment_size parameter). */
#define MPKSHM_MAX_SEGMENT	(1ull << 30)

struct mpkshm_channel;

struct mpkshm_backend_ops {
	const char *name;
	/*
	 * Copies the public key the channel has on record for @member_id in
	 * @slot (signed channels) to @key.  ENOKEY: none.
	 */
	int (*peer_pubkey)(struct mpkshm_channel *ch, unsigned int slot,
			   uint64_t member_id, uint8_t *key);
	/* Sets up the views and geometry of @ch; see struct mpkshm_channel. */
	int (*open)(struct mpkshm_channel *ch, const char *name,
		    const struct mpkshm_options *opts);
	void (*close)(struct mpkshm_channel *ch);
	/* Wakes the members in the slot bitmap @slots. */
	int (*notify)(struct mpkshm_channel *ch, uint64_t slots);
	/*
	 * Called after the endpoint's fd polled readable: consume the fd's
	 * readiness, learn about new members.  One thread at a time.
	 */
	int (*drain)(struct mpkshm_channel *ch);
	/*
	 * Optional: sleeps until the fd would poll readable or @deadline and
	 * drains it, in one system call.  1: woke for something, 0: timed
	 * out or interrupted, -ENOSYS: cannot here (poll and drain instead).
	 */
	int (*sleep)(struct mpkshm_channel *ch, uint64_t deadline);
	/*
	 * A member's views appeared or changed (memfd maps them lazily):
	 * -EAGAIN while they are not ready.  Any thread, any time.
	 */
	int (*peer_views)(struct mpkshm_channel *ch, unsigned int slot);
	int (*members)(struct mpkshm_channel *ch, struct mpkshm_member *out,
		       unsigned int room);
};

extern const struct mpkshm_backend_ops mpkshm_kernel_ops;
extern const struct mpkshm_backend_ops mpkshm_memfd_ops;
extern const struct mpkshm_backend_ops mpkshm_thread_ops;

/*
 * What a reader knows of one writer's records of one class, valid for the
 * writer @id; kept by whichever thread reads that class.
 */
struct mpkshm_reading {
	uint64_t id;
	bool corrupt;			/* its ring failed a check: skipped */
	uint64_t last_seq;		/* signed: the newest message verified */
	uint16_t dropped_seen;		/* the writer's dropped[] for us */
};

struct mpkshm_peer {
	uint64_t member_id;		/* 0: free slot; atomic accesses */
	unsigned int rights;
	const struct mpkshm_ctrl *ctrl;	/* read-only view */
	const uint8_t *seg;		/* read-only view, NULL: not mapped */
	struct mpkshm_reading reading[MPKSHM_CLASSES];
	/* Signed channels: the public key of member pubkey_id (peer_lock). */
	uint64_t pubkey_id;
	uint8_t pubkey[MPKLINK_PUBKEY_SIZE];
};

/*
 * A split message being received from one writer: the fragments taken so
 * far, kept between receives, so that a short timeout loses nothing and a
 * writer that stops half way holds back no other writer.
 */
struct mpkshm_partial {
	uint8_t *bytes;			/* @total long; NULL: discard it */
	bool parked;			/* @bytes is ours (malloc()ed), not the
					 * buffer of the receive taking it */
	bool complete;			/* whole, waiting for a large buffer */
	uint64_t got;			/* bytes received so far */
	uint64_t total, seq, writer;
	struct mpkshm_msg info;		/* for the caller, from the first */
	crypto_sign_state sign;		/* signed channels: the hash so far */
};

/*
 * The send and the receive side's lock: a mutex and the thread holding it,
 * so that a thread calling into the side it holds (mpkshm_send() inside its
 * own reservation, say) gets EBUSY rather than deadlocking.  An error-
 * checking mutex does the same for 100 instructions more per lock and
 * unlock: 35 ns of a 64 B round trip on the host of
 * Documentation/benchmark/host.  Only the holder writes held and owner.
 */
struct mpkshm_side_lock {
	pthread_mutex_t mutex;
	atomic_bool held;
	_Atomic(pthread_t) owner;	/* valid while held */
};

struct mpkshm_call_state;		/* call.c */
#define MPKSHM_CALL_BUCKETS	64

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
	int sleep_fd;			/* memfd, thread: epoll fd bell.c sleeps on */

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

	/*
	 * The slots of others that apply() saw held, a bit each: loops over
	 * members visit only these (of up to 64).  A bit is set before its
	 * peer's member_id and cleared after it, so a member_id that is not
	 * 0 always has its bit; users still check mpkshm_peer_id().
	 */
	_Atomic uint64_t present;

	/* Views, filled by the backend. */
	const struct mpklink_dir *dir;
	struct mpkshm_ctrl *own_ctrl;	/* writable */
	struct mpkshm_ring *own_ring;	/* writable; NULL without write right */
	struct mpkshm_peer peers[MPKSHM_MAX_MEMBERS];
	/* The directory as last applied to peers[] (dir_lock). */
	pthread_mutex_t dir_lock;
	_Atomic uint64_t dir_seq;

	/* Writing (send_lock). */
	struct mpkshm_side_lock send_lock;
	uint64_t next_seq;
	/*
	 * Our ring's head as we last published it.  Only our sender writes
	 * the ring's head, so it never needs loading back; and loading it
	 * is a cache miss once a spinning reader has read it (70 ns a
	 * message, a quarter of a 64 B round trip, on the host of
	 * Documentation/benchmark/host).
	 */
	uint64_t head;
	bool reserved;			/* a reservation is open */
	pthread_t res_owner;		/* by this thread */
	uint64_t res_pos;		/* where it starts */
	uint64_t res_room;		/* payload room */
	uint64_t space_until;		/* head may grow to this unchecked */
	/*
	 * Per reader slot and class: where our last record for it alone
	 * ends; and where our last record for everyone ends.  A reader's
	 * last record is the later of the two (reader_last_end(), send.c).
	 */
	uint64_t last_for[MPKSHM_MAX_MEMBERS][MPKSHM_CLASSES];
	uint64_t last_for_all[MPKSHM_CLASSES];

	/* Our marks and dropped[] (both the sender and refresh write them). */
	pthread_mutex_t marks_lock;

	/* Receiving messages (recv_lock). */
	struct mpkshm_side_lock recv_lock;
	bool peeking;			/* a peek window is open */
	pthread_t peek_owner;		/* by this thread */
	/*
	 * An error met after the first message of a batch (recv_many), held
	 * for the next receive: a once-said one (EBADMSG, ENOBUFS,
	 * ECONNRESET, EKEYREJECTED) would otherwise never be said.
	 */
	int held_error;
	unsigned int next_writer;	/* round robin */
	struct mpkshm_partial *partial[MPKSHM_MAX_MEMBERS];
	unsigned int partials;		/* of them, not NULL */

	/* Calls in flight (call_lock); one thread at a time takes responses. */
	pthread_mutex_t call_lock;
	pthread_cond_t call_cond;
	bool resp_leader;
	uint64_t calls_dir_seq;		/* the directory servers were checked in */
	struct mpkshm_call_state *calls[MPKSHM_CALL_BUCKETS];
	_Atomic uint64_t next_correlation;

	/* Sleeping on fd: one thread polls it, others wait (sleep_lock). */
	pthread_mutex_t sleep_lock;
	pthread_cond_t sleep_cond;
	bool sleeper;
	unsigned int followers;
	unsigned int waiters[2];	/* asleep for MPKSHM_WAIT_DATA, _SPACE */
	_Atomic uint64_t wake_epoch;	/* fd wake-ups, counted */
	/* What the application sleeps on mpkshm_fd() for: MPKSHM_WAIT_*. */
	atomic_uint app_armed;
	_Atomic uint64_t app_room_len;	/* mpkshm_wait_prepare_send()'s */

	/* Serving (serve.c). */
	atomic_uint serving;		/* mpkshm_serve() calls running */
	atomic_bool stop;		/* mpkshm_serve_stop() */
	uint64_t max_request;
	uint64_t max_response;		/* allocated responses (call.c) */
	int reply_timeout_ms;
	_Atomic uint64_t stats[8];	/* enum mpkshm_stat (core.h) */

	pthread_mutex_t peer_lock;	/* peers[].pubkey */
	atomic_bool revoked;
	unsigned char *secret_key;	/* sodium_malloc()ed, signed only */
	char description[256];
};

/* directory.c: peers from the directory, shared by the core and backends */
int mpkshm_refresh(struct mpkshm_channel *ch);

/* Who holds @slot, as we last applied the directory (0: nobody). */
static inline uint64_t mpkshm_peer_id(struct mpkshm_channel *ch,
				      unsigned int slot)
{
	return __atomic_load_n(&ch->peers[slot].member_id, __ATOMIC_ACQUIRE);
}

static inline bool mpkshm_peer_is(struct mpkshm_channel *ch,
				  unsigned int slot, uint64_t member_id)
{
	return mpkshm_peer_id(ch, slot) == member_id;
}

static inline uint64_t mpkshm_present(struct mpkshm_channel *ch)
{
	return atomic_load_explicit(&ch->present, memory_order_acquire);
}

/* Each slot @i of the bit mask @mask, lowest first. */
#define mpkshm_for_each_slot(i, mask)					\
	for (uint64_t _left = (mask);					\
	     _left && ((i) = (unsigned int)__builtin_ctzll(_left), 1);	\
	     _left &= _left - 1)

void mpkshm_dir_read_slot(const struct mpklink_dir *dir, unsigned int slot,
			  uint64_t *member_id, uint32_t *rights,
			  uint32_t *flags);

/* fault.c: surviving a revocation that lands during an access */
int mpkshm_fault_register(struct mpkshm_channel *ch, void *start,
			  size_t len);
void mpkshm_fault_unregister(struct mpkshm_channel *ch);

/*
 * sign.c: a signature covers the channel's name, the sender's member id,
 * the message's sequence number, its kind and status, and its payload
 * (Ed25519ph, streamed, so a split message is signed and verified
 * fragment by fragment).
 */
struct mpkshm_sign_what {
	uint64_t sender;
	uint64_t seq;
	uint16_t kind;
	int32_t status;
};

int mpkshm_sign_load_key(struct mpkshm_channel *ch, const char *path);
void mpkshm_sign_free_key(struct mpkshm_channel *ch);
void mpkshm_sign_state_begin(crypto_sign_state *state, const char *channel,
			     const struct mpkshm_sign_what *what);
void mpkshm_sign_update(crypto_sign_state *state, const void *data,
			size_t len);
void mpkshm_sign_end(struct mpkshm_channel *ch, crypto_sign_state *state,
		     uint8_t *sig);
/*
 * Checks @sig against the key on record for @sender in @slot, and, for the
 * class's last accepted sequence number @last_seq, that @seq is newer.
 * EKEYREJECTED: forged or altered; EPROTO: replayed.
 */
int mpkshm_verify_end(struct mpkshm_channel *ch, unsigned int slot,
		      crypto_sign_state *state, uint64_t sender, uint64_t seq,
		      uint64_t *last_seq, const uint8_t *sig);

/* bell.c: doorbells of the userspace backends (eventfds). */
int mpkshm_bell_open(int *rd, int *wr);
void mpkshm_bell_ring(int wr);
void mpkshm_bell_drain(int rd);
int mpkshm_bell_sleeper(int rd, int other);
int mpkshm_bell_sleep(int sleeper, uint64_t deadline, bool *other_ready,
		      bool *other_gone);

/* Time. */
uint64_t mpkshm_now_ns(void);
int mpkshm_ms_until(uint64_t deadline);

#endif /* MPKSHM_INTERNAL_H */
