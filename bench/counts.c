// SPDX-License-Identifier: GPL-2.0
/*
 * mpkcount: what one message costs libmpkshm in PKRU writes, on the sending
 * and on the receiving side, counted by the library itself.  bench/run
 * runs it under strace for the system calls.  These counts do not depend
 * on the machine: they are what carries over to hardware.
 *
 *   mpkcount -t mpkshm-kernel|mpkshm-memfd|mpkshm-thread -m spin|block
 *            -k copy|zero -s BYTES -n MESSAGES
 *
 * One-way messages from a client to a server (a child process, or a thread
 * for the thread-only model).  spin: both sides spin, never sleep.  block:
 * neither spins, and the client paces its messages so that the server is
 * asleep when each arrives.  copy: mpkshm_send() and mpkshm_recv(); zero:
 * mpkshm_reserve()/commit() and mpkshm_peek()/release().
 *
 * Built against the counting build of libmpkshm (bench/Makefile), which
 * counts on a CPU without protection keys the writes a CPU with them
 * would make.  Prints rows as mpkbench does: counts,T,MODE-KIND,BYTES,
 * pkru_send|pkru_recv,PER_MESSAGE.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mpkshm.h>

#include "bench.h"

/* libmpkshm's count of this thread's PKRU writes (not exported). */
uint64_t mpkshm_pkru_writes(void);

#define WARM_UP		20
#define PACE_US		1000	/* block: long enough for the server to sleep */

struct run {
	const struct transport *t;
	struct bench_cfg cfg;
	void *shared;
	bool zero_copy;
	size_t size;
	unsigned int messages;
	uint64_t server_writes;
	int server_err;
};

static const struct transport *const transports[] = {
	&transport_mpkshm_kernel, &transport_mpkshm_memfd,
	&transport_mpkshm_thread,
};

static void usage(void)
{
	fputs("usage: mpkcount -t mpkshm-kernel|mpkshm-memfd|mpkshm-thread\n"
	      "                -m spin|block -k copy|zero -s BYTES -n MESSAGES\n",
	      stderr);
	exit(2);
}

static int receive_one(struct run *r, struct mpkshm_channel *ch, char *buf)
{
	struct mpkshm_msg m;
	volatile char sink;
	int ret;

	if (!r->zero_copy) {
		ret = mpkshm_recv(ch, buf, r->size, NULL, -1);
		return ret < 0 ? ret : 0;
	}
	ret = mpkshm_peek(ch, &m, -1);
	if (ret)
		return ret;
	sink = ((const char *)m.data)[m.len - 1];
	(void)sink;
	return mpkshm_release(ch, &m);
}

/* The receiving side: counts its writes over the messages after warm-up. */
static int serve_counting(struct run *r)
{
	struct mpkshm_channel *ch;
	uint64_t peer, before = 0, writes;
	char *buf = malloc(r->size);
	unsigned int i;
	int err;

	if (!buf)
		return -ENOMEM;
	err = mpkshm_bench_open(r->shared, true, &r->cfg, &ch);
	if (err) {
		free(buf);
		return err;
	}
	err = mpkshm_find_peer(ch, &peer, 10000);
	for (i = 0; !err && i < WARM_UP + r->messages; i++) {
		if (i == WARM_UP)
			before = mpkshm_pkru_writes();
		err = receive_one(r, ch, buf);
	}
	writes = mpkshm_pkru_writes() - before;
	if (!err)
		err = mpkshm_send(ch, peer, &writes, sizeof(writes), 10000);
	/* Until the client has read it: closing drops what is unread. */
	if (!err)
		err = mpkshm_recv(ch, buf, r->size, NULL, 10000) < 0 ? -EIO : 0;
	mpkshm_close(ch);
	free(buf);
	return err;
}

static void *server_thread(void *arg)
{
	struct run *r = arg;

	r->server_err = serve_counting(r);
	return NULL;
}

static int send_one(struct run *r, struct mpkshm_channel *ch, uint64_t to,
		    const char *payload)
{
	void *slot;
	int err;

	if (!r->zero_copy)
		return mpkshm_send(ch, to, payload, r->size, -1);
	err = mpkshm_reserve(ch, r->size, &slot, -1);
	if (err)
		return err;
	memcpy(slot, payload, r->size);
	return mpkshm_commit(ch, r->size, to);
}

static int client_counting(struct run *r, uint64_t *writes,
			   uint64_t *server_writes)
{
	const struct timespec pace = { .tv_nsec = PACE_US * 1000L };
	struct mpkshm_channel *ch;
	uint64_t peer, before = 0;
	char *payload = calloc(1, r->size);
	unsigned int i;
	int err, n;

	if (!payload)
		return -ENOMEM;
	err = mpkshm_bench_open(r->shared, false, &r->cfg, &ch);
	if (err) {
		free(payload);
		return err;
	}
	err = mpkshm_find_peer(ch, &peer, 10000);
	for (i = 0; !err && i < WARM_UP + r->messages; i++) {
		if (r->cfg.mode == WAIT_BLOCK)
			nanosleep(&pace, NULL);
		if (i == WARM_UP)
			before = mpkshm_pkru_writes();
		err = send_one(r, ch, peer, payload);
	}
	*writes = mpkshm_pkru_writes() - before;
	if (!err) {
		n = mpkshm_recv(ch, server_writes, sizeof(*server_writes), NULL,
				60000);
		err = n < 0 ? n : n != sizeof(*server_writes) ? -EBADMSG : 0;
	}
	if (!err)
		err = mpkshm_send(ch, peer, "done", 4, 10000);
	mpkshm_close(ch);
	free(payload);
	return err;
}

int main(int argc, char **argv)
{
	struct run r = { .size = 64, .messages = 1000 };
	const char *tname = NULL, *mode = NULL;
	char dir[] = "/tmp/mpkcount.XXXXXX", label[32];
	uint64_t client_writes = 0, server_writes = 0;
	pthread_t thread;
	pid_t pid = -1;
	int opt, err, status;

	while ((opt = getopt(argc, argv, "t:m:k:s:n:")) != -1) {
		switch (opt) {
		case 't': tname = optarg; break;
		case 'm': mode = optarg; break;
		case 'k':
			if (strcmp(optarg, "copy") && strcmp(optarg, "zero"))
				usage();
			r.zero_copy = !strcmp(optarg, "zero");
			break;
		case 's': r.size = strtoull(optarg, NULL, 0); break;
		case 'n': r.messages = (unsigned int)strtoul(optarg, NULL, 0); break;
		default: usage();
		}
	}
	if (!tname || !mode || optind != argc || !r.size || !r.messages)
		usage();
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		if (!strcmp(transports[i]->name, tname))
			r.t = transports[i];
	if (!r.t)
		usage();
	if (!strcmp(mode, "spin"))
		r.cfg.mode = WAIT_SPIN;
	else if (!strcmp(mode, "block"))
		r.cfg.mode = WAIT_BLOCK;
	else
		usage();
	r.cfg.max_message = r.size;
	if (!mkdtemp(dir)) {
		perror("mpkcount: mkdtemp");
		return 1;
	}
	snprintf(r.cfg.dir, sizeof(r.cfg.dir), "%s", dir);
	err = r.t->prepare(&r.cfg, &r.shared);
	if (err) {
		fprintf(stderr, "mpkcount: prepare: %s\n", strerror(-err));
		rmdir(dir);
		return 1;
	}
	if (r.t->flags & T_THREADS) {
		err = -pthread_create(&thread, NULL, server_thread, &r);
	} else {
		pid = fork();
		if (pid == 0)
			_exit(serve_counting(&r) ? 1 : 0);
		err = pid < 0 ? -errno : 0;
	}
	if (!err)
		err = client_counting(&r, &client_writes, &server_writes);
	if (r.t->flags & T_THREADS) {
		pthread_join(thread, NULL);
		if (!err)
			err = r.server_err;
	} else if (pid > 0) {
		waitpid(pid, &status, 0);
		if (!err && !(WIFEXITED(status) && !WEXITSTATUS(status)))
			err = -EPROTO;
	}
	r.t->cleanup(&r.cfg, r.shared);
	rmdir(dir);
	if (err) {
		fprintf(stderr, "mpkcount: %s: %s\n", tname, strerror(-err));
		return 1;
	}
	snprintf(label, sizeof(label), "%s-%s", mode, r.zero_copy ? "zero" : "copy");
	print_row("counts", tname, label, r.size, "pkru_send",
		  (double)client_writes / r.messages);
	print_row("counts", tname, label, r.size, "pkru_recv",
		  (double)server_writes / r.messages);
	return 0;
}
