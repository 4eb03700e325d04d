#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tools/main.sh - set up, build, and show what htmgil does on this machine:
# `htmgil cpu`, then the elided-lock demo under emulated HTM with injected
# aborts, and its report.  Safe to run again; apt runs only when a package
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/setup.sh

hg_apt_ensure
hg_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo

echo
echo "== htmgil cpu"
build/bin/htmgil cpu

echo
echo "== the elided lock under emulated HTM (HTMGIL_HTM=emu, 10% conflict, 1% capacity aborts)"
HTMGIL_HTM=emu HTMGIL_EMU=conflict=0.1,capacity=0.01,retry=0.02,seed=1 \
	build/bin/htmgil-demo 4 100000

echo
if py=$(hg_find_python); then
	echo "== a threaded Python program under the GIL front end ($py, HTMGIL_HTM=emu with injected aborts)"
	build/bin/htmgil run --htm emu --emu conflict=0.2,capacity=0.02,other=0.01,seed=1 \
		--report - -- "$py" tests/cpython/prog.py 2 100000
else
	echo "== no interpreter whose GIL htmgil can elide was found (install python3.11-dbg)"
fi
