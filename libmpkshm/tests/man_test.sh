#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
#
# libmpkshm's manual (libmpkshm/man): every page formats without warnings,
# every function libmpkshm.map exports has a page mpkshm_NAME.3 whose NAME
# section names it (following .so links), each page's SYNOPSIS has the
# function's prototype exactly as mpkshm.h declares it, and libmpkshm(7)
# refers to every function's page.  Runs on the host only.

DIR=$(cd "$(dirname "$0")/.." && pwd)
. "$DIR/../tools/testing/tap.sh"
MAN=$DIR/man
MAP=$DIR/libmpkshm.map
HEADER=$DIR/include/mpkshm.h
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# A page that is a ".so man3/OTHER.3" link is read relative to the root of
# a manual: give the pages one, as an installed manual has.
ln -s "$MAN" "$TMP/man3"
ln -s "$MAN" "$TMP/man7"

# Every page formatted once: $TMP/out/PAGE, its warnings in PAGE.err.
mkdir "$TMP/out"
render() {
	[ -f "$TMP/out/$1" ] ||
		(cd "$TMP" && LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "man3/$1") \
			> "$TMP/out/$1" 2> "$TMP/out/$1.err"
}

# section PAGE NAME: the text of section NAME of the formatted page.
section() {
	render "$1"
	sed -n "/^$2\$/,/^[A-Z]/ { /^[A-Z]/!p }" "$TMP/out/$1"
}

# A declaration with its whitespace normalised: runs of blanks are one
# space, and there is none next to ( ) , ; *.
normalise() {
	tr -s '[:space:]' ' ' | sed -e 's/ *\([(),;*]\) */\1/g' -e 's/^ //' -e 's/ $//'
}

# decl FUNCTION: its declaration in mpkshm.h, from its first line to ";".
decl() {
	awk -v f="$1" '
		!p && $0 ~ "^[a-z].*[ *]" f "\\(" { p = 1 }
		p { print; if (/;/) exit }' "$HEADER" | normalise
}

exported=$(sed -n '/global:/,/local:/ s/^[[:space:]]*\([a-z_][a-z0-9_]*\);$/\1/p' "$MAP" | sort)
pages=$(cd "$MAN" && ls -- *.3 *.7 2> /dev/null)

tap_plan $(($(wc -w <<< "$pages") + 3))

for page in $pages; do
	render "$page"
	warnings=$(cat "$TMP/out/$page.err")
	out=$(cat "$TMP/out/$page")
	if [ -n "$warnings" ]; then
		tap_not_ok "$page formats without warnings" "$warnings"
	elif ! grep -q '^NAME$' <<< "$out"; then
		tap_not_ok "$page formats without warnings" "no NAME section in:" "$out"
	else
		tap_ok "$page formats without warnings"
	fi
done

p=()
[ -n "$exported" ] || p+=("no exported functions found in $MAP")
for f in $exported; do
	if [ ! -f "$MAN/$f.3" ]; then
		p+=("$f: no $f.3")
	elif ! section "$f.3" NAME | grep -qw -- "$f"; then
		p+=("$f: $f.3 does not name it in its NAME section")
	fi
done
if [ ${#p[@]} = 0 ]; then
	tap_ok "every exported function in libmpkshm.map ($(wc -w <<< "$exported")) has a page that names it"
else
	tap_not_ok "every exported function in libmpkshm.map has a page that names it" "${p[@]}"
fi

p=()
for f in $exported; do
	want=$(decl "$f")
	if [ -z "$want" ]; then
		p+=("$f: not declared in mpkshm.h")
		continue
	fi
	[ -f "$MAN/$f.3" ] || continue	# said above
	got=$(section "$f.3" SYNOPSIS | normalise)
	[[ $got == *"$want"* ]] || p+=("$f.3: mpkshm.h declares" "  $want" "but its SYNOPSIS says" "  $got")
done
if [ ${#p[@]} = 0 ]; then
	tap_ok "each page's SYNOPSIS has its function's prototype as mpkshm.h declares it"
else
	tap_not_ok "each page's SYNOPSIS has its function's prototype as mpkshm.h declares it" "${p[@]}"
fi

p=()
if [ -f "$MAN/libmpkshm.7" ]; then
	render libmpkshm.7
	also=$(sed -n '/^SEE ALSO$/,$p' "$TMP/out/libmpkshm.7" | tr -s '[:space:]' ' ')
	for f in $exported; do
		[[ $also == *"$f(3)"* ]] || p+=("$f(3) is not in SEE ALSO")
	done
else
	p+=("no libmpkshm.7")
fi
if [ ${#p[@]} = 0 ]; then
	tap_ok "libmpkshm(7) refers to every function's page in SEE ALSO"
else
	tap_not_ok "libmpkshm(7) refers to every function's page in SEE ALSO" "${p[@]}"
fi
tap_done
