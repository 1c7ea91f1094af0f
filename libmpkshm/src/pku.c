// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Protection keys: detection, per-thread access windows, and which key each
 * channel uses.
 *
 * A window opens one key for the calling thread and closes it again.  Only
 * that key's two PKRU bits change (read, modify, write the register), so
 * windows on different keys, and whatever the application does with other
 * keys, are left alone.  Windows nest: each thread counts, per key, how
 * many windows are open and how many of them write.
 *
 * A process has 15 usable keys.  Each channel gets its own while they last;
 * after that channels share the key used by the fewest channels, and a
 * window on one then opens the others sharing its key too
 * (Documentation/api.md, "More channels than keys").
 */
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "internal.h"

#define CPUID_LEAF_EXTENDED_FEATURES 7
#define CPUID_7_ECX_OSPKE (1u << 4)
#define NR_PKEYS 16

MPKSHM_EXPORT bool mpkshm_pku_supported(void)
{
	unsigned int eax, ebx, ecx, edx;

	/*
	 * OSPKE, not PKU: the CPU may have keys that the kernel left disabled
	 * (CR4.PKE clear, e.g. booted with nopku), and then RDPKRU faults.
	 */
	if (!__get_cpuid_count(CPUID_LEAF_EXTENDED_FEATURES, 0,
			       &eax, &ebx, &ecx, &edx))
		return false;
	return ecx & CPUID_7_ECX_OSPKE;
}

static inline uint32_t rdpkru(void)
{
	uint32_t eax, edx;

	__asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

/* The "memory" clobber keeps channel accesses inside the window. */
static inline void wrpkru(uint32_t pkru)
{
	__asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(pkru), "c"(0), "d"(0)
			 : "memory");
}

static __thread uint16_t window_depth[NR_PKEYS];
static __thread uint16_t window_writers[NR_PKEYS];
static __thread uint64_t pkru_writes;

uint64_t mpkshm_pkru_writes(void)
{
	return pkru_writes;
}

#ifdef MPKSHM_COUNT_WINDOWS
/*
 * The benchmark's counting build (bench/Makefile): on a CPU without keys,
 * windows still count the PKRU writes a CPU with keys would make, against
 * a pretend key whose bits live here, so the counts carry over.
 */
#define PRETEND_KEY 0
static __thread uint8_t pretend_bits = 3;	/* closed */

static int window_key(int pkey)
{
	/* CPUID on every window would be a VM exit each: asked once. */
	static int pretend = -1;

	if (pretend < 0)
		pretend = !mpkshm_pku_supported();
	return pkey < 0 && pretend ? PRETEND_KEY : pkey;
}
#else
static int window_key(int pkey)
{
	return pkey;
}
#endif

static unsigned int window_bits(int pkey)
{
	if (!window_depth[pkey])
		return 3;	/* access and write disabled */
	if (!window_writers[pkey])
		return 2;	/* write disabled */
	return 0;
}

/*
 * WRPKRU serialises the pipeline (and under QEMU's emulation flushes the
 * software TLB): it is written only when the bits change.
 */
static void window_apply(int pkey)
{
	const unsigned int shift = 2 * pkey;
	uint32_t pkru, want;

#ifdef MPKSHM_COUNT_WINDOWS
	if (pkey == PRETEND_KEY) {
		if (pretend_bits != window_bits(pkey))
			pkru_writes++;
		pretend_bits = window_bits(pkey);
		return;
	}
#endif
	pkru = rdpkru();
	want = (pkru & ~(3u << shift)) | (window_bits(pkey) << shift);
	if (want != pkru) {
		wrpkru(want);
		pkru_writes++;
	}
}

void mpkshm_window_open(int pkey, bool write)
{
	pkey = window_key(pkey);
	if (pkey < 0)
		return;
	window_depth[pkey]++;
	if (write)
		window_writers[pkey]++;
	window_apply(pkey);
}

void mpkshm_window_close(int pkey, bool write)
{
	pkey = window_key(pkey);
	if (pkey < 0)
		return;
	window_depth[pkey]--;
	if (write)
		window_writers[pkey]--;
	window_apply(pkey);
}

/*
 * Channels per key, for keys the library allocated itself (memfd and
 * thread backends) and keys the kernel allocated (kernel backend): the two
 * are never mixed, because the kernel shares only keys it allocated.
 */
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int library_key_users[NR_PKEYS];
static unsigned int kernel_key_users[NR_PKEYS];

static int least_used(const unsigned int *users)
{
	int k, best = -1;

	for (k = 1; k < NR_PKEYS; k++)
		if (users[k] && (best < 0 || users[k] < users[best]))
			best = k;
	return best;
}

int mpkshm_key_take(void)
{
	int key;

	if (!mpkshm_pku_supported())
		return -1;
	pthread_mutex_lock(&keys_lock);
	key = pkey_alloc(0, PKEY_DISABLE_ACCESS);
	if (key < 0)
		key = least_used(library_key_users);
	if (key < 0)
		key = -ENOSPC;	/* every key taken, none by us */
	else
		library_key_users[key]++;
	pthread_mutex_unlock(&keys_lock);
	return key;
}

void mpkshm_key_put(int pkey)
{
	if (pkey < 0)
		return;
	pthread_mutex_lock(&keys_lock);
	if (library_key_users[pkey] && !--library_key_users[pkey])
		pkey_free(pkey);
	pthread_mutex_unlock(&keys_lock);
}

int mpkshm_key_least_used(void)
{
	int key;

	pthread_mutex_lock(&keys_lock);
	key = least_used(kernel_key_users);
	pthread_mutex_unlock(&keys_lock);
	return key;
}

/* A kernel-backend channel uses @pkey (+1) or stops using it (-1). */
void mpkshm_key_use(int pkey, int delta)
{
	if (pkey < 0)
		return;
	pthread_mutex_lock(&keys_lock);
	kernel_key_users[pkey] += delta;
	pthread_mutex_unlock(&keys_lock);
}
