// SPDX-License-Identifier: GPL-2.0
/*
 * Mappings of a channel: what mmap() of a channel fd allows, and how pages
 * reach those mappings.
 *
 * Every mapping is tagged at creation with the member's protection key and
 * is set up so that the process cannot widen what it got:
 *
 *   MAP_SHARED only; never executable (VM_MAYEXEC cleared)
 *   writable only over the member's own slot; elsewhere VM_MAYWRITE is
 *     cleared, so mprotect(PROT_WRITE) fails with EACCES
 *   VM_IO | VM_PFNMAP   get_user_pages() refuses it: no /proc/PID/mem,
 *                       process_vm_readv/writev or ptrace peeks
 *   VM_DONTCOPY         not inherited across fork()
 *   VM_DONTDUMP         not written to core dumps
 *   VM_DONTEXPAND       mremap() cannot grow it
 *   ->mprotect          pkey_mprotect() cannot change its key
 *
 * Pages are inserted one fault at a time from the channel's slots.  Each
 * member's mappings live in that member's own address_space (its inode),
 * so they can be zapped per member or per slot.
 *
 * They go in as raw pfns (VM_PFNMAP, special entries without a page
 * reference), not with vmf_insert_page() under VM_MIXEDMAP: an entry that
 * holds a reference is a normal one, and get_user_pages_fast() walks page
 * tables without looking at the VMA's VM_IO, so vmsplice() could pin a
 * mapped channel page into a pipe and read it after revocation (the attack
 * suite's vmsplice case shows it).  The price is that slots must zap every
 * mapping of a page before freeing it, under slots_rwsem (channel.c).
 */

#include <linux/mm.h>
#include <linux/pkeys.h>

#include "compat.h"
#include "mpklink.h"

static vm_fault_t mpklink_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mpklink_member *member = vma->vm_private_data;
	struct mpklink_channel *ch = member->channel;
	struct page *page;
	vm_fault_t ret;

	down_read(&ch->slots_rwsem);
	/* A revoked member is never served a page again. */
	page = member->revoked ? NULL :
	       mpklink_channel_page(ch, member, vmf->pgoff);
	/* Writable mappings cover the member's own, allocated, pages only. */
	if (!page || (page == ZERO_PAGE(0) && vma->vm_flags & VM_WRITE))
		ret = VM_FAULT_SIGBUS;
	else
		ret = vmf_insert_pfn(vma, vmf->address, page_to_pfn(page));
	up_read(&ch->slots_rwsem);
	return ret;
}

/* The key is the channel's: pkey_mprotect() may not change it. */
static int mpklink_vm_mprotect(struct vm_area_struct *vma, unsigned long start,
			       unsigned long end, unsigned long newflags)
{
	if ((newflags ^ vma->vm_flags) & ARCH_VM_PKEY_FLAGS)
		return -EPERM;
	return 0;
}

static const struct vm_operations_struct mpklink_vm_ops = {
	.fault = mpklink_vm_fault,
	.mprotect = mpklink_vm_mprotect,
};

static vm_flags_t mpklink_pkey_vm_flags(int pkey)
{
	if (pkey < 0)
		return 0;
	return ((vm_flags_t)pkey << VM_PKEY_SHIFT) & ARCH_VM_PKEY_FLAGS;
}

int mpklink_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct mpklink_member *member = file->private_data;
	struct mpklink_channel *ch = member->channel;
	u64 len = vma->vm_end - vma->vm_start;
	u64 start, own, own_len;
	vm_flags_t clear;
	bool own_only;

	/* The fd carries the rights of the process that attached. */
	if (vma->vm_mm != mpklink_mm_struct(member->mmk))
		return -EACCES;
	if (READ_ONCE(member->revoked))
		return -EKEYREVOKED;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (vma->vm_pgoff >= ch->map_size >> PAGE_SHIFT)
		return -EINVAL;
	start = (u64)vma->vm_pgoff << PAGE_SHIFT;
	if (len > ch->map_size - start)
		return -EINVAL;

	own = MPKLINK_DIR_SIZE + (u64)member->slot * ch->slot_size;
	own_len = MPKLINK_CTRL_SIZE;
	if (member->rights & MPKLINK_RIGHT_WRITE)
		own_len += ch->segment_size;
	own_only = start >= own && start + len <= own + own_len;
	if (vma->vm_flags & VM_WRITE && !own_only)
		return -EACCES;

	clear = VM_MAYEXEC;
	if (!own_only)
		clear |= VM_MAYWRITE;
	/* Clearing wins over setting: drop the old key first. */
	mpklink_vm_flags_mod(vma, 0, ARCH_VM_PKEY_FLAGS);
	mpklink_vm_flags_mod(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND |
			     VM_DONTDUMP | VM_DONTCOPY |
			     mpklink_pkey_vm_flags(member->pkey), clear);
	vma->vm_ops = &mpklink_vm_ops;
	vma->vm_private_data = member;
	return 0;
}

/* Removes every member's page table entries for a range of the channel. */
void mpklink_zap_range(struct mpklink_channel *ch, u64 offset, u64 len)
{
	struct mpklink_member *member;

	lockdep_assert_held(&ch->lock);
	list_for_each_entry(member, &ch->members, node)
		unmap_mapping_range(member->inode->i_mapping, offset, len, 1);
}
