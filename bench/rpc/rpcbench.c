// SPDX-License-Identifier: GPL-2.0
/*
 * rpcbench: bench.proto's Bench service from C, over libmpkshm-rpc or over
 * protobuf-c packed on a Unix stream socket, printing mpkbench's CSV rows
 * (grpc_bench serves the same .proto over gRPC).
 *
 *   rpcbench latency   -t T [-m MODE] -s BYTES -n ROUND_TRIPS
 *   rpcbench wordcount -t T [-m MODE] -f FILE -r RUNS
 *
 * T: rpc-memfd, rpc-kernel, rpc-signed (libmpkshm-rpc on that backend;
 * the kernel ones need /dev/mpklink and root), pbc-unix.  MODE: spin,
 * block or default, as mpkbench's (pbc-unix only blocks).  The server runs
 * in a child process on CPU 1, the client on CPU 0.  Building and packing
 * the request, and unpacking the reply, are part of every timed call.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bench.h"
#include "rpcbench.h"

void bench_echo(Mpkbench__Bench_Service *service, const Mpkbench__Blob *in,
		Mpkbench__Blob_Closure closure, void *closure_data)
{
	Mpkbench__Blob out = MPKBENCH__BLOB__INIT;

	(void)service;
	out.data = in->data;
	closure(&out, closure_data);
}

void bench_count(Mpkbench__Bench_Service *service, const Mpkbench__Blob *in,
		 Mpkbench__Words_Closure closure, void *closure_data)
{
	Mpkbench__Words out = MPKBENCH__WORDS__INIT;
	struct word_counter wc = { 0 };

	(void)service;
	count_words(&wc, in->data.data, in->data.len);
	out.words = wc.words + wc.in_word;
	closure(&out, closure_data);
}

/* Client streaming in bench.proto: gRPC's throughput, not measured here. */
static void bench_sink(Mpkbench__Bench_Service *service,
		       const Mpkbench__Blob *in,
		       Mpkbench__Summary_Closure closure, void *closure_data)
{
	(void)service;
	(void)in;
	closure(NULL, closure_data);
}

static Mpkbench__Bench_Service service = MPKBENCH__BENCH__INIT(bench_);

static const char *const mode_names[] = {
	[WAIT_DEFAULT] = "default", [WAIT_SPIN] = "spin", [WAIT_BLOCK] = "block",
};

static void die(const char *what, int err)
{
	fprintf(stderr, "rpcbench: %s: %s\n", what,
		err > 0 ? mpkrpc_strerror(err) : strerror(-err));
	exit(1);
}

/* --- libmpkshm-rpc ----------------------------------------------------- */

static int rpc_echo(void *ctx, const Mpkbench__Blob *req, Mpkbench__Blob **resp)
{
	return mpkbench__bench__echo_call(ctx, req, resp, 60000);
}

static int rpc_count(void *ctx, const Mpkbench__Blob *req,
		     Mpkbench__Words **resp)
{
	return mpkbench__bench__count_call(ctx, req, resp, 600000);
}

static int rpc_server(void *shared, const struct bench_cfg *cfg)
{
	struct mpkshm_channel *ch;
	struct mpkrpc_server *srv;
	int err = mpkshm_bench_open(shared, true, cfg, &ch);

	if (!err)
		err = mpkrpc_server_new(ch, &srv);
	if (!err)
		err = mpkbench__bench__serve(srv, &service);
	if (!err)
		err = mpkrpc_serve(srv);	/* until killed */
	return err ? 1 : 0;
}

static int rpc_client(void *shared, const struct bench_cfg *cfg,
		      struct rpc_client *client)
{
	struct mpkshm_channel *ch;
	struct mpkrpc_client *c;
	uint64_t server;
	int err = mpkshm_bench_open(shared, false, cfg, &ch);

	if (!err)
		err = mpkshm_find_peer(ch, &server, 10000);
	if (!err)
		err = mpkbench__bench__client_new(ch, server, &c);
	if (err)
		return err;
	*client = (struct rpc_client){ .ctx = c, .echo = rpc_echo,
				       .count = rpc_count };
	return 0;
}

/* --- the workloads ------------------------------------------------------ */

static void latency(struct rpc_client *c, const char *t, const char *mode,
		    size_t size, unsigned int iters)
{
	unsigned int warm = warm_ups(size, iters / 10 + 1), i;
	uint64_t *times = calloc(iters, sizeof(*times));
	uint8_t *payload = malloc(size ? size : 1);
	double ns[4];

	if (!times || !payload)
		die("memory", -ENOMEM);
	fill_pattern(payload, size, size);
	for (i = 0; i < warm + iters; i++) {
		Mpkbench__Blob req = MPKBENCH__BLOB__INIT, *resp = NULL;
		uint64_t start = now_ns();
		int err;

		req.data.data = payload;
		req.data.len = size;
		err = c->echo(c->ctx, &req, &resp);
		if (i >= warm)
			times[i - warm] = now_ns() - start;
		if (err)
			die("Echo", err);
		if (resp->data.len != size || memcmp(resp->data.data, payload, size))
			die("Echo", -EBADMSG);
		mpkbench__blob__free_unpacked(resp, NULL);
	}
	latency_stats(times, iters, ns);
	print_row("latency", t, mode, size, "p50_ns", ns[0]);
	print_row("latency", t, mode, size, "p99_ns", ns[1]);
	print_row("latency", t, mode, size, "p999_ns", ns[2]);
	print_row("latency", t, mode, size, "mean_ns", ns[3]);
	free(times);
	free(payload);
}

static void wordcount(struct rpc_client *c, const char *t, const char *mode,
		      const char *path, unsigned int runs)
{
	struct word_counter truth = { 0 };
	unsigned int warm, i;
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st))
		die(path, -errno);
	p = mmap(NULL, st.st_size ? (size_t)st.st_size : 1, PROT_READ,
		 MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		die(path, -errno);
	count_words(&truth, p, (size_t)st.st_size);
	warm = warm_ups((size_t)st.st_size, 1);
	for (i = 0; i < warm + runs; i++) {
		Mpkbench__Blob req = MPKBENCH__BLOB__INIT;
		Mpkbench__Words *resp = NULL;
		uint64_t start = now_ns();
		double s;
		int err;

		req.data.data = p;
		req.data.len = (size_t)st.st_size;
		err = c->count(c->ctx, &req, &resp);
		s = (double)(now_ns() - start) / 1e9;
		if (err)
			die("Count", err);
		if (resp->words != truth.words + truth.in_word)
			die("Count", -EBADMSG);
		mpkbench__words__free_unpacked(resp, NULL);
		if (i >= warm)
			print_row("wordcount", t, mode, truth.words + truth.in_word,
				  "seconds", s);
	}
	munmap(p, st.st_size ? (size_t)st.st_size : 1);
}

/* --- running ------------------------------------------------------------ */

static const struct {
	const char *name;
	const struct transport *channel;	/* NULL: pbc-unix */
} transports[] = {
	{ "rpc-memfd", &transport_mpkshm_memfd },
	{ "rpc-kernel", &transport_mpkshm_kernel },
	{ "rpc-signed", &transport_mpkshm_kernel_signed },
	{ "pbc-unix", NULL },
};

static void usage(void)
{
	fputs("usage: rpcbench latency   -t T [-m MODE] -s BYTES -n ROUND_TRIPS\n"
	      "       rpcbench wordcount -t T [-m MODE] -f FILE -r RUNS\n"
	      "T: rpc-memfd, rpc-kernel, rpc-signed, pbc-unix\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *tname = NULL, *file = NULL, *workload;
	unsigned long long size = 0, iters = 0, runs = 0;
	struct bench_cfg cfg = { .mode = WAIT_DEFAULT };
	char dir[] = "/tmp/rpcbench.XXXXXX";
	const struct transport *chan = NULL;
	struct rpc_client client;
	void *shared = NULL;
	int opt, err, sv[2] = { -1, -1 }, status;
	unsigned int i;
	pid_t pid;

	if (argc < 2)
		usage();
	workload = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "t:m:s:n:f:r:")) != -1) {
		switch (opt) {
		case 't': tname = optarg; break;
		case 'm':
			cfg.mode = !strcmp(optarg, "spin") ? WAIT_SPIN :
				   !strcmp(optarg, "block") ? WAIT_BLOCK :
				   WAIT_DEFAULT;
			break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'n': iters = strtoull(optarg, NULL, 0); break;
		case 'f': file = optarg; break;
		case 'r': runs = strtoull(optarg, NULL, 0); break;
		default: usage();
		}
	}
	for (i = 0; tname && i < sizeof(transports) / sizeof(*transports); i++)
		if (!strcmp(tname, transports[i].name))
			break;
	if (!tname || i == sizeof(transports) / sizeof(*transports) ||
	    optind != argc ||
	    !((!strcmp(workload, "latency") && iters) ||
	      (!strcmp(workload, "wordcount") && file && runs)))
		usage();
	chan = transports[i].channel;
	if (!chan && cfg.mode == WAIT_SPIN)
		die("pbc-unix", -EOPNOTSUPP);	/* a socket only blocks */
	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	snprintf(cfg.dir, sizeof(cfg.dir), "%s", dir);
	err = chan ? chan->prepare(&cfg, &shared) :
	      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ? -errno : 0;
	if (err)
		die(tname, err);
	pid = fork();
	if (pid < 0)
		die("fork", -errno);
	if (pid == 0) {
		/* A server that spins must not outlive a client that died. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		pin_to_cpu(1);
		if (!chan) {
			close(sv[0]);
			_exit(pbc_unix_serve(sv[1]) ? 1 : 0);
		}
		_exit(rpc_server(shared, &cfg));
	}
	pin_to_cpu(0);
	if (chan) {
		err = rpc_client(shared, &cfg, &client);
	} else {
		close(sv[1]);
		err = pbc_unix_client(sv[0], &client);
	}
	if (err)
		die(tname, err);
	if (!strcmp(workload, "latency"))
		latency(&client, tname, chan ? mode_names[cfg.mode] : "block",
			size, (unsigned int)iters);
	else
		wordcount(&client, tname, chan ? mode_names[cfg.mode] : "block",
			  file, (unsigned int)runs);
	/* The server serves until it goes: its endpoint goes with it. */
	if (chan)
		kill(pid, SIGKILL);
	else
		close(sv[0]);
	waitpid(pid, &status, 0);
	if (chan)
		chan->cleanup(&cfg, shared);
	rmdir(dir);
	return 0;
}
