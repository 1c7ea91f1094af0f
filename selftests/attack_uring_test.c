// SPDX-License-Identifier: GPL-2.0
/*
 * The attack suite, continued (selftests/attack_test.c has the rest and
 * Documentation/threat-model.md the model): system calls cannot read
 * around the key through io_uring's own threads either.
 *
 * io_uring runs requests in threads of the process that never return to
 * user mode: io-wq workers (IOSQE_ASYNC, or anything that would block) and
 * the SQPOLL thread.  They copy user memory with their own PKRU, inherited
 * from the thread that created them.  The attacker, uid 1000 and granted,
 * makes them while a key of its own is open, frees that key, attaches so
 * that mpklink gets the same number for the channel, and asks them to
 * write channel memory to a pipe: they must fail with EFAULT, as write(2)
 * does, because mpklink closed the key in them too.
 */
#include <liburing.h>

#include "kselftest_harness.h"
#include "attack_tally.h"
#include "mpklink_test.h"
#include "pkey_fault.h"

#define ATTACKER_UID	MPK_TEST_UID
#define ATTACKER_GID	MPK_TEST_GID

FIXTURE(attack)
{
	int dev;
	char chan[MPKLINK_NAME_MAX];
};

FIXTURE_SETUP(attack)
{
	if (!pkey_fault_has_pku())
		SKIP(return, "the attacks need protection keys");
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->chan, "attack.uring");
	ASSERT_EQ(0, mpk_create(self->dev, self->chan));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(ATTACKER_UID),
			       MPKLINK_RIGHTS_ALL));
}

FIXTURE_TEARDOWN(attack)
{
	mpk_destroy(self->dev, self->chan);
	close(self->dev);
}

/* Writes @len bytes at @buf to @fd through @ring: the result, or -errno. */
static int ring_write(struct io_uring *ring, int fd, const void *buf,
		      unsigned int len, unsigned int flags)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_write(sqe, fd, buf, len, 0);
	io_uring_sqe_set_flags(sqe, flags);
	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

struct uring_attack {
	const char *chan;
	unsigned int setup;	/* IORING_SETUP_SQPOLL, or 0 */
	unsigned int sqe_flags;	/* IOSQE_ASYNC, or 0 */
};

static int write_channel_through_io_uring(void *arg)
{
	const struct uring_attack *u = arg;
	struct io_uring_params params = { .flags = u->setup,
					  .sq_thread_idle = 2000 };
	struct mpklink_attach a;
	char plain[16] = "not the channel";
	struct io_uring ring;
	int pipefd[2], key, fd, ret;
	void *all;

	if (pipe(pipefd))
		return 80;
	/* A key of the attacker's own, open in this thread... */
	key = pkey_alloc(0, 0);
	if (key < 0)
		return 81;
	/* ...and so in the io_uring threads created now. */
	if (io_uring_queue_init_params(8, &ring, &params))
		return 82;
	if (ring_write(&ring, pipefd[1], plain, sizeof(plain),
		       u->sqe_flags) != sizeof(plain))
		return 83;
	if (pkey_free(key))
		return 84;
	fd = mpk_attach_fresh(u->chan, &a);
	if (fd < 0)
		return 85;
	if (a.pkey != key)
		return 77;	/* another number: nothing to attack */
	all = mpk_map_all(fd, &a);
	if (all == MAP_FAILED)
		return 86;
	/* The attacker's own thread cannot... */
	if (write(pipefd[1], all, 16) != -1 || errno != EFAULT)
		return 1;
	/* ...and neither can its io_uring threads. */
	ret = ring_write(&ring, pipefd[1], all, 16, u->sqe_flags);
	if (ret != -EFAULT)
		return ret >= 0 ? 2 : 3;
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}

TEST_F(attack, system_calls_cannot_read_around_the_key_through_an_io_wq_worker)
{
	struct uring_attack u = { .chan = self->chan,
				  .sqe_flags = IOSQE_ASYNC };

	int ret = mpk_run_as(ATTACKER_UID, ATTACKER_GID, 0,
			     write_channel_through_io_uring, &u);

	if (ret == 77)
		SKIP(return, "mpklink did not get the freed key's number");
	EXPECT_EQ(0, ret);
}

TEST_F(attack, system_calls_cannot_read_around_the_key_through_an_sqpoll_thread)
{
	struct uring_attack u = { .chan = self->chan,
				  .setup = IORING_SETUP_SQPOLL };

	int ret = mpk_run_as(ATTACKER_UID, ATTACKER_GID, 0,
			     write_channel_through_io_uring, &u);

	if (ret == 77)
		SKIP(return, "mpklink did not get the freed key's number");
	EXPECT_EQ(0, ret);
}

int main(int argc, char **argv)
{
	attack_tally_start();
	return test_harness_run(argc, argv);
}
