// SPDX-License-Identifier: GPL-2.0
/*
 * Soak: 16 processes on 8 kernel channels for MPKLINK_SOAK_SECONDS (default
 * 60; "tools/vm --env MPKLINK_SOAK_SECONDS=600 ..." for the ten-minute run,
 * see Documentation/testing.md), through libmpkshm.
 *
 * Each channel has a writer process and a reader process; the channels
 * differ in how they move messages, so that every path stays busy:
 *
 *   0, 4  copies (mpkshm_send/mpkshm_recv), the reader asleep in recv
 *   1, 5  copies, one message in eight split into fragments (up to 2.5
 *         segments)
 *   2, 6  zero copy (reserve/commit, peek/release), both sides sleeping
 *         at once (spin 0), so that every wait is a doorbell
 *   3, 7  copies, the reader waiting in poll() on mpkshm_fd() after
 *         mpkshm_wait_prepare(), as api.md's event loops do
 *
 * Every message carries its channel, a sequence number and a checksum over
 * all of it.  When the time is up each writer sends an end message with its
 * count and closes, waiting until its reader took everything.  Checked:
 * every message arrived intact, once and in order, and nothing was lost;
 * the memory in use stayed flat (see check_flat()); nothing is left after.
 */
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kselftest.h"
#include "mpklink_test.h"
#include "mpkshm.h"

#define CHANNELS	8
#define SEGMENT		(64 * 1024)
#define MAX_MESSAGE	(SEGMENT - 112)		/* api.md, "Sizes" */
/* The largest unsplit message, which needs a pad first mid-ring. */
#define MAX_UNSPLIT	MAX_MESSAGE
#define MAX_SPLIT	(5 * SEGMENT / 2)
#define DEFAULT_SECONDS	60
#define SAMPLE_SECONDS	5
#define GIVE_UP_MS	30000

enum style { COPY, SPLIT, ZERO_COPY, EVENT_LOOP };

static const char *const style_names[] = {
	"copy", "copy, split", "zero copy", "event loop"
};

struct channel {
	char name[MPKLINK_NAME_MAX];
	atomic_int ready;		/* members attached */
	atomic_long sent;
	atomic_long received;
	atomic_long bytes;
	atomic_int corrupt;		/* bad checksum, length or channel */
	atomic_int out_of_order;	/* duplicated, reordered or lost */
	atomic_int error;		/* the first unexpected errno */
	atomic_long end_count;		/* what the end message said */
};

struct shared {
	atomic_int stop;
	struct channel ch[CHANNELS];
};

static struct shared *sh;

struct header {
	uint32_t channel;
	uint32_t len;
	uint64_t seq;			/* 0: the end message */
	uint64_t count;			/* in the end message: messages sent */
	uint64_t sum;
};

static uint64_t checksum(const struct header *h, const uint8_t *payload,
			 size_t len)
{
	uint64_t sum = MPK_FNV_OFFSET;
	size_t i;

	sum = mpk_fnv(sum, h->channel);
	sum = mpk_fnv(sum, h->len);
	sum = mpk_fnv(sum, h->seq);
	sum = mpk_fnv(sum, h->count);
	for (i = 0; i < len; i++)
		sum = mpk_fnv(sum, payload[i]);
	return sum;
}

static size_t message_len(enum style style, uint64_t r)
{
	if (style == SPLIT && r % 8 == 0)	/* more than a record holds */
		return MAX_MESSAGE + 1 + r % (MAX_SPLIT - MAX_MESSAGE - 1);
	if (r % 32 == 1)
		return sizeof(struct header) + r % (MAX_UNSPLIT - sizeof(struct header));
	return sizeof(struct header) + r % 1024;
}

/* Writes message @seq of channel @c into @buf (@len bytes). */
static void fill(uint8_t *buf, size_t len, int c, uint64_t seq, uint64_t count)
{
	struct header *h = (struct header *)buf;
	uint64_t r = mpk_mix64((uint64_t)c << 48 ^ seq);
	size_t i;

	h->channel = c;
	h->len = len;
	h->seq = seq;
	h->count = count;
	for (i = sizeof(*h); i < len; i++)
		buf[i] = r >> (8 * (i % 8));
	h->sum = checksum(h, buf + sizeof(*h), len - sizeof(*h));
}

static void failed(struct channel *ch, int err)
{
	int none = 0;

	atomic_compare_exchange_strong(&ch->error, &none, err ? err : -1);
}

static int open_endpoint(struct channel *ch, enum style style, bool writer,
			 struct mpkshm_channel **out)
{
	struct mpkshm_options o;

	mpkshm_options_init(&o);
	o.flags = MPKSHM_OPEN_SINGLE_THREAD |
		  (writer ? MPKSHM_OPEN_SEND_ONLY : 0);
	o.spin_us = style == ZERO_COPY ? 0 : 50;
	o.close_timeout_ms = GIVE_UP_MS;	/* the end message must arrive */
	return mpkshm_open(ch->name, &o, out);
}

static int writer(int c, enum style style)
{
	struct channel *ch = &sh->ch[c];
	static uint8_t buf[MAX_SPLIT];
	struct mpkshm_channel *ep;
	uint64_t seq = 0;
	size_t len;
	void *p;
	int err;

	err = open_endpoint(ch, style, true, &ep);
	if (err) {
		failed(ch, -err);
		return 1;
	}
	atomic_fetch_add(&ch->ready, 1);
	while (atomic_load(&ch->ready) < 2)
		usleep(1000);
	/* Published only once its reader is in: nothing is sent to nobody. */
	while (!err && !atomic_load(&sh->stop)) {
		seq++;
		len = message_len(style, mpk_mix64(seq ^ (uint64_t)c << 40));
		if (style == ZERO_COPY) {
			err = mpkshm_reserve(ep, len, &p, GIVE_UP_MS);
			if (!err) {
				fill(p, len, c, seq, 0);
				err = mpkshm_commit(ep, len, MPKSHM_TO_ALL);
			}
		} else {
			fill(buf, len, c, seq, 0);
			err = mpkshm_send(ep, MPKSHM_TO_ALL, buf, len, GIVE_UP_MS);
		}
		if (!err) {
			atomic_fetch_add(&ch->sent, 1);
			atomic_fetch_add(&ch->bytes, len);
		}
	}
	if (!err) {
		fill(buf, sizeof(struct header), c, 0, seq);
		err = mpkshm_send(ep, MPKSHM_TO_ALL, buf, sizeof(struct header),
				  GIVE_UP_MS);
	}
	if (!err)
		err = mpkshm_close(ep);
	if (err)
		failed(ch, -err);
	return err ? 1 : 0;
}

/* Checks one message; true while more are to come. */
static bool take(struct channel *ch, int c, const uint8_t *buf, ssize_t n,
		 uint64_t *expect)
{
	const struct header *h = (const struct header *)buf;

	if (n < (ssize_t)sizeof(*h) || h->len != (size_t)n ||
	    h->channel != (uint32_t)c ||
	    h->sum != checksum(h, buf + sizeof(*h), n - sizeof(*h))) {
		atomic_fetch_add(&ch->corrupt, 1);
		return false;
	}
	if (h->seq == 0) {
		atomic_store(&ch->end_count, h->count);
		return false;
	}
	if (h->seq != *expect) {
		atomic_fetch_add(&ch->out_of_order, 1);
		return false;
	}
	(*expect)++;
	atomic_fetch_add(&ch->received, 1);
	return true;
}

static int reader(int c, enum style style)
{
	struct channel *ch = &sh->ch[c];
	static uint8_t buf[MAX_SPLIT];
	struct mpkshm_channel *ep;
	struct mpkshm_msg m;
	uint64_t expect = 1;
	struct pollfd pfd;
	bool more = true;
	ssize_t n;
	int err;

	err = open_endpoint(ch, style, false, &ep);
	if (err) {
		failed(ch, -err);
		return 1;
	}
	atomic_fetch_add(&ch->ready, 1);
	pfd.fd = mpkshm_fd(ep);
	pfd.events = POLLIN;
	while (more) {
		switch (style) {
		case ZERO_COPY:
			err = mpkshm_peek(ep, &m, GIVE_UP_MS);
			if (err)
				break;
			more = take(ch, c, m.data, m.len, &expect);
			err = mpkshm_release(ep, &m);
			break;
		case EVENT_LOOP:
			n = mpkshm_recv(ep, buf, sizeof(buf), NULL, 0);
			if (n >= 0) {
				more = take(ch, c, buf, n, &expect);
				break;
			}
			err = (int)n;
			if (err != -ETIMEDOUT)
				break;
			err = mpkshm_wait_prepare(ep);
			if (err == 0 && poll(&pfd, 1, GIVE_UP_MS) == 0)
				err = -ETIMEDOUT;
			err = err < 0 ? err : 0;
			break;
		default:
			n = mpkshm_recv(ep, buf, sizeof(buf), NULL, GIVE_UP_MS);
			if (n >= 0)
				more = take(ch, c, buf, n, &expect);
			err = n < 0 ? (int)n : 0;
			break;
		}
		if (err) {
			failed(ch, -err);
			break;
		}
	}
	mpkshm_close(ep);
	return err ? 1 : 0;
}

/* --- memory ---------------------------------------------------------------- */

struct sample {
	double at;			/* seconds since the start */
	long mem_available_kb;
	long slab_unreclaimable_kb;
	long module_pages;
	long members;
	long rss_kb;			/* of the 16 processes together */
};

static long meminfo_kb(const char *field)
{
	size_t len = strlen(field);
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':')
			kb = strtol(line + len + 1, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[128];
	FILE *f;
	long kb = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static void take_sample(struct sample *s, double at, const pid_t *pids)
{
	int i;

	s->at = at;
	s->mem_available_kb = meminfo_kb("MemAvailable");
	s->slab_unreclaimable_kb = meminfo_kb("SUnreclaim");
	s->module_pages = mpk_stat("pages");
	s->members = mpk_stat("members");
	s->rss_kb = 0;
	for (i = 0; i < 2 * CHANNELS; i++)
		s->rss_kb += rss_kb(pids[i]);
	ksft_print_msg("%6.1f s: MemAvailable %ld kB, SUnreclaim %ld kB, module pages %ld, members %ld, RSS of the 16 %ld kB\n",
		       at, s->mem_available_kb, s->slab_unreclaimable_kb,
		       s->module_pages, s->members, s->rss_kb);
}

int main(void)
{
	const char *env = getenv("MPKLINK_SOAK_SECONDS");
	long seconds = env && *env ? strtol(env, NULL, 0) : DEFAULT_SECONDS;
	long pages0, members0, channels0, rings0, messages = 0, bytes = 0;
	struct sample samples[1 + 3600 / SAMPLE_SECONDS + 2];
	int dev, c, i, n = 0, first = -1, status;
	long long start, end_at, next_sample, give_up;
	pid_t pids[2 * CHANNELS];
	bool lossless = true, intact = true, clean_exit = true;
	bool pages_constant = true;
	double warmup;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ksft_print_header();
	if (geteuid() != 0 || access(MPKLINK_DEVICE_PATH, R_OK | W_OK))
		ksft_exit_skip("needs root and /dev/mpklink (tools/vm test soak_test)\n");
	if (seconds <= 0 || seconds > 3600)
		seconds = DEFAULT_SECONDS;
	ksft_set_plan(7);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	dev = mpk_dev();
	if (sh == MAP_FAILED || dev < 0)
		ksft_exit_fail_msg("setup: %s\n", strerror(errno));
	pages0 = mpk_stat("pages");
	members0 = mpk_stat("members");
	channels0 = mpk_stat("channels");
	rings0 = mpk_stat("notifications");
	for (c = 0; c < CHANNELS; c++) {
		snprintf(sh->ch[c].name, MPKLINK_NAME_MAX, "soak.%d.%d", getpid(), c);
		if (mpk_create_n(dev, sh->ch[c].name, SEGMENT, 2) ||
		    mpk_grant(dev, sh->ch[c].name, mpk_by_uid(0),
			      MPKLINK_RIGHTS_ALL))
			ksft_exit_fail_msg("cannot create %s\n", sh->ch[c].name);
	}
	ksft_print_msg("16 processes on 8 channels for %ld s (MPKLINK_SOAK_SECONDS)\n",
		       seconds);

	start = mpk_now_ns();
	for (c = 0; c < CHANNELS; c++) {
		pids[2 * c] = fork();
		if (pids[2 * c] == 0)
			_exit(reader(c, c % 4));
		pids[2 * c + 1] = fork();
		if (pids[2 * c + 1] == 0)
			_exit(writer(c, c % 4));
	}

	/*
	 * Memory is compared from the end of a warm-up (every member in, the
	 * library's and the allocator's caches filled) to the end.
	 */
	warmup = seconds < 60 ? seconds / 6.0 : 10;
	end_at = start + seconds * 1000000000LL;
	next_sample = start + (long long)(warmup * 1e9);
	while (mpk_now_ns() < end_at) {
		if (mpk_now_ns() >= next_sample) {
			take_sample(&samples[n], (mpk_now_ns() - start) / 1e9, pids);
			if (first < 0 && samples[n].members == members0 + 2 * CHANNELS)
				first = n;
			n++;
			next_sample += SAMPLE_SECONDS * 1000000000LL;
			if (n == (int)ARRAY_SIZE(samples) - 1)
				next_sample = end_at + 1;
		}
		usleep(100000);
	}
	take_sample(&samples[n++], (mpk_now_ns() - start) / 1e9, pids);
	atomic_store(&sh->stop, 1);

	/* The writers finish their last send and close (readers drain). */
	give_up = mpk_now_ns() + 2LL * GIVE_UP_MS * 1000000;
	for (i = 0; i < 2 * CHANNELS; i++) {
		while (waitpid(pids[i], &status, WNOHANG) == 0) {
			if (mpk_now_ns() > give_up) {
				kill(pids[i], SIGKILL);
				waitpid(pids[i], &status, 0);
				break;
			}
			usleep(10000);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			clean_exit = false;
			ksft_print_msg("%s of channel %d: status %#x\n",
				       i % 2 ? "writer" : "reader", i / 2, status);
		}
	}
	ksft_print_msg("stopped after %.1f s; %ld doorbell rings\n",
		       (mpk_now_ns() - start) / 1e9, mpk_stat("notifications") - rings0);

	for (c = 0; c < CHANNELS; c++) {
		struct channel *ch = &sh->ch[c];
		int err = atomic_load(&ch->error);

		ksft_print_msg("channel %d (%s): %ld sent, %ld received, %ld kB, end message says %ld%s%s\n",
			       c, style_names[c % 4], atomic_load(&ch->sent),
			       atomic_load(&ch->received),
			       atomic_load(&ch->bytes) / 1024,
			       atomic_load(&ch->end_count),
			       err ? ", error " : "",
			       err > 0 ? strerrorname_np(err) ?: "?" :
			       err ? "(check failed)" : "");
		messages += atomic_load(&ch->received);
		bytes += atomic_load(&ch->bytes);
		if (atomic_load(&ch->received) != atomic_load(&ch->sent) ||
		    atomic_load(&ch->end_count) != atomic_load(&ch->sent) ||
		    atomic_load(&ch->out_of_order) || !atomic_load(&ch->sent))
			lossless = false;
		if (atomic_load(&ch->corrupt))
			intact = false;
	}

	ksft_test_result(clean_exit,
			 "16 processes on 8 channels ran %ld s and exited cleanly: %ld messages, %ld MB\n",
			 seconds, messages, bytes >> 20);
	ksft_test_result(clean_exit && lossless,
			 "zero loss: each reader got every message of its writer once, in order, and the count in the end message\n");
	ksft_test_result(intact,
			 "every message's length, channel and checksum verified\n");

	/*
	 * Flat: channel pages are allocated at attach only, so the module's
	 * page count may not move at all.  The rest moves a little with the
	 * system (per-CPU caches, the console): over the measured window the
	 * guests drifted by at most 8 kB of slab and 240 kB of MemAvailable,
	 * in one-minute and ten-minute runs alike.  The tolerances are a few
	 * times that, and small against what a leak would add: a minute
	 * moves at least 600,000 messages and two million doorbell rings, so
	 * one 64-byte object lost per 70 messages or per 250 rings exceeds
	 * the slab's 512 kB (Documentation/testing.md).
	 */
#define SLAB_TOLERANCE_KB	512
#define MEM_TOLERANCE_KB	2048
#define RSS_TOLERANCE_KB	512
	if (first < 0) {
		ksft_test_result_fail("kernel memory flat: the members never all got in\n");
		ksft_test_result_fail("processes' memory flat: no baseline\n");
		ksft_test_result_fail("module pages constant: no baseline\n");
	} else {
		struct sample *a = &samples[first], *b = &samples[n - 1];
		long slab = b->slab_unreclaimable_kb - a->slab_unreclaimable_kb;
		long avail = a->mem_available_kb - b->mem_available_kb;
		long rss = b->rss_kb - a->rss_kb;

		for (i = first; i < n; i++)
			if (samples[i].module_pages != a->module_pages)
				pages_constant = false;
		if (mpk_debug_kernel())
			ksft_test_result_skip("a debug kernel: the sanitizer's quarantine grows the slab and kmemleak reports leaks (slab %+ld kB, MemAvailable %+ld kB)\n",
					      slab, -avail);
		else
			ksft_test_result(slab <= SLAB_TOLERANCE_KB &&
					 avail <= MEM_TOLERANCE_KB,
					 "kernel memory flat from %.0f s to %.0f s: unreclaimable slab %+ld kB (at most +%d), MemAvailable %+ld kB (at most -%d)\n",
					 a->at, b->at, slab, SLAB_TOLERANCE_KB, -avail,
					 MEM_TOLERANCE_KB);
		ksft_test_result(rss <= RSS_TOLERANCE_KB,
				 "the 16 processes' memory flat: RSS %+ld kB (at most +%d)\n",
				 rss, RSS_TOLERANCE_KB);
		ksft_test_result(pages_constant,
				 "the module's page count stayed at %ld while the channels were in use\n",
				 a->module_pages);
	}

	for (c = 0; c < CHANNELS; c++)
		mpk_destroy(dev, sh->ch[c].name);
	close(dev);
	ksft_test_result(mpk_stat("members") == 0 && members0 == 0 &&
			 mpk_stat("channels") == channels0 &&
			 mpk_stat("pages") == pages0,
			 "nothing left: %ld members (0), %ld channels (%ld), %ld pages (%ld)\n",
			 mpk_stat("members"), mpk_stat("channels"), channels0,
			 mpk_stat("pages"), pages0);
	ksft_finished();
}
