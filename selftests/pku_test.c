// SPDX-License-Identifier: GPL-2.0
/*
 * The guest really has protection keys: a key-tagged page faults with
 * SEGV_PKUERR when its key is closed, and works again once it is opened.
 * Everything else in the selftests rests on this.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "pkey_fault.h"

FIXTURE(pkey_page)
{
	int pkey;
	volatile int *page;
	size_t size;
};

FIXTURE_SETUP(pkey_page)
{
	void *p;

	self->size = sysconf(_SC_PAGESIZE);
	self->pkey = pkey_alloc(0, 0);
	if (self->pkey < 0)
		SKIP(return, "pkey_alloc: %s (no PKU?)", strerror(errno));
	p = mmap(NULL, self->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->page = p;
	ASSERT_EQ(0, pkey_mprotect(p, self->size, PROT_READ | PROT_WRITE,
				   self->pkey));
	ASSERT_EQ(0, pkey_fault_catch_install());
}

FIXTURE_TEARDOWN(pkey_page)
{
	if (self->pkey < 0)
		return;
	pkey_set(self->pkey, 0);
	munmap((void *)self->page, self->size);
	pkey_free(self->pkey);
}

TEST_F(pkey_page, access_disabled_write_faults_with_pkuerr)
{
	struct pkey_fault fault;

	ASSERT_EQ(0, pkey_set(self->pkey, PKEY_DISABLE_ACCESS));
	ASSERT_EQ(1, pkey_fault_write(self->page, 42, &fault));
	EXPECT_EQ(SEGV_PKUERR, fault.code);
	EXPECT_EQ(self->pkey, fault.pkey);
	EXPECT_EQ((void *)self->page, fault.addr);
}

TEST_F(pkey_page, access_disabled_read_faults_with_pkuerr)
{
	struct pkey_fault fault;

	ASSERT_EQ(0, pkey_set(self->pkey, PKEY_DISABLE_ACCESS));
	ASSERT_EQ(1, pkey_fault_read(self->page, &fault));
	EXPECT_EQ(SEGV_PKUERR, fault.code);
	EXPECT_EQ(self->pkey, fault.pkey);
}

TEST_F(pkey_page, write_disabled_allows_read_not_write)
{
	struct pkey_fault fault;

	self->page[0] = 7;
	ASSERT_EQ(0, pkey_set(self->pkey, PKEY_DISABLE_WRITE));
	ASSERT_EQ(0, pkey_fault_read(self->page, &fault));
	ASSERT_EQ(1, pkey_fault_write(self->page, 42, &fault));
	EXPECT_EQ(SEGV_PKUERR, fault.code);
	ASSERT_EQ(0, pkey_set(self->pkey, 0));
	EXPECT_EQ(7, self->page[0]);
}

TEST_F(pkey_page, reopened_key_lets_write_through)
{
	struct pkey_fault fault;

	ASSERT_EQ(0, pkey_set(self->pkey, PKEY_DISABLE_ACCESS));
	ASSERT_EQ(1, pkey_fault_write(self->page, 42, &fault));
	ASSERT_EQ(0, pkey_set(self->pkey, 0));
	ASSERT_EQ(0, pkey_fault_write(self->page, 43, &fault));
	EXPECT_EQ(43, self->page[0]);
}

TEST_HARNESS_MAIN
