#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mpklink-grant without the module: commands, usage errors and their exit
# codes, one-line errors for bad values, check of policy files, keygen, and
# the man page.  The kernel side is tools/tests/grant_vm_test.sh.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
BUILD=${MPKLINK_BUILD:-${BUILD:-$TOP/build}}
G=$BUILD/tools/mpklink-grant
MAN=$TOP/tools/grant/mpklink-grant.8
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Never the real device, whatever this machine has.
export MPKLINK_DEVICE=$TMP/no-such-device

# status_one_line N DESC WORD ARGS...: exits N with exactly one line on
# stderr, which names WORD, and nothing on stdout.
status_one_line() {
	local want=$1 desc=$2 word=$3 out err status
	shift 3
	out=$("$@" 2> "$TMP/err")
	status=$?
	err=$(cat "$TMP/err")
	TAP_OUTPUT=$err
	if [ "$status" = "$want" ] && [ -z "$out" ] &&
		[ "$(wc -l < "$TMP/err")" = 1 ] && grep -qF -- "$word" <<< "$err"; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc" "exit $status (expected $want), stdout: $out" "stderr: $err"
	fi
}

# contains DESC WORD: the last command's output contains WORD.
contains() {
	if grep -qF -- "$2" <<< "$TAP_OUTPUT"; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "expected '$2' in:" "$TAP_OUTPUT"
	fi
}

tap_plan 37

tap_check "help exits 0" "$G" help
contains "help lists apply, dump, keygen and enroll" "enroll NAME PRINCIPAL"
tap_check "--version exits 0" "$G" --version
tap_status 2 "no command is a usage error" "$G"
tap_status 2 "an unknown command is a usage error" "$G" frobnicate
contains "the unknown command is named" "frobnicate"
tap_status 2 "an unknown option is a usage error" "$G" list --frob
tap_status 2 "an option another command takes is refused" "$G" list --size 1M
tap_status 2 "a missing argument is a usage error" "$G" show
tap_status 2 "create without --size is a usage error" "$G" create orders

status_one_line 6 "without the module: exit 6, one line" "not loaded" "$G" list
contains "without the module: says how to load it" "modprobe mpklink"
status_one_line 2 "a malformed size: one line naming it" "'12Q'" \
	"$G" create orders --size 12Q
status_one_line 2 "a size that is not a page multiple: one line" "multiple of 4096" \
	"$G" create orders --size 1000
status_one_line 2 "a bad channel name: one line naming it" "'a/b'" \
	"$G" create a/b --size 1M
status_one_line 2 "bad rights: one line naming them" "'rx'" \
	"$G" grant orders uid=1 --rights rx
status_one_line 2 "an unknown user: one line naming it" "no-such-user-x" \
	"$G" grant orders user=no-such-user-x --rights r
status_one_line 2 "an unknown group: one line naming it" "no-such-group-x" \
	"$G" grant orders group=no-such-group-x --rights r
status_one_line 2 "a missing executable: one line naming it" "/no/such/exe" \
	"$G" grant orders exe=/no/such/exe --rights r
printf '#!/bin/sh\n' > "$TMP/script" && chmod +x "$TMP/script"
status_one_line 2 "a script as exe= matches nothing: one line" "is a script" \
	"$G" grant orders "exe=$TMP/script" --rights r
status_one_line 2 "a user and a uid that differ match nothing: one line" "matches nothing" \
	"$G" grant orders user=root,uid=12345 --rights r
status_one_line 2 "a missing cgroup matches nothing: one line" "does not exist" \
	"$G" grant orders cgroup=/no/such/cgroup --rights r
status_one_line 6 "--allow-missing-cgroup accepts it (then needs the module)" "not loaded" \
	"$G" grant orders cgroup=/no/such/cgroup --rights r --allow-missing-cgroup

cat > "$TMP/good.policy" <<EOF
# two channels
channel orders {
	size 1M
	members 8
	grant user=root rw
	grant uid=65534,exe=/bin/true r
}
channel audit { size 64K; grant gid=0 w }
EOF
tap_check "check accepts a good policy" "$G" check "$TMP/good.policy"
contains "check counts channels and grants" "2 channels, 3 grants"
tap_check "check reads standard input for '-'" \
	sh -c "'$G' check - < '$TMP/good.policy'"
printf 'channel orders {\n\tsize 1M\n\tgrant user=no-such-user-x r\n}\n' > "$TMP/bad.policy"
status_one_line 2 "a policy error: one line with FILE:LINE:COLUMN" \
	"$TMP/bad.policy:3:13: unknown user 'no-such-user-x'" \
	"$G" check "$TMP/bad.policy"
tap_status 4 "a missing policy file is exit 4" "$G" check "$TMP/none.policy"

tap_check "keygen writes a key pair" "$G" keygen "$TMP/svc"
if [ "$(stat -c %a "$TMP/svc.key")" = 600 ] &&
	grep -qxE '[0-9a-f]{128}' "$TMP/svc.key" && grep -qxE '[0-9a-f]{64}' "$TMP/svc.pub"; then
	tap_ok "the secret key is mode 0600, 128 hex digits; the public key 64"
else
	tap_not_ok "the secret key is mode 0600, 128 hex digits; the public key 64" \
		"$(ls -l "$TMP"/svc.*)"
fi
# libsodium's Ed25519 secret key is the seed followed by the public key.
if [ "$(cut -c65-128 "$TMP/svc.key")" = "$(cat "$TMP/svc.pub")" ]; then
	tap_ok "the public key is the secret key's public half"
else
	tap_not_ok "the public key is the secret key's public half"
fi
old=$(cat "$TMP/svc.key")
tap_status 5 "keygen refuses to replace a key (exit 5)" "$G" keygen "$TMP/svc"
if [ "$(cat "$TMP/svc.key")" = "$old" ]; then
	tap_ok "the refused keygen left the old key alone"
else
	tap_not_ok "the refused keygen left the old key alone"
fi
tap_check "keygen --force replaces it" "$G" keygen --force "$TMP/svc"
status_one_line 2 "enroll with a malformed key file: one line" "64 hexadecimal" \
	sh -c "echo nothex > '$TMP/bad.pub'; '$G' enroll orders uid=1 --pubkey '$TMP/bad.pub'"

warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$MAN" 2>&1 >/dev/null)
if [ -z "$warnings" ]; then
	tap_ok "the man page formats without warnings"
else
	tap_not_ok "the man page formats without warnings" "$warnings"
fi
# Every exit code of grant.h has its entry under EXIT STATUS.
codes=$(sed -n 's/^\tEXIT_[A-Z_]* = \([0-9]*\),.*/\1/p' "$TOP/tools/grant/grant.h")
section=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH ENVIRONMENT/p' "$MAN")
missing=
for c in $codes; do
	grep -qx ".B $c" <<< "$section" || missing="$missing $c"
done
if [ -n "$codes" ] && [ -z "$missing" ]; then
	tap_ok "the man page documents every exit code ($(echo $codes))"
else
	tap_not_ok "the man page documents every exit code" "missing:$missing"
fi

tap_done
