#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run htmgil-bench and print every lock variant against pthread_mutex and the best peer.

    python3 bench/ratios.py [--bench PATH] [--json FILE] [--repetitions N]
                            [--min-time SECONDS] [--check]

All variants are measured side by side in one invocation of htmgil-bench
(with --benchmark_format=json); with repetitions, each benchmark's median is
used.  glibc's own elision needs its tunable at process start, so a second
invocation runs the pthread_mutex benchmarks with
GLIBC_TUNABLES=glibc.elision.enable=1 and they are shown as glibc_elision;
the binary reports whether glibc actually elided (without RTM it does not).

Peers are the locks that are not htmgil's: pthread_mutex, ck_spinlock,
ck_elide, ck_elide_rtm and glibc_elision.  A peer without a result (built
without libck-dev, no RTM on this CPU) is printed as absent, with the reason
the binary gives.  Every line shows the variant's ratio to pthread_mutex and
to the best peer present: for pair a ratio of times (lower is better), for
the threaded bodies a ratio of throughputs (higher is better).  Targets, in
whatever mode the run measured (it prints the mode; HTMGIL_HTM=off python3
bench/ratios.py measures the machine without elision):

  pair:    hg_lock time / pthread_mutex time                     <= 1.10
  counter: hg_mutex 2-thread throughput / pthread_mutex's          >= 0.95
  every benchmark: hg_lock against the best of pthread_mutex and its own
           forced tiers hg_lock_off, hg_lock_emu (and hg_lock_rtm)  >= 0.95
           (throughput; for pair the inverse ratio of times)

and in mode rtm also, for the disjoint (percpu) and read-mostly (hash)
bodies at 2 threads:

  hg_lock / pthread_mutex                                          >= 1.5
  hg_lock / the best of ck_elide_rtm and glibc_elision              >= 1.0

Where the binary has it, the run also measures what moving one cache line
between two threads costs (line/atomic_add: two threads adding to one
word), which depends on where the host placed the vCPUs and explains why
2-thread results differ between runs; it is printed with the results.

Exit status: 0 when the run produced every number (targets missed or
not), 1 when benchmarks are missing or failed, and with --check also 1
when a target is missed.
"""

import argparse
import json
import os
import subprocess
import sys

OWN = ("hg_mutex", "hg_lock", "hg_lock_off", "hg_lock_emu", "hg_lock_rtm")
PEERS = ("pthread_mutex", "ck_spinlock", "ck_elide", "ck_elide_rtm", "glibc_elision")
VARIANTS = ("pthread_mutex",) + OWN + PEERS[1:]
# Variants that may be missing; each maps to the context entry that says why.
OPTIONAL = {"hg_lock_rtm": "hg_lock_rtm", "ck_spinlock": "ck_peers", "ck_elide": "ck_peers",
            "ck_elide_rtm": "ck_elide_rtm", "glibc_elision": "glibc_elision"}
FORCED = ("hg_lock_off", "hg_lock_emu", "hg_lock_rtm")
BODIES = ("counter", "percpu", "hash")
FILTER = "^(pair|counter|percpu|hash|line)/"
RTM_TARGET = 1.5
RTM_PEER_TARGET = 1.0
PAIR_TARGET = 1.10
MUTEX_TARGET = 0.95
BEST_TARGET = 0.95
GLIBC_TUNABLE = "glibc.elision.enable=1"


def default_bench():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    for cand in (os.path.join(root, "build", "bin", "htmgil-bench"),
                 os.path.join(here, "htmgil-bench")):
        if os.access(cand, os.X_OK):
            return cand
    return None


def run_bench(path, flt, reps, min_time, env=None):
    cmd = [path, "--benchmark_format=json", "--benchmark_filter=" + flt,
           "--benchmark_min_time=%g" % min_time]
    if reps > 1:
        cmd += ["--benchmark_repetitions=%d" % reps,
                "--benchmark_report_aggregates_only=true",
                # repetitions of all variants interleaved, so that the host's
                # drift between them falls on every variant alike
                "--benchmark_enable_random_interleaving=true"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, universal_newlines=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write("ratios.py: %s exited with %d\n" % (path, proc.returncode))
        sys.exit(1)
    return proc.stdout, json.loads(proc.stdout)


def parse_name(run_name):
    """'counter/hg_lock/real_time/threads:2' -> ('counter', 'hg_lock', 2)."""
    parts = run_name.split("/")
    body, variant, threads = parts[0], parts[1] if len(parts) > 1 else "", 1
    for p in parts[2:]:
        if p.startswith("threads:"):
            threads = int(p[len("threads:"):])
    return body, variant, threads


def collect(doc, rename=None):
    """{(body, variant, threads): benchmark entry}, medians when aggregated."""
    out = {}
    failed = []
    for b in doc.get("benchmarks", []):
        if b.get("error_occurred"):
            failed.append("%s: %s" % (b.get("name"), b.get("error_message")))
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        body, variant, threads = parse_name(b.get("run_name", b["name"]))
        out[(body, rename.get(variant, variant) if rename else variant, threads)] = b
    return out, failed


def ns(b):
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    return b["real_time"] * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", help="htmgil-bench binary (default: build/bin/htmgil-bench)")
    ap.add_argument("--json", help="also keep the raw JSON output in this file "
                    "(and the glibc-elision run in FILE.glibc)")
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

    raw, doc = run_bench(bench, FILTER, args.repetitions, args.min_time)
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = ":".join(t for t in (env.get("GLIBC_TUNABLES"), GLIBC_TUNABLE) if t)
    raw_g, doc_g = run_bench(bench, "^(pair|counter|percpu|hash)/pthread_mutex(/|$)",
                             args.repetitions, args.min_time, env)
    if args.json:
        with open(args.json, "w") as f:
            f.write(raw)
        with open(args.json + ".glibc", "w") as f:
            f.write(raw_g)
    ctx = doc.get("context", {})
    ctx_g = doc_g.get("context", {})
    runs, failed = collect(doc)
    runs_g, failed_g = collect(doc_g, {"pthread_mutex": "glibc_elision"})
    runs.update(runs_g)
    failed += failed_g
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
    print("targets: those of every mode%s" % (", and those of mode rtm" if mode == "rtm" else ""))
    line = [runs.get(("line", "atomic_add", t)) for t in (1, 2)]
    if line[0] and line[1]:
        print("contended line: %.1f ns per transfer (2 threads adding to one word; %.1f ns "
              "per add on 1 thread)" % (1e9 / line[1]["items_per_second"],
                                      1e9 / line[0]["items_per_second"]))
    else:
        print("contended line: not measured (the binary has no line/atomic_add)")
    print("glibc_elision (pthread_mutex run with GLIBC_TUNABLES=%s): %s"
          % (GLIBC_TUNABLE, ctx_g.get("glibc_elision", "unknown (the binary did not say)")))
    for v in ("ck_spinlock", "ck_elide_rtm", "hg_lock_rtm"):
        why = ctx.get(OPTIONAL[v])
        if why and why != "measured" and not why.startswith("ck_spinlock"):
            print("%s: %s" % ("ck peers" if v == "ck_spinlock" else v, why))

    missing = []

    def get(body, variant, threads):
        b = runs.get((body, variant, threads))
        if b is None and variant not in OPTIONAL:
            missing.append("%s/%s threads:%d" % (body, variant, threads))
        return b

    def absent_reason(v):
        ctxv = ctx_g if v == "glibc_elision" else ctx
        why = ctxv.get(OPTIONAL[v], "no result")
        return "absent" + ("" if why.startswith("absent") else " (%s)" % why.split(":")[0])

    # pair: time per pair; lower is better.  Others: throughput; higher is better.
    def value(b, body):
        return ns(b) if body == "pair" else b["items_per_second"]

    def better(body, a, b):
        return a < b if body == "pair" else a > b

    ok = True
    results = {}
    rows = [("pair", 1)] + [(body, t) for body in BODIES for t in (1, 2)]
    for body, threads in rows:
        unit = "ns/pair" if body == "pair" else "Mops/s"
        print("")
        print("%-28s %14s %10s %10s" % ("%s, %d thread(s)" % (body, threads) if body != "pair"
                                         else "uncontended pair", unit, "/pthread", "/best peer"))
        base = get(body, "pthread_mutex", threads)
        vals = {}
        for v in VARIANTS:
            b = get(body, v, threads)
            if b is not None:
                vals[v] = value(b, body)
        peers = [v for v in PEERS if v in vals]
        best = None
        for v in peers:
            if best is None or better(body, vals[v], vals[best]):
                best = v
        for v in VARIANTS:
            name = "%s/%s" % (body, v)
            if v not in vals:
                if v in OPTIONAL:
                    print("%-28s %14s" % (name, absent_reason(v)))
                continue
            x = vals[v]
            shown = x if body == "pair" else x / 1e6
            rb = x / vals["pthread_mutex"] if base is not None else float("nan")
            rp = x / vals[best] if best else float("nan")
            print("%-28s %14.2f %10.3f %10.3f%s" % (name, shown, rb, rp,
                                                   "  (best peer)" if v == best else ""))
        results[(body, threads)] = vals

    print("")

    def report(label, r, target, higher):
        nonlocal ok
        met = r >= target if higher else r <= target
        ok &= met
        print("ratio %s = %.3f (target %s %.2f): %s"
              % (label, r, ">=" if higher else "<=", target, "met" if met else "NOT met"))

    pv = results.get(("pair", 1), {})
    if "hg_lock" in pv and "pthread_mutex" in pv:
        report("pair hg_lock/pthread_mutex", pv["hg_lock"] / pv["pthread_mutex"],
               PAIR_TARGET, False)
    cv = results.get(("counter", 2), {})
    if "hg_mutex" in cv and "pthread_mutex" in cv:
        report("counter 2-thread throughput hg_mutex/pthread_mutex",
               cv["hg_mutex"] / cv["pthread_mutex"], MUTEX_TARGET, True)
    for (body, threads), vals in results.items():
        cands = [v for v in ("pthread_mutex",) + FORCED if v in vals]
        if "hg_lock" not in vals or not cands:
            continue
        if body == "pair":
            ref = min(cands, key=lambda v: vals[v])
            r = vals[ref] / vals["hg_lock"]
        else:
            ref = max(cands, key=lambda v: vals[v])
            r = vals["hg_lock"] / vals[ref]
        report("%s %d-thread hg_lock against the best of pthread_mutex and its forced tiers "
               "(%s)" % (body, threads, ref), r, BEST_TARGET, True)
    if mode == "rtm":
        for body in ("percpu", "hash"):
            vals = results.get((body, 2), {})
            if "hg_lock" in vals and "pthread_mutex" in vals:
                report("%s 2-thread hg_lock/pthread_mutex" % body,
                       vals["hg_lock"] / vals["pthread_mutex"], RTM_TARGET, True)
            els = [v for v in ("ck_elide_rtm", "glibc_elision") if v in vals]
            if "hg_lock" in vals and els:
                ref = max(els, key=lambda v: vals[v])
                report("%s 2-thread hg_lock against the best elision peer (%s)" % (body, ref),
                       vals["hg_lock"] / vals[ref], RTM_PEER_TARGET, True)
    if missing or failed:
        for m in missing:
            sys.stderr.write("ratios.py: no result for %s\n" % m)
        return 1
    if args.check and not ok:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
