#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/install/test_no_benchmark.sh CMAKE CTEST SRC DIR GENERATOR CC CXX
#
# Configures SRC into DIR as a machine without Google Benchmark would
# (CMAKE_DISABLE_FIND_PACKAGE_benchmark): the configure step must succeed,
# say in one line that the benchmarks are skipped and which package provides
# them, and register no test labelled "bench".  Exit 0 on success, 1 on failure.
set -euo pipefail

cmake=$1 ctest=$2 src=$3 dir=$4 gen=$5 cc=$6 cxx=$7

. "$(dirname "$0")/../scratch_build.sh"

hg_scratch_configure "without Google Benchmark" "$cmake" "$src" "$dir" "$gen" "$cc" "$cxx" \
	-DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON
n=$(grep -c 'Google Benchmark not found.*libbenchmark-dev' <<<"$log" || true)
[ "$n" = 1 ] || die "want one status line naming libbenchmark-dev, got $n"
if grep -q 'htmgil_bench.dir' "$dir/CMakeFiles/TargetDirectories.txt"; then
	die "htmgil-bench target defined without Google Benchmark"
fi
tests=$("$ctest" --test-dir "$dir" -N -L bench | sed -n 's/^Total Tests: //p')
[ "$tests" = 0 ] || die "$tests bench tests registered without htmgil-bench"
echo "configured without Google Benchmark: no bench target, no bench tests"
rm -rf "$dir"
