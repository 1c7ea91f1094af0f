// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Reaching the user's memfd broker: starting one when the user has none,
 * and connecting to it, which is where a member checks that the listener
 * is of its own user before it says a word.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "memfd_join.h"
#include "memfd_wire.h"

#ifndef MPKSHM_BROKER_PATH
#define MPKSHM_BROKER_PATH "/usr/local/libexec/mpkshm-broker"
#endif

/* Milliseconds left until @deadline (ns, UINT64_MAX: forever) for poll(). */
int mpkshm_ms_left(uint64_t deadline)
{
	uint64_t now = mpkshm_now_ns();

	if (deadline == UINT64_MAX)
		return -1;
	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

static const char *broker_path(void)
{
	/* For uninstalled builds and tests; ignored by setuid programs. */
	const char *path = secure_getenv("MPKSHM_BROKER");

	return path && *path ? path : MPKSHM_BROKER_PATH;
}

static int spawn(const char *path, int listen_fd, char *const argv[])
{
	char *const envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int err, status;
	pid_t pid;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	/* Its own session: a terminal's ^C to the creator spares it. */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, listen_fd, 3);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, 0, 1);
	posix_spawn_file_actions_adddup2(&fa, 0, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	err = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (err)
		return err == ENOENT || err == EACCES || err == ENOEXEC ?
		       -ENOPKG : -err;
	/*
	 * It forks the broker and exits once the broker is set up.  ECHILD:
	 * the application reaped it first (or ignores SIGCHLD); joining will
	 * tell whether the broker runs.
	 */
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 1 ? -ENOMEM :
								-ENOPKG;
}

int mpkshm_broker_start(void)
{
	char *argv[] = { "mpkshm-broker", NULL };
	struct sockaddr_un addr;
	socklen_t len;
	int fd, err;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	mpkshm_wire_address(&addr, &len, geteuid());
	if (bind(fd, (struct sockaddr *)&addr, len) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	err = spawn(broker_path(), fd, argv);
	close(fd);	/* the broker has it now; if it failed, the name is free */
	return err;
}

int mpkshm_broker_connect(uint64_t deadline)
{
	struct sockaddr_un addr;
	struct ucred cred;
	socklen_t len;
	int sock, err;

	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sock < 0)
		return -errno;
	mpkshm_wire_address(&addr, &len, geteuid());
	while (connect(sock, (struct sockaddr *)&addr, len)) {
		err = errno;
		if ((err == EAGAIN || err == EINTR) && mpkshm_ms_left(deadline)) {
			usleep(1000);	/* its backlog is full */
			continue;
		}
		close(sock);
		if (err == EAGAIN)
			return -ETIMEDOUT;
		return err == ECONNREFUSED ? -ENOENT : -err;
	}
	len = sizeof(cred);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    cred.uid != geteuid()) {
		close(sock);
		return -EADDRINUSE;	/* an impostor: tell it nothing */
	}
	return sock;
}

/* Receives one message from the broker, waiting until @deadline. */
int mpkshm_wire_recv_by(int sock, struct mpkshm_wire *w, int fds[2],
			uint64_t deadline)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	int err;

	for (;;) {
		err = mpkshm_wire_recv(sock, w, fds);
		if (err != -EAGAIN)
			return err;
		if (!mpkshm_ms_left(deadline))
			return -ETIMEDOUT;
		poll(&pfd, 1, mpkshm_ms_left(deadline));
	}
}

