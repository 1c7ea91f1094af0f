#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make install into temporary DESTDIRs: the layout, the soname, the
# library's exports, mpkshm.pc, libmpkshm's manual, the udev rule, the
# modules-load entry, the systemd unit and the DKMS sources; the Python
# package, imported and used from DESTDIR; the directory
# variables; an example service (libmpkshm/examples/wc_service.c) built
# against the installed tree with nothing but pkg-config, linked shared and
# static, and run on the memfd backend (no module needed); make
# modules_install; make uninstall.
# The installs take the library and tools from build/ as they are (make
# builds only what is missing there).

TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/tap.sh"
BUILD=${MPKLINK_BUILD:-${BUILD:-$TOP/build}}
TMP=$(mktemp -d)
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2> /dev/null; rm -rf "$TMP"' EXIT

VERSION=$(sed -n 's/^MPKLINK_VERSION := //p' "$TOP/tools/build/flags.mk")
LIBVERSION=$(sed -n 's/^LIBMPKSHM_VERSION := //p' "$TOP/tools/build/flags.mk")
MAJOR=${LIBVERSION%%.*}
D=$TMP/root
LIB=$D/usr/lib

# make with nothing inherited from an outer make ("make check" runs this).
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -C "$TOP" --no-print-directory BUILD="$BUILD" "$@"
}

# pkg-config that finds the installed mpkshm.pc (and the system's .pc files)
# and prefixes DESTDIR to its paths.
PC_PATH="$LIB/pkgconfig:$(pkg-config --variable pc_path pkg-config)"
pc() {
	PKG_CONFIG_LIBDIR=$PC_PATH PKG_CONFIG_SYSROOT_DIR=$D pkg-config "$@"
}

# result DESC PROBLEM...: ok when no PROBLEM is given.
result() {
	local desc=$1
	shift
	if [ $# -eq 0 ]; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc" "$@"
	fi
}

tap_plan 47

tap_check "make install DESTDIR=... PREFIX=/usr" mk install DESTDIR="$D" PREFIX=/usr

# The library alone, as README tells a user to build it: no test headers
# (a fresh BUILD has no ext/), no module, no other directory.
ALONE=$TMP/alone
tap_check "make -C libmpkshm builds the library alone, without the test headers" \
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -C "$TOP/libmpkshm" --no-print-directory BUILD="$ALONE"
p=()
for f in "libmpkshm.so.$LIBVERSION" libmpkshm.a mpkshm-broker; do
	[ -f "$ALONE/libmpkshm/$f" ] || p+=("no $f")
done
[ ! -e "$ALONE/ext" ] || p+=("it extracted $ALONE/ext")
[ ! -e "$ALONE/libmpkshm/tests" ] || p+=("it built the tests")
result "make -C libmpkshm leaves the shared and static library and the broker, nothing else" "${p[@]}"

# --- the library ---------------------------------------------------------------

real=$LIB/libmpkshm.so.$LIBVERSION
soname=$(readelf -d "$real" 2> /dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
p=()
[ -f "$real" ] && [ ! -L "$real" ] || p+=("$real is not a regular file")
[ "$soname" = "libmpkshm.so.$MAJOR" ] || p+=("SONAME is '$soname'")
result "libmpkshm.so.$LIBVERSION installed, soname libmpkshm.so.$MAJOR" "${p[@]}"

p=()
for link in "libmpkshm.so.$MAJOR" libmpkshm.so; do
	[ -L "$LIB/$link" ] && [ "$(readlink "$LIB/$link")" = "libmpkshm.so.$LIBVERSION" ] ||
		p+=("$link: $(ls -l "$LIB/$link" 2>&1)")
done
result "libmpkshm.so.$MAJOR and libmpkshm.so link to libmpkshm.so.$LIBVERSION" "${p[@]}"

want=$(cd "$TOP/libmpkshm/src" && ls -- *.c | sed 's/\.c$/.o/' | sort)
got=$(ar t "$LIB/libmpkshm.a" 2>&1 | sort)
if [ "$got" = "$want" ]; then
	tap_ok "libmpkshm.a holds an object for each of libmpkshm/src/*.c"
else
	tap_not_ok "libmpkshm.a holds an object for each of libmpkshm/src/*.c" \
		"$(diff <(echo "$want") <(echo "$got"))"
fi

# The exports are exactly the global names of libmpkshm.map (the version
# node itself is an absolute symbol), and the header declares each.
want=$(sed -n '/global:/,/local:/ s/^[[:space:]]*\([a-z_][a-z0-9_]*\);$/\1/p' \
	"$TOP/libmpkshm/libmpkshm.map" | sort)
exports=$(nm -D --defined-only "$real" 2>&1 | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort)
if [ -n "$want" ] && [ "$exports" = "$want" ]; then
	tap_ok "libmpkshm.so exports exactly the $(wc -l <<< "$want") functions of libmpkshm.map"
else
	tap_not_ok "libmpkshm.so exports exactly the functions of libmpkshm.map" \
		"$(diff <(echo "$want") <(echo "$exports"))"
fi
p=()
for f in $exports; do
	grep -Eq "[ *]$f\(" "$D/usr/include/mpkshm.h" || p+=("$f is not declared")
done
result "the installed mpkshm.h declares every exported function" "${p[@]}"

p=()
cmp -s "$D/usr/include/mpkshm.h" "$TOP/libmpkshm/include/mpkshm.h" || p+=("mpkshm.h")
cmp -s "$D/usr/include/linux/mpklink.h" "$TOP/kmod/include/uapi/linux/mpklink.h" ||
	p+=("linux/mpklink.h")
result "mpkshm.h and the uapi header linux/mpklink.h installed" "${p[@]}"

tap_check "linux/mpklink.h compiles on its own with pkg-config's flags" \
	sh -c "echo '#include <linux/mpklink.h>' | \${CC:-cc} -fsyntax-only -Wall -Werror \
		\$(PKG_CONFIG_LIBDIR='$PC_PATH' PKG_CONFIG_SYSROOT_DIR='$D' pkg-config --cflags mpkshm) -x c -"

# --- mpkshm.pc -----------------------------------------------------------------

p=()
v=$(pc --modversion mpkshm 2>&1)
[ "$v" = "$LIBVERSION" ] || p+=("version: $v")
for var in libdir=/usr/lib includedir=/usr/include; do
	got=$(PKG_CONFIG_LIBDIR=$PC_PATH pkg-config --variable="${var%%=*}" mpkshm 2>&1)
	[ "$got" = "${var#*=}" ] || p+=("${var%%=*}: $got")
done
result "mpkshm.pc: version $LIBVERSION, libdir /usr/lib, includedir /usr/include" "${p[@]}"

libs=" $(pc --static --libs mpkshm 2>&1) "
p=()
for l in -L"$LIB" -lmpkshm -lsodium -lpthread; do
	[[ $libs == *" $l "* ]] || p+=("no $l in:$libs")
done
result "pkg-config --static --libs adds what libmpkshm.a needs (libsodium, pthread)" "${p[@]}"

# --- the tool and the manual ---------------------------------------------------

tap_check "mpklink-grant installed in /usr/bin, mode 755" \
	test "$(stat -c %a "$D/usr/bin/mpklink-grant" 2>&1)" = 755
if [[ $("$D/usr/bin/mpklink-grant" --version 2>&1) == "mpklink-grant $VERSION "* ]]; then
	tap_ok "mpklink-grant --version says $VERSION"
else
	tap_not_ok "mpklink-grant --version says $VERSION" "$("$D/usr/bin/mpklink-grant" --version 2>&1)"
fi
hook=$D/usr/share/containers/oci/hooks.d/mpklink-hook.json
if [ "$(jq -c '[.hook.path, .hook.args, .stages, .when.annotations]' "$hook" 2>&1)" = \
	'["/usr/bin/mpklink-grant",["mpklink-grant","oci-hook"],["createRuntime","poststop"],{"^org\\.mpklink\\.channels$":".+"}]' ]; then
	tap_ok "podman's hooks.d file installed: the installed hook at createRuntime and poststop, for the annotation"
else
	tap_not_ok "podman's hooks.d file installed: the installed hook at createRuntime and poststop, for the annotation" \
		"$(cat "$hook" 2>&1)"
fi
tap_check "mpklink-grant(8) installed in /usr/share/man/man8" \
	cmp "$D/usr/share/man/man8/mpklink-grant.8" "$TOP/tools/grant/mpklink-grant.8"

# libmpkshm's manual: a page per exported function (libmpkshm/tests/
# man_test.sh checks what they say) and the overview, libmpkshm(7).
MANROOT=$D/usr/share/man
p=()
want=$(sed -n '/global:/,/local:/ s/^[[:space:]]*\([a-z_][a-z0-9_]*\);$/\1/p' \
	"$TOP/libmpkshm/libmpkshm.map" | sort)
got=$(find "$MANROOT/man3" -name 'mpkshm_*.3' -printf '%f\n' 2> /dev/null | sed 's/\.3$//' | sort)
[ -n "$want" ] && [ "$got" = "$want" ] ||
	p+=("man3/mpkshm_*.3 are not the functions of libmpkshm.map:" "$(diff <(echo "$want") <(echo "$got"))")
cmp -s "$MANROOT/man7/libmpkshm.7" "$TOP/libmpkshm/man/libmpkshm.7" || p+=("no man7/libmpkshm.7")
result "libmpkshm's manual installed: man3 has a page for each of the $(wc -l <<< "$want") functions of libmpkshm.map, man7 libmpkshm.7" "${p[@]}"

# As a user reads them: by name from the installed manual, .so links
# (mpkshm_commit.3 is one) resolved there, without warnings.
p=()
for page in 3:mpkshm_open 3:mpkshm_commit 7:libmpkshm; do
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -M "$MANROOT" "${page%%:*}" "${page#*:}" 2>&1 > "$TMP/page")
	[ -z "$out" ] || p+=("man ${page%%:*} ${page#*:}: $out")
	grep -qw "${page#*:}" "$TMP/page" || p+=("man ${page%%:*} ${page#*:} does not name it")
done
out=$(cd "$MANROOT" && LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l man3/mpkshm_release.3 2>&1 > /dev/null)
[ -z "$out" ] || p+=("man -l man3/mpkshm_release.3: $out")
result "man -M and man -l render installed pages (and .so links) without warnings" "${p[@]}"

# --- udev, modules-load.d, systemd ---------------------------------------------

rule=$D/usr/lib/udev/rules.d/60-mpklink.rules
p=()
if udevadm verify --help > /dev/null 2>&1; then
	out=$(udevadm verify "$rule" 2>&1) || p+=("$out")
	how="udevadm verify"
else
	# systemd 252 has no "udevadm verify": every rule must be
	# comma-separated KEY=="value" matches and KEY="value" assignments.
	how="syntax"
	while read -r line; do
		while read -r term; do
			[[ $term =~ ^(ACTION|KERNEL|SUBSYSTEM|DRIVER|ATTR\{[a-z_]+\}|ENV\{[A-Z_]+\})(==|!=)\"[^\"]*\"$ ]] ||
				[[ $term =~ ^(OWNER|GROUP|MODE|TAG|SYMLINK|ENV\{[A-Z_]+\}|RUN|OPTIONS)(=|\+=|:=)\"[^\"]*\"$ ]] ||
				p+=("not a udev match or assignment: $term")
		done < <(sed 's/, */\n/g' <<< "$line")
	done < <(grep -v -e '^#' -e '^$' "$rule" 2>&1)
fi
rules=$(grep -v -e '^#' -e '^$' "$rule" 2> /dev/null)
[[ $rules == *'KERNEL=="mpklink", SUBSYSTEM=="misc"'* ]] ||
	p+=("no rule for KERNEL==\"mpklink\", SUBSYSTEM==\"misc\"")
result "60-mpklink.rules in /usr/lib/udev/rules.d is a valid rule for /dev/mpklink ($how)" "${p[@]}"

owner=$(sed -n 's/.*OWNER="\([^"]*\)".*/\1/p' <<< "$rules")
group=$(sed -n 's/.*GROUP="\([^"]*\)".*/\1/p' <<< "$rules")
mode=$(sed -n 's/.*MODE="\([^"]*\)".*/\1/p' <<< "$rules")
doc="owner \`$owner\`, group \`$group\`, mode \`$mode\`"
if [ -n "$owner" ] && [ -n "$group" ] && [ -n "$mode" ] &&
	tr -s '\n ' '  ' < "$TOP/Documentation/admin-guide.md" 2> /dev/null |
	grep -qF -- "$doc"; then
	tap_ok "the rule's $owner:$group $mode is the one admin-guide.md documents"
else
	tap_not_ok "the rule's owner, group and mode are the ones admin-guide.md documents" \
		"expected '$doc' in Documentation/admin-guide.md"
fi

module=$(sed -n 's/^obj-m := \(.*\)\.o$/\1/p' "$TOP/kmod/Kbuild")
got=$(grep -v -e '^#' -e '^$' "$D/usr/lib/modules-load.d/mpklink.conf" 2>&1)
if [ -n "$module" ] && [ "$got" = "$module" ]; then
	tap_ok "modules-load.d/mpklink.conf loads $module, the module kmod/Kbuild builds"
else
	tap_not_ok "modules-load.d/mpklink.conf loads the module kmod/Kbuild builds" \
		"Kbuild: '$module', mpklink.conf: '$got'"
fi

unit=$D/usr/lib/systemd/system/mpklink-policy.service
p=()
for line in "Type=oneshot" "RemainAfterExit=yes" \
	"ConditionPathExists=/etc/mpklink/policy" \
	"After=systemd-modules-load.service" \
	"WantedBy=multi-user.target"; do
	grep -qx -- "$line" "$unit" 2> /dev/null || p+=("no line $line")
done
grep -qE '^ExecStart=/usr/bin/mpklink-grant apply /etc/mpklink/policy( |$)' "$unit" 2> /dev/null ||
	p+=("$(grep ExecStart "$unit" 2>&1)")
result "mpklink-policy.service: oneshot after modules-load, runs /usr/bin/mpklink-grant apply /etc/mpklink/policy" "${p[@]}"

# systemd-analyze checks that ExecStart= can run: point it at DESTDIR.
if command -v systemd-analyze > /dev/null; then
	mkdir -p "$TMP/unit"
	sed "s|/usr/bin/mpklink-grant|$D/usr/bin/mpklink-grant|g" "$unit" \
		> "$TMP/unit/mpklink-policy.service"
	out=$(systemd-analyze verify --man=no "$TMP/unit/mpklink-policy.service" 2>&1)
	status=$?
	if [ $status = 0 ] && [ -z "$out" ]; then
		tap_ok "systemd-analyze verify: the unit has no errors or warnings"
	else
		tap_not_ok "systemd-analyze verify: the unit has no errors or warnings" \
			"exit $status" "$out"
	fi
else
	p=()
	while read -r line; do
		[[ $line =~ ^(\[(Unit|Service|Install)\]|[A-Z][A-Za-z]+=.+)$ ]] ||
			p+=("not a section or KEY=VALUE: $line")
	done < <(grep -v -e '^#' -e '^$' "$unit" 2>&1)
	result "the unit is sections and KEY=VALUE lines (no systemd-analyze here)" "${p[@]}"
fi

p=()
dkms=$D/usr/src/mpklink-$VERSION
grep -qx "PACKAGE_VERSION=\"$VERSION\"" "$dkms/dkms.conf" 2> /dev/null ||
	p+=("dkms.conf: $(grep PACKAGE_VERSION "$dkms/dkms.conf" 2>&1)")
[ -f "$dkms/Kbuild" ] && [ -f "$dkms/kmod/Kbuild" ] || p+=("no Kbuild files")
result "the module's DKMS sources in /usr/src/mpklink-$VERSION" "${p[@]}"

if [ -d "$D/etc/mpklink" ] && [ -z "$(ls -A "$D/etc/mpklink")" ]; then
	tap_ok "/etc/mpklink exists and install put no policy there"
else
	tap_not_ok "/etc/mpklink exists and install put no policy there" "$(ls -lA "$D/etc/mpklink" 2>&1)"
fi

leaks=$(grep -rlF -- "$D" "$D" 2>&1)
result "no installed file contains the DESTDIR path" ${leaks:+"$leaks"}

# --- an example service built against the installed tree ----------------------

# Text with spaces, tabs and newlines, and its word count as wc sees it.
seq 1 40000 | awk '{ printf "w%d%s", $1, ($1 % 7 ? " " : ($1 % 3 ? "\t\t" : "\n")) }' \
	> "$TMP/text"
WORDS=$(LC_ALL=C wc -w < "$TMP/text")
EXAMPLE=$TOP/libmpkshm/examples/wc_service.c

# wait_serving LOG: until the service $SERVER says "serving" in LOG, exits,
# or 10 s pass.
wait_serving() {
	local i
	for i in $(seq 100); do
		grep -q '^serving' "$1" && break
		kill -0 "$SERVER" 2> /dev/null || break
		sleep 0.1
	done
}

# run_service DESC BINARY: serve one request on a memfd channel, ask it to
# count $TMP/text; two TAP lines.
run_service() {
	local desc=$1 bin=$2 chan=install-test-$$-$RANDOM got status i
	"$bin" -b memfd -n 1 serve "$chan" > "$TMP/server.out" 2>&1 &
	SERVER=$!
	wait_serving "$TMP/server.out"
	got=$("$bin" -b memfd count "$chan" < "$TMP/text" 2>&1)
	if [ "$got" = "$WORDS" ]; then
		tap_ok "$desc: wc_service counts $WORDS words, as wc -w does"
	else
		tap_not_ok "$desc: wc_service counts $WORDS words, as wc -w does" \
			"client: $got" "server: $(cat "$TMP/server.out")"
	fi
	for i in $(seq 100); do
		kill -0 "$SERVER" 2> /dev/null || break
		sleep 0.1
	done
	if kill -0 "$SERVER" 2> /dev/null; then
		kill "$SERVER"
		wait "$SERVER"
		tap_not_ok "$desc: the service stops after its one request" \
			"still running after 10 s" "$(cat "$TMP/server.out")"
	else
		wait "$SERVER"
		status=$?
		if [ "$status" = 0 ]; then
			tap_ok "$desc: the service stops after its one request, exit 0"
		else
			tap_not_ok "$desc: the service stops after its one request, exit 0" \
				"exit $status" "$(cat "$TMP/server.out")"
		fi
	fi
	SERVER=
}

# The memfd backend's broker: installed, and the library knows where.  The
# services below run it from DESTDIR, where the library would find it once
# the package is in place.
p=()
[ -x "$D/usr/libexec/mpkshm-broker" ] || p+=("no /usr/libexec/mpkshm-broker")
grep -qa '/usr/libexec/mpkshm-broker' "$LIB/libmpkshm.so.$LIBVERSION" ||
	p+=("the library does not name /usr/libexec/mpkshm-broker")
result "mpkshm-broker installed in LIBEXECDIR, and the library starts it from there" "${p[@]}"
export MPKSHM_BROKER=$D/usr/libexec/mpkshm-broker

tap_check "the example builds with pkg-config --cflags --libs mpkshm alone" \
	sh -c "\${CC:-cc} -O2 -Wall -Wextra -Werror -o '$TMP/wc_shared' '$EXAMPLE' \
		\$(PKG_CONFIG_LIBDIR='$PC_PATH' PKG_CONFIG_SYSROOT_DIR='$D' pkg-config --cflags --libs mpkshm)"
resolved=$(LD_LIBRARY_PATH=$LIB ldd "$TMP/wc_shared" 2>&1 | awk '$1 == "libmpkshm.so.'"$MAJOR"'" { print $3 }')
p=()
[ "$resolved" = "$LIB/libmpkshm.so.$MAJOR" ] || p+=("resolved to '$resolved'")
result "it loads libmpkshm.so.$MAJOR from DESTDIR" "${p[@]}"
export LD_LIBRARY_PATH=$LIB
run_service "shared" "$TMP/wc_shared"
unset LD_LIBRARY_PATH

# The C++ wrapper, header-only, as a C++20 program includes it.
printf '%s\n' '#include <mpkshm.hpp>' \
	'int main() { mpkshm::options o; o.role("server"); return o.get()->role ? 0 : 1; }' \
	> "$TMP/hpp.cpp"
tap_check "mpkshm.hpp is installed and a C++20 program builds and runs with it" \
	sh -c "\${CXX:-c++} -std=c++20 -Wall -Wextra -Werror -Wshadow -o '$TMP/hpp' '$TMP/hpp.cpp' \
		\$(PKG_CONFIG_LIBDIR='$PC_PATH' PKG_CONFIG_SYSROOT_DIR='$D' pkg-config --cflags --libs mpkshm) &&
		LD_LIBRARY_PATH='$LIB' '$TMP/hpp'"

# The Python package, in Debian's layout, imported from DESTDIR by Debian's
# Python (its extension links libmpkshm statically: no LD_LIBRARY_PATH).
PYDIR=$D/usr/lib/python3/dist-packages
tap_check "the Python package imports from /usr/lib/python3/dist-packages with /usr/bin/python3" \
	env -C "$TMP" PYTHONPATH="$PYDIR" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -c \
	"import mpkshm, sys; sys.exit(not mpkshm.__file__.startswith('$PYDIR/mpkshm/'))"
tap_check "the installed Python package sends and receives a message on memfd" \
	env -C "$TMP" PYTHONPATH="$PYDIR" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -c "
import mpkshm
name = 'install-py-$$'
with mpkshm.Channel(name, backend='memfd', create=True) as a, \\
        mpkshm.Channel(name, backend='memfd') as b:
    a.send(b'installed')
    assert b.recv(timeout_ms=5000)[0] == b'installed'"

tap_check "the example links statically with pkg-config --static" \
	sh -c "\${CC:-cc} -O2 -Wall -Wextra -Werror -static -o '$TMP/wc_static' '$EXAMPLE' \
		\$(PKG_CONFIG_LIBDIR='$PC_PATH' PKG_CONFIG_SYSROOT_DIR='$D' pkg-config --static --cflags --libs mpkshm)"
needed=$(readelf -d "$TMP/wc_static" 2>&1 | grep NEEDED)
result "the static example needs no shared library" ${needed:+"$needed"}
run_service "static" "$TMP/wc_static"

# --- libmpkshm-rpc: a service from its .proto, as its author builds it ------------

RPCVERSION=$(sed -n 's/^LIBMPKSHM_RPC_VERSION := //p' "$TOP/tools/build/flags.mk")
rpc_real=$LIB/libmpkshm-rpc.so.$RPCVERSION
p=()
soname=$(readelf -d "$rpc_real" 2> /dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libmpkshm-rpc.so.${RPCVERSION%%.*}" ] || p+=("SONAME is '$soname'")
want=$(sed -n 's/^[[:space:]]*\(mpkrpc_[a-z_]*\);$/\1/p' "$TOP/libmpkshm-rpc/libmpkshm-rpc.map" | sort)
got=$(nm -D --defined-only "$rpc_real" 2> /dev/null | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort)
[ "$want" = "$got" ] || p+=("exports differ from libmpkshm-rpc.map:" "$(diff <(echo "$want") <(echo "$got"))")
[ -x "$D/usr/bin/protoc-gen-mpkshm" ] || p+=("no /usr/bin/protoc-gen-mpkshm")
result "libmpkshm-rpc.so.$RPCVERSION: its soname, libmpkshm-rpc.map's exports, and protoc-gen-mpkshm" "${p[@]}"

RPC_EX=$TOP/libmpkshm-rpc/examples
tap_check "the word-count RPC service builds from wordcount.proto with protoc, the installed plugin and pkg-config mpkshm-rpc alone" \
	sh -c "mkdir -p '$TMP/rpc' && protoc -I'$RPC_EX' --c_out='$TMP/rpc' \
		--plugin=protoc-gen-mpkshm='$D/usr/bin/protoc-gen-mpkshm' --mpkshm_out='$TMP/rpc' \
		'$RPC_EX/wordcount.proto' &&
	for prog in wc_server wc_client; do
		\${CC:-cc} -O2 -Wall -Wextra -Werror -I'$TMP/rpc' -o '$TMP/rpc/'\$prog \
			'$RPC_EX/'\$prog.c '$TMP/rpc/wordcount.pb-c.c' \
			\$(PKG_CONFIG_LIBDIR='$PC_PATH' PKG_CONFIG_SYSROOT_DIR='$D' pkg-config --cflags --libs mpkshm-rpc) || exit 1
	done"
chan=install-rpc-$$
export LD_LIBRARY_PATH=$LIB
"$TMP/rpc/wc_server" -b memfd -n 1 "$chan" > "$TMP/rpc.out" 2>&1 &
SERVER=$!
wait_serving "$TMP/rpc.out"
got=$("$TMP/rpc/wc_client" -b memfd "$chan" "$TMP/text" 2>&1)
wait "$SERVER"
status=$?
SERVER=
unset LD_LIBRARY_PATH
p=()
[ "$got" = "$WORDS" ] || p+=("client: $got" "server: $(cat "$TMP/rpc.out")")
[ "$status" = 0 ] || p+=("the server exited $status")
result "WordCount.Count over a memfd channel counts $WORDS words, as wc -w does" "${p[@]}"

# --- the directory variables ---------------------------------------------------

D2=$TMP/default
p=()
mk install DESTDIR="$D2" > "$TMP/out" 2>&1 || p+=("$(cat "$TMP/out")")
for f in /usr/local/bin/mpklink-grant /usr/local/lib/libmpkshm.so.$LIBVERSION \
	/usr/local/lib/pkgconfig/mpkshm.pc /usr/local/include/mpkshm.h \
	/usr/local/share/man/man8/mpklink-grant.8 \
	/usr/local/share/man/man3/mpkshm_open.3 /usr/local/share/man/man7/libmpkshm.7 \
	"/usr/local/lib/python$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')/dist-packages/mpkshm/__init__.py" \
	/usr/local/lib/udev/rules.d/60-mpklink.rules \
	/usr/local/lib/modules-load.d/mpklink.conf \
	/usr/local/lib/systemd/system/mpklink-policy.service \
	/usr/src/mpklink-$VERSION/dkms.conf; do
	[ -f "$D2$f" ] || p+=("no $f")
done
grep -q '^ExecStart=/usr/local/bin/mpklink-grant apply /etc/mpklink/policy' \
	"$D2/usr/local/lib/systemd/system/mpklink-policy.service" 2> /dev/null ||
	p+=("the unit does not run /usr/local/bin/mpklink-grant on /etc/mpklink/policy")
result "PREFIX defaults to /usr/local; the policy stays /etc/mpklink/policy" "${p[@]}"

D3=$TMP/custom
p=()
mk install DESTDIR="$D3" PREFIX=/opt/mpk LIBDIR=/opt/mpk/lib64 BINDIR=/opt/mpk/sbin \
	SYSCONFDIR=/etc/opt/mpk > "$TMP/out" 2>&1 || p+=("$(cat "$TMP/out")")
got=$(PKG_CONFIG_LIBDIR=$D3/opt/mpk/lib64/pkgconfig pkg-config --variable=libdir mpkshm 2>&1)
[ "$got" = /opt/mpk/lib64 ] || p+=("libdir: $got")
[ -L "$D3/opt/mpk/lib64/libmpkshm.so.$MAJOR" ] || p+=("no libmpkshm.so.$MAJOR in lib64")
grep -q '^ExecStart=/opt/mpk/sbin/mpklink-grant apply /etc/opt/mpk/mpklink/policy' \
	"$D3/opt/mpk/lib/systemd/system/mpklink-policy.service" 2> /dev/null ||
	p+=("$(grep -h ExecStart "$D3"/opt/mpk/lib/systemd/system/* 2>&1)")
result "LIBDIR, BINDIR and SYSCONFDIR reach the files, mpkshm.pc and the unit" "${p[@]}"

# --- modules_install, for a guest kernel -----------------------------------------

k=$("$TOP/tools/vm" kernels | awk 'NR == 1 { print $2 }')
mk modules_install KDIR="/lib/modules/$k/build" DESTDIR="$TMP/modules" > "$TMP/out" 2>&1
status=$?
ko=$TMP/modules/lib/modules/$k/updates/mpklink.ko
if [ -n "$k" ] && [ $status = 0 ] && [ "$(modinfo -F vermagic "$ko" 2>&1 | cut -d' ' -f1)" = "$k" ]; then
	tap_ok "make modules_install KDIR=... puts mpklink.ko for $k in /lib/modules/$k/updates"
else
	tap_not_ok "make modules_install KDIR=... puts mpklink.ko for ${k:-a guest kernel} in its updates/" \
		"exit $status" "$(cat "$TMP/out")" "$(find "$TMP/modules" -name '*.ko' 2>&1)"
fi

# --- uninstall -----------------------------------------------------------------

echo "channel kept { size 4K; grant uid=0 rw }" > "$D/etc/mpklink/policy"
tap_check "make uninstall DESTDIR=... PREFIX=/usr" mk uninstall DESTDIR="$D" PREFIX=/usr
left=$(cd "$D" && find . ! -type d | sed 's|^\.||')
p=()
[ "$left" = /etc/mpklink/policy ] || p+=("left: $left")
result "uninstall removed every file and link but the policy" "${p[@]}"
leftdirs=$(cd "$D" && find ./usr/src -mindepth 1 2>&1 | sed 's|^\.||')
result "uninstall removed the DKMS source directory" ${leftdirs:+"$leftdirs"}

tap_done
