#!/bin/sh
# SPDX-License-Identifier: MIT
# rtm_gate.sh HTMGIL CMD [ARGS...]: runs CMD only where htmgil would really
# use RTM (`HTMGIL_HTM=rtm htmgil cpu` says "mode: rtm"); elsewhere prints
# why and exits 77, which ctest counts as skipped.
set -u
cli=$1
shift
out=$(HTMGIL_HTM=rtm "$cli" cpu 2>/dev/null)
if ! printf '%s\n' "$out" | grep -qx 'mode: rtm'; then
	verdict=$(printf '%s\n' "$out" | sed -n 's/^verdict: //p')
	echo "skipped: RTM not usable here (${verdict:-htmgil cpu failed})"
	exit 77
fi
exec "$@"
