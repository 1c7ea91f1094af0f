// SPDX-License-Identifier: GPL-2.0
/*
 * Lifetimes: a thousand create/attach/map/unmap/detach/destroy cycles leave
 * the module's page count and the guest's free memory where they started.
 */
#include "kselftest_harness.h"
#include "mpklink_test.h"

#define CYCLES		1000
#define TOLERANCE_KB	4096	/* a leak of one page per cycle is 4000 kB */

static long meminfo_kb(const char *field)
{
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");
	long kb = -1;
	size_t len = strlen(field);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':')
			kb = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return kb;
}

static long settled_free_kb(void)
{
	sync();
	mpk_write_file("/proc/sys/vm/drop_caches", "3\n");
	return meminfo_kb("MemFree");
}

static int one_cycle(int dev, int i)
{
	char name[MPKLINK_NAME_MAX];
	struct mpklink_attach a;
	char *all, *own;
	int fd;

	snprintf(name, sizeof(name), "cycle.%d.%d", getpid(), i);
	if (mpk_create(dev, name) ||
	    mpk_grant(dev, name, mpk_by_uid(0), MPKLINK_RIGHTS_ALL))
		return 1;
	fd = mpk_attach(dev, name, &a);
	if (fd < 0)
		return 2;
	all = mpk_map_all(fd, &a);
	own = mpk_map_own(fd, &a);
	if (all == MAP_FAILED || own == MAP_FAILED)
		return 3;
	pkey_set(a.pkey, 0);
	own[MPKLINK_CTRL_SIZE + (i % 16) * MPK_PAGE] = (char)i;	/* fault in */
	if (all[mpk_slot_offset(&a, a.slot) + MPKLINK_CTRL_SIZE +
		(i % 16) * MPK_PAGE] != (char)i)
		return 4;
	pkey_set(a.pkey, PKEY_DISABLE_ACCESS);
	if (munmap(all, a.map_size) || munmap(own, a.slot_size) || close(fd))
		return 5;
	return mpk_destroy(dev, name) ? 6 : 0;
}

/*
 * A fixture only for its time limit: the harness's 30 s is for the Debian
 * kernels, and a debug kernel (make debug-kernel-check) is several times
 * slower.
 */
FIXTURE(lifecycle) {};
FIXTURE_SETUP(lifecycle) {}
FIXTURE_TEARDOWN(lifecycle) {}

TEST_F_TIMEOUT(lifecycle, thousand_cycles_leave_no_pages_or_memory_behind, 900)
{
	long pages, channels, members, free_before, free_after;
	int dev = mpk_dev(), i;

	ASSERT_LE(0, dev);
	ASSERT_EQ(0, one_cycle(dev, -1));	/* warm up caches and slabs */
	pages = mpk_stat("pages");
	channels = mpk_stat("channels");
	members = mpk_stat("members");
	ASSERT_LE(0, pages);
	free_before = settled_free_kb();
	for (i = 0; i < CYCLES; i++)
		ASSERT_EQ(0, one_cycle(dev, i)) TH_LOG("cycle %d", i);
	EXPECT_EQ(pages, mpk_stat("pages"));
	EXPECT_EQ(channels, mpk_stat("channels"));
	EXPECT_EQ(members, mpk_stat("members"));
	free_after = settled_free_kb();
	if (mpk_debug_kernel()) {
		/* KASAN's quarantine holds freed memory; kmemleak looks. */
		TH_LOG("MemFree not compared on a debug kernel");
	} else {
		EXPECT_GT(TOLERANCE_KB, free_before - free_after) {
			TH_LOG("MemFree %ld kB before, %ld kB after",
			       free_before, free_after);
		}
	}
	close(dev);
}

TEST_HARNESS_MAIN
