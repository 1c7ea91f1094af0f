# SPDX-License-Identifier: GPL-2.0
#
# What the guest's container tests share; source it after tap.sh.  Sets
# G, WC, UNCHROOT, CDI_APPLY, STATE and CG, makes $TMP and the busybox
# root file system $ROOTFS that every container of a test runs from (the
# host's /usr, for the dynamic loader and libc, and the build tree are
# bound in read-only; $TMP/share is bound writable at /share), and gives:
#
#   container_skip PLAN WHAT...   skip the plan unless root, the module and
#                                 each command WHAT are there
#   grants CHANNEL                "PRINCIPAL RIGHTS" lines, sorted
#   members CHANNEL               how many members it has
#   serve CHANNEL CGROUP [UID]    a wc_service on the host, in CGROUP, as
#                                 UID; its pid in $SERVER
#   records                       the hook's records, but its lock
#
# The cleanup, run at exit, stops the service, calls container_cleanup
# (the test's own, if it defines one), removes every channel and the
# cgroups listed in $CGROUPS.

BUILD=${MPKLINK_BUILD:-${BUILD:-$TOP/build}}
G=$BUILD/tools/mpklink-grant
UNCHROOT=$BUILD/tools/tests/unchroot
WC=$BUILD/libmpkshm/examples/wc_service
CDI_APPLY=$TOP/tools/testing/cdi-apply
STATE=/run/mpklink/containers
CG=/sys/fs/cgroup
TMP=$(mktemp -d)
SERVER=
CGROUPS=

container_skip() {
	local plan=$1 i cmd
	shift
	for cmd in "$@"; do
		if ! command -v "$cmd" > /dev/null; then
			for i in $(seq "$plan"); do echo "ok $i # SKIP needs $cmd"; done
			exit 0
		fi
	done
	if [ ! -e /dev/mpklink ] || [ "$(id -u)" != 0 ]; then
		for i in $(seq "$plan"); do echo "ok $i # SKIP needs /dev/mpklink and root"; done
		exit 0
	fi
}

container_lib_cleanup() {
	local cg
	[ "$(type -t container_cleanup)" = function ] && container_cleanup
	[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
	"$G" apply - < /dev/null > /dev/null 2>&1
	# Deepest first: a cgroup goes only when its children have.
	for cg in $(printf '%s\n' $CGROUPS | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-); do
		rmdir "$CG$cg"/* "$CG$cg" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap container_lib_cleanup EXIT

grants() {
	"$G" show "$1" --json | jq -r '.grants[] | "\(.principal) \(.rights)"' | sort
}

members() {
	"$G" show "$1" --json | jq '.members | length'
}

records() {
	ls -A "$STATE" 2>/dev/null | grep -v '^\.lock$'
}

serve() {
	local channel=$1 cgroup=$2 uid=${3:-0} i
	mkdir -p "$CG$cgroup"
	CGROUPS+=" $cgroup"
	( echo $BASHPID > "$CG$cgroup/cgroup.procs" &&
	  exec setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		"$WC" serve "$channel" ) > "$TMP/server.log" 2>&1 &
	SERVER=$!
	for i in $(seq 100); do
		grep -q serving "$TMP/server.log" && break
		sleep 0.1
	done
}

ROOTFS=$TMP/rootfs
mkdir -p "$ROOTFS"/{bin,dev,proc,sys,tmp,usr,share} "$ROOTFS$BUILD" "$TMP/share"
cp /bin/busybox "$ROOTFS/bin/busybox"
for applet in sh echo cat sleep touch; do
	ln -s busybox "$ROOTFS/bin/$applet"
done
ln -s usr/lib "$ROOTFS/lib"
ln -s usr/lib64 "$ROOTFS/lib64"
