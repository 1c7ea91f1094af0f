#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The administrator's guide's container text, run: in the guest as root
# with mpklink.ko loaded, the policy block of Documentation/admin-guide.md
# ("container-policy") is applied and the guide's commands
# ("container-commands") run as written, but for the one path the guest
# cannot write (/etc is the host's, read-only: the spec goes to
# /var/run/cdi, which CDI runtimes read as well); the compose file's
# devices must be devices of the spec; and the guide's podman command runs
# (Debian's podman 4.3, with crun), a busybox root file system standing in
# for the image and the guest's storage options added.  podman applies the
# CDI spec itself here.  Then the hooks.d file make install puts in place
# runs the hook for an annotated container.
#
# podman's runtime needs pivot_root(2), which a chrooted process cannot
# use: podman runs under unchroot (tools/tests/unchroot.c).

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
. "$TOP/tools/tests/container_lib.sh"
GUIDE=$TOP/Documentation/admin-guide.md

PLAN=21
tap_plan $PLAN
container_skip $PLAN podman crun
CGROUPS="/system.slice/inventory-db.service /system.slice /mpklink/shop /mpklink/reports /mpklink"

# The guest has no systemd (the guide's command says cgroupfs), and
# /var/lib is read-only: storage in tmpfs.
podman() {
	"$UNCHROOT" /usr/bin/podman --root "$TMP/podman" --runroot /run/mpk-podman \
		--storage-driver vfs --events-backend file "$@"
}

# doc_block MARKER: the fenced block after "<!-- MARKER:" in the guide.
doc_block() {
	awk -v m="<!-- $1:" '
		index($0, m) == 1 { found = 1; next }
		found && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$GUIDE"
}

RUN="echo one two three four | $WC count inventory"

# --- the guide's policy and commands ------------------------------------------
doc_block container-policy > "$TMP/policy"
tap_same "the guide has a container policy with three container rules" \
	"$(grep -c '^	container cgroup=/mpklink' "$TMP/policy")" "3"
doc_block container-commands > "$TMP/commands"
tap_same "and two commands to run" "$(wc -l < "$TMP/commands")" "2"
# The host's inventory-db service of the guide's grant: uid and cgroup.
mkdir -p "$CG/system.slice/inventory-db.service"
"$G" apply - < /dev/null > /dev/null 2>&1
sed -e "s|/etc/mpklink/policy|$TMP/policy|" -e "s|/etc/cdi/|/var/run/cdi/|" \
	"$TMP/commands" > "$TMP/commands.sh"
# cdi reads /etc/mpklink/policy when told nothing else, as do the hooks.
export MPKLINK_POLICY=$TMP/policy
mkdir -p /var/run/cdi
tap_check "the guide's commands run: apply, then cdi into the spec directory" \
	env PATH="$BUILD/tools:$PATH" bash -e "$TMP/commands.sh"
SPEC=/var/run/cdi/mpklink.json
tap_same "the spec has the devices of the guide's rules" \
	"$(jq -r '[.devices[].name] | join(" ")' "$SPEC")" \
	"inventory inventory:r inventory:w inventory:rw"
doc_block compose-file > "$TMP/compose.yaml"
missing=
for dev in $(sed -n 's/^ *- \(mpklink\.io\/channel=.*\)$/\1/p' "$TMP/compose.yaml"); do
	jq -e --arg n "${dev#*=}" '.devices[] | select(.name == $n)' "$SPEC" > /dev/null ||
		missing+=" $dev"
done
tap_same "every device the compose file names is in the spec" \
	"$(grep -c 'mpklink\.io/channel=' "$TMP/compose.yaml")${missing:+ missing:$missing}" "2"
# With the systemd driver each dash of a slice name opens a level.
tap_same "the compose file's cgroup_parent is the rule's parent" \
	"$(sed -n 's/^ *cgroup_parent: mpklink-\(.*\)\.slice$/\/mpklink.slice\/mpklink-\1.slice/p' "$TMP/compose.yaml" | sort -u)" \
	"/mpklink.slice/mpklink-shop.slice"
serve inventory /system.slice/inventory-db.service 10005
tap_same "the guide's inventory-db service (uid 10005) serves inventory" \
	"$(cut -d' ' -f1,2 "$TMP/server.log")" "serving inventory"
HOST=$(grants inventory)

# --- the guide's podman command ------------------------------------------------
cmd=$(doc_block podman-command | sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*//; ta')
tap_same "the guide's podman command names the device and the rule's parent" \
	"$(grep -o -- '--device [^ ]*\|--cgroup-parent [^ ]*' <<< "$cmd" | tr '\n' ' ')" \
	"--device mpklink.io/channel=inventory:rw --cgroup-parent /mpklink/shop "
# "podman run OPTIONS IMAGE COMMAND": the rootfs for the image.
args=${cmd#podman }
args=${args% IMAGE COMMAND}
read -r -a argv <<< "$args"
tap_check "the guide's podman command runs a container that counts words with the host" \
	podman "${argv[@]}" --network none -v /usr:/usr:ro -v "$BUILD:$BUILD:ro" \
	--rootfs "$ROOTFS" /bin/sh -c "$RUN"
tap_same "the client inside got the count" "$TAP_OUTPUT" "4"
tap_same "once it is gone, so is its grant" "$(grants inventory)" "$HOST"
tap_same "and the hook's record" "$(records)" ""

# --- refusals, through podman --------------------------------------------------
# crun keeps a hook's stderr only where this annotation says.
tap_status 126 "a reports container asking for rw does not start (exit 126)" \
	podman run --rm --network none --device mpklink.io/channel=inventory:rw \
	--cgroup-manager cgroupfs --cgroup-parent /mpklink/reports \
	--annotation run.oci.hooks.stderr="$TMP/hook.err" \
	-v "$TMP/share:/share" --rootfs "$ROOTFS" /bin/touch /share/reports.ran
tap_contains "podman says the hook failed, with its exit code" \
	"error executing hook \`$G\` (exit code: 3)"
TAP_OUTPUT=$(cat "$TMP/hook.err" 2>&1)
tap_contains "and the hook's stderr says why" \
	"may not have channel inventory with rights rw: no container rule of $TMP/policy allows it for cgroup /mpklink/reports/libpod-"
tap_same "and its program never ran" "$(ls "$TMP/share")" ""
tap_status 1 "a container with only /dev/mpklink is refused by the kernel" \
	podman run --rm --network none --device /dev/mpklink \
	--cgroup-manager cgroupfs --cgroup-parent /mpklink/shop \
	-v /usr:/usr:ro -v "$BUILD:$BUILD:ro" --rootfs "$ROOTFS" /bin/sh -c "$RUN"
tap_contains "with EACCES" "inventory: Permission denied"

# --- hooks.d: the annotation ----------------------------------------------------
mkdir -p "$TMP/hooks.d"
# The installed file, but for this tree's tool, with the test's policy in
# the hook's environment (the runtime passes it nothing else).
sed "s|@BINDIR@|$BUILD/tools|" "$TOP/tools/grant/oci/mpklink-hook.json.in" |
	jq --arg p "$TMP/policy" '.hook.env = ["MPKLINK_POLICY=" + $p]' \
	> "$TMP/hooks.d/mpklink-hook.json"
tap_check "with hooks.d, an annotated container gets its channel" \
	podman --hooks-dir "$TMP/hooks.d" run --rm --network none \
	--annotation org.mpklink.channels=inventory:rw --device /dev/mpklink \
	--cgroup-manager cgroupfs --cgroup-parent /mpklink/shop \
	-v /usr:/usr:ro -v "$BUILD:$BUILD:ro" --rootfs "$ROOTFS" /bin/sh -c "$RUN"
tap_same "and counts words" "$TAP_OUTPUT" "4"
tap_same "nothing is left after it" "$(grants inventory) $(records)" "$HOST "

tap_done
