// SPDX-License-Identifier: GPL-2.0
/*
 * wc_server: the word-count service.  Receives a text, replies with the
 * number of words in it.  This is the whole service:
 *
 *	mpkshm_open(channel, &options, &ch);
 *	mpkshm_serve(ch, count_words, ch);
 *
 * usage: wc_server [-b kernel|memfd] [-n REQUESTS] CHANNEL
 *        wc_server [-b kernel|memfd] --stray-write CHANNEL
 *
 * With -n it exits after that many requests; otherwise at SIGINT or
 * SIGTERM.  --stray-write shows what protection keys are for: the service
 * keeps a pointer into channel memory past the end of its window and
 * writes through it, as a buggy or compromised service would.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpkshm.h>

static struct mpkshm_channel *channel;
static long requests_left = -1;

static int count_words(void *arg, struct mpkshm_request *req)
{
	const unsigned char *text = req->data;
	uint64_t words = 0;
	int in_word = 0, err;

	for (size_t i = 0; i < req->len; i++) {
		int space = isspace(text[i]);

		words += in_word && space;
		in_word = !space;
	}
	words += in_word;
	err = mpkshm_reply(arg, req, &words, sizeof(words));
	if (requests_left > 0 && --requests_left == 0)
		mpkshm_serve_stop(arg);
	return err;
}

static void stop(int sig)
{
	(void)sig;
	mpkshm_serve_stop(channel);	/* an atomic store and a doorbell */
}

static void report_fault(int sig, siginfo_t *si, void *uc)
{
	char msg[160];
	int n;

	(void)sig;
	(void)uc;
	n = snprintf(msg, sizeof(msg),
		     "wc_server: the stray write to %p faulted: %s, protection key %d\n",
		     si->si_addr,
		     si->si_code == SEGV_PKUERR ? "SEGV_PKUERR" : "another SIGSEGV",
		     si->si_code == SEGV_PKUERR ? (int)si->si_pkey : -1);
	if (write(2, msg, (size_t)n) < 0)
		_exit(3);
	_exit(3);
}

/* A pointer kept from an earlier reservation: valid memory, closed key. */
static int stray_write(struct mpkshm_channel *ch)
{
	struct sigaction sa = { .sa_sigaction = report_fault,
				.sa_flags = SA_SIGINFO };
	volatile char *kept;
	void *buf;
	int err;

	err = mpkshm_reserve(ch, 64, &buf, 1000);
	if (err)
		return err;
	memcpy(buf, "draft", 5);
	mpkshm_abandon(ch);	/* the window closes; the pointer stays */
	kept = buf;
	sigaction(SIGSEGV, &sa, NULL);
	fprintf(stderr, "wc_server: writing through a pointer into channel memory, outside the library...\n");
	*kept = 'X';
	fprintf(stderr, "wc_server: the write went through: %s\n",
		mpkshm_protection_string(ch));
	return 4;
}

int main(int argc, char **argv)
{
	struct mpkshm_options o;
	int i, err, stray = 0;

	mpkshm_options_init(&o);
	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "-b") && i + 1 < argc - 1) {
			i++;
			o.backend = !strcmp(argv[i], "memfd") ?
				    MPKSHM_BACKEND_MEMFD : MPKSHM_BACKEND_KERNEL;
		} else if (!strcmp(argv[i], "-n") && i + 1 < argc - 1) {
			requests_left = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--stray-write")) {
			stray = 1;
		} else {
			break;
		}
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: wc_server [-b kernel|memfd] [-n REQUESTS] [--stray-write] CHANNEL\n");
		return 2;
	}
	if (o.backend == MPKSHM_BACKEND_MEMFD)
		o.flags |= MPKSHM_OPEN_CREATE;
	err = mpkshm_open(argv[i], &o, &channel);
	if (err) {
		fprintf(stderr, "wc_server: %s: %s\n", argv[i], mpkshm_strerror(err));
		return 1;
	}
	fprintf(stderr, "wc_server: serving %s (%s)\n", argv[i],
		mpkshm_protection_string(channel));
	if (stray)
		return stray_write(channel);
	signal(SIGINT, stop);
	signal(SIGTERM, stop);
	err = mpkshm_serve(channel, count_words, channel);
	mpkshm_close(channel);
	if (err) {
		fprintf(stderr, "wc_server: %s\n", mpkshm_strerror(err));
		return 1;
	}
	return 0;
}
