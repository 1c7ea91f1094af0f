// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-probe: exit 0 if this host can run an MPKLink test guest under KVM.
 *
 * /dev/kvm existing is not enough: on some hosts (nested setups, sandboxes)
 * it opens but cannot run a guest, and a host CPU without PKU cannot give
 * the guest protection keys.  So the probe asks KVM whether it would expose
 * PKU (CPUID.(EAX=7,ECX=0):ECX[3]) and then really runs a vCPU through one
 * HLT instruction.  On any failure it prints the reason on stdout (tools/vm
 * shows it when it falls back to TCG) and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define CPUID_7_ECX_PKU (1u << 3)
#define MAX_CPUID_ENTRIES 256

static int fail(const char *what)
{
	printf("%s: %s\n", what, strerror(errno));
	return 1;
}

static int kvm_offers_pku(int kvm)
{
	size_t size = sizeof(struct kvm_cpuid2) +
		      MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *cpuid = calloc(1, size);
	int found = 0;

	if (!cpuid)
		return -1;
	cpuid->nent = MAX_CPUID_ENTRIES;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		free(cpuid);
		return -1;
	}
	for (unsigned int i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 7 && e->index == 0)
			found = !!(e->ecx & CPUID_7_ECX_PKU);
	}
	free(cpuid);
	return found;
}

/* Run one HLT in real mode at guest physical address 0x1000. */
static int run_one_hlt(int kvm, int vm)
{
	static const unsigned char code[] = { 0xf4 };	/* hlt */
	struct kvm_userspace_memory_region region;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_run *run;
	long run_size;
	void *mem;
	int vcpu;

	mem = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap guest memory");
	memcpy((char *)mem + 0x1000, code, sizeof(code));
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = 0x2000,
		.userspace_addr = (unsigned long)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (long)sizeof(*run))
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");
	/* A broken KVM may loop instead of failing; tools/vm bounds us. */
	alarm(5);
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail("KVM_RUN");
	if (run->exit_reason != KVM_EXIT_HLT) {
		printf("KVM_RUN: exit reason %u, expected HLT\n",
		       run->exit_reason);
		return 1;
	}
	return 0;
}

int main(void)
{
	int kvm, vm, version, pku;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	version = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		printf("KVM API version %d, expected %d\n", version,
		       KVM_API_VERSION);
		return 1;
	}
	pku = kvm_offers_pku(kvm);
	if (pku < 0)
		return fail("KVM_GET_SUPPORTED_CPUID");
	if (!pku) {
		printf("KVM does not offer PKU to guests (host CPU lacks it)\n");
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (run_one_hlt(kvm, vm))
		return 1;
	printf("KVM works and offers PKU\n");
	return 0;
}
