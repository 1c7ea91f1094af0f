// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Every slot of a full channel: loops over members visit only the slots
 * held (a bit mask, directory.c), so a member in slot 0 or slot 63 must
 * be reached like any other.  64 members in one process: broadcasts from
 * each reach all the others, a directed message only its reader, a reader
 * takes one message from each of 63 writers before a second from any, and
 * a slot left and taken again is seen.
 */
#include <sys/resource.h>

#include "kselftest_harness.h"
#include "lib_test.h"

#define MEMBERS 64

FIXTURE(slots)
{
	char name[MPKLINK_NAME_MAX];
	struct mpkshm_channel *ch[MEMBERS];
	uint64_t id[MEMBERS];
	enum mpkshm_backend backend;
};

FIXTURE_VARIANT(slots)
{
	enum mpkshm_backend backend;
};

FIXTURE_VARIANT_ADD(slots, thread) { .backend = MPKSHM_BACKEND_THREAD, };
FIXTURE_VARIANT_ADD(slots, memfd) { .backend = MPKSHM_BACKEND_MEMFD, };
FIXTURE_VARIANT_ADD(slots, kernel) { .backend = MPKSHM_BACKEND_KERNEL, };

static int open_member(const char *name, enum mpkshm_backend backend,
		       struct mpkshm_channel **ch)
{
	struct mpkshm_options o;

	lt_options(&o, backend, 0);
	o.segment_size = 8192;
	o.max_members = MEMBERS;
	return mpkshm_open(name, &o, ch);
}

/* Until @ch lists @n members: memfd members learn of others late. */
static int wait_members(struct mpkshm_channel *ch, int n)
{
	struct mpkshm_member m[MEMBERS];
	long long until = lt_now_ns() + 10000000000LL;
	int got;

	do {
		got = mpkshm_members(ch, m, MEMBERS);
		if (got == n)
			return 0;
		usleep(1000);
	} while (lt_now_ns() < until);
	return got < 0 ? got : -ETIMEDOUT;
}

static uint64_t id_of(struct mpkshm_channel *ch)
{
	struct mpkshm_info info;

	return mpkshm_info(ch, &info) ? 0 : info.member_id;
}

FIXTURE_SETUP(slots)
{
	struct mpkshm_info info;
	int i;

	lt_name(self->name, "slots");
	self->backend = variant->backend;
	/*
	 * A memfd endpoint keeps a descriptor for each other member: 64
	 * endpoints in one process hold over 4,300, past the usual soft
	 * limit of 1,024.
	 */
	if (variant->backend == MPKSHM_BACKEND_MEMFD) {
		struct rlimit fds;

		ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &fds));
		if (fds.rlim_max < 8192) {
			/* Allowed with CAP_SYS_RESOURCE, as in the guest. */
			struct rlimit more = { 8192, 8192 };

			if (!setrlimit(RLIMIT_NOFILE, &more))
				fds = more;
		}
		fds.rlim_cur = fds.rlim_max;
		ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &fds));
		if (fds.rlim_cur < 8192)
			SKIP(_exit(255), "64 memfd endpoints need 8,192 descriptors");
	}
	if (variant->backend == MPKSHM_BACKEND_KERNEL) {
		if (!lt_kernel_available())
			SKIP(_exit(255), "no /dev/mpklink here");
		ASSERT_EQ(0, lt_kernel_create(self->name, 8192, MEMBERS, 0, 0,
					      MPKLINK_RIGHTS_ALL));
	}
	for (i = 0; i < MEMBERS; i++) {
		ASSERT_EQ(0, open_member(self->name, variant->backend,
					 &self->ch[i])) TH_LOG("member %d", i);
		ASSERT_EQ(0, mpkshm_info(self->ch[i], &info));
		ASSERT_EQ((unsigned int)i, info.slot);
		self->id[i] = info.member_id;
	}
	for (i = 0; i < MEMBERS; i++)
		ASSERT_EQ(0, wait_members(self->ch[i], MEMBERS))
			TH_LOG("member %d", i);
}

FIXTURE_TEARDOWN(slots)
{
	int i;

	for (i = 0; i < MEMBERS; i++)
		if (self->ch[i])
			mpkshm_close(self->ch[i]);
	if (self->backend == MPKSHM_BACKEND_KERNEL)
		lt_kernel_destroy(self->name);
}

/* What @ch receives next within @ms, from whom: its length, or -errno. */
static ssize_t take(struct mpkshm_channel *ch, int *value, uint64_t *sender,
		    int ms)
{
	struct mpkshm_msg info;
	ssize_t n = mpkshm_recv(ch, value, sizeof(*value), &info, ms);

	if (n >= 0 && sender)
		*sender = info.sender;
	return n;
}

TEST_F(slots, broadcast_from_every_slot_reaches_every_other_slot)
{
	int s, r, value;
	uint64_t from;

	for (s = 0; s < MEMBERS; s++) {
		ASSERT_EQ(0, mpkshm_send(self->ch[s], MPKSHM_TO_ALL, &s,
					 sizeof(s), 1000));
		for (r = 0; r < MEMBERS; r++) {
			if (r == s)
				continue;
			ASSERT_EQ((ssize_t)sizeof(value),
				  take(self->ch[r], &value, &from, 1000))
				TH_LOG("slot %d from slot %d", r, s);
			ASSERT_EQ(s, value);
			ASSERT_EQ(self->id[s], from);
		}
		/* And not to itself. */
		ASSERT_EQ(-ETIMEDOUT, take(self->ch[s], &value, NULL, 0));
	}
}

TEST_F(slots, directed_message_reaches_its_reader_alone)
{
	int pairs[][2] = { { 63, 0 }, { 0, 63 }, { 62, 63 }, { 31, 32 } };
	unsigned int p;
	int r, value;

	for (p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		int from = pairs[p][0], to = pairs[p][1];

		ASSERT_EQ(0, mpkshm_send(self->ch[from], self->id[to], &from,
					 sizeof(from), 1000));
		ASSERT_EQ((ssize_t)sizeof(value),
			  take(self->ch[to], &value, NULL, 1000));
		ASSERT_EQ(from, value);
		for (r = 0; r < MEMBERS; r++)
			ASSERT_EQ(-ETIMEDOUT, take(self->ch[r], &value, NULL, 0))
				TH_LOG("slot %d got %d's message to %d", r,
				       from, to);
	}
}

TEST_F(slots, reader_takes_from_each_of_63_writers_in_turn)
{
	bool seen[MEMBERS] = { false };
	int s, i, value;
	uint64_t from;

	for (s = 1; s < MEMBERS; s++)
		for (i = 0; i < 2; i++)
			ASSERT_EQ(0, mpkshm_send(self->ch[s], self->id[0], &s,
						 sizeof(s), 1000));
	/* Round robin: the first 63 come one from each writer. */
	for (i = 0; i < 2 * (MEMBERS - 1); i++) {
		ASSERT_EQ((ssize_t)sizeof(value),
			  take(self->ch[0], &value, &from, 1000));
		ASSERT_GT(value, 0);
		ASSERT_LT(value, MEMBERS);
		ASSERT_EQ(self->id[value], from);
		if (i < MEMBERS - 1) {
			ASSERT_FALSE(seen[value])
				TH_LOG("slot %d twice before slot of another", value);
			seen[value] = true;
		}
	}
	ASSERT_EQ(-ETIMEDOUT, take(self->ch[0], &value, NULL, 0));
}

TEST_F(slots, slot_left_and_taken_again_is_reached)
{
	struct mpkshm_info info;
	int r, value, sent = 7;

	mpkshm_close(self->ch[40]);
	self->ch[40] = NULL;
	ASSERT_EQ(0, wait_members(self->ch[0], MEMBERS - 1));
	ASSERT_EQ(0, mpkshm_send(self->ch[0], MPKSHM_TO_ALL, &sent,
				 sizeof(sent), 1000));
	for (r = 1; r < MEMBERS; r++)
		if (r != 40)
			ASSERT_EQ((ssize_t)sizeof(value),
				  take(self->ch[r], &value, NULL, 1000));

	ASSERT_EQ(0, open_member(self->name, self->backend, &self->ch[40]));
	ASSERT_EQ(0, mpkshm_info(self->ch[40], &info));
	ASSERT_EQ(40u, info.slot);
	ASSERT_NE(self->id[40], info.member_id);
	self->id[40] = id_of(self->ch[40]);
	ASSERT_EQ(0, wait_members(self->ch[0], MEMBERS));
	ASSERT_EQ(0, wait_members(self->ch[40], MEMBERS));
	/* Both ways: the newcomer reaches slot 0 and slot 0 reaches it. */
	ASSERT_EQ(0, mpkshm_send(self->ch[0], self->id[40], &sent,
				 sizeof(sent), 1000));
	ASSERT_EQ((ssize_t)sizeof(value), take(self->ch[40], &value, NULL, 1000));
	ASSERT_EQ(sent, value);
	ASSERT_EQ(0, mpkshm_send(self->ch[40], MPKSHM_TO_ALL, &sent,
				 sizeof(sent), 1000));
	for (r = 0; r < MEMBERS; r++)
		if (r != 40)
			ASSERT_EQ((ssize_t)sizeof(value),
				  take(self->ch[r], &value, NULL, 1000))
				TH_LOG("slot %d from the newcomer", r);
}

TEST_HARNESS_MAIN
