/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * mpkshm-broker's pieces: the process and its connections (broker.c), and
 * the channels with their members (channels.c).
 */
#ifndef MPKSHM_BROKER_H
#define MPKSHM_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/mpklink.h>

#include "../src/memfd_wire.h"

#define UNREAD_MAX		(96 * 1024)	/* a member may leave unread */

struct member {
	int sock;			/* -1: free slot */
	int pidfd;			/* its process, -1: not known */
	uint64_t id;
	bool joined;			/* sent its HELLO */
	int segfd;
	int bell;			/* its doorbell's write end */
	uint64_t untold;		/* slots whose member it was not sent */
	bool full;			/* its socket said EAGAIN: wait for POLLOUT */
	uint64_t hello_by;		/* ms: drop it if it has not joined */
};

struct channel {
	char name[MPKLINK_NAME_MAX];	/* "": a free entry */
	int dirfd;
	struct mpklink_dir *dir;	/* read-write, the broker's */
	unsigned int max_members;
	uint64_t segment_size;
	struct member m[MPKLINK_MAX_MEMBERS];
};

uint64_t broker_now_ms(void);

/* The channel called @name, or NULL. */
struct channel *channel_find(struct channel *chs, unsigned int n,
			     const char *name);
/* Sets up @c as channel @name of that geometry: 0 or a positive errno. */
int channel_create(struct channel *c, const char *name, uint64_t segment_size,
		   unsigned int max_members);
void channel_destroy(struct channel *c);
/* Its members (connected, joined or not). */
unsigned int channel_members(const struct channel *c);

/*
 * Takes @sock and @pidfd into @c as member @id and sends WELCOME: 0;
 * EPIPE (it could not be sent: both are closed); EUSERS (full: both are
 * still the caller's).
 */
int channel_admit(struct channel *c, int sock, int pidfd, uint64_t id,
		  uint64_t hello_by);
/* The member in @slot sent something (its HELLO), or its socket has room. */
void channel_readable(struct channel *c, unsigned int slot);
void channel_tell(struct channel *c, unsigned int slot);
/* The member in @slot is gone (socket closed, process exited, timed out). */
void channel_drop(struct channel *c, unsigned int slot);

/* Refuses a connection: a REFUSED message saying @error, then closes it. */
void broker_refuse(int sock, int error);

#endif /* MPKSHM_BROKER_H */
