#!/bin/sh
# SPDX-License-Identifier: MIT
# layout_check.sh CC PYTHON SRCDIR OUTDIR: compiles tests/cpython/layout_probe.c
# against PYTHON's own headers (internal ones included) and runs it; fails
# when gil/pylayout.c disagrees with them.
#
# Python.h and pyconfig.h come from PYTHON's sysconfig include directory, so
# a debug build (python3.11d) is probed with its own pyconfig.h (Py_DEBUG),
# and the script checks that Py_DEBUG is defined exactly when PYTHON is a
# debug build.  Debian ships a debug build's internal/ as a link into the
# non-debug directory (/usr/include/python3.11d/internal ->
# ../python3.11/internal, from libpython3.11-dev): when it does not resolve
# there, the internal headers are taken from the directory without the "d".
set -u
cc=$1 py=$2 src=$3 out=$4
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])') || exit 1
debug=$("$py" -c 'import sys; print(1 if hasattr(sys, "gettotalrefcount") else 0)') || exit 1
extra=""
if [ ! -f "$inc/internal/pycore_gil.h" ]; then
	case $inc in
	*d) base=${inc%d} ;;
	*) base="" ;;
	esac
	if [ -n "$base" ] && [ -f "$base/internal/pycore_gil.h" ]; then
		extra=$base
	else
		echo "$py: no internal headers under $inc${base:+ or $base} (install the -dev package, python3.11-dev on Debian, or use a pyenv build)"
		exit 1
	fi
fi
mkdir -p "$out"
name=$(basename "$py")
# -I$inc before $extra: Python.h and pyconfig.h are PYTHON's own.
flags="-I$src -I$inc${extra:+ -I$extra}"
printf '%s\n' '#include "Python.h"' \
	'#ifdef Py_DEBUG' '#define HG_HAS_PY_DEBUG 1' '#else' '#define HG_HAS_PY_DEBUG 0' '#endif' \
	'#if HG_HAS_PY_DEBUG != HG_WANT_PY_DEBUG' '#error "Py_DEBUG does not match the interpreter"' '#endif' \
	>"$out/debug_check_$name.c"
# shellcheck disable=SC2086 # flags is a list of -I options
if ! "$cc" $flags -DHG_WANT_PY_DEBUG="$debug" -fsyntax-only "$out/debug_check_$name.c"; then
	echo "$py: the headers in $inc do not match the interpreter (Py_DEBUG should be $debug)"
	exit 1
fi
echo "$py: headers $inc${extra:+ (internal/ from $extra)}, Py_DEBUG $debug"
exe="$out/layout_probe_$name"
# shellcheck disable=SC2086
"$cc" $flags -o "$exe" "$src/tests/cpython/layout_probe.c" "$src/gil/pylayout.c" || exit 1
"$exe"
