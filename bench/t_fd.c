// SPDX-License-Identifier: GPL-2.0
/*
 * The IPC a user picks instead: pipes, FIFOs, Unix stream and seqpacket
 * sockets, TCP over loopback.  Default buffer sizes, as users get them.
 *
 * Messages are an 8-byte length and the bytes (seqpacket: packets of at
 * most SEQPACKET_MAX, the first starting with the length).  Blocking mode
 * is plain blocking I/O; spin mode makes the descriptors non-blocking and
 * retries at once on EAGAIN, which is how one busy-polls a socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"

#define SEQPACKET_MAX (64 * 1024)

enum kind { PIPE, FIFO, UNIX_STREAM, UNIX_SEQPACKET, TCP };

struct shared {
	enum kind kind;
	int c2s[2], s2c[2];	/* pipes; socketpair in c2s */
	int listener;		/* TCP */
	struct sockaddr_in addr;
	char fifo[2][300];
};

struct endpoint {
	int rfd, wfd;
	bool spin, packets;
	uint8_t *buf;		/* PIECE_MAX */
};

static int prepare(struct bench_cfg *cfg, void **out, enum kind kind)
{
	struct shared *s = calloc(1, sizeof(*s));
	socklen_t len = sizeof(s->addr);
	int i, err = 0, one = 1;

	if (!s)
		return -ENOMEM;
	s->kind = kind;
	s->listener = -1;
	switch (kind) {
	case PIPE:
		if (pipe(s->c2s) || pipe(s->s2c))
			err = -errno;
		break;
	case FIFO:
		for (i = 0; i < 2 && !err; i++) {
			snprintf(s->fifo[i], sizeof(s->fifo[i]), "%s/fifo%d",
				 cfg->dir, i);
			if (mkfifo(s->fifo[i], 0600))
				err = -errno;
		}
		break;
	case UNIX_STREAM:
	case UNIX_SEQPACKET:
		if (socketpair(AF_UNIX, kind == UNIX_STREAM ? SOCK_STREAM :
			       SOCK_SEQPACKET, 0, s->c2s))
			err = -errno;
		break;
	case TCP:
		s->addr.sin_family = AF_INET;
		s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s->listener < 0 ||
		    setsockopt(s->listener, SOL_SOCKET, SO_REUSEADDR, &one,
			       sizeof(one)) ||
		    bind(s->listener, (struct sockaddr *)&s->addr,
			 sizeof(s->addr)) ||
		    listen(s->listener, 1) ||
		    getsockname(s->listener, (struct sockaddr *)&s->addr, &len))
			err = -errno;
		break;
	}
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	return 0;
}

static int fd_open(void *shared, bool server, const struct bench_cfg *cfg,
		   struct endpoint **out)
{
	struct shared *s = shared;
	struct endpoint *ep = calloc(1, sizeof(*ep));
	int one = 1, err = 0;

	if (!ep)
		return -ENOMEM;
	ep->buf = malloc(PIECE_MAX);
	if (!ep->buf) {
		free(ep);
		return -ENOMEM;
	}
	ep->spin = cfg->mode == WAIT_SPIN;
	ep->packets = s->kind == UNIX_SEQPACKET;
	switch (s->kind) {
	case PIPE:
		ep->rfd = server ? s->c2s[0] : s->s2c[0];
		ep->wfd = server ? s->s2c[1] : s->c2s[1];
		close(server ? s->c2s[1] : s->s2c[1]);
		close(server ? s->s2c[0] : s->c2s[0]);
		break;
	case FIFO:
		/* Opening a FIFO waits for the other end: same order both. */
		if (server) {
			ep->rfd = open(s->fifo[0], O_RDONLY | O_CLOEXEC);
			ep->wfd = open(s->fifo[1], O_WRONLY | O_CLOEXEC);
		} else {
			ep->wfd = open(s->fifo[0], O_WRONLY | O_CLOEXEC);
			ep->rfd = open(s->fifo[1], O_RDONLY | O_CLOEXEC);
		}
		if (ep->rfd < 0 || ep->wfd < 0)
			err = -errno;
		break;
	case UNIX_STREAM:
	case UNIX_SEQPACKET:
		ep->rfd = ep->wfd = s->c2s[server];
		close(s->c2s[!server]);
		break;
	case TCP:
		if (server) {
			ep->rfd = accept4(s->listener, NULL, NULL, SOCK_CLOEXEC);
		} else {
			ep->rfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (ep->rfd >= 0 &&
			    connect(ep->rfd, (struct sockaddr *)&s->addr,
				    sizeof(s->addr))) {
				close(ep->rfd);
				ep->rfd = -1;
			}
		}
		ep->wfd = ep->rfd;
		if (ep->rfd < 0 ||
		    setsockopt(ep->rfd, IPPROTO_TCP, TCP_NODELAY, &one,
			       sizeof(one)))
			err = -errno;
		break;
	}
	if (!err && ep->spin &&
	    (fcntl(ep->rfd, F_SETFL, O_NONBLOCK) ||
	     fcntl(ep->wfd, F_SETFL, O_NONBLOCK)))
		err = -errno;
	if (err) {
		free(ep->buf);
		free(ep);
		return err;
	}
	*out = ep;
	return 0;
}

/* Writes all of @iov; in spin mode, retries at once when full. */
static int write_iov(struct endpoint *ep, struct iovec *iov, int cnt)
{
	while (cnt) {
		ssize_t n = writev(ep->wfd, iov, cnt);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		iov_advance(&iov, &cnt, (size_t)n);
	}
	return 0;
}

/* Reads at least one byte, at most @len; spin mode retries at once. */
static ssize_t read_some(struct endpoint *ep, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(ep->rfd, buf, len);

		if (n > 0)
			return n;
		if (n == 0)
			return -EPIPE;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

static int fd_send(struct endpoint *ep, const void *buf, size_t len)
{
	uint64_t total = len;
	size_t done = 0;
	int err;

	if (!ep->packets) {
		struct iovec iov[2] = {
			{ &total, sizeof(total) }, { (void *)buf, len },
		};

		return write_iov(ep, iov, 2);
	}
	do {
		size_t room = SEQPACKET_MAX - (done ? 0 : sizeof(total));
		size_t n = len - done < room ? len - done : room;
		struct iovec iov[2] = {
			{ &total, done ? 0 : sizeof(total) },
			{ (char *)buf + done, n },
		};

		/* A packet goes whole or not at all: no partial writes. */
		err = write_iov(ep, iov, 2);
		if (err)
			return err;
		done += n;
	} while (done < len);
	return 0;
}

static ssize_t fd_recv(struct endpoint *ep, consume_fn consume, void *arg)
{
	uint64_t total, done = 0;
	size_t have = 0;
	ssize_t n;
	int stop = 0;

	/* The length first (a packet: the length and the first bytes). */
	while (have < sizeof(total)) {
		n = read_some(ep, ep->buf + have,
			      ep->packets ? SEQPACKET_MAX : sizeof(total) - have);
		if (n < 0)
			return n;
		have += (size_t)n;
	}
	memcpy(&total, ep->buf, sizeof(total));
	have -= sizeof(total);
	if (have) {
		stop = consume(arg, ep->buf + sizeof(total), have);
		done = have;
	}
	while (done < total) {
		size_t want = total - done;

		if (want > PIECE_MAX)
			want = PIECE_MAX;
		if (ep->packets)
			want = SEQPACKET_MAX;
		n = read_some(ep, ep->buf, want);
		if (n < 0)
			return n;
		if (!stop)
			stop = consume(arg, ep->buf, (size_t)n);
		done += (uint64_t)n;
	}
	return stop ? -ECANCELED : (ssize_t)total;
}

static void fd_close(struct endpoint *ep)
{
	close(ep->rfd);
	if (ep->wfd != ep->rfd)
		close(ep->wfd);
	free(ep->buf);
	free(ep);
}

static void fd_cleanup(struct bench_cfg *cfg, void *shared)
{
	struct shared *s = shared;

	(void)cfg;
	if (s->kind == FIFO) {
		unlink(s->fifo[0]);
		unlink(s->fifo[1]);
	}
	if (s->listener >= 0)
		close(s->listener);
	free(s);
}

#define FD_TRANSPORT(var, tname, desc, kind)				\
	static int prepare_##kind(struct bench_cfg *cfg, void **shared)	\
	{								\
		return prepare(cfg, shared, kind);			\
	}								\
	const struct transport var = {					\
		.name = tname, .description = desc,			\
		.prepare = prepare_##kind, .open = fd_open,		\
		.send = fd_send, .recv = fd_recv, .close = fd_close,	\
		.cleanup = fd_cleanup,					\
	}

FD_TRANSPORT(transport_pipe, "pipe", "two pipes", PIPE);
FD_TRANSPORT(transport_fifo, "fifo", "two named pipes", FIFO);
FD_TRANSPORT(transport_unix_stream, "unix-stream", "Unix stream socket",
	     UNIX_STREAM);
FD_TRANSPORT(transport_unix_seqpacket, "unix-seqpacket",
	     "Unix seqpacket socket", UNIX_SEQPACKET);
FD_TRANSPORT(transport_tcp, "tcp", "TCP over loopback, TCP_NODELAY", TCP);
