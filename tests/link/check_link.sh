#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/link/check_link.sh MODE ARGS...   (docs/design.md, "Build and link")
#
#   bind-now LIB...          each LIB has BIND_NOW (FLAGS or FLAGS_1 NOW) and
#                            a GNU_RELRO segment
#   no-self-plt LIB...       no dynamic relocation of LIB names an hg_
#                            function LIB defines itself
#   no-static-tls LIB        LIB's FLAGS have no STATIC_TLS (it can be
#                            dlopen'ed)
#   symbols LIB LIST         the defined dynamic symbols of LIB are exactly
#                            the names in LIST (one a line; '#' comments)
#   dynlist LIB DYNLIST      every non-hg_ symbol LIB defines is named in
#                            the linker's DYNLIST (gil/preload.dynlist)
#   update LIB LIST          rewrites LIST from LIB, keeping its comments
#
# readelf and nm come from $HG_READELF and $HG_NM (default: on PATH).
# Exit 0 on success, 1 on failure, 77 when readelf or nm is missing.
set -euo pipefail

readelf=${HG_READELF:-readelf}
nm=${HG_NM:-nm}
for t in "$readelf" "$nm"; do
	command -v "$t" >/dev/null || { echo "$t not found (binutils): skipped"; exit 77; }
done

fail=0
bad() {
	echo "FAIL: $*" >&2
	fail=1
}

# Names of the functions LIB defines and exports.
defined() {
	"$nm" -D --defined-only "$1" | awk '{ print $NF }' | sort -u
}

mode=${1:?"usage: check_link.sh bind-now|no-self-plt|no-static-tls|symbols|dynlist|update ARGS..."}
shift
case $mode in
bind-now)
	for lib in "$@"; do
		dyn=$("$readelf" -dW "$lib")
		grep -Eq '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*Flags:.* NOW' <<<"$dyn" ||
			bad "$lib is not linked with -z now (no BIND_NOW in readelf -d)"
		hdr=$("$readelf" -lW "$lib")
		grep -q 'GNU_RELRO' <<<"$hdr" || bad "$lib has no GNU_RELRO segment (-z relro)"
	done
	;;
no-self-plt)
	for lib in "$@"; do
		own=$(defined "$lib" | grep '^hg_' || true)
		relocs=$("$readelf" -rW "$lib" | awk '$3 ~ /^R_/ && $5 ~ /^hg_/ { print $3, $5 }')
		while read -r type sym; do
			[ -n "$sym" ] || continue
			grep -qx "${sym%%@*}" <<<"$own" &&
				bad "$lib: $type relocation against its own $sym (calls to it go through the PLT)"
		done <<<"$relocs"
	done
	;;
no-static-tls)
	lib=$1
	dyn=$("$readelf" -dW "$lib")
	if grep -Eq '\(FLAGS\).*STATIC_TLS' <<<"$dyn"; then
		bad "$lib needs static TLS (initial-exec thread-locals), so dlopen of it can fail"
	fi
	;;
symbols)
	lib=$1 list=$2
	got=$(defined "$lib")
	want=$(grep -v '^#' "$list" | sed '/^$/d' | sort -u)
	if [ "$got" != "$want" ]; then
		diff <(echo "$want") <(echo "$got") | sed -n 's/^</  missing: /p; s/^>/  extra:   /p' >&2
		bad "the dynamic symbols of $lib differ from $list; if the change" \
			"is meant, rewrite the list with: bash tests/link/check_link.sh update $lib $list"
	fi
	;;
dynlist)
	lib=$1 list=$2
	# Every symbol the preload defines beyond the hg_ API is one it
	# interposes, and must stay preemptible.
	for sym in $(defined "$lib" | grep -v '^hg_'); do
		grep -Eq "^[[:space:]]*$sym;" "$list" ||
			bad "$lib defines $sym, which $list does not name (it would bind inside the library)"
	done
	;;
update)
	lib=$1 list=$2
	{
		grep '^#' "$list" || true
		defined "$lib"
	} >"$list.new"
	mv "$list.new" "$list"
	echo "rewrote $list from $lib"
	;;
*)
	echo "check_link.sh: unknown mode '$mode'; accepted: bind-now, no-self-plt, no-static-tls, symbols, dynlist, update" >&2
	exit 2
	;;
esac
exit $fail
