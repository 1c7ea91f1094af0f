/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * The memfd backend's socket protocol, spoken between members (the library,
 * backend_memfd.c) and their user's broker (broker/broker.c, a process of
 * its own serving every memfd channel of one user).  SOCK_SEQPACKET on the
 * abstract name "mpkshm/EUID": one struct mpkshm_wire per message, with up
 * to two file descriptors.
 *
 *   member -> broker  OPEN     the channel's name; with MPKSHM_WIRE_CREATE
 *                              and its geometry, create it if absent
 *   broker -> member  WELCOME  slot, member id, geometry; fd: the directory
 *   broker -> member  REFUSED  error (EACCES: another uid, ENOENT: no such
 *                              channel, EUSERS: full, EINVAL, EMFILE)
 *   member -> broker  HELLO    fds: its sealed slot memfd, its doorbell
 *   broker -> member  PEER     slot, member id; fds: that member's memfd
 *                              and doorbell (sent before the directory
 *                              names it, as far as the member takes them)
 *
 * Both sides send with MSG_DONTWAIT: neither ever blocks on the other.
 */
#ifndef MPKSHM_MEMFD_WIRE_H
#define MPKSHM_MEMFD_WIRE_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define MPKSHM_WIRE_VERSION	3

/* OPEN's flags */
#define MPKSHM_WIRE_CREATE	0x1

enum mpkshm_wire_type {
	MPKSHM_WIRE_WELCOME = 1,
	MPKSHM_WIRE_HELLO,
	MPKSHM_WIRE_PEER,
	MPKSHM_WIRE_REFUSED,
	MPKSHM_WIRE_OPEN,
};

struct mpkshm_wire {
	uint32_t type;			/* enum mpkshm_wire_type */
	uint32_t version;		/* MPKSHM_WIRE_VERSION */
	uint64_t member_id;
	uint64_t segment_size;
	uint32_t slot;
	uint32_t max_members;
	int32_t error;			/* REFUSED: a positive errno */
	uint32_t flags;			/* OPEN: MPKSHM_WIRE_CREATE */
	char name[64];			/* OPEN: the channel, NUL-terminated */
};

/* The abstract socket address of user @uid's broker. */
void mpkshm_wire_address(struct sockaddr_un *addr, socklen_t *len, uid_t uid);

/*
 * Sends @w with @nfds (0..2) descriptors, never blocking: 0, -EAGAIN when
 * the peer's socket is full, or another negative errno.
 */
int mpkshm_wire_send(int sock, const struct mpkshm_wire *w, const int *fds,
		     int nfds);

/*
 * Receives one message, never blocking.  Returns 0 with @fds[0..1] set
 * (-1 where none came, and then the caller owns what came), -EAGAIN when
 * there is none, -ECONNRESET at end of file, -EPROTO for a message of the
 * wrong size or version.  On every error no descriptor is left open.
 */
int mpkshm_wire_recv(int sock, struct mpkshm_wire *w, int fds[2]);

/* Closes the descriptors a received message carried. */
void mpkshm_wire_close_fds(int fds[2]);

#endif /* MPKSHM_MEMFD_WIRE_H */
