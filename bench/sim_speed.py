#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How fast `htmgil sim` runs bench/gil_scaling.py's workloads, and what it
predicts for them.

    python3 bench/sim_speed.py [--python PY] [--workloads a,b] [--threads N]
                               [--scale S] [--rounds R] [--json FILE]

For each workload: the child (`gil_scaling.py --one W --threads N`) runs
natively five times, then once under `htmgil sim` (record and replay, whole
processes, wall time), for R rounds; the table gives the medians (and the
native runs' range: two threads on the GIL vary from run to run), their
ratio (the simulator's slowdown), and the prediction of the last simulated run:
how much the threads overlap, the speedup over every section on the lock,
the share of speculative time aborted, and the top shared line.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE_PER_ROUND = 5
WORKLOADS = ["arith", "alloc", "shared_read", "shared_call", "json", "regex", "sort"]


def wall(cmd, env):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit("%s failed (status %d): %s" % (" ".join(cmd), r.returncode,
                                                 r.stderr.strip().splitlines()[-1:]))
    return dt, r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", help="the interpreter (default: the CPython 3.12 that "
                    "gil_scaling.py finds)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", default="1")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--htmgil", default=os.path.join(ROOT, "build", "bin", "htmgil"))
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.python is None:
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        from gil_scaling import find_pythons
        a.python = next((p for p in find_pythons() if p.endswith("python3.12")), None)
        if a.python is None:
            sys.exit("no CPython 3.12 found (pyenv or PATH); give --python PATH")
    if not os.access(a.python, os.X_OK):
        sys.exit("--python %s is not an executable interpreter" % a.python)
    if not os.access(a.htmgil, os.X_OK):
        sys.exit("%s is not built: build htmgil, or give --htmgil PATH" % a.htmgil)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTMGIL_")}
    scaling = os.path.join(ROOT, "bench", "gil_scaling.py")
    rows = []
    tmp = tempfile.mkdtemp(prefix="sim_speed.")
    for w in a.workloads.split(","):
        child = [a.python, scaling, "--one", w, "--threads", str(a.threads), "--scale", a.scale]
        nat, sim = [], []
        rep = os.path.join(tmp, w + ".json")
        for _ in range(a.rounds):
            # Native runs of two threads on the GIL vary by up to 2x from run
            # to run (the order of the handoffs): five per simulated one.
            for _ in range(NATIVE_PER_ROUND):
                nat.append(wall(child, env)[0])
            dt, r = wall([a.htmgil, "sim", "--report", rep, "--"] + child, env)
            sim.append(dt)
        with open(rep) as f:
            p = json.load(f)
        pr = p["process"]
        shared = p.get("shared_lines") or []
        top = shared[0] if shared else None
        side = next((s for s in top["sides"] if s["writes"]), top["sides"][0]) if top else None
        rows.append({
            "workload": w, "native_s": statistics.median(nat), "native_min_s": min(nat),
            "native_max_s": max(nat), "sim_s": statistics.median(sim),
            "parallelism": pr["parallelism"], "speedup": pr["speedup"],
            "aborted_fraction": pr["aborted_fraction"], "attempts": pr["attempts"],
            "top_shared": None if not side else "%s +%s by %s" % (side["data"], side["offset"], side["code"]),
        })
        r = rows[-1]
        print("%-12s native %6.2f s (%.2f-%.2f)  sim %7.2f s  %5.1fx   overlap %.2fx  speedup %.2fx  "
              "aborted %4.1f %%  top shared: %s" % (
                  w, r["native_s"], r["native_min_s"], r["native_max_s"], r["sim_s"],
                  r["sim_s"] / r["native_s"], r["parallelism"],
                  r["speedup"], 100 * r["aborted_fraction"], r["top_shared"]), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"python": a.python, "threads": a.threads, "scale": a.scale, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
