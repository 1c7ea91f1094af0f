/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * What a request and a reply carry in front of the packed message.  Both
 * ends are on one host, so fields are in its byte order.
 *
 * A method is named by a 64-bit FNV-1a hash of "package.Service/Method",
 * not by its index, so a client and a server built from different
 * versions of a .proto agree on every method they both have, whatever the
 * order (as gRPC's paths do); an unknown hash is UNIMPLEMENTED.
 */
#ifndef MPKRPC_WIRE_H
#define MPKRPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define MPKRPC_REQUEST_MAGIC	0x3151524du	/* "MRQ1" */
#define MPKRPC_REPLY_MAGIC	0x3150524du	/* "MRP1" */
#define MPKRPC_MESSAGE_MAX	255		/* a status's message */

struct mpkrpc_wire_request {
	uint32_t magic;
	uint32_t reserved;			/* zero */
	uint64_t method;			/* mpkrpc_method_id() */
};

struct mpkrpc_wire_reply {
	uint32_t magic;
	uint32_t status;			/* enum mpkrpc_status */
	uint32_t message_len;			/* then the message, if any */
	uint32_t reserved;			/* zero */
};

/* The method's id, from its service's full name and its own name. */
uint64_t mpkrpc_method_id(const ProtobufCServiceDescriptor *service,
			  unsigned int method);

/*
 * big_blocks.c: blocks of 128 KiB or more are kept per thread and
 * reused; mpkrpc_allocator does the same for protobuf-c.  A block must be
 * freed by the thread that allocated it.
 */
void *mpkrpc_big_alloc(size_t len);
void mpkrpc_big_free(void *p);
extern ProtobufCAllocator mpkrpc_allocator;

/* Thread-local outcome of the last call, for the closure-based API. */
void mpkrpc_set_last(int status, const char *message, size_t len);

#endif /* MPKRPC_WIRE_H */
