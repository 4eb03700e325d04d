#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Replays synthetic traces (mktrace.py) with htmgil-sim-replay and checks
its JSON prediction.  Usage: check_replay.py REPLAY WORKDIR CASE; each case
is one ctest test (label sim)."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mktrace as m  # noqa: E402

# The measured two-thread table (abort rate in %) and the tolerance of the
# calibration, in percentage points (sim/model.h, HG_SIM_CAL_TOL_PCT).
MEASURED = {"same word": 10.8, "two words of one line": 11.4, "adjacent lines": 0.001}
TOL = 2.5

REPLAY, WORK = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def replay(name, trace, *args, expect_rc=0):
    os.makedirs(WORK, exist_ok=True)
    tp = os.path.join(WORK, name + ".trace")
    jp = os.path.join(WORK, name + ".json")
    if isinstance(trace, bytes):
        with open(tp, "wb") as f:
            f.write(trace)
    else:
        trace.write(tp)
    if os.path.exists(jp):
        os.unlink(jp)
    t0 = time.monotonic()
    p = subprocess.run([REPLAY, tp, "--report", jp] + list(args), capture_output=True, text=True)
    dt = time.monotonic() - t0
    if p.returncode != expect_rc:
        print(p.stderr)
        raise SystemExit("%s: exit %d, expected %d" % (name, p.returncode, expect_rc))
    if expect_rc != 0:
        return p, None
    with open(jp) as f:
        d = json.load(f)
    assert d["schema"] == "htmgil-sim" and d["version"] == 1
    print("%s: %.2f s, parallelism %.2f, speedup %.2f" % (
        name, dt, d["process"]["parallelism"], d["process"]["speedup"]))
    return p, d


def totals(d):
    att = sum(s["attempts"] for s in d["sites"])
    ab = {}
    for s in d["sites"]:
        for k, v in s["aborts"].items():
            ab[k] = ab.get(k, 0) + v
    return att, ab


def rate(d):
    att, ab = totals(d)
    return 100.0 * sum(ab.values()) / att if att else 0.0


def case_disjoint():
    _, d = replay("disjoint", m.increments([0x601000, 0x601080], n=500))  # two lines apart
    att, ab = totals(d)
    check(ab["conflict"] == 0, "disjoint lines: no conflict (got %d)" % ab["conflict"])
    check(d["process"]["parallelism"] > 1.8, "disjoint lines run in parallel")
    check(d["process"]["speedup"] > 1.5, "disjoint lines: elision beats the lock")


def case_counter():
    _, d = replay("counter", m.increments([0x601000, 0x601000], n=500, text=("hits", "hits")))
    _, ab = totals(d)
    check(ab["conflict"] > 0, "one shared counter conflicts")
    check(len(d["conflicts"]) > 0, "conflicts are listed")
    c = d["conflicts"][0]
    check(c["line"] == "0x601000", "the conflict names line 0x601000 (got %s)" % c["line"])
    check(c["victim"]["data"] == "hits (inc)" and c["aggressor"]["data"] == "hits (inc)",
          "both sides name the counter's DESC")
    check(c["victim"]["offset"] == 0, "the counter is at offset 0 of its object")
    check(c["victim"]["code"] and c["victim"]["code"].startswith("bump_"), "the code is named")
    ws = [x["wasted_cycles"] for x in d["conflicts"]]
    check(ws == sorted(ws, reverse=True), "conflicts ranked by wasted cycles")


def case_false_sharing():
    _, d = replay("false_sharing", m.increments([0x601000, 0x601008], n=500, text=("left", "right")))
    _, ab = totals(d)
    check(ab["conflict"] > 0, "two words of one line conflict")
    named = set()
    offs = set()
    for c in d["conflicts"]:
        for side in ("victim", "aggressor"):
            if c[side]["data"]:
                named.add(c[side]["data"])
                offs.add(c[side]["offset"])
    check({"left (inc)", "right (inc)"} <= named, "both DESC texts appear (got %s)" % sorted(named))
    check({0, 8} <= offs, "both offsets appear (got %s)" % sorted(offs))


def fill(stride, nlines, reads=False):
    return m.footprint([0x10000000 + stride * i for i in range(nlines)], reads=reads)


def case_capacity():
    _, d = replay("cap800", fill(64, 800))
    _, ab = totals(d)
    check(ab["capacity_write"] > 0, "800 written lines abort for capacity")
    check(d["capacity"] and d["capacity"][0]["write_lines"] == 769,
          "the footprint is 769 lines when the 13th of a set is written")
    _, d = replay("cap14", fill(4096, 14))
    _, ab = totals(d)
    check(ab["capacity_write"] > 0, "14 lines of one L1 set abort for capacity")
    check(d["capacity"] and d["capacity"][0]["fullest_set"]["lines"] == 13,
          "the fullest set holds 13 lines at the abort")
    _, d = replay("cap10", fill(4096, 10))
    _, ab = totals(d)
    check(ab["capacity_write"] == 0 and ab["capacity_read"] == 0, "10 lines of one set fit")
    check(d["sites"][0]["commits"] == 50, "10 lines of one set: every section commits")
    _, d = replay("cap10_skl", fill(4096, 10), "--model", "skylake")
    _, ab = totals(d)
    check(ab["capacity_write"] > 0, "10 lines of one set overflow skylake's 8 ways")
    _, d = replay("capread", fill(64, 5000, reads=True))
    _, ab = totals(d)
    check(ab["capacity_read"] > 0, "5000 lines read exceed the read budget")
    _, d = replay("read1024", fill(64, 1024, reads=True))
    _, ab = totals(d)
    check(ab["capacity_read"] == 0, "1024 lines read fit")


def case_syscall():
    _, d = replay("syscall", m.event(m.EV_SYSCALL))
    _, ab = totals(d)
    check(ab["syscall"] > 0, "a SYSCALL event aborts")
    u = [x for x in d["unfriendly"] if x["cause"] == "syscall"]
    check(u and u[0]["code"] == "getpid (libc.so.6)" and u[0]["arg"] == 39,
          "the unfriendly abort names the instruction and the call")
    s = [x for x in d["sites"] if x["site"] == "0x%016x" % 0x300][0]
    check(s["lock_sections"] > 0, "the site ends up on the lock (skip after status 0)")
    _, d = replay("cpuid", m.event(m.EV_CPUID))
    _, ab = totals(d)
    check(ab["cpuid"] > 0 and ab["syscall"] == 0, "a CPUID event aborts as cpuid")


def case_timer():
    _, d = replay("timer2ms", m.long_section(4000000))  # 2 ms at 2 GHz, CPI 1
    _, ab = totals(d)
    check(ab["timer"] > 0, "a 2 ms section aborts by timer")
    check(d["sites"][0]["commits"] == 0, "a 2 ms section never commits")
    _, d = replay("timer5us", m.long_section(10000))  # 5 us
    _, ab = totals(d)
    check(ab["timer"] == 0, "a 5 us section is not interrupted")


def case_txlen():
    _, d = replay("gil", m.gil_holds(holds=40, per_hold=64))
    s = [x for x in d["sites"] if x["site"] == "0x%016x" % 0x1000][0]
    check(s["txlen"]["transactions"] > 80, "holds of 64 yield intervals are split into transactions "
          "(%d transactions for 80 holds)" % s["txlen"]["transactions"])
    check(1 <= s["txlen"]["mean"] < 64, "txlen from the policy, below the hold (mean %g)" % s["txlen"]["mean"])
    check(s["commits"] == s["txlen"]["transactions"], "every transaction commits on disjoint lines")
    _, d = replay("gil_fixed", m.gil_holds(holds=40, per_hold=64))
    os.environ["HTMGIL_TXLEN"] = "4"
    _, d4 = replay("gil_txlen4", m.gil_holds(holds=40, per_hold=64))
    del os.environ["HTMGIL_TXLEN"]
    s4 = [x for x in d4["sites"] if x["site"] == "0x%016x" % 0x1000][0]
    check(s4["txlen"]["mean"] == 4 and s4["txlen"]["transactions"] == 80 * 16,
          "HTMGIL_TXLEN=4 gives 16 transactions per hold (%s)" % s4["txlen"])


def case_txtime():
    # 20000 instructions per yield interval at CPI 1 and 2 GHz: 10 us, so two
    # intervals fill the default txtime_us of 20.
    t = m.gil_holds(holds=20, per_hold=64, body=20000)
    _, d = replay("gil_txtime", t)
    s = [x for x in d["sites"] if x["site"] == "0x%016x" % 0x1000][0]
    check(d["policy"]["txtime_us"] == 20, "the default txtime_us is 20 (%s)" % d["policy"])
    check(1 <= s["txlen"]["mean"] <= 2.5, "10 us intervals: transactions of 2 intervals, as "
          "sized by time (mean %g)" % s["txlen"]["mean"])
    os.environ["HTMGIL_POLICY"] = "txtime_us=0"
    _, d0 = replay("gil_txtime0", t)
    del os.environ["HTMGIL_POLICY"]
    s0 = [x for x in d0["sites"] if x["site"] == "0x%016x" % 0x1000][0]
    check(d0["policy"]["txtime_us"] == 0, "HTMGIL_POLICY=txtime_us=0 reaches the replay")
    check(s0["txlen"]["mean"] > 8, "txtime_us=0: no cap, the length grows (mean %g)"
          % s0["txlen"]["mean"])
    check(s0["aborts"]["timer"] > s["aborts"]["timer"],
          "uncapped transactions of 100 us and more meet more timer aborts (%d, capped %d)"
          % (s0["aborts"]["timer"], s["aborts"]["timer"]))


def case_fallback():
    # Thread 1 makes a system call at the start of every hold of 64 intervals
    # of 1 us, so each of its holds falls back to the lock; thread 2 is clean.
    t = m.gil_syscall(holds=30, subs=64, body=2000)
    _, db = replay("fallback_bounded", t)
    _, dh = replay("fallback_hold", t, "--fallback", "hold")
    pb, ph = db["process"], dh["process"]
    check(db["model"]["fallback"] == "bounded" and dh["model"]["fallback"] == "hold",
          "the model names the fallback (%s, %s)" % (db["model"]["fallback"], dh["model"]["fallback"]))
    check(ph["lock_stretches"] == 0, "hold: every lock run lasts to its hold's end (%d given back)"
          % ph["lock_stretches"])
    check(pb["lock_stretches"] > 0, "bounded: lock runs are given back to the waiting thread (%d)"
          % pb["lock_stretches"])
    sb = sum(x["commits"] for x in db["sites"])
    sh = sum(x["commits"] for x in dh["sites"])
    check(sb > sh, "bounded: more intervals commit (%d transactions, hold %d)" % (sb, sh))
    check(ph["speedup"] < 1.1, "hold: the fallback serializes the threads (speedup %.2f)"
          % ph["speedup"])
    check(pb["speedup"] > 1.3 * ph["speedup"], "bounded: the threads overlap again (speedup %.2f, "
          "hold %.2f)" % (pb["speedup"], ph["speedup"]))
    # The same through the CLI: htmgil sim passes --fallback to the replay.
    jp = os.path.join(WORK, "fallback_cli.json")
    p = subprocess.run([os.environ["HG_HTMGIL"], "sim", "--replay", os.path.join(WORK, "fallback_hold.trace"),
                        "--fallback", "hold", "--report", jp], capture_output=True, text=True)
    check(p.returncode == 0, "htmgil sim --replay --fallback hold: exit %d (%s)" % (p.returncode, p.stderr))
    with open(jp) as f:
        dc = json.load(f)
    check(dc["model"]["fallback"] == "hold" and dc["process"]["speedup"] == ph["speedup"],
          "htmgil sim --fallback hold replays as the replay does (%s, speedup %s)"
          % (dc["model"]["fallback"], dc["process"]["speedup"]))


def case_calibration():
    rows = []
    for what, addrs in (("same word", [0x601000, 0x601000]),
                        ("two words of one line", [0x601000, 0x601008]),
                        ("adjacent lines", [0x601000, 0x601040])):
        _, d = replay("cal_" + what.replace(" ", "_"), m.increments(addrs, n=2000))
        att, ab = totals(d)
        r = rate(d)
        conf = 100.0 * ab["conflict"] / max(1, sum(ab.values()))
        rows.append((what, MEASURED[what], r, conf))
        check(abs(r - MEASURED[what]) <= TOL,
              "%s: predicted %.2f %% aborts, measured %.3f %% (tolerance %.1f points)"
              % (what, r, MEASURED[what], TOL))
        if MEASURED[what] > 1:
            check(conf >= 90, "%s: aborts are conflicts (%.0f %%)" % (what, conf))
    print("| the two threads increment | measured | predicted | of which conflicts |")
    print("|---|---|---|---|")
    for what, meas, r, conf in rows:
        print("| %s | %.3g %% | %.2f %% | %.0f %% |" % (what, meas, r, conf))


def bad_mask():
    t = m.Trace()
    s = t.thread()
    t.section(s, 100, lines=[(0x601000, 1, 3, 0, 0, 1, 2)])  # wmask bit 1 of a one-interval chunk
    return t.data()


def case_bad_input():
    good = m.increments([0x601000, 0x602000], n=5).data()
    cases = {
        "magic": m.increments([0x601000], n=5).data(magic=b"NOTATRAC"),
        "version": m.increments([0x601000], n=5).data(version=9),
        "version1": m.increments([0x601000], n=5).data(version=1),
        "mask": bad_mask(),
        "truncated": good[:-12],
        "short": good[:10],
    }
    for name, data in cases.items():
        p, _ = replay("bad_" + name, data, expect_rc=2)
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        check(len(lines) == 1, "bad %s: one line (got %d)" % (name, len(lines)))
        check(lines and lines[0].startswith("htmgil-sim-replay: "), "bad %s: the line names the program" % name)
        print("bad %s: %s" % (name, lines[0] if lines else ""))
    for args in (["--cpus", "0"], ["--model", "pentium"], ["--cpi", "x"], ["--bogus", "1"],
                 ["--jitter", "1.5"], ["--jobs", "0"], ["--fallback", "never"]):
        p, _ = replay("bad_opt", good, *args, expect_rc=2)
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        check(len(lines) == 1 and "--help" in lines[0], "bad option %s: one line pointing at --help" % args)
    p = subprocess.run([REPLAY, "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "emerald-rapids" in p.stdout and "skylake" in p.stdout,
          "--help lists the models")


def case_names():
    os.makedirs(WORK, exist_ok=True)
    rp = os.path.join(WORK, "names_report.json")
    with open(rp, "w") as f:
        json.dump({"schema": "htmgil-report", "version": 3, "process": {"pid": 1, "ppid": 0, "cmdline": ["x"]},
                   "locks": [{"id": 1, "name": "GIL \"main\"",
                              "sites": [{"key": "0x%016x" % 0x100, "name": "worker.py:12 bump",
                                         "aborts": {"conflict": 3}},
                                        {"key": "0x%016x" % 0x101, "name": "worker.py:20 other"}]}]}, f)
    p, d = replay("names", m.increments([0x601000, 0x601000], n=200), "--names", rp)
    s = {x["site"]: x for x in d["sites"]}
    check(s["0x%016x" % 0x100]["site_name"] == "worker.py:12 bump", "--names names the site")
    check(s["0x%016x" % 0x100]["lock_name"] == 'GIL "main"', "--names names the lock")
    check("worker.py:12 bump" in p.stderr, "the text shows the site's name")
    check(p.stderr.startswith("htmgil sim: predicted: threads overlap"), "the text starts with the prediction")


def case_speed():
    # A few hundred thousand intervals: 4 threads x 75000, shared and private lines.
    t = m.Trace()
    code = t.desc(m.D_CODE, "step (speed.c:1)", base=0x401000)
    data = t.desc(m.D_HEAP, "heap block of 1048576 bytes allocated at main", base=0x30000000, size=1 << 20)
    ths = [t.thread() for _ in range(4)]
    for i in range(75000):
        for k, s in enumerate(ths):
            t.run(s, 300)
            ls = [(0x30000000 + (k << 16) + 64 * ((i + j) % 512), 3 + 7 * j, 5 + 7 * j, code, data)
                  for j in range(6)]
            if i % 50 == 0:
                ls.append((0x30080000, 2, 60, code, data))
            t.section(s, 80, lines=ls, site=0x700 + (i % 8))
    for s in ths:
        t.exit(s)
    _, d = replay("speed", t)
    check(d["trace"]["intervals"] == 300000, "300000 intervals")
    cv = d["process"]["curve"]
    check([x["cpus"] for x in cv] == [1, 2, 3, 4], "the curve has the points 1..4")
    check(all(x["makespan_cycles"] > 0 and x["lock_makespan_cycles"] > 0 for x in cv),
          "every point of the curve was replayed")
    check(cv[-1]["makespan_cycles"] < cv[0]["makespan_cycles"], "4 cores finish before 1")


def case_jobs():
    # The runs in one process or spread over several give the same prediction.
    tr = m.increments([0x601000, 0x601000, 0x601008, 0x602000], n=300, text=("a", "b", "c", "d"))
    outs = []
    for j in ("1", "2", "7"):
        p, d = replay("jobs", tr, "--jobs", j)
        d.pop("replay_seconds")
        outs.append((d, p.stderr.split("(replayed in")[0]))
    check(len(outs[0][0]["process"]["curve"]) == 4, "the curve has 4 points (8 runs)")
    check(outs[0][0]["sites"] and totals(outs[0][0])[1]["conflict"] > 0, "the trace conflicts")
    for (d, text), j in zip(outs[1:], ("2", "7")):
        check(d == outs[0][0], "--jobs %s: the JSON of --jobs 1" % j)
        check(text == outs[0][1], "--jobs %s: the text of --jobs 1" % j)


def site_of(d, key):
    return [x for x in d["sites"] if x["site"] == "0x%016x" % key][0]


def case_chunks():
    # The same holds, joined by the tool into one chunk of 64 yield intervals
    # or recorded as 64 chunks of one: the same prediction.
    _, d64 = replay("chunks64", m.gil_shared(per_chunk=64))
    _, d1 = replay("chunks1", m.gil_shared(per_chunk=1))
    check(d64["trace"]["intervals"] == d1["trace"]["intervals"] == 2 * 30 * 64,
          "both hold 3840 intervals (%d, %d)" % (d64["trace"]["intervals"], d1["trace"]["intervals"]))
    check(d64["trace"]["chunks"] == 60 and d1["trace"]["chunks"] == 3840,
          "in 60 and 3840 chunks (%d, %d)" % (d64["trace"]["chunks"], d1["trace"]["chunks"]))
    s64, s1 = site_of(d64, 0x800), site_of(d1, 0x800)
    _, ab = totals(d64)
    check(ab["conflict"] > 0 and ab["page"] > 0, "the holds conflict on the counter and touch pages (%s)" % ab)
    for k in ("attempts", "commits", "lock_sections", "acquisitions"):
        check(s64[k] == s1[k], "%s: %d in one chunk, %d in 64" % (k, s64[k], s1[k]))
    check(s64["aborts"] == s1["aborts"], "aborts by cause: %s, %s" % (s64["aborts"], s1["aborts"]))
    check(s64["txlen"] == s1["txlen"], "txlen: %s, %s" % (s64["txlen"], s1["txlen"]))
    for k in ("committed", "aborted", "lock"):
        a, b = s64["cycles"][k], s1["cycles"][k]
        check(abs(a - b) <= 1e-3 * max(a, b, 1), "%s cycles: %d, %d" % (k, a, b))
    a, b = d64["process"]["makespan_cycles"], d1["process"]["makespan_cycles"]
    check(abs(a - b) <= 1e-3 * max(a, b), "makespan: %d, %d" % (a, b))


def case_sub_mask():
    # Line X is written only in interval 40 of thread 1's 64-interval chunks;
    # interval 40 has site 0xA40, the others 0xA00.  Thread 2 keeps writing X.
    t = m.one_sub_writes()
    for txlen, covers in (("1", "[40, 41)"), ("8", "[40, 48)")):
        os.environ["HTMGIL_TXLEN"] = txlen
        _, d = replay("sub_mask_txlen" + txlen, t)
        del os.environ["HTMGIL_TXLEN"]
        a0, a40 = site_of(d, 0xA00), site_of(d, 0xA40)
        check(a40["aborts"]["conflict"] > 0,
              "txlen %s: the transaction of %s conflicts on X (%d)" % (txlen, covers, a40["aborts"]["conflict"]))
        check(a0["aborts"]["conflict"] == 0 and a0["commits"] == a0["attempts"],
              "txlen %s: no transaction without interval 40 conflicts (%d of %d attempts aborted)"
              % (txlen, a0["aborts"]["conflict"], a0["attempts"]))
        sides = {c[k]["site"] for c in d["conflicts"] for k in ("victim", "aggressor")}
        check("0x%016x" % 0xA00 not in sides, "txlen %s: no conflict names site 0xA00" % txlen)
        check(a0["txlen"]["transactions"] >= 40 * (40 // int(txlen)),
              "txlen %s: the intervals before 40 ran as their own transactions (%d)"
              % (txlen, a0["txlen"]["transactions"]))
    os.environ["HTMGIL_TXLEN"] = "64"
    _, d = replay("sub_mask_txlen64", t)
    del os.environ["HTMGIL_TXLEN"]
    check(site_of(d, 0xA00)["aborts"]["conflict"] > 0,
          "txlen 64: the transaction of the whole hold (site 0xA00) conflicts on X")


def case_phase_lock():
    # Two identical threads, a 470-instruction section writing a shared
    # counter from offset 100, then 300 outside.  Exact timing locks them
    # into anti-phase; the jitter (sim/model.h) keeps the calibrated rate.
    def crate(d):
        att, ab = totals(d)
        return 100.0 * ab["conflict"] / att
    _, near = replay("phase_gap20", m.counter(gap=20))
    _, far = replay("phase_gap300", m.counter(gap=300))
    _, exact = replay("phase_gap300_j0", m.counter(gap=300), "--jitter", "0")
    check(far["model"]["jitter"] == 0.1 and exact["model"]["jitter"] == 0, "the report gives the jitter")
    rn, rf, re = crate(near), crate(far), crate(exact)
    print("conflicts: gap 20 %.2f %%, gap 300 %.2f %%, gap 300 without jitter %.2f %%" % (rn, rf, re))
    check(abs(rf - MEASURED["same word"]) <= 4,
          "gap 300: %.2f %% conflicts, within 4 points of the measured %.1f %%" % (rf, MEASURED["same word"]))
    check(abs(rf - rn) <= 4, "gap 300 (%.2f %%) within 4 points of gap 20 (%.2f %%)" % (rf, rn))
    check(re < 3 and rf > 2 * re + 5,
          "without jitter the threads phase-lock (%.2f %%), the jitter undoes it (%.2f %%)" % (re, rf))


def case_report_reader():
    """`htmgil report` reads a prediction as the report's text with tier sim
    (HG_HTMGIL: the htmgil program)."""
    htmgil = os.environ["HG_HTMGIL"]
    _, d = replay("reader", m.increments([0x601000, 0x601000], n=300, text=("hits", "hits")))
    jp = os.path.join(WORK, "reader.json")
    p = subprocess.run([htmgil, "report", jp], capture_output=True, text=True)
    check(p.returncode == 0, "htmgil report reads a prediction (exit %d: %s)" % (p.returncode, p.stderr))
    lines = p.stdout.splitlines()
    check(lines and lines[0].startswith("htmgil report: tier sim"), "the header names tier sim")
    check(any(l.startswith("predicted: threads overlap ") for l in lines), "the prediction leads")
    rows = [l for l in lines if l.split()[1:2] == ["sim"]]
    check(len(rows) == len(d["sites"]), "one row per site, tier sim (%d rows)" % len(rows))
    check(any("hits (inc)" in l for l in lines), "the top data conflict is named")
    p = subprocess.run([htmgil, "report", jp, "--format", "json"], capture_output=True, text=True)
    check(p.returncode == 0 and json.loads(p.stdout)["schema"] == "htmgil-sim", "--format json passes it on")
    for extra, want in ((["--format", "html"], "does not apply to a simulation report"),
                        ([jp], "is read alone")):
        p = subprocess.run([htmgil, "report", jp] + extra, capture_output=True, text=True)
        check(p.returncode == 2 and len(p.stderr.splitlines()) == 1 and want in p.stderr,
              "one line and exit 2 for %s (got %d: %r)" % (extra, p.returncode, p.stderr))


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}

if __name__ == "__main__":
    name = sys.argv[3]
    CASES[name]()
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("ok")
