// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/* Runtime detection of protection keys. */
#include <cpuid.h>
#include <stdbool.h>

#include "mpkshm.h"

#define CPUID_LEAF_EXTENDED_FEATURES 7
#define CPUID_7_ECX_OSPKE (1u << 4)

bool mpkshm_pku_supported(void)
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
