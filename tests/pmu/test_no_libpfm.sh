#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/pmu/test_no_libpfm.sh CMAKE CTEST SRC DIR GENERATOR CC CXX
#
# Configures SRC into DIR with -DHTMGIL_WITH_LIBPFM=OFF, as a machine
# without libpfm4 would, builds the library, the htmgil program and the
# tests of tests/pmu, and runs those tests there: the configuration must
# say HG_HAVE_LIBPFM 0, the pmu tests pass (the encodings skip), and
# `htmgil cpu` says for each event that the build has no libpfm4.
# Exit 0 on success, 1 on failure.
set -euo pipefail

cmake=$1 ctest=$2 src=$3 dir=$4 gen=$5 cc=$6 cxx=$7

. "$(dirname "$0")/../scratch_build.sh"

hg_scratch_configure "without libpfm4" "$cmake" "$src" "$dir" "$gen" "$cc" "$cxx" \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHTMGIL_WITH_LIBPFM=OFF -DHTMGIL_BUILD_BENCH=OFF
grep -q '^#define HG_HAVE_LIBPFM 0' "$dir/include/htmgil/config.h" ||
	die "HTMGIL_WITH_LIBPFM=OFF still configured HG_HAVE_LIBPFM"
log=$("$cmake" --build "$dir" -j2 --target test_pmu pmu_print htmgil_cli 2>&1) ||
	die "build without libpfm4 failed: $(grep -m3 -i 'error' <<<"$log" || tail -5 <<<"$log")"
if find "$dir" -name link.txt -exec grep -l -e '-lpfm' -e 'libpfm' {} + | grep -q .; then
	die "a target links libpfm4 in a build without it"
fi
out=$("$ctest" --test-dir "$dir" -R '^(test_pmu|pmu_encode_|pmu_env_)' --output-on-failure 2>&1) ||
	die "pmu tests without libpfm4: $(tail -20 <<<"$out")"
grep -q '100% tests passed' <<<"$out" || die "pmu tests without libpfm4: $(tail -5 <<<"$out")"
n=$("$dir/bin/htmgil" cpu | grep -c '^pmu event .*: not encoded (built without libpfm4' || true)
[ "$n" = 14 ] || die "htmgil cpu without libpfm4: want 14 events not encoded, got $n"
echo "built without libpfm4: pmu tests pass, htmgil cpu names the missing library"
rm -rf "$dir"
