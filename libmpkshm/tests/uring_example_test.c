// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The liburing example (examples/uring_wait.c) runs and does what its
 * comment says, on every backend: every message arrives once and in order
 * while the loop sleeps in io_uring, not in the library.
 */
#include <limits.h>
#include <libgen.h>

#include "kselftest_harness.h"
#include "lib_test.h"

/* The example sits next to the tests: BUILD/libmpkshm/{tests,examples}. */
static int example_path(char *path, size_t room)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return -errno;
	self[n] = 0;
	if ((size_t)snprintf(path, room, "%s/../examples/uring_wait",
			     dirname(self)) >= room)
		return -ENAMETOOLONG;
	return access(path, X_OK) ? -errno : 0;
}

/* Runs the example; its stdout goes to @out.  Returns its exit status. */
static int run_example(const char *backend, const char *channel, char *out,
		       size_t room)
{
	char path[PATH_MAX];
	int pipefd[2], status;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	if (example_path(path, sizeof(path)) || pipe(pipefd))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execl(path, path, "-b", backend, "-n", "200", channel,
		      (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while (used + 1 < room &&
	       (n = read(pipefd[0], out + used, room - used - 1)) > 0)
		used += (size_t)n;
	out[used] = 0;
	close(pipefd[0]);
	status = lt_wait(pid);
	return status;
}

FIXTURE(uring)
{
	char name[MPKLINK_NAME_MAX];
};

FIXTURE_VARIANT(uring)
{
	enum mpkshm_backend backend;
	const char *backend_name;
};

FIXTURE_VARIANT_ADD(uring, thread) {
	.backend = MPKSHM_BACKEND_THREAD, .backend_name = "thread",
};

FIXTURE_VARIANT_ADD(uring, memfd) {
	.backend = MPKSHM_BACKEND_MEMFD, .backend_name = "memfd",
};

FIXTURE_VARIANT_ADD(uring, kernel) {
	.backend = MPKSHM_BACKEND_KERNEL, .backend_name = "kernel",
};

FIXTURE_SETUP(uring)
{
	lt_name(self->name, "uring");
	if (variant->backend == MPKSHM_BACKEND_KERNEL) {
		if (!lt_kernel_available())
			SKIP(_exit(255), "no /dev/mpklink here");
		ASSERT_EQ(0, lt_kernel_create(self->name, LT_SEGMENT, 4, 0, 0,
					      MPKLINK_RIGHTS_ALL));
	}
}

FIXTURE_TEARDOWN(uring)
{
	if (variant->backend == MPKSHM_BACKEND_KERNEL && lt_kernel_available())
		lt_kernel_destroy(self->name);
}

TEST_F(uring, example_receives_every_message_in_order_sleeping_in_io_uring)
{
	unsigned int count = 0, sleeps = 0;
	char out[512];

	ASSERT_EQ(0, run_example(variant->backend_name, self->name, out,
				 sizeof(out)));
	ASSERT_EQ(2, sscanf(out, "uring_wait: %u messages in order, %u io_uring sleeps",
			    &count, &sleeps)) {
		TH_LOG("example printed: %s", out);
	}
	EXPECT_EQ(200, count);
	/* Messages come 2 ms apart: the loop must have slept between them. */
	EXPECT_LT(0, sleeps);
	out[strcspn(out, "\n")] = 0;
	TH_LOG("%s", out);
}

TEST_HARNESS_MAIN
