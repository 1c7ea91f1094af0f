// SPDX-License-Identifier: GPL-2.0
/*
 * unchroot CMD [ARG...]: runs CMD, in the directory it was started in, in
 * a mount namespace of its own whose root is the chroot this process runs
 * in, no longer a chroot (leave_chroot.h): what container runtimes need in
 * the test guest, whose command runs chrooted and so cannot pivot_root(2).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "leave_chroot.h"

int main(int argc, char **argv)
{
	char cwd[4096];

	if (argc < 2) {
		fprintf(stderr, "usage: unchroot CMD [ARG...]\n");
		return 2;
	}
	if (!getcwd(cwd, sizeof(cwd)) || leave_chroot() || chdir(cwd)) {
		fprintf(stderr, "unchroot: %s\n", strerror(errno));
		return 125;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "unchroot: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
