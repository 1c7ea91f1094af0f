#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark works: a short run (bench/run --profile smoke) of every
# transport this machine has, on the host and in the guests.  Each
# transport must produce latency, throughput and word-count rows (mpkbench,
# grpc_bench and rpcbench check every echo, checksum and word count they
# get back and fail otherwise), and the report must come out with its
# plots.
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

# bench.proto's service from C: libmpkshm-rpc on each backend here, and
# protobuf-c over a Unix socket (rpcbench checks every reply it gets).
rpcs=(rpc-memfd)
[ -w /dev/mpklink ] && [ "$(id -u)" = 0 ] && rpcs+=(rpc-kernel rpc-signed)
rpcs+=(pbc-unix)

tap_plan $((${#transports[@]} + ${#rpcs[@]} + 5))
tap_check "bench/run --profile smoke succeeds" "$TOP/bench/run" --profile smoke --out "$OUT"
# measured T DESC WORKLOAD...: one TAP line, whether T has rows of each.
measured() {
	local t=$1 desc=$2 w missing=
	shift 2
	for w in "$@"; do
		grep -q "^$w,$t," "$OUT/results.csv" || missing="$missing $w"
	done
	if [ -z "$missing" ]; then
		tap_ok "$t: $desc measured and checked"
	else
		tap_not_ok "$t: $desc measured and checked" \
			"no rows for:$missing" "$(grep -F "$t" "$OUT/failures.txt")"
	fi
}
for t in "${transports[@]}"; do
	measured "$t" "latency, throughput and word count" latency throughput wordcount
done
for t in "${rpcs[@]}"; do
	measured "$t" "bench.proto's Echo and Count" latency wordcount
done
if grep -q '^## RPC from a .proto: three transports' "$OUT/summary.md" &&
   grep -q 'faster than gRPC at 64 B' "$OUT/summary.md"; then
	tap_ok "the report compares the three RPC transports, with their targets"
else
	tap_not_ok "the report compares the three RPC transports, with their targets" \
		"$(grep -A5 '^## RPC' "$OUT/summary.md")"
fi
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
for p in latency-spin latency-block throughput wordcount rpc-wordcount; do
	[ -s "$OUT/$p.png" ] && plots=$((plots + 1))
done
if [ $plots = 5 ]; then
	tap_ok "gnuplot drew the five plots"
else
	tap_not_ok "gnuplot drew the five plots" "$(ls "$OUT")"
fi
tap_done
