// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Messages of the memfd backend's socket protocol (memfd_wire.h), shared by
 * the library and the broker program.  The peer on the other side is not
 * trusted: a message of the wrong size or version is refused, and every
 * descriptor it carried, however many, is closed rather than leaked.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "memfd_wire.h"

/* Room for more descriptors than a message may carry: the extra are closed. */
#define FDS_ROOM 8

void mpkshm_wire_address(struct sockaddr_un *addr, socklen_t *len, uid_t uid)
{
	int n;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	n = snprintf(addr->sun_path + 1, sizeof(addr->sun_path) - 1,
		     "mpkshm/%u", (unsigned int)uid);
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

int mpkshm_wire_send(int sock, const struct mpkshm_wire *w, const int *fds,
		     int nfds)
{
	char control[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	struct iovec iov = { (void *)w, sizeof(*w) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (nfds < 0 || nfds > 2)
		return -EINVAL;
	if (nfds) {
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n == sizeof(*w) ? 0 : -EPIPE;
}

void mpkshm_wire_close_fds(int fds[2])
{
	int i;

	for (i = 0; i < 2; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int mpkshm_wire_recv(int sock, struct mpkshm_wire *w, int fds[2])
{
	char control[CMSG_SPACE(FDS_ROOM * sizeof(int))];
	struct iovec iov = { w, sizeof(*w) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cm;
	int got = 0, i;
	ssize_t n;

	fds[0] = fds[1] = -1;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int nfds, *p;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(cm);
		for (i = 0; i < nfds; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof(fd));
			if (got < 2)
				fds[got++] = fd;
			else
				close(fd);	/* more than a message carries */
		}
	}
	if (n == 0) {
		mpkshm_wire_close_fds(fds);
		return -ECONNRESET;
	}
	if (n != sizeof(*w) || mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) ||
	    w->version != MPKSHM_WIRE_VERSION) {
		mpkshm_wire_close_fds(fds);
		return -EPROTO;
	}
	return 0;
}
