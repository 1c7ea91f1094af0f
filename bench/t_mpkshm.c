// SPDX-License-Identifier: GPL-2.0
/*
 * libmpkshm transports, used the way a service would use them for bulk
 * data: zero copy both ways.  A message goes out as records of at most
 * CHUNK bytes, each filled in place (mpkshm_reserve, memcpy from the
 * caller's buffer, mpkshm_commit), the first prefixed with the message's
 * length; the receiver peeks each record and hands the consumer the
 * sender's memory itself.  Records of an eighth of the ring let the
 * sender fill one while the receiver reads another.
 *
 * The ring is small on purpose: what the sender wrote is still in a cache
 * near the reader when the reader gets to it.  With 4 MiB rings (larger
 * than a core's L2) the sender ran up to 4 MiB ahead and the reader
 * fetched the text from L3: a word count of 10^7 words took 64 ms, with
 * 512 KiB rings 47 ms, for the raw ring as for libmpkshm (Documentation/
 * benchmark.md, "Ring size").
 *
 * The kernel channels are created here, as the administrator would (the
 * benchmark runs as root in the guest); the signed variant also issues a
 * key pair and enrolls its public half.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mpklink.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <mpkshm.h>

#include "bench.h"

#define SEGMENT (512u << 10)
#define CHUNK (SEGMENT / 8)

/* Batches: up to BATCH messages of up to BATCH_MSG bytes each, copied. */
#define BATCH 32
#define BATCH_MSG 4096

struct endpoint {
	struct mpkshm_channel *ch;
	uint64_t peer;
	size_t chunk;
	uint8_t (*batch)[BATCH_MSG];	/* framed messages of a batch */
	struct mpkshm_recv_buf rbufs[BATCH];	/* into batch[], set up once */
};

struct shared {
	enum mpkshm_backend backend;
	bool is_signed;
	char key_path[300];
};

static int kernel_channel(const char *name, bool is_signed,
			  const uint8_t *pubkey)
{
	struct mpklink_create c = {
		.size = sizeof(c), .segment_size = SEGMENT, .max_members = 4,
		.flags = is_signed ? MPKLINK_CREATE_SIGNED : 0,
	};
	struct mpklink_grant g = {
		.size = sizeof(g), .rights = MPKLINK_RIGHTS_ALL,
		.principal = { .match = MPKLINK_MATCH_UID, .uid = geteuid() },
	};
	int dev = open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC), err = 0;

	if (dev < 0)
		return -errno;
	strcpy(c.name, name);
	strcpy(g.name, name);
	if (pubkey) {
		g.flags = MPKLINK_GRANT_PUBKEY;
		memcpy(g.pubkey, pubkey, sizeof(g.pubkey));
	}
	if (ioctl(dev, MPKLINK_IOC_CREATE, &c) ||
	    ioctl(dev, MPKLINK_IOC_GRANT, &g))
		err = -errno;
	close(dev);
	return err;
}

/* A key pair in the run's private directory, as mpklink-grant keygen does. */
static int make_key(struct shared *s, const char *dir, uint8_t *pk)
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	char hex[2 * sizeof(sk) + 1];
	int fd, err = 0;

	if (sodium_init() < 0)
		return -ENOSYS;
	crypto_sign_keypair(pk, sk);
	sodium_bin2hex(hex, sizeof(hex), sk, sizeof(sk));
	sodium_memzero(sk, sizeof(sk));
	snprintf(s->key_path, sizeof(s->key_path), "%s/bench.key", dir);
	fd = open(s->key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_full(fd, hex, strlen(hex)) || write_full(fd, "\n", 1))
		err = -EIO;
	if (fd >= 0)
		close(fd);
	sodium_memzero(hex, sizeof(hex));
	return err;
}

static int prepare(struct bench_cfg *cfg, void **shared,
		   enum mpkshm_backend backend, bool is_signed)
{
	struct shared *s = calloc(1, sizeof(*s));
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	int err = 0;

	if (!s)
		return -ENOMEM;
	s->backend = backend;
	s->is_signed = is_signed;
	snprintf(cfg->channel, sizeof(cfg->channel), "bench.%d", getpid());
	if (is_signed)
		err = make_key(s, cfg->dir, pk);
	if (!err && backend == MPKSHM_BACKEND_KERNEL)
		err = kernel_channel(cfg->channel, is_signed,
				     is_signed ? pk : NULL);
	if (err) {
		free(s);
		return err;
	}
	*shared = s;
	return 0;
}

static int prepare_kernel(struct bench_cfg *cfg, void **shared)
{
	return prepare(cfg, shared, MPKSHM_BACKEND_KERNEL, false);
}

static int prepare_kernel_signed(struct bench_cfg *cfg, void **shared)
{
	return prepare(cfg, shared, MPKSHM_BACKEND_KERNEL, true);
}

static int prepare_memfd(struct bench_cfg *cfg, void **shared)
{
	return prepare(cfg, shared, MPKSHM_BACKEND_MEMFD, false);
}

static int prepare_thread(struct bench_cfg *cfg, void **shared)
{
	return prepare(cfg, shared, MPKSHM_BACKEND_THREAD, false);
}

int mpkshm_bench_open(void *shared, bool server, const struct bench_cfg *cfg,
		      struct mpkshm_channel **ch)
{
	struct shared *s = shared;
	struct mpkshm_options o;
	int err, tries;

	mpkshm_options_init(&o);
	o.backend = s->backend;
	o.segment_size = SEGMENT;
	o.max_members = 4;
	o.secret_key_path = s->is_signed ? s->key_path : NULL;
	o.spin_us = cfg->mode == WAIT_SPIN ? MPKSHM_SPIN_FOREVER :
		    cfg->mode == WAIT_BLOCK ? 0 : 50;
	/* rpcbench's word count sends the whole text as one request. */
	o.max_request_size = (size_t)2 << 30;
	o.max_response_size = (size_t)2 << 30;
	/* The server creates userspace channels; the client joins. */
	if (server)
		o.flags |= MPKSHM_OPEN_CREATE;
	for (tries = 0;; tries++) {
		err = mpkshm_open(cfg->channel, &o, ch);
		if (err != -ENOENT || tries == 500)
			return err;
		usleep(10000);
	}
}

/* The rest of an endpoint, once its channel is open: ch closed on error. */
static int endpoint_ready(struct endpoint *ep)
{
	struct mpkshm_info info = { 0 };
	int err;

	err = mpkshm_find_peer(ep->ch, &ep->peer, 10000);
	if (!err)
		err = mpkshm_info(ep->ch, &info);
	if (!err) {
		ep->chunk = info.max_message < CHUNK ? info.max_message : CHUNK;
		/* Records of a large message are chunk-sized: never a batch's. */
		if (ep->chunk <= BATCH_MSG)
			err = -EINVAL;
	}
	if (!err) {
		ep->batch = malloc(BATCH * sizeof(*ep->batch));
		if (!ep->batch)
			err = -ENOMEM;
	}
	if (err) {
		mpkshm_close(ep->ch);
		return err;
	}
	for (int i = 0; i < BATCH; i++)
		ep->rbufs[i] = (struct mpkshm_recv_buf){ .buf = ep->batch[i],
							 .cap = BATCH_MSG };
	return 0;
}

static int mpk_open(void *shared, bool server, const struct bench_cfg *cfg,
		    struct endpoint **out)
{
	struct endpoint *ep = calloc(1, sizeof(*ep));
	int err;

	if (!ep)
		return -ENOMEM;
	err = mpkshm_bench_open(shared, server, cfg, &ep->ch);
	if (!err)
		err = endpoint_ready(ep);
	if (err) {
		free(ep);
		return err;
	}
	*out = ep;
	return 0;
}

static void mpk_close(struct endpoint *ep)
{
	mpkshm_close(ep->ch);
	free(ep->batch);
	free(ep);
}

/* Both ends here: open both channels before either looks for its peer. */
static int mpk_open_pair(void *shared, const struct bench_cfg *cfg,
			 struct endpoint **server, struct endpoint **client)
{
	struct endpoint *s = calloc(1, sizeof(*s)), *c = calloc(1, sizeof(*c));
	int err = s && c ? 0 : -ENOMEM;

	if (!err)
		err = mpkshm_bench_open(shared, true, cfg, &s->ch);
	if (!err) {
		err = mpkshm_bench_open(shared, false, cfg, &c->ch);
		if (err)
			mpkshm_close(s->ch);
	}
	if (!err) {
		err = endpoint_ready(s);
		if (err)
			mpkshm_close(c->ch);
	}
	if (!err) {
		err = endpoint_ready(c);
		if (err) {
			mpk_close(s);
			s = NULL;
		}
	}
	if (err) {
		free(s);
		free(c);
		return err;
	}
	*server = s;
	*client = c;
	return 0;
}

static int mpk_send(struct endpoint *ep, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0, hdr = sizeof(uint64_t);
	int err;

	do {
		size_t n = len - done;
		uint8_t *dst;
		void *room;

		if (n > ep->chunk - hdr)
			n = ep->chunk - hdr;
		err = mpkshm_reserve(ep->ch, hdr + n, &room, -1);
		if (err)
			return err;
		dst = room;
		if (hdr) {
			uint64_t total = len;

			memcpy(dst, &total, sizeof(total));
			dst += hdr;
		}
		memcpy(dst, p + done, n);
		err = mpkshm_commit(ep->ch, hdr + n, ep->peer);
		if (err)
			return err;
		done += n;
		hdr = 0;
	} while (done < len);
	return 0;
}

static ssize_t mpk_recv(struct endpoint *ep, consume_fn consume, void *arg)
{
	uint64_t total = 0, done = 0;
	struct mpkshm_msg m;
	bool first = true;
	int err, stop = 0;

	do {
		const uint8_t *data;
		size_t len;

		err = mpkshm_peek(ep->ch, &m, -1);
		if (err)
			return err;
		data = m.data;
		len = m.len;
		if (first) {
			if (len < sizeof(total)) {
				mpkshm_release(ep->ch, &m);
				return -EPROTO;
			}
			memcpy(&total, data, sizeof(total));
			data += sizeof(total);
			len -= sizeof(total);
			first = false;
		}
		if (len > total - done)
			len = total - done;
		if (!stop && len)
			stop = consume(arg, data, len);
		done += len;
		err = mpkshm_release(ep->ch, &m);
		if (err)
			return err;
	} while (done < total);
	return stop ? -ECANCELED : (ssize_t)total;
}

/*
 * A batch of small messages in one window each way (mpkshm_send_many(),
 * mpkshm_recv_many()): copied, since each carries its length in front.
 */
static int mpk_send_batch(struct endpoint *ep, const struct iovec *msgs,
			  unsigned int n)
{
	struct iovec framed[BATCH];
	unsigned int i, done = 0;
	int sent;

	if (n > BATCH)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		uint64_t total = msgs[i].iov_len;

		if (total + sizeof(total) > BATCH_MSG ||
		    total + sizeof(total) > ep->chunk) {
			/* Not a small message: one at a time. */
			for (i = 0; i < n; i++) {
				int err = mpk_send(ep, msgs[i].iov_base,
						   msgs[i].iov_len);

				if (err)
					return err;
			}
			return 0;
		}
		memcpy(ep->batch[i], &total, sizeof(total));
		memcpy(ep->batch[i] + sizeof(total), msgs[i].iov_base, total);
		framed[i] = (struct iovec){ ep->batch[i], total + sizeof(total) };
	}
	while (done < n) {
		sent = mpkshm_send_many(ep->ch, ep->peer, framed + done,
					n - done, -1);
		if (sent < 0)
			return sent;
		done += (unsigned int)sent;
	}
	return 0;
}

static ssize_t mpk_recv_batch(struct endpoint *ep, consume_fn consume,
			      int (*done)(void *arg, size_t len), void *arg)
{
	struct mpkshm_recv_buf *r = ep->rbufs;
	ssize_t len;
	int i, n, ret;

	n = mpkshm_recv_many(ep->ch, r, BATCH, -1);
	if (n == -EMSGSIZE) {
		/* A large message: in place, record by record. */
		len = mpk_recv(ep, consume, arg);
		if (len < 0)
			return len;
		ret = done(arg, (size_t)len);
		return ret < 0 ? ret : ret ? 0 : 1;
	}
	for (i = 0; i < n; i++) {
		uint64_t total;

		if (r[i].len < sizeof(total))
			return -EPROTO;
		memcpy(&total, ep->batch[i], sizeof(total));
		if (total != r[i].len - sizeof(total))
			return -EPROTO;	/* a small first record is whole */
		if (consume(arg, ep->batch[i] + sizeof(total), total))
			return -ECANCELED;
		ret = done(arg, total);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	return n;
}


static void cleanup(struct bench_cfg *cfg, void *shared)
{
	struct shared *s = shared;
	struct mpklink_destroy d = { .size = sizeof(d) };
	int dev;

	if (s->backend == MPKSHM_BACKEND_KERNEL) {
		dev = open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		if (dev >= 0) {
			strcpy(d.name, cfg->channel);
			ioctl(dev, MPKLINK_IOC_DESTROY, &d);
			close(dev);
		}
	}
	if (s->is_signed)
		unlink(s->key_path);
	free(s);
}

#define MPKSHM_TRANSPORT(var, tname, desc, prep, tflags)		\
	const struct transport var = {					\
		.name = tname, .description = desc, .flags = tflags,	\
		.prepare = prep, .open = mpk_open, .send = mpk_send,	\
		.recv = mpk_recv, .send_batch = mpk_send_batch,		\
		.recv_batch = mpk_recv_batch, .open_pair = mpk_open_pair,	\
		.close = mpk_close,					\
		.cleanup = cleanup,					\
	}

MPKSHM_TRANSPORT(transport_mpkshm_kernel, "mpkshm-kernel",
		 "libmpkshm, kernel backend, two processes", prepare_kernel,
		 T_MODULE);
MPKSHM_TRANSPORT(transport_mpkshm_kernel_signed, "mpkshm-signed",
		 "libmpkshm, kernel backend, signed channel, two processes",
		 prepare_kernel_signed, T_MODULE);
MPKSHM_TRANSPORT(transport_mpkshm_memfd, "mpkshm-memfd",
		 "libmpkshm, memfd backend, two processes", prepare_memfd, 0);
MPKSHM_TRANSPORT(transport_mpkshm_thread, "mpkshm-thread",
		 "libmpkshm, thread backend: the thread-only model",
		 prepare_thread, T_THREADS);
