// SPDX-License-Identifier: GPL-2.0
/*
 * mpkbench: runs one workload over one transport and prints CSV rows
 *
 *	workload,transport,mode,size,metric,value
 *
 * bench/run drives it over every transport and size and writes the report.
 *
 *   mpkbench latency    -t T [-m MODE] -s BYTES -n ROUND_TRIPS
 *   mpkbench throughput -t T [-m MODE] -s BYTES -b TOTAL_BYTES
 *   mpkbench wordcount  -t T [-m MODE] -f FILE -r RUNS
 *   mpkbench stream     -t T [-m MODE] -s BYTES -n MESSAGES
 *   mpkbench onethread  -t T -s BYTES -n ROUND_TRIPS
 *   mpkbench genwords N FILE
 *   mpkbench list
 *
 * MODE is spin, block or default.  The server runs in a child process, or
 * in a thread for the thread-only model; onethread has both ends in one
 * thread (the transport's own cost per round trip, no core to core).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const struct transport *const transports[] = {
	&transport_mpkshm_kernel, &transport_mpkshm_kernel_signed,
	&transport_mpkshm_memfd, &transport_mpkshm_thread, &transport_raw_ring,
	&transport_pipe, &transport_fifo, &transport_unix_stream,
	&transport_unix_seqpacket, &transport_tcp, &transport_uring,
};

#define NR_TRANSPORTS (sizeof(transports) / sizeof(transports[0]))

static const char *const mode_names[] = { "default", "spin", "block" };

static void usage(void)
{
	fputs("usage: mpkbench latency    -t T [-m MODE] -s BYTES -n ROUND_TRIPS\n"
	      "       mpkbench throughput -t T [-m MODE] -s BYTES -b TOTAL_BYTES\n"
	      "       mpkbench wordcount  -t T [-m MODE] -f FILE -r RUNS\n"
	      "       mpkbench stream     -t T [-m MODE] -s BYTES -n MESSAGES\n"
	      "       mpkbench onethread  -t T -s BYTES -n ROUND_TRIPS\n"
	      "       mpkbench genwords N FILE\n"
	      "       mpkbench wrpkru        (ns per WRPKRU, where PKU exists)\n"
	      "       mpkbench list\n"
	      "MODE: default, spin or block\n", stderr);
	exit(2);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "mpkbench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* --- the word file ---------------------------------------------------------- */

/* splitmix64: a fixed sequence, so every run and machine has one file. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The paper's input: the integers 1..N, shuffled, separated by spaces. */
static int genwords(uint64_t n, const char *path)
{
	uint32_t *order = malloc(n * sizeof(*order));
	uint64_t i, state = 42;
	char tmp[4096];
	FILE *out;

	if (!order || n > UINT32_MAX)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		order[i] = (uint32_t)(i + 1);
	for (i = n - 1; i > 0; i--) {	/* Fisher-Yates */
		uint64_t j = next_random(&state) % (i + 1);
		uint32_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	out = fopen(tmp, "we");
	if (!out) {
		free(order);
		return -errno;
	}
	for (i = 0; i < n; i++)
		fprintf(out, i ? " %u" : "%u", order[i]);
	fputc('\n', out);
	free(order);
	if (fclose(out) || rename(tmp, path))
		return -errno;
	return 0;
}

static int map_file(const char *path, struct wc_file *f)
{
	struct word_counter wc = { 0 };
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st))
		return -errno;
	p = mmap(NULL, st.st_size ? (size_t)st.st_size : 1, PROT_READ,
		 MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	f->data = p;
	f->len = (size_t)st.st_size;
	/* The truth every transport's answer is checked against. */
	count_words(&wc, f->data, f->len);
	f->words = wc.words + wc.in_word;
	return 0;
}

/* --- what a WRPKRU costs here ------------------------------------------------ */

/*
 * Every library call writes PKRU twice.  On hardware that is tens of
 * cycles; under QEMU's TCG it flushes the emulated TLB.  The report shows
 * this number so that PKU's share of the times can be told apart.
 */
static int wrpkru_cost(void)
{
	const unsigned int n = 100000;
	uint32_t pkru, eax, edx;
	uint64_t start;
	unsigned int i;
	int key = pkey_alloc(0, 0);

	if (key < 0) {
		fprintf(stderr, "mpkbench: no protection keys here\n");
		return 1;
	}
	__asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
	pkru = eax;
	start = now_ns();
	for (i = 0; i < n; i++) {
		/* Toggle the new key's access-disable bit: no memory uses it. */
		pkru ^= 1u << (2 * key);
		__asm__ volatile(".byte 0x0f,0x01,0xef"
				 : : "a"(pkru), "c"(0), "d"(0) : "memory");
	}
	printf("%.1f\n", (double)(now_ns() - start) / n);
	pkey_free(key);
	return 0;
}

/* --- running a client against a server ------------------------------------------- */

struct run {
	const struct transport *t;
	struct bench_cfg cfg;
	void *shared;
	int server_err;
};

static void *server_main(void *arg)
{
	struct run *r = arg;
	struct endpoint *ep;

	pin_to_cpu(1);
	r->server_err = r->t->open(r->shared, true, &r->cfg, &ep);
	if (r->server_err)
		return NULL;
	r->server_err = serve(r->t, ep);
	r->t->close(ep);
	return NULL;
}

static pid_t server_pid;

static void on_alarm(int sig)
{
	static const char msg[] = "mpkbench: timed out\n";

	(void)sig;
	if (server_pid > 0)
		kill(server_pid, SIGKILL);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static const struct transport *find_transport(const char *name)
{
	size_t i;

	for (i = 0; i < NR_TRANSPORTS; i++)
		if (!strcmp(transports[i]->name, name))
			return transports[i];
	fprintf(stderr, "mpkbench: no transport '%s' (mpkbench list)\n", name);
	exit(2);
}

/*
 * Both ends in this thread: what the transport's own instructions cost
 * per round trip, with no cache line crossing cores.
 */
static int onethread(struct run *r, const char *tname, size_t size,
		     unsigned long long iters)
{
	struct endpoint *a, *b;
	double ns;
	int err;

	if (!r->t->open_pair) {
		fprintf(stderr, "mpkbench: %s cannot have both ends in one thread\n",
			tname);
		return 2;
	}
	r->cfg.mode = WAIT_SPIN;
	err = r->t->open_pair(r->shared, &r->cfg, &b, &a);
	if (err)
		die("open", err);
	err = onethread_latency(r->t, a, b, size, (unsigned int)iters, &ns);
	if (!err)
		print_row("onethread", tname, "spin", size, "rtt_ns", ns);
	r->t->close(a);
	r->t->close(b);
	r->t->cleanup(&r->cfg, r->shared);
	rmdir(r->cfg.dir);
	if (err)
		die("onethread", err);
	return 0;
}

int main(int argc, char **argv)
{
	const char *workload, *tname = NULL, *file = NULL;
	unsigned long long size = 0, total = 0, iters = 0, runs = 0;
	struct run r = { 0 };
	struct endpoint *ep;
	pthread_t thread;
	struct wc_file wc;
	int opt, err = 0;
	char dir[] = "/tmp/mpkbench.XXXXXX";

	if (argc < 2)
		usage();
	workload = argv[1];
	if (!strcmp(workload, "list")) {
		for (size_t i = 0; i < NR_TRANSPORTS; i++)
			printf("%s %s%s%s\t%s\n", transports[i]->name,
			       transports[i]->flags & T_MODULE ? "module," : "",
			       transports[i]->flags & T_SPIN_ONLY ? "spin-only," : "",
			       transports[i]->flags & T_THREADS ? "threads," : "",
			       transports[i]->description);
		return 0;
	}
	if (!strcmp(workload, "wrpkru"))
		return wrpkru_cost();
	if (!strcmp(workload, "genwords")) {
		if (argc != 4)
			usage();
		err = genwords(strtoull(argv[2], NULL, 10), argv[3]);
		if (err)
			die(argv[3], err);
		return 0;
	}
	optind = 2;
	while ((opt = getopt(argc, argv, "t:m:s:n:b:f:r:")) != -1) {
		switch (opt) {
		case 't': tname = optarg; break;
		case 'm':
			if (!strcmp(optarg, "spin"))
				r.cfg.mode = WAIT_SPIN;
			else if (!strcmp(optarg, "block"))
				r.cfg.mode = WAIT_BLOCK;
			else if (strcmp(optarg, "default"))
				usage();
			break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'n': iters = strtoull(optarg, NULL, 0); break;
		case 'b': total = strtoull(optarg, NULL, 0); break;
		case 'f': file = optarg; break;
		case 'r': runs = strtoull(optarg, NULL, 0); break;
		default: usage();
		}
	}
	if (!tname || optind != argc)
		usage();
	r.t = find_transport(tname);
	if (!strcmp(workload, "latency")) {
		if (size < 16 || !iters)
			usage();
	} else if (!strcmp(workload, "throughput")) {
		if (size < 16 || size % 8 || !total)
			usage();
	} else if (!strcmp(workload, "stream") ||
		   !strcmp(workload, "onethread")) {
		if (size < 16 || !iters)
			usage();
	} else if (!strcmp(workload, "wordcount")) {
		if (!file || !runs)
			usage();
		err = map_file(file, &wc);
		if (err)
			die(file, err);
		size = wc.len;
	} else {
		usage();
	}
	if (r.cfg.mode == WAIT_BLOCK && r.t->flags & T_SPIN_ONLY) {
		fprintf(stderr, "mpkbench: %s only spins\n", r.t->name);
		return 2;
	}
	r.cfg.max_message = size;
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	snprintf(r.cfg.dir, sizeof(r.cfg.dir), "%s", dir);
	err = r.t->prepare(&r.cfg, &r.shared);
	if (err)
		die("prepare", err);
	if (!strcmp(workload, "onethread"))
		return onethread(&r, tname, size, iters);

	signal(SIGALRM, on_alarm);
	alarm(1800);
	pin_to_cpu(0);
	if (r.t->flags & T_THREADS) {
		err = -pthread_create(&thread, NULL, server_main, &r);
	} else {
		server_pid = fork();
		if (server_pid == 0) {
			server_main(&r);
			_exit(r.server_err ? 1 : 0);
		}
		err = server_pid < 0 ? -errno : 0;
	}
	if (!err)
		err = r.t->open(r.shared, false, &r.cfg, &ep);
	if (err)
		die("open", err);

	if (!strcmp(workload, "latency")) {
		static const char *const metrics[] = {
			"p50_ns", "p99_ns", "p999_ns", "mean_ns",
		};
		double ns[4];

		err = client_latency(r.t, ep, size, (unsigned int)iters, ns);
		for (int i = 0; i < 4 && !err; i++)
			print_row("latency", tname, mode_names[r.cfg.mode], size,
				  metrics[i], ns[i]);
	} else if (!strcmp(workload, "throughput")) {
		unsigned int count = (unsigned int)((total + size - 1) / size);
		double s;

		err = client_throughput(r.t, ep, size, count, &s);
		if (!err) {
			print_row("throughput", tname, mode_names[r.cfg.mode],
				  size, "gbps", (double)count * size / s / 1e9);
			print_row("throughput", tname, mode_names[r.cfg.mode],
				  size, "msgs_per_s", count / s);
		}
	} else if (!strcmp(workload, "stream")) {
		double s;

		err = client_stream(r.t, ep, size, (unsigned int)iters, &s);
		if (!err)
			print_row("stream", tname, mode_names[r.cfg.mode], size,
				  "msgs_per_s", (double)iters / s);
	} else {
		/* The first runs warm up (warm_ups()) and are not reported. */
		unsigned long long warm = warm_ups(wc.len, 1);

		for (unsigned long long i = 0; i < warm + runs && !err; i++) {
			uint64_t count = 0;
			double s;

			err = client_wordcount(r.t, ep, &wc, &count, &s);
			if (!err && count != wc.words) {
				fprintf(stderr, "mpkbench: %s counted %llu words, not %llu\n",
					tname, (unsigned long long)count,
					(unsigned long long)wc.words);
				err = -EBADMSG;
			}
			if (!err && i >= warm)
				print_row("wordcount", tname,
					  mode_names[r.cfg.mode], wc.words,
					  "seconds", s);
		}
	}
	fflush(stdout);
	if (err)
		die(workload, err);

	err = client_stop(r.t, ep);
	if (r.t->flags & T_THREADS) {
		pthread_join(thread, NULL);
	} else {
		int status;

		waitpid(server_pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			r.server_err = -EIO;
	}
	r.t->close(ep);
	r.t->cleanup(&r.cfg, r.shared);
	rmdir(dir);
	if (err || r.server_err)
		die("server", err ? err : r.server_err);
	return 0;
}
