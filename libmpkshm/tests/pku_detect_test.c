// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * mpkshm_pku_supported() agrees with the kernel: with what it reports in
 * /proc/cpuinfo, and with whether pkey_alloc() works.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "mpkshm.h"

static int cpuinfo_has_flag(const char *flag)
{
	char line[8192], *tok, *save;
	FILE *f = fopen("/proc/cpuinfo", "r");
	int found = 0;

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (tok = strtok_r(line, " \t\n:", &save); tok;
		     tok = strtok_r(NULL, " \t\n:", &save))
			if (!strcmp(tok, flag))
				found = 1;
		break;
	}
	fclose(f);
	return found;
}

TEST(pku_supported_matches_cpuinfo_ospke)
{
	int ospke = cpuinfo_has_flag("ospke");

	ASSERT_LE(0, ospke);
	EXPECT_EQ(ospke, mpkshm_pku_supported());
}

TEST(pku_supported_matches_pkey_alloc)
{
	int pkey = pkey_alloc(0, 0);

	if (mpkshm_pku_supported()) {
		ASSERT_LT(0, pkey);
		EXPECT_EQ(0, pkey_free(pkey));
	} else {
		/*
		 * ENOSPC where the kernel has pkeys but the CPU not; other
		 * kernels answer EINVAL or ENOSYS.  Any failure agrees.
		 */
		EXPECT_EQ(-1, pkey) {
			pkey_free(pkey);
		}
		TH_LOG("pkey_alloc without PKU: %s", strerror(errno));
	}
}

TEST_HARNESS_MAIN
