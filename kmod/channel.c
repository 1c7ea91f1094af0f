// SPDX-License-Identifier: GPL-2.0
/*
 * Channels: the registry of named channels, their lifetime, and the pages
 * of their slots and directory.
 *
 * A channel's pages are allocated here and never enter any file system or
 * page cache: mappings reach them only through mapping.c's fault handler.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "mpklink.h"

static LIST_HEAD(mpklink_registry);
static DEFINE_MUTEX(mpklink_registry_lock);
static unsigned int mpklink_nr_channels;

/*
 * Validates a name from userspace (a MPKLINK_NAME_MAX array that must hold
 * a NUL) and copies it to @name, which may be @in itself.
 */
int mpklink_name_from_user(char *name, const char *in)
{
	size_t len = strnlen(in, MPKLINK_NAME_MAX);
	size_t i;

	if (len == 0 || len == MPKLINK_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return -EINVAL;
	}
	memmove(name, in, len + 1);
	memset(name + len, 0, MPKLINK_NAME_MAX - len);
	return 0;
}

static struct mpklink_channel *mpklink_lookup_locked(const char *name)
{
	struct mpklink_channel *ch;

	lockdep_assert_held(&mpklink_registry_lock);
	list_for_each_entry(ch, &mpklink_registry, node)
		if (!strcmp(ch->name, name))
			return ch;
	return NULL;
}

/* Returns a reference on the channel called @name, or NULL. */
struct mpklink_channel *mpklink_channel_lookup(const char *name)
{
	struct mpklink_channel *ch;

	mutex_lock(&mpklink_registry_lock);
	ch = mpklink_lookup_locked(name);
	if (ch)
		kref_get(&ch->ref);
	mutex_unlock(&mpklink_registry_lock);
	return ch;
}

/*
 * Validates a channel name from userspace (in place) and returns a
 * reference on that channel: ERR_PTR(-EINVAL) for a bad name,
 * ERR_PTR(-ENOENT) when there is no such channel.
 */
struct mpklink_channel *mpklink_channel_find(char *name)
{
	struct mpklink_channel *ch;
	int err;

	err = mpklink_name_from_user(name, name);
	if (err)
		return ERR_PTR(err);
	ch = mpklink_channel_lookup(name);
	return ch ?: ERR_PTR(-ENOENT);
}

static void mpklink_channel_free(struct mpklink_channel *ch)
{
	struct mpklink_grant_entry *g, *tmp;

	list_for_each_entry_safe(g, tmp, &ch->grants, node) {
		list_del(&g->node);
		kfree(g);
	}
	if (ch->dir_page)
		__free_page(ch->dir_page);
	kfree(ch->slots);
	kfree(ch);
}

static void mpklink_channel_release(struct kref *ref)
{
	struct mpklink_channel *ch = container_of(ref, struct mpklink_channel,
						  ref);
	u32 i;

	/* Members hold references, so every slot is empty by now. */
	for (i = 0; i < ch->max_members; i++)
		WARN_ON_ONCE(ch->slots[i].pages);
	atomic_long_sub(1, &mpklink_stats.pages);
	atomic_dec(&mpklink_stats.channels);
	mpklink_channel_free(ch);
}

void mpklink_channel_put(struct mpklink_channel *ch)
{
	kref_put(&ch->ref, mpklink_channel_release);
}

static void mpklink_dir_init(struct mpklink_channel *ch)
{
	struct mpklink_dir *dir = page_address(ch->dir_page);

	BUILD_BUG_ON(sizeof(*dir) > MPKLINK_DIR_SIZE);
	/* The uapi fixes the directory and control areas at one x86 page. */
	BUILD_BUG_ON(MPKLINK_DIR_SIZE != PAGE_SIZE);
	BUILD_BUG_ON(MPKLINK_CTRL_SIZE != PAGE_SIZE);
	dir->magic = MPKLINK_DIR_MAGIC;
	dir->version = MPKLINK_API_VERSION;
	dir->max_members = ch->max_members;
	dir->ctrl_size = MPKLINK_CTRL_SIZE;
	dir->segment_size = ch->segment_size;
	dir->slot_size = ch->slot_size;
}

/* @req has been validated by the caller. */
int mpklink_channel_create(const struct mpklink_create *req)
{
	u32 members = req->max_members ?: mpklink_default_members;
	struct mpklink_channel *ch;
	int err = 0;

	ch = kzalloc(sizeof(*ch), GFP_KERNEL_ACCOUNT);
	if (!ch)
		return -ENOMEM;
	kref_init(&ch->ref);
	strscpy(ch->name, req->name, sizeof(ch->name));
	ch->segment_size = req->segment_size;
	ch->slot_size = MPKLINK_CTRL_SIZE + req->segment_size;
	ch->max_members = members;
	ch->map_size = MPKLINK_DIR_SIZE + (u64)members * ch->slot_size;
	ch->flags = req->flags;
	mutex_init(&ch->lock);
	INIT_LIST_HEAD(&ch->grants);
	INIT_LIST_HEAD(&ch->members);
	init_rwsem(&ch->slots_rwsem);
	ch->slots = kcalloc(members, sizeof(*ch->slots), GFP_KERNEL_ACCOUNT);
	ch->dir_page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!ch->slots || !ch->dir_page) {
		mpklink_channel_free(ch);
		return -ENOMEM;
	}
	mpklink_dir_init(ch);

	mutex_lock(&mpklink_registry_lock);
	if (mpklink_lookup_locked(ch->name))
		err = -EEXIST;
	else if (mpklink_nr_channels >= mpklink_max_channels)
		err = -ENOSPC;
	if (!err) {
		list_add_tail(&ch->node, &mpklink_registry);
		mpklink_nr_channels++;
		atomic_inc(&mpklink_stats.channels);
		atomic_long_add(1, &mpklink_stats.pages);
	}
	mutex_unlock(&mpklink_registry_lock);
	if (err)
		mpklink_channel_free(ch);
	return err;
}

/*
 * Unlinks @ch from the registry and revokes its members onto @revoked; the
 * caller drops the registry's reference and finishes the revocations.
 */
static void mpklink_channel_unlink(struct mpklink_channel *ch,
				   struct list_head *revoked)
{
	struct mpklink_member *m;

	lockdep_assert_held(&mpklink_registry_lock);
	list_del(&ch->node);
	mpklink_nr_channels--;
	mutex_lock(&ch->lock);
	ch->destroyed = true;
	list_for_each_entry(m, &ch->members, node)
		if (mpklink_member_revoke(m, MPKLINK_REVOKED_DESTROY))
			list_add_tail(&m->revoke_node, revoked);
	mutex_unlock(&ch->lock);
}

/*
 * The name is free again at once.  Members are revoked; they keep the
 * channel object alive until their fds and mappings are gone.
 */
int mpklink_channel_destroy(const char *name)
{
	struct mpklink_channel *ch;
	LIST_HEAD(revoked);

	mutex_lock(&mpklink_registry_lock);
	ch = mpklink_lookup_locked(name);
	if (ch)
		mpklink_channel_unlink(ch, &revoked);
	mutex_unlock(&mpklink_registry_lock);
	if (!ch)
		return -ENOENT;
	mpklink_members_finish_revoke(&revoked);
	mpklink_channel_put(ch);
	return 0;
}

/* At unload, when file references guarantee no channel has members. */
void mpklink_channels_destroy_all(void)
{
	struct mpklink_channel *ch, *tmp;
	LIST_HEAD(revoked);

	mutex_lock(&mpklink_registry_lock);
	list_for_each_entry_safe(ch, tmp, &mpklink_registry, node) {
		mpklink_channel_unlink(ch, &revoked);
		WARN_ON_ONCE(!list_empty(&revoked));
		mpklink_channel_put(ch);
	}
	mutex_unlock(&mpklink_registry_lock);
}

/*
 * Copies up to *@count channel descriptions to @entries and sets *@count to
 * the number of channels.  Collected under the locks, copied out after.
 */
int mpklink_channel_list(struct mpklink_channel_info __user *entries,
			 u32 *count)
{
	struct mpklink_channel_info *info;
	struct mpklink_channel *ch;
	u32 room, n = 0;

	mutex_lock(&mpklink_registry_lock);
	room = min(*count, mpklink_nr_channels);
	info = mpklink_listing_alloc(room, sizeof(*info));
	if (room && !info) {
		mutex_unlock(&mpklink_registry_lock);
		return -ENOMEM;
	}
	list_for_each_entry(ch, &mpklink_registry, node) {
		if (n < room) {
			struct mpklink_channel_info *e = &info[n];

			strscpy(e->name, ch->name, sizeof(e->name));
			e->segment_size = ch->segment_size;
			e->max_members = ch->max_members;
			e->flags = ch->flags;
			/* Not under ch->lock: a listing must not wait on it. */
			e->nr_members = READ_ONCE(ch->nr_members);
			e->nr_grants = READ_ONCE(ch->nr_grants);
			e->attaches = atomic64_read(&ch->attaches);
			e->denials = atomic64_read(&ch->denials);
			e->revocations = atomic64_read(&ch->revocations);
			e->notifications = atomic64_read(&ch->notifications);
		}
		n++;
	}
	mutex_unlock(&mpklink_registry_lock);
	*count = n;
	return mpklink_listing_copy_out(entries, info, room, sizeof(*info));
}

static u64 mpklink_slot_offset(const struct mpklink_channel *ch, u32 slot)
{
	return MPKLINK_DIR_SIZE + (u64)slot * ch->slot_size;
}

/* Publishes a slot's state in the directory page, under its seqcount. */
void mpklink_dir_set_slot(struct mpklink_channel *ch, u32 slot,
			  u64 member_id, u32 rights, u32 flags)
{
	struct mpklink_dir *dir = page_address(ch->dir_page);
	struct mpklink_dir_slot *s = &dir->slots[slot];

	lockdep_assert_held(&ch->lock);
	WRITE_ONCE(dir->seq, dir->seq + 1);
	smp_wmb();	/* seq odd before the slot changes */
	WRITE_ONCE(s->member_id, member_id);
	WRITE_ONCE(s->rights, rights);
	if (rights & MPKLINK_RIGHT_WRITE)
		flags |= MPKLINK_DIR_SLOT_WRITER;
	WRITE_ONCE(s->flags, flags);
	smp_wmb();	/* the slot before seq is even again */
	WRITE_ONCE(dir->seq, dir->seq + 1);
}

static void mpklink_free_pages(struct page **pages, unsigned long nr)
{
	unsigned long i;

	for (i = 0; i < nr; i++)
		__free_page(pages[i]);
	kvfree(pages);
}

/*
 * Allocates the pages of a slot: its control page, and its segment when
 * the member may write.  Called with no lock held, since a segment can be
 * tens of megabytes and the allocator may take its time.  Pages are
 * charged to the attaching process's memory cgroup and never trigger the
 * OOM killer: a channel too big fails with ENOMEM.
 */
int mpklink_slot_pages_alloc(struct mpklink_channel *ch, bool with_segment,
			     struct mpklink_slot_pages *sp)
{
	const gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN |
			  __GFP_RETRY_MAYFAIL;
	unsigned long nr = 1, i;
	struct page **pages;

	if (with_segment)
		nr += ch->segment_size >> PAGE_SHIFT;
	pages = kvcalloc(nr, sizeof(*pages), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!pages)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		pages[i] = alloc_page(gfp);
		if (!pages[i]) {
			mpklink_free_pages(pages, i);
			return -ENOMEM;
		}
		if (fatal_signal_pending(current)) {
			mpklink_free_pages(pages, i + 1);
			return -EINTR;
		}
		cond_resched();
	}
	sp->pages = pages;
	sp->nr = nr;
	return 0;
}

/* Frees pages that no slot took (none, after mpklink_slot_fill()). */
void mpklink_slot_pages_free(struct mpklink_slot_pages *sp)
{
	if (sp->pages)
		mpklink_free_pages(sp->pages, sp->nr);
	sp->pages = NULL;
	sp->nr = 0;
}

/* Gives @slot to @member, with the pages in @sp, which it takes. */
void mpklink_slot_fill(struct mpklink_channel *ch, u32 slot,
		       struct mpklink_member *member,
		       struct mpklink_slot_pages *sp)
{
	struct mpklink_slot *s = &ch->slots[slot];

	lockdep_assert_held(&ch->lock);
	down_write(&ch->slots_rwsem);
	s->member = member;
	s->pages = sp->pages;
	s->nr_pages = sp->nr;
	up_write(&ch->slots_rwsem);
	atomic_long_add(sp->nr, &mpklink_stats.pages);
	sp->pages = NULL;
	sp->nr = 0;

	/* While the slot was free, mappings may have read zero pages there. */
	mpklink_zap_range(ch, mpklink_slot_offset(ch, slot), ch->slot_size);
}

/*
 * Takes @slot back: no mapping reaches its pages afterwards.  They go to
 * @sp, for the caller to free once it dropped the channel's lock.
 */
void mpklink_slot_empty(struct mpklink_channel *ch, u32 slot,
			struct mpklink_slot_pages *sp)
{
	struct mpklink_slot *s = &ch->slots[slot];

	lockdep_assert_held(&ch->lock);
	down_write(&ch->slots_rwsem);
	sp->pages = s->pages;
	sp->nr = s->nr_pages;
	s->member = NULL;
	s->pages = NULL;
	s->nr_pages = 0;
	up_write(&ch->slots_rwsem);

	/*
	 * Faults that ran before the write lock may have mapped these pages;
	 * faults after it see the slot free.  Zap, then free.
	 */
	mpklink_zap_range(ch, mpklink_slot_offset(ch, slot), ch->slot_size);
	atomic_long_sub(sp->nr, &mpklink_stats.pages);
}

/*
 * The page a mapping of @member shows at @pgoff (in pages from the start
 * of the channel), called under slots_rwsem.  NULL means "nothing here for
 * this member" (a SIGBUS); free slots and absent segments are zero pages.
 */
struct page *mpklink_channel_page(struct mpklink_channel *ch,
				  const struct mpklink_member *member,
				  pgoff_t pgoff)
{
	const pgoff_t slot_pages = ch->slot_size >> PAGE_SHIFT;
	const struct mpklink_slot *s;
	pgoff_t slot, index;

	lockdep_assert_held(&ch->slots_rwsem);
	if (pgoff == 0)
		return ch->dir_page;
	slot = (pgoff - 1) / slot_pages;
	index = (pgoff - 1) % slot_pages;
	if (slot >= ch->max_members)
		return NULL;
	/* Other members' segments need the read right; control pages not. */
	if (index > 0 && slot != member->slot &&
	    !(member->rights & MPKLINK_RIGHT_READ))
		return NULL;
	s = &ch->slots[slot];
	if (!s->pages || index >= s->nr_pages)
		return ZERO_PAGE(0);
	return s->pages[index];
}

/* /sys/kernel/debug/mpklink/channels */
void mpklink_channels_show(struct seq_file *m)
{
	struct mpklink_grant_entry *g;
	struct mpklink_member *member;
	struct mpklink_channel *ch;

	mutex_lock(&mpklink_registry_lock);
	list_for_each_entry(ch, &mpklink_registry, node) {
		mutex_lock(&ch->lock);
		seq_printf(m, "channel %s segment_size %llu max_members %u flags %s members %u grants %u attaches %lld denials %lld revocations %lld notifications %lld\n",
			   ch->name, ch->segment_size, ch->max_members,
			   ch->flags & MPKLINK_CREATE_SIGNED ? "signed" : "-",
			   ch->nr_members, ch->nr_grants,
			   (long long)atomic64_read(&ch->attaches),
			   (long long)atomic64_read(&ch->denials),
			   (long long)atomic64_read(&ch->revocations),
			   (long long)atomic64_read(&ch->notifications));
		list_for_each_entry(g, &ch->grants, node)
			mpklink_grant_show(m, g);
		list_for_each_entry(member, &ch->members, node)
			mpklink_member_show(m, member);
		mutex_unlock(&ch->lock);
	}
	mutex_unlock(&mpklink_registry_lock);
}
