// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/* mpkshm_strerror() and mpkshm_version(). */
#include <errno.h>
#include <regex.h>
#include <string.h>

#include "kselftest_harness.h"
#include "mpkshm.h"

TEST(strerror_negative_errno_describes_it)
{
	EXPECT_STREQ("No such file or directory", mpkshm_strerror(-ENOENT));
}

TEST(strerror_gives_channel_meanings)
{
	EXPECT_STREQ("The peer left the channel", mpkshm_strerror(-ECONNRESET));
	EXPECT_STREQ("Access to the channel was revoked",
		     mpkshm_strerror(-EKEYREVOKED));
	EXPECT_STREQ("mpklink.ko is not loaded (modprobe mpklink)",
		     mpkshm_strerror(-ENODEV));
}

TEST(strerror_positive_errno_same_as_negative)
{
	EXPECT_STREQ(mpkshm_strerror(-EPIPE), mpkshm_strerror(EPIPE));
}

TEST(strerror_zero_is_success)
{
	EXPECT_STREQ("Success", mpkshm_strerror(0));
}

TEST(strerror_unknown_code_is_not_null)
{
	EXPECT_STREQ("Unknown error", mpkshm_strerror(-100000));
	EXPECT_STREQ("Unknown error", mpkshm_strerror(-2147483647));
}

TEST(version_is_major_minor_patch)
{
	regex_t re;

	ASSERT_EQ(0, regcomp(&re, "^[0-9]+\\.[0-9]+\\.[0-9]+$", REG_EXTENDED));
	EXPECT_EQ(0, regexec(&re, mpkshm_version(), 0, NULL, 0));
	regfree(&re);
}

TEST_HARNESS_MAIN
