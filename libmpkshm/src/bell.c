// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Doorbells of the memfd and thread backends: an eventfd per endpoint,
 * polled through its read end (mpkshm_fd()) and rung through a second
 * descriptor of it, which is what the endpoint hands to the members that
 * ring it.  Two descriptors keep the ownership simple: each side closes
 * its own.
 *
 * (A pipe, whose wake-up carries the scheduler's "sync" hint, was tried
 * and measured no better for blocking round trips: what decides them
 * between two vCPUs is whether both processes end up on one.)
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

int mpkshm_bell_open(int *rd, int *wr)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		return -errno;
	*wr = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (*wr < 0) {
		close(fd);
		return -errno;
	}
	*rd = fd;
	return 0;
}

void mpkshm_bell_ring(int wr)
{
	eventfd_write(wr, 1);	/* fails only when the count would overflow */
}

void mpkshm_bell_drain(int rd)
{
	eventfd_t value;

	eventfd_read(rd, &value);
}
