// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Protection inside the process: the channel's key is closed except inside
 * library calls and zero-copy windows, so a stray pointer faults with
 * SEGV_PKUERR; windows are per thread, nest, hand out messages on
 * read-only pages, and leave the application's own keys alone; a process can hold 256
 * channels, sharing keys once it runs out.
 */
#include <pthread.h>
#include <sys/resource.h>

#include "kselftest_harness.h"
#include "lib_test.h"
#include "pkey_fault.h"

LT_FIXTURE(prot)

static void need_pku(struct __test_metadata *_metadata)
{
	if (!mpkshm_pku_supported())
		SKIP(_exit(255), "no protection keys on this CPU");
}

TEST_F(prot, stray_read_of_a_released_message_faults_with_pkuerr)
{
	struct mpkshm_info info;
	struct mpkshm_msg m;
	struct pkey_fault f;

	need_pku(_metadata);
	ASSERT_EQ(0, mpkshm_info(self->b, &info));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "secret", 6, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	ASSERT_EQ(0, mpkshm_release(self->b, &m));
	ASSERT_EQ(0, pkey_fault_catch_install());
	ASSERT_EQ(1, pkey_fault_read_byte((volatile char *)m.data, &f));
	EXPECT_EQ(SEGV_PKUERR, f.code);
	EXPECT_EQ(info.pkey, f.pkey);
}

TEST_F(prot, stray_write_into_a_committed_buffer_faults_with_pkuerr)
{
	struct mpkshm_msg m;
	struct pkey_fault f;
	void *buf;

	need_pku(_metadata);
	ASSERT_EQ(0, mpkshm_reserve(self->a, 16, &buf, 1000));
	memcpy(buf, "0123456789abcdef", 16);
	ASSERT_EQ(0, mpkshm_commit(self->a, 16, MPKSHM_TO_ALL));
	ASSERT_EQ(0, pkey_fault_catch_install());
	ASSERT_EQ(1, pkey_fault_write_byte(buf, 'X', &f));
	EXPECT_EQ(SEGV_PKUERR, f.code);
	/* Nothing was corrupted. */
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	EXPECT_EQ(0, memcmp(m.data, "0123456789abcdef", 16));
	mpkshm_release(self->b, &m);
}

/*
 * The key is open for the peek, for writing (the release writes our
 * cursor): what refuses a write into the message is its page, which every
 * backend maps read-only to readers.
 */
TEST_F(prot, a_write_into_a_peeked_message_faults_on_its_read_only_page)
{
	struct mpkshm_msg m;
	struct pkey_fault f;

	need_pku(_metadata);
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "ro", 2, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	ASSERT_EQ(0, pkey_fault_catch_install());
	EXPECT_EQ(0, pkey_fault_read_byte((volatile char *)m.data, &f));
	ASSERT_EQ(1, pkey_fault_write_byte((volatile char *)m.data, 'X', &f));
	EXPECT_EQ(SEGV_ACCERR, f.code);
	EXPECT_EQ(0, memcmp(m.data, "ro", 2));
	mpkshm_release(self->b, &m);
}

TEST_F(prot, windows_nest_a_call_inside_a_window_keeps_it_open)
{
	struct mpkshm_msg m;
	struct pkey_fault f;

	need_pku(_metadata);
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "one", 3, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	/* Another call on the same key opens and closes inside our window. */
	ASSERT_EQ(0, mpkshm_send(self->b, MPKSHM_TO_ALL, "two", 3, 1000));
	ASSERT_EQ(0, pkey_fault_catch_install());
	EXPECT_EQ(0, pkey_fault_read_byte((volatile char *)m.data, &f));
	EXPECT_EQ(1, pkey_fault_write_byte((volatile char *)m.data, 'X', &f));
	mpkshm_release(self->b, &m);
	EXPECT_EQ(1, pkey_fault_read_byte((volatile char *)m.data, &f));
}

struct other_thread {
	struct pkey_fault f;
	pthread_barrier_t go;
	volatile char *addr;
	int faulted;
};

static void *read_when_told(void *arg)
{
	struct other_thread *o = arg;

	pthread_barrier_wait(&o->go);
	o->faulted = pkey_fault_read_byte(o->addr, &o->f);
	return NULL;
}

TEST_F(prot, a_window_is_open_only_for_its_thread)
{
	struct other_thread o = { 0 };
	struct mpkshm_msg m;
	pthread_t t;

	need_pku(_metadata);
	ASSERT_EQ(0, pkey_fault_catch_install());
	ASSERT_EQ(0, pthread_barrier_init(&o.go, NULL, 2));
	/* The other thread exists before the window opens. */
	ASSERT_EQ(0, pthread_create(&t, NULL, read_when_told, &o));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "mine", 4, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	o.addr = (volatile char *)m.data;
	pthread_barrier_wait(&o.go);
	pthread_join(t, NULL);
	EXPECT_EQ(1, o.faulted);
	EXPECT_EQ(SEGV_PKUERR, o.f.code);
	mpkshm_release(self->b, &m);
}

static void *read_at_once(void *arg)
{
	struct other_thread *o = arg;

	o->faulted = pkey_fault_read_byte(o->addr, &o->f);
	return NULL;
}

TEST_F(prot, thread_created_inside_a_window_starts_with_the_key_closed)
{
	struct other_thread o = { 0 };
	struct mpkshm_msg m;
	pthread_t t;

	need_pku(_metadata);
	if (variant->backend != MPKSHM_BACKEND_KERNEL)
		SKIP(return, "only the kernel closes keys in new threads (a new thread copies its creator's PKRU): see Documentation/api.md");
	ASSERT_EQ(0, pkey_fault_catch_install());
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "mine", 4, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	o.addr = (volatile char *)m.data;
	ASSERT_EQ(0, pthread_create(&t, NULL, read_at_once, &o));
	pthread_join(t, NULL);
	EXPECT_EQ(1, o.faulted);
	EXPECT_EQ(SEGV_PKUERR, o.f.code);
	mpkshm_release(self->b, &m);
}

TEST_F(prot, the_applications_own_keys_are_left_alone)
{
	char buf[8];
	int mine;

	need_pku(_metadata);
	mine = pkey_alloc(0, PKEY_DISABLE_WRITE);
	ASSERT_LE(0, mine);
	ASSERT_EQ(2, pkey_fault_pkru_bits(mine));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "x", 1, 1000));
	ASSERT_EQ(1, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
	EXPECT_EQ(2, pkey_fault_pkru_bits(mine));
	pkey_free(mine);
}

TEST(without_pku_the_library_says_so)
{
	struct mpkshm_channel *ch;
	struct mpkshm_info info;
	struct mpkshm_options o;

	if (mpkshm_pku_supported())
		SKIP(return, "this CPU has protection keys");
	mpkshm_options_init(&o);
	o.backend = MPKSHM_BACKEND_THREAD;
	o.flags = MPKSHM_OPEN_CREATE;
	ASSERT_EQ(0, mpkshm_open("no-pku", &o, &ch));
	ASSERT_EQ(0, mpkshm_info(ch, &info));
	EXPECT_EQ(-1, info.pkey);
	EXPECT_EQ(0, info.protection & MPKSHM_PROT_PKU);
	EXPECT_NE(NULL, strstr(mpkshm_protection_string(ch),
			       "no protection keys"));
	mpkshm_close(ch);
}

/* 256 channels at once: thread and memfd on their own, kernel via ioctls. */
FIXTURE(many)
{
	char names[256][MPKLINK_NAME_MAX];
	struct mpkshm_channel *ch[256];
};

FIXTURE_VARIANT(many)
{
	enum mpkshm_backend backend;
};

FIXTURE_VARIANT_ADD(many, thread) { .backend = MPKSHM_BACKEND_THREAD };
FIXTURE_VARIANT_ADD(many, memfd) { .backend = MPKSHM_BACKEND_MEMFD };
FIXTURE_VARIANT_ADD(many, kernel) { .backend = MPKSHM_BACKEND_KERNEL };

FIXTURE_SETUP(many)
{
	struct rlimit rl;

	if (variant->backend == MPKSHM_BACKEND_KERNEL && !lt_kernel_available())
		SKIP(_exit(255), "no /dev/mpklink here");
	/* A memfd channel costs a handful of fds: raise the soft limit. */
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = rl.rlim_max;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
}

FIXTURE_TEARDOWN(many)
{
	int i;

	for (i = 0; i < 256; i++) {
		if (self->ch[i])
			mpkshm_close(self->ch[i]);
		if (variant->backend == MPKSHM_BACKEND_KERNEL && self->names[i][0])
			lt_kernel_destroy(self->names[i]);
	}
}

TEST_F(many, a_process_holds_256_channels_sharing_keys_once_they_run_out)
{
	int keys[16] = { 0 }, distinct = 0, i, k;
	struct mpkshm_options o;
	struct mpkshm_info info;
	char buf[8];

	mpkshm_options_init(&o);
	o.backend = variant->backend;
	o.flags = MPKSHM_OPEN_CREATE;
	o.segment_size = 2 * 4096;
	o.max_members = 2;
	for (i = 0; i < 256; i++) {
		lt_name(self->names[i], "many");
		if (variant->backend == MPKSHM_BACKEND_KERNEL)
			ASSERT_EQ(0, lt_kernel_create(self->names[i], 2 * 4096,
						      2, 0, 0,
						      MPKLINK_RIGHTS_ALL));
		ASSERT_EQ(0, mpkshm_open(self->names[i], &o, &self->ch[i]))
			TH_LOG("channel %d", i);
		ASSERT_EQ(0, mpkshm_info(self->ch[i], &info));
		if (info.pkey >= 0 && !keys[info.pkey]++)
			distinct++;
	}
	/* Every one of them carries a message to a second endpoint. */
	for (i = 0; i < 256; i++) {
		struct mpkshm_channel *peer;

		ASSERT_EQ(0, mpkshm_open(self->names[i], &o, &peer));
		ASSERT_EQ(0, mpkshm_send(self->ch[i], MPKSHM_TO_ALL, &i,
					 sizeof(i), 1000));
		ASSERT_EQ(sizeof(i), mpkshm_recv(peer, buf, sizeof(buf), NULL,
						 1000)) TH_LOG("channel %d", i);
		EXPECT_EQ(i, *(int *)buf);
		mpkshm_close(peer);
	}
	if (mpkshm_pku_supported()) {
		EXPECT_LE(2, distinct);
		EXPECT_GE(15, distinct);
		for (k = 0; k < 16; k++)
			EXPECT_GE(256 / 15 + 2, keys[k]) TH_LOG("key %d", k);
	}
}

TEST_HARNESS_MAIN
