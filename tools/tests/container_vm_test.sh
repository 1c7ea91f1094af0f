#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Containers, in the guest as root with mpklink.ko loaded: runc runs
# containers from busybox bundles made here, with mpklink-grant's OCI hook
# in their config.json, put there the two ways operators do it: by the CDI
# spec "mpklink-grant cdi" writes (applied by tools/testing/cdi-apply, the
# CDI rules a CDI-enabled runtime follows) or by hand with the
# org.mpklink.channels annotation (podman's hooks.d does the same).  A
# word-count service on the host serves wc_service clients inside the
# containers; the policy lets containers below /mpk-ctr have orders (rw)
# and audit (r only).
#
# runc needs pivot_root(2), which a chrooted process cannot use, and the
# guest runs its command chrooted: every runc runs under unchroot
# (tools/tests/unchroot.c).

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
. "$TOP/tools/tests/container_lib.sh"

PLAN=47
tap_plan $PLAN
container_skip $PLAN runc
CGROUPS="/mpk-host /mpk-ctr /mpk-other"

runc() {
	"$UNCHROOT" /usr/sbin/runc --root /run/mpk-runc "$@"
}

container_cleanup() {
	local id
	for id in $(runc list -q 2>/dev/null); do
		runc delete -f "$id" > /dev/null 2>&1
	done
}

cat > "$TMP/policy" <<'EOF'
channel orders {
	size 64K
	grant uid=0,cgroup=/mpk-host rw
	container cgroup=/mpk-ctr rw
}
channel audit {
	size 64K
	container cgroup=/mpk-ctr r
}
EOF

# bundle ID CGROUP-PARENT COMMAND [ANNOTATION]: $TMP/ID with config.json.
bundle() {
	local id=$1 parent=$2 cmd=$3 ann=${4:-} dir=$TMP/$1
	mkdir -p "$dir"
	runc spec --bundle "$dir"
	jq --arg cmd "$cmd" --arg cg "$parent/$id" --arg build "$BUILD" \
	   --arg rootfs "$ROOTFS" \
	   --arg share "$TMP/share" --arg ann "$ann" '
		.process.terminal = false |
		.process.args = ["/bin/sh", "-c", $cmd] |
		.root.path = $rootfs | .root.readonly = true |
		.mounts += [
			{destination: "/usr", source: "/usr", type: "bind",
			 options: ["rbind", "ro"]},
			{destination: $build, source: $build, type: "bind",
			 options: ["rbind", "ro"]},
			{destination: "/share", source: $share, type: "bind",
			 options: ["rbind", "rw"]}] |
		.linux.cgroupsPath = $cg |
		if $ann != "" then .annotations["org.mpklink.channels"] = $ann
		else . end' "$dir/config.json" > "$dir/config.new" &&
		mv "$dir/config.new" "$dir/config.json"
}

# with_hooks ID: the hooks as an operator writes them, annotation mode.
with_hooks() {
	local cfg=$TMP/$1/config.json
	jq --arg g "$G" --arg p "$TMP/policy" '
		.hooks.createRuntime = [{path: $g,
			args: ["mpklink-grant", "oci-hook", "--policy", $p]}] |
		.hooks.poststop = [{path: $g,
			args: ["mpklink-grant", "oci-hook", "--policy", $p]}]' \
		"$cfg" > "$cfg.new" && mv "$cfg.new" "$cfg"
}

# with_node ID: /dev/mpklink in the container, and nothing else of ours.
with_node() {
	cat > "$TMP/node.json" <<'EOF'
{"cdiVersion": "0.5.0", "kind": "test.example/node",
 "devices": [{"name": "mpklink",
              "containerEdits": {"deviceNodes": [{"path": "/dev/mpklink"}]}}]}
EOF
	"$CDI_APPLY" "$TMP/node.json" "$TMP/$1/config.json" test.example/node=mpklink
}

COUNT="echo one two three four | $WC count orders"

# --- the policy, the service, the CDI spec ------------------------------------
"$G" apply - < /dev/null > /dev/null 2>&1
mkdir -p "$CG/mpk-host"	# before apply: the host's grant names it
tap_check "apply creates the channels of a policy with container rules" \
	"$G" apply "$TMP/policy"
HOST="$(grants orders)"
tap_same "apply grants only the host's service: container rules grant nothing" \
	"$HOST" "user=root,cgroup=/mpk-host rw"
serve orders /mpk-host
tap_same "the host's word-count service serves orders" \
	"$(cut -d' ' -f1,2 "$TMP/server.log")" "serving orders"

tap_check "mpklink-grant cdi writes a spec for the policy" \
	sh -c "'$G' cdi --policy '$TMP/policy' > '$TMP/mpklink.json'"
tap_same "the spec declares each channel with the rights its rules give" \
	"$(jq -r '[.kind, (.devices[].name)] | join(" ")' "$TMP/mpklink.json")" \
	"mpklink.io/channel orders orders:r orders:w orders:rw audit audit:r"

# --- a container with a CDI device --------------------------------------------
bundle c-cdi /mpk-ctr "$COUNT; touch /share/c-cdi.ran"
tap_check "cdi-apply injects mpklink.io/channel=orders:rw into config.json" \
	"$CDI_APPLY" "$TMP/mpklink.json" "$TMP/c-cdi/config.json" \
	mpklink.io/channel=orders:rw
tap_same "the device brings /dev/mpklink and the two hooks" \
	"$(jq -c '[.linux.devices[].path, (.hooks | keys)]' "$TMP/c-cdi/config.json")" \
	'["/dev/mpklink",["createRuntime","poststop"]]'
tap_check "a container with the CDI device runs" \
	runc run --bundle "$TMP/c-cdi" c-cdi
tap_same "its client inside counted words with the host's service" \
	"$(grep -v oci-hook <<< "$TAP_OUTPUT")" "4"
tap_same "after it stopped its grant is gone" "$(grants orders)" "$HOST"
tap_same "and so is its record" "$(records)" ""

# --- while a container runs ------------------------------------------------------
bundle c-run /mpk-ctr "$COUNT > /share/c-run.out; sleep 60" orders:rw
with_hooks c-run
with_node c-run
runc run -d --bundle "$TMP/c-run" c-run > "$TMP/c-run.log" 2>&1 < /dev/null
for _ in $(seq 100); do
	[ -s "$TMP/share/c-run.out" ] && break
	sleep 0.1
done
tap_same "a container asking by annotation counts words too" \
	"$(cat "$TMP/share/c-run.out" "$TMP/c-run.log")" "4"
tap_same "while it runs, its own cgroup has the grant it asked for" \
	"$(grants orders)" "$(printf 'cgroup=/mpk-ctr/c-run rw\n%s' "$HOST")"
tap_same "its record names it" "$(cat "$STATE/c-run")" "orders rw /mpk-ctr/c-run"
tap_check "apply of the same policy while it runs succeeds" "$G" apply "$TMP/policy"
tap_same "and leaves the running container's grant alone" "$(grants orders)" \
	"$(printf 'cgroup=/mpk-ctr/c-run rw\n%s' "$HOST")"
sed 's|container cgroup=/mpk-ctr rw|container cgroup=/mpk-ctr r|' \
	"$TMP/policy" > "$TMP/policy-r"
tap_check "a policy that narrows the container rule applies" \
	"$G" apply "$TMP/policy-r"
tap_contains "and revokes the grant it no longer allows" "- grant orders cgroup=/mpk-ctr/c-run"
"$G" apply "$TMP/policy" > /dev/null
runc state c-run | jq '. + {status: "creating"}' > "$TMP/c-run.state"
tap_check "a second createRuntime for the same container grants again" \
	sh -c "'$G' oci-hook --policy '$TMP/policy' < '$TMP/c-run.state'"
tap_same "the grant is back, once" "$(grants orders)" \
	"$(printf 'cgroup=/mpk-ctr/c-run rw\n%s' "$HOST")"
tap_same "the record holds it once" "$(cat "$STATE/c-run")" "orders rw /mpk-ctr/c-run"
runc kill c-run KILL > /dev/null 2>&1
for _ in $(seq 100); do
	[ "$(runc state c-run 2>/dev/null | jq -r .status)" = stopped ] && break
	sleep 0.1
done
tap_check "the stopped container is deleted" runc delete c-run
tap_same "deleting it ran poststop: the grant is gone" "$(grants orders)" "$HOST"
tap_same "no member is left behind" "$(members orders)" "1"
tap_check "poststop run again finds nothing to do" \
	sh -c "echo '{\"id\": \"c-run\", \"status\": \"stopped\"}' |
	       '$G' oci-hook --policy '$TMP/policy'"

# --- refusals ----------------------------------------------------------------------
bundle c-none /mpk-ctr "$COUNT"
with_node c-none
tap_status 1 "a container with /dev/mpklink but no grant is refused" \
	runc run --bundle "$TMP/c-none" c-none
tap_contains "its client reports EACCES" "orders: Permission denied"

bundle c-greedy /mpk-ctr "touch /share/c-greedy.ran" audit:rw
with_hooks c-greedy
tap_status 1 "a container asking for more than the policy allows does not start" \
	runc run --bundle "$TMP/c-greedy" c-greedy
tap_contains "runc reports the hook's reason" \
	"may not have channel audit with rights rw: no container rule of $TMP/policy allows it for cgroup /mpk-ctr/c-greedy"
tap_same "its program never ran" "$(ls "$TMP/share")" "c-cdi.ran
c-run.out"
tap_same "and it left no grant" "$(grants audit)" ""

bundle c-elsewhere /mpk-other "touch /share/c-elsewhere.ran"
"$CDI_APPLY" "$TMP/mpklink.json" "$TMP/c-elsewhere/config.json" \
	mpklink.io/channel=orders
tap_status 1 "a container in a cgroup no rule names does not start" \
	runc run --bundle "$TMP/c-elsewhere" c-elsewhere
tap_contains "and the hook says which cgroup it was" "for cgroup /mpk-other/c-elsewhere"

bundle c-typo /mpk-ctr "touch /share/c-typo.ran" "orders:rwx"
with_hooks c-typo
tap_status 1 "a malformed annotation stops the container" \
	runc run --bundle "$TMP/c-typo" c-typo
tap_contains "with what is wrong in it" "rights of orders must be r, w or rw, not 'rwx'"
tap_same "no program of a refused container ran" "$(ls "$TMP/share")" "c-cdi.ran
c-run.out"

# A channel the policy allows but the kernel does not have (not applied):
# the grant of orders, made first, must be taken back.
{ cat "$TMP/policy"; printf 'channel late {\n\tsize 64K\n\tcontainer cgroup=/mpk-ctr rw\n}\n'; } \
	> "$TMP/policy-late"
bundle c-late /mpk-ctr "touch /share/c-late.ran" orders:rw,late:rw
with_hooks c-late
jq --arg p "$TMP/policy-late" '(.hooks[][] | .args) |= map(if . == "'"$TMP/policy"'" then $p else . end)' \
	"$TMP/c-late/config.json" > "$TMP/c-late/config.new" &&
	mv "$TMP/c-late/config.new" "$TMP/c-late/config.json"
tap_status 1 "a container whose second grant the kernel refuses does not start" \
	runc run --bundle "$TMP/c-late" c-late
tap_contains "the hook names the grant that failed" "granting late failed"
tap_same "the grant of its first channel was taken back, and nothing recorded" \
	"$(grants orders) $(records)" "$HOST "

bundle c-plain /mpk-ctr "echo plain"
with_hooks c-plain
tap_check "a container that asks for nothing runs with the hooks installed" \
	runc run --bundle "$TMP/c-plain" c-plain
tap_same "and the hook does nothing for it" "$TAP_OUTPUT" "plain"

# --- twenty in a row -----------------------------------------------------------------
failures=0
counts=
for i in $(seq 20); do
	bundle "c-loop$i" /mpk-ctr "$COUNT"
	"$CDI_APPLY" "$TMP/mpklink.json" "$TMP/c-loop$i/config.json" \
		mpklink.io/channel=orders mpklink.io/channel=audit:r
	out=$(runc run --bundle "$TMP/c-loop$i" "c-loop$i" 2>&1) ||
		failures=$((failures + 1))
	counts+=$(grep -v oci-hook <<< "$out")
done
tap_same "20 containers started and stopped one after another all ran" \
	"$failures $counts" "0 44444444444444444444"
tap_same "they leave no grant on orders" "$(grants orders)" "$HOST"
tap_same "nor on audit" "$(grants audit)" ""
tap_same "no member but the host's service" "$(members orders)" "1"
tap_same "and no record" "$(records)" ""
tap_same "runc has no container left" "$(runc list -q)" ""

tap_done
