#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare two htmgil-bench builds side by side: for each benchmark, the
median over rounds of the ratio new/old measured back to back.

Each round runs every selected benchmark once with each binary, in random
order per benchmark, so the two sides of a ratio are seconds apart and a
noisy spell on a shared machine hits both.  Throughput benchmarks (items
per second) give new/old > 1 when the new build is faster; time-per-
iteration benchmarks are inverted so that the same holds.

usage: bench/ab.py OLD_BENCH NEW_BENCH [--filter REGEX] [--rounds N]
                   [--min-time S] [--slower PCT]
Exits 1 when a benchmark's median ratio is below 1 - PCT/100 (default 5).
"""
import argparse
import json
import random
import statistics
import subprocess
import sys


def exact(name):
    """A filter matching exactly name (the benchmark's regex engine rejects
    escapes of characters that are not special, such as '/')."""
    return "^" + "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in name) + "$"


def run_one(bench, name, min_time):
    p = subprocess.run(
        [bench, "--benchmark_filter=" + exact(name),
         "--benchmark_format=json", "--benchmark_min_time=%g" % min_time],
        capture_output=True, text=True)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        raise SystemExit("ab.py: %s gave no JSON for %s (exit %d): %s"
                         % (bench, name, p.returncode, p.stderr.strip()[:200]))
    rows = [b for b in doc["benchmarks"] if b.get("run_type") != "aggregate"]
    if not rows:
        raise SystemExit("ab.py: %s: no result for %s" % (bench, name))
    b = rows[0]
    if "items_per_second" in b:
        return b["items_per_second"], True
    return b["real_time"], False


def names(bench, flt):
    out = subprocess.run([bench, "--benchmark_list_tests", "--benchmark_filter=" + flt],
                         check=True, capture_output=True, text=True).stdout
    return [n for n in out.split("\n") if n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--filter", default=".", help="benchmark name regex (default: all)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--slower", type=float, default=5.0,
                    help="percent: a median ratio below 1 - PCT/100 fails (default 5)")
    a = ap.parse_args()
    if a.rounds < 1 or a.min_time <= 0:
        print("ab.py: --rounds must be >= 1 and --min-time > 0", file=sys.stderr)
        return 2
    old_names, new_names = names(a.old, a.filter), names(a.new, a.filter)
    common = [n for n in old_names if n in set(new_names)]
    if not common:
        print("ab.py: no benchmark matches %r in both builds" % a.filter, file=sys.stderr)
        return 2
    ratios = {n: [] for n in common}
    for _ in range(a.rounds):
        order = common[:]
        random.shuffle(order)
        for n in order:
            sides = [("old", a.old), ("new", a.new)]
            random.shuffle(sides)
            got = {}
            for tag, b in sides:
                got[tag] = run_one(b, n, a.min_time)
            (vo, thr), (vn, _) = got["old"], got["new"]
            ratios[n].append(vn / vo if thr else vo / vn)
    worst = []
    print("| benchmark | new/old (median) | range | |")
    print("|---|---|---|---|")
    for n in common:
        r = ratios[n]
        m = statistics.median(r)
        flag = "slower" if m < 1 - a.slower / 100 else ""
        if flag:
            worst.append(n)
        print("| %s | %.3f | %.3f-%.3f | %s |" % (n, m, min(r), max(r), flag))
    print("%d benchmarks, %d rounds; %d with a median more than %g %% slower%s"
          % (len(common), a.rounds, len(worst), a.slower,
             (": " + ", ".join(worst)) if worst else ""))
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
