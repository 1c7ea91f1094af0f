// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Eight writer processes and two reader processes exchange 1,000,000
 * checksummed messages; each reader gets every message of every writer
 * exactly once, in order, intact.
 */
#include "kselftest_harness.h"
#include "lib_test.h"

#define WRITERS		8
#define READERS		2
#define MESSAGES	1000000
#define PER_WRITER	(MESSAGES / WRITERS)

struct payload {
	uint32_t writer;
	uint32_t pad;
	uint64_t seq;
	uint64_t words[4];
	uint64_t sum;
};

static uint64_t checksum(const struct payload *p)
{
	uint64_t sum = 0xcbf29ce484222325ull ^ p->writer;
	int i;

	sum = (sum ^ p->seq) * 0x100000001b3ull;
	for (i = 0; i < 4; i++)
		sum = (sum ^ p->words[i]) * 0x100000001b3ull;
	return sum;
}

static int open_for(enum mpkshm_backend backend, const char *name,
		    unsigned int flags, struct mpkshm_channel **ch)
{
	struct mpkshm_options o;

	mpkshm_options_init(&o);
	o.backend = backend;
	o.flags = MPKSHM_OPEN_SINGLE_THREAD | flags;
	o.segment_size = 256 * 1024;
	o.max_members = WRITERS + READERS;
	o.close_timeout_ms = -1;	/* every message reaches the readers */
	return mpkshm_open(name, &o, ch);
}

static int writer(enum mpkshm_backend backend, const char *name, int index)
{
	struct mpkshm_channel *ch;
	struct payload p = { .writer = index };
	uint64_t seq;
	int i, err;

	if (open_for(backend, name, MPKSHM_OPEN_SEND_ONLY, &ch))
		return 1;
	for (seq = 1; seq <= PER_WRITER; seq++) {
		p.seq = seq;
		for (i = 0; i < 4; i++)
			p.words[i] = seq * 0x9e3779b97f4a7c15ull + i + index;
		p.sum = checksum(&p);
		err = mpkshm_send(ch, MPKSHM_TO_ALL, &p, sizeof(p), 60000);
		if (err)
			return 2;
	}
	return mpkshm_close(ch) ? 3 : 0;
}

/* Exit codes: 0 all good, 10 lost or reordered, 11 corrupt, 12 timeout. */
static int reader(enum mpkshm_backend backend, const char *name, int ready)
{
	uint64_t next[WRITERS], got = 0;
	struct mpkshm_channel *ch;
	struct payload p;
	ssize_t n;
	int i;

	for (i = 0; i < WRITERS; i++)
		next[i] = 1;
	if (open_for(backend, name, 0, &ch))
		return 1;
	if (write(ready, "r", 1) != 1)
		return 2;
	while (got < (uint64_t)MESSAGES) {
		n = mpkshm_recv(ch, &p, sizeof(p), NULL, 60000);
		if (n != sizeof(p))
			return 12;
		if (p.writer >= WRITERS || p.sum != checksum(&p))
			return 11;
		if (p.seq != next[p.writer])
			return 10;	/* a loss, duplicate or reordering */
		next[p.writer]++;
		got++;
	}
	mpkshm_close(ch);
	return 0;
}

FIXTURE(stress)
{
	char name[MPKLINK_NAME_MAX];
	struct mpkshm_channel *host;	/* keeps a memfd broker alive */
};

FIXTURE_VARIANT(stress)
{
	enum mpkshm_backend backend;
};

FIXTURE_VARIANT_ADD(stress, memfd) { .backend = MPKSHM_BACKEND_MEMFD };
FIXTURE_VARIANT_ADD(stress, kernel) { .backend = MPKSHM_BACKEND_KERNEL };

FIXTURE_SETUP(stress)
{
	struct mpkshm_options o;

	lt_name(self->name, "stress");
	if (variant->backend == MPKSHM_BACKEND_KERNEL) {
		if (!lt_kernel_available())
			SKIP(_exit(255), "no /dev/mpklink here");
		ASSERT_EQ(0, lt_kernel_create(self->name, 256 * 1024,
					      WRITERS + READERS, 0, 0,
					      MPKLINK_RIGHTS_ALL));
		return;
	}
	/*
	 * Emulated, a million messages take minutes: where the kernel backend
	 * exists, it alone runs them (the host runs the memfd variant).
	 */
	if (lt_kernel_available())
		SKIP(_exit(255), "the kernel backend carries the stress here");
	/* The memfd channel's creator runs its broker: a send-only host. */
	mpkshm_options_init(&o);
	o.backend = variant->backend;
	o.flags = MPKSHM_OPEN_CREATE | MPKSHM_OPEN_SEND_ONLY;
	o.segment_size = 256 * 1024;
	o.max_members = WRITERS + READERS + 1;
	o.close_timeout_ms = 0;
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &self->host));
}

FIXTURE_TEARDOWN(stress)
{
	if (self->host)
		mpkshm_close(self->host);
	if (variant->backend == MPKSHM_BACKEND_KERNEL && lt_kernel_available())
		lt_kernel_destroy(self->name);
}

TEST_F_TIMEOUT(stress, eight_writers_two_readers_a_million_messages, 600)
{
	pid_t readers[READERS], writers[WRITERS];
	long long start = lt_now_ns();
	int ready[2], i;
	char c;

	ASSERT_EQ(0, pipe(ready));
	for (i = 0; i < READERS; i++) {
		readers[i] = fork();
		if (readers[i] == 0)
			_exit(reader(variant->backend, self->name, ready[1]));
	}
	/* Writers start once both readers are members. */
	for (i = 0; i < READERS; i++)
		ASSERT_EQ(1, read(ready[0], &c, 1));
	for (i = 0; i < WRITERS; i++) {
		writers[i] = fork();
		if (writers[i] == 0)
			_exit(writer(variant->backend, self->name, i));
	}
	for (i = 0; i < WRITERS; i++)
		EXPECT_EQ(0, lt_wait(writers[i])) TH_LOG("writer %d", i);
	for (i = 0; i < READERS; i++)
		EXPECT_EQ(0, lt_wait(readers[i])) TH_LOG("reader %d", i);
	TH_LOG("%d messages to %d readers in %lld ms", MESSAGES, READERS,
	       (lt_now_ns() - start) / 1000000);
}

TEST_HARNESS_MAIN
