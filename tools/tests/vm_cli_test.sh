#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/vm command-line handling; nothing here boots a guest.  Usage errors
# exit 2 with a message naming the problem.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
VM=$TOP/tools/vm

# usage_error DESC WORD ARGS...: exit 2 and a message mentioning WORD.
usage_error() {
	local desc=$1 word=$2
	shift 2
	tap_status 2 "$desc" "$VM" "$@"
	if grep -qF -- "$word" <<< "$TAP_OUTPUT"; then
		tap_ok "$desc: message names '$word'"
	else
		tap_not_ok "$desc: message names '$word'" "$TAP_OUTPUT"
	fi
}

tap_plan 23

tap_check "--help exits 0" "$VM" --help
if grep -q '^  run CMD' <<< "$TAP_OUTPUT" && grep -q '^  test' <<< "$TAP_OUTPUT" &&
	grep -q '^  shell' <<< "$TAP_OUTPUT"; then
	tap_ok "--help lists run, test and shell"
else
	tap_not_ok "--help lists run, test and shell" "$TAP_OUTPUT"
fi

usage_error "no command is a usage error" "no command" --no-build
usage_error "an unknown command is a usage error" "frobnicate" frobnicate
usage_error "an unknown option is a usage error" "--frob" --frob run true
usage_error "an unknown kernel is a usage error" "9.99" --kernel 9.99 run true
usage_error "a non-numeric timeout is a usage error" "soon" --timeout soon run true
usage_error "an unknown accelerator is a usage error" "warp" --accel warp run true
usage_error "run without a command is a usage error" "run needs a command" run
usage_error "--env without '=' is a usage error" "NOVALUE" --env NOVALUE run true
usage_error "--env with a bad name is a usage error" "1X=y" --env 1X=y run true

tap_check "kernels exits 0" "$VM" kernels
for series in 6.1 6.12; do
	if grep -Eq "^$series [0-9]" <<< "$TAP_OUTPUT"; then
		tap_ok "kernels lists a $series guest kernel"
	else
		tap_not_ok "kernels lists a $series guest kernel" "$TAP_OUTPUT"
	fi
done
tap_done
