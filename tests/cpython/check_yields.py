#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Forced yield points and the per-site transaction length, on
tests/cpython/prog.py under the emulated HTM (docs/gil.md, "Forced yield
points").

Where the interpreter supports them (2.7, 3.12, 3.13):
  - no injected aborts: transactions span yield points and restart at them
    (yield_points > 0, yield_restarts > 0), and prog.py's busiest site has
    grown its length above the initial 16, or, where 16 intervals take longer
    than txtime_us (2.7's check interval), to half that time or more;
  - injected aborts (conflict=0.3,...): transactions span fewer than 16
    yield points on average (yield points per restart), prog.py sites
    shrunk to one interval have aborts localised to it, and the interval's
    far end (the next yield point's site) is named, in the JSON and in the
    text report; without aborts nothing is localised;
  - HTMGIL_TXLEN=1: every yield point ends a transaction (restarts ==
    yield points) and every site reports length 1;
  - HTMGIL_TXLEN=off: no yield point is forced;
  - transactions sized by time, on LONG (tests/cpython/long_intervals.py:
    one yield interval per iteration runs sum(range(20000)), a few hundred
    us): with the default txtime_us (20), the site whose transactions
    measure the longest intervals measures 50 us or more and is capped at
    one yield point, and every capped site's length times its interval is
    within twice 20 us, or 1; with HTMGIL_POLICY=txtime_us=0 no site is
    capped and transactions grow above 16 yield points on average.
Where the build has no separate pending-work handler (optimized 3.11
builds inline it), the report must say they are not available, and none are
counted; EXPECT "on" refuses that outcome.  Every run's output must be
prog.py's own correct result.

usage: check_yields.py PYTHON PRELOAD PROG LONG WORKDIR [on|either]
"""
import json
import os
import subprocess
import sys

INIT, MAX = 16, 256


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(py, preload, prog, report, args=("2", "300000"), json_report=True, **env_extra):
    env = dict(os.environ)
    env.pop("HTMGIL_EMU", None)
    env.pop("HTMGIL_TXLEN", None)
    env.update(LD_PRELOAD=preload, HTMGIL_HTM="emu", HTMGIL_REPORT=report)
    env.update(env_extra)
    report = env["HTMGIL_REPORT"]
    p = subprocess.run([py, prog] + list(args), env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    out = p.stdout.decode()
    if p.returncode != 0 or "checksum=" not in out:
        fail("prog.py failed under the preload (%s): rc=%s %s %s"
             % (env_extra, p.returncode, out, p.stderr.decode()))
    if p.stderr.strip():
        fail("unexpected stderr (%s): %s" % (env_extra, p.stderr.decode()))
    if not json_report:
        return None
    r = json.load(open(report))
    g = r["gil"]
    sites = [s for l in r["locks"] if l["name"] == "gil" for s in l["sites"]]
    for s in sites:
        if not 0 <= s["txlen"] <= MAX:
            fail("site %s has txlen %d outside 0..%d" % (s["name"], s["txlen"], MAX))
    base = os.path.basename(prog) + ":"
    ours = [s for s in sites if base in s["name"]]
    if not ours:
        fail("no %s site in the report" % base)
    busiest = max(ours, key=lambda s: s["acquisitions"])
    return g, sites, busiest


def main():
    py, preload, prog, long_prog, work = sys.argv[1:6]
    expect = sys.argv[6] if len(sys.argv) > 6 else "on"
    os.makedirs(work, exist_ok=True)
    preload, prog = os.path.abspath(preload), os.path.abspath(prog)
    long_prog = os.path.abspath(long_prog)
    rep = os.path.join(work, "yields.json")

    g, sites, busiest = run(py, preload, prog, rep)
    if not g["forced_yields"].startswith("on"):
        if expect == "on":
            fail("forced yield points are not on with %s: %r" % (py, g["forced_yields"]))
        if not g["forced_yields"].startswith("not available"):
            fail("forced_yields is %r" % g["forced_yields"])
        if g["yield_points"] or g["yield_restarts"]:
            fail("yield points counted while not available: %r" % g)
        print("ok forced yields not available here: %s" % g["forced_yields"])
        return
    if g["yield_points"] == 0 or g["yield_restarts"] == 0 or g["yield_restarts"] > g["yield_points"]:
        fail("no yield points forced: %r" % g)
    # Doubling from a length below the cap ends between half the cap and the cap.
    budget_us = busiest["txlen"] * busiest["yield_us"]
    if busiest["txlen"] <= INIT and not (busiest["txlen_cap"] and budget_us >= 10):
        fail("the busiest site %s kept length %d without aborts (expected growth above %d, "
             "or to at least half its time budget: cap %d, %.2f us per interval)"
             % (busiest["name"], busiest["txlen"], INIT, busiest["txlen_cap"],
                busiest["yield_us"]))
    if any(x["localised"]["aborts"] for x in sites):
        fail("aborts localised without any abort: %r"
             % [x["name"] for x in sites if x["localised"]["aborts"]][:3])
    print("ok no aborts: %d yield points, %d restarts; %s txlen %d"
          % (g["yield_points"], g["yield_restarts"], busiest["name"], busiest["txlen"]))

    g, sites, busiest = run(py, preload, prog, rep,
                            HTMGIL_EMU="conflict=0.3,capacity=0.05,other=0.02,seed=11")
    # A site's txlen is one thread's record (the last to write it), which may
    # have seen too few attempts to halve; the mean over every transaction is
    # the process's: yield points per restart.
    mean = g["yield_points"] / float(max(g["yield_restarts"], 1))
    if mean >= INIT:
        fail("transactions spanned %.1f yield points on average under 35%% injected aborts "
             "(expected < %d)" % (mean, INIT))
    print("ok injected aborts: %.1f yield points per transaction; %s txlen %d"
          % (mean, busiest["name"], busiest["txlen"]))
    # Sites shrunk to one interval keep aborting (the injection ignores the
    # length): their aborts are localised, and the interval's far end is named.
    loc = [x for x in sites if x["localised"]["aborts"] and "prog.py:" in x["name"]]
    if not loc:
        fail("injected aborts: no prog.py site has aborts localised to one interval")
    for x in loc:
        if x["localised"]["aborts"] > sum(x["aborts"].values()):
            fail("%s: %d localised aborts of %d" % (x["name"], x["localised"]["aborts"],
                                                   sum(x["aborts"].values())))
    named = [x for x in loc if x["localised"]["to"]]
    if not named:
        fail("injected aborts: no localised site names the yield point that ends its interval")
    top = max(named, key=lambda x: x["localised"]["aborts"])
    print("ok localised: %d sites; %s .. %s: %d aborts" % (
        len(loc), top["name"], top["localised"]["to"], top["localised"]["aborts"]))
    txt = os.path.join(work, "yields.txt")
    run(py, preload, prog, rep, HTMGIL_EMU="conflict=0.3,capacity=0.05,other=0.02,seed=11",
        HTMGIL_REPORT=txt, json_report=False)
    with open(txt) as f:
        text = f.read()
    if "aborts localised to one yield interval" not in text or " .. " not in text:
        fail("the text report lists no localised aborts:\n" + text[-2000:])

    g, sites, busiest = run(py, preload, prog, rep, HTMGIL_TXLEN="1")
    if g["yield_points"] == 0 or g["yield_points"] != g["yield_restarts"]:
        fail("HTMGIL_TXLEN=1: yield points %d, restarts %d (expected equal, > 0)"
             % (g["yield_points"], g["yield_restarts"]))
    bad = [s["name"] for s in sites if s["attempts"] and s["txlen"] != 1]
    if bad:
        fail("HTMGIL_TXLEN=1: sites with another length: %s" % bad[:5])
    print("ok HTMGIL_TXLEN=1: %d yield points, each a restart" % g["yield_points"])

    g, sites, busiest = run(py, preload, prog, rep, HTMGIL_TXLEN="off")
    if not g["forced_yields"].startswith("off") or g["yield_points"] or g["yield_restarts"]:
        fail("HTMGIL_TXLEN=off: %r" % g)
    print("ok HTMGIL_TXLEN=off: no yield point forced")

    long_args = ("2", "1500")
    g, sites, busiest = run(py, preload, long_prog, rep, long_args)
    capped = [s for s in sites if s["txlen_cap"] and "long_intervals.py:" in s["name"]
              and " work " in s["name"]]
    if not capped:
        fail("long intervals: no site of work() was sized by time: %r" % sites[:3])
    longest = max(capped, key=lambda s: s["yield_us"])
    if longest["yield_us"] < 50 or longest["txlen"] != 1 or longest["txlen_cap"] != 1:
        fail("long intervals: the site of the longest intervals, %s, measured %.1f us per "
             "interval, length %d, cap %d (expected >= 50 us, 1 and 1)"
             % (longest["name"], longest["yield_us"], longest["txlen"], longest["txlen_cap"]))
    bad = [(s["name"], s["txlen"], s["txlen_cap"], s["yield_us"]) for s in capped
           if s["txlen"] > 1 and s["txlen"] * s["yield_us"] > 40]
    if bad:
        fail("long intervals: sites whose length times interval exceeds 40 us "
             "(name, txlen, cap, us): %s" % bad[:5])
    print("ok long intervals: %s: %.1f us per interval, txlen %d; %d sites capped"
          % (longest["name"], longest["yield_us"], longest["txlen"], len(capped)))

    g, sites, busiest = run(py, preload, long_prog, rep, long_args,
                            HTMGIL_POLICY="txtime_us=0")
    if any(s["txlen_cap"] for s in sites):
        fail("txtime_us=0: a site was capped: %r" % [s for s in sites if s["txlen_cap"]][:3])
    mean = g["yield_points"] / float(max(g["yield_restarts"], 1))
    if mean <= INIT:
        fail("txtime_us=0: transactions spanned %.1f yield points on average (expected growth "
             "above %d)" % (mean, INIT))
    print("ok txtime_us=0: %.1f yield points per transaction, uncapped; %s txlen %d"
          % (mean, busiest["name"], busiest["txlen"]))


if __name__ == "__main__":
    main()
