#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The report's parallelism against the CPU time of the same process
(docs/report.md, "Time"): tests/cpython/prog.py runs two CPU-bound threads
under the preload with HTMGIL_HTM=emu and with HTMGIL_HTM=off; for each,
the JSON report's time.parallelism (busy thread-time / wall time) must
agree within 10 % with (user + sys) / wall of the process, as os.wait4
gives it and the driver's clock measures it.  Holding the GIL, a thread
computes; waiting for it, a thread sleeps in take_gil: so the two agree
when the report counts every GIL hold and no wait.  Under emu the GIL's
share of bytecode time run speculatively must be most of it; under off
nothing runs speculatively.  The text report's header says the threads
did not run at once.  A thread descheduled while it holds the GIL adds wall
time but no CPU time, so a report above the CPU time is allowed by the time
the hypervisor stole from the machine's CPUs during the run (/proc/stat's
steal), and the test exits 77 when the report's parallelism is above that
while other processes kept more than all CPUs but 1.5 busy.

usage: check_report_time.py PYTHON PRELOAD PROG WORKDIR
"""
import json
import os
import subprocess
import sys
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def cpu_times():
    """(seconds of CPU time every process of the machine has used, seconds the
    hypervisor stole from the machine's CPUs), from /proc/stat, or None."""
    try:
        f = open("/proc/stat").readline().split()
    except OSError:
        return None
    v = [int(x) for x in f[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v) - v[3] - v[4] - v[7]) / hz, v[7] / hz


def main():
    py, preload, prog, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    preload, prog = os.path.abspath(preload), os.path.abspath(prog)
    for mode in ("emu", "off"):
        rpath = os.path.join(work, "time_%s.json" % mode)
        env = dict(os.environ, LD_PRELOAD=preload, HTMGIL_HTM=mode, HTMGIL_REPORT=rpath)
        env.pop("HTMGIL_EMU", None)
        if os.path.exists(rpath):
            os.unlink(rpath)
        b0 = cpu_times()
        t0 = time.monotonic()
        p = subprocess.Popen([py, prog, "2", "1500000"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out = p.stdout.read()
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        b1 = cpu_times()
        # CPUs the rest of the machine kept busy meanwhile.
        others, stolen = 0.0, 0.0
        if b0 is not None and b1 is not None:
            others = (b1[0] - b0[0] - ru.ru_utime - ru.ru_stime) / wall
            stolen = (b1[1] - b0[1]) / wall
        if status != 0 or b"checksum=" not in out or err.strip():
            fail("prog.py under HTMGIL_HTM=%s: status %d %s %s" % (mode, status, out, err))
        cpu_par = (ru.ru_utime + ru.ru_stime) / wall
        r = json.load(open(rpath, encoding="utf-8"))
        t = r.get("time")
        if r.get("version") != 4 or not isinstance(t, dict):
            fail("%s: no version-4 \"time\" member: %r" % (mode, {k: r.get(k) for k in ("version", "time")}))
        par = t["parallelism"]
        g = t.get("gil") or {}
        print("%s: parallelism %.3f (busy %.1f ms / wall %.1f ms); os.wait4: (user %.3f + sys %.3f) "
              "/ wall %.3f s = %.3f; the preload's getrusage: %.3f; stolen %.3f CPUs; "
              "GIL speculative share %.3f" % (
                  mode, par, t["busy_ms"], t["wall_ms"], ru.ru_utime, ru.ru_stime, wall, cpu_par,
                  t["cpu"]["parallelism"], stolen, g.get("spec_share", -1)))
        if not 0.9 * cpu_par <= par <= 1.1 * (cpu_par + stolen):
            # A thread descheduled while it holds the GIL adds wall time, not CPU
            # time: a busy machine explains a report above the CPU time, never below.
            if par > cpu_par and others > (os.cpu_count() or 1) - 1.5:
                print("skipped: the machine was busy elsewhere (%.2f CPUs used by other "
                      "processes), so CPU time is no reference for GIL time" % others)
                sys.exit(77)
            fail("%s: the report's parallelism %.3f is not within 10%% of (user+sys)/wall %.3f "
                 "(up to %.3f with the stolen time)" % (mode, par, cpu_par, cpu_par + stolen))
        if not g.get("held_ms"):
            fail("%s: no GIL hold time in the report: %r" % (mode, g))
        share = g.get("spec_share", 0.0)
        if (mode == "emu" and share < 0.5) or (mode == "off" and share != 0.0):
            fail("%s: GIL share of bytecode time run speculatively %.3f" % (mode, share))
        text = os.path.join(work, "time_%s.txt" % mode)
        env["HTMGIL_REPORT"] = text
        subprocess.run([py, prog, "2", "600000"], env=env, stdout=subprocess.DEVNULL, timeout=300,
                       check=True)
        lines = open(text, encoding="utf-8").read().splitlines()
        tl = [l for l in lines if l.startswith("time: ")]
        if len(tl) != 1 or not tl[0].startswith("time: the threads did not run at once: "
                                                "parallelism achieved "):
            fail("%s: the text header does not say the threads did not run at once:\n%s"
                 % (mode, "\n".join(lines[:8])))
        print("ok %s: %s" % (mode, tl[0]))


if __name__ == "__main__":
    main()
