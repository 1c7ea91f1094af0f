# SPDX-License-Identifier: GPL-2.0
#
# Compiler settings shared by every userspace Makefile (library, tools,
# selftests, bench), so that each of them also builds on its own with
# "make -C DIR".  Included, never run.

MPKLINK_TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
# MPKLink's version, the only place it is written: mpklink-grant
# --version's and the DKMS package's (dkms.conf gets it when make installs
# the sources).
MPKLINK_VERSION := 0.2.0
# libmpkshm's version, its ABI's: mpkshm_version()'s, mpkshm.pc's, and its
# major number the soname's (libmpkshm.so.MAJOR), raised whenever a
# program built against the old header would break.
LIBMPKSHM_VERSION := 1.2.2
# libmpkshm-rpc's, in the same way (libmpkshm-rpc.so.MAJOR).
LIBMPKSHM_RPC_VERSION := 1.0.0
BUILD ?= $(MPKLINK_TOP)/build
MPKLINK_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mpklink

CC ?= cc
# Warnings are errors in every userspace build (Documentation/testing.md).
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	    -Wmissing-prototypes -Wformat=2 -Wvla
CFLAGS ?= -O2 -g
MPKLINK_CFLAGS := $(WARNINGS) -D_GNU_SOURCE -fno-strict-aliasing \
		  -I$(MPKLINK_TOP)/kmod/include/uapi \
		  -I$(MPKLINK_TOP)/libmpkshm/include

# kselftest.h and kselftest_harness.h, extracted from Debian's
# linux-source-6.1 by the top-level Makefile (target ext).  Included with
# -isystem: they are not -Wextra clean, and they are not ours to fix.
KSFT_INCLUDE := $(BUILD)/ext/kselftest

# Test programs are single translation units whose harness macros
# (FIXTURE_SETUP, ...) define non-static functions: prototypes buy nothing.
TEST_CFLAGS := -std=gnu11 $(MPKLINK_CFLAGS) -Wno-missing-prototypes \
	       -isystem $(KSFT_INCLUDE) -I$(MPKLINK_TOP)/tools/testing -MMD -MP

# The library as built by libmpkshm/Makefile.
LIBMPKSHM_DIR := $(BUILD)/libmpkshm
LIBMPKSHM_A := $(LIBMPKSHM_DIR)/libmpkshm.a
# And libmpkshm-rpc, by libmpkshm-rpc/Makefile.
LIBMPKSHM_RPC_DIR := $(BUILD)/libmpkshm-rpc
LIBMPKSHM_RPC_A := $(LIBMPKSHM_RPC_DIR)/libmpkshm-rpc.a

ifeq ($(V),1)
Q :=
else
Q := @
endif
