// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/* Error descriptions. */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* Errors whose meaning on a channel is more precise than strerror()'s. */
static const struct {
	int err;
	const char *desc;
} channel_errors[] = {
	{ EKEYREVOKED, "Access to the channel was revoked" },
	{ ECONNRESET, "The peer left the channel" },
	{ EPIPE, "No such member on the channel" },
	{ EBADMSG, "A peer's ring is corrupt: its messages are skipped" },
	{ EKEYREJECTED, "Message signature invalid: forged or altered" },
	{ EPROTO, "Message replayed: its sequence number is not new" },
	{ EMSGSIZE, "Message too long for the buffer or the segment" },
	{ ENODEV, "mpklink.ko is not loaded (modprobe mpklink)" },
	{ EUSERS, "The channel has no free member slot" },
	{ ENOKEY, "Signed channel: no secret key given, or none on record" },
	{ ENOBUFS, "A writer dropped this endpoint for falling behind: messages were lost" },
	{ EADDRINUSE, "The channel's name is held by a process of another user" },
	{ ENOPKG, "The memfd backend's broker (mpkshm-broker) is not installed" },
	{ EREMOTEIO, "The server failed the call with an error of its own" },
	{ ECANCELED, "Serving was stopped (mpkshm_serve_stop)" },
};

MPKSHM_EXPORT const char *mpkshm_strerror(int err)
{
	const char *desc;
	size_t i;

	if (err < 0)
		err = -err;
	if (err == 0)
		return "Success";
	for (i = 0; i < sizeof(channel_errors) / sizeof(channel_errors[0]); i++)
		if (channel_errors[i].err == err)
			return channel_errors[i].desc;
	/* Unlike strerror(), never writes a shared or thread-local buffer. */
	desc = strerrordesc_np(err);
	return desc ? desc : "Unknown error";
}
