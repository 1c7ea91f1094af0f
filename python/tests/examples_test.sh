#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
#
# The Python word-count examples with the C service, on memfd channels:
# python/examples/wc_client.py asks libmpkshm/examples/wc_service (serve),
# and wc_service's client (count) asks python/examples/wc_server.py; both
# counts must be what wc -w says.  Run by build/python/tests/examples_test,
# which sets PYTHONPATH and WC_SERVICE; the memfd backend needs
# $MPKSHM_BROKER.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
PY=/usr/bin/python3
EX=$TOP/python/examples
WC_SERVICE=${WC_SERVICE:?WC_SERVICE: the C example wc_service}
TMP=$(mktemp -d)
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2> /dev/null; rm -rf "$TMP"' EXIT

# Words separated by spaces, tabs and newlines, and what wc -w counts.
seq 1 30000 | awk '{ printf "w%d%s", $1, ($1 % 5 ? " " : ($1 % 3 ? "\t" : "\n")) }' \
	> "$TMP/text"
WORDS=$(LC_ALL=C wc -w < "$TMP/text")

# pair DESC CLIENT... -- SERVER...: the server serves one request on a new
# channel (its last argument), the client counts $TMP/text there.
pair() {
	local desc=$1 chan=py-examples-$$-$RANDOM client=() got status i
	shift
	while [ "$1" != -- ]; do client+=("$1"); shift; done
	shift
	"$@" "$chan" > "$TMP/server.out" 2>&1 &
	SERVER=$!
	for i in $(seq 100); do
		grep -q '^serving' "$TMP/server.out" && break
		kill -0 "$SERVER" 2> /dev/null || break
		sleep 0.1
	done
	got=$("${client[@]}" "$chan" < "$TMP/text" 2>&1)
	if [ "$got" = "$WORDS" ]; then
		tap_ok "$desc: counts $WORDS words, as wc -w does"
	else
		tap_not_ok "$desc: counts $WORDS words, as wc -w does" \
			"client: $got" "server: $(cat "$TMP/server.out")"
	fi
	for i in $(seq 100); do
		kill -0 "$SERVER" 2> /dev/null || break
		sleep 0.1
	done
	if kill -0 "$SERVER" 2> /dev/null; then
		kill "$SERVER"
		wait "$SERVER"
		tap_not_ok "$desc: the server stops after its one request" \
			"still running after 10 s" "$(cat "$TMP/server.out")"
	else
		wait "$SERVER"
		status=$?
		if [ $status = 0 ]; then
			tap_ok "$desc: the server stops after its one request, exit 0"
		else
			tap_not_ok "$desc: the server stops after its one request, exit 0" \
				"exit $status" "$(cat "$TMP/server.out")"
		fi
	fi
	SERVER=
}

tap_plan 4
pair "Python client wc_client.py, C server wc_service" \
	$PY "$EX/wc_client.py" -b memfd -- "$WC_SERVICE" -b memfd -n 1 serve
pair "C client wc_service count, Python server wc_server.py" \
	"$WC_SERVICE" -b memfd count -- $PY "$EX/wc_server.py" -b memfd -n 1
tap_done
