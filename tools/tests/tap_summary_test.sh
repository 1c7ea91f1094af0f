#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/testing/tap-summary: counts every test case, names each failure,
# catches programs that died, lied about their plan or never finished, and
# always ends with "N passed, N failed, N skipped".

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
SUMMARY=$TOP/tools/testing/tap-summary
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# summarize NAME: run tap-summary on $TMP/NAME (stdin), leave the output in
# $out, the status in $status and the last line in $last.
summarize() {
	cat > "$TMP/$1"
	out=$("$SUMMARY" "x=$TMP/$1" 2>&1)
	status=$?
	last=$(tail -n 1 <<< "$out")
}

# expect DESC STATUS LAST [SUBSTRING]
expect() {
	if [ "$status" = "$2" ] && [ "$last" = "$3" ] &&
		{ [ -z "${4:-}" ] || grep -qF -- "$4" <<< "$out"; }; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "status $status (want $2), output:" "$out"
	fi
}

tap_plan 12

summarize pass <<'T'
# run: prog
TAP version 13
1..3
ok 1 global.a
ok 2 global.b
ok 3 global.c
# exit: prog 0
T
expect "three passing tests are counted as three" 0 "3 passed, 0 failed, 0 skipped"

summarize notok <<'T'
# run: prog
1..2
ok 1 global.a
not ok 2 global.broken
# exit: prog 1
T
expect "a failing test is counted and named" 1 "1 passed, 1 failed, 0 skipped" "FAIL x: prog: global.broken"

summarize short <<'T'
# run: prog
1..3
ok 1 global.a
# exit: prog 139
T
expect "a program that dies before its plan is done fails" 1 "1 passed, 1 failed, 0 skipped" "planned 3 tests, reported 1"

summarize unfinished <<'T'
# run: prog
1..2
ok 1 global.a
T
expect "a program without an exit line (guest died) fails" 1 "1 passed, 1 failed, 0 skipped" "did not finish"

summarize noplan <<'T'
# run: prog
# exit: prog 127
T
expect "a program with no TAP plan fails" 1 "0 passed, 1 failed, 0 skipped" "no TAP plan"

summarize badexit <<'T'
# run: prog
1..1
ok 1 global.a
# exit: prog 3
T
expect "a non-zero exit without a failing test fails" 1 "1 passed, 1 failed, 0 skipped" "exited with status 3"

summarize skip <<'T'
# run: prog
1..2
ok 1 global.a # SKIP no PKU here
ok 2 global.b
# exit: prog 0
T
expect "a skipped test is counted as skipped" 0 "1 passed, 0 failed, 1 skipped"

summarize skipall <<'T'
# run: prog
1..0 # SKIP nothing to test on this kernel
# exit: prog 4
T
expect "a program that skips everything counts one skip" 0 "0 passed, 0 failed, 1 skipped"

summarize bail <<'T'
# run: prog
1..2
Bail out! cannot open /dev/mpklink
# exit: prog 1
T
expect "Bail out! fails" 1 "0 passed, 1 failed, 0 skipped" "Bail out! cannot open"

summarize empty < /dev/null
expect "no tests at all is a failure" 1 "0 passed, 1 failed, 0 skipped" "no test ran"

summarize crlf < <(printf '1..2\r\nok 1 a\r\nok 2 b\r\n')
expect "a bare TAP stream with CRLF line ends is read" 0 "2 passed, 0 failed, 0 skipped"

printf '# run: a\n1..1\nok 1 t\n# exit: a 0\n' > "$TMP/one"
printf '# run: b\n1..1\nnot ok 1 t\n# exit: b 1\n' > "$TMP/two"
out=$("$SUMMARY" "host=$TMP/one" "guest=$TMP/two" 2>&1)
status=$?
last=$(tail -n 1 <<< "$out")
expect "several files are summed and failures carry their label" 1 "1 passed, 1 failed, 0 skipped" "FAIL guest: b: t"

tap_done
