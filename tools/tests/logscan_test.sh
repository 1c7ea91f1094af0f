#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/vm.d/logscan on recorded guest console logs: verbose clean boots of
# both guest kernels pass; each kind of kernel trouble fails and the
# offending line is named.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
LOGS=$TOP/tools/tests/logs
SCAN=$TOP/tools/vm.d/logscan

# The line each recorded trouble log must be reported for.
declare -A EXPECT=(
	[trouble-warning.log]='WARNING: CPU: 1 PID: 211 at kmod/channel.c:120'
	[trouble-oops-null.log]='Oops: 0000 [#1]'
	[trouble-gpf.log]='general protection fault, probably for non-canonical'
	[trouble-kasan.log]='BUG: KASAN: slab-use-after-free'
	[trouble-ubsan.log]='UBSAN: shift-out-of-bounds'
	[trouble-hung-task.log]='INFO: task pku_test:211 blocked for more than 30 seconds'
	[trouble-soft-lockup.log]='BUG: soft lockup - CPU#1 stuck'
	[trouble-rcu-stall.log]='rcu_preempt detected stalls'
	[trouble-kernel-bug-at.log]='kernel BUG at mm/slub.c:379'
	[trouble-lockdep.log]='WARNING: possible circular locking dependency'
	[trouble-kmemleak.log]='2 new suspected memory leaks'
	[trouble-panic-sysrq-6.1.log]='Kernel panic - not syncing: sysrq triggered crash'
	[trouble-interleaved-crlf.log]='WARNING: CPU: 0 PID: 1 at kmod/main.c:10'
	[trouble-lockdep-nonstatic-key.log]='INFO: trying to register non-static key.'
	[trouble-lockdep-rcu.log]='WARNING: suspicious RCU usage'
	[trouble-atomic-sleep.log]='BUG: sleeping function called from invalid context'
	[trouble-kmemleak-report.log]='unreferenced object 0xffff88800a5c3e00 (size 192)'
	[trouble-kmemleak-stopped.log]='kmemleak: Cannot insert 0xffff888004a1c000'
	[trouble-rcu-self-detected.log]='rcu_preempt self-detected stall on CPU'
)

clean=("$LOGS"/clean-*.log)
trouble=("$LOGS"/trouble-*.log)
tap_plan $((${#clean[@]} + ${#trouble[@]} + 2))

for log in "${clean[@]}"; do
	tap_status 0 "logscan passes the clean log $(basename "$log")" "$SCAN" "$log"
done

for log in "${trouble[@]}"; do
	name=$(basename "$log")
	want=${EXPECT[$name]:-}
	desc="logscan fails $name and names the line"
	if [ -z "$want" ]; then
		tap_not_ok "$desc" "no expected line recorded for $name in this test"
		continue
	fi
	out=$("$SCAN" "$log" 2>&1)
	status=$?
	if [ $status = 1 ] && grep -qF -- "$log:" <<< "$out" && grep -qF -- "$want" <<< "$out"; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc" "exit status $status, wanted 1 and a line with: $want" "$out"
	fi
done

tap_status 2 "logscan without a log is a usage error" "$SCAN"
tap_status 2 "logscan of a missing log is an error, never a pass" "$SCAN" /nonexistent/console.log
tap_done
