#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dkms.conf: "make dkms-source" stages the module's sources as DKMS wants
# them, and DKMS (Debian's) adds them and builds mpklink.ko for every guest
# kernel (tools/vm kernels: each series' newest kernel with headers).  DKMS
# works in private trees here (--dkmstree, --sourcetree, its temporary
# directory and signing key): the test never touches /var/lib/dkms, /usr/src
# or /lib/modules, and installs nothing.

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

VERSION=$(sed -n 's/^MPKLINK_VERSION := //p' "$TOP/tools/build/flags.mk")
SRC=$TMP/root/usr/src
STAGED=$SRC/mpklink-$VERSION
TREE=$TMP/dkms

if ! command -v dkms > /dev/null; then
	tap_plan 1
	tap_not_ok "dkms is installed (make deps installs it)"
	tap_done
fi
mapfile -t KERNELS < <("$TOP/tools/vm" kernels | awk '{ print $2 }')

# make with nothing inherited from an outer make ("make check" runs this).
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -C "$TOP" --no-print-directory "$@"
}

# dkms with private trees, temporary files and module signing key.
dk() {
	TMPDIR=$TMP/tmp mok_signing_key=$TMP/mok.key \
		mok_certificate=$TMP/mok.pub \
		dkms "$@" --dkmstree "$TREE" --sourcetree "$SRC"
}
mkdir -p "$TMP/tmp" "$TREE"
touch "$TMP/stamp"

tap_plan $((7 + 3 * ${#KERNELS[@]}))

if [ ${#KERNELS[@]} -gt 0 ]; then
	tap_ok "guest kernels with headers: ${KERNELS[*]}"
else
	tap_not_ok "guest kernels with headers are installed (make deps)"
fi

tap_check "make dkms-source stages the sources in /usr/src/mpklink-$VERSION below DESTDIR" \
	mk dkms-source DESTDIR="$TMP/root"

conf=$STAGED/dkms.conf
if [ -f "$conf" ] &&
	[ "$(bash -c '. "$1"; echo "$PACKAGE_NAME $PACKAGE_VERSION"' _ "$conf")" = "mpklink $VERSION" ] &&
	! grep -q '#MODULE_VERSION#' "$conf"; then
	tap_ok "dkms.conf says mpklink $VERSION, the version in tools/build/flags.mk"
else
	tap_not_ok "dkms.conf says mpklink $VERSION, the version in tools/build/flags.mk" \
		"$(grep PACKAGE_ "$conf" 2>&1)"
fi

# Only sources: each a copy of the repository's, and every object that
# kmod/Kbuild links has its .c.
problems=()
while read -r f; do
	case $f in
	dkms.conf) ;;
	Kbuild | kmod/Kbuild | *.c | *.h)
		cmp -s "$STAGED/$f" "$TOP/$f" || problems+=("$f differs from the repository's")
		;;
	*) problems+=("$f is not a source file") ;;
	esac
done < <(cd "$STAGED" 2> /dev/null && find . -type f | sed 's|^\./||')
for o in $(sed -n 's/^mpklink-y := //; T; :a; /\\$/ { N; s/\\\n//; ba }; p' "$TOP/kmod/Kbuild"); do
	[ -f "$STAGED/kmod/${o%.o}.c" ] || problems+=("kmod/${o%.o}.c is missing")
done
[ -f "$STAGED/kmod/include/uapi/linux/mpklink.h" ] ||
	problems+=("kmod/include/uapi/linux/mpklink.h is missing")
if [ ${#problems[@]} -eq 0 ] && [ -d "$STAGED" ]; then
	tap_ok "the staged tree is the module's sources and nothing else"
else
	tap_not_ok "the staged tree is the module's sources and nothing else" "${problems[@]}"
fi

tap_check "dkms add registers mpklink/$VERSION" dk add "mpklink/$VERSION"

for k in "${KERNELS[@]}"; do
	failed=$TAP_FAILED
	tap_check "dkms build mpklink/$VERSION for $k" \
		dk build "mpklink/$VERSION" -k "$k" -j 1
	if [ "$TAP_FAILED" != "$failed" ] &&
		[ -f "$TREE/mpklink/$VERSION/build/make.log" ]; then
		tail -n 20 "$TREE/mpklink/$VERSION/build/make.log" | sed 's/^/# /'
	fi
	ko=$(compgen -G "$TREE/mpklink/$VERSION/$k/*/module/mpklink.ko*" | head -n 1)
	if [ -n "$ko" ] && [ "$(modinfo -F name "$ko")" = mpklink ] &&
		[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$k" ] &&
		[ "$(modinfo -F version "$ko")" = "$VERSION" ]; then
		tap_ok "dkms made mpklink.ko $VERSION for $k (its vermagic and version say so)"
	else
		tap_not_ok "dkms made mpklink.ko $VERSION for $k (its vermagic and version say so)" \
			"module: ${ko:-none}" "$(modinfo "$ko" 2>&1 | grep -E '^(name|vermagic|version)')"
	fi
	status=$(dk status "mpklink/$VERSION" -k "$k" 2> /dev/null)
	if grep -q "^mpklink/$VERSION, $k, [^:]*: built$" <<< "$status"; then
		tap_ok "dkms status: built for $k"
	else
		tap_not_ok "dkms status: built for $k" "$status"
	fi
done

# BUILD_EXCLUSIVE_KERNEL: an older kernel is refused as not for this
# module (77), not attempted.  Its headers' path is only for DKMS's checks.
tap_status 77 "dkms refuses to build for a kernel older than 6.1 (exit 77)" \
	dk build "mpklink/$VERSION" -k 5.10.0-0-amd64 -j 1 \
	--kernelsourcedir "/lib/modules/${KERNELS[0]:-none}/build"

changed=$(find /var/lib/dkms /usr/src -maxdepth 1 -newer "$TMP/stamp" 2> /dev/null)
if [ -z "$changed" ]; then
	tap_ok "nothing changed in /var/lib/dkms or /usr/src"
else
	tap_not_ok "nothing changed in /var/lib/dkms or /usr/src" "$changed"
fi

tap_done
