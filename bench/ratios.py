#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run htmgil-bench once and print the ratios htmgil tracks.

    python3 bench/ratios.py [--bench PATH] [--json FILE] [--repetitions N]
                            [--min-time SECONDS] [--check]

All variants are measured side by side in one invocation of htmgil-bench
(with --benchmark_format=json); with repetitions, each benchmark's median is
used.  Printed ratios:

  pair:    hg_lock pair time / pthread_mutex pair time      (target <= 1.25)
  counter: hg_lock 2-thread throughput / pthread_mutex's    (target >= 0.9)

plus the other variants for context.  The targets are stated for a run in
which HTM is off (mode "off"): measure them with

    HTMGIL_HTM=off python3 bench/ratios.py

The script prints the mode the run measured and, when it is not off, says
that the targets do not apply to it.  Exit status: 0 when the run produced every number (targets missed or
not), 1 when benchmarks are missing or failed, and with --check also 1 when
a target is missed.
"""

import argparse
import json
import os
import subprocess
import sys

VARIANTS = ("pthread_mutex", "hg_mutex", "hg_lock", "hg_lock_emu")
PAIR_TARGET = 1.25
COUNTER_TARGET = 0.9


def default_bench():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    for cand in (os.path.join(root, "build", "bin", "htmgil-bench"),
                 os.path.join(here, "htmgil-bench")):
        if os.access(cand, os.X_OK):
            return cand
    return None


def run_bench(path, reps, min_time, out_json):
    cmd = [path, "--benchmark_format=json",
           "--benchmark_filter=^(pair|counter|percpu)/",
           "--benchmark_min_time=%g" % min_time]
    if reps > 1:
        cmd += ["--benchmark_repetitions=%d" % reps,
                "--benchmark_report_aggregates_only=true"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        sys.stderr.write("ratios.py: %s exited with %d\n" % (path, proc.returncode))
        sys.exit(1)
    if out_json:
        with open(out_json, "w") as f:
            f.write(proc.stdout)
    return json.loads(proc.stdout)


def parse_name(run_name):
    """'counter/hg_lock/real_time/threads:2' -> ('counter', 'hg_lock', 2)."""
    parts = run_name.split("/")
    body, variant, threads = parts[0], parts[1] if len(parts) > 1 else "", 1
    for p in parts[2:]:
        if p.startswith("threads:"):
            threads = int(p[len("threads:"):])
    return body, variant, threads


def collect(doc):
    """{(body, variant, threads): benchmark entry}, medians when aggregated."""
    out = {}
    failed = []
    for b in doc.get("benchmarks", []):
        if b.get("error_occurred"):
            failed.append("%s: %s" % (b.get("name"), b.get("error_message")))
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        key = parse_name(b.get("run_name", b["name"]))
        out[key] = b
    return out, failed


def ns(b):
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    return b["real_time"] * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", help="htmgil-bench binary (default: build/bin/htmgil-bench)")
    ap.add_argument("--json", help="also keep the raw JSON output in this file")
    ap.add_argument("--repetitions", type=int, default=5,
                    help="repetitions per benchmark, median used (default 5)")
    ap.add_argument("--min-time", type=float, default=0.2,
                    help="--benchmark_min_time per repetition (default 0.2)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when a target is missed")
    args = ap.parse_args()

    bench = args.bench or default_bench()
    if not bench or not os.access(bench, os.X_OK):
        sys.stderr.write("ratios.py: htmgil-bench not found; build it (cmake --build build) "
                         "or pass --bench PATH\n")
        return 1
    if args.repetitions < 1 or args.min_time <= 0:
        sys.stderr.write("ratios.py: --repetitions must be >= 1 and --min-time > 0\n")
        return 1

    doc = run_bench(bench, args.repetitions, args.min_time, args.json)
    ctx = doc.get("context", {})
    runs, failed = collect(doc)
    for f in failed:
        sys.stderr.write("ratios.py: benchmark failed: %s\n" % f)

    mode = ctx.get("htmgil_htm_mode", "unknown")
    print("htmgil-bench: %s, htm mode %s (%s), %s CPUs, %d repetition(s), median"
          % (ctx.get("date", "?"), mode, ctx.get("htmgil_rtm_verdict", "?"),
             ctx.get("num_cpus", "?"), args.repetitions))
    load = ctx.get("load_avg") or []
    if load:
        print("load average at start: %s" % ", ".join("%.2f" % x for x in load))
        cpus = ctx.get("num_cpus") or 1
        if load[0] > 0.5 * cpus:
            print("note: the machine was busy; contended (2-thread) results are not "
                  "representative")
    if mode == "off":
        print("targets: defined for HTM off, the mode measured here")
    else:
        print("note: the targets are defined for HTM off; this run measured mode %s, so they "
              "do not apply to it (measure them with HTMGIL_HTM=off python3 bench/ratios.py)"
              % mode)

    missing = []

    def get(body, variant, threads):
        b = runs.get((body, variant, threads))
        if b is None:
            missing.append("%s/%s threads:%d" % (body, variant, threads))
        return b

    print("")
    print("%-28s %14s %10s" % ("uncontended pair", "ns/pair", "/pthread"))
    base = get("pair", "pthread_mutex", 1)
    pair = {}
    for v in VARIANTS:
        b = get("pair", v, 1)
        if b is None or base is None:
            continue
        pair[v] = ns(b) / ns(base)
        print("%-28s %14.2f %10.3f" % ("pair/" + v, ns(b), pair[v]))

    tput = {}
    for body in ("counter", "percpu"):
        for threads in (1, 2):
            print("")
            print("%-28s %14s %10s" % ("%s, %d thread(s)" % (body, threads), "Mops/s",
                                         "/pthread"))
            base = get(body, "pthread_mutex", threads)
            for v in VARIANTS:
                b = get(body, v, threads)
                if b is None or base is None:
                    continue
                r = b["items_per_second"] / base["items_per_second"]
                tput[(body, v, threads)] = r
                print("%-28s %14.2f %10.3f" % (body + "/" + v, b["items_per_second"] / 1e6, r))

    print("")
    ok = True
    if "hg_lock" in pair:
        met = pair["hg_lock"] <= PAIR_TARGET
        ok &= met
        print("ratio pair hg_lock/pthread_mutex = %.3f (target <= %.2f): %s"
              % (pair["hg_lock"], PAIR_TARGET, "met" if met else "NOT met"))
    if ("counter", "hg_lock", 2) in tput:
        r = tput[("counter", "hg_lock", 2)]
        met = r >= COUNTER_TARGET
        ok &= met
        print("ratio counter 2-thread throughput hg_lock/pthread_mutex = %.3f (target >= %.2f): %s"
              % (r, COUNTER_TARGET, "met" if met else "NOT met"))
    if missing or failed:
        for m in missing:
            sys.stderr.write("ratios.py: no result for %s\n" % m)
        return 1
    if args.check and not ok:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
