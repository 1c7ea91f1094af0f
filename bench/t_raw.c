// SPDX-License-Identifier: GPL-2.0
/*
 * The speed limit: a single-producer single-consumer ring per direction in
 * plain shared memory, spin polling, no protection of any kind (any
 * process that maps it can read or corrupt it).  Records are framed as the
 * libmpkshm transport frames them, so the two differ only in what the
 * library adds: protection keys, attestation, multiple members, waiting.
 * Each end keeps the indices it writes in its own memory and the other
 * end's last seen, as a tuned SPSC ring does (and libmpkshm's writer does
 * with its head): loading back a line the other core has just read or
 * written is a cache miss per message.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

/* As libmpkshm's in t_mpkshm.c: 512 KiB, records of an eighth. */
#define RING_BYTES (512u << 10)
#define CHUNK (RING_BYTES / 8)
#define ALIGN 64u

struct ring {
	_Alignas(64) _Atomic uint64_t head;	/* written by the producer */
	_Alignas(64) _Atomic uint64_t tail;	/* written by the consumer */
	_Alignas(64) uint8_t data[RING_BYTES];
};

struct record {
	uint32_t len;
	uint32_t pad;		/* 1: skip to the ring's start */
};

struct shared {
	struct ring rings[2];	/* client to server, server to client */
};

struct endpoint {
	struct ring *out, *in;
	uint64_t out_head;	/* out->head, as we published it */
	uint64_t out_tail;	/* out->tail, as we last loaded it */
	uint64_t in_tail;	/* in->tail, as we published it */
};

static uint64_t align(uint64_t n)
{
	return (n + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
}

static int raw_prepare(struct bench_cfg *cfg, void **shared)
{
	void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	(void)cfg;
	if (p == MAP_FAILED)
		return -errno;
	*shared = p;
	return 0;
}

static int raw_open(void *shared, bool server, const struct bench_cfg *cfg,
		    struct endpoint **out)
{
	struct shared *s = shared;
	struct endpoint *ep = malloc(sizeof(*ep));

	(void)cfg;
	if (!ep)
		return -ENOMEM;
	ep->out = &s->rings[server];
	ep->in = &s->rings[!server];
	ep->out_head = atomic_load(&ep->out->head);
	ep->out_tail = atomic_load(&ep->out->tail);
	ep->in_tail = atomic_load(&ep->in->tail);
	*out = ep;
	return 0;
}

static void raw_close(struct endpoint *ep)
{
	free(ep);
}

static int raw_open_pair(void *shared, const struct bench_cfg *cfg,
			 struct endpoint **server, struct endpoint **client)
{
	int err = raw_open(shared, true, cfg, server);

	if (!err) {
		err = raw_open(shared, false, cfg, client);
		if (err)
			raw_close(*server);
	}
	return err;
}

/* Waits until @need bytes from @head are free, loading the tail only then. */
static void wait_free(struct endpoint *ep, uint64_t head, uint64_t need)
{
	while (head + need - ep->out_tail > RING_BYTES) {
		ep->out_tail = atomic_load_explicit(&ep->out->tail,
						    memory_order_acquire);
		if (head + need - ep->out_tail > RING_BYTES)
			__builtin_ia32_pause();
	}
}

/* Room for a record of @need bytes at the head: the position it starts at. */
static uint64_t make_room(struct endpoint *ep, uint64_t need)
{
	struct ring *r = ep->out;
	uint64_t head = ep->out_head;
	uint64_t off = head % RING_BYTES;

	if (off + need > RING_BYTES) {
		/* Pad to the start. */
		wait_free(ep, head, RING_BYTES - off);
		((struct record *)(r->data + off))->pad = 1;
		head += RING_BYTES - off;
		ep->out_head = head;
		atomic_store_explicit(&r->head, head, memory_order_release);
	}
	wait_free(ep, head, need);
	return head;
}

static int raw_send(struct endpoint *ep, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0, hdr = sizeof(uint64_t);

	do {
		size_t n = len - done;
		struct record *rec;
		uint64_t pos;
		uint8_t *dst;

		if (n > CHUNK - sizeof(*rec) - hdr)
			n = CHUNK - sizeof(*rec) - hdr;
		pos = make_room(ep, align(sizeof(*rec) + hdr + n));
		rec = (struct record *)(ep->out->data + pos % RING_BYTES);
		rec->len = (uint32_t)(hdr + n);
		rec->pad = 0;
		dst = (uint8_t *)(rec + 1);
		if (hdr) {
			uint64_t total = len;

			memcpy(dst, &total, sizeof(total));
			dst += hdr;
		}
		memcpy(dst, p + done, n);
		ep->out_head = pos + align(sizeof(*rec) + hdr + n);
		atomic_store_explicit(&ep->out->head, ep->out_head,
				      memory_order_release);
		done += n;
		hdr = 0;
	} while (done < len);
	return 0;
}

static ssize_t raw_recv(struct endpoint *ep, consume_fn consume, void *arg)
{
	struct ring *r = ep->in;
	uint64_t total = 0, done = 0;
	bool first = true;
	int stop = 0;

	do {
		uint64_t tail = ep->in_tail;
		const struct record *rec;
		const uint8_t *data;
		size_t len;

		/* The next record, skipping a pad to the ring's start. */
		for (;;) {
			while (atomic_load_explicit(&r->head, memory_order_acquire) ==
			       tail)
				__builtin_ia32_pause();
			rec = (const struct record *)(r->data + tail % RING_BYTES);
			if (!rec->pad)
				break;
			tail += RING_BYTES - tail % RING_BYTES;
			ep->in_tail = tail;
			atomic_store_explicit(&r->tail, tail, memory_order_release);
		}
		data = (const uint8_t *)(rec + 1);
		len = rec->len;
		if (first) {
			memcpy(&total, data, sizeof(total));
			data += sizeof(total);
			len -= sizeof(total);
			first = false;
		}
		if (!stop && len)
			stop = consume(arg, data, len);
		done += len;
		ep->in_tail = tail + align(sizeof(*rec) + rec->len);
		atomic_store_explicit(&r->tail, ep->in_tail, memory_order_release);
	} while (done < total);
	return stop ? -ECANCELED : (ssize_t)total;
}


static void raw_cleanup(struct bench_cfg *cfg, void *shared)
{
	(void)cfg;
	munmap(shared, sizeof(struct shared));
}

const struct transport transport_raw_ring = {
	.name = "raw-ring",
	.description = "shared-memory ring, spin polling, no protection",
	.flags = T_SPIN_ONLY,
	.prepare = raw_prepare, .open = raw_open, .send = raw_send,
	.recv = raw_recv, .open_pair = raw_open_pair, .close = raw_close,
	.cleanup = raw_cleanup,
};
