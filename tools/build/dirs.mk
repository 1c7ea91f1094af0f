# SPDX-License-Identifier: GPL-2.0
#
# Where "make install" puts things, shared by the Makefiles that install
# (the top level, libmpkshm, tools, python).  Included, never run.  Any of these can
# be given on the command line.  DESTDIR is prepended to every path when
# installing and never written into an installed file, so a package built
# with DESTDIR=staging works once its files are in place.
# Documentation/admin-guide.md lists what goes where.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
# Programs the library runs itself (mpkshm-broker, the memfd backend's).
LIBEXECDIR ?= $(PREFIX)/libexec
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# The Python package mpkshm, where Debian's /usr/bin/python3 looks: below
# /usr in /usr/lib/python3/dist-packages, below any other prefix (such as
# the default /usr/local) in PREFIX/lib/python3.N/dist-packages.
PYTHON_VERSION := $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PYTHON_VERSION)/dist-packages)
# Configuration belongs to the administrator, wherever the software went:
# the policy is /etc/mpklink/policy for a /usr/local install too.
SYSCONFDIR ?= /etc
# systemd 252 and its udev read these below /usr/local/lib as well as /usr/lib.
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
MODULESLOADDIR ?= $(PREFIX)/lib/modules-load.d
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# DKMS takes sources from /usr/src only (its source_tree).
DKMSSRCDIR ?= /usr/src

INSTALL ?= install
