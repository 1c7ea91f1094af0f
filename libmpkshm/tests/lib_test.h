/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * Helpers for the library's tests: every backend behind one fixture.  The
 * kernel backend needs /dev/mpklink and root to create its channels (the
 * tests run so in the guest); elsewhere its variants are skipped.
 */
#ifndef MPKSHM_LIB_TEST_H
#define MPKSHM_LIB_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/mpklink.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mpkshm.h"

#define LT_SEGMENT	(64 * 1024)

static inline long long lt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void lt_name(char *name, const char *tag)
{
	static unsigned int seq;

	snprintf(name, MPKLINK_NAME_MAX, "lt.%s.%d.%u", tag, getpid(), seq++);
}

static inline bool lt_kernel_available(void)
{
	return access(MPKLINK_DEVICE_PATH, R_OK | W_OK) == 0 && geteuid() == 0;
}

/*
 * Kernel backend: creates channel @name with a grant for @uid (rights
 * @rights) and @flags (MPKLINK_CREATE_*).  Other backends create their
 * channel on the first open.  -errno on failure.
 */
static inline int lt_kernel_create(const char *name, size_t segment,
				   unsigned int members, unsigned int flags,
				   uid_t uid, unsigned int rights)
{
	struct mpklink_create c = {
		.size = sizeof(c), .flags = flags, .segment_size = segment,
		.max_members = members,
	};
	struct mpklink_grant g = {
		.size = sizeof(g), .rights = rights,
		.principal = { .match = MPKLINK_MATCH_UID, .uid = uid },
	};
	int dev = open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC), err = 0;

	if (dev < 0)
		return -errno;
	strcpy(c.name, name);
	strcpy(g.name, name);
	if (ioctl(dev, MPKLINK_IOC_CREATE, &c) ||
	    ioctl(dev, MPKLINK_IOC_GRANT, &g))
		err = -errno;
	close(dev);
	return err;
}

static inline int lt_kernel_destroy(const char *name)
{
	struct mpklink_destroy d = { .size = sizeof(d) };
	int dev = open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC), err = 0;

	if (dev < 0)
		return -errno;
	strcpy(d.name, name);
	if (ioctl(dev, MPKLINK_IOC_DESTROY, &d))
		err = -errno;
	close(dev);
	return err;
}

/* The test defaults (creating memfd/thread channels), to change and open. */
static inline void lt_options(struct mpkshm_options *o,
			      enum mpkshm_backend backend, unsigned int flags)
{
	mpkshm_options_init(o);
	o->backend = backend;
	o->flags = flags | MPKSHM_OPEN_CREATE;
	o->segment_size = LT_SEGMENT;
	o->close_timeout_ms = 200;
}

/* Opens an endpoint with the test defaults. */
static inline int lt_open(enum mpkshm_backend backend, const char *name,
			  unsigned int flags, struct mpkshm_channel **out)
{
	struct mpkshm_options o;

	lt_options(&o, backend, flags);
	return mpkshm_open(name, &o, out);
}

/* mpkshm_serve() on a thread of its own, until lt_server_stop(). */
struct lt_server {
	struct mpkshm_channel *ch;
	mpkshm_handler handler;
	void *arg;			/* the handler's; NULL: the server */
	int err;			/* what mpkshm_serve() returned */
	pthread_t thread;
};

static inline void *lt_server_main(void *arg)
{
	struct lt_server *s = arg;

	s->err = mpkshm_serve(s->ch, s->handler, s->arg ? s->arg : s);
	return NULL;
}

static inline int lt_server_start(struct lt_server *s,
				  struct mpkshm_channel *ch,
				  mpkshm_handler handler, void *arg)
{
	s->ch = ch;
	s->handler = handler;
	s->arg = arg;
	s->err = 1;		/* still serving */
	return pthread_create(&s->thread, NULL, lt_server_main, s);
}

/* Stops the server and returns what mpkshm_serve() returned. */
static inline int lt_server_stop(struct lt_server *s)
{
	mpkshm_serve_stop(s->ch);
	pthread_join(s->thread, NULL);
	return s->err;
}

/* An echo handler for lt_server (arg: the struct lt_server). */
static inline int lt_echo(void *arg, struct mpkshm_request *req)
{
	struct lt_server *s = arg;

	return mpkshm_reply(s->ch, req, req->data, req->len);
}

/* The fixture: a channel of the variant's backend and two endpoints. */
#define LT_FIXTURE(fixture)						\
	FIXTURE(fixture)						\
	{								\
		char name[MPKLINK_NAME_MAX];				\
		struct mpkshm_channel *a, *b;				\
	};								\
	FIXTURE_VARIANT(fixture)					\
	{								\
		enum mpkshm_backend backend;				\
	};								\
	FIXTURE_VARIANT_ADD(fixture, thread) {				\
		.backend = MPKSHM_BACKEND_THREAD,			\
	};								\
	FIXTURE_VARIANT_ADD(fixture, memfd) {				\
		.backend = MPKSHM_BACKEND_MEMFD,			\
	};								\
	FIXTURE_VARIANT_ADD(fixture, kernel) {				\
		.backend = MPKSHM_BACKEND_KERNEL,			\
	};								\
	FIXTURE_SETUP(fixture)						\
	{								\
		lt_name(self->name, #fixture);				\
		if (variant->backend == MPKSHM_BACKEND_KERNEL) {	\
			/* The 6.1 harness would still run the test	\
			 * body after a SKIP here: leave the test's	\
			 * process with the harness's skip status. */	\
			if (!lt_kernel_available())			\
				SKIP(_exit(255), "no /dev/mpklink here"); \
			ASSERT_EQ(0, lt_kernel_create(self->name,	\
				LT_SEGMENT, 8, 0, 0, MPKLINK_RIGHTS_ALL)); \
		}							\
		ASSERT_EQ(0, lt_open(variant->backend, self->name, 0,	\
				     &self->a));			\
		ASSERT_EQ(0, lt_open(variant->backend, self->name, 0,	\
				     &self->b));			\
	}								\
	FIXTURE_TEARDOWN(fixture)					\
	{								\
		if (self->b)						\
			mpkshm_close(self->b);				\
		if (self->a)						\
			mpkshm_close(self->a);				\
		if (variant->backend == MPKSHM_BACKEND_KERNEL &&	\
		    lt_kernel_available())				\
			lt_kernel_destroy(self->name);			\
	}

/* Member id of @ch, for addressing it. */
static inline uint64_t lt_id(struct mpkshm_channel *ch)
{
	struct mpkshm_info info;

	return mpkshm_info(ch, &info) ? 0 : info.member_id;
}

/* The exit status of @pid, or 128 + signal. */
static inline int lt_wait(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
				     WEXITSTATUS(status);
}

#endif /* MPKSHM_LIB_TEST_H */
