#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark works: a short run (bench/run --profile smoke) of every
# transport this machine has, on the host and in the guests.  Each
# transport must produce latency, throughput and word-count rows (mpkbench
# and grpc_bench check every echo, checksum and word count they get back
# and fail otherwise), and the report must come out with its plots.
# Speed is not tested here: that is what the report is for.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
BUILD=${MPKLINK_BUILD:-${BUILD:-$TOP/build}}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

mapfile -t transports < <("$BUILD/bench/mpkbench" list | while read -r name flags _; do
	case $flags in
	*module*) [ -w /dev/mpklink ] && [ "$(id -u)" = 0 ] || continue ;;
	esac
	echo "$name"
done; [ -x "$BUILD/bench/grpc_bench" ] && echo grpc)

tap_plan $((${#transports[@]} + 4))
tap_check "bench/run --profile smoke succeeds" "$TOP/bench/run" --profile smoke --out "$OUT"
for t in "${transports[@]}"; do
	missing=
	for w in latency throughput wordcount; do
		grep -q "^$w,$t," "$OUT/results.csv" || missing="$missing $w"
	done
	if [ -z "$missing" ]; then
		tap_ok "$t: latency, throughput and word count measured and checked"
	else
		tap_not_ok "$t: latency, throughput and word count measured and checked" \
			"no rows for:$missing" "$(grep -F "$t" "$OUT/failures.txt")"
	fi
done
if grep -q '^## Targets' "$OUT/summary.md" && grep -q '^### Word count in the paper' "$OUT/summary.md"; then
	tap_ok "the report has the targets and the paper's table"
else
	tap_not_ok "the report has the targets and the paper's table" "$(head -40 "$OUT/summary.md")"
fi
if grep -q '^- pku: ' "$OUT/summary.md" && grep -q '^- kernel: ' "$OUT/summary.md"; then
	tap_ok "the report describes the machine"
else
	tap_not_ok "the report describes the machine"
fi
plots=0
for p in latency-spin latency-block throughput wordcount; do
	[ -s "$OUT/$p.png" ] && plots=$((plots + 1))
done
if [ $plots = 4 ]; then
	tap_ok "gnuplot drew the four plots"
else
	tap_not_ok "gnuplot drew the four plots" "$(ls "$OUT")"
fi
tap_done
