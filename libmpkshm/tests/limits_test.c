// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The limits Documentation/api.md gives for channels the library creates
 * (memfd and thread backends), each EINVAL when broken: names of 1..63
 * bytes of [A-Za-z0-9._-], segment_size a multiple of 4096 from 8192 to
 * 1 GiB, max_members 1..64.
 */
#include "kselftest_harness.h"
#include "lib_test.h"

FIXTURE(limits)
{
	char name[MPKLINK_NAME_MAX];
};

FIXTURE_VARIANT(limits)
{
	enum mpkshm_backend backend;
};

FIXTURE_VARIANT_ADD(limits, thread) { .backend = MPKSHM_BACKEND_THREAD, };
FIXTURE_VARIANT_ADD(limits, memfd) { .backend = MPKSHM_BACKEND_MEMFD, };

FIXTURE_SETUP(limits)
{
	lt_name(self->name, "limits");
}

FIXTURE_TEARDOWN(limits)
{
}

/* Opens (creating) with @segment and @members; closes what opened. */
static int try_open(const char *name, enum mpkshm_backend backend,
		    size_t segment, unsigned int members)
{
	struct mpkshm_channel *ch;
	struct mpkshm_options o;
	int err;

	lt_options(&o, backend, 0);
	o.segment_size = segment;
	o.max_members = members;
	err = mpkshm_open(name, &o, &ch);
	if (!err)
		mpkshm_close(ch);
	return err;
}

TEST_F(limits, segment_size_is_a_multiple_of_4096_from_8192_to_1_gib)
{
	const size_t bad[] = { 0, 4096, 8191, 100000, 8192 + 1,
			       (1ull << 30) + 4096, 1ull << 31, SIZE_MAX };
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t size = bad[i];

		EXPECT_EQ(-EINVAL, try_open(self->name, variant->backend, size, 2))
			TH_LOG("segment_size %zu", size);
	}
	EXPECT_EQ(0, try_open(self->name, variant->backend, 8192, 2));
	EXPECT_EQ(0, try_open(self->name, variant->backend, 102400, 2));
}

TEST_F(limits, max_members_is_1_to_64)
{
	EXPECT_EQ(-EINVAL, try_open(self->name, variant->backend, 8192, 0));
	EXPECT_EQ(-EINVAL, try_open(self->name, variant->backend, 8192, 65));
	EXPECT_EQ(0, try_open(self->name, variant->backend, 8192, 1));
	EXPECT_EQ(0, try_open(self->name, variant->backend, 8192, 64));
}

TEST_F(limits, channel_name_is_1_to_63_bytes_of_a_safe_set)
{
	const char *const bad[] = { "", "a/b", "a b", "ä", "..\n",
		"0123456789012345678901234567890123456789012345678901234567890123" };
	struct mpkshm_channel *ch;
	struct mpkshm_options o;
	char ok[64];
	unsigned int i;

	lt_options(&o, variant->backend, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *name = bad[i];

		EXPECT_EQ(-EINVAL, mpkshm_open(name, &o, &ch))
			TH_LOG("name \"%s\"", name);
	}
	/* Every kind of byte allowed, and 63 of them. */
	snprintf(ok, sizeof(ok), "Az09._-%d", getpid());
	ASSERT_EQ(0, mpkshm_open(ok, &o, &ch));
	mpkshm_close(ch);
	snprintf(ok, sizeof(ok), "%s", self->name);
	memset(ok + strlen(ok), 'x', 63 - strlen(ok));
	ok[63] = '\0';
	ASSERT_EQ(0, mpkshm_open(ok, &o, &ch));
	mpkshm_close(ch);
}

TEST_HARNESS_MAIN
