#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/gil_scaling.py does the work it times.

usage: test_gil_scaling.py SCRIPT PYTHON [PRELOAD HTMGIL]

Child mode: every workload, on PYTHON, at --scale 0.01, prints one line in
the documented format; at 2 and 3 threads it does as many units as at 1 and
gives the same checksum (the same total work, split), and so it does at 2
threads with the preload loaded when PRELOAD is given.  Table mode (with PRELOAD): one round
of the whole table on PYTHON writes a JSON file with every workload's row
and every cell measured.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

WORKLOADS = ["arith", "alloc", "shared_read", "shared_call", "json", "regex", "sort"]
LINE = re.compile(r"^gil_scaling one=(\w+) threads=(\d+) scale=(\S+) units=(\d+) "
                  r"wall_s=(\d+\.\d+) cpu_s=(\d+\.\d+) checksum=(-?\d+)$", re.M)

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def child(script, py, w, threads, env):
    cmd = [py, script, "--one", w, "--threads", str(threads), "--scale", "0.01"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    m = LINE.search(p.stdout)
    if p.returncode != 0 or not m:
        fail("%s: exit %d, no result line: %r %r" % (" ".join(cmd), p.returncode,
                                                     p.stdout, p.stderr))
        return None
    name, th, _, units, wall, cpu, checksum = m.groups()
    if name != w or int(th) != threads:
        fail("%s printed workload %s at %s threads" % (" ".join(cmd), name, th))
    if not float(wall) > 0:
        fail("%s: wall_s %s is not positive" % (" ".join(cmd), wall))
    return int(units), int(checksum)


def main():
    if len(sys.argv) not in (3, 5):
        sys.exit("usage: test_gil_scaling.py SCRIPT PYTHON [PRELOAD HTMGIL]")
    script, py = sys.argv[1], sys.argv[2]
    preload = sys.argv[3] if len(sys.argv) == 5 else None
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("HTMGIL_") and k != "LD_PRELOAD"}
    for w in WORKLOADS:
        one = child(script, py, w, 1, base)
        two = child(script, py, w, 2, base)
        # 3 threads: a split that drops the remainder of units / threads shows.
        runs = [("2 threads", two), ("3 threads", child(script, py, w, 3, base))]
        if preload:
            runs.append(("2 threads, preloaded", child(script, py, w, 2,
                                                      dict(base, LD_PRELOAD=preload))))
        if one is None:
            continue
        n = len(failures)
        if one[0] < 2 or one[1] == 0:
            fail("%s at 1 thread: %d units, checksum %d: no work done" % (w, one[0], one[1]))
        for what, r in runs:
            if r is not None and r != one:
                fail("%s: %s did %d units with checksum %d, 1 thread %d with %d"
                     % (w, what, r[0], r[1], one[0], one[1]))
        if len(failures) == n:
            print("%s: %d units, checksum %d at 1, 2 and 3 threads" % (w, one[0], one[1]))

    if preload:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "t.json")
            cmd = [sys.executable, script, "--python", py, "--rounds", "1",
                   "--scale", "0.01", "--preload", preload, "--htmgil", sys.argv[4],
                   "--json", out]
            p = subprocess.run(cmd, env=base, capture_output=True, text=True, timeout=300)
            print(p.stdout)
            if p.returncode != 0 or not os.path.exists(out):
                fail("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
            else:
                with open(out) as f:
                    doc = json.load(f)
                got = sorted(r["workload"] for r in doc["rows"])
                if got != sorted(WORKLOADS):
                    fail("table rows %s, expected %s" % (got, sorted(WORKLOADS)))
                for r in doc["rows"]:
                    for c in ("1-", "1+", "2-", "2+"):
                        cell = r["cells"].get(c)
                        if not cell or not cell["wall_s"]["median"] > 0:
                            fail("%s: cell %s has no wall time" % (r["workload"], c))
                    if not r.get("scaling") or not r.get("never_slower"):
                        fail("%s: ratios missing" % r["workload"])
                if len(doc["runs"]) != 4 * len(WORKLOADS):
                    fail("%d runs in the JSON, expected %d" % (len(doc["runs"]),
                                                               4 * len(WORKLOADS)))
                for w in WORKLOADS:
                    if not re.search(r"^\| %s +\| " % w, p.stdout, re.M):
                        fail("no table row for %s" % w)
    if failures:
        print("%d failures" % len(failures))
        return 1
    print("gil_scaling: all workloads checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
