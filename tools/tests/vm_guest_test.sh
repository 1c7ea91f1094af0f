#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/vm end to end, in real guests (kernel 6.1): the command's status
# comes back on its own channel, a guest that dies or hangs is a failure,
# and a kernel warning fails a run whose command succeeded.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

vm() {
	"$TOP/tools/vm" --kernel 6.1 --quiet --log "$TMP/console.log" "$@"
}

# contains DESC FILE TEXT
contains() {
	if grep -qF -- "$3" "$2"; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "no '$3' in $2:" "$(tail -n 20 "$2")"
	fi
}

tap_plan 14

tap_check "a command that succeeds in the guest exits 0" vm run test -c /dev/mpklink
if grep -q '^tools/vm: accelerator: \(tcg\|kvm\) ' <<< "$TAP_OUTPUT"; then
	tap_ok "the run says which accelerator it used"
else
	tap_not_ok "the run says which accelerator it used" "$TAP_OUTPUT"
fi
contains "the console log says which kernel booted" "$TMP/console.log" "vm-init: kernel 6.1."

tap_status 7 "the guest command's exit status comes back (7)" vm run sh -c 'exit 7'
# shellcheck disable=SC2016 # expanded in the guest
tap_check "--env reaches the guest command, quoting and all" \
	vm --no-load --env 'MPKLINK_T=a b$c' --env MPKLINK_U= \
	run sh -c 'test "$MPKLINK_T" = "a b\$c" && test -z "$MPKLINK_U"'
tap_status 1 "--no-load leaves mpklink.ko unloaded" vm --no-load run test -e /dev/mpklink

tap_status 125 "a guest kernel crash is a failure (no status)" \
	vm --no-load run sh -c 'echo c > /proc/sysrq-trigger; sleep 60'
if grep -q 'without reporting a status' <<< "$TAP_OUTPUT"; then
	tap_ok "the crash is reported as a guest that died without a status"
else
	tap_not_ok "the crash is reported as a guest that died without a status" "$TAP_OUTPUT"
fi

# /dev/kmsg lines reach the console like any kernel message.
tap_status 123 "a kernel WARNING fails a run whose command succeeded" \
	vm --no-load run sh -c 'echo "WARNING: CPU: 0 PID: 1 at injected/by/test.c:1" > /dev/kmsg'
if grep -q 'WARNING: CPU: 0 PID: 1 at injected/by/test.c:1' <<< "$TAP_OUTPUT"; then
	tap_ok "the offending kernel line is shown"
else
	tap_not_ok "the offending kernel line is shown" "$TAP_OUTPUT"
fi

tap_status 124 "a hung guest is killed after --timeout" vm --no-load --timeout 20 run sleep 600
if grep -q 'TIMEOUT' <<< "$TAP_OUTPUT"; then
	tap_ok "the timeout is reported as such"
else
	tap_not_ok "the timeout is reported as such" "$TAP_OUTPUT"
fi

tap_check "the guest writes the TAP channel" \
	vm --no-load --tap "$TMP/tap" run sh -c 'echo "ok 1 from the guest" > /dev/ttyS2'
contains "the TAP channel reaches the host file" "$TMP/tap" "ok 1 from the guest"
tap_done
