// SPDX-License-Identifier: GPL-2.0
/*
 * wc_client: asks the word-count service how many words a file holds.
 *
 *	mpkshm_open(channel, &options, &ch);
 *	mpkshm_find_peer(ch, &server, timeout);
 *	mpkshm_call(ch, server, text, len, &words, sizeof(words), NULL, timeout);
 *
 * usage: wc_client [-b kernel|memfd] CHANNEL FILE
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mpkshm.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct mpkshm_channel *ch;
	struct mpkshm_options o;
	uint64_t server, words;
	struct stat st;
	double start;
	void *text;
	int fd, err, a = 1;

	mpkshm_options_init(&o);
	if (argc == 5 && !strcmp(argv[1], "-b")) {
		o.backend = !strcmp(argv[2], "memfd") ? MPKSHM_BACKEND_MEMFD :
			    MPKSHM_BACKEND_KERNEL;
		a = 3;
	}
	if (argc - a != 2) {
		fprintf(stderr, "usage: wc_client [-b kernel|memfd] CHANNEL FILE\n");
		return 2;
	}
	fd = open(argv[a + 1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[a + 1]);
		return 1;
	}
	text = mmap(NULL, st.st_size ? st.st_size : 1, PROT_READ, MAP_PRIVATE,
		    fd, 0);
	close(fd);
	if (text == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	err = mpkshm_open(argv[a], &o, &ch);
	if (err) {
		fprintf(stderr, "wc_client: %s: %s\n", argv[a], mpkshm_strerror(err));
		return 1;
	}
	err = mpkshm_find_peer(ch, &server, 5000);
	start = now_ms();
	if (!err)
		err = mpkshm_call(ch, server, text, st.st_size, &words,
				  sizeof(words), NULL, 10000);
	if (err) {
		fprintf(stderr, "wc_client: %s\n", mpkshm_strerror(err));
		mpkshm_close(ch);
		return 1;
	}
	printf("%s: %llu words, counted by member %llu in %.3f ms\n",
	       argv[a + 1], (unsigned long long)words,
	       (unsigned long long)server, now_ms() - start);
	mpkshm_close(ch);
	return 0;
}
