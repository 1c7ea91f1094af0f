#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs the ring reader's libFuzzer harness for MPKLINK_FUZZ_SECONDS (default
# 20) and reports one TAP line.  The corpus persists in build/ between runs.
set -u
FUZZER=${1:?usage: run.sh FUZZER CORPUS_DIR}
CORPUS=${2:?usage: run.sh FUZZER CORPUS_DIR}
SECONDS_TO_RUN=${MPKLINK_FUZZ_SECONDS:-20}

echo "TAP version 13"
echo "1..1"
mkdir -p "$CORPUS"
log=$(mktemp)
# Crash inputs go next to the corpus, not into the current directory.
"$FUZZER" -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 \
	-rss_limit_mb=1024 -artifact_prefix="$(dirname "$CORPUS")/" \
	"$CORPUS" > "$log" 2>&1
status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
if [ $status = 0 ] && [ -n "$runs" ]; then
	echo "ok 1 ring reader survived ${runs} garbage rings in ${SECONDS_TO_RUN} s of libFuzzer"
else
	echo "not ok 1 ring reader under libFuzzer (exit $status)"
	tail -n 40 "$log" | sed 's/^/# /'
fi
rm -f "$log"
exit $((status != 0))
