# SPDX-License-Identifier: MIT
#
# tests/scratch_build.sh - sourced by the tests that configure the tree a
# second time into a scratch directory (tests/install/test_no_benchmark.sh,
# tests/pmu/test_no_libpfm.sh).  Defines:
#
#   die MESSAGE...    prints "FAIL: MESSAGE" on stderr and exits 1
#   hg_scratch_configure WHAT CMAKE SRC DIR GENERATOR CC CXX [CMAKE ARGS...]
#                     empties DIR and configures SRC into it with those
#                     compilers and arguments; the output is left in $log,
#                     and a failure dies naming WHAT and CMake's first error

die() {
	echo "FAIL: $*" >&2
	exit 1
}

hg_scratch_configure() {
	local what=$1 cmake=$2 src=$3 dir=$4 gen=$5 cc=$6 cxx=$7
	shift 7
	rm -rf "$dir"
	log=$("$cmake" -S "$src" -B "$dir" -G "$gen" -DCMAKE_C_COMPILER="$cc" \
		-DCMAKE_CXX_COMPILER="$cxx" "$@" 2>&1) ||
		die "configure $what failed: $(grep -m1 -A3 "CMake Error" <<<"$log" || tail -3 <<<"$log")"
}
