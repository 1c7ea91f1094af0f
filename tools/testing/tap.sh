# SPDX-License-Identifier: GPL-2.0
#
# TAP for shell tests; source it.  Each check prints one TAP line that says
# what it checked.  tap_done exits 1 if any check failed.
#
#   tap_plan N
#   tap_check DESC CMD...            ok if CMD exits 0
#   tap_status N DESC CMD...         ok if CMD exits with status N
#   tap_ok DESC / tap_not_ok DESC [DIAGNOSTIC...]
#   tap_same DESC GOT WANT           ok if the two strings are equal
#   tap_contains DESC WORD           ok if $TAP_OUTPUT contains WORD
#   tap_done
#
# The output of the last command run by tap_check or tap_status is in
# $TAP_OUTPUT (stdout and stderr) for further checks.

TAP_COUNT=0
TAP_FAILED=0
TAP_OUTPUT=

tap_plan() {
	echo "TAP version 13"
	echo "1..$1"
}

tap_ok() {
	TAP_COUNT=$((TAP_COUNT + 1))
	echo "ok $TAP_COUNT $1"
}

tap_not_ok() {
	local line
	TAP_COUNT=$((TAP_COUNT + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_COUNT $1"
	shift
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/# /'
	done
}

tap_status() {
	local want=$1 desc=$2 status
	shift 2
	TAP_OUTPUT=$("$@" 2>&1)
	status=$?
	if [ "$status" = "$want" ]; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc" "exit status $status, expected $want" "$TAP_OUTPUT"
	fi
}

tap_check() {
	local desc=$1
	shift
	tap_status 0 "$desc" "$@"
}

tap_same() {
	if [ "$2" = "$3" ]; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "got: $2" "expected: $3"
	fi
}

tap_contains() {
	if grep -qF -- "$2" <<< "$TAP_OUTPUT"; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "expected '$2' in:" "$TAP_OUTPUT"
	fi
}

tap_done() {
	[ "$TAP_FAILED" = 0 ]
	exit $?
}
