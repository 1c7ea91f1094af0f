// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Statuses: their names, what they mean, the channel errors they stand
 * for, and the last one of each thread.
 */
#include <errno.h>
#include <string.h>

#include "mpkshm-rpc.h"
#include "wire.h"

#define MPKRPC_EXPORT __attribute__((visibility("default")))

static const struct {
	const char *name;
	const char *text;
} statuses[] = {
	[MPKRPC_OK] = { "OK", "Success" },
	[MPKRPC_CANCELLED] = { "CANCELLED", "The call was cancelled" },
	[MPKRPC_UNKNOWN] = { "UNKNOWN", "Unknown error" },
	[MPKRPC_INVALID_ARGUMENT] = { "INVALID_ARGUMENT",
		"The request is not a message of the method's input type" },
	[MPKRPC_DEADLINE_EXCEEDED] = { "DEADLINE_EXCEEDED",
		"No reply before the deadline" },
	[MPKRPC_NOT_FOUND] = { "NOT_FOUND", "Not found" },
	[MPKRPC_ALREADY_EXISTS] = { "ALREADY_EXISTS", "Already exists" },
	[MPKRPC_PERMISSION_DENIED] = { "PERMISSION_DENIED",
		"Refused: not signed by its sender, replayed, or revoked" },
	[MPKRPC_RESOURCE_EXHAUSTED] = { "RESOURCE_EXHAUSTED",
		"A message over a limit, or out of memory" },
	[MPKRPC_FAILED_PRECONDITION] = { "FAILED_PRECONDITION",
		"Failed precondition" },
	[MPKRPC_ABORTED] = { "ABORTED", "Aborted" },
	[MPKRPC_OUT_OF_RANGE] = { "OUT_OF_RANGE", "Out of range" },
	[MPKRPC_UNIMPLEMENTED] = { "UNIMPLEMENTED",
		"The server does not serve that service or method" },
	[MPKRPC_INTERNAL] = { "INTERNAL", "The method failed in the server" },
	[MPKRPC_UNAVAILABLE] = { "UNAVAILABLE",
		"The server is not on the channel, or left during the call" },
	[MPKRPC_DATA_LOSS] = { "DATA_LOSS",
		"The reply is not a message of the method's output type" },
	[MPKRPC_UNAUTHENTICATED] = { "UNAUTHENTICATED", "Unauthenticated" },
};

MPKRPC_EXPORT const char *mpkrpc_version(void)
{
	return MPKRPC_VERSION;
}

MPKRPC_EXPORT const char *mpkrpc_status_name(int status)
{
	if (status < 0 || (size_t)status >= sizeof(statuses) / sizeof(*statuses))
		return "UNKNOWN";
	return statuses[status].name;
}

MPKRPC_EXPORT const char *mpkrpc_strerror(int status)
{
	if (status < 0 || (size_t)status >= sizeof(statuses) / sizeof(*statuses))
		return "Unknown status";
	return statuses[status].text;
}

MPKRPC_EXPORT int mpkrpc_status_from_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return MPKRPC_OK;
	case ETIMEDOUT:
		return MPKRPC_DEADLINE_EXCEEDED;
	case ECONNRESET: case EPIPE: case ENOENT: case ENOBUFS:
		/* ENOBUFS: the server dropped us, and our reply with us. */
		return MPKRPC_UNAVAILABLE;
	case EKEYREJECTED: case EPROTO: case EKEYREVOKED: case EACCES:
	case EPERM:
		return MPKRPC_PERMISSION_DENIED;
	case EMSGSIZE: case ENOMEM:
		return MPKRPC_RESOURCE_EXHAUSTED;
	case EINVAL:
		return MPKRPC_INVALID_ARGUMENT;
	case ECANCELED:
		return MPKRPC_CANCELLED;
	case EBADMSG:
		return MPKRPC_DATA_LOSS;
	default:
		return MPKRPC_INTERNAL;
	}
}

/* FNV-1a, 64 bits: over the service's full name, "/", the method's name. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t mpkrpc_method_id(const ProtobufCServiceDescriptor *service,
			  unsigned int method)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv1a(h, service->name);
	h = fnv1a(h, "/");
	return fnv1a(h, service->methods[method].name);
}

static _Thread_local int last_status;
static _Thread_local char last_message[MPKRPC_MESSAGE_MAX + 1];

void mpkrpc_set_last(int status, const char *message, size_t len)
{
	last_status = status;
	if (len > MPKRPC_MESSAGE_MAX)
		len = MPKRPC_MESSAGE_MAX;
	if (message && len)
		memcpy(last_message, message, len);
	last_message[message ? len : 0] = '\0';
}

MPKRPC_EXPORT int mpkrpc_client_last_status(void)
{
	return last_status;
}

MPKRPC_EXPORT const char *mpkrpc_client_last_message(void)
{
	return last_message;
}
