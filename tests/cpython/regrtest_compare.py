#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs CPython's own regression tests with and without the htmgil preload
and checks that every module passes or fails the same way.

usage: regrtest_compare.py --python PY --preload LIB --modes off,auto,emu,inject[,rtm]
                           [--report-dir DIR] MODULE...

Modes: off (HTMGIL_HTM=off), auto (HTMGIL_HTM unset: the mode detection
picks, RTM where usable and the real GIL elsewhere), emu (emulated HTM),
inject (emulated HTM with injected aborts, conflict=0.3,capacity=0.05,
other=0.02) and rtm (HTMGIL_HTM=rtm; run only where RTM is usable, see
tests/rtm/).  In the emu, inject and rtm modes the exit report must show the
GIL front end active in that mode with sections entered through the engine,
so a preload that silently did nothing fails.  A module whose result
differs is run once more in both configurations (timing-sensitive tests can
flake on a loaded 2-core machine); only a difference that repeats fails.
Modules the interpreter does not ship are listed and skipped.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.stdout.reconfigure(line_buffering=True) if hasattr(sys.stdout, "reconfigure") else None

INJECT = "conflict=0.3,capacity=0.05,other=0.02,seed=%d"


def module_present(py, mod):
    code = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('test.%s') else 1)" % mod
    if py_major(py) == 2:
        code = "import imp, sys, test, os; d = os.path.dirname(test.__file__); " \
               "sys.exit(0 if os.path.exists(os.path.join(d, '%s.py')) or " \
               "os.path.isdir(os.path.join(d, '%s')) else 1)" % (mod, mod)
    return subprocess.call([py, "-c", code], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) == 0


_major = {}


def py_major(py):
    if py not in _major:
        out = subprocess.check_output([py, "-c", "import sys; print(sys.version_info[0])"])
        _major[py] = int(out.strip())
    return _major[py]


def env_for(mode, preload, report):
    env = dict(os.environ)
    # HTMGIL_PYALLOC passes through, so a run can force the allocator
    # (docs/gil.md, "The object allocator"); without the preload it does nothing.
    for k in list(env):
        if (k.startswith("HTMGIL_") and k != "HTMGIL_PYALLOC") or k == "LD_PRELOAD":
            del env[k]
    if mode == "base":
        return env
    env["LD_PRELOAD"] = preload
    if mode == "off":
        env["HTMGIL_HTM"] = "off"
    elif mode == "emu":
        env["HTMGIL_HTM"] = "emu"
    elif mode == "inject":
        env["HTMGIL_HTM"] = "emu"
        env["HTMGIL_EMU"] = INJECT % (int(time.time()) % 1000)
    elif mode == "rtm":
        env["HTMGIL_HTM"] = "rtm"
    elif mode != "auto":
        raise SystemExit("unknown mode %r (use off, auto, emu, inject, rtm)" % mode)
    if report:
        env["HTMGIL_REPORT"] = report
    return env


def run(py, mod, mode, preload, report):
    cmd = [py, "-m", "test.regrtest" if py_major(py) == 2 else "test", mod]
    if report and os.path.exists(report):
        os.unlink(report)
    t0 = time.time()
    try:
        p = subprocess.run(cmd, env=env_for(mode, preload, report), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
        rc, out = p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        rc, out = "timeout", (e.stdout or b"").decode("utf-8", "replace")
    return rc, out, time.time() - t0


def check_report(report, mode, major):
    """The emulated and rtm modes must really have gone through the GIL front end."""
    if mode not in ("emu", "inject", "rtm"):
        return None
    # 2.7 creates its GIL only when a second thread starts: a module that
    # starts none elides nothing, and a process that elided nothing writes
    # no report (docs/report.md).
    if major == 2 and not os.path.exists(report):
        return None
    try:
        with open(report) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        return "no readable report (%s)" % e
    g = r.get("gil")
    if not g or not g.get("active"):
        return "report has no active GIL front end"
    want = "rtm" if mode == "rtm" else "emu"
    if g.get("mode") != want:
        return "report's GIL mode is %r, not %s" % (g.get("mode"), want)
    # 2.7 creates its GIL only when a second thread starts: no takes, no sections.
    if g.get("takes", 0) > 0 and g.get("sections_htm", 0) + g.get("sections_emu", 0) + g.get("sections_lock", 0) == 0:
        return "no GIL section went through the engine"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--preload", required=True)
    ap.add_argument("--modes", default=None,
                    help="default off,auto,emu,inject, or HTMGIL_DEFAULT_MODES; HTMGIL_TEST_FULL=1 "
                         "forces those four when --modes is not given")
    ap.add_argument("--report-dir", default=".")
    ap.add_argument("--full-only", action="append", default=[],
                    help="a module run only when HTMGIL_TEST_FULL=1 (slow on this interpreter)")
    ap.add_argument("--inject-only", action="append", default=[],
                    help="a module run only in the inject mode unless HTMGIL_TEST_FULL=1")
    ap.add_argument("modules", nargs="+")
    a = ap.parse_args()
    if not os.path.exists(a.preload):
        print("preload library %s not found; build it first" % a.preload)
        return 1
    a.preload = os.path.abspath(a.preload)
    a.report_dir = os.path.abspath(a.report_dir)
    if a.modes is not None:
        pass
    elif os.environ.get("HTMGIL_TEST_FULL") == "1":
        a.modes = "off,auto,emu,inject"
    else:
        a.modes = os.environ.get("HTMGIL_DEFAULT_MODES") or "off,auto,emu,inject"
    modes = [m for m in a.modes.split(",") if m]
    os.makedirs(a.report_dir, exist_ok=True)
    failures = []
    t_all = time.time()
    full = os.environ.get("HTMGIL_TEST_FULL") == "1"
    for mod in a.modules:
        if mod in a.full_only and not full:
            print("%-24s slow with %s: runs with HTMGIL_TEST_FULL=1" % (mod, a.python))
            continue
        if not module_present(a.python, mod):
            print("%-24s not installed with %s; skipped" % (mod, a.python))
            continue
        base_rc, base_out, dt = run(a.python, mod, "base", a.preload, None)
        print("%-24s %-7s rc=%-4s %6.1fs" % (mod, "base", base_rc, dt))
        if base_rc == "timeout":
            # Without the preload the module did not finish: there is nothing
            # to compare the preload's runs with.
            print("%-24s the run without the preload timed out: not comparable, skipped" % mod)
            continue
        mod_modes = modes
        if mod in a.inject_only and not full:
            mod_modes = [m for m in modes if m == "inject"] or modes[-1:]
        for mode in mod_modes:
            report = os.path.join(a.report_dir, "%s-%s.json" % (mod, mode))
            rc, out, dt = run(a.python, mod, mode, a.preload, report)
            why = check_report(report, mode, py_major(a.python))
            same = (rc == 0) == (base_rc == 0) and rc != "timeout"
            note = ""
            if not same:
                # Once more, both ways, before calling it a difference.
                base_rc2, _, _ = run(a.python, mod, "base", a.preload, None)
                rc, out, dt2 = run(a.python, mod, mode, a.preload, report)
                why = check_report(report, mode, py_major(a.python))
                same = (rc == 0) == (base_rc2 == 0) and rc != "timeout"
                note = " (rerun; base rc=%s)" % base_rc2
            print("%-24s %-7s rc=%-4s %6.1fs %s%s%s" % (mod, mode, rc, dt,
                  "same" if same else "DIFFERENT", note, "; " + why if why else ""))
            if not same or why:
                failures.append((mod, mode))
                sys.stdout.write(out[-3000:])
                sys.stdout.flush()
            if "htmgil:" in out and mode != "base":
                lines = [l for l in out.splitlines() if l.startswith("htmgil:")]
                print("  htmgil said: %s" % lines[0])
                failures.append((mod, mode + " (message)"))
    print("total %.0fs; %s" % (time.time() - t_all,
          "all the same" if not failures else "differences: %s" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
