/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mpkbench: one harness, every transport, the same payloads.
 *
 *   main.c        command line, running a client against a server
 *   workloads.c   round-trip latency, streaming throughput, streams of
 *                 small messages (batched where the transport can),
 *                 word count
 *   t_mpkshm.c    libmpkshm: kernel, memfd and thread backends
 *   t_raw.c       a raw shared-memory ring: spin polling, no protection
 *   t_fd.c        pipe, FIFO, Unix stream and seqpacket sockets, TCP
 *   t_uring.c     io_uring over a Unix stream socket
 *
 * gRPC, which needs C++, is a separate program (grpc/grpc_bench.cc) that
 * prints the same rows.
 *
 * A transport moves messages between a client and a server endpoint.  A
 * message is sent whole; it is received piece by piece through a callback,
 * so that shared-memory transports hand out their own memory (zero copy)
 * and the others a buffer they read into.  Every workload touches every
 * byte it receives, so no transport wins by not reading its data.
 */
#ifndef MPKBENCH_H
#define MPKBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * How a receiver waits: spinning, blocking at once, or the transport's
 * default (blocking for file descriptors, a short spin then blocking for
 * libmpkshm).
 */
enum wait_mode { WAIT_DEFAULT, WAIT_SPIN, WAIT_BLOCK };

struct bench_cfg {
	enum wait_mode mode;
	size_t max_message;	/* the largest message of the run */
	char channel[64];	/* libmpkshm: the channel's name */
	char dir[256];		/* a private directory (FIFOs) */
};

struct endpoint;

/* Consumes one piece of a message; non-zero stops the receive. */
typedef int (*consume_fn)(void *arg, const void *piece, size_t len);

#define T_THREADS	0x1	/* server is a thread of the client's process */
#define T_SPIN_ONLY	0x2	/* no blocking mode */
#define T_MODULE	0x4	/* needs /dev/mpklink */

struct transport {
	const char *name;
	const char *description;
	unsigned int flags;
	/* Before the server starts (in the parent): shared setup. */
	int (*prepare)(struct bench_cfg *cfg, void **shared);
	/* In the server (child process or thread), and in the client. */
	int (*open)(void *shared, bool server, const struct bench_cfg *cfg,
		    struct endpoint **ep);
	int (*send)(struct endpoint *ep, const void *buf, size_t len);
	/* Receives one message, handing it to @consume; returns its length. */
	ssize_t (*recv)(struct endpoint *ep, consume_fn consume, void *arg);
	/*
	 * Optional, batches: sends @n whole messages; receives every message
	 * waiting (at least one), each handed to @consume and then @done,
	 * and returns how many; 0 when @done returned 1 (stop), -errno
	 * when it or the transport failed.
	 */
	int (*send_batch)(struct endpoint *ep, const struct iovec *msgs,
			  unsigned int n);
	ssize_t (*recv_batch)(struct endpoint *ep, consume_fn consume,
			      int (*done)(void *arg, size_t len), void *arg);
	/*
	 * Optional: both ends in the calling thread (mpkbench onethread),
	 * where the transport can have them there without blocking.
	 */
	int (*open_pair)(void *shared, const struct bench_cfg *cfg,
			 struct endpoint **server, struct endpoint **client);
	void (*close)(struct endpoint *ep);
	/* After both ends closed (in the parent). */
	void (*cleanup)(struct bench_cfg *cfg, void *shared);
};

/*
 * Opens the run's libmpkshm channel (made by a transport_mpkshm_*
 * prepare(), whose @shared it is) as that transport would, for programs
 * that use the channel their own way (rpcbench).
 */
struct mpkshm_channel;
int mpkshm_bench_open(void *shared, bool server, const struct bench_cfg *cfg,
		      struct mpkshm_channel **ch);

extern const struct transport transport_mpkshm_kernel;
extern const struct transport transport_mpkshm_kernel_signed;
extern const struct transport transport_mpkshm_memfd;
extern const struct transport transport_mpkshm_thread;
extern const struct transport transport_raw_ring;
extern const struct transport transport_pipe;
extern const struct transport transport_fifo;
extern const struct transport transport_unix_stream;
extern const struct transport transport_unix_seqpacket;
extern const struct transport transport_tcp;
extern const struct transport transport_uring;

/*
 * Framing shared by the byte-stream transports: an 8-byte length, then the
 * message.  Pieces are handed to the consumer as they arrive, at most
 * PIECE_MAX at a time.
 */
#define PIECE_MAX (256 * 1024)

/* --- workloads.c ----------------------------------------------------------- */

struct wc_file {
	const char *data;	/* the whole file, mapped */
	size_t len;
	uint64_t words;		/* as counted when generated */
};

/*
 * Each runs a client against @server_ep's peer; the server side is
 * serve_*(), run in the child process or thread.  Results are printed as
 * CSV rows (see main.c).
 */
int client_latency(const struct transport *t, struct endpoint *ep,
		   size_t size, unsigned int iters, double *ns);
int client_throughput(const struct transport *t, struct endpoint *ep,
		      size_t size, unsigned int count, double *seconds);
int client_wordcount(const struct transport *t, struct endpoint *ep,
		     const struct wc_file *f, uint64_t *count, double *seconds);
int client_stream(const struct transport *t, struct endpoint *ep, size_t size,
		  unsigned int count, double *seconds);
/* Tells the server to return. */
int client_stop(const struct transport *t, struct endpoint *ep);
int onethread_latency(const struct transport *t, struct endpoint *a,
		      struct endpoint *b, size_t size, unsigned int n,
		      double *mean_ns);
/* Serves whatever the client asks until it says stop. */
int serve(const struct transport *t, struct endpoint *ep);

/* Counting words: what the word-count server does with each piece. */
struct word_counter {
	uint64_t words;
	bool in_word;
};

/* --- helpers (shared with grpc_bench) ----------------------------------------- */

#ifdef __cplusplus
extern "C" {
#endif

/* How many untimed rounds precede the timed ones, for messages of @size. */
unsigned int warm_ups(size_t size, unsigned int floor);
/* Runs the calling thread on @cpu alone (client 0, server 1). */
void pin_to_cpu(int cpu);
/* Sorts @times (ns) and gives p50, p99, p99.9 and the mean in @ns[4]. */
void latency_stats(uint64_t *times, unsigned int n, double *ns);
/* One CSV row: workload,transport,mode,size,metric,value */
void print_row(const char *workload, const char *transport, const char *mode,
	       uint64_t size, const char *metric, double value);

uint64_t now_ns(void);
/* Moves the vector (@iov, @cnt) past the first @done bytes: after a short write. */
void iov_advance(struct iovec **iov, int *cnt, size_t done);
/* Reads or writes exactly @len bytes; -errno. */
int read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
void fill_pattern(void *buf, size_t len, uint64_t seed);
uint64_t checksum(const void *buf, size_t len, uint64_t sum);
void count_words(struct word_counter *wc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MPKBENCH_H */
