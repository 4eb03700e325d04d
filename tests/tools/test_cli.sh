#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/tools/test_cli.sh HTMGIL DUMMY_PRELOAD [REAL_PRELOAD]
#
# Checks the htmgil program: `cpu` against what /proc/cpuinfo says, the
# HTMGIL_HTM overrides, `run` carrying the environment into a real command,
# and one-line usage errors with exit status 2.  REAL_PRELOAD, when given, is
# the built libhtmgil-preload.so, which `run` must find on its own.
set -u

htmgil=$1
dummy=$2
real=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# run_cmd NAME CMD...: runs CMD, keeps stdout/stderr/status in $out/$err/$rc.
run_cmd() {
	local name=$1
	shift
	"$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	out=$(cat "$tmp/$name.out")
	err=$(cat "$tmp/$name.err")
	checks=$((checks + 1))
}

expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit status $rc, expected $1 (stderr: $err)"; }
expect_out() { grep -Eq -- "$1" "$tmp/$3.out" || fail "$2: stdout lacks /$1/"; }
expect_err() { grep -Eq -- "$1" "$tmp/$3.err" || fail "$2: stderr lacks /$1/"; }
expect_no_out() { grep -Eq -- "$1" "$tmp/$3.out" && fail "$2: stdout has /$1/"; }
expect_err_lines() {
	local n
	n=$(wc -l <"$tmp/$3.err")
	[ "$n" -eq "$1" ] || fail "$2: $n stderr lines, expected $1: $err"
}

# A usage error: status 2, exactly one line on stderr matching RE, no stdout.
expect_usage_error() {
	local name=$1 re=$2
	shift 2
	run_cmd "$name" "$@"
	expect_rc 2 "$name"
	expect_err_lines 1 "$name" "$name"
	expect_err "$re" "$name" "$name"
	[ -s "$tmp/$name.out" ] && fail "$name: unexpected stdout: $out"
}

unset HTMGIL_HTM HTMGIL_EMU HTMGIL_POLICY HTMGIL_REPORT HTMGIL_TARGET HTMGIL_PRELOAD HTMGIL_PMU \
	LD_PRELOAD LIBPFM_FORCE_PMU
# Some cases start htmgil itself with LD_PRELOAD set; an ASan build must not
# insist on its runtime coming first for that.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

# ---- cpu: what the kernel's view of this CPU predicts
if grep -qw rtm /proc/cpuinfo; then has_rtm=yes; else has_rtm=no; fi

run_cmd cpu "$htmgil" cpu
expect_rc 0 cpu
expect_err_lines 0 cpu cpu
for key in vendor family/model/stepping rtm hle rtm_always_abort tsx_force_abort erratum \
	probe verdict "kernel tsx_async_abort" "kernel tx-abort event" "cpuinfo flags" pmu \
	glibc requested mode; do
	expect_out "^$key: " "cpu shows $key" cpu
done
if [ "$has_rtm" = no ]; then
	expect_out '^rtm: no \(CPUID\.\(7,0\):EBX\[11\] clear\)$' "cpu rtm line" cpu
	expect_out '^mode: off$' "cpu mode without RTM" cpu
	expect_out '^probe: not run' "cpu probe without RTM" cpu
	expect_out '^cpuinfo flags: rtm no' "cpu cpuinfo flag" cpu
else
	expect_out '^cpuinfo flags: rtm yes' "cpu cpuinfo flag" cpu
fi
if [ -e /sys/bus/event_source/devices/cpu/events/tx-abort ]; then
	expect_out '^kernel tx-abort event: present$' "cpu tx-abort" cpu
else
	expect_out '^kernel tx-abort event: absent$' "cpu tx-abort" cpu
fi
if [ ! -e /sys/bus/event_source/devices/cpu ]; then
	# No core PMU registered with the kernel: the open must fail, with a reason.
	expect_out '^pmu: no \([A-Z]+: ' "cpu pmu without a core PMU" cpu
fi

run_cmd cpujson "$htmgil" cpu --json
expect_rc 0 "cpu --json"
if command -v python3 >/dev/null 2>&1; then
	python3 - "$tmp/cpujson.out" "$has_rtm" <<'EOF' || fail "cpu --json content"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("vendor", "family", "model", "stepping", "rtm", "hle", "rtm_always_abort",
          "tsx_force_abort", "erratum", "probe", "verdict", "kernel", "pmu", "glibc", "mode"):
    assert k in d, k
assert d["rtm"] == (sys.argv[2] == "yes"), d["rtm"]
if sys.argv[2] == "no":
    assert d["mode"] == "off", d["mode"]
    assert d["probe"]["ran"] is False
assert isinstance(d["pmu"]["available"], bool)
ev = d["pmu_events"]
assert len(ev) == 14, len(ev)
assert ev[0]["event"] == "RTM_RETIRED:START", ev[0]
for e in ev:
    if e["encoded"]:
        assert e["config"].startswith("0x") and e["reason"] is None, e
    else:
        assert e["config"] is None and e["reason"], e
EOF
else
	expect_out '"mode": "(off|rtm|emu)"' "cpu --json mode" cpujson
fi

# Each wanted TSX event, after the pmu: line: its encoding or why not.
n=$(sed -n '/^pmu: /,$p' "$tmp/cpu.out" | grep -cE '^pmu event [A-Z_]+:[A-Z_:=0-9a-z]+: (encoded as 0x[0-9a-f]+, 0x[0-9a-f]+ \(config, config1\)|not encoded \(.+\))' || true)
[ "$n" = 14 ] || fail "cpu lists 14 pmu events after the pmu: line, got $n"
if [ ! -e /sys/bus/event_source/devices/cpu/events/tx-abort ] &&
	! grep -q '^vendor: GenuineIntel' "$tmp/cpu.out"; then
	# No TSX PMU and not Intel: no libpfm4 model lists the events.  (libpfm4
	# encodes by CPU model, so an Intel part with TSX disabled still encodes.)
	expect_out '^pmu event RTM_RETIRED:ABORTED: not encoded \((no PMU model matched|the [a-z0-9_]+ PMU model has no such event|built without libpfm4)' \
		"cpu pmu event without a TSX PMU" cpu
fi
# A forced model is encoded and listed, never opened; HTMGIL_PMU does not
# make htmgil itself count.
run_cmd cpuforced env LIBPFM_FORCE_PMU=skl HTMGIL_PMU=1 "$htmgil" cpu
expect_rc 0 "cpu with LIBPFM_FORCE_PMU"
expect_err_lines 0 "cpu with HTMGIL_PMU" cpuforced
if grep -q 'built without libpfm4' "$tmp/cpu.out"; then :; else
	expect_out '^pmu event RTM_RETIRED:ABORTED: encoded as 0x4c9, 0x0 \(config, config1\)$' \
		"cpu with LIBPFM_FORCE_PMU=skl" cpuforced
fi

run_cmd cpuemu env HTMGIL_HTM=emu "$htmgil" cpu
expect_rc 0 "HTMGIL_HTM=emu cpu"
expect_out '^mode: emu$' "HTMGIL_HTM=emu mode" cpuemu
expect_out '^requested: emu$' "HTMGIL_HTM=emu requested" cpuemu

run_cmd cpuoff env HTMGIL_HTM=off "$htmgil" cpu
expect_rc 0 "HTMGIL_HTM=off cpu"
expect_out '^mode: off$' "HTMGIL_HTM=off mode" cpuoff

if [ "$has_rtm" = no ]; then
	# Asking for RTM where there is none: one clear line, elision off, no SIGILL.
	run_cmd cpurtm env HTMGIL_HTM=rtm "$htmgil" cpu
	expect_rc 0 "HTMGIL_HTM=rtm cpu"
	expect_err_lines 1 "HTMGIL_HTM=rtm one line" cpurtm
	expect_err 'rtm|RTM' "HTMGIL_HTM=rtm names RTM" cpurtm
	expect_out '^mode: off$' "HTMGIL_HTM=rtm mode" cpurtm
fi

run_cmd cpubad env HTMGIL_HTM=bogus "$htmgil" cpu
expect_rc 0 "HTMGIL_HTM=bogus cpu"
expect_err_lines 1 "HTMGIL_HTM=bogus one line" cpubad
expect_err 'HTMGIL_HTM' "HTMGIL_HTM=bogus names the variable" cpubad
expect_out '^mode: (off|rtm)$' "HTMGIL_HTM=bogus falls back" cpubad

# ---- run: the environment reaches the command
export HTMGIL_PRELOAD=$dummy
run_cmd runenv "$htmgil" run --htm emu --emu conflict=0.2,seed=3 --policy retry_conflict=3 \
	--report "$tmp/r.json" --target pthread -- env
expect_rc 0 "run env"
expect_out "^LD_PRELOAD=$dummy\$" "run LD_PRELOAD" runenv
expect_out '^HG_TEST_PRELOAD_LOADED=1$' "run preload loaded" runenv
expect_out '^HTMGIL_HTM=emu$' "run HTMGIL_HTM" runenv
expect_out '^HTMGIL_EMU=conflict=0\.2,seed=3$' "run HTMGIL_EMU" runenv
expect_out '^HTMGIL_POLICY=retry_conflict=3$' "run HTMGIL_POLICY" runenv
expect_out "^HTMGIL_REPORT=$tmp/r\\.json\$" "run HTMGIL_REPORT" runenv
expect_out '^HTMGIL_TARGET=pthread$' "run HTMGIL_TARGET" runenv
expect_no_out '^HTMGIL_PMU=' "run without --pmu" runenv
run_cmd runpmu "$htmgil" run --pmu -- env
expect_out '^HTMGIL_PMU=1$' "run --pmu" runpmu
run_cmd runpmus "$htmgil" run --pmu=sample --dry-run -- true
expect_out '^HTMGIL_PMU=sample$' "run --pmu=sample" runpmus
run_cmd runpmuinh env HTMGIL_PMU=sample "$htmgil" run -- env
expect_out '^HTMGIL_PMU=sample$' "run keeps an inherited HTMGIL_PMU" runpmuinh
expect_err_lines 0 "run with an inherited HTMGIL_PMU" runpmuinh

# --opt=value, a command without "--", inherited settings kept, LD_PRELOAD prepended once.
run_cmd runinh env HTMGIL_EMU=seed=5 LD_PRELOAD="$dummy" "$htmgil" run --htm=off env
expect_rc 0 "run inherit"
expect_out '^HTMGIL_HTM=off$' "run --htm=off" runinh
expect_out '^HTMGIL_EMU=seed=5$' "run keeps inherited HTMGIL_EMU" runinh
expect_out "^LD_PRELOAD=$dummy\$" "run does not preload twice" runinh
expect_no_out '^HTMGIL_POLICY=' "run sets nothing not asked for" runinh

ln -s "$dummy" "$tmp/other.so"
run_cmd runprep env LD_PRELOAD="$tmp/other.so" "$htmgil" run -- env
expect_rc 0 "run prepend"
expect_out "^LD_PRELOAD=$dummy:$tmp/other\\.so\$" "run prepends to LD_PRELOAD" runprep

run_cmd runrc "$htmgil" run -- sh -c 'exit 7'
expect_rc 7 "run passes the exit status"

run_cmd runmissing "$htmgil" run -- "$tmp/no-such-program"
expect_rc 127 "run missing command"
expect_err_lines 1 "run missing command one line" runmissing

run_cmd rundry "$htmgil" run --dry-run --htm emu -- echo hi
expect_rc 0 "run --dry-run"
expect_out '^HTMGIL_HTM=emu$' "run --dry-run shows settings" rundry
expect_out '^echo hi$' "run --dry-run shows the command" rundry

# htmgil itself does not act on the settings it passes on: no second
# warning for a bad inherited value, no report written by htmgil.
run_cmd runquiet env HTMGIL_EMU=conflict=2 HTMGIL_REPORT="$tmp/quiet.txt" \
	"$htmgil" run --dry-run -- true
expect_rc 0 "run with bad inherited HTMGIL_EMU"
expect_err_lines 0 "run leaves HTMGIL_EMU warnings to the command" runquiet
expect_out '^HTMGIL_EMU=conflict=2$' "run passes HTMGIL_EMU on unchanged" runquiet
expect_out "^HTMGIL_REPORT=$tmp/quiet\\.txt\$" "run passes HTMGIL_REPORT on" runquiet
run_cmd runnoreport env HTMGIL_REPORT="$tmp/quiet.txt" "$htmgil" run -- "$tmp/no-such-program"
expect_rc 127 "run missing command with HTMGIL_REPORT"
run_cmd cpunoreport env HTMGIL_REPORT="$tmp/quiet.txt" "$htmgil" cpu
expect_rc 0 "cpu with HTMGIL_REPORT"
[ -e "$tmp/quiet.txt" ] && fail "htmgil wrote the report meant for the command"

expect_usage_error preloadbad 'HTMGIL_PRELOAD' env HTMGIL_PRELOAD="$tmp/none.so" \
	"$htmgil" run -- true
unset HTMGIL_PRELOAD

# Without HTMGIL_PRELOAD the library is found next to the program.
if [ -n "$real" ]; then
	run_cmd runreal "$htmgil" run --htm emu -- env
	expect_rc 0 "run with the built preload"
	expect_out "^LD_PRELOAD=$(realpath "$real")\$" "run finds the built preload" runreal
else
	run_cmd rundefault "$htmgil" run --dry-run -- true
	if [ "$rc" -eq 0 ]; then
		expect_out '^LD_PRELOAD=/.*/libhtmgil-preload\.so$' "run default preload" rundefault
	else
		expect_rc 2 "run without a preload library"
		expect_err_lines 1 "run without a preload library" rundefault
		expect_err 'HTMGIL_PRELOAD' "run without a preload library" rundefault
	fi
fi

# ---- usage errors: one line, status 2
export HTMGIL_PRELOAD=$dummy
expect_usage_error nohtm 'auto, rtm, emu, off' "$htmgil" run --htm bogus -- true
expect_usage_error notarget 'gil, pthread' "$htmgil" run --target jvm -- true
expect_usage_error novalue 'needs a value' "$htmgil" run --htm
expect_usage_error emptyvalue 'non-empty' "$htmgil" run --report= -- true
expect_usage_error noopt 'unknown option' "$htmgil" run --frobnicate -- true
expect_usage_error pmubad "^htmgil run: --pmu 'bogus' is not a counting mode" "$htmgil" run --pmu=bogus -- true
expect_usage_error nocmd 'no command' "$htmgil" run --htm emu --
expect_usage_error emubad "^htmgil run: --emu 'conflict=2': .*conflict=P" "$htmgil" run \
	--emu conflict=2 -- true
expect_usage_error policybad "^htmgil run: --policy 'no_such_knob=1': .*retry_conflict" \
	"$htmgil" run --policy no_such_knob=1 -- true
expect_usage_error noverb 'unknown command' "$htmgil" frob
expect_usage_error none 'no command' "$htmgil"
expect_usage_error cpubadarg 'unknown argument' "$htmgil" cpu --xml

# --emu configures emulated HTM only: without emu mode it is a usage error.
expect_usage_error emunoemu 'add --htm emu' "$htmgil" run --emu conflict=0.1 -- true
expect_usage_error emuoff 'add --htm emu' "$htmgil" run --htm off --emu conflict=0.1 -- true
run_cmd emuinh env HTMGIL_HTM=emu "$htmgil" run --dry-run --emu conflict=0.1 -- true
expect_rc 0 "run --emu with an inherited HTMGIL_HTM=emu"
expect_out '^HTMGIL_EMU=conflict=0\.1$' "run --emu with an inherited HTMGIL_HTM=emu" emuinh

# A missing option argument: "--" (or another option) is not a value.
expect_usage_error reportdash '--report needs a value' "$htmgil" run --report -- true
expect_usage_error htmopt '--htm needs a value' "$htmgil" run --htm --dry-run -- true

# --dry-run prints a command line a shell reads back as the same words.
run_cmd dryquote "$htmgil" run --dry-run -- printf '[%s]\n' "a b" "it's" '$HOME' ""
expect_rc 0 "run --dry-run with words to quote"
expect_out "^printf '\[%s\]\\\\n' 'a b' 'it'\\\\''s' '\\\$HOME' ''\$" "run --dry-run quotes" dryquote
pasted=$(sh -c "$(tail -n 1 "$tmp/dryquote.out")")
direct=$(printf '[%s]\n' "a b" "it's" '$HOME' "")
[ "$pasted" = "$direct" ] || fail "run --dry-run: pasted back gives '$pasted', expected '$direct'"
checks=$((checks + 1))

# A relative report name is made absolute against the starting directory.
run_cmd dryrel sh -c "cd '$tmp' && '$htmgil' run --dry-run --report rel.json -- true"
expect_rc 0 "run --dry-run --report rel.json"
expect_out "^HTMGIL_REPORT=$tmp/rel\\.json\$" "run makes the report name absolute" dryrel

# Only processes that elided something write a report: not ls.
if [ -n "$real" ]; then
	run_cmd lsreport env -u HTMGIL_PRELOAD "$htmgil" run --htm emu --report "$tmp/ls.json" -- ls "$tmp"
	expect_rc 0 "run -- ls with a report"
	[ -e "$tmp/ls.json" ] && fail "run -- ls wrote a report: $(cat "$tmp/ls.json")"
fi

# bench/ratios.py says which mode it measured and which targets apply: those
# of every mode, and in mode rtm also those of RTM.
ratios=$(dirname "$0")/../../bench/ratios.py
if command -v python3 >/dev/null 2>&1 && [ -f "$ratios" ]; then
	for m in emu off rtm; do
		printf '#!/bin/sh\necho %s\n' \
			"'{\"context\": {\"htmgil_htm_mode\": \"$m\", \"num_cpus\": 2}, \"benchmarks\": []}'" \
			>"$tmp/fakebench-$m"
		chmod +x "$tmp/fakebench-$m"
		run_cmd "ratios$m" python3 "$ratios" --bench "$tmp/fakebench-$m" --repetitions 1
		expect_out "htm mode $m " "ratios.py prints the mode ($m)" "ratios$m"
	done
	expect_out '^targets: those of every mode$' "ratios.py under emu" ratiosemu
	expect_out '^targets: those of every mode$' "ratios.py under off" ratiosoff
	expect_out '^targets: those of every mode, and those of mode rtm$' "ratios.py under rtm" ratiosrtm
fi

# ---- sim: usage errors name the problem and the way out
expect_usage_error sim_nocmd 'htmgil sim: no command given; usage: htmgil sim' "$htmgil" sim
expect_usage_error sim_cpus "htmgil sim: --cpus '0' is not a number of cores in 1\.\.256" \
	"$htmgil" sim --cpus 0 -- true
expect_usage_error sim_cpus_word "htmgil sim: --cpus 'two' is not a number" \
	"$htmgil" sim --cpus two -- true
expect_usage_error sim_target "htmgil sim: --target 'java' is not a target; accepted: gil, pthread" \
	"$htmgil" sim --target java -- true
expect_usage_error sim_fallback "htmgil sim: --fallback 'never' is not a fallback; accepted: bounded, hold" \
	"$htmgil" sim --fallback never -- true
expect_usage_error sim_opt "htmgil sim: unknown option '--bogus'; accepted: --cpus" \
	"$htmgil" sim --bogus -- true
expect_usage_error sim_val "htmgil sim: --model needs a value; see htmgil sim --help" \
	"$htmgil" sim --model -- true
expect_usage_error sim_replay_cmd "htmgil sim: --replay replays a kept trace and runs no command" \
	"$htmgil" sim --replay "$tmp/none" true
# Where the simulator's parts are missing (a copy of htmgil with nothing beside it).
mkdir -p "$tmp/lonely/bin"
cp "$htmgil" "$tmp/lonely/bin/htmgil"
expect_usage_error sim_noreplay 'htmgil sim: htmgil-sim-replay not found in .*; build or install' \
	"$tmp/lonely/bin/htmgil" sim -- true
mkdir -p "$tmp/lonely/libexec/htmgil"
printf '#!/bin/sh\nexit 0\n' >"$tmp/lonely/libexec/htmgil/htmgil-sim-replay"
chmod +x "$tmp/lonely/libexec/htmgil/htmgil-sim-replay"
expect_usage_error sim_novalgrind 'htmgil sim: valgrind not found on PATH; install it' \
	env PATH="$tmp/lonely/bin" "$tmp/lonely/bin/htmgil" sim -- true
expect_usage_error sim_badvalgrind "htmgil sim: --valgrind '$tmp/none' is not an executable" \
	"$tmp/lonely/bin/htmgil" sim --valgrind "$tmp/none" -- true
printf '#!/bin/sh\nexit 0\n' >"$tmp/lonely/bin/valgrind"
chmod +x "$tmp/lonely/bin/valgrind"
expect_usage_error sim_notool 'htmgil sim: the recording tool htmgilsim-amd64-linux is not in .*valgrind package' \
	"$tmp/lonely/bin/htmgil" sim --valgrind "$tmp/lonely/bin/valgrind" -- true
expect_usage_error sim_replay_missing "htmgil sim: --replay '$tmp/none': No such file" \
	"$tmp/lonely/bin/htmgil" sim --replay "$tmp/none"

# ---- help and version
for args in "--help" "cpu --help" "run --help" "sim --help"; do
	# shellcheck disable=SC2086
	run_cmd help "$htmgil" $args
	expect_rc 0 "htmgil $args"
	expect_out '^usage: htmgil' "htmgil $args" help
done
run_cmd version "$htmgil" --version
expect_rc 0 "htmgil --version"
expect_out '^htmgil [0-9]+\.[0-9]+\.[0-9]+$' "htmgil --version" version

echo "$checks commands checked, $fails failures"
[ "$fails" -eq 0 ]
