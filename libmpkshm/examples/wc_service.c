// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * A word-count service and its client: the service of Documentation/api.md
 * ("In twenty lines") as a whole program, built the way a user builds one:
 *
 *   cc wc_service.c $(pkg-config --cflags --libs mpkshm) -o wc_service
 *
 * usage: wc_service [-b kernel|memfd] [-n REQUESTS] serve CHANNEL
 *        wc_service [-b kernel|memfd] count CHANNEL < TEXT
 *
 * serve answers each request with the number of words in it (runs of bytes
 * that are not white space, as wc -w counts them in the C locale) and stops
 * after REQUESTS requests (default: never).  It prints "serving CHANNEL"
 * when clients can call.  count sends its standard input as one request and
 * prints the count.
 *
 * kernel (the default): the channel is the administrator's, and must grant
 * both programs read and write.  memfd: serve creates the channel, count
 * joins it; both must run as the same user, and nothing protects the
 * channel from that user's other processes (Documentation/api.md).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpkshm.h>

#define TEXT_MAX	(64u << 20)
#define CALL_TIMEOUT_MS	10000

struct service {
	struct mpkshm_channel *ch;
	unsigned long served;
	unsigned long limit;		/* 0: no limit */
};

static uint64_t count_words(const unsigned char *p, size_t len)
{
	uint64_t words = 0;
	bool in_word = false;
	size_t i;

	for (i = 0; i < len; i++) {
		bool space = isspace(p[i]);

		words += !space && !in_word;
		in_word = !space;
	}
	return words;
}

static int handle(void *arg, struct mpkshm_request *req)
{
	struct service *svc = arg;
	uint64_t words = count_words(req->data, req->len);
	int err;

	err = mpkshm_reply(svc->ch, req, &words, sizeof(words));
	if (err)
		return err;
	if (svc->limit && ++svc->served == svc->limit)
		mpkshm_serve_stop(svc->ch);
	return 0;
}

static int serve(const char *name, struct mpkshm_options *o,
		 unsigned long limit)
{
	struct service svc = { .limit = limit };
	int err;

	if (o->backend == MPKSHM_BACKEND_MEMFD)
		o->flags |= MPKSHM_OPEN_CREATE;
	err = mpkshm_open(name, o, &svc.ch);
	if (err) {
		fprintf(stderr, "wc_service: %s: %s\n", name, mpkshm_strerror(err));
		return 1;
	}
	printf("serving %s (%s)\n", name, mpkshm_protection_string(svc.ch));
	fflush(stdout);
	err = mpkshm_serve(svc.ch, handle, &svc);
	if (err)
		fprintf(stderr, "wc_service: serving %s: %s\n", name,
			mpkshm_strerror(err));
	mpkshm_close(svc.ch);
	return err ? 1 : 0;
}

/* Reads all of @fd into a new buffer; its length goes to *@len. */
static int read_all(int fd, unsigned char **out, size_t *len)
{
	size_t used = 0, room = 1 << 16;
	unsigned char *buf = malloc(room), *bigger;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (used == room) {
			if (room >= TEXT_MAX) {
				free(buf);
				return -EFBIG;
			}
			room *= 2;
			bigger = realloc(buf, room);
			if (!bigger) {
				free(buf);
				return -ENOMEM;
			}
			buf = bigger;
		}
		n = read(fd, buf + used, room - used);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			free(buf);
			return (int)n;
		}
		used += (size_t)n;
	}
	*out = buf;
	*len = used;
	return 0;
}

static int count(const char *name, const struct mpkshm_options *o)
{
	struct mpkshm_channel *ch = NULL;
	unsigned char *text = NULL;
	uint64_t server, words;
	size_t len = 0, got = 0;
	int err;

	err = read_all(STDIN_FILENO, &text, &len);
	if (err) {
		fprintf(stderr, "wc_service: standard input: %s\n", strerror(-err));
		return 1;
	}
	err = mpkshm_open(name, o, &ch);
	if (!err)
		err = mpkshm_find_peer(ch, &server, CALL_TIMEOUT_MS);
	if (!err)
		err = mpkshm_call(ch, server, text, len, &words, sizeof(words),
				  &got, CALL_TIMEOUT_MS);
	if (!err && got != sizeof(words))
		err = -EPROTO;
	if (err)
		fprintf(stderr, "wc_service: %s: %s\n", name, mpkshm_strerror(err));
	else
		printf("%" PRIu64 "\n", words);
	if (ch)
		mpkshm_close(ch);
	free(text);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct mpkshm_options o;
	unsigned long limit = 0;
	char *end;
	int opt;

	mpkshm_options_init(&o);
	while ((opt = getopt(argc, argv, "b:n:")) != -1) {
		switch (opt) {
		case 'b':
			if (!strcmp(optarg, "kernel"))
				o.backend = MPKSHM_BACKEND_KERNEL;
			else if (!strcmp(optarg, "memfd"))
				o.backend = MPKSHM_BACKEND_MEMFD;
			else
				goto usage;
			break;
		case 'n':
			errno = 0;
			limit = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind + 2 != argc)
		goto usage;
	if (!strcmp(argv[optind], "serve"))
		return serve(argv[optind + 1], &o, limit);
	if (!strcmp(argv[optind], "count"))
		return count(argv[optind + 1], &o);
usage:
	fprintf(stderr,
		"usage: %s [-b kernel|memfd] [-n REQUESTS] serve CHANNEL\n"
		"       %s [-b kernel|memfd] count CHANNEL < TEXT\n",
		argv[0], argv[0]);
	return 2;
}
