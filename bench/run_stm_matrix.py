#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the STM benchmark matrix (bench/bench_stm.cc) and writes its section of
docs/results.md (between the stm-matrix markers; the rest of the file is kept).

One matrix run = one run of htmgil-bench for the htmgil tiers and the
pthread_mutex baseline, plus one run per libitm method (ITM_DEFAULT_METHOD
is read once by libitm at start-up, so each method needs its own process).
The table gives sections per second (all threads) and the ratios the STM
tier is judged by, all from this one matrix run.

The machines this runs on are shared and noisy: a slow spell of a second
or more lands on whichever benchmarks run then, and a ratio between two
cells measured far apart in time measures the noise.  So the matrix is
measured in rounds, and within a round row by row (one workload at one
thread count, rows in random order): a row is one htmgil-bench process for
the htmgil tiers and pthread_mutex (its benchmarks in random order) and one
process per libitm method, these four processes also in random order, so
the cells of a row are measured within a few seconds of each other.  Each
cell of the table is its median over the rounds; each target ratio is the
median over the rounds of the ratio measured within one round's row.

usage: bench/run_stm_matrix.py [--bench PATH] [--min-time S] [--rounds N]
                               [--out FILE]
"""
import argparse
import datetime
import json
import os
import random
import platform
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITM_METHODS = ["ml_wt", "gl_wt", "serialirr"]
TIERS = ["lock", "stm", "emu"]
COLUMNS = TIERS + ["adaptive", "mutex"] + ["itm-" + m for m in ITM_METHODS]
WORKLOADS = ["bank", "bank-audit", "list-0", "list-20", "list-50",
             "hash-0", "hash-20", "hash-50", "skip-0", "skip-20", "skip-50"]


def run_bench(bench, flt, min_time, env_extra):
    """One process: the benchmarks matching flt, once each, in random order."""
    env = dict(os.environ)
    env.update(env_extra)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    try:
        cmd = [bench, "--benchmark_filter=" + flt,
               "--benchmark_min_time=%g" % min_time,
               "--benchmark_out=" + out, "--benchmark_out_format=json",
               "--benchmark_enable_random_interleaving=true"]
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            sys.exit("benchmark run failed: %s" % " ".join(cmd))
        with open(out) as f:
            data = json.load(f)
    finally:
        os.unlink(out)
    res = {}
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            sys.exit("benchmark %s reported: %s" % (b["name"], b.get("error_message")))
        name = re.sub(r"/real_time.*$", "", b["name"])
        res[name] = b["items_per_second"]
    return res


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def machine():
    model = sh("lscpu | sed -n 's/^Model name: *//p' | head -n 1") or platform.processor()
    cpus = os.cpu_count()
    mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
    osname = sh(". /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\"")
    cc = sh("cc --version | head -n 1")
    rtm = "yes" if " rtm " in (" " + sh("grep -m1 '^flags' /proc/cpuinfo") + " ") else "no"
    return model, cpus, mem, osname, platform.release(), cc, rtm


def fmt(x):
    return "%.2f" % (x / 1e6) if x else "-"


BEGIN = "<!-- stm-matrix: written by bench/run_stm_matrix.py -->"
END = "<!-- stm-matrix end -->"


def write_section(path, block):
    """Replaces the block between BEGIN and END in path (appends it if absent)."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = "<!-- SPDX-License-Identifier: MIT -->\n# Benchmark results\n\n"
    i, j = old.find(BEGIN), old.find(END)
    if i >= 0 and j > i:
        new = old[:i] + block + "\n" + old[j + len(END):].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(new)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bin", "htmgil-bench"))
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds of the whole matrix; the table shows each cell's median")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "results.md"))
    a = ap.parse_args()
    if not os.access(a.bench, os.X_OK):
        sys.exit("%s is not built: configure with -DHTMGIL_BUILD_BENCH=ON and build "
                 "htmgil-bench, or pass --bench PATH" % a.bench)

    load0 = os.getloadavg()
    start = datetime.datetime.now(datetime.timezone.utc)
    rows = [(w, t) for w in WORKLOADS for t in (1, 2)]
    # rounds[i]["w/Nt/variant"]: items per second in round i
    rounds = []
    for _ in range(a.rounds):
        got = {}
        random.shuffle(rows)
        for w, t in rows:
            # Names are [a-z0-9-]; the filter is benchmark's regex, not Python's.
            row = "^%s/%dt/" % (w, t)
            procs = [None] + ITM_METHODS
            random.shuffle(procs)
            for m in procs:
                if m is None:
                    r = run_bench(a.bench, row + "(lock|stm|emu|htm|adaptive|mutex)/",
                                  a.min_time, {})
                    got.update(r)
                else:
                    r = run_bench(a.bench, row + "itm/", a.min_time,
                                  {"ITM_DEFAULT_METHOD": m})
                    for k, v in r.items():
                        got[k.replace("/itm", "/itm-" + m)] = v
        rounds.append(got)
    res = {k: statistics.median(r[k] for r in rounds if k in r)
           for k in set().union(*rounds)}
    load1 = os.getloadavg()

    def get(w, t, v):
        return res.get("%s/%dt/%s" % (w, t, v))

    # The forced RTM tier exists only where htmgil-bench found RTM usable.
    have_htm = any(k.endswith("/htm") for k in res)
    tiers = TIERS + (["htm"] if have_htm else [])
    columns = tiers + COLUMNS[len(TIERS):]

    def round_ratios(w, t, num, dens):
        """num / (best of dens), within each round's row, for every round."""
        out = []
        for r in rounds:
            n = r.get("%s/%dt/%s" % (w, t, num))
            d = max((r.get("%s/%dt/%s" % (w, t, c)) or 0) for c in dens)
            if n and d:
                out.append(n / d)
        return out

    model, cpus, mem, osname, kernel, cc, rtm = machine()
    lines = []
    lines.append(BEGIN)
    lines.append("## hg_run tiers, pthread_mutex and libitm")
    lines.append("")
    lines.append("Written by `bench/run_stm_matrix.py` from one matrix run of the STM "
                 "benchmarks of `htmgil-bench` (bench/bench_stm.cc).")
    lines.append("")
    lines.append("### Machine")
    lines.append("")
    lines.append("- CPU: %s, %d logical CPUs, RTM: %s (the `emu` column is emulated HTM%s)"
                 % (model, cpus, rtm, ", `htm` real RTM" if have_htm else ""))
    lines.append("- Memory: %s; OS: %s, kernel %s" % (mem, osname, kernel))
    lines.append("- Compiler: %s; libitm from the same GCC" % cc)
    lines.append("- Run: %s UTC, %d rounds of the whole matrix (every benchmark once per round, "
                 "at least %.2f s each; within a round, row by row in random order, each row's "
                 "benchmarks in random order); each cell is the median over the rounds; "
                 "load average %.2f before, %.2f after"
                 % (start.strftime("%Y-%m-%d %H:%M"), a.rounds, a.min_time, load0[0], load1[0]))
    lines.append("  (a load above the core count means other processes shared the CPUs, "
                 "which mostly distorts the 2-thread rows)")
    lines.append("")
    lines.append("### Throughput, million sections per second (all threads)")
    lines.append("")
    lines.append("Workloads: bank = one transfer between two of 1024 accounts; bank-audit = "
                 "the same with 20 % read-all audits; list/hash/skip = integer set of 256 keys "
                 "in 1..512 (sorted linked list, 128-bucket chained hash set, skip list) with "
                 "the given % of updates.  Tiers: hg_run forced to the lock, the STM, "
                 "emulated HTM (emu) or, where RTM is usable, RTM (htm); adaptive = hg_run's policy; mutex = pthread_mutex around the "
                 "same bodies; itm = GCC libitm with ITM_DEFAULT_METHOD pinned.")
    lines.append("")
    lines.append("| workload | threads | " + " | ".join(columns) + " |")
    lines.append("|---|---|" + "---|" * len(columns))
    for w in WORKLOADS:
        for t in (1, 2):
            row = [fmt(get(w, t, c)) for c in columns]
            lines.append("| %s | %d | %s |" % (w, t, " | ".join(row)))
    lines.append("")
    lines.append("### Targets, as ratios from this run")
    lines.append("")
    lines.append("Each ratio is the median over the rounds of the ratio within one round's row "
                 "(its cells measured seconds apart), so it can differ from the ratio of the "
                 "table's medians; `best forced` is the fastest of the forced tiers in that "
                 "round, `best of forced and mutex` the fastest of those and pthread_mutex "
                 "around the same body, and the column named is the one fastest in the table.  The range is the "
                 "lowest and highest per-round ratio.")
    lines.append("")
    lines.append("| target | measured | range | goal | met |")
    lines.append("|---|---|---|---|---|")

    def target(label, w, t, num, dens, goal):
        per = round_ratios(w, t, num, dens)
        r = statistics.median(per) if per else None
        span = "%.2f-%.2f" % (min(per), max(per)) if per else "-"
        met = "yes" if r is not None and r >= goal else "no"
        lines.append("| %s | %s | %s | >= %.2f | %s |"
                     % (label, "%.2f" % r if r else "-", span, goal, met))

    target("bank 1t: STM / libitm ml_wt", "bank", 1, "stm", ["itm-ml_wt"], 2.0)
    target("bank 2t: STM / libitm ml_wt", "bank", 2, "stm", ["itm-ml_wt"], 2.0)
    target("list-0 2t: STM / lock tier", "list-0", 2, "stm", ["lock"], 1.5)
    target("list-20 2t: STM / lock tier", "list-20", 2, "stm", ["lock"], 1.1)
    if have_htm:
        # Across two rows of one round: the hardware tier's 2-thread scaling.
        per = [r["bank/2t/htm"] / r["bank/1t/htm"] for r in rounds
               if r.get("bank/2t/htm") and r.get("bank/1t/htm")]
        if per:
            m = statistics.median(per)
            lines.append("| bank: htm 2t / htm 1t | %.2f | %.2f-%.2f | >= 1.30 | %s |"
                         % (m, min(per), max(per), "yes" if m >= 1.3 else "no"))
    for w in WORKLOADS:
        for t in (1, 2):
            which = max(tiers, key=lambda c: get(w, t, c) or 0)
            target("%s %dt: adaptive / best forced (%s)" % (w, t, which),
                   w, t, "adaptive", tiers, 0.9)
    for w in WORKLOADS:
        for t in (1, 2):
            which = max(tiers + ["mutex"], key=lambda c: get(w, t, c) or 0)
            target("%s %dt: adaptive / best of forced and mutex (%s)" % (w, t, which),
                   w, t, "adaptive", tiers + ["mutex"], 0.9)
    lines.append(END)
    write_section(a.out, "\n".join(lines) + "\n")
    print("wrote %s" % os.path.relpath(a.out, ROOT))
    missing = ["%s/%dt/%s" % (w, t, c) for w in WORKLOADS for t in (1, 2)
               for c in columns if not get(w, t, c)]
    if missing:
        sys.exit("run_stm_matrix.py: no result for %d cells (%s): is %s the "
                 "htmgil-bench of this tree, built with libitm?"
                 % (len(missing), ", ".join(missing[:4]), a.bench))


if __name__ == "__main__":
    main()
