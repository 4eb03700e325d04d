#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks a model in tests/model/ (coexist.pml, mutex.pml) exhaustively with spin.
#   run_model.sh MODEL MUTANT EXPECT CC
#     MUTANT  0 for the protocol as implemented, n for mutant n (see the model)
#     EXPECT  "pass" (no error, search complete) or "reject" (spin finds a
#             violation)
# Exits 77 (skipped) when spin is not installed.
set -u
model=$1 mutant=$2 expect=$3 cc=${4:-cc}
if ! command -v spin >/dev/null 2>&1; then
	echo "spin not found: install it (Debian package 'spin') to run the model check" >&2
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/hg-model.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
cp "$model" "$dir/model.pml" || exit 1
cd "$dir" || exit 1
spin -DMUTANT="$mutant" -a model.pml > spin.log 2>&1 || { cat spin.log >&2; exit 1; }
"$cc" -O2 -DSAFETY -o pan pan.c > cc.log 2>&1 || { cat cc.log >&2; exit 1; }
./pan -m100000 > pan.log 2>&1
cat pan.log
errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.log | head -n 1)
if [ -z "$errors" ]; then
	echo "could not read the error count from pan's output" >&2
	exit 1
fi
case $expect in
pass)
	if [ "$errors" -ne 0 ]; then
		echo "FAIL: the protocol (mutant $mutant) has $errors error(s)" >&2
		exit 1
	fi
	if grep -q "max search depth too small" pan.log; then
		echo "FAIL: the search was cut off by the depth limit" >&2
		exit 1
	fi
	echo "ok: mutant $mutant verified, no assertion violation or invalid end state"
	;;
reject)
	if [ "$errors" -eq 0 ]; then
		echo "FAIL: mutant $mutant was not rejected" >&2
		exit 1
	fi
	echo "ok: mutant $mutant rejected"
	;;
*)
	echo "EXPECT must be pass or reject, not '$expect'" >&2
	exit 2
	;;
esac
