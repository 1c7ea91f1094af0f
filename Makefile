# SPDX-License-Identifier: GPL-2.0
#
# MPKLink: build, lint and test everything.  "make help" lists the targets;
# Documentation/testing.md explains how the pieces fit.

include tools/build/flags.mk
include tools/build/dirs.mk

TOP := $(MPKLINK_TOP)
KDIR ?= /lib/modules/$(shell uname -r)/build
# The guest kernels make check boots; tools/vm resolves a series to the
# newest installed kernel of that series that has headers.
GUEST_SERIES ?= 6.1 6.12

export BUILD MPKLINK_CACHE

USERSPACE := lib rpc python tools selftests bench-build
PHONY := all deps userspace $(USERSPACE) module modules-guest ext lint \
	 checkpatch sparse cppcheck check check-build demo bench install \
	 uninstall dkms-source modules_install clean help debug-kernel-check
.PHONY: $(PHONY)

# Every target needs the packages from tools/deps.  They are checked (and
# installed if missing) first, then make runs again for the real work, so
# that what this Makefile computes from installed packages (guest kernel
# versions, the linux-source version) is computed after installing them.
ifndef MPKLINK_DEPS_OK

.DEFAULT_GOAL := all
$(filter-out deps clean help check,$(PHONY)): deps
	$(Q)$(MAKE) --no-print-directory MPKLINK_DEPS_OK=1 $@

# The test driver runs in this make, not a sub-make, so that a failure adds
# only one line of make's own after the summary.
check: deps
	$(Q)$(MAKE) --no-print-directory MPKLINK_DEPS_OK=1 check-build
	$(Q)$(TOP)/tools/testing/check $(GUEST_SERIES)
kmod-%: deps
	$(Q)$(MAKE) --no-print-directory MPKLINK_DEPS_OK=1 $@

deps:
	$(Q)$(TOP)/tools/deps

clean:
	rm -rf $(BUILD)

help:
	@echo 'Targets:'
	@echo '  all            (default) library, tools, selftests, bench, module'
	@echo '  deps           install the Debian packages everything needs'
	@echo '  module         mpklink.ko for KDIR (default: the running kernel;'
	@echo '                 the guest kernels when it has no build directory)'
	@echo '  modules-guest  mpklink.ko for every guest kernel ($(GUEST_SERIES))'
	@echo '  kmod-VERSION   mpklink.ko for one installed kernel'
	@echo '  lint           checkpatch and sparse on the module, cppcheck on userspace'
	@echo '  check          everything above, then host tests and the selftests'
	@echo '                 in a guest of each kernel; prints "N passed, N failed"'
	@echo '  debug-kernel-check  (not in check) build a KASAN/lockdep/kmemleak kernel'
	@echo '                 from linux-source-6.1 (cached), run the selftests on it'
	@echo '  demo           boot a guest, load the module and show it working'
	@echo '  bench          the benchmark on this machine (tools/vm bench: in a guest)'
	@echo '  install        libmpkshm (shared, static, header, mpkshm.pc), the Python'
	@echo '                 package mpkshm, mpklink-grant'
	@echo '                 and its manual, the udev rule, modules-load.d entry and'
	@echo '                 systemd unit, and the module'"'"'s sources for DKMS'
	@echo '  uninstall      remove what install installed (not /etc/mpklink/policy)'
	@echo '  dkms-source    only the module'"'"'s sources for DKMS, in /usr/src/mpklink-$(MPKLINK_VERSION)'
	@echo '  modules_install  mpklink.ko for KDIR into /lib/modules/RELEASE/updates'
	@echo '  clean          remove build/ (the download cache is kept)'
	@echo 'Variables: KDIR, BUILD (default build/), MPKLINK_CACHE, V=1;'
	@echo '  for install: DESTDIR, PREFIX (default /usr/local), BINDIR, LIBDIR,'
	@echo '  INCLUDEDIR, MANDIR, PKGCONFIGDIR, PYTHONDIR, SYSCONFDIR (default /etc),'
	@echo '  UDEVRULESDIR, MODULESLOADDIR, SYSTEMDUNITDIR, DKMSSRCDIR'

else # MPKLINK_DEPS_OK

all: userspace module

userspace: $(USERSPACE)

lib: ext
	$(Q)$(MAKE) --no-print-directory -C libmpkshm all tests

rpc python tools selftests bench-build: lib
rpc:
	$(Q)$(MAKE) --no-print-directory -C libmpkshm-rpc
python:
	$(Q)$(MAKE) --no-print-directory -C python
bench-build: rpc
tools:
	$(Q)$(MAKE) --no-print-directory -C tools
selftests: ext
	$(Q)$(MAKE) --no-print-directory -C selftests
bench-build:
	$(Q)$(MAKE) --no-print-directory -C bench

# The benchmark on this machine: every transport that needs neither the
# module nor a guest ("tools/vm bench" runs them all in one).
bench: userspace
	$(Q)$(TOP)/bench/run

# --- the module --------------------------------------------------------------

# Sources that kbuild sees.  Each kernel gets its own directory of symlinks
# to them (build/kmod/VERSION), so builds for several kernels never share
# object files and the source tree stays clean.
KMOD_FILES := Kbuild $(shell cd $(TOP) && find kmod -name '*.[ch]' -o -name Kbuild)

# $(call kbuild,KERNEL_BUILD_DIR,OUTPUT_DIR,EXTRA_ARGUMENTS)
kbuild = mkdir -p $(2) && \
	for f in $(KMOD_FILES); do \
		mkdir -p $(2)/$$(dirname $$f) && ln -sfn $(TOP)/$$f $(2)/$$f || exit 1; \
	done && \
	$(MAKE) --no-print-directory -C $(1) M=$(2) W=1 KCFLAGS=-Werror \
		MPKLINK_VERSION=$(MPKLINK_VERSION) $(3)

# The release as the kernel reports it (uname -r, vermagic); Debian's 6.1
# headers have the upstream version in include/config/kernel.release.
kernel_release = $(shell awk -F'"' '/UTS_RELEASE/ { print $$2 }' \
		 $(1)/include/generated/utsrelease.h 2>/dev/null)
guest_kernel = $(or $(shell $(TOP)/tools/vm kernels | awk '$$1 == "$(1)" { print $$2 }'),\
	$(error guest kernel $(1) is not installed; run make deps))

kmod-%:
	$(Q)test -d /lib/modules/$*/build || \
		{ echo "no headers for kernel $* in /lib/modules/$*/build" >&2; exit 1; }
	$(Q)$(call kbuild,/lib/modules/$*/build,$(BUILD)/kmod/$*,modules)

modules-guest: $(foreach s,$(GUEST_SERIES),kmod-$(call guest_kernel,$(s)))

ifneq ($(wildcard $(KDIR)/Makefile),)
module:
	$(Q)$(call kbuild,$(KDIR),$(BUILD)/kmod/$(call kernel_release,$(KDIR)),modules)
else ifneq ($(filter command line environment,$(origin KDIR)),)
module:
	@echo "KDIR=$(KDIR) is not a kernel build directory" >&2; exit 1
else
module: modules-guest
	@echo "note: the running kernel has no build directory ($(KDIR));" \
	      "built mpklink.ko for the guest kernels instead"
endif

# --- files extracted from Debian's linux-source-6.1 -------------------------

# kselftest.h, kselftest_harness.h and checkpatch.pl (with the data files it
# reads) are never committed.  They are extracted once per package version
# into the cache and copied into build/ext.
LINUX_SOURCE_VERSION := $(shell dpkg-query -W -f='$${Version}' linux-source-6.1 2>/dev/null)
EXT_CACHE := $(MPKLINK_CACHE)/linux-source-$(LINUX_SOURCE_VERSION)
EXT_FILES := tools/testing/selftests/kselftest.h \
	     tools/testing/selftests/kselftest_harness.h \
	     scripts/checkpatch.pl scripts/spelling.txt \
	     scripts/const_structs.checkpatch
EXT_STAMP := $(BUILD)/ext/.linux-source-$(LINUX_SOURCE_VERSION)

ext: $(EXT_STAMP)

$(EXT_STAMP):
	$(Q)if [ ! -f $(EXT_CACHE)/.complete ]; then \
		echo "  EXTRACT kselftest headers and checkpatch from linux-source-6.1 $(LINUX_SOURCE_VERSION)"; \
		rm -rf $(EXT_CACHE).tmp && mkdir -p $(EXT_CACHE).tmp && \
		tar -xJf /usr/src/linux-source-6.1.tar.xz -C $(EXT_CACHE).tmp \
			--strip-components=1 $(addprefix linux-source-6.1/,$(EXT_FILES)) && \
		touch $(EXT_CACHE).tmp/.complete && \
		rm -rf $(EXT_CACHE) && mv $(EXT_CACHE).tmp $(EXT_CACHE) || exit 1; \
	fi
	$(Q)rm -rf $(BUILD)/ext && mkdir -p $(BUILD)/ext/kselftest $(BUILD)/ext/checkpatch
	$(Q)cp $(EXT_CACHE)/tools/testing/selftests/kselftest*.h $(BUILD)/ext/kselftest/
	$(Q)cp $(EXT_CACHE)/scripts/checkpatch.pl $(EXT_CACHE)/scripts/spelling.txt \
		$(EXT_CACHE)/scripts/const_structs.checkpatch $(BUILD)/ext/checkpatch/
	$(Q)touch $@

# --- lint --------------------------------------------------------------------

KMOD_C_SOURCES := $(filter %.c %.h,$(KMOD_FILES))

lint: checkpatch sparse cppcheck

checkpatch: ext
	$(Q)echo "  CHECKPATCH kmod"
	$(Q)$(BUILD)/ext/checkpatch/checkpatch.pl --no-tree --strict --quiet \
		--terse --show-types -f $(KMOD_C_SOURCES)

# sparse runs through kbuild (C=2 checks every file, built or not) for each
# guest kernel; any warning it prints fails the target.
sparse: $(foreach s,$(GUEST_SERIES),sparse-$(call guest_kernel,$(s)))
sparse-%:
	$(Q)echo "  SPARSE  kmod for $*"
	$(Q)mkdir -p $(BUILD)/lint
	$(Q)($(call kbuild,/lib/modules/$*/build,$(BUILD)/lint/sparse-$*,C=2 modules)) \
		> $(BUILD)/lint/sparse-$*.log 2>&1 || \
		{ cat $(BUILD)/lint/sparse-$*.log; exit 1; }
	$(Q)if grep -E '(warning|error):' $(BUILD)/lint/sparse-$*.log; then exit 1; fi

CPPCHECK_DIRS := libmpkshm libmpkshm-rpc tools selftests bench
cppcheck:
	$(Q)echo "  CPPCHECK $(CPPCHECK_DIRS)"
	$(Q)cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
		--enable=warning,portability,performance \
		--suppress=missingIncludeSystem \
		--suppress='*:$(KSFT_INCLUDE)/*' \
		-D__x86_64__ -D__GNUC__ -I kmod/include/uapi -I libmpkshm/include \
		-I libmpkshm-rpc/include \
		-I $(KSFT_INCLUDE) \
		$(CPPCHECK_DIRS)

# --- tests -------------------------------------------------------------------

check-build: all modules-guest lint

demo: all modules-guest
	$(Q)$(TOP)/tools/vm --kernel $(firstword $(GUEST_SERIES)) run \
		$(TOP)/tools/testing/demo

# Not part of check: builds a debug kernel (once; it is cached) and runs the
# selftests on it.  Documentation/testing.md.
debug-kernel-check:
	$(Q)$(TOP)/tools/testing/debug-kernel-check

# --- install -----------------------------------------------------------------

# Directories: tools/build/dirs.mk.  What goes where and why:
# Documentation/admin-guide.md.  The module is installed as sources for
# DKMS, which builds it for each kernel; modules_install builds and installs
# it for KDIR alone, for systems without DKMS.
DKMS_DIR = $(DKMSSRCDIR)/mpklink-$(MPKLINK_VERSION)
SYSTEM_FILES = $(INCLUDEDIR)/linux/mpklink.h \
	       $(UDEVRULESDIR)/60-mpklink.rules \
	       $(MODULESLOADDIR)/mpklink.conf \
	       $(SYSTEMDUNITDIR)/mpklink-policy.service

install: dkms-source
	$(Q)$(MAKE) --no-print-directory -C libmpkshm install
	$(Q)$(MAKE) --no-print-directory -C libmpkshm-rpc install
	$(Q)$(MAKE) --no-print-directory -C python install
	$(Q)$(MAKE) --no-print-directory -C tools install
	$(Q)$(INSTALL) -D -m 0644 kmod/include/uapi/linux/mpklink.h \
		$(DESTDIR)$(INCLUDEDIR)/linux/mpklink.h
	$(Q)$(INSTALL) -D -m 0644 tools/install/udev/60-mpklink.rules \
		$(DESTDIR)$(UDEVRULESDIR)/60-mpklink.rules
	$(Q)$(INSTALL) -D -m 0644 tools/install/modules-load.d/mpklink.conf \
		$(DESTDIR)$(MODULESLOADDIR)/mpklink.conf
	$(Q)mkdir -p $(DESTDIR)$(SYSTEMDUNITDIR)
	$(Q)sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		tools/install/systemd/mpklink-policy.service.in \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/mpklink-policy.service
	$(Q)chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/mpklink-policy.service
	$(Q)$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/mpklink

# Exactly what the module needs (KMOD_FILES), and dkms.conf with the version.
dkms-source:
	$(Q)for f in $(KMOD_FILES); do \
		$(INSTALL) -D -m 0644 $(TOP)/$$f $(DESTDIR)$(DKMS_DIR)/$$f || exit 1; \
	done
	$(Q)sed 's/#MODULE_VERSION#/$(MPKLINK_VERSION)/' dkms.conf \
		> $(DESTDIR)$(DKMS_DIR)/dkms.conf
	$(Q)chmod 0644 $(DESTDIR)$(DKMS_DIR)/dkms.conf

# The policy and the rest of $(SYSCONFDIR)/mpklink stay.  Sources DKMS still
# builds from are not pulled from under it.
uninstall:
	$(Q)if [ -z "$(DESTDIR)" ] && command -v dkms > /dev/null && \
		[ -n "$$(dkms status mpklink/$(MPKLINK_VERSION) 2> /dev/null)" ]; then \
		echo "mpklink/$(MPKLINK_VERSION) is registered with DKMS: run" \
		     "'dkms remove mpklink/$(MPKLINK_VERSION) --all' first" >&2; \
		exit 1; \
	fi
	$(Q)$(MAKE) --no-print-directory -C libmpkshm uninstall
	$(Q)$(MAKE) --no-print-directory -C libmpkshm-rpc uninstall
	$(Q)$(MAKE) --no-print-directory -C python uninstall
	$(Q)$(MAKE) --no-print-directory -C tools uninstall
	$(Q)rm -f $(addprefix $(DESTDIR),$(SYSTEM_FILES)) \
		$(addprefix $(DESTDIR)$(DKMS_DIR)/,dkms.conf $(KMOD_FILES))
	$(Q)if [ -d $(DESTDIR)$(DKMS_DIR) ]; then \
		find $(DESTDIR)$(DKMS_DIR) -depth -type d -empty -delete; fi
	$(Q)rmdir $(DESTDIR)$(SYSCONFDIR)/mpklink 2> /dev/null || true

# The module goes where the kernel it was built for looks for it (its
# release is uname -r there).  Unsigned: where module signatures are
# enforced (Secure Boot), use DKMS, which signs.
ifneq ($(wildcard $(KDIR)/Makefile),)
KDIR_RELEASE = $(call kernel_release,$(KDIR))
modules_install: module
	$(Q)$(INSTALL) -D -m 0644 $(BUILD)/kmod/$(KDIR_RELEASE)/kmod/mpklink.ko \
		$(DESTDIR)/lib/modules/$(KDIR_RELEASE)/updates/mpklink.ko
	$(Q)if [ -z "$(DESTDIR)" ]; then depmod -a $(KDIR_RELEASE); fi
else
modules_install:
	@echo "KDIR=$(KDIR) is not a kernel build directory: install the" \
	      "kernel's headers, or give KDIR" >&2; exit 1
endif

endif # MPKLINK_DEPS_OK
