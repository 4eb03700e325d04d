#!/bin/sh
# SPDX-License-Identifier: MIT
# layout_check.sh CC PYTHON SRCDIR OUTDIR: compiles tests/cpython/layout_probe.c
# against PYTHON's own headers (internal ones included) and runs it; fails
# when gil/pylayout.c disagrees with them.
set -u
cc=$1 py=$2 src=$3 out=$4
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])') || exit 1
if [ ! -f "$inc/internal/pycore_gil.h" ]; then
	echo "$py: no internal headers under $inc (install the -dev package or use a pyenv build)"
	exit 1
fi
mkdir -p "$out"
exe="$out/layout_probe_$(basename "$py")"
"$cc" -I"$src" -I"$inc" -o "$exe" "$src/tests/cpython/layout_probe.c" "$src/gil/pylayout.c" || exit 1
"$exe"
