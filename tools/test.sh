#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tools/test.sh - set up, build and run the whole test suite:
#
#   build/       normal build: ctest -L unit, stress, model, cpython, bench, rtm, report, sim
#   build-tsan/  ThreadSanitizer build (HTMGIL_SANITIZE=thread): unit, stress
#   build-asan/  AddressSanitizer + UBSan build (HTMGIL_SANITIZE=address): unit, stress
#   build-clang/ the same tree built with clang/clang++ (warning-free) and
#                without libpfm4 (HTMGIL_WITH_LIBPFM=OFF): unit
#
# The sanitizer phases run with HTMGIL_HTM=off (tests that need the emulated
# HTM set it themselves); label rtm skips (exit 77) where RTM is not usable.
# Every phase runs even when an earlier one failed; the last line is
# "N passed, N failed, N skipped" over all ctest runs (ctest counts a skipped
# test as passed; here it is counted only as skipped), and the exit status is
# non-zero when any test failed or any build did not complete.  Each label's
# output stays in DIR/ctest-LABEL.log.  Safe to run again:
# builds are incremental and apt runs only when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/setup.sh

hg_apt_ensure

total_passed=0
total_failed=0
total_skipped=0
broken=()
start=$SECONDS

# hg_ctest DIR LABEL: runs the tests with exactly that label, adds up results.
hg_ctest() {
	local dir=$1 label=$2 log rc=0 t0=$SECONDS
	log=$dir/ctest-$label.log
	echo "== $dir: ctest -L $label"
	ctest --test-dir "$dir" -L "^$label\$" -j2 --output-on-failure --no-tests=ignore \
		2>&1 | tee "$log" || rc=$?
	local line n_failed n_total n_skipped
	line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
	if [ -n "$line" ]; then
		n_failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
		n_total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
		# Skipped tests are listed under "The following tests did not run:"
		# as "NN - name (Skipped)"; ctest's percentage counts them as passed.
		n_skipped=$(sed -n '/^The following tests did not run:/,/^$/p' "$log" |
			grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)$' || true)
		total_passed=$((total_passed + n_total - n_failed - n_skipped))
		total_failed=$((total_failed + n_failed))
		total_skipped=$((total_skipped + n_skipped))
	elif [ "$rc" -ne 0 ]; then
		broken+=("$dir ctest -L $label (exit $rc)")
	fi
	echo "== $dir: ctest -L $label took $((SECONDS - t0)) s"
}

# hg_config DIR LABELS CMAKE ARGS...: builds DIR, then runs each label.
hg_config() {
	local dir=$1 labels=$2 t0=$SECONDS
	shift 2
	echo "== building $dir"
	if ! hg_build "$dir" "$@"; then
		broken+=("build of $dir")
		return 0
	fi
	echo "== $dir: built in $((SECONDS - t0)) s"
	local label
	for label in $labels; do
		hg_ctest "$dir" "$label"
	done
}

hg_config build "unit stress model cpython bench rtm report sim" -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Sanitizers cannot see hardware transactions: the mode is fixed, not detected.
echo "== sanitizer builds run with HTM off (HTMGIL_HTM=off; tests that need emulated HTM set it)"
HTMGIL_HTM=off hg_config build-tsan "unit stress" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DHTMGIL_SANITIZE=thread -DHTMGIL_BUILD_BENCH=OFF
HTMGIL_HTM=off hg_config build-asan "unit stress" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DHTMGIL_SANITIZE=address -DHTMGIL_BUILD_BENCH=OFF
hg_config build-clang "unit" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DHTMGIL_BUILD_BENCH=OFF \
	-DHTMGIL_WITH_LIBPFM=OFF

echo
echo "test suite took $((SECONDS - start)) s"
for b in "${broken[@]+"${broken[@]}"}"; do
	echo "did not complete: $b"
done
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
[ "$total_failed" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
