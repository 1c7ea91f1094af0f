/* SPDX-License-Identifier: GPL-2.0 */
/*
 * leave_chroot(): out of the test guest's chroot, for the one process.
 *
 * The guest (tools/vm.d/guest-init) runs its command chrooted into the
 * host's root file system, and the kernel refuses a chrooted process
 * both a user namespace (EPERM) and pivot_root(2), which an attacker on a
 * host, or a container runtime, is not refused.  As root, this leaves the
 * chroot the way switch_root(8) would have put it, in a mount namespace
 * of its own: out to the namespace's root (chroot below the working
 * directory, then up), then the chroot's root moved over it, and chrooted
 * there.  The same files at the same paths; where the process is not
 * chrooted it changes nothing but the mount namespace.  Header-only.
 */
#ifndef MPKLINK_TESTING_LEAVE_CHROOT_H
#define MPKLINK_TESTING_LEAVE_CHROOT_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int leave_chroot(void)
{
	int root, i, err = -1;
	char src[64];

	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -1;
	/* Opened in the new namespace: its copy of the chroot's mount. */
	root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	if (mkdir("/tmp/mpk-leave-chroot", 0700) && errno != EEXIST)
		goto out;
	if (chroot("/tmp/mpk-leave-chroot") || fchdir(root))
		goto out;
	for (i = 0; i < 64; i++)
		if (chdir(".."))
			goto out;
	if (chroot("."))
		goto out;
	/*
	 * The old root's mount, named through the descriptor held on it.  Not
	 * chrooted, it already is the namespace's root: EINVAL, nothing to do.
	 */
	snprintf(src, sizeof(src), "/proc/self/fd/%d", root);
	if (mount(src, "/", NULL, MS_MOVE, NULL) && errno != EINVAL)
		goto out;
	if (fchdir(root) || chroot("."))
		goto out;
	err = 0;
out:
	close(root);
	return err;
}

#endif /* MPKLINK_TESTING_LEAVE_CHROOT_H */
