#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
#
# libmpkshm-rpc's manual: both pages format without warnings, and
# libmpkshm-rpc(3) names every function libmpkshm-rpc.so exports.

DIR=$(cd "$(dirname "$0")/.." && pwd)
. "$DIR/../tools/testing/tap.sh"

tap_plan 3
for page in man/libmpkshm-rpc.3 man/protoc-gen-mpkshm.1; do
	warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$DIR/$page" 2>&1 >/dev/null)
	if [ -z "$warnings" ]; then
		tap_ok "$page formats without warnings"
	else
		tap_not_ok "$page formats without warnings" "$warnings"
	fi
done
missing=
for f in $(sed -n 's/^[[:space:]]*\(mpkrpc_[a-z_]*\);$/\1/p' "$DIR/libmpkshm-rpc.map"); do
	grep -q "$f" "$DIR/man/libmpkshm-rpc.3" || missing="$missing $f"
done
if [ -z "$missing" ]; then
	tap_ok "libmpkshm-rpc(3) documents every exported function"
else
	tap_not_ok "libmpkshm-rpc(3) documents every exported function" "missing:$missing"
fi
tap_done
