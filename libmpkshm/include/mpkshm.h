/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libmpkshm: messages and request/response between processes over
 * protection-key-tagged shared memory channels.  Documentation/api.md has
 * the guide; every function is documented here.
 *
 * Conventions:
 *  - every function that can fail returns a negative errno value
 *    (mpkshm_strerror() describes it); the library never prints, never
 *    aborts and never exits on the caller's behalf;
 *  - timeouts are in milliseconds: 0 polls, a negative value waits forever;
 *    signals never cut a wait short (EINTR is handled inside);
 *  - an endpoint may be used from several threads: sends are serialised
 *    with sends, receives with receives, and calls from many threads run
 *    at once, each getting its own reply.  Zero-copy windows belong to the
 *    thread that opened them.  MPKSHM_OPEN_SINGLE_THREAD drops the locking.
 *  - structures the caller fills (mpkshm_options, mpkshm_serve_stats) start
 *    with their size; structures the library fills have reserved room at
 *    their end that later versions use, so their size never changes.
 *  - after fork() the child has no endpoints: it may only mpkshm_close()
 *    the ones it inherited, which releases their memory and nothing else.
 */
#ifndef MPKSHM_H
#define MPKSHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- the library --------------------------------------------------------- */

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *mpkshm_version(void);

/*
 * Whether this CPU has protection keys and the kernel enabled them
 * (CPUID.(EAX=7,ECX=0):ECX.OSPKE).  Without them the library still works,
 * with its protection-key layer off; mpkshm_info() says so per endpoint.
 */
bool mpkshm_pku_supported(void);

/*
 * A description of a value returned by a libmpkshm function: a negative
 * errno value (or, for convenience, a positive one).  Errors with a meaning
 * particular to channels (EKEYREVOKED, ECONNRESET, EBADMSG, EKEYREJECTED,
 * EPROTO, EMSGSIZE) get that meaning.  Never NULL; the string is static.
 */
const char *mpkshm_strerror(int err);

/* --- endpoints ----------------------------------------------------------- */

struct mpkshm_channel;

enum mpkshm_backend {
	/* /dev/mpklink: kernel-attested members, writer-owned segments
	 * enforced by page tables, live revocation.  The product. */
	MPKSHM_BACKEND_KERNEL = 1,
	/* memfds shared over a Unix socket, for machines without the module.
	 * Unprotected: no attestation, no revocation; any process of the same
	 * user can join or read. */
	MPKSHM_BACKEND_MEMFD = 2,
	/* endpoints are threads of one process sharing one key-tagged region:
	 * the original prototype's model, for comparison. */
	MPKSHM_BACKEND_THREAD = 3,
};

/*
 * mpkshm_options.flags.  Every member that may read bounds every writer: a
 * writer waits until all of them have taken a message before reusing its
 * space.  An endpoint that never receives should say so with
 * MPKSHM_OPEN_SEND_ONLY, or writers wait for it in vain.
 */
#define MPKSHM_OPEN_SINGLE_THREAD 0x1	/* no locking: one thread at a time */
#define MPKSHM_OPEN_CREATE	0x2	/* memfd, thread: create if absent */
#define MPKSHM_OPEN_SEND_ONLY	0x4	/* never receives (receiving: EPERM) */
/*
 * memfd, thread: leave the process dumpable.  By default opening one makes
 * the process non-dumpable (prctl PR_SET_DUMPABLE 0, as ssh-agent does), so
 * that processes of the same user can neither ptrace it nor read its memory
 * (process_vm_readv, /proc/PID/mem): what it received and copied out of a
 * channel stays its own.  Kernel channels always do so (the module).
 */
#define MPKSHM_OPEN_KEEP_DUMPABLE 0x8

#define MPKSHM_SPIN_FOREVER	(~0u)	/* spin_us: never sleep */

struct mpkshm_options {
	size_t size;			/* sizeof(struct mpkshm_options) */
	enum mpkshm_backend backend;	/* 0: MPKSHM_BACKEND_KERNEL */
	unsigned int flags;		/* MPKSHM_OPEN_* */
	/* Spin this long before sleeping on the doorbell (default 50). */
	unsigned int spin_us;
	/* memfd, thread, with MPKSHM_OPEN_CREATE: the channel's geometry
	 * (defaults 1 MiB and 16).  The kernel backend's come from the
	 * administrator (mpklink-grant). */
	size_t segment_size;
	unsigned int max_members;
	/* Signed channels: this member's Ed25519 secret key file (0600),
	 * as written by "mpklink-grant keygen". */
	const char *secret_key_path;
	/* How long mpkshm_close() waits for readers to take this endpoint's
	 * pending messages (default 1000; 0: not at all). */
	int close_timeout_ms;
	/* How long mpkshm_open() may take (default 5000): reaching a memfd
	 * channel's broker and joining.  Negative: no limit. */
	int open_timeout_ms;
	/* mpkshm_serve(): the largest request it takes in (default 64 MiB).
	 * A larger one is dropped unread and its caller gets EMSGSIZE. */
	size_t max_request_size;
	/* mpkshm_reply(): how long a reply waits for a reader that holds the
	 * ring (default 1000).  After that the reader is dropped: it loses
	 * what it had not read (ENOBUFS) and the reply goes out. */
	int reply_timeout_ms;
	/* Calls whose response the library allocates (mpkshm_call_take()):
	 * the largest response taken in (default 64 MiB); a larger one ends
	 * its call with EMSGSIZE. */
	size_t max_response_size;
	/* 1.2: the role this endpoint announces to the others ("server",
	 * "logger": 1..MPKSHM_ROLE_MAX - 1 bytes of [A-Za-z0-9._-]), which
	 * mpkshm_find_member() looks for; NULL: none.  A claim, not an
	 * attestation: any member may announce any role.  Where it matters,
	 * check what the kernel attested (mpkshm_member_info(): uid, pid,
	 * public key) before trusting the member found. */
	const char *role;
};

#define MPKSHM_ROLE_MAX		16

/* Fills @opts with the defaults (kernel backend). */
void mpkshm_options_init(struct mpkshm_options *opts);

/*
 * Opens an endpoint of the channel @name (1..63 bytes of [A-Za-z0-9._-]).
 * @opts may be NULL for the defaults.  Kernel backend: ENOENT no such
 * channel, EACCES not granted, EPERM traced, ENODEV no module (load
 * mpklink.ko), EUSERS channel full.  memfd, thread: ENOENT when the channel
 * does not exist and MPKSHM_OPEN_CREATE is not given.  memfd: EADDRINUSE
 * when the channel's name is held by a process of another user (never
 * joined), ETIMEDOUT (open_timeout_ms), ENOPKG when the broker program
 * (mpkshm-broker) is not installed.
 */
int mpkshm_open(const char *name, const struct mpkshm_options *opts,
		struct mpkshm_channel **out);

/*
 * Closes an endpoint: ends a reservation or peek the calling thread left
 * open, waits (close_timeout_ms) for readers to take the messages it sent,
 * then leaves.  Always frees @ch; returns 0, or the error that cut the
 * wait short.
 */
int mpkshm_close(struct mpkshm_channel *ch);

/* Rights (as the kernel reports them). */
#define MPKSHM_RIGHT_READ	0x1
#define MPKSHM_RIGHT_WRITE	0x2

/* What protects an endpoint (mpkshm_info.protection). */
#define MPKSHM_PROT_PKU		0x1	/* key-tagged, closed outside windows */
#define MPKSHM_PROT_KERNEL	0x2	/* attested, page-table enforced */
#define MPKSHM_PROT_SIGNED	0x4	/* messages signed and verified */

struct mpkshm_info {
	enum mpkshm_backend backend;
	unsigned int rights;		/* MPKSHM_RIGHT_* */
	unsigned int protection;	/* MPKSHM_PROT_* */
	int pkey;			/* the channel's key here, -1: none */
	unsigned int slot;
	uint64_t member_id;
	unsigned int max_members;
	size_t segment_size;
	size_t max_message;		/* largest zero-copy message */
	uint64_t reserved[8];		/* zero */
};

/* Describes the endpoint.  Returns 0 or -EKEYREVOKED. */
int mpkshm_info(struct mpkshm_channel *ch, struct mpkshm_info *info);

/*
 * One sentence saying what protects @ch, for logs: e.g. that protection
 * keys are missing on this CPU, or that the memfd backend is unprotected.
 */
const char *mpkshm_protection_string(struct mpkshm_channel *ch);

struct mpkshm_member {
	uint64_t member_id;
	unsigned int slot;
	unsigned int rights;		/* MPKSHM_RIGHT_* */
	pid_t pid;			/* 0 when unknown */
	uid_t uid;
	bool self;
	/* Signed channels (kernel backend): the member's enrolled key. */
	bool has_public_key;
	unsigned char public_key[32];	/* Ed25519 */
	/* 1.2: the role it announces ("": none, or not visible yet). */
	char role[MPKSHM_ROLE_MAX];
	uint64_t reserved[2];		/* zero */
};

/*
 * Fills up to @room members of the channel; returns how many there are
 * (which may exceed @room), or a negative errno.
 */
int mpkshm_members(struct mpkshm_channel *ch, struct mpkshm_member *out,
		   unsigned int room);

/*
 * Describes the member @member_id of the channel in *@out.  ENOENT: no
 * such member (it left, or never was).
 */
int mpkshm_member_info(struct mpkshm_channel *ch, uint64_t member_id,
		       struct mpkshm_member *out);

/*
 * Waits until another member with the write right is present and returns
 * its member id in *@member_id: the peer to mpkshm_call().  ETIMEDOUT.
 */
int mpkshm_find_peer(struct mpkshm_channel *ch, uint64_t *member_id,
		     int timeout_ms);

/*
 * Waits until another member that announces @role (mpkshm_options.role)
 * is present and returns its member id in *@member_id: on a channel with
 * several clients, "the server" rather than any other writer.  The member
 * with the lowest slot wins when several announce it.  @role NULL: as
 * mpkshm_find_peer().  EINVAL for a role that no member could announce,
 * ETIMEDOUT.
 */
int mpkshm_find_member(struct mpkshm_channel *ch, const char *role,
		       uint64_t *member_id, int timeout_ms);

/*
 * A file descriptor that polls readable when the endpoint may have
 * something to do (a message, a response to a call in flight, room to send
 * when mpkshm_wait_prepare_send() asked for it, a peer joining or leaving,
 * revocation), to wait on in poll, epoll or io_uring.  Call
 * mpkshm_wait_prepare() (to receive) and/or mpkshm_wait_prepare_send() (to
 * send) before each sleep on it, then receive, mpkshm_call_wait() and send
 * with timeout 0.  The library owns the fd: do not read, close or change it.
 */
int mpkshm_fd(struct mpkshm_channel *ch);

/*
 * Before sleeping on mpkshm_fd(): consumes the fd's old readiness and tells
 * writers that this endpoint sleeps, so they ring it.  Returns 1 when a
 * message or a response already waits (do not sleep: take it), 0 when it
 * is safe to sleep until the fd polls readable.  The next receive or
 * mpkshm_call_wait() un-arms it.  Other threads blocked in the library on
 * the same endpoint meanwhile leave the fd's readiness to the caller.
 */
int mpkshm_wait_prepare(struct mpkshm_channel *ch);

/*
 * Before sleeping on mpkshm_fd() for room to send a message of @len bytes
 * (its first fragment, when it is larger than the ring takes at once):
 * consumes the fd's old readiness and tells the readers that hold this
 * endpoint's ring back that it sleeps, so they ring it when they take
 * something.  Returns 1 when the room is there already, or when something
 * mpkshm_wait_prepare() armed the fd for waits (do not sleep: send or
 * take it), 0 when it is safe to sleep until the fd polls readable; EPERM
 * without the write right.  The next send or reserve un-arms it.  Both
 * prepares may be armed at once, for an event loop driving both ways.
 */
int mpkshm_wait_prepare_send(struct mpkshm_channel *ch, size_t len);

/* --- messages ------------------------------------------------------------ */

#define MPKSHM_TO_ALL		0	/* destination: every reader */

/*
 * A received message.  Between mpkshm_peek() and mpkshm_release(), @data
 * points into the sender's segment (zero copy), on a page mapped read-only,
 * and the channel's key is open for the calling thread.
 */
struct mpkshm_msg {
	const void *data;
	size_t len;
	uint64_t sender;		/* member id */
	unsigned int sender_slot;
	uint64_t seq;			/* per sender, from 1 */
	uint64_t correlation;		/* requests and responses */
	/* private to the library */
	uint64_t _pos;
	uint64_t _next;
	unsigned int _kind;
	unsigned int _open;
	uint64_t _reserved[4];
};

/*
 * Zero copy, sending: reserves @len bytes in this endpoint's segment and
 * opens the channel's key for writing in the calling thread; fill *@buf,
 * then mpkshm_commit() or mpkshm_abandon() from the same thread (another
 * thread gets EPERM).  Waits up to @timeout_ms for readers to free space.
 * EMSGSIZE: larger than max_message (use mpkshm_send(), which splits);
 * EPERM: no write right.  Until the commit, other threads' sends on @ch
 * wait, and this thread's fail with EBUSY.
 */
int mpkshm_reserve(struct mpkshm_channel *ch, size_t len, void **buf,
		   int timeout_ms);

/*
 * Publishes the first @len bytes of the reservation to @dest (a member id,
 * or MPKSHM_TO_ALL) and closes the window.  EMSGSIZE: @len is more than
 * was reserved (the reservation stays); EPIPE: @dest is not a member, and
 * nothing is published (the reservation is abandoned).
 */
int mpkshm_commit(struct mpkshm_channel *ch, size_t len, uint64_t dest);

/* Drops the reservation and closes the window. */
int mpkshm_abandon(struct mpkshm_channel *ch);

/*
 * Zero copy, receiving: the next message for this endpoint, from any
 * writer, left in place.  The window stays open (read-only) until
 * mpkshm_release() from the same thread (another thread gets EPERM).
 * ETIMEDOUT, EKEYREVOKED, EBADMSG (a writer's ring is corrupt: that writer
 * is skipped from then on), ENOBUFS (a writer dropped this endpoint for
 * holding its ring past a reply timeout: what it had not read is lost;
 * the next receive goes on).  A message that was split (larger than
 * max_message) is EMSGSIZE here: receive it with mpkshm_recv().  Signed
 * channels: EKEYREJECTED (forged or altered) and EPROTO (replayed) consume
 * the message.  Until the release, other threads' receives on @ch wait,
 * and this thread's fail with EBUSY.  Responses to calls are never
 * returned here: they go to their calls.
 */
int mpkshm_peek(struct mpkshm_channel *ch, struct mpkshm_msg *msg,
		int timeout_ms);

/*
 * Consumes a message returned by mpkshm_peek() and closes the window.
 * ECONNRESET: its writer left before the release, and a departed writer's
 * pages read as zeros, so what was read of the message may not be what was
 * sent: discard it.  ENOBUFS: the writer dropped this endpoint meanwhile
 * and may have overwritten the message: discard it.  EKEYREVOKED.
 */
int mpkshm_release(struct mpkshm_channel *ch, struct mpkshm_msg *msg);

/*
 * Copies @len bytes to @dest (a member id or MPKSHM_TO_ALL).  Any length:
 * a message larger than max_message is split and reassembled by
 * mpkshm_recv().  Returns 0, ETIMEDOUT (nothing or part sent: then the
 * readers discard the part), EPIPE (@dest is not a member).
 */
int mpkshm_send(struct mpkshm_channel *ch, uint64_t dest, const void *buf,
		size_t len, int timeout_ms);

/*
 * Copies the next message into @buf and returns its length.  EMSGSIZE if
 * it is longer than @cap: it stays queued, and *@info (if given) has its
 * length.  @info, if given, gets the sender and sequence number.  A split
 * message is reassembled; the fragments taken are kept between calls, so a
 * timeout loses nothing, and a writer that stops half way through one
 * holds back no other writer's messages (ENOMEM: they could not be kept,
 * the message is lost).  ECONNRESET: the writer of a message being
 * reassembled left.  ENOBUFS, EBADMSG, EKEYREJECTED, EPROTO: as
 * mpkshm_peek().
 */
ssize_t mpkshm_recv(struct mpkshm_channel *ch, void *buf, size_t cap,
		    struct mpkshm_msg *info, int timeout_ms);

/*
 * Batches, for streams of small messages: each costs one pair of PKRU
 * writes for the batch instead of one per message.
 *
 * mpkshm_send_many() sends @n messages (one per iovec, each of any length)
 * to @dest, in order, waiting up to @timeout_ms in all for room.  Returns
 * how many were sent (1..n; fewer when the time ran out part way), or, if
 * none was, the error mpkshm_send() would give.
 */
int mpkshm_send_many(struct mpkshm_channel *ch, uint64_t dest,
		     const struct iovec *msgs, unsigned int n, int timeout_ms);

/* One message of a batch received by mpkshm_recv_many(). */
struct mpkshm_recv_buf {
	void *buf;			/* in: where to copy it */
	size_t cap;			/* in: room there */
	size_t len;			/* out: its length */
	struct mpkshm_msg info;		/* out: sender, sequence number */
};

/*
 * Copies up to @n waiting messages into @bufs, waiting up to @timeout_ms
 * for the first; the others are only those already there.  Returns how
 * many (1..n), or, if none, the error mpkshm_recv() would give.  An error
 * met after the first message is returned by the next receive (recv,
 * recv_many or peek): held for it when it is said once (EBADMSG,
 * ENOBUFS, ...), met again when it lasts (EMSGSIZE: too long for its
 * buffer, which keeps it queued).
 */
int mpkshm_recv_many(struct mpkshm_channel *ch, struct mpkshm_recv_buf *bufs,
		     unsigned int n, int timeout_ms);

/* --- request/response ---------------------------------------------------- */

/*
 * Sends @req to the member @server and waits for its reply, up to
 * @timeout_ms for the whole call (sending included).  The reply (at most
 * @cap bytes) goes to @resp; *@resp_len gets its length.  ECONNRESET when
 * @server leaves (or dies) before replying, ETIMEDOUT, EMSGSIZE (reply
 * longer than @cap, or the request longer than the server takes),
 * ENOBUFS (the server dropped this endpoint for not reading its replies:
 * the reply was lost), or the error the server's handler returned.  Any
 * number of threads may call at once on one endpoint; each gets its own
 * reply, and messages that arrive meanwhile stay for mpkshm_recv().
 */
int mpkshm_call(struct mpkshm_channel *ch, uint64_t server, const void *req,
		size_t req_len, void *resp, size_t cap, size_t *resp_len,
		int timeout_ms);

/*
 * The asynchronous form: sends @req to @server (waiting up to @timeout_ms
 * for room) and returns at once with a handle in *@call.  The reply will go
 * to @resp (@cap bytes), which must stay valid until the call is waited
 * for or cancelled; @timeout_ms also bounds the whole call.  Any number may
 * be in flight; mpkshm_fd() polls readable when replies come.
 */
int mpkshm_call_start(struct mpkshm_channel *ch, uint64_t server,
		      const void *req, size_t req_len, void *resp, size_t cap,
		      int timeout_ms, uint64_t *call);

/*
 * Waits up to @timeout_ms (0: just look) for the reply to @call.  0: the
 * reply is in the call's buffer, its length in *@resp_len; EAGAIN: not yet
 * (the call goes on: wait again).  Every other result ends the call, with
 * mpkshm_call()'s errors; EINVAL: no such call in flight.  One thread at a
 * time may wait for a given call (EBUSY).
 */
int mpkshm_call_wait(struct mpkshm_channel *ch, uint64_t call,
		     size_t *resp_len, int timeout_ms);

/*
 * Zero copy, calling: after mpkshm_reserve() and filling the request in
 * place, sends the first @len bytes to @server as a request and puts the
 * call in flight, as mpkshm_call_start() does (@resp, @cap, @timeout_ms,
 * *@call alike).  The reservation ends whatever the result, except
 * EPERM (it is another thread's), EINVAL (there is none) and EMSGSIZE
 * (@len is over it), which leave it as they find it.
 */
int mpkshm_call_commit(struct mpkshm_channel *ch, size_t len,
		       uint64_t server, void *resp, size_t cap, int timeout_ms,
		       uint64_t *call);

/*
 * A call started (mpkshm_call_start() or mpkshm_call_commit()) with no
 * buffer (@resp NULL, @cap 0) gets its response in memory the library
 * allocates when the response begins, up to max_response_size.
 * mpkshm_call_take() waits for it as mpkshm_call_wait() does and, on 0,
 * hands it over in *@resp (free() it; never NULL) with its length in
 * *@resp_len.  Such a call is EINVAL to mpkshm_call_wait(), and the other
 * calls are to mpkshm_call_take().
 */
int mpkshm_call_take(struct mpkshm_channel *ch, uint64_t call, void **resp,
		     size_t *resp_len, int timeout_ms);

/* Forgets @call: its buffer is the caller's again, a late reply is dropped. */
int mpkshm_call_cancel(struct mpkshm_channel *ch, uint64_t call);

struct mpkshm_request {
	const void *data;		/* the whole request, reassembled */
	size_t len;
	uint64_t client;		/* member id */
	/* private to the library */
	uint64_t _correlation;
	bool _replied;
	uint16_t _reply_error;		/* 1.2.2: a reply that sent nothing */
	uint64_t _reserved[4];
};

/*
 * Handles one request; replies with mpkshm_reply() (once).  A handler that
 * returns without replying sends an empty reply, or, if it returns a
 * negative errno (1..4095), that error to the caller (whose call returns
 * it); any other negative value sends EREMOTEIO.
 */
typedef int (*mpkshm_handler)(void *arg, struct mpkshm_request *req);

/*
 * Serves requests until mpkshm_serve_stop() (returns 0) or revocation
 * (EKEYREVOKED).  Nothing a client does ends it: a request that is
 * corrupt, forged, replayed, larger than max_request_size, or whose client
 * leaves half way is dropped and counted (mpkshm_serve_stats()), and the
 * next is served; the caller of a forged or replayed one gets EKEYREJECTED
 * or EPROTO, of one too large EMSGSIZE.  Plain messages sent to the server are dropped.  Several
 * threads may serve one endpoint.  EPERM without both rights.
 */
int mpkshm_serve(struct mpkshm_channel *ch, mpkshm_handler handler,
		 void *arg);

/*
 * Replies to @req.  Waits for room no longer than reply_timeout_ms for any
 * reader; a reader that holds the ring longer is dropped (it loses what it
 * had not read) and the reply goes out.  A client that has left is not an
 * error.  ECANCELED: mpkshm_serve_stop() meanwhile.
 */
int mpkshm_reply(struct mpkshm_channel *ch, struct mpkshm_request *req,
		 const void *data, size_t len);

/*
 * Zero copy, replying: reserves @len bytes for the reply to @req in this
 * endpoint's segment (waiting as mpkshm_reply() does) and opens the key
 * for writing; fill *@buf, then mpkshm_reply_commit() with the length
 * used, or mpkshm_abandon() (and reply otherwise).  EMSGSIZE: over
 * max_message (mpkshm_reply() splits).
 */
int mpkshm_reply_reserve(struct mpkshm_channel *ch, struct mpkshm_request *req,
			 size_t len, void **buf);
int mpkshm_reply_commit(struct mpkshm_channel *ch, struct mpkshm_request *req,
			size_t len);

/* Replies to @req with an error (a positive or negative errno, 1..4095):
 * the caller's mpkshm_call() returns it. */
int mpkshm_reply_error(struct mpkshm_channel *ch, struct mpkshm_request *req,
		       int err);

/*
 * Makes every mpkshm_serve() on @ch return, from a handler or any thread,
 * waking it wherever it waits.  When none runs, the next one returns at
 * once.
 */
void mpkshm_serve_stop(struct mpkshm_channel *ch);

/* What mpkshm_serve() did on an endpoint since it was opened. */
struct mpkshm_serve_stats {
	size_t size;			/* sizeof(struct mpkshm_serve_stats) */
	uint64_t requests;		/* handed to the handler */
	uint64_t handler_errors;	/* the handler returned an error */
	uint64_t dropped_too_large;	/* over max_request_size */
	uint64_t dropped_bad;		/* corrupt, forged or replayed */
	uint64_t dropped_incomplete;	/* the client left half way; ENOMEM */
	uint64_t dropped_lost;		/* we fell behind a client (ENOBUFS) */
	uint64_t readers_dropped;	/* held a reply past reply_timeout_ms */
	uint64_t reply_errors;		/* a reply could not be sent */
};

/* Fills @stats (whose size the caller sets) with the endpoint's counts. */
int mpkshm_serve_stats(struct mpkshm_channel *ch,
		       struct mpkshm_serve_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* MPKSHM_H */
