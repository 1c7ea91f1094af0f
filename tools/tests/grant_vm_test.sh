#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mpklink-grant end to end, in the guest as root with mpklink.ko loaded:
# apply a policy, attach as a matching and a non-matching process, change
# the policy and watch a live member get revoked, dump and re-apply for a
# round trip, partial applies, signed channels, and the imperative
# commands.  Services are played by attach_probe under uids that exist
# nowhere (65501, 65502).

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
BUILD=${MPKLINK_BUILD:-${BUILD:-$TOP/build}}
G=$BUILD/tools/mpklink-grant
PROBE=$BUILD/tools/tests/attach_probe
TMP=$(mktemp -d)
HOLDER=
cleanup() {
	[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
	"$G" apply - < /dev/null > /dev/null 2>&1	# no channels left
	rm -rf "$TMP"
}
trap cleanup EXIT

PLAN=51
tap_plan $PLAN

if [ ! -e /dev/mpklink ] || [ "$(id -u)" != 0 ]; then
	for i in $(seq $PLAN); do echo "ok $i # SKIP needs /dev/mpklink and root"; done
	exit 0
fi

as_uid() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}

cat > "$TMP/p1" <<'EOF'
# the starting policy
channel e2e-a {
	size 64K
	members 4
	grant uid=65501 rw
}
channel e2e-b { size 4K; grant gid=0 r }
EOF

# --- apply and attach ---------------------------------------------------------
"$G" apply - < /dev/null > /dev/null 2>&1	# start from no channels
tap_check "apply creates the policy's channels and grants" "$G" apply "$TMP/p1"
tap_contains "apply prints each channel it creates" "+ channel e2e-a: size 64K, 4 members"
tap_contains "apply prints each grant it adds" "+ grant e2e-a uid=65501 rw"
tap_check "list shows the channels" "$G" list
tap_contains "list names e2e-b" "e2e-b"
tap_same "list --json has both channels with their sizes" \
	"$("$G" list --json | jq -c '[.[] | [.name, .size, .max_members]]')" \
	'[["e2e-a",65536,4],["e2e-b",4096,16]]'
tap_check "a second apply succeeds" "$G" apply "$TMP/p1"
tap_contains "a second apply changes nothing and says so" "nothing to change"

tap_check "a process of the granted uid attaches" as_uid 65501 "$PROBE" e2e-a
tap_contains "it gets the granted rights" "attached rights=rw"
tap_status 1 "a process of another uid is refused" as_uid 65502 "$PROBE" e2e-a
tap_contains "with EACCES" "Permission denied"
tap_same "show counts one attach and one denial" \
	"$("$G" show e2e-a --json | jq -c '[.counters.attaches, .counters.denials]')" "[1,1]"

# --- a policy change revokes a live member -----------------------------------------
as_uid 65501 "$PROBE" --hold e2e-a > "$TMP/holder" 2>&1 &
HOLDER=$!
for i in $(seq 100); do grep -q ready "$TMP/holder" && break; sleep 0.05; done
tap_same "show lists the live member and its uid" \
	"$("$G" show e2e-a --json | jq -c '[.members[] | [.uid, .rights, .revoked]]')" \
	'[[65501,"rw",false]]'
sed 's/uid=65501/uid=65502/' "$TMP/p1" > "$TMP/p2"
tap_check "apply of a changed policy succeeds" "$G" apply "$TMP/p2"
tap_contains "the new grant is added" "+ grant e2e-a uid=65502 rw"
tap_contains "the old grant is revoked" "- grant e2e-a uid=65501 rw"
if timeout 10 tail --pid="$HOLDER" -f /dev/null; then
	wait "$HOLDER"
	status=$?
else
	status=timeout
fi
HOLDER=
if [ "$status" = 0 ] && grep -qx "revoked" "$TMP/holder"; then
	tap_ok "the live member was revoked, and its poll woke"
else
	tap_not_ok "the live member was revoked" "status $status" "$(cat "$TMP/holder")"
fi
tap_status 1 "the revoked uid can no longer attach" as_uid 65501 "$PROBE" e2e-a
tap_check "the newly granted uid can" as_uid 65502 "$PROBE" e2e-a

# --- dry runs and dumps --------------------------------------------------------
before=$("$G" dump)
tap_check "apply --dry-run of the old policy succeeds" "$G" apply --dry-run "$TMP/p1"
tap_contains "--dry-run prints the change it would make" "+ grant e2e-a uid=65501 rw"
tap_same "--dry-run changed nothing" "$("$G" dump)" "$before"
"$G" dump > "$TMP/dump"
tap_check "a dump applies" "$G" apply "$TMP/dump"
tap_contains "applying a dump changes nothing" "nothing to change"
tap_same "dump, apply, dump gives the same dump" "$("$G" dump)" "$(cat "$TMP/dump")"
tap_same "dump --json is JSON with both channels" \
	"$("$G" dump --json | jq -c '[.channels[].name]')" '["e2e-a","e2e-b"]'

sed 's/size 64K/size 128K/' "$TMP/p2" > "$TMP/p3"
tap_check "apply of a new size succeeds" "$G" apply "$TMP/p3"
tap_contains "a new size recreates the channel" "! channel e2e-a recreated: size 64K, 4 members -> size 128K, 4 members"
tap_same "the channel has its new size" "$("$G" show e2e-a --json | jq .size)" 131072
printf 'channel e2e-a {\n size 128K; members 4\n grant uid=65502 rw\n}\n' > "$TMP/p4"
tap_check "apply of a policy without e2e-b succeeds" "$G" apply "$TMP/p4"
tap_contains "the channel left out is destroyed" "- channel e2e-b"

# --- the kernel refusing halfway ------------------------------------------------
cat > "$TMP/p5" <<'EOF'
channel e2e-a { size 128K; members 4; grant uid=65502 rw; grant uid=65503 r }
channel e2e-c { size 4K; grant uid=65504 r }
EOF
before=$("$G" dump)
TAP_OUTPUT=$(MPKLINK_GRANT_TEST_FAIL_AT=2 "$G" apply "$TMP/p5" 2>&1)
status=$?
if [ $status = 1 ] && grep -q "applied 1 of 3 changes" <<< "$TAP_OUTPUT"; then
	tap_ok "a change refused halfway stops apply and counts what was applied"
else
	tap_not_ok "a change refused halfway stops apply and counts what was applied" \
		"status $status" "$TAP_OUTPUT"
fi
tap_contains "the report lists what was not applied" "not applied:"
tap_same "exactly the first change is in the kernel" \
	"$("$G" dump --json | jq -c '[.channels[].name]')" '["e2e-a","e2e-c"]'
tap_check "applying again finishes the job" "$G" apply "$TMP/p5"
tap_contains "the rest is applied" "applied 2 changes"

# --- signed channels -------------------------------------------------------------
"$G" keygen "$TMP/svc" > /dev/null && "$G" keygen "$TMP/svc2" > /dev/null
cat > "$TMP/p6" <<EOF
channel e2e-s { size 64K; signed
	grant uid=65501 w pubkey-file $TMP/svc.pub
}
EOF
tap_check "a signed channel with an enrolled key applies" "$G" apply "$TMP/p6"
tap_same "the grant carries the public key" \
	"$("$G" show e2e-s --json | jq -r '.grants[0].pubkey')" "$(cat "$TMP/svc.pub")"
tap_check "enroll replaces the key and keeps the rights" \
	"$G" enroll e2e-s uid=65501 --pubkey "$TMP/svc2.pub"
tap_same "the grant has the new key and its rights" \
	"$("$G" show e2e-s --json | jq -c '[.grants[0].pubkey, .grants[0].rights]')" \
	"[\"$(cat "$TMP/svc2.pub")\",\"w\"]"
tap_status 2 "a writer without a key on a signed channel is refused" \
	"$G" grant e2e-s uid=65505 --rights rw

# --- the imperative commands ------------------------------------------------------
tap_check "create makes a channel" "$G" create e2e-x --size 8K --members 2
tap_status 5 "creating it again is a conflict (exit 5)" "$G" create e2e-x --size 8K
tap_status 4 "granting on a missing channel is not found (exit 4)" \
	"$G" grant e2e-none uid=1 --rights r
tap_check "grant adds a grant" "$G" grant e2e-x user=root --rights r
tap_status 4 "revoking a grant that is not there is not found (exit 4)" \
	"$G" revoke e2e-x uid=4242
tap_check "revoke removes the grant" "$G" revoke e2e-x uid=0
tap_status 3 "a user without CAP_SYS_ADMIN is denied (exit 3)" \
	as_uid 65501 "$G" create e2e-y --size 4K
tap_check "destroy removes the channel" "$G" destroy e2e-x
tap_status 4 "destroying it again is not found (exit 4)" "$G" destroy e2e-x

tap_done
