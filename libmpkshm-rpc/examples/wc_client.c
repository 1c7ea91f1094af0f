// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * wc_client: counts the words of a file with the WordCount service.  The
 * call is one generated line, wordcount__word_count__count_call(); only
 * finding the server differs from a gRPC client's main.
 *
 * usage: wc_client [-b kernel|memfd] CHANNEL FILE
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wordcount.mpkshm.h"

int main(int argc, char **argv)
{
	Wordcount__Text text = WORDCOUNT__TEXT__INIT;
	Wordcount__Words *words = NULL;
	struct mpkshm_options opts;
	struct mpkshm_channel *ch;
	struct mpkrpc_client *client;
	uint64_t server;
	struct stat st;
	void *map = NULL;
	int opt, fd, err, status;

	mpkshm_options_init(&opts);
	while ((opt = getopt(argc, argv, "b:")) != -1) {
		if (opt != 'b')
			goto usage;
		opts.backend = !strcmp(optarg, "memfd") ?
			       MPKSHM_BACKEND_MEMFD : MPKSHM_BACKEND_KERNEL;
	}
	if (optind != argc - 2)
		goto usage;
	fd = open(argv[optind + 1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[optind + 1]);
		return 1;
	}
	if (st.st_size) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
	}
	text.text.data = map;
	text.text.len = (size_t)st.st_size;

	opts.secret_key_path = getenv("MPKSHM_SECRET_KEY");
	err = mpkshm_open(argv[optind], &opts, &ch);
	if (!err)
		err = mpkshm_find_peer(ch, &server, 5000);
	if (!err)
		err = wordcount__word_count__client_new(ch, server, &client);
	if (err) {
		fprintf(stderr, "wc_client: %s: %s\n", argv[optind],
			mpkshm_strerror(err));
		return 1;
	}
	status = wordcount__word_count__count_call(client, &text, &words, 10000);
	if (status != MPKRPC_OK) {
		fprintf(stderr, "wc_client: Count: %s (%s) %s\n",
			mpkrpc_status_name(status), mpkrpc_strerror(status),
			mpkrpc_client_last_message());
		return 1;
	}
	printf("%llu\n", (unsigned long long)words->words);
	wordcount__words__free_unpacked(words, NULL);
	mpkrpc_client_free(client);
	mpkshm_close(ch);
	return 0;

usage:
	fprintf(stderr, "usage: wc_client [-b kernel|memfd] CHANNEL FILE\n");
	return 2;
}
