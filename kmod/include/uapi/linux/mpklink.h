/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR MIT */
/*
 * mpklink: protection-key-tagged shared memory channels between attested
 * processes.  The userspace API of /dev/mpklink and of channel fds.
 *
 * Conventions (Documentation/design.md, "uapi"):
 *  - Every structure has fixed-width fields only; user pointers are __u64.
 *  - Every structure starts with __u32 size, which must equal the size the
 *    ioctl number encodes (EINVAL otherwise).  A future, larger version of a
 *    structure gets a new ioctl number; the old one keeps working.
 *  - flags bits not defined here, and every reserved field, must be zero
 *    (EINVAL otherwise).
 *  - Strings are NUL-terminated inside their array (EINVAL otherwise).
 *  - Unknown ioctl numbers get ENOTTY.
 */
#ifndef _UAPI_LINUX_MPKLINK_H
#define _UAPI_LINUX_MPKLINK_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define MPKLINK_DEVICE_PATH	"/dev/mpklink"
#define MPKLINK_API_VERSION	1

/* Channel names: 1..63 bytes of [A-Za-z0-9._-], NUL-terminated. */
#define MPKLINK_NAME_MAX	64
/* cgroup v2 paths, absolute from the root of the hierarchy. */
#define MPKLINK_CGROUP_PATH_MAX	256
#define MPKLINK_SHA256_SIZE	32
#define MPKLINK_PUBKEY_SIZE	32	/* Ed25519 */

/* Rights of a member. */
#define MPKLINK_RIGHT_READ	0x1	/* map other members' segments read-only */
#define MPKLINK_RIGHT_WRITE	0x2	/* own a segment, writable by it alone */
#define MPKLINK_RIGHTS_ALL	(MPKLINK_RIGHT_READ | MPKLINK_RIGHT_WRITE)

/*
 * A principal: the fields named in @match must all match the attaching
 * process (an empty @match is invalid).  When several grants of a channel
 * match, the member gets the union of their rights.
 */
#define MPKLINK_MATCH_UID	0x1	/* effective uid */
#define MPKLINK_MATCH_GID	0x2	/* effective or supplementary gid */
#define MPKLINK_MATCH_EXE	0x4	/* SHA-256 of the executable's contents */
#define MPKLINK_MATCH_CGROUP	0x8	/* in this cgroup v2 or below it */
#define MPKLINK_MATCH_ALL	0xf

struct mpklink_principal {
	__u32 match;			/* MPKLINK_MATCH_* */
	__u32 uid;			/* in the caller's user namespace */
	__u32 gid;			/* in the caller's user namespace */
	__u32 reserved;
	__u8 exe_sha256[MPKLINK_SHA256_SIZE];
	char cgroup[MPKLINK_CGROUP_PATH_MAX];	/* "/", or "/a/b" */
};

/* MPKLINK_IOC_CREATE: a channel (CAP_SYS_ADMIN). */
#define MPKLINK_CREATE_SIGNED	0x1	/* members sign their messages */

struct mpklink_create {
	__u32 size;
	__u32 flags;			/* MPKLINK_CREATE_* */
	__u64 segment_size;		/* bytes of each writer's segment */
	__u32 max_members;		/* 0: the module's default */
	__u32 reserved0;
	char name[MPKLINK_NAME_MAX];
	__u64 reserved[4];
};

/* MPKLINK_IOC_DESTROY (CAP_SYS_ADMIN). */
struct mpklink_destroy {
	__u32 size;
	__u32 flags;
	char name[MPKLINK_NAME_MAX];
	__u64 reserved[2];
};

/*
 * MPKLINK_IOC_GRANT sets the rights of a principal on a channel, adding the
 * grant or replacing the rights of an equal principal.  MPKLINK_IOC_REVOKE
 * removes the grant of an equal principal (@rights and @pubkey zero).
 * Both CAP_SYS_ADMIN.
 */
#define MPKLINK_GRANT_PUBKEY	0x1	/* @pubkey is the principal's key */

struct mpklink_grant {
	__u32 size;
	__u32 flags;			/* MPKLINK_GRANT_* */
	__u32 rights;			/* MPKLINK_RIGHT_* */
	__u32 reserved0;
	char name[MPKLINK_NAME_MAX];	/* the channel */
	struct mpklink_principal principal;
	__u8 pubkey[MPKLINK_PUBKEY_SIZE];
	__u64 reserved[2];
};

/*
 * Listings: MPKLINK_IOC_LIST (channels), MPKLINK_IOC_GRANTS and
 * MPKLINK_IOC_MEMBERS (of the channel called @name), all CAP_SYS_ADMIN, and
 * MPKLINK_CHAN_IOC_MEMBERS on a channel fd (any member; @name empty, as for
 * LIST).  They fill the array at user address @entries with up to @count
 * entries of @entry_size bytes, which must be the size of the entry
 * structure (struct mpklink_channel_info, struct mpklink_grant, struct
 * mpklink_member_info), and set @count to how many exist, which may be
 * more than fitted.
 */
struct mpklink_listing {
	__u32 size;
	__u32 flags;
	__u32 entry_size;
	__u32 count;
	char name[MPKLINK_NAME_MAX];
	__u64 entries;
	__u64 reserved[2];
};

struct mpklink_channel_info {
	char name[MPKLINK_NAME_MAX];
	__u64 segment_size;
	__u32 max_members;
	__u32 flags;			/* MPKLINK_CREATE_* */
	__u32 nr_members;
	__u32 nr_grants;
	__u64 attaches;			/* counters since creation */
	__u64 denials;
	__u64 revocations;
	__u64 notifications;		/* doorbell rings delivered */
	__u64 reserved[2];
};

/* Entries of the members listings. */
#define MPKLINK_MEMBER_PUBKEY	0x1	/* @pubkey is set */
#define MPKLINK_MEMBER_SELF	0x2	/* the caller's own membership */
#define MPKLINK_MEMBER_REVOKED	0x4	/* revoked, not yet gone */
#define MPKLINK_MEMBER_EXE	0x8	/* @exe_sha256 is set (see below) */

struct mpklink_member_info {
	__u64 member_id;		/* unique while the module is loaded */
	__u32 slot;
	__u32 pid;			/* in the caller's pid namespace, or 0 */
	__u32 uid;			/* euid at attach, caller's user ns */
	__u32 gid;			/* egid at attach, caller's user ns */
	__u32 rights;			/* MPKLINK_RIGHT_* */
	__s32 pkey;			/* the channel's key in that process */
	__u32 flags;			/* MPKLINK_MEMBER_* */
	__u32 reserved0;
	/*
	 * With MPKLINK_MEMBER_EXE: the digest the member was attested with.
	 * The kernel hashes an executable only for an attach that a digest
	 * grant could admit, and only where the digest describes the code.
	 */
	__u8 exe_sha256[MPKLINK_SHA256_SIZE];
	__u8 pubkey[MPKLINK_PUBKEY_SIZE];
	__u64 reserved[2];
};

/*
 * MPKLINK_IOC_ATTACH: join a channel (any process; checked against the
 * channel's grants).  Returns a new channel fd (close-on-exec) and fills the
 * out fields.  MPKLINK_CHAN_IOC_INFO on a channel fd fills the same fields.
 * @pkey is the channel's protection key in this process, or -1 when the
 * CPU has no protection keys (then mappings are not tagged).
 */
/* Tag with @pkey, a key this process already holds for another channel. */
#define MPKLINK_ATTACH_SHARE_PKEY 0x1

struct mpklink_attach {
	__u32 size;
	__u32 flags;			/* MPKLINK_ATTACH_* */
	char name[MPKLINK_NAME_MAX];
	__s32 pkey;			/* in: SHARE_PKEY's; out: key or -1 */
	__u32 rights;			/* out: MPKLINK_RIGHT_* */
	__u32 slot;			/* out: this member's slot */
	__u32 max_members;		/* out */
	__u64 segment_size;		/* out */
	__u64 member_id;		/* out */
	__u64 map_size;			/* out: bytes of the whole channel */
	__u64 slot_size;		/* out: control page + segment */
	__u32 channel_flags;		/* out: MPKLINK_CREATE_*; in: 0 */
	__u32 reserved0;
	__u64 reserved[3];
};

/*
 * The channel's memory, as mmap()ed from a channel fd (MAP_SHARED only,
 * never executable):
 *
 *   [0, MPKLINK_DIR_SIZE)            the directory: written by the kernel,
 *                                    read-only for everyone
 *   slot i at MPKLINK_DIR_SIZE + i * slot_size:
 *     [0, MPKLINK_CTRL_SIZE)         control page: writable by the slot's
 *                                    member, readable by all (reader progress)
 *     [MPKLINK_CTRL_SIZE, slot_size) segment: writable by the slot's member
 *                                    if it has MPKLINK_RIGHT_WRITE; readable
 *                                    by members with MPKLINK_RIGHT_READ
 *
 * Pages of free slots and absent segments read as zeros.
 */
#define MPKLINK_DIR_SIZE	4096
#define MPKLINK_CTRL_SIZE	4096
#define MPKLINK_DIR_MAGIC	0x4d504b44	/* "MPKD" */
#define MPKLINK_MAX_MEMBERS	64

#define MPKLINK_DIR_SLOT_WRITER	0x1	/* the member has MPKLINK_RIGHT_WRITE */
#define MPKLINK_DIR_SLOT_REVOKED 0x2	/* the member was revoked */

struct mpklink_dir_slot {
	__u64 member_id;		/* 0: free */
	__u32 rights;
	__u32 flags;			/* MPKLINK_DIR_SLOT_* */
	__u64 reserved[2];
};

/*
 * The directory changes under a sequence count: @seq is odd while the
 * kernel updates it.  Read @seq, copy, read @seq again; retry if it was odd
 * or changed.
 */
struct mpklink_dir {
	__u32 magic;			/* MPKLINK_DIR_MAGIC */
	__u32 version;			/* MPKLINK_API_VERSION */
	__u32 max_members;
	__u32 ctrl_size;		/* MPKLINK_CTRL_SIZE */
	__u64 segment_size;
	__u64 slot_size;
	__u64 seq;
	__u64 reserved[3];
	struct mpklink_dir_slot slots[MPKLINK_MAX_MEMBERS];
};

/*
 * Revocation.  When a grant is revoked or changed, every live member whose
 * attestation no longer earns all of its rights is revoked, and destroying
 * a channel revokes every member.  A revoked member's mappings are torn
 * down and never served a page again; its channel fd reports POLLERR and
 * POLLHUP, and every ioctl and mmap on it fails with EKEYREVOKED.  Its
 * slot's pages go when its last fd and mapping are gone.
 *
 * Events.  read() of a channel fd returns whole struct mpklink_event
 * records (EINVAL if the buffer holds none), blocking unless O_NONBLOCK
 * (EAGAIN); poll() reports POLLIN while one is pending.  The events of
 * other members (join, leave, revoked) queue up to a limit past which an
 * OVERFLOW record says how many were lost: re-read the directory then.
 * Doorbell rings are coalesced into one DOORBELL record.
 */
#define MPKLINK_EVENT_DOORBELL	1	/* @count rings since the last record */
#define MPKLINK_EVENT_JOIN	2	/* a member joined @slot */
#define MPKLINK_EVENT_LEAVE	3	/* a member left @slot; @reason */
#define MPKLINK_EVENT_REVOKED	4	/* a member was revoked; @reason */
#define MPKLINK_EVENT_OVERFLOW	5	/* @count records were lost */

#define MPKLINK_LEAVE_CLOSED	1	/* its fd and mappings were closed */
#define MPKLINK_LEAVE_EXITED	2	/* its process exited or was killed */
#define MPKLINK_REVOKED_GRANT	1	/* its grants no longer cover it */
#define MPKLINK_REVOKED_DESTROY	2	/* the channel was destroyed */

#define MPKLINK_EVENT_SELF	0x1	/* about the reader's own membership */

struct mpklink_event {
	__u32 type;			/* MPKLINK_EVENT_* */
	__u32 slot;
	__u64 member_id;
	__u64 count;
	__u32 pid;			/* in the reader's pid namespace, or 0 */
	__u32 reason;
	__u32 flags;			/* MPKLINK_EVENT_SELF */
	__u32 reserved0;
	__u64 reserved[2];
};

/* MPKLINK_CHAN_IOC_NOTIFY: ring the doorbell of other members. */
struct mpklink_notify {
	__u32 size;
	__u32 flags;
	__u64 slots;			/* bit i rings slot i; 0: every other member */
	__u64 reserved[2];
};

/*
 * MPKLINK_CHAN_IOC_WAIT: sleep until a doorbell ring or an event is pending,
 * then take the rings; one system call where poll() and read() take two.
 * Returns 0 with @rings (taken) and @events (records still queued for
 * read(): joins, leaves, revocations, overflow) set; ETIMEDOUT when
 * @timeout_ns passed first (0: do not sleep; ~0: no limit); EINTR on a
 * signal; EKEYREVOKED once the member is revoked.
 */
struct mpklink_wait {
	__u32 size;
	__u32 flags;
	__u64 timeout_ns;		/* in: relative */
	__u64 rings;			/* out */
	__u32 events;			/* out */
	__u32 reserved0;
	__u64 reserved[2];
};

#define MPKLINK_IOC_TYPE	0xB9

/* On /dev/mpklink. */
#define MPKLINK_IOC_API_VERSION	_IO(MPKLINK_IOC_TYPE, 0x00)	/* returns it */
#define MPKLINK_IOC_CREATE	_IOW(MPKLINK_IOC_TYPE, 0x01, struct mpklink_create)
#define MPKLINK_IOC_DESTROY	_IOW(MPKLINK_IOC_TYPE, 0x02, struct mpklink_destroy)
#define MPKLINK_IOC_GRANT	_IOW(MPKLINK_IOC_TYPE, 0x03, struct mpklink_grant)
#define MPKLINK_IOC_REVOKE	_IOW(MPKLINK_IOC_TYPE, 0x04, struct mpklink_grant)
#define MPKLINK_IOC_LIST	_IOWR(MPKLINK_IOC_TYPE, 0x05, struct mpklink_listing)
#define MPKLINK_IOC_GRANTS	_IOWR(MPKLINK_IOC_TYPE, 0x06, struct mpklink_listing)
#define MPKLINK_IOC_MEMBERS	_IOWR(MPKLINK_IOC_TYPE, 0x07, struct mpklink_listing)
#define MPKLINK_IOC_ATTACH	_IOWR(MPKLINK_IOC_TYPE, 0x08, struct mpklink_attach)

/* On a channel fd. */
#define MPKLINK_CHAN_IOC_INFO	_IOWR(MPKLINK_IOC_TYPE, 0x40, struct mpklink_attach)
#define MPKLINK_CHAN_IOC_MEMBERS _IOWR(MPKLINK_IOC_TYPE, 0x41, struct mpklink_listing)
#define MPKLINK_CHAN_IOC_NOTIFY	_IOW(MPKLINK_IOC_TYPE, 0x42, struct mpklink_notify)
#define MPKLINK_CHAN_IOC_WAIT	_IOWR(MPKLINK_IOC_TYPE, 0x43, struct mpklink_wait)

#endif /* _UAPI_LINUX_MPKLINK_H */
