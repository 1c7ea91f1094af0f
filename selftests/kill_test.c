// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection: a peer SIGKILLed at a random point of a transfer over a
 * kernel channel, a thousand times (MPKLINK_KILL_TRIALS).
 *
 * Each trial forks two processes that open one channel through libmpkshm
 * and transfer checksummed, numbered messages until one of them is killed.
 * The trials take turns:
 *
 *   writer killed   the reader notices when the writer is no longer a
 *                   member (it waits as api.md's event loops do: receive
 *                   with timeout 0, mpkshm_wait_prepare(), poll)
 *   reader killed   the writer, which sends to the reader's member id, gets
 *                   EPIPE, however it was waiting (for space or not at all)
 *   server killed   the client's mpkshm_call() gets ECONNRESET; requests
 *                   and replies include messages split into fragments
 *
 * The parent kills the victim a random time (0 to 20 ms) after the transfer
 * got going.  Checked: the survivor notices within 100 ms of the kill; no
 * message is ever corrupted, duplicated, reordered or lost while both live
 * (every message carries the trial, a sequence number and a checksum); the
 * channel has no member once both are gone; and at the end the module's
 * counters are back where they were.
 */
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kselftest.h"
#include "mpklink_test.h"
#include "mpkshm.h"

#define DEFAULT_TRIALS	1000
#define SEGMENT		(16 * 1024)
#define MAX_MESSAGE	(SEGMENT - 112)		/* api.md, "Sizes" */
/* The largest unsplit message, which needs a pad first mid-ring. */
#define MAX_UNSPLIT	MAX_MESSAGE
#define MAX_CALL	(3 * SEGMENT)		/* split into fragments */
#define DEADLINE_MS	100
#define GIVE_UP_MS	5000

enum mode { KILL_WRITER, KILL_READER, KILL_SERVER, NR_MODES };

static const char *const mode_names[] = { "writer", "reader", "server" };

/* What a survivor saw. */
enum outcome {
	RUNNING,
	DETECTED,		/* the peer's death, as the mode expects */
	CORRUPT,		/* not the message due, byte for byte */
	OUT_OF_ORDER,		/* duplicated, reordered or lost */
	FAILED,			/* an error other than the peer's death */
	TIMED_OUT,		/* nothing for GIVE_UP_MS */
};

static const char *const outcome_names[] = {
	"still running", "noticed", "corrupt message",
	"duplicated, reordered or lost message", "unexpected error",
	"no sign of the death",
};

struct trial {
	int index;
	enum mode mode;
	unsigned int spin_us;		/* the library's spin before sleeping */
	unsigned int reader_pause_us;	/* makes the writer wait for space */
	atomic_ullong reader_id;	/* member ids, published on open */
	atomic_ullong writer_id;
	atomic_long progress;		/* messages or calls done */
	atomic_llong detect_ns;
	atomic_int outcome;
	atomic_int error;
	atomic_long checked;
	char what[160];			/* what was wrong with a message */
};

struct shared {
	char name[MPKLINK_NAME_MAX];
	struct trial trial;
};

static struct shared *sh;

struct header {
	uint32_t trial;
	uint32_t len;			/* of the whole message */
	uint64_t seq;
	uint64_t sum;
};

/* FNV-1a over the header's fields and the payload. */
static uint64_t checksum(const struct header *h, const uint8_t *payload,
			 size_t len)
{
	uint64_t sum = MPK_FNV_OFFSET;
	size_t i;

	sum = mpk_fnv(sum, h->trial);
	sum = mpk_fnv(sum, h->len);
	sum = mpk_fnv(sum, h->seq);
	for (i = 0; i < len; i++)
		sum = mpk_fnv(sum, payload[i]);
	return sum;
}

/*
 * Message @seq of trial @trial: mostly small, some as large as one record
 * carries, and with @split, some split into fragments.
 */
static size_t build(uint8_t *buf, uint32_t trial, uint64_t seq, bool split)
{
	uint64_t r = mpk_mix64((uint64_t)trial << 32 ^ seq);
	struct header *h = (struct header *)buf;
	size_t len, i;

	switch (r % 16) {
	case 0:
		len = MAX_UNSPLIT;	/* fills the ring soonest */
		break;
	case 1:
	case 2:
		len = sizeof(*h) + r % (MAX_UNSPLIT - sizeof(*h));
		break;
	case 3:
		if (split) {
			len = MAX_MESSAGE + 1 + r % (MAX_CALL - MAX_MESSAGE);
			break;
		}
		__attribute__((fallthrough));
	default:
		len = sizeof(*h) + r % 512;
		break;
	}
	h->trial = trial;
	h->len = len;
	h->seq = seq;
	for (i = sizeof(*h); i < len; i++)
		buf[i] = mpk_mix64(r + i);
	h->sum = checksum(h, buf + sizeof(*h), len - sizeof(*h));
	return len;
}

/* Checks a received message: 0, or the outcome it amounts to. */
/*
 * Checks that @buf is message @seq, byte for byte: RUNNING, or the outcome
 * it amounts to, described in the trial for the log.
 */
static enum outcome verify(const uint8_t *buf, ssize_t n, uint64_t seq,
			   bool split)
{
	static uint8_t want[MAX_CALL];
	const struct header *h = (const struct header *)buf;
	struct trial *tr = &sh->trial;
	size_t len = build(want, tr->index, seq, split), bad, zeros;

	if ((size_t)n == len && !memcmp(buf, want, len)) {
		atomic_fetch_add(&tr->checked, 1);
		return RUNNING;
	}
	if (n >= (ssize_t)sizeof(*h) && h->len == (size_t)n &&
	    h->trial == (uint32_t)tr->index &&
	    h->sum == checksum(h, buf + sizeof(*h), n - sizeof(*h))) {
		snprintf(tr->what, sizeof(tr->what),
			 "an intact message %llu where %llu was due",
			 (unsigned long long)h->seq, (unsigned long long)seq);
		return OUT_OF_ORDER;
	}
	for (bad = 0; bad < (size_t)n && bad < len && buf[bad] == want[bad]; bad++)
		;
	for (zeros = bad; zeros < (size_t)n && !buf[zeros]; zeros++)
		;
	snprintf(tr->what, sizeof(tr->what),
		 "message %llu: %zd bytes (%zu due), wrong from byte %zu on%s",
		 (unsigned long long)seq, n, len, bad,
		 zeros == (size_t)n ? ", all zeros from there" : "");
	return CORRUPT;
}

static void finish(enum outcome outcome, int error)
{
	struct trial *tr = &sh->trial;

	atomic_store(&tr->detect_ns, mpk_now_ns());
	atomic_store(&tr->error, error);
	atomic_store(&tr->outcome, outcome);
}

static int open_endpoint(unsigned int flags, struct mpkshm_channel **ch)
{
	struct mpkshm_options o;

	mpkshm_options_init(&o);
	o.flags = MPKSHM_OPEN_SINGLE_THREAD | flags;
	o.spin_us = sh->trial.spin_us;
	o.close_timeout_ms = 0;
	return mpkshm_open(sh->name, &o, ch);
}

/* Publishes this endpoint's member id in @mine and waits for the peer's. */
static int meet(struct mpkshm_channel *ch, atomic_ullong *mine,
		atomic_ullong *theirs, uint64_t *peer)
{
	long long give_up = mpk_now_ns() + GIVE_UP_MS * 1000000LL;
	struct mpkshm_info info;
	int err = mpkshm_info(ch, &info);

	if (err)
		return err;
	atomic_store(mine, info.member_id);
	while (!(*peer = atomic_load(theirs))) {
		if (mpk_now_ns() > give_up)
			return -ETIMEDOUT;
		usleep(50);
	}
	return 0;
}

static bool is_member(struct mpkshm_channel *ch, uint64_t id)
{
	struct mpkshm_member m[MPKLINK_MAX_MEMBERS];
	int n = mpkshm_members(ch, m, MPKLINK_MAX_MEMBERS), i;

	for (i = 0; i < n; i++)
		if (m[i].member_id == id)
			return true;
	return n < 0;	/* cannot tell: not a sign of death */
}

/*
 * Reads the stream until the writer is no longer a member.  The waiting is
 * api.md's event loop: a receive only when something is there, then
 * mpkshm_wait_prepare() and poll() on the endpoint's fd, which the kernel
 * makes readable when a member leaves.
 */
static int reader(void)
{
	struct trial *tr = &sh->trial;
	static uint8_t buf[MAX_UNSPLIT];
	struct mpkshm_channel *ch;
	uint64_t writer, seq = 1;
	struct pollfd pfd;
	enum outcome bad;
	ssize_t n;
	int err;

	err = open_endpoint(0, &ch);
	if (!err)
		err = meet(ch, &tr->reader_id, &tr->writer_id, &writer);
	if (err) {
		finish(FAILED, -err);
		return 1;
	}
	pfd.fd = mpkshm_fd(ch);
	pfd.events = POLLIN;
	for (;;) {
		n = mpkshm_recv(ch, buf, sizeof(buf), NULL, 0);
		if (n >= 0) {
			bad = verify(buf, n, seq++, false);
			if (bad) {
				finish(bad, 0);
				return 1;
			}
			atomic_fetch_add(&tr->progress, 1);
			if (tr->reader_pause_us && seq % 8 == 0)
				usleep(tr->reader_pause_us);
			continue;
		}
		if (n != -ETIMEDOUT) {
			finish(FAILED, (int)-n);
			return 1;
		}
		err = mpkshm_wait_prepare(ch);
		if (err < 0) {
			finish(FAILED, -err);
			return 1;
		}
		if (err == 1)
			continue;
		/* Asleep from here on: anything that happens wakes the fd. */
		if (!is_member(ch, writer))
			break;
		if (poll(&pfd, 1, GIVE_UP_MS) == 0) {
			finish(TIMED_OUT, 0);
			return 1;
		}
	}
	finish(DETECTED, 0);
	mpkshm_close(ch);
	return 0;
}

/* Sends to the reader until it is gone (EPIPE). */
static int writer(void)
{
	struct trial *tr = &sh->trial;
	static uint8_t buf[MAX_UNSPLIT];
	struct mpkshm_channel *ch;
	uint64_t reader_id, seq;
	int err;

	err = open_endpoint(MPKSHM_OPEN_SEND_ONLY, &ch);
	if (!err)
		err = meet(ch, &tr->writer_id, &tr->reader_id, &reader_id);
	for (seq = 1; !err; seq++)
		err = mpkshm_send(ch, reader_id, buf,
				  build(buf, tr->index, seq, false),
				  GIVE_UP_MS);
	finish(err == -EPIPE ? DETECTED : err == -ETIMEDOUT ? TIMED_OUT : FAILED,
	       -err);
	mpkshm_close(ch);
	return err == -EPIPE ? 0 : 1;
}

static int echo(void *arg, struct mpkshm_request *req)
{
	return mpkshm_reply(arg, req, req->data, req->len);
}

static int server(void)
{
	struct trial *tr = &sh->trial;
	struct mpkshm_channel *ch;
	uint64_t client;
	int err;

	err = open_endpoint(0, &ch);
	if (!err)
		err = meet(ch, &tr->writer_id, &tr->reader_id, &client);
	if (!err)
		err = mpkshm_serve(ch, echo, ch);
	/* Killed while serving: reaching here at all is a failure. */
	finish(FAILED, -err);
	return 1;
}

/* Calls the server until it is gone (ECONNRESET). */
static int client(void)
{
	struct trial *tr = &sh->trial;
	static uint8_t req[MAX_CALL], resp[MAX_CALL];
	struct mpkshm_channel *ch;
	uint64_t server_id, seq;
	enum outcome bad;
	size_t len, got;
	int err;

	err = open_endpoint(0, &ch);
	if (!err)
		err = meet(ch, &tr->reader_id, &tr->writer_id, &server_id);
	for (seq = 1; !err; seq++) {
		len = build(req, tr->index, seq, true);
		err = mpkshm_call(ch, server_id, req, len, resp, sizeof(resp),
				  &got, GIVE_UP_MS);
		if (err)
			break;
		bad = verify(resp, got, seq, true);
		if (bad) {
			finish(bad, 0);
			return 1;
		}
		atomic_fetch_add(&tr->progress, 1);
	}
	finish(err == -ECONNRESET ? DETECTED :
	       err == -ETIMEDOUT ? TIMED_OUT : FAILED, -err);
	mpkshm_close(ch);
	return err == -ECONNRESET ? 0 : 1;
}

/* How many members the channel has (-1: cannot tell). */
static int channel_members(int dev)
{
	struct mpklink_listing list = {
		.size = sizeof(list),
		.entry_size = sizeof(struct mpklink_member_info),
	};

	snprintf(list.name, sizeof(list.name), "%s", sh->name);
	if (ioctl(dev, MPKLINK_IOC_MEMBERS, &list))
		return -1;
	return list.count;
}

struct results {
	long trials[NR_MODES];
	long setup_failures;		/* never got going, or died unkilled */
	long missed;			/* survivors that did not notice */
	long late;			/* noticed after DEADLINE_MS */
	long corrupt;
	long leftovers;			/* trials leaving a member behind */
	long long *latency_ns;
	long measured;
	long messages;
};

static void report_trial(struct results *res, int i, const char *what)
{
	if (res->setup_failures + res->missed + res->corrupt + res->leftovers +
	    res->late > 10)
		return;		/* the first few say enough */
	ksft_print_msg("trial %d (%s killed): %s\n", i,
		       mode_names[sh->trial.mode], what);
}

/* Waits for @pid up to @ms; kills it if it is still there. Its status. */
static int wait_or_kill(pid_t pid, int ms)
{
	long long give_up = mpk_now_ns() + ms * 1000000LL;
	int status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (mpk_now_ns() > give_up) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(200);
	}
	return status;
}

static void run_trial(int i, uint64_t seed, int dev, struct results *res)
{
	struct trial *tr = &sh->trial;
	uint64_t r = mpk_mix64(seed + i);
	pid_t victim, survivor;
	long long give_up, kill_ns, delay_us;
	int status, members;
	enum outcome outcome;

	memset(tr, 0, sizeof(*tr));
	tr->index = i;
	tr->mode = i % NR_MODES;
	tr->spin_us = r & 1 ? 0 : 50;
	tr->reader_pause_us = r & 2 ? 0 : 50 + r % 500;
	res->trials[tr->mode]++;

	victim = fork();
	if (victim == 0)
		_exit(tr->mode == KILL_WRITER ? writer() :
		      tr->mode == KILL_READER ? reader() : server());
	survivor = fork();
	if (survivor == 0)
		_exit(tr->mode == KILL_WRITER ? reader() :
		      tr->mode == KILL_READER ? writer() : client());

	/* Under way: a message or call went through, and nobody failed. */
	give_up = mpk_now_ns() + GIVE_UP_MS * 1000000LL;
	while (atomic_load(&tr->progress) == 0 &&
	       atomic_load(&tr->outcome) == RUNNING && mpk_now_ns() < give_up)
		usleep(100);
	if (atomic_load(&tr->progress) == 0 || atomic_load(&tr->outcome)) {
		res->setup_failures++;
		report_trial(res, i, "the transfer never got going");
		ksft_print_msg("  %s, error %s, %ld done\n",
			       outcome_names[atomic_load(&tr->outcome)],
			       strerrorname_np(atomic_load(&tr->error)) ?: "none",
			       atomic_load(&tr->progress));
		kill(victim, SIGKILL);
		kill(survivor, SIGKILL);
		waitpid(victim, NULL, 0);
		waitpid(survivor, NULL, 0);
		return;
	}

	/* A random point: right away, mid-stream, or with the ring full. */
	delay_us = (r >> 8) % (r & 4 ? 2000 : 20000);
	usleep(delay_us);
	kill_ns = mpk_now_ns();
	kill(victim, SIGKILL);
	waitpid(victim, &status, 0);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		res->setup_failures++;
		report_trial(res, i, "the victim ended before it was killed");
	}

	status = wait_or_kill(survivor, 2 * GIVE_UP_MS);
	outcome = atomic_load(&tr->outcome);
	res->messages += atomic_load(&tr->checked);
	if (outcome == DETECTED && status == 0) {
		long long ns = atomic_load(&tr->detect_ns) - kill_ns;

		res->latency_ns[res->measured++] = ns;
		if (ns > DEADLINE_MS * 1000000LL || ns < 0) {
			res->late++;
			report_trial(res, i, "noticed late");
			ksft_print_msg("  %.1f ms after the kill\n", ns / 1e6);
		}
	} else if (outcome == CORRUPT || outcome == OUT_OF_ORDER) {
		res->corrupt++;
		report_trial(res, i, outcome_names[outcome]);
		ksft_print_msg("  %s\n", tr->what);
	} else {
		res->missed++;
		report_trial(res, i, outcome_names[outcome]);
		ksft_print_msg("  error %s, survivor status %#x\n",
			       strerrorname_np(atomic_load(&tr->error)) ?: "none",
			       status);
	}

	members = channel_members(dev);
	if (members != 0) {
		res->leftovers++;
		report_trial(res, i, "members left in the channel");
		ksft_print_msg("  %d members\n", members);
	}
}

static int compare_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	const char *env = getenv("MPKLINK_KILL_TRIALS");
	long trials = env && *env ? strtol(env, NULL, 0) : DEFAULT_TRIALS;
	long pages, members, channels, i;
	uint64_t seed = (uint64_t)mpk_now_ns();
	long long start;
	struct results res = { 0 };
	int dev;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ksft_print_header();
	if (geteuid() != 0 || access(MPKLINK_DEVICE_PATH, R_OK | W_OK))
		ksft_exit_skip("needs root and /dev/mpklink (tools/vm test kill_test)\n");
	if (trials <= 0)
		trials = DEFAULT_TRIALS;
	ksft_set_plan(6);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	res.latency_ns = calloc(trials, sizeof(*res.latency_ns));
	dev = mpk_dev();
	if (sh == MAP_FAILED || !res.latency_ns || dev < 0)
		ksft_exit_fail_msg("setup: %s\n", strerror(errno));
	pages = mpk_stat("pages");
	members = mpk_stat("members");
	channels = mpk_stat("channels");
	snprintf(sh->name, sizeof(sh->name), "kill.%d", getpid());
	/* Two slots: a member left over from a trial fails the next one. */
	if (mpk_create_n(dev, sh->name, SEGMENT, 2) ||
	    mpk_grant(dev, sh->name, mpk_by_uid(0), MPKLINK_RIGHTS_ALL))
		ksft_exit_fail_msg("cannot create the channel: %s\n",
				   strerror(errno));

	ksft_print_msg("%ld trials (MPKLINK_KILL_TRIALS), seed %#llx\n", trials,
		       (unsigned long long)seed);
	start = mpk_now_ns();
	for (i = 0; i < trials; i++)
		run_trial(i, seed, dev, &res);
	ksft_print_msg("%ld trials in %.1f s\n", trials, (mpk_now_ns() - start) / 1e9);

	qsort(res.latency_ns, res.measured, sizeof(long long), compare_ll);
	if (res.measured)
		ksft_print_msg("the survivor noticed after: median %.2f ms, 99th percentile %.2f ms, max %.2f ms\n",
			       res.latency_ns[res.measured / 2] / 1e6,
			       res.latency_ns[res.measured * 99 / 100] / 1e6,
			       res.latency_ns[res.measured - 1] / 1e6);

	ksft_test_result(!res.setup_failures,
			 "%ld trials killed a peer mid-transfer: %ld writers, %ld readers, %ld servers\n",
			 trials, res.trials[KILL_WRITER], res.trials[KILL_READER],
			 res.trials[KILL_SERVER]);
	ksft_test_result(!res.missed && res.measured,
			 "every survivor noticed its peer's death (writer gone, EPIPE, ECONNRESET) and nothing else\n");
	if (mpk_debug_kernel())
		ksft_test_result_skip("a debug kernel: no deadline (%ld of %ld later than %d ms)\n",
				      res.late, res.measured, DEADLINE_MS);
	else
		ksft_test_result(!res.late && res.measured,
				 "no survivor waited more than %d ms past the kill (%ld late of %ld)\n",
				 DEADLINE_MS, res.late, res.measured);
	ksft_test_result(!res.corrupt && res.messages,
			 "no message corrupted, duplicated, reordered or lost while both lived (%ld checked)\n",
			 res.messages);
	ksft_test_result(!res.leftovers,
			 "no trial left a member in the channel\n");

	mpk_destroy(dev, sh->name);
	close(dev);
	ksft_test_result(mpk_stat("members") == members && members == 0 &&
			 mpk_stat("channels") == channels &&
			 mpk_stat("pages") == pages,
			 "debugfs counters back where they started: %ld members, %ld channels (%ld), %ld pages (%ld)\n",
			 mpk_stat("members"), mpk_stat("channels"), channels,
			 mpk_stat("pages"), pages);
	ksft_finished();
}
