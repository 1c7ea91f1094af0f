// SPDX-License-Identifier: GPL-2.0
/*
 * The three workloads, written once against struct transport.
 *
 * Every message from the client starts with a struct op; the server's
 * answer depends on it:
 *
 *   ECHO   the whole message comes back: round-trip latency
 *   SINK   consumed (every byte checksummed), no answer: throughput
 *   SYNC   answered with the bytes and checksum of everything sunk
 *   COUNT  the next message is text: answered with its number of words
 *   STOP   the server returns
 *
 * The word-count pair is the paper's: the client sends a file, the server
 * counts its words and replies with the count.  It is counted piece by
 * piece as it arrives, which is what a server reading a socket does, and
 * what lets shared memory count it in place.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

enum { OP_ECHO = 1, OP_SINK, OP_SYNC, OP_COUNT, OP_STOP };

struct op {
	uint32_t op;
	uint32_t pad;
	uint64_t arg;
};

/* --- helpers --------------------------------------------------------------- */

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int read_full(int fd, void *buf, size_t len)
{
	while (len) {
		ssize_t n = read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EPIPE;
		buf = (char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EIO;
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Client on one CPU, server on another, for every transport: two services
 * on two cores, and no scheduler luck in which blocking round trips find
 * both on one CPU (between vCPUs that makes a tenfold difference).
 */
void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

void fill_pattern(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(seed >> 56);
	}
}

/*
 * A checksum of a byte stream, fed in pieces of any size: the sum of its
 * 64-bit words (the last one zero-padded).  Cheap enough (the compiler
 * vectorises it) not to hide the transports' differences.
 */
struct csum {
	uint64_t sum;
	uint8_t carry[8];
	unsigned int carried;
	uint64_t bytes;
};

static void csum_add(struct csum *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t w, sum = 0;
	size_t i, words;

	c->bytes += len;
	while (c->carried && len) {
		c->carry[c->carried++] = *p++;
		len--;
		if (c->carried == 8) {
			memcpy(&w, c->carry, 8);
			c->sum += w;
			c->carried = 0;
		}
	}
	words = len / 8;
	for (i = 0; i < words; i++) {
		memcpy(&w, p + 8 * i, 8);
		sum += w;
	}
	c->sum += sum;
	p += 8 * words;
	len -= 8 * words;
	memcpy(c->carry, p, len);
	c->carried = (unsigned int)len;
}

static uint64_t csum_end(struct csum *c)
{
	uint64_t w = 0;

	memcpy(&w, c->carry, c->carried);
	return c->sum + w;
}

uint64_t checksum(const void *buf, size_t len, uint64_t sum)
{
	struct csum c = { .sum = sum };

	csum_add(&c, buf, len);
	return csum_end(&c);
}

void count_words(struct word_counter *wc, const void *data, size_t len)
{
	static const uint8_t space[256] = {
		[' '] = 1, ['\n'] = 1, ['\t'] = 1, ['\r'] = 1, ['\v'] = 1,
		['\f'] = 1,
	};
	const uint8_t *p = data;
	uint64_t words = 0;
	bool in_word = wc->in_word;
	size_t i;

	for (i = 0; i < len; i++) {
		bool sp = space[p[i]];

		words += in_word && sp;
		in_word = !sp;
	}
	wc->words += words;
	wc->in_word = in_word;
}

/* --- the server ---------------------------------------------------------------- */

struct server {
	const struct transport *t;
	struct endpoint *ep;
	struct op op;		/* of the message being received */
	size_t got;		/* bytes of it so far */
	bool text_next;		/* the next message is COUNT's text */
	uint8_t *echo;		/* ECHO: the message, to send back */
	size_t echo_room;
	struct csum sunk;
	struct word_counter words;
};

static int server_consume(void *arg, const void *piece, size_t len)
{
	struct server *s = arg;
	const uint8_t *p = piece;
	size_t hdr;

	if (s->text_next) {
		count_words(&s->words, piece, len);
		return 0;
	}
	/* The op may arrive split, in theory: collect it first. */
	hdr = s->got < sizeof(s->op) ? sizeof(s->op) - s->got : 0;
	if (hdr > len)
		hdr = len;
	memcpy((uint8_t *)&s->op + s->got, p, hdr);
	if (s->op.op == OP_ECHO || s->got < sizeof(s->op)) {
		/* ECHO keeps everything; the op itself too. */
		if (s->got + len > s->echo_room) {
			size_t room = s->got + len > 2 * s->echo_room ?
				      s->got + len : 2 * s->echo_room;
			uint8_t *bigger = realloc(s->echo, room);

			if (!bigger)
				return -ENOMEM;
			s->echo = bigger;
			s->echo_room = room;
		}
		memcpy(s->echo + s->got, p, len);
	}
	if (s->op.op == OP_SINK && len > hdr)
		csum_add(&s->sunk, p + hdr, len - hdr);
	s->got += len;
	return 0;
}

/*
 * What the server does once a message of @n bytes is in; 1: STOP.  Gets
 * the server ready for the next message.
 */
static int message_done(void *arg, size_t n)
{
	struct server *s = arg;
	const struct transport *t = s->t;
	struct endpoint *ep = s->ep;
	int err = 0;

	if (s->text_next) {
		s->text_next = false;
		err = t->send(ep, &s->words.words, sizeof(s->words.words));
		s->words = (struct word_counter){ 0 };
	} else if (s->op.op == OP_ECHO) {
		err = t->send(ep, s->echo, n);
	} else if (s->op.op == OP_SYNC) {
		uint64_t reply[2] = { s->sunk.bytes, csum_end(&s->sunk) };

		err = t->send(ep, reply, sizeof(reply));
		s->sunk = (struct csum){ 0 };
	} else if (s->op.op == OP_COUNT) {
		s->text_next = true;
	} else if (s->op.op == OP_STOP) {
		return 1;
	} else if (s->op.op != OP_SINK) {
		err = -EPROTO;
	}
	s->got = 0;
	memset(&s->op, 0, sizeof(s->op));
	return err;
}

int serve(const struct transport *t, struct endpoint *ep)
{
	struct server s = { .t = t, .ep = ep };
	ssize_t n;
	int err = 0;

	while (!err) {
		/* Batches where the transport has them: what waits, at once. */
		if (t->recv_batch) {
			n = t->recv_batch(ep, server_consume, message_done, &s);
			if (!n)
				break;		/* STOP */
			err = n < 0 ? (int)n : 0;
			continue;
		}
		n = t->recv(ep, server_consume, &s);
		err = n < 0 ? (int)n : message_done(&s, (size_t)n);
	}
	free(s.echo);
	return err < 0 ? err : 0;
}

/* --- the client -------------------------------------------------------------------- */

/*
 * Warm-up rounds before measuring: at least @floor, and enough to send
 * WARM_BYTES, so that every transport reaches its steady state: buffers
 * allocated and, for the shared-memory rings (512 KiB), every page of the
 * ring faulted in once.  A long-running service pays that once.
 */
#define WARM_BYTES (8u << 20)
#define WARM_MAX 20000u
/*
 * And at most this long, past the floor: where every round trip is a
 * wake-up across vCPUs (blocking modes), 20,000 of them took half a
 * minute on a host whose idle vCPUs wake in milliseconds, for page faults
 * that cost microseconds against those wake-ups.
 */
#define WARM_NS 2000000000ull

/*
 * MPKLINK_BENCH_WARM_BYTES overrides WARM_BYTES: the smoke profile, which
 * checks answers rather than speed, sets 0 (on a busy host a spinning
 * round trip between two vCPUs can take milliseconds).
 */
static size_t warm_bytes(void)
{
	const char *env = getenv("MPKLINK_BENCH_WARM_BYTES");

	return env ? strtoull(env, NULL, 0) : WARM_BYTES;
}

unsigned int warm_ups(size_t size, unsigned int floor)
{
	size_t n = warm_bytes() / (size ? size : 1) + 1;

	if (n > WARM_MAX)
		n = WARM_MAX;
	return n > floor ? (unsigned int)n : floor;
}

struct copy_out {
	uint8_t *buf;
	size_t room, got;
};

static int copy_consume(void *arg, const void *piece, size_t len)
{
	struct copy_out *c = arg;

	if (c->got + len > c->room)
		return -EMSGSIZE;
	memcpy(c->buf + c->got, piece, len);
	c->got += len;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void latency_stats(uint64_t *times, unsigned int n, double *ns)
{
	uint64_t sum = 0;
	unsigned int i;

	qsort(times, n, sizeof(*times), cmp_u64);
	for (i = 0; i < n; i++)
		sum += times[i];
	ns[0] = (double)times[n / 2];
	ns[1] = (double)times[(size_t)n * 99 / 100];
	ns[2] = (double)times[(size_t)n * 999 / 1000];
	ns[3] = (double)sum / n;
}

void print_row(const char *workload, const char *transport, const char *mode,
	       uint64_t size, const char *metric, double value)
{
	printf("%s,%s,%s,%llu,%s,%.*f\n", workload, transport, mode,
	       (unsigned long long)size, metric,
	       value < 100 ? 9 : 0, value);
}

/*
 * @ns gets p50, p99, p99.9 and the mean of @iters round trips of @size
 * bytes (warm-up excluded).  Each reply is copied out, as a recv() would,
 * and checked.
 */
int client_latency(const struct transport *t, struct endpoint *ep,
		   size_t size, unsigned int iters, double *ns)
{
	unsigned int floor = iters / 10 + 1, warm = warm_ups(size, floor), i;
	uint8_t *msg = malloc(size), *back = malloc(size);
	uint64_t warm_until;
	uint64_t *times = calloc(iters, sizeof(*times));
	struct op op = { .op = OP_ECHO };
	int err = -ENOMEM;

	if (!msg || !back || !times || size < sizeof(op))
		goto out;
	fill_pattern(msg, size, size);
	warm_until = now_ns() + WARM_NS;
	for (i = 0; i < warm + iters; i++) {
		struct copy_out c = { .buf = back, .room = size };
		uint64_t start;
		ssize_t n;

		/* Warm long enough: the timed round trips start here. */
		if (i < warm && i >= floor && now_ns() > warm_until)
			warm = i;

		op.arg = i;
		memcpy(msg, &op, sizeof(op));
		start = now_ns();
		err = t->send(ep, msg, size);
		if (err)
			goto out;
		n = t->recv(ep, copy_consume, &c);
		if (i >= warm)
			times[i - warm] = now_ns() - start;
		if (n < 0) {
			err = (int)n;
			goto out;
		}
		/* The reply is this round's message, whole. */
		if ((size_t)n != size || memcmp(back, msg, sizeof(op)) ||
		    ((i == 0 || i == warm + iters - 1) && memcmp(back, msg, size))) {
			err = -EBADMSG;
			goto out;
		}
	}
	latency_stats(times, iters, ns);
	err = 0;
out:
	free(msg);
	free(back);
	free(times);
	return err;
}

/*
 * @count messages of @size bytes, then a SYNC: the bytes and checksum must
 * agree.  Payloads are multiples of 8 bytes, so the checksum of the stream
 * is that of one payload times the count.
 */
/*
 * @count messages of @size one way (SINK), then a SYNC whose answer checks
 * every byte.  @batched: in batches of up to STREAM_BATCH where the
 * transport sends batches.
 */
#define STREAM_BATCH 32

static int sink_run(const struct transport *t, struct endpoint *ep,
		    size_t size, unsigned int count, bool batched,
		    double *seconds)
{
	struct op op = { .op = OP_SINK }, sync = { .op = OP_SYNC };
	uint8_t *msg = malloc(size);
	uint64_t reply[2] = { 0 }, start, sum;
	struct copy_out c = { .buf = (uint8_t *)reply, .room = sizeof(reply) };
	struct iovec batch[STREAM_BATCH];
	unsigned int i, k, pass;
	ssize_t n;
	int err = 0;

	if (!msg || size < sizeof(op)) {
		free(msg);
		return -ENOMEM;
	}
	fill_pattern(msg, size, size);
	memcpy(msg, &op, sizeof(op));
	sum = checksum(msg + sizeof(op), size - sizeof(op), 0);
	for (k = 0; k < STREAM_BATCH; k++)
		batch[k] = (struct iovec){ msg, size };
	/* A warm-up pass (first touches of every buffer), then the timed one. */
	for (pass = 0; pass < 2 && !err; pass++) {
		unsigned int warm = warm_ups(size, 4);
		unsigned int n_msgs = pass ? count : (count < warm ? count : warm);

		start = now_ns();
		for (i = 0; i < n_msgs && !err; i += k) {
			k = n_msgs - i < STREAM_BATCH ? n_msgs - i : STREAM_BATCH;
			if (batched && t->send_batch) {
				err = t->send_batch(ep, batch, k);
				continue;
			}
			k = 1;
			err = t->send(ep, msg, size);
		}
		if (!err)
			err = t->send(ep, &sync, sizeof(sync));
		if (!err) {
			c.got = 0;
			n = t->recv(ep, copy_consume, &c);
			if (n < 0)
				err = (int)n;
		}
		if (!err && (reply[0] != (uint64_t)n_msgs * (size - sizeof(op)) ||
			     reply[1] != sum * n_msgs))
			err = -EBADMSG;
	}
	*seconds = (double)(now_ns() - start) / 1e9;
	free(msg);
	return err;
}

int client_throughput(const struct transport *t, struct endpoint *ep,
		      size_t size, unsigned int count, double *seconds)
{
	return sink_run(t, ep, size, count, false, seconds);
}

/* Streams of small messages, batched where the transport can. */
int client_stream(const struct transport *t, struct endpoint *ep, size_t size,
		  unsigned int count, double *seconds)
{
	return sink_run(t, ep, size, count, true, seconds);
}

int client_wordcount(const struct transport *t, struct endpoint *ep,
		     const struct wc_file *f, uint64_t *count, double *seconds)
{
	struct op op = { .op = OP_COUNT, .arg = f->len };
	struct copy_out c = { .buf = (uint8_t *)count, .room = sizeof(*count) };
	uint64_t start = now_ns();
	ssize_t n;
	int err;

	err = t->send(ep, &op, sizeof(op));
	if (!err)
		err = t->send(ep, f->data, f->len);
	if (!err) {
		n = t->recv(ep, copy_consume, &c);
		if (n != sizeof(*count))
			err = n < 0 ? (int)n : -EBADMSG;
	}
	*seconds = (double)(now_ns() - start) / 1e9;
	return err;
}

/*
 * Round trips between two endpoints of one thread: every call finds its
 * message at once and no cache line crosses cores, so what is left is the
 * transport's own instructions per round trip.  Mean of @n after n / 10
 * to warm up.
 */
int onethread_latency(const struct transport *t, struct endpoint *a,
		      struct endpoint *b, size_t size, unsigned int n,
		      double *mean_ns)
{
	uint8_t *msg = malloc(size), *got = malloc(size);
	unsigned int i, warm = n / 10;
	uint64_t start = 0;
	int err = msg && got ? 0 : -ENOMEM;

	if (!err)
		fill_pattern(msg, size, 1);
	for (i = 0; !err && i < warm + n; i++) {
		struct copy_out c = { .buf = got, .room = size };
		ssize_t len;

		if (i == warm)
			start = now_ns();
		err = t->send(a, msg, size);
		len = err ? 0 : t->recv(b, copy_consume, &c);
		if (!err && len >= 0)
			err = t->send(b, got, size);
		c.got = 0;
		if (!err && len >= 0)
			len = t->recv(a, copy_consume, &c);
		if (!err && len != (ssize_t)size)
			err = len < 0 ? (int)len : -EBADMSG;
	}
	if (!err && memcmp(msg, got, size))
		err = -EBADMSG;
	*mean_ns = err ? 0 : (double)(now_ns() - start) / n;
	free(msg);
	free(got);
	return err;
}

int client_stop(const struct transport *t, struct endpoint *ep)
{
	struct op op = { .op = OP_STOP };

	return t->send(ep, &op, sizeof(op));
}

void iov_advance(struct iovec **iov, int *cnt, size_t done)
{
	struct iovec *v = *iov;

	while (*cnt && done >= v->iov_len) {
		done -= v->iov_len;
		v++;
		(*cnt)--;
	}
	if (*cnt) {
		v->iov_base = (char *)v->iov_base + done;
		v->iov_len -= done;
	}
	*iov = v;
}
