// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * wc_server: the WordCount service of wordcount.proto over an MPKLink
 * channel.  What differs from a gRPC service is main(): open a channel
 * instead of a port.  The method is a protoc-c service function, as it
 * would be for any protobuf-c transport.
 *
 * usage: wc_server [-b kernel|memfd] [-n CALLS] CHANNEL
 *
 * With -n it stops after that many calls; otherwise at SIGINT or SIGTERM.
 * On a signed channel it says who called, from the key the kernel
 * verified.
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wordcount.mpkshm.h"

static struct mpkrpc_server *server;
static long calls_left = -1;
static int verbose;

static void wordcount_count(Wordcount__WordCount_Service *service,
			    const Wordcount__Text *in,
			    Wordcount__Words_Closure closure, void *closure_data)
{
	Wordcount__Words out = WORDCOUNT__WORDS__INIT;
	int in_word = 0;
	size_t i;

	(void)service;
	for (i = 0; i < in->text.len; i++) {
		int space = isspace(in->text.data[i]);

		out.words += in_word && space;
		in_word = !space;
	}
	out.words += in_word;
	if (verbose) {
		const struct mpkrpc_caller *who = mpkrpc_server_caller(closure_data);

		fprintf(stderr, "wc_server: %zu bytes from member %llu (uid %u%s)\n",
			in->text.len, (unsigned long long)who->member_id,
			(unsigned int)who->uid,
			who->authenticated ? ", signed" : "");
	}
	closure(&out, closure_data);
	if (calls_left > 0 && --calls_left == 0)
		mpkrpc_server_stop(server);
}

static Wordcount__WordCount_Service word_count = WORDCOUNT__WORD_COUNT__INIT(wordcount_);

static void stop(int sig)
{
	(void)sig;
	mpkrpc_server_stop(server);
}

int main(int argc, char **argv)
{
	struct mpkshm_options opts;
	struct mpkshm_channel *ch;
	int opt, err;

	mpkshm_options_init(&opts);
	while ((opt = getopt(argc, argv, "b:n:v")) != -1) {
		switch (opt) {
		case 'b':
			opts.backend = !strcmp(optarg, "memfd") ?
				       MPKSHM_BACKEND_MEMFD : MPKSHM_BACKEND_KERNEL;
			opts.flags |= opts.backend == MPKSHM_BACKEND_MEMFD ?
				      MPKSHM_OPEN_CREATE : 0;
			break;
		case 'n':
			calls_left = strtol(optarg, NULL, 10);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	opts.secret_key_path = getenv("MPKSHM_SECRET_KEY");
	err = mpkshm_open(argv[optind], &opts, &ch);
	if (!err)
		err = mpkrpc_server_new(ch, &server);
	if (!err)
		err = wordcount__word_count__serve(server, &word_count);
	if (err) {
		fprintf(stderr, "wc_server: %s: %s\n", argv[optind],
			mpkshm_strerror(err));
		return 1;
	}
	signal(SIGINT, stop);
	signal(SIGTERM, stop);
	printf("serving %s (%s)\n", argv[optind], mpkshm_protection_string(ch));
	fflush(stdout);
	err = mpkrpc_serve(server);
	mpkrpc_server_free(server);
	mpkshm_close(ch);
	if (err) {
		fprintf(stderr, "wc_server: %s\n", mpkshm_strerror(err));
		return 1;
	}
	return 0;

usage:
	fprintf(stderr, "usage: wc_server [-b kernel|memfd] [-n CALLS] [-v] CHANNEL\n");
	return 2;
}
