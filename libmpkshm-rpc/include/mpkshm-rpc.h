/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libmpkshm-rpc: protobuf-c services over MPKLink channels.
 *
 * A .proto service compiled by the stock protoc-c runs over a channel: the
 * client is a ProtobufCService whose invoke() sends the packed request to
 * a server member of the channel, the server unpacks it, calls the
 * service's implementation and packs its reply.  On a signed channel every
 * request and reply is signed and verified by libmpkshm with no code in
 * the service, and the implementation learns its verified caller.
 * protoc-gen-mpkshm generates typed helpers beside protoc-c's output
 * (Documentation/rpc.md).
 *
 * Conventions are libmpkshm's: functions return 0 (or a status) and never
 * abort; timeouts are in milliseconds, negative for none.  Statuses are
 * gRPC's codes and numbers.
 */
#ifndef MPKSHM_RPC_H
#define MPKSHM_RPC_H

#include <stdint.h>
#include <sys/types.h>

#include <mpkshm.h>
#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *mpkrpc_version(void);

/* A call's outcome: gRPC's status codes, with their numbers. */
enum mpkrpc_status {
	MPKRPC_OK = 0,
	MPKRPC_CANCELLED = 1,
	MPKRPC_UNKNOWN = 2,
	MPKRPC_INVALID_ARGUMENT = 3,	/* a request that does not unpack */
	MPKRPC_DEADLINE_EXCEEDED = 4,	/* no reply by the deadline */
	MPKRPC_NOT_FOUND = 5,
	MPKRPC_ALREADY_EXISTS = 6,
	MPKRPC_PERMISSION_DENIED = 7,	/* forged, replayed, revoked, refused */
	MPKRPC_RESOURCE_EXHAUSTED = 8,	/* a message over a limit; memory */
	MPKRPC_FAILED_PRECONDITION = 9,
	MPKRPC_ABORTED = 10,
	MPKRPC_OUT_OF_RANGE = 11,
	MPKRPC_UNIMPLEMENTED = 12,	/* no such service or method served */
	MPKRPC_INTERNAL = 13,		/* the implementation failed */
	MPKRPC_UNAVAILABLE = 14,	/* no server, or it left */
	MPKRPC_DATA_LOSS = 15,		/* a reply that does not unpack */
	MPKRPC_UNAUTHENTICATED = 16,
};

/* The status's name ("DEADLINE_EXCEEDED"); never NULL. */
const char *mpkrpc_status_name(int status);

/* What a status means, in a sentence; never NULL. */
const char *mpkrpc_strerror(int status);

/*
 * The status a channel's error (a negative errno of libmpkshm, e.g. from
 * mpkshm_call()) stands for: ETIMEDOUT is DEADLINE_EXCEEDED, ECONNRESET
 * and EPIPE UNAVAILABLE, EKEYREJECTED, EPROTO and EKEYREVOKED
 * PERMISSION_DENIED, EMSGSIZE and ENOMEM RESOURCE_EXHAUSTED...
 */
int mpkrpc_status_from_errno(int err);

/* --- clients ------------------------------------------------------------- */

struct mpkrpc_client;

/*
 * A client of the service @desc served by the member @server of @ch (see
 * mpkshm_find_peer(), or mpkrpc_find_server()).  The channel stays the
 * caller's: close it after freeing the client.  EINVAL, ENOMEM.
 */
int mpkrpc_client_new(struct mpkshm_channel *ch, uint64_t server,
		      const ProtobufCServiceDescriptor *desc,
		      struct mpkrpc_client **out);
void mpkrpc_client_free(struct mpkrpc_client *client);

/*
 * The client as protoc-c's stubs take it: pkg__service__method(service,
 * &request, closure, closure_data) calls the method and, before it
 * returns, the closure with the reply (valid during the closure only) or
 * with NULL on failure (mpkrpc_client_last_status() tells why, in the
 * calling thread).  Calls through it wait the client's timeout
 * (mpkrpc_client_set_timeout(), default 5000 ms).
 */
ProtobufCService *mpkrpc_client_service(struct mpkrpc_client *client);
void mpkrpc_client_set_timeout(struct mpkrpc_client *client, int timeout_ms);
int mpkrpc_client_last_status(void);

/*
 * Calls method @method (its index in the service descriptor) with @input
 * and waits up to @timeout_ms for the whole call.  MPKRPC_OK: *@output is
 * the unpacked reply, to free with protobuf_c_message_free_unpacked(); on
 * any other status *@output is NULL.  Any number of threads may call at
 * once on one client.
 */
int mpkrpc_call(struct mpkrpc_client *client, unsigned int method,
		const ProtobufCMessage *input, ProtobufCMessage **output,
		int timeout_ms);

/*
 * The asynchronous form: sends the request and returns; the reply (or the
 * failure) later goes to @closure(output, @closure_data) from
 * mpkrpc_client_dispatch().  The status of a failure is
 * mpkrpc_client_last_status() during the closure.  *@call (if given)
 * names the call for mpkrpc_client_cancel().
 */
int mpkrpc_call_start(struct mpkrpc_client *client, unsigned int method,
		      const ProtobufCMessage *input, ProtobufCClosure closure,
		      void *closure_data, int timeout_ms, uint64_t *call);

/*
 * Runs the closures of calls that ended, waiting up to @timeout_ms for the
 * first (0: just look).  Returns how many ran.  mpkrpc_client_fd() polls
 * readable when there may be some.
 */
int mpkrpc_client_dispatch(struct mpkrpc_client *client, int timeout_ms);
int mpkrpc_client_fd(struct mpkrpc_client *client);

/* Forgets a call in flight: its closure never runs.  ENOENT. */
int mpkrpc_client_cancel(struct mpkrpc_client *client, uint64_t call);

/* Calls in flight (started, closure not run yet). */
unsigned int mpkrpc_client_in_flight(struct mpkrpc_client *client);

/* --- servers ------------------------------------------------------------- */

struct mpkrpc_server;

/* A server on @ch, which needs both rights.  EINVAL, ENOMEM. */
int mpkrpc_server_new(struct mpkshm_channel *ch, struct mpkrpc_server **out);
void mpkrpc_server_free(struct mpkrpc_server *server);

/*
 * Serves @service (a protoc-c service implementation: its descriptor and
 * one function per method) from now on.  A method's function must run its
 * closure before it returns, with the reply, or with NULL for an error
 * (INTERNAL, or what mpkrpc_server_fail() set).  EEXIST: a service of
 * that name is served already.
 */
int mpkrpc_server_add(struct mpkrpc_server *server, ProtobufCService *service);

/*
 * Serves until mpkrpc_server_stop() (returns 0) or revocation
 * (-EKEYREVOKED).  Nothing a client does ends it: an unknown method
 * (UNIMPLEMENTED), a request that does not unpack (INVALID_ARGUMENT), one
 * over max_request_size (RESOURCE_EXHAUSTED), forged or replayed
 * (PERMISSION_DENIED) gets its status, a client that leaves is passed
 * over.  Several threads may serve at once.
 */
int mpkrpc_serve(struct mpkrpc_server *server);
void mpkrpc_server_stop(struct mpkrpc_server *server);

/* Who called: what the channel verified of the member that sent it. */
struct mpkrpc_caller {
	uint64_t member_id;
	pid_t pid;			/* 0 when unknown */
	uid_t uid;
	/* Signed channel: the request was signed with this enrolled key. */
	bool authenticated;
	unsigned char public_key[32];
	uint64_t reserved[4];
};

/*
 * Inside a method's function, given its closure_data: the caller of the
 * request being served, and the method's way to fail with a status other
 * than INTERNAL (and a message, at most 255 bytes, or NULL).  Then it
 * runs its closure with NULL.
 */
const struct mpkrpc_caller *mpkrpc_server_caller(void *closure_data);
void mpkrpc_server_fail(void *closure_data, int status, const char *message);

/* What mpkrpc_serve() did since the server was made. */
struct mpkrpc_server_stats {
	uint64_t calls;			/* to a method's function */
	uint64_t failed;		/* status other than OK sent */
	uint64_t unimplemented;
	uint64_t invalid;		/* did not unpack */
	uint64_t reserved[4];
};
void mpkrpc_server_stats(struct mpkrpc_server *server,
			 struct mpkrpc_server_stats *stats);

/*
 * The error message that came with the last failed call of this thread
 * (mpkrpc_server_fail()'s on the server), or "" when none.
 */
const char *mpkrpc_client_last_message(void);

#ifdef __cplusplus
}
#endif

#endif /* MPKSHM_RPC_H */
