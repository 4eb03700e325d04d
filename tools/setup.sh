# SPDX-License-Identifier: MIT
#
# tools/setup.sh - sourced by tools/main.sh and tools/test.sh: installs the
# Debian packages the project needs, but only those not installed yet, so a
# second run (and CI on a prepared machine) makes no network access.

# Needed to build, test and benchmark.  python3.11-dev: python3.11d's header
# directory (from python3.11-dbg) links into python3.11's, internal/ included,
# which libpython3.11-dev provides.  chromium: the report test renders
# `htmgil report --format html` headless (tests/report/).  libpfm4-dev: the
# TSX event encodings of pmu/ (HTMGIL_PMU, `htmgil cpu`) and their tests
# against forced models.  libck-dev: Concurrency Kit's (elided) spinlocks,
# the peers of the lock benchmarks (bench/bench_ck.h).  libmimalloc-dev: the
# per-thread object allocator of the preload (HTMGIL_PYALLOC, gil/pyalloc.c).
HG_APT_REQUIRED=(build-essential clang cmake pkg-config libbenchmark-dev valgrind spin
	python3 python3.11 python3.11-dev python3.11-dbg libpython3.11-testsuite chromium
	libpfm4-dev libck-dev libmimalloc-dev)
# Used when present: hyperfine for end-to-end timings.
HG_APT_OPTIONAL=(hyperfine)

hg_pkg_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

hg_apt_ensure() {
	local missing=() optional=() p
	for p in "${HG_APT_REQUIRED[@]}"; do
		hg_pkg_installed "$p" || missing+=("$p")
	done
	for p in "${HG_APT_OPTIONAL[@]}"; do
		hg_pkg_installed "$p" || optional+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
		return 0
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		[ ${#missing[@]} -eq 0 ] && return 0
		echo "setup: missing packages ${missing[*]} and no apt-get; install them by hand" >&2
		return 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		[ ${#missing[@]} -eq 0 ] && return 0
		echo "setup: missing packages ${missing[*]}; run as root or install them first" >&2
		return 1
	fi
	echo "setup: installing${missing[*]:+ ${missing[*]}}${optional[*]:+ ${optional[*]}}"
	export DEBIAN_FRONTEND=noninteractive
	if [ ${#missing[@]} -gt 0 ]; then
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
	elif ! apt-get update -qq; then
		# Only optional packages are missing: never fail for them.
		echo "setup: apt-get update failed; optional ${optional[*]} not installed"
		return 0
	fi
	for p in "${optional[@]+"${optional[@]}"}"; do
		apt-get install -y -qq --no-install-recommends "$p" ||
			echo "setup: optional package $p not installed; continuing"
	done
}

# hg_find_python: prints an interpreter whose GIL htmgil can elide: a
# CPython 3.12/3.13/3.11 from pyenv when there is one, else Debian's debug
# build python3.11d (package python3.11-dbg; Debian's stripped python3.11
# inlines the GIL's functions and is refused).
hg_find_python() {
	local root v p
	for p in python3.12 python3.13; do
		if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(0)' 2>/dev/null; then
			p=$(command -v "$p")
			case "$p" in /usr/bin/*) ;; *) echo "$p"; return 0 ;; esac
		fi
	done
	root=$(pyenv root 2>/dev/null || true)
	if [ -n "$root" ]; then
		for v in 3.12 3.13 3.11; do
			for p in "$root"/versions/$v.*/bin/python$v; do
				[ -x "$p" ] && { echo "$p"; return 0; }
			done
		done
	fi
	command -v python3.11d 2>/dev/null && return 0
	return 1
}

# hg_build DIR [CMAKE ARGS...]: configure (once) and build with two jobs.
hg_build() {
	local dir=$1
	shift
	mkdir -p "$dir"
	cmake -S . -B "$dir" "$@" >"$dir/configure.log" 2>&1 ||
		{ cat "$dir/configure.log"; return 1; }
	cmake --build "$dir" -j2
}
