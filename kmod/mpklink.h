/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mpklink internals shared between the module's files.
 *
 * Objects and who holds them (Documentation/design.md has the picture):
 *
 *   channel   kref: one for the registry (dropped at destroy), one per
 *             member, one per lookup in progress.
 *   member    one per attach; refcount: one for its channel fd's struct
 *             file (which every mapping of it also holds, so a member
 *             outlives all of its mappings), one per revocation in
 *             progress.  Leaves its channel when the file is released.
 *             Owns its slot's pages and holds references on its channel,
 *             its mpklink_mm and the credentials it attached with.
 *   mpklink_mm  one per address space that ever had members; refs: one
 *             per member and one per PKRU work not yet reaped (pkru.c).
 *             Holds the mm_struct (mmgrab) and the protection keys
 *             allocated there for mpklink, which it keeps for the life of
 *             the address space: with no refs it stays in the table until
 *             the address space is gone (mm_users 0), then the next new
 *             record or the module's exit frees it.
 *   PKRU work  at most one pending per thread (pkru.c); holds its
 *             mpklink_mm and the module until the reaper frees it.
 *
 * Lock order, outermost first:
 *   mpklink_registry_lock > channel->lock > channel->slots_rwsem
 *   mpklink_mm->lock > mmap_lock > mpklink_mm->key_lock
 *   mmap_lock > channel->slots_rwsem		(page faults)
 *   channel->lock > i_mmap_rwsem			(zapping mappings)
 *   rcu_read_lock > mpklink_mm->works_lock		(the PKRU thread walk)
 * channel->lock is never held while taking mmap_lock.  Revocation, which an
 * administrator's ioctl finishes, takes no mutex or mmap_lock of the
 * member's: only key_lock and works_lock, spinlocks never held across a
 * sleep.
 */
#ifndef MPKLINK_H
#define MPKLINK_H

#include <linux/hashtable.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <uapi/linux/mpklink.h>

struct cred;
struct file;
struct inode;
struct pid;
struct seq_file;

/* Module parameters (main.c). */
extern unsigned int mpklink_max_channels;
extern unsigned long mpklink_max_segment_size;
extern unsigned int mpklink_default_members;
extern unsigned int mpklink_max_grants;
extern unsigned int mpklink_max_pkru_works;

/* Module-wide counters, shown in debugfs. */
struct mpklink_stats {
	atomic_long_t pages;		/* channel pages allocated now */
	atomic_t channels;
	atomic_t members;
	atomic64_t attaches;
	atomic64_t denials;
	atomic64_t revocations;
	atomic64_t notifications;
	atomic64_t exe_hashes;		/* executables read to hash them */
	/* Closing keys in every thread of a process (pkru.c). */
	atomic64_t pkru_syncs;
	atomic64_t pkru_sync_last_ns;
	atomic64_t pkru_sync_max_ns;
	atomic_t pkru_sync_last_threads;
	atomic_t pkru_works;		/* per-thread works allocated now */
};

extern struct mpklink_stats mpklink_stats;

/* main.c: ioctl arguments. */
int mpklink_copy_arg(void *karg, size_t size, const void __user *uarg);
int mpklink_listing_check(struct mpklink_listing *req, size_t entry_size,
			  bool named);
void *mpklink_listing_alloc(u32 room, size_t entry_size);
int mpklink_listing_copy_out(void __user *dst, void *buf, u32 room,
			     size_t entry_size);

/* --- acl.c: grants and attestation --------------------------------------- */

/* A principal in kernel form: ids translated, strings validated. */
struct mpklink_principal_k {
	u32 match;
	kuid_t uid;
	kgid_t gid;
	u8 exe_sha256[MPKLINK_SHA256_SIZE];
	char cgroup[MPKLINK_CGROUP_PATH_MAX];
};

struct mpklink_grant_entry {
	struct list_head node;		/* in channel->grants */
	struct mpklink_principal_k principal;
	u32 rights;
	bool has_pubkey;
	u8 pubkey[MPKLINK_PUBKEY_SIZE];
};

struct mpklink_exe_pin;

/*
 * What the kernel found out about the attaching process.  A member keeps
 * it, with a reference on @cred, to re-evaluate grants when they change.
 * The executable's digest is only computed when a grant could use it
 * (exe_known); exe_refused says why it cannot describe the process.
 */
struct mpklink_attestation {
	const struct cred *cred;
	kuid_t euid;
	kgid_t egid;
	bool exe_known;
	u8 exe_sha256[MPKLINK_SHA256_SIZE];
	struct mpklink_exe_pin *exe_pin;	/* the digest cache's entry */
	const char *exe_refused;
	char cgroup[MPKLINK_CGROUP_PATH_MAX];
};

int mpklink_principal_from_user(struct mpklink_principal_k *out,
				const struct mpklink_principal *in);
void mpklink_principal_to_user(struct mpklink_principal *out,
			       const struct mpklink_principal_k *in);
int mpklink_attest_current(struct mpklink_attestation *att);
int mpklink_attest_exe(struct mpklink_attestation *att);
void mpklink_attestation_free(struct mpklink_attestation *att);
bool mpklink_principal_matches(const struct mpklink_principal_k *p,
			       const struct mpklink_attestation *att);

/* --- exe_digest.c ---------------------------------------------------------- */

int mpklink_exe_digest_init(void);
void mpklink_exe_digest_exit(void);
int mpklink_exe_digest(struct file *file, u8 digest[MPKLINK_SHA256_SIZE],
		       struct mpklink_exe_pin **pin, const char **why);
void mpklink_exe_unpin(struct mpklink_exe_pin *pin);

/* --- channel.c ------------------------------------------------------------- */

struct mpklink_member;

struct mpklink_slot {
	struct mpklink_member *member;	/* NULL: free */
	struct page **pages;		/* control page, then the segment */
	unsigned long nr_pages;
};

struct mpklink_channel {
	struct kref ref;
	struct list_head node;		/* in the registry */
	char name[MPKLINK_NAME_MAX];
	u64 segment_size;
	u64 slot_size;			/* control page + segment */
	u64 map_size;			/* directory + every slot */
	u32 max_members;
	u32 flags;			/* MPKLINK_CREATE_* */

	struct mutex lock;		/* everything below but slots' pages */
	bool destroyed;
	struct list_head grants;
	unsigned int nr_grants;
	struct list_head members;
	unsigned int nr_members;
	atomic64_t attaches;
	atomic64_t denials;
	atomic64_t revocations;
	atomic64_t notifications;

	/*
	 * Faults read slots[] and members' revoked state under it; attach,
	 * detach and revocation write.
	 */
	struct rw_semaphore slots_rwsem;
	struct mpklink_slot *slots;	/* max_members of them */
	struct page *dir_page;
};

int mpklink_channel_create(const struct mpklink_create *req);
int mpklink_channel_destroy(const char *name);
struct mpklink_channel *mpklink_channel_lookup(const char *name);
struct mpklink_channel *mpklink_channel_find(char *name);
void mpklink_channel_put(struct mpklink_channel *ch);
int mpklink_channel_list(struct mpklink_channel_info __user *entries,
			 u32 *count);
void mpklink_channels_show(struct seq_file *m);
void mpklink_channels_destroy_all(void);
int mpklink_name_from_user(char *name, const char *in);

/* A slot's pages, allocated before its channel's lock is taken. */
struct mpklink_slot_pages {
	struct page **pages;
	unsigned long nr;
};

int mpklink_slot_pages_alloc(struct mpklink_channel *ch, bool with_segment,
			     struct mpklink_slot_pages *sp);
void mpklink_slot_pages_free(struct mpklink_slot_pages *sp);
void mpklink_slot_fill(struct mpklink_channel *ch, u32 slot,
		       struct mpklink_member *member,
		       struct mpklink_slot_pages *sp);
void mpklink_slot_empty(struct mpklink_channel *ch, u32 slot,
			struct mpklink_slot_pages *sp);
struct page *mpklink_channel_page(struct mpklink_channel *ch,
				  const struct mpklink_member *member,
				  pgoff_t pgoff);
void mpklink_dir_set_slot(struct mpklink_channel *ch, u32 slot,
			  u64 member_id, u32 rights, u32 flags);

int mpklink_grant_set(struct mpklink_channel *ch,
		      const struct mpklink_grant *req);
int mpklink_grant_remove(struct mpklink_channel *ch,
			 const struct mpklink_grant *req);
int mpklink_grant_list(struct mpklink_channel *ch,
		       struct mpklink_grant __user *entries, u32 *count);
u32 mpklink_grants_match(struct mpklink_channel *ch,
			 const struct mpklink_attestation *att,
			 const struct mpklink_grant_entry **with_pubkey);
bool mpklink_grants_want_exe(struct mpklink_channel *ch,
			     const struct mpklink_attestation *att);
void mpklink_grants_changed(struct mpklink_channel *ch,
			    struct list_head *revoked);
void mpklink_grant_show(struct seq_file *m,
			const struct mpklink_grant_entry *g);

/* --- pkey.c: protection keys of attached processes ----------------------- */

#define MPKLINK_NR_PKEYS	16

struct mpklink_mm {
	struct hlist_node node;		/* in mpklink_mms, under its spinlock */
	struct list_head gc_node;	/* on the way out */
	struct mm_struct *mm;		/* mmgrab()ed */
	struct pid *tgid;		/* the process whose threads we update */
	atomic_t refs;			/* members, unreaped PKRU works */
	struct mutex lock;		/* serialises taking keys */
	spinlock_t key_lock;		/* the four below */
	/*
	 * Keys allocated for mpklink: never handed back (the process may
	 * have pkey_free()d one and pkey_alloc()ed it again for itself).
	 * Read locklessly by the task_newtask probe.
	 */
	u16 keys;
	u16 busy;			/* being closed everywhere */
	unsigned int key_users[MPKLINK_NR_PKEYS];
	unsigned int closings;		/* ended, ever */
	wait_queue_head_t key_wq;	/* a closing ended */
	/* pkru.c: the pending per-thread works, by task. */
	spinlock_t works_lock;
	DECLARE_HASHTABLE(works, 5);
	unsigned int nr_works;		/* allocated: pending or unreaped */
	struct rcu_head rcu;
};

struct mpklink_mm *mpklink_mm_get_current(void);
void mpklink_mm_get(struct mpklink_mm *mmk);
void mpklink_mm_put(struct mpklink_mm *mmk);
struct mm_struct *mpklink_mm_struct(const struct mpklink_mm *mmk);
u16 mpklink_mm_keys_rcu(struct mm_struct *mm);
int mpklink_mm_key_get(struct mpklink_mm *mmk, int share);
void mpklink_mm_key_put(struct mpklink_mm *mmk, int pkey);
void mpklink_mms_exit(void);

/* --- pkru.c: every thread's PKRU ------------------------------------------ */

bool mpklink_have_pku(void);
int mpklink_pkru_close_everywhere(struct mpklink_mm *mmk, u16 keys);
int mpklink_pkru_init(void);
void mpklink_pkru_exit(void);

/* --- doorbell.c: events, doorbells, read and poll ------------------------ */

#define MPKLINK_EVENTS_MAX	32

struct mpklink_event_k {
	u32 type;
	u32 slot;
	u32 reason;
	u32 flags;
	u64 member_id;
	struct pid *pid;			/* a reference, or NULL */
};

struct mpklink_events {
	wait_queue_head_t wq;
	spinlock_t lock;			/* the queue below */
	struct mpklink_event_k queue[MPKLINK_EVENTS_MAX];
	unsigned int head;
	unsigned int count;
	u64 lost;
	atomic64_t rings;			/* doorbell, coalesced */
	struct mutex read_lock;			/* one reader copies at a time */
};

/* --- member.c: attach and the channel fd ---------------------------------- */

struct mpklink_member {
	refcount_t ref;
	struct mpklink_channel *channel;	/* holds a reference */
	struct list_head node;			/* in channel->members */
	struct list_head revoke_node;		/* while being revoked */
	struct mpklink_mm *mmk;			/* holds a reference */
	struct inode *inode;			/* its mappings' address space */
	struct pid *tgid;
	struct mpklink_attestation *att;	/* holds a cred reference */
	u64 id;
	u32 slot;
	u32 rights;
	int pkey;				/* -1: no PKU */
	bool key_held;				/* until revoked or gone */
	/* 0 or MPKLINK_REVOKED_*, written under slots_rwsem. */
	u32 revoked;
	bool has_pubkey;
	u8 pubkey[MPKLINK_PUBKEY_SIZE];
	struct mpklink_events events;
};

bool mpklink_member_revoke(struct mpklink_member *member, u32 reason);
void mpklink_members_finish_revoke(struct list_head *revoked);
void mpklink_member_show(struct seq_file *m,
			 const struct mpklink_member *member);

void mpklink_events_init(struct mpklink_events *ev);
void mpklink_events_release(struct mpklink_events *ev);
void mpklink_events_hangup(struct mpklink_events *ev);
void mpklink_event_post(struct mpklink_member *to, u32 type,
			const struct mpklink_member *about, u32 reason);
void mpklink_channel_event(struct mpklink_channel *ch,
			   const struct mpklink_member *about, u32 type,
			   u32 reason);
long mpklink_notify(struct mpklink_member *member,
		    struct mpklink_notify __user *uarg);
long mpklink_wait(struct mpklink_member *member,
		  struct mpklink_wait __user *uarg);
ssize_t mpklink_events_read(struct file *file, char __user *buf,
			    size_t len, loff_t *ppos);
__poll_t mpklink_events_poll(struct file *file, struct poll_table_struct *pt);

int mpklink_attach(struct mpklink_attach __user *uarg);

/* --- chan_ioctl.c: what a channel fd answers ------------------------------ */

void mpklink_fill_info(const struct mpklink_member *member,
		       struct mpklink_attach *out);
long mpklink_chan_ioctl(struct file *file, unsigned int cmd,
			unsigned long arg);
int mpklink_members_list(struct mpklink_channel *ch,
			 const struct mpklink_member *self,
			 struct mpklink_member_info __user *entries, u32 *count);
int mpklink_fs_init(void);
void mpklink_fs_exit(void);

/* --- mapping.c ------------------------------------------------------------ */

int mpklink_mmap(struct file *file, struct vm_area_struct *vma);
void mpklink_zap_range(struct mpklink_channel *ch, u64 offset, u64 len);

/* --- debugfs.c ------------------------------------------------------------ */

void mpklink_debugfs_init(void);
void mpklink_debugfs_exit(void);

#endif /* MPKLINK_H */
