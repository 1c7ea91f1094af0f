/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel APIs that differ between the kernels mpklink supports
 * (Debian's 6.1 and 6.12).  Each shim is named for what it does and uses
 * the newer API where the target kernel has it; kmod/Kbuild detects that in
 * the kernel's headers (MPKLINK_HAVE_*).
 */
#ifndef MPKLINK_COMPAT_H
#define MPKLINK_COMPAT_H

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>

/* vm_flags became read-only in 6.3: changed through vm_flags_mod(). */
static inline void mpklink_vm_flags_mod(struct vm_area_struct *vma,
					vm_flags_t set, vm_flags_t clear)
{
#ifdef MPKLINK_HAVE_VM_FLAGS_MOD
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

static inline struct timespec64 mpklink_inode_mtime(const struct inode *inode)
{
#ifdef MPKLINK_HAVE_INODE_GET_MTIME
	return inode_get_mtime(inode);
#else
	return inode->i_mtime;
#endif
}

/* A reference on mm->exe_file, or NULL. */
static inline struct file *mpklink_get_exe_file(struct mm_struct *mm)
{
	struct file *exe;

#ifdef MPKLINK_HAVE_GET_FILE_RCU_PTR
	rcu_read_lock();
	exe = get_file_rcu(&mm->exe_file);
	rcu_read_unlock();
#else
	rcu_read_lock();
	exe = rcu_dereference(mm->exe_file);
	if (exe && !get_file_rcu(exe))
		exe = NULL;
	rcu_read_unlock();
#endif
	return exe;
}

#endif /* MPKLINK_COMPAT_H */
