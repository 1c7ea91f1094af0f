// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Doorbells of the memfd and thread backends: an eventfd per endpoint,
 * polled through its read end (mpkshm_fd()) and rung through a second
 * descriptor of it, which is what the endpoint hands to the members that
 * ring it.  Two descriptors keep the ownership simple: each side closes
 * its own.
 *
 * The library's own sleepers wait on an epoll set of their own in which
 * the doorbell is edge-triggered: each ring wakes it, and nothing need be
 * read, so sleeping for a message costs one system call (epoll_wait) where
 * poll() and read() cost two.  The eventfd's count then only grows; it is
 * read only when the application takes over the fd's readiness
 * (mpkshm_wait_prepare()), which needs it level.
 *
 * (A pipe, whose wake-up carries the scheduler's "sync" hint, was tried
 * and measured no better for blocking round trips: what decides them
 * between two vCPUs is whether both processes end up on one.)
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
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

/*
 * An epoll set with the doorbell @rd, edge-triggered, and @other (-1: none;
 * the memfd broker's socket), level-triggered.  Returns it, or -errno.
 */
int mpkshm_bell_sleeper(int rd, int other)
{
	struct epoll_event bell = { .events = EPOLLIN | EPOLLET, .data.u32 = 0 };
	struct epoll_event sock = { .events = EPOLLIN, .data.u32 = 1 };
	int ep = epoll_create1(EPOLL_CLOEXEC), err;

	if (ep < 0)
		return -errno;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, rd, &bell) ||
	    (other >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, other, &sock))) {
		err = -errno;
		close(ep);
		return err;
	}
	return ep;
}

/*
 * Sleeps until a ring, @other readable (*@other_ready) or hung up
 * (*@other_gone: it is taken out of the set), or @deadline.  1: woke for
 * something, 0: timed out or interrupted.
 */
int mpkshm_bell_sleep(int sleeper, uint64_t deadline, bool *other_ready,
		      bool *other_gone)
{
	struct epoll_event ev[2];
	int i, n;

	n = epoll_wait(sleeper, ev, 2, mpkshm_ms_until(deadline));
	for (i = 0; i < n; i++) {
		if (ev[i].data.u32 != 1)
			continue;
		if (ev[i].events & EPOLLIN)
			*other_ready = true;
		else
			*other_gone = true;
	}
	return n > 0;
}
