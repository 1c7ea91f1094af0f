// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Surviving a revocation that lands during an access.
 *
 * The kernel tears a revoked member's mappings down at once, so an access
 * in flight (inside the library, or in a zero-copy window) faults.  This
 * handler, installed once for SIGSEGV and SIGBUS when the first kernel
 * channel opens, looks at faults on channel mappings only, and acts only
 * when the kernel confirms that endpoint was revoked: it puts a private
 * scratch page where the channel page was, marks the endpoint revoked, and
 * lets the access complete harmlessly; the library call then returns
 * EKEYREVOKED.  Every other fault (a stray pointer into a live channel, any
 * fault elsewhere) goes to the handler that was there before, or gets the
 * default action: the process dies with SEGV_PKUERR as it should.  A
 * SIGSEGV or SIGBUS sent by another process (or by kill() itself) is no
 * fault: it gets what it would have got without the library.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "internal.h"

#define MAX_RANGES 1024

struct range {
	_Atomic uintptr_t start;		/* 0: free */
	_Atomic uintptr_t end;
	_Atomic(struct mpkshm_channel *) ch;
};

/* Written under ranges_lock; read by the handler without it. */
static struct range ranges[MAX_RANGES];
static pthread_mutex_t ranges_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous[2];	/* SIGSEGV, SIGBUS */
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static struct sigaction *previous_for(int sig)
{
	return &previous[sig == SIGBUS];
}

static bool kernel_says_revoked(struct mpkshm_channel *ch)
{
	struct mpklink_attach info;

	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	return ioctl(ch->fd, MPKLINK_CHAN_IOC_INFO, &info) == -1 &&
	       errno == EKEYREVOKED;
}

static void handler(int sig, siginfo_t *si, void *ucontext)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	struct sigaction *old = previous_for(sig);
	int saved_errno = errno;
	unsigned int i;

	/* si_addr means something only in a fault the kernel raised. */
	for (i = 0; si->si_code > 0 && i < MAX_RANGES; i++) {
		uintptr_t start = atomic_load(&ranges[i].start);
		struct mpkshm_channel *ch;

		if (!start || addr < start || addr >= atomic_load(&ranges[i].end))
			continue;
		ch = atomic_load(&ranges[i].ch);
		if (ch && kernel_says_revoked(ch)) {
			atomic_store(&ch->revoked, true);
			mmap((void *)(addr & ~(uintptr_t)(MPKSHM_PAGE - 1)),
			     MPKSHM_PAGE, PROT_READ | PROT_WRITE,
			     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			errno = saved_errno;
			return;
		}
		break;
	}
	errno = saved_errno;
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, si, ucontext);
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
	} else if (si->si_code > 0) {
		/* Returning re-executes the access, which dies this time. */
		signal(sig, SIG_DFL);
	} else if (old->sa_handler == SIG_DFL) {
		/*
		 * Sent (kill, tgkill, sigqueue): nothing re-executes, so
		 * deliver it again, as it would have been without us.  It is
		 * blocked in this handler: it comes when we return.
		 */
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &previous[0]);
	sigaction(SIGBUS, &sa, &previous[1]);
}

int mpkshm_fault_register(struct mpkshm_channel *ch, void *start, size_t len)
{
	unsigned int i;
	int err = -ENOSPC;

	pthread_once(&install_once, install);
	pthread_mutex_lock(&ranges_lock);
	for (i = 0; i < MAX_RANGES; i++) {
		if (atomic_load(&ranges[i].start))
			continue;
		/* start last: it publishes the entry to the handler. */
		atomic_store(&ranges[i].ch, ch);
		atomic_store(&ranges[i].end, (uintptr_t)start + len);
		atomic_store(&ranges[i].start, (uintptr_t)start);
		err = 0;
		break;
	}
	pthread_mutex_unlock(&ranges_lock);
	return err;
}

void mpkshm_fault_unregister(struct mpkshm_channel *ch)
{
	unsigned int i;

	pthread_mutex_lock(&ranges_lock);
	for (i = 0; i < MAX_RANGES; i++) {
		if (atomic_load(&ranges[i].ch) != ch)
			continue;
		atomic_store(&ranges[i].start, 0);
		atomic_store(&ranges[i].ch, NULL);
	}
	pthread_mutex_unlock(&ranges_lock);
}
