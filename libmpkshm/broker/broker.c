// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * mpkshm-broker: the broker of one user's memfd channels, in a process of
 * its own.
 *
 * libmpkshm starts it (memfd_join.c) when a member opens a memfd channel
 * with MPKSHM_OPEN_CREATE and its user has no broker yet: the library binds
 * and listens on the user's abstract socket, "mpkshm/EUID", and hands the
 * socket over as descriptor 3.  It runs in its own session, so no member's
 * exit, crash or terminal signal takes it down.  A channel lives while any
 * member does, whoever created it; the broker exits when its user has no
 * channel left.  One process per user, however many channels: starting
 * one per channel cost every open a process, and hundreds of them alive
 * at once brought an emulated guest with protection keys to a standstill.
 *
 *   mpkshm-broker
 *
 * It trusts no member: processes of another effective uid are refused
 * (EACCES), and so is a connection that does not say which channel it
 * wants (OPEN) within HELLO_TIMEOUT_MS, or that joins but does not HELLO
 * in that time.  A member leaves when its socket closes or its process
 * exits (a pidfd), so a forked child holding the socket does not keep a
 * dead member in.  Channels and their members: channels.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"

#define LISTEN_FD		3
#define HELLO_TIMEOUT_MS	10000	/* a joiner that says nothing is dropped */
#define IDLE_TIMEOUT_MS		10000	/* nobody opened since the start: exit */
#define RETELL_MS		100	/* how often a backlogged member is tried */
#define MAX_CHANNELS		4096
#define MAX_PENDING		256
#define PAGE			4096u
#define MAX_SEGMENT		(1ull << 30)

/* A connection that has not said which channel it wants yet. */
struct pending {
	int sock;
	int pidfd;
	uint64_t by;			/* ms: dropped if silent until then */
};

struct broker {
	struct channel *ch;
	unsigned int nr_ch;		/* entries in use or free */
	struct pending p[MAX_PENDING];
	unsigned int nr_p;
	uint64_t last_id;
	bool ever;			/* some channel existed */
	uint64_t idle_until;		/* ms */
};

uint64_t broker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void broker_refuse(int sock, int error)
{
	struct mpkshm_wire w = {
		.type = MPKSHM_WIRE_REFUSED, .version = MPKSHM_WIRE_VERSION,
		.error = error,
	};

	mpkshm_wire_send(sock, &w, NULL, 0);
	close(sock);
}

static void pending_drop(struct broker *b, unsigned int i, int error)
{
	struct pending *p = &b->p[i];

	if (error)
		broker_refuse(p->sock, error);
	else
		close(p->sock);
	if (p->pidfd >= 0)
		close(p->pidfd);
	b->p[i] = b->p[--b->nr_p];
}

static void accept_connection(struct broker *b)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int sock;

	sock = accept4(LISTEN_FD, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (sock < 0)
		return;
	/* The name is guessable: only our own user may come in. */
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    cred.uid != geteuid()) {
		broker_refuse(sock, EACCES);
		return;
	}
	if (b->nr_p == MAX_PENDING) {
		broker_refuse(sock, EAGAIN);
		return;
	}
	b->p[b->nr_p++] = (struct pending){
		.sock = sock,
		.pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0),
		.by = broker_now_ms() + HELLO_TIMEOUT_MS,
	};
}

static bool name_valid(const char *name)
{
	size_t len = strnlen(name, MPKLINK_NAME_MAX), i;

	if (!len || len == MPKLINK_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", name[i]))
			return false;
	return true;
}

/* A free entry of the channel table, grown if need be; NULL: none left. */
static struct channel *channel_slot(struct broker *b)
{
	struct channel *bigger;
	unsigned int i;

	for (i = 0; i < b->nr_ch; i++)
		if (!b->ch[i].name[0])
			return &b->ch[i];
	if (b->nr_ch == MAX_CHANNELS)
		return NULL;
	bigger = realloc(b->ch, (b->nr_ch + 1) * sizeof(*b->ch));
	if (!bigger)
		return NULL;
	b->ch = bigger;
	b->ch[b->nr_ch].name[0] = '\0';
	return &b->ch[b->nr_ch++];
}

/* Pending connection @i said which channel it wants (or something else). */
static void open_channel(struct broker *b, unsigned int i)
{
	struct pending *p = &b->p[i];
	struct mpkshm_wire w = { 0 };
	struct channel *c;
	int fds[2], err;

	err = mpkshm_wire_recv(p->sock, &w, fds);
	if (err == -EAGAIN)
		return;
	mpkshm_wire_close_fds(fds);	/* OPEN carries none */
	w.name[sizeof(w.name) - 1] = '\0';
	if (err || w.type != MPKSHM_WIRE_OPEN) {
		pending_drop(b, i, err ? 0 : EPROTO);
		return;
	}
	if (!name_valid(w.name) || w.flags & ~MPKSHM_WIRE_CREATE) {
		pending_drop(b, i, EINVAL);
		return;
	}
	c = channel_find(b->ch, b->nr_ch, w.name);
	if (!c && !(w.flags & MPKSHM_WIRE_CREATE)) {
		pending_drop(b, i, ENOENT);
		return;
	}
	if (!c) {
		if (w.segment_size < 2 * PAGE || w.segment_size % PAGE ||
		    w.segment_size > MAX_SEGMENT || !w.max_members ||
		    w.max_members > MPKLINK_MAX_MEMBERS) {
			pending_drop(b, i, EINVAL);
			return;
		}
		c = channel_slot(b);
		err = c ? channel_create(c, w.name, w.segment_size,
					 w.max_members) : EMFILE;
		if (err) {
			pending_drop(b, i, err);
			return;
		}
		b->ever = true;
	}
	err = channel_admit(c, p->sock, p->pidfd, ++b->last_id, p->by);
	if (err == EUSERS) {
		pending_drop(b, i, EUSERS);
	} else {
		b->p[i] = b->p[--b->nr_p];	/* the channel's now */
		if (!channel_members(c))
			channel_destroy(c);	/* it could not even be told */
	}
}

/* Drops what timed out, channels left empty; the next deadline (ms). */
static uint64_t housekeeping(struct broker *b, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	unsigned int i, s;

	for (i = 0; i < b->nr_p;) {
		if (now >= b->p[i].by) {
			pending_drop(b, i, ETIMEDOUT);
			continue;
		}
		if (b->p[i].by < next)
			next = b->p[i].by;
		i++;
	}
	for (i = 0; i < b->nr_ch; i++) {
		struct channel *c = &b->ch[i];

		if (!c->name[0])
			continue;
		for (s = 0; s < c->max_members; s++) {
			struct member *m = &c->m[s];

			if (m->sock < 0)
				continue;
			if (!m->joined && now >= m->hello_by)
				channel_drop(c, s);
			else if (!m->joined && m->hello_by < next)
				next = m->hello_by;
			else if (m->untold && !m->full)
				channel_tell(c, s);	/* it read some */
			if (m->sock >= 0 && m->untold && now + RETELL_MS < next)
				next = now + RETELL_MS;
		}
		if (!channel_members(c))
			channel_destroy(c);
	}
	return next;
}

static bool busy(const struct broker *b)
{
	unsigned int i;

	if (b->nr_p)
		return true;
	for (i = 0; i < b->nr_ch; i++)
		if (b->ch[i].name[0])
			return true;
	return false;
}

/* What each pollfd stands for. */
struct watched {
	int channel;			/* -1: a pending connection */
	unsigned int index;		/* slot, or pending entry */
};

static void serve(struct broker *b)
{
	struct pollfd *pfd = NULL;
	struct watched *what = NULL;
	unsigned int room = 0, n, i, s;

	for (;;) {
		uint64_t now = broker_now_ms(), next = housekeeping(b, now);
		int timeout;

		if (!busy(b) && (b->ever || now >= b->idle_until) &&
		    !poll(&(struct pollfd){ .fd = LISTEN_FD, .events = POLLIN },
			  1, 0))
			break;	/* unless someone is coming in right now */
		if (!busy(b) && b->idle_until < next)
			next = b->idle_until;
		timeout = next == UINT64_MAX ? -1 :
			  next <= now ? 0 :
			  (int)(next - now < INT_MAX ? next - now : INT_MAX);

		if (room < 1 + b->nr_p + 2 * MPKLINK_MAX_MEMBERS * b->nr_ch) {
			room = 1 + b->nr_p + 2 * MPKLINK_MAX_MEMBERS * b->nr_ch;
			free(pfd);
			free(what);
			pfd = malloc(room * sizeof(*pfd));
			what = malloc(room * sizeof(*what));
			if (!pfd || !what)
				break;
		}
		n = 0;
		pfd[n++] = (struct pollfd){ .fd = LISTEN_FD, .events = POLLIN };
		for (i = 0; i < b->nr_p; i++) {
			what[n] = (struct watched){ -1, i };
			pfd[n++] = (struct pollfd){ .fd = b->p[i].sock,
						    .events = POLLIN };
		}
		for (i = 0; i < b->nr_ch; i++) {
			struct channel *c = &b->ch[i];

			for (s = 0; c->name[0] && s < c->max_members; s++) {
				struct member *m = &c->m[s];

				if (m->sock < 0)
					continue;
				what[n] = (struct watched){ (int)i, s };
				pfd[n++] = (struct pollfd){
					.fd = m->sock,
					.events = POLLIN | (m->untold && m->full ?
							    POLLOUT : 0),
				};
				if (m->pidfd < 0)
					continue;
				what[n] = (struct watched){ (int)i, s };
				pfd[n++] = (struct pollfd){ .fd = m->pidfd,
							    .events = POLLIN };
			}
		}
		if (poll(pfd, n, timeout) < 0)
			continue;
		/* Back to front: dropping a pending entry moves the last. */
		for (i = n; i-- > 1;) {
			short ev = pfd[i].revents;
			struct channel *c;
			struct member *m;

			if (!ev)
				continue;
			if (what[i].channel < 0) {
				if (ev & (POLLHUP | POLLERR))
					pending_drop(b, what[i].index, 0);
				else
					open_channel(b, what[i].index);
				continue;
			}
			c = &b->ch[what[i].channel];
			m = &c->m[what[i].index];
			/* Dropped (and maybe reused) earlier in this round. */
			if (m->sock != pfd[i].fd && m->pidfd != pfd[i].fd)
				continue;
			if (pfd[i].fd == m->pidfd || ev & (POLLHUP | POLLERR)) {
				channel_drop(c, what[i].index);
				continue;
			}
			if (ev & POLLIN)
				channel_readable(c, what[i].index);
			if (ev & POLLOUT && m->sock == pfd[i].fd)
				channel_tell(c, what[i].index);
		}
		/* Last: a pending entry's index is only good until here. */
		if (pfd[0].revents & POLLIN)
			accept_connection(b);
	}
	free(pfd);
	free(what);
}

int main(int argc, char **argv)
{
	static struct broker b;
	socklen_t len = sizeof(int);
	struct rlimit files;
	int listening;
	pid_t pid;

	(void)argv;
	if (argc != 1 ||
	    getsockopt(LISTEN_FD, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) ||
	    !listening) {
		fprintf(stderr, "usage: mpkshm-broker (started by libmpkshm, with "
			"the user's listening socket as fd 3)\n");
		return 2;
	}
	/* Nothing of the process that started us, and nobody to inspect us. */
	close_range(LISTEN_FD + 1, ~0u, 0);
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	fcntl(LISTEN_FD, F_SETFL, fcntl(LISTEN_FD, F_GETFL) | O_NONBLOCK);
	/* Four descriptors a member, and those in flight count against it. */
	if (!getrlimit(RLIMIT_NOFILE, &files)) {
		files.rlim_cur = files.rlim_max;
		setrlimit(RLIMIT_NOFILE, &files);
	}
	/*
	 * The library waits for this process: it exits at once, and the
	 * broker, reparented, is nobody's child to reap.
	 */
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid > 0)
		_exit(0);
	b.idle_until = broker_now_ms() + IDLE_TIMEOUT_MS;
	serve(&b);
	return 0;
}
