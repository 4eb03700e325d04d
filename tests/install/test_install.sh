#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/install/test_install.sh MODE CMAKE BUILD PREFIX CONSUMER_SRC CC SANFLAGS
#
#   tree       cmake --install BUILD --prefix PREFIX, then check the layout
#              and run the installed program
#   pkgconfig  build and run the consumers (consumer.c, the elided lock;
#              consumer_stm.c, hg_run with the barriers) with
#              `pkg-config --cflags --libs htmgil`, against the shared library
#   cmake      build and run them with find_package(htmgil), against
#              htmgil::htmgil (shared) and htmgil::htmgil_static
#
# Exit 0 on success, 1 on failure, 77 when a tool the mode needs is missing.
set -euo pipefail

mode=$1 cmake=$2 build=$3 prefix=$4 src=$5 cc=$6 sanflags=${7:-}
work=$prefix.$mode

die() {
	echo "FAIL: $*" >&2
	exit 1
}

need() {
	[ -e "$prefix/$1" ] || die "missing after install: $1"
}

# Libraries live where the build put them relative to the prefix.
libdir=lib
if [ -f "$build/CMakeCache.txt" ]; then
	d=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
	[ -n "$d" ] && libdir=$d
fi

case $mode in
tree)
	rm -rf "$prefix"
	log=$("$cmake" --install "$build" --prefix "$prefix")
	# Each file is installed by one rule only.
	twice=$(sed -n 's/^-- \(Installing\|Up-to-date\): //p' <<<"$log" | sort | uniq -d)
	[ -z "$twice" ] || die "installed more than once: $twice"
	need bin/htmgil
	need "$libdir/libhtmgil.so"
	need "$libdir/libhtmgil.a"
	need include/htmgil/htmgil.h
	need include/htmgil/config.h
	for h in "$(dirname "$src")"/../../include/htmgil/*.h; do
		need "include/htmgil/$(basename "$h")"
	done
	need "$libdir/pkgconfig/htmgil.pc"
	need "$libdir/cmake/htmgil/htmgilConfig.cmake"
	need "$libdir/cmake/htmgil/htmgilConfigVersion.cmake"
	need "$libdir/cmake/htmgil/htmgilTargets.cmake"
	[ -x "$build/bin/htmgil-bench" ] && need bin/htmgil-bench
	if [ -e "$build/lib/libhtmgil-preload.so" ]; then
		need "$libdir/libhtmgil-preload.so"
		# The installed program finds the installed preload library.
		out=$(env -u HTMGIL_PRELOAD "$prefix/bin/htmgil" run --dry-run -- true)
		want="LD_PRELOAD=$(realpath "$prefix/$libdir/libhtmgil-preload.so")"
		grep -qx "$want" <<<"$out" || die "installed htmgil run: got '$out', want '$want'"
	fi
	need share/htmgil/htmgil_report.py
	if command -v python3 >/dev/null; then
		# The installed program finds the installed report reader.
		out=$(env -u HTMGIL_REPORT_SCRIPT "$prefix/bin/htmgil" report --help) ||
			die "installed htmgil report --help failed: $out"
		grep -q '^usage: htmgil report' <<<"$out" || die "installed htmgil report --help: $out"
	fi
	libexecdir=libexec
	d=$(sed -n 's/^CMAKE_INSTALL_LIBEXECDIR:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)
	[ -n "$d" ] && libexecdir=$d
	if [ -x "$build/libexec/htmgil/htmgil-sim-replay" ]; then
		need "$libexecdir/htmgil/htmgil-sim-replay"
	fi
	sanitize=$(sed -n 's/^HTMGIL_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)
	if [ -x "$build/libexec/htmgil/valgrind/htmgilsim-amd64-linux" ] && [ -z "$sanitize" ] &&
		command -v valgrind >/dev/null; then
		need "$libexecdir/htmgil/valgrind/htmgilsim-amd64-linux"
		need "$libexecdir/htmgil/valgrind/vgpreload_htmgilsim-amd64-linux.so"
		# The installed program runs the whole simulator: tool, preload, replay.
		out=$(env -u HTMGIL_PRELOAD "$prefix/bin/htmgil" sim -- true 2>&1) ||
			die "installed htmgil sim -- true failed: $out"
		grep -q '^htmgil sim: predicted: ' <<<"$out" || die "installed htmgil sim: $out"
	fi
	ver=$("$prefix/bin/htmgil" --version)
	grep -Eqx 'htmgil [0-9]+\.[0-9]+\.[0-9]+' <<<"$ver" || die "installed htmgil --version: $ver"
	# The package files must not point back into the build tree.
	if grep -rqF "$build" "$prefix/$libdir/pkgconfig" "$prefix/$libdir/cmake"; then
		die "installed package files mention the build directory $build"
	fi
	echo "installed into $prefix"
	;;
pkgconfig)
	command -v pkg-config >/dev/null || { echo "pkg-config not installed: skipped"; exit 77; }
	rm -rf "$work" && mkdir -p "$work"
	export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
	pkg-config --exists htmgil || die "pkg-config does not find htmgil in $PKG_CONFIG_PATH"
	cflags=$(pkg-config --cflags htmgil)
	libs=$(pkg-config --libs htmgil)
	for prog in consumer consumer_stm; do
		# shellcheck disable=SC2086
		"$cc" $sanflags $cflags -o "$work/$prog" "$src/$prog.c" $libs ||
			die "building $prog with pkg-config --libs htmgil"
		LD_LIBRARY_PATH=$prefix/$libdir "$work/$prog" || die "$prog failed"
		# The program really used the installed shared library.
		# (ldd's output is kept whole: grep -q in a pipe could end it with SIGPIPE.)
		deps=$(LD_LIBRARY_PATH=$prefix/$libdir ldd "$work/$prog")
		grep -qF "=> $(realpath "$prefix/$libdir")/libhtmgil.so" <<<"$deps" ||
			die "$prog is not linked against $prefix/$libdir/libhtmgil.so: $deps"
	done
	;;
cmake)
	rm -rf "$work"
	"$cmake" -S "$src" -B "$work" -DCMAKE_PREFIX_PATH="$prefix" \
		-DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$sanflags" \
		-DCMAKE_EXE_LINKER_FLAGS="$sanflags" >"$work.log" 2>&1 ||
		{ cat "$work.log"; die "configuring the find_package consumer"; }
	"$cmake" --build "$work" >>"$work.log" 2>&1 ||
		{ cat "$work.log"; die "building the find_package consumer"; }
	for prog in consumer_shared consumer_static consumer_stm_shared consumer_stm_static; do
		LD_LIBRARY_PATH=$prefix/$libdir "$work/$prog" || die "$prog failed"
	done
	# The _shared programs really use the installed shared library.
	for prog in consumer_shared consumer_stm_shared; do
		deps=$(LD_LIBRARY_PATH=$prefix/$libdir ldd "$work/$prog")
		grep -qF "=> $(realpath "$prefix/$libdir")/libhtmgil.so" <<<"$deps" ||
			die "$prog is not linked against $prefix/$libdir/libhtmgil.so: $deps"
	done
	;;
*)
	die "unknown mode '$mode'; accepted: tree, pkgconfig, cmake"
	;;
esac
