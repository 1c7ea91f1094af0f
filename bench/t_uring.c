// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring over a Unix stream socket (liburing): every read and write is
 * an SQE, completed through the CQ.  Spin mode polls the CQ without
 * entering the kernel to wait; blocking mode waits in io_uring_enter.
 * Framing as the other stream transports: an 8-byte length, the bytes.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"

struct shared {
	int sv[2];
};

struct endpoint {
	struct io_uring ring;
	int fd;
	bool spin;
	uint8_t *buf;
};

static int uring_prepare(struct bench_cfg *cfg, void **out)
{
	struct shared *s = malloc(sizeof(*s));

	(void)cfg;
	if (!s)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->sv)) {
		free(s);
		return -errno;
	}
	*out = s;
	return 0;
}

static int uring_open(void *shared, bool server, const struct bench_cfg *cfg,
		      struct endpoint **out)
{
	struct shared *s = shared;
	struct endpoint *ep = calloc(1, sizeof(*ep));
	int err;

	if (!ep)
		return -ENOMEM;
	ep->buf = malloc(PIECE_MAX);
	err = ep->buf ? io_uring_queue_init(8, &ep->ring, 0) : -ENOMEM;
	if (err) {
		free(ep->buf);
		free(ep);
		return err;
	}
	ep->fd = s->sv[server];
	close(s->sv[!server]);
	ep->spin = cfg->mode == WAIT_SPIN;
	*out = ep;
	return 0;
}

/* Submits the prepared SQE and returns its result. */
static int complete(struct endpoint *ep)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_submit(&ep->ring);
	if (ret < 0)
		return ret;
	if (ep->spin) {
		while ((ret = io_uring_peek_cqe(&ep->ring, &cqe)) == -EAGAIN)
			__builtin_ia32_pause();
	} else {
		do {
			ret = io_uring_wait_cqe(&ep->ring, &cqe);
		} while (ret == -EINTR);
	}
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&ep->ring, cqe);
	return ret;
}

static int uring_send(struct endpoint *ep, const void *buf, size_t len)
{
	uint64_t total = len;
	struct iovec iov[2] = { { &total, sizeof(total) }, { (void *)buf, len } };
	struct iovec *v = iov;
	int cnt = 2;

	while (cnt) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ep->ring);
		int n;

		io_uring_prep_writev(sqe, ep->fd, v, (unsigned int)cnt, 0);
		n = complete(ep);
		if (n < 0)
			return n;
		iov_advance(&v, &cnt, (size_t)n);
	}
	return 0;
}

static int recv_some(struct endpoint *ep, void *buf, size_t len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ep->ring);
	int n;

	io_uring_prep_recv(sqe, ep->fd, buf, len, 0);
	n = complete(ep);
	return n == 0 ? -EPIPE : n;
}

static ssize_t uring_recv(struct endpoint *ep, consume_fn consume, void *arg)
{
	uint64_t total, done = 0;
	size_t have = 0;
	int n, stop = 0;

	while (have < sizeof(total)) {
		n = recv_some(ep, (uint8_t *)&total + have, sizeof(total) - have);
		if (n < 0)
			return n;
		have += (size_t)n;
	}
	while (done < total) {
		size_t want = total - done < PIECE_MAX ? total - done : PIECE_MAX;

		n = recv_some(ep, ep->buf, want);
		if (n < 0)
			return n;
		if (!stop)
			stop = consume(arg, ep->buf, (size_t)n);
		done += (uint64_t)n;
	}
	return stop ? -ECANCELED : (ssize_t)total;
}

static void uring_close(struct endpoint *ep)
{
	io_uring_queue_exit(&ep->ring);
	close(ep->fd);
	free(ep->buf);
	free(ep);
}

static void uring_cleanup(struct bench_cfg *cfg, void *shared)
{
	(void)cfg;
	free(shared);
}

const struct transport transport_uring = {
	.name = "io_uring",
	.description = "io_uring over a Unix stream socket",
	.prepare = uring_prepare, .open = uring_open, .send = uring_send,
	.recv = uring_recv, .close = uring_close, .cleanup = uring_cleanup,
};
