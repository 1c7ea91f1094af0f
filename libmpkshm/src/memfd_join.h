/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/* memfd_join.c: reaching a memfd channel's broker (backend_memfd.c). */
#ifndef MPKSHM_MEMFD_JOIN_H
#define MPKSHM_MEMFD_JOIN_H

#include <stdint.h>

#include "memfd_wire.h"
#include "mpkshm.h"

/* Milliseconds left until @deadline (ns, UINT64_MAX: forever) for poll(). */
int mpkshm_ms_left(uint64_t deadline);

/*
 * Binds our user's broker name ("mpkshm/EUID") and starts the broker with
 * the socket.  EADDRINUSE: someone holds the name (connecting tells who);
 * ENOPKG: no broker program.
 */
int mpkshm_broker_start(void);

/*
 * Connects to our user's broker: a socket, ENOENT when nobody listens,
 * EADDRINUSE when the listener is not of our effective uid (it was told
 * nothing), ETIMEDOUT when its backlog stayed full until @deadline.
 */
int mpkshm_broker_connect(uint64_t deadline);

/* Receives one message from the broker, waiting until @deadline. */
int mpkshm_wire_recv_by(int sock, struct mpkshm_wire *w, int fds[2],
			uint64_t deadline);

#endif /* MPKSHM_MEMFD_JOIN_H */
