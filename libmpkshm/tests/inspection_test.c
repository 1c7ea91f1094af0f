// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * A process of the same user cannot look inside a member: once a process
 * opens a memfd or thread endpoint it is non-dumpable, so another process
 * of its user can neither ptrace it nor read what it received with
 * process_vm_readv().  MPKSHM_OPEN_KEEP_DUMPABLE opts out, and then both
 * work (which is what shows the test can fail).  Kernel channels: the
 * module does the same, tested by selftests/attack_test.  Runs as root,
 * with both processes as uid 65534, where root's CAP_SYS_PTRACE is gone.
 */
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "kselftest_harness.h"
#include "lib_test.h"

#define USER		65534
#define SECRET		"the member's own business"

struct exposed {
	pid_t pid;
	uintptr_t addr;		/* where it keeps what it received */
};

static int become_user(void)
{
	return setresgid(USER, USER, USER) || setresuid(USER, USER, USER) ?
	       -1 : 0;
}

/* As uid USER: receives SECRET into its heap, says where, and waits. */
static int member(enum mpkshm_backend backend, const char *name,
		  unsigned int flags, int report)
{
	struct mpkshm_channel *rx, *tx;
	struct exposed e = { getpid(), 0 };
	char *buf = malloc(64);

	/* Changing uid made it non-dumpable: as a service started so is not. */
	if (!buf || become_user() || prctl(PR_SET_DUMPABLE, 1) ||
	    prctl(PR_GET_DUMPABLE) != 1 || lt_open(backend, name, flags, &rx) ||
	    lt_open(backend, name, flags, &tx) ||
	    mpkshm_send(tx, MPKSHM_TO_ALL, SECRET, sizeof(SECRET), 1000) ||
	    mpkshm_recv(rx, buf, 64, NULL, 1000) != sizeof(SECRET))
		return 1;
	e.addr = (uintptr_t)buf;
	if (write(report, &e, sizeof(e)) != sizeof(e))
		return 2;
	pause();
	return 0;
}

/* As uid USER: what ptrace and process_vm_readv make of the member. */
static int inspect(const struct exposed *e, int *ptrace_err, int *read_err)
{
	char buf[sizeof(SECRET)];
	struct iovec local = { buf, sizeof(buf) };
	struct iovec remote = { (void *)e->addr, sizeof(buf) };

	if (become_user())
		return -1;
	*ptrace_err = ptrace(PTRACE_ATTACH, e->pid, 0, 0) ? errno : 0;
	if (!*ptrace_err) {
		waitpid(e->pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, e->pid, 0, 0);
	}
	*read_err = process_vm_readv(e->pid, &local, 1, &remote, 1, 0) ==
		    sizeof(buf) ? 0 : errno;
	if (!*read_err && memcmp(buf, SECRET, sizeof(buf)))
		*read_err = -1;	/* read, but not the secret? */
	return 0;
}

/* Runs member() and inspect(): 0 and both errors, or -1. */
static int try_to_look(enum mpkshm_backend backend, unsigned int flags,
		       int *ptrace_err, int *read_err)
{
	char name[MPKLINK_NAME_MAX];
	int p[2], q[2], errs[2], ret = -1;
	struct exposed e;
	pid_t pid, looker;

	lt_name(name, "inspect");
	if (pipe(p) || pipe(q))
		return -1;
	pid = fork();
	if (pid == 0)
		_exit(member(backend, name, flags, p[1]));
	close(p[1]);
	if (read(p[0], &e, sizeof(e)) == sizeof(e)) {
		looker = fork();
		if (looker == 0) {
			if (inspect(&e, &errs[0], &errs[1]) ||
			    write(q[1], errs, sizeof(errs)) != sizeof(errs))
				_exit(1);
			_exit(0);
		}
		if (read(q[0], errs, sizeof(errs)) == sizeof(errs) &&
		    lt_wait(looker) == 0) {
			*ptrace_err = errs[0];
			*read_err = errs[1];
			ret = 0;
		}
	}
	kill(pid, SIGKILL);
	lt_wait(pid);
	close(p[0]);
	close(q[0]);
	close(q[1]);
	return ret;
}

FIXTURE(look) {
	int unused;
};

FIXTURE_VARIANT(look) {
	enum mpkshm_backend backend;
};

FIXTURE_VARIANT_ADD(look, thread) {
	.backend = MPKSHM_BACKEND_THREAD,
};

FIXTURE_VARIANT_ADD(look, memfd) {
	.backend = MPKSHM_BACKEND_MEMFD,
};

/* Yama's ptrace_scope above 0 refuses for its own reasons: no test then. */
static bool yama_allows_same_user(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
	int scope = 0;

	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = -1;
		fclose(f);
	}
	return scope == 0;
}

FIXTURE_SETUP(look)
{
	if (geteuid() != 0)
		SKIP(_exit(255), "needs root to run processes of another user");
	if (!yama_allows_same_user())
		SKIP(_exit(255), "Yama's ptrace_scope refuses same-user ptrace anyway");
}

FIXTURE_TEARDOWN(look)
{
}

TEST_F(look, same_user_can_neither_ptrace_a_member_nor_read_what_it_received)
{
	int ptrace_err, read_err;

	ASSERT_EQ(0, try_to_look(variant->backend, 0, &ptrace_err, &read_err));
	EXPECT_EQ(EPERM, ptrace_err);
	EXPECT_EQ(EPERM, read_err);
}

TEST_F(look, keep_dumpable_leaves_the_member_open_to_its_user)
{
	int ptrace_err, read_err;

	ASSERT_EQ(0, try_to_look(variant->backend, MPKSHM_OPEN_KEEP_DUMPABLE,
				 &ptrace_err, &read_err));
	EXPECT_EQ(0, ptrace_err);
	EXPECT_EQ(0, read_err);
}

TEST_HARNESS_MAIN
