/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Catch one SIGSEGV around a single memory access and report how it
 * faulted, so tests can assert "this access faults with SEGV_PKUERR on key
 * K" without dying.  Header-only; one copy per test program.
 */
#ifndef MPKLINK_SELFTEST_PKEY_FAULT_H
#define MPKLINK_SELFTEST_PKEY_FAULT_H

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

struct pkey_fault {
	int signo;
	int code;		/* si_code: SEGV_PKUERR, SEGV_ACCERR, ... */
	int pkey;		/* si_pkey, meaningful for SEGV_PKUERR */
	void *addr;
};

/* Per thread: tests fault in several threads at once. */
static __thread sigjmp_buf pkey_fault_jmp;
static __thread volatile sig_atomic_t pkey_fault_armed;
static __thread struct pkey_fault pkey_fault_seen;

static inline uint32_t pkey_fault_rdpkru(void)
{
	uint32_t eax, edx;

	__asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static inline void pkey_fault_wrpkru(uint32_t pkru)
{
	__asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(pkru), "c"(0), "d"(0)
			 : "memory");
}

static inline int pkey_fault_has_pku(void)
{
	unsigned int eax, ebx, ecx, edx;

	__asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx)
			 : "a"(7), "c"(0));
	return !!(ecx & (1u << 4));	/* OSPKE */
}

static void pkey_fault_handler(int signo, siginfo_t *si, void *ctx)
{
	(void)ctx;
	if (!pkey_fault_armed) {
		/* Not ours: die as the default action would. */
		signal(signo, SIG_DFL);
		raise(signo);
		return;
	}
	pkey_fault_armed = 0;
	pkey_fault_seen.signo = signo;
	pkey_fault_seen.code = si->si_code;
	pkey_fault_seen.pkey = si->si_pkey;
	pkey_fault_seen.addr = si->si_addr;
	siglongjmp(pkey_fault_jmp, 1);
}

static inline int pkey_fault_catch_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = pkey_fault_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		return -1;
	return sigaction(SIGBUS, &sa, NULL);
}

/*
 * Signal delivery sets PKRU to the kernel's init value and siglongjmp()
 * skips sigreturn, so PKRU is saved before the access and put back after a
 * fault; otherwise every key would stay closed behind the test's back.
 */
#define PKEY_FAULT_TRY(fault, access)					\
({									\
	volatile uint32_t __pkru =					\
		pkey_fault_has_pku() ? pkey_fault_rdpkru() : 0;		\
	volatile int __faulted = 0;					\
	if (sigsetjmp(pkey_fault_jmp, 1)) {				\
		if (pkey_fault_has_pku())				\
			pkey_fault_wrpkru(__pkru);			\
		*(fault) = pkey_fault_seen;				\
		__faulted = 1;						\
	} else {							\
		pkey_fault_armed = 1;					\
		access;							\
		pkey_fault_armed = 0;					\
	}								\
	__faulted;							\
})

/* 1 if writing @value to @p faulted (details in @fault), 0 if it worked. */
static __attribute__((noinline, unused)) int
pkey_fault_write(volatile int *p, int value, struct pkey_fault *fault)
{
	return PKEY_FAULT_TRY(fault, *p = value);
}

/* 1 if reading @p faulted (details in @fault), 0 if it worked. */
static __attribute__((noinline, unused)) int
pkey_fault_read(volatile int *p, struct pkey_fault *fault)
{
	return PKEY_FAULT_TRY(fault, (void)*p);
}

/* Byte-sized variants, for addresses that are not int-aligned. */
static __attribute__((noinline, unused)) int
pkey_fault_write_byte(volatile char *p, char value, struct pkey_fault *fault)
{
	return PKEY_FAULT_TRY(fault, *p = value);
}

static __attribute__((noinline, unused)) int
pkey_fault_read_byte(volatile char *p, struct pkey_fault *fault)
{
	return PKEY_FAULT_TRY(fault, (void)*p);
}

/* PKRU bits of @pkey: 0 open, 1 access-disabled, 2 write-disabled, 3 both. */
static inline unsigned int pkey_fault_pkru_bits(int pkey)
{
	return (pkey_fault_rdpkru() >> (2 * pkey)) & 3;
}

#endif /* MPKLINK_SELFTEST_PKEY_FAULT_H */
