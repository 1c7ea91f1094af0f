#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark works: a short run (bench/run --profile smoke) of every
# transport this machine has, on the host and in the guests.  Each
# transport must produce latency, throughput, stream and word-count rows
# (mpkbench, grpc_bench and rpcbench check every echo, checksum and word
# count they get back and fail otherwise), each libmpkshm backend its
# counts of PKRU writes and system calls per message, and the report must
# come out with its plots.  The smoke profile runs two rounds, so the report's per-round
# form is exercised too: rows of both rounds, ratios as median and spread,
# targets held to every round.
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

# The library's backends here, whose costs per message are counted.
mapfile -t counted < <(printf '%s\n' "${transports[@]}" | grep -Ex 'mpkshm-(kernel|memfd|thread)')

tap_plan $((${#transports[@]} + ${#rpcs[@]} + ${#counted[@]} + 11))
tap_check "bench/run --profile smoke succeeds" "$TOP/bench/run" --profile smoke --out "$OUT"
# measured T DESC WORKLOAD...: one TAP line, whether T has rows of each.
measured() {
	local t=$1 desc=$2 w missing=
	shift 2
	for w in "$@"; do
		grep -q "^[0-9]*,$w,$t," "$OUT/results.csv" || missing="$missing $w"
	done
	if [ -z "$missing" ]; then
		tap_ok "$t: $desc measured and checked"
	else
		tap_not_ok "$t: $desc measured and checked" \
			"no rows for:$missing" "$(grep -F "$t" "$OUT/failures.txt")"
	fi
}
for t in "${transports[@]}"; do
	if [ "$t" = grpc ]; then
		measured "$t" "latency, throughput and word count" latency throughput wordcount
	else
		measured "$t" "latency, throughput, streams and word count" latency throughput stream wordcount
	fi
done
# counted T: PKRU writes on each side in every mode, and system calls
# where strace can count them (not the kernel backend: a traced process
# may not attach to a kernel channel).
for t in "${counted[@]}"; do
	want=8
	if [ "$t" != mpkshm-kernel ] && command -v strace > /dev/null; then
		want=12
	fi
	got=$(grep -Ec "^1,counts,$t,(spin|block)-(copy|zero),64,(pkru_send|pkru_recv|syscalls)," "$OUT/results.csv")
	if [ "$got" = "$want" ]; then
		tap_ok "$t: PKRU writes and system calls per message counted in all four modes"
	else
		tap_not_ok "$t: PKRU writes and system calls per message counted in all four modes" \
			"$got of $want rows" "$(grep -F "counts $t" "$OUT/failures.txt")"
	fi
done
for t in "${rpcs[@]}"; do
	measured "$t" "bench.proto's Echo and Count" latency wordcount
done
# Both ends in one thread: the raw ring and libmpkshm's backends, a row
# each per round, and the report's table of them.
one_want=$(printf '%s\n' "${transports[@]}" | grep -Exc 'raw-ring|mpkshm-(kernel|memfd|thread)')
one_got=$(grep -Ec '^[12],onethread,(raw-ring|mpkshm-kernel|mpkshm-memfd|mpkshm-thread),spin,64,rtt_ns,[0-9.]+$' "$OUT/results.csv")
if [ "$one_got" = $((2 * one_want)) ] &&
   grep -q '^### Round trips with both ends in one thread' "$OUT/summary.md"; then
	tap_ok "one-thread round trips measured for the raw ring and each libmpkshm backend, and reported"
else
	tap_not_ok "one-thread round trips measured for the raw ring and each libmpkshm backend, and reported" \
		"$one_got rows of $((2 * one_want))" "$(grep -F onethread "$OUT/failures.txt")"
fi
rounds_seen=$(awk -F, 'NR > 1 { print $1 }' "$OUT/results.csv" | sort -u | tr '\n' ' ')
if [ "$(head -n 1 "$OUT/results.csv")" = "round,workload,transport,mode,size,metric,value" ] &&
   [ "$rounds_seen" = "1 2 " ] && grep -q '^rounds: 2 ' "$OUT/machine.txt"; then
	tap_ok "two rounds measured, each row with its round"
else
	tap_not_ok "two rounds measured, each row with its round" \
		"header: $(head -n 1 "$OUT/results.csv")" "rounds: $rounds_seen" \
		"$(grep '^rounds' "$OUT/machine.txt")"
fi
# A ratio as "1.36x (1.30..1.41)", and every target's verdict by rounds.
if grep -Eq '^- 64 B round trip, .*: [0-9.]+x \([0-9.]+\.\.[0-9.]+\), \*\*(met\*\* in every round \(2 of 2\)|missed\*\* in [12] of 2 rounds)' "$OUT/summary.md" &&
   grep -q 'a target is met only when it holds in every round' "$OUT/summary.md" &&
   ! grep -E '^- .*\*\*(met|missed)\*\*' "$OUT/summary.md" | grep -v '(counted)\.$' |
	grep -Evq '(in every round \(2 of 2\)|missed\*\* in [12] of 2 rounds)'; then
	tap_ok "the report gives ratios as median (min..max) and holds targets to every round"
else
	tap_not_ok "the report gives ratios as median (min..max) and holds targets to every round" \
		"$(sed -n '/^## Targets/,/^## Results/p' "$OUT/summary.md")"
fi
if grep -q '^## RPC from a .proto: three transports' "$OUT/summary.md" &&
   grep -q 'faster than gRPC at 64 B' "$OUT/summary.md"; then
	tap_ok "the report compares the three RPC transports, with their targets"
else
	tap_not_ok "the report compares the three RPC transports, with their targets" \
		"$(grep -A5 '^## RPC' "$OUT/summary.md")"
fi
if grep -q '^## What a message costs: PKRU writes and system calls' "$OUT/summary.md" &&
   grep -q '^### Streams of small messages' "$OUT/summary.md" &&
   grep -q '^- At most 2 PKRU writes per message on each side' "$OUT/summary.md"; then
	tap_ok "the report has the costs per message and the streams, with their targets"
else
	tap_not_ok "the report has the costs per message and the streams, with their targets" \
		"$(grep -A12 '^## What a message' "$OUT/summary.md")"
fi
if grep -q '^## Targets' "$OUT/summary.md" && grep -q '^### Word count in the paper' "$OUT/summary.md"; then
	tap_ok "the report has the targets and the paper's table"
else
	tap_not_ok "the report has the targets and the paper's table" "$(head -40 "$OUT/summary.md")"
fi
# libmpkshm's word count in its default mode and spinning (as the raw
# ring waits), and the target on the raw ring judged spinning.
lib_want=$(printf '%s\n' "${transports[@]}" | grep -c '^mpkshm-')
lib_spin=$(grep -E '^[12],wordcount,mpkshm-[a-z]+,spin,' "$OUT/results.csv" | cut -d, -f3 | sort -u | wc -l)
lib_default=$(grep -E '^[12],wordcount,mpkshm-[a-z]+,default,' "$OUT/results.csv" | cut -d, -f3 | sort -u | wc -l)
if [ "$lib_spin" = "$lib_want" ] && [ "$lib_default" = "$lib_want" ] &&
   grep -q '^- Word count within .* of the raw ring at every N, spinning as the raw ring does: .*; in its default mode' "$OUT/summary.md"; then
	tap_ok "libmpkshm's word count measured spinning and in its default mode, the raw-ring target judged spinning"
else
	tap_not_ok "libmpkshm's word count measured spinning and in its default mode, the raw-ring target judged spinning" \
		"$lib_spin and $lib_default of $lib_want transports" "$(grep '^- Word count within' "$OUT/summary.md")"
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
# A word count's runs one at a time, every transport in turn: in each
# round and N, the transports' rows repeat one block, a row each, once
# per run (the smoke profile's 2).
bad_order=$(awk -F, '$2 == "wordcount" {
		k = $1 "," $5
		n[k]++
		seq[k, n[k]] = $3 "," $4
	}
	END {
		for (k in n) {
			split("", seen)
			b = 0
			for (i = 1; i <= n[k]; i++)
				if (!(seq[k, i] in seen)) { seen[seq[k, i]] = 1; b++ }
			ok = n[k] == 2 * b
			for (i = b + 1; ok && i <= n[k]; i++)
				ok = seq[k, i] == seq[k, i - b]
			if (!ok)
				print "round,N " k ": " n[k] " rows of " b " transports"
		}
	}' "$OUT/results.csv")
if [ -z "$bad_order" ] && grep -q '^[12],wordcount,' "$OUT/results.csv"; then
	tap_ok "word-count runs interleaved: one run of every transport, then the next"
else
	tap_not_ok "word-count runs interleaved: one run of every transport, then the next" \
		"${bad_order:-no word-count rows}"
fi
tap_done
