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

tap_plan 55

tap_check "help exits 0" "$G" help
tap_contains "help lists apply, dump, keygen and enroll" "enroll NAME PRINCIPAL"
tap_check "--version exits 0" "$G" --version
tap_status 2 "no command is a usage error" "$G"
tap_status 2 "an unknown command is a usage error" "$G" frobnicate
tap_contains "the unknown command is named" "frobnicate"
tap_status 2 "an unknown option is a usage error" "$G" list --frob
tap_status 2 "an option another command takes is refused" "$G" list --size 1M
tap_status 2 "a missing argument is a usage error" "$G" show
tap_status 2 "create without --size is a usage error" "$G" create orders

status_one_line 6 "without the module: exit 6, one line" "not loaded" "$G" list
tap_contains "without the module: says how to load it" "modprobe mpklink"
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
tap_contains "check counts channels and grants" "2 channels, 3 grants"
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

# --- containers: cdi and oci-hook, as far as they go without the module ------
cat > "$TMP/ctr.policy" <<'EOF'
channel orders {
	size 64K
	container cgroup=/shop.slice rw
	container cgroup=/other.slice,uid=1000 r
}
channel audit { size 64K; container cgroup=/shop.slice r }
channel plain { size 64K }
channel -odd { size 64K; container cgroup=/shop.slice r }
EOF
tap_check "cdi writes a spec for a policy with container rules" \
	sh -c "'$G' cdi --policy '$TMP/ctr.policy' --hook /usr/sbin/mpklink-grant > '$TMP/cdi.json'"
tap_contains "a channel whose name CDI cannot carry is named on stderr" \
	"channel name '-odd' is not a CDI device name"
tap_same "its kind is mpklink.io/channel, with a device per channel and rights a rule gives" \
	"$(jq -r '[.kind, .devices[].name] | join(" ")' "$TMP/cdi.json")" \
	"mpklink.io/channel orders orders:r orders:w orders:rw audit audit:r"
tap_same "every device of the spec brings /dev/mpklink" \
	"$(jq -c .containerEdits "$TMP/cdi.json")" \
	'{"deviceNodes":[{"path":"/dev/mpklink","permissions":"rw"}]}'
tap_same "a device's hooks run the hook at createRuntime and poststop for its channel" \
	"$(jq -c '.devices[] | select(.name == "orders:r") | .containerEdits.hooks |
		map([.hookName, .path, (.args | join(" "))])' "$TMP/cdi.json")" \
	"$(printf '[["createRuntime","/usr/sbin/mpklink-grant","mpklink-grant oci-hook createRuntime --channel orders:r --policy %s"],["poststop","/usr/sbin/mpklink-grant","mpklink-grant oci-hook poststop --channel orders:r --policy %s"]]' "$TMP/ctr.policy" "$TMP/ctr.policy")"
printf 'channel orders {\n\tsize 64K\n\tgrant uid=0 rw\n}\n' > "$TMP/no-ctr.policy"
status_one_line 4 "cdi of a policy without container rules: one line, exit 4" \
	"has no container rules" "$G" cdi --policy "$TMP/no-ctr.policy"
printf 'channel orders {\n\tsize 64K\n\tcontainer uid=0 rw\n}\n' > "$TMP/bad-ctr.policy"
status_one_line 2 "a container rule without a parent cgroup is refused where it is" \
	"$TMP/bad-ctr.policy:3:12: a container rule names the cgroup" \
	"$G" check "$TMP/bad-ctr.policy"

# hook STATE ARGS...: oci-hook with STATE as the container's state.
hook() {
	local state=$1
	shift
	printf '%s' "$state" | "$G" oci-hook --state-dir "$TMP/state" "$@"
}
status_one_line 2 "oci-hook with a state that is not JSON: one line, exit 2" \
	"is not JSON" hook 'not json'
status_one_line 2 "oci-hook reads no state larger than 1 MiB" "larger than 1024 KiB" \
	sh -c "head -c 1100000 /dev/zero | tr '\\0' ' ' | '$G' oci-hook --state-dir '$TMP/state'"
status_one_line 2 "oci-hook refuses a container id that is no file name" \
	'no usable "id"' hook '{"id": "../etc", "status": "creating", "pid": 1}'
status_one_line 2 "oci-hook at a stage it has no business in names it" \
	"not at 'running'" hook '{"id": "c1", "status": "running"}'
status_one_line 2 "oci-hook refuses an annotation with bad rights" \
	"rights of orders must be r, w or rw, not 'rx'" \
	hook '{"id": "c1", "status": "creating", "pid": 1, "annotations": {"org.mpklink.channels": "orders:rx"}}'
status_one_line 2 "oci-hook refuses a channel asked for twice" \
	"channel orders asked for twice" \
	hook '{"id": "c1", "status": "creating", "pid": 1, "annotations": {"org.mpklink.channels": "orders:r,orders"}}'
status_one_line 3 "oci-hook refuses rights no container rule gives (exit 3)" \
	"may not have channel audit with rights rw: no container rule of $TMP/ctr.policy allows it for cgroup" \
	hook "{\"id\": \"c1\", \"status\": \"creating\", \"pid\": $$}" --channel audit:rw --policy "$TMP/ctr.policy"
status_one_line 3 "oci-hook refuses a channel the policy does not have" \
	"(no such channel)" \
	hook "{\"id\": \"c1\", \"status\": \"creating\", \"pid\": $$}" --channel nosuch --policy "$TMP/ctr.policy"
tap_check "oci-hook does nothing for a container that asks for nothing" \
	hook '{"id": "c1", "status": "creating", "pid": 1}' --policy "$TMP/none.policy"
tap_check "oci-hook at poststop with nothing recorded succeeds (idempotent)" \
	hook '{"id": "c1", "status": "stopped"}'
tap_same "and leaves no record behind" "$(ls -A "$TMP/state" | grep -v '^\.lock$')" ""

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
