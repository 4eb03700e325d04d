#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Forced yield points and the per-site transaction length, on
tests/cpython/prog.py under the emulated HTM (docs/gil.md, "Forced yield
points").

Where the interpreter supports them (2.7, 3.12, 3.13):
  - no injected aborts: transactions span yield points and restart at them
    (yield_points > 0, yield_restarts > 0), and prog.py's busiest site has
    grown its length above the initial 16;
  - injected aborts (conflict=0.3,...): prog.py's busiest site has shrunk its
    length below 16;
  - HTMGIL_TXLEN=1: every yield point ends a transaction (restarts ==
    yield points) and every site reports length 1;
  - HTMGIL_TXLEN=off: no yield point is forced.
Where the build has no separate pending-work handler (optimized 3.11
builds inline it), the report must say they are not available, and none are
counted; EXPECT "on" refuses that outcome.  Every run's output must be
prog.py's own correct result.

usage: check_yields.py PYTHON PRELOAD PROG WORKDIR [on|either]
"""
import json
import os
import subprocess
import sys

INIT, MAX = 16, 256


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(py, preload, prog, report, **env_extra):
    env = dict(os.environ)
    env.pop("HTMGIL_EMU", None)
    env.pop("HTMGIL_TXLEN", None)
    env.update(LD_PRELOAD=preload, HTMGIL_HTM="emu", HTMGIL_REPORT=report)
    env.update(env_extra)
    p = subprocess.run([py, prog, "2", "300000"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    out = p.stdout.decode()
    if p.returncode != 0 or "checksum=" not in out:
        fail("prog.py failed under the preload (%s): rc=%s %s %s"
             % (env_extra, p.returncode, out, p.stderr.decode()))
    if p.stderr.strip():
        fail("unexpected stderr (%s): %s" % (env_extra, p.stderr.decode()))
    r = json.load(open(report))
    g = r["gil"]
    sites = [s for l in r["locks"] if l["name"] == "gil" for s in l["sites"]]
    for s in sites:
        if not 0 <= s["txlen"] <= MAX:
            fail("site %s has txlen %d outside 0..%d" % (s["name"], s["txlen"], MAX))
    ours = [s for s in sites if "prog.py:" in s["name"]]
    if not ours:
        fail("no prog.py site in the report")
    busiest = max(ours, key=lambda s: s["acquisitions"])
    return g, sites, busiest


def main():
    py, preload, prog, work = sys.argv[1:5]
    expect = sys.argv[5] if len(sys.argv) > 5 else "on"
    os.makedirs(work, exist_ok=True)
    preload, prog = os.path.abspath(preload), os.path.abspath(prog)
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
    if busiest["txlen"] <= INIT:
        fail("the busiest site %s kept length %d without aborts (expected growth above %d)"
             % (busiest["name"], busiest["txlen"], INIT))
    print("ok no aborts: %d yield points, %d restarts; %s txlen %d"
          % (g["yield_points"], g["yield_restarts"], busiest["name"], busiest["txlen"]))

    g, sites, busiest = run(py, preload, prog, rep,
                            HTMGIL_EMU="conflict=0.3,capacity=0.05,other=0.02,seed=11")
    if busiest["txlen"] >= INIT:
        fail("the busiest site %s kept length %d under 35%% injected aborts (expected < %d)"
             % (busiest["name"], busiest["txlen"], INIT))
    print("ok injected aborts: %s txlen %d" % (busiest["name"], busiest["txlen"]))

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


if __name__ == "__main__":
    main()
