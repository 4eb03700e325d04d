#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Overhead of the GIL preload when it cannot speculate (auto mode on a
machine without RTM): runs tests/cpython/prog.py with and without
LD_PRELOAD, interleaved, and prints the ratio of medians per thread count.

usage: gil_overhead.py --preload LIB [--python PY] [--runs N] [--work N]
                       [--threads 1,2] [--mode auto]

The interpreter defaults to pyenv's 3.12 (found through PYENV_ROOT, `pyenv
root` or ~/.pyenv), else python3.12 on PATH.  Nothing is asserted here:
the figures are for the reader (docs/gil.md records the latest ones).
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROG = os.path.join(HERE, "..", "tests", "cpython", "prog.py")


def find_python(ver):
    """The newest pyenv build of ver (gil_scaling.py's search roots), else PATH's."""
    sys.path.insert(0, HERE)
    from gil_scaling import pyenv_roots
    for r in pyenv_roots():
        for d in sorted(glob.glob(os.path.join(r, "versions", ver + ".*")), reverse=True):
            exe = os.path.join(d, "bin", "python" + ver)
            if os.path.exists(exe):
                return exe
    return shutil.which("python" + ver)


def once(py, threads, work, env):
    t0 = time.perf_counter()
    p = subprocess.run([py, PROG, str(threads), str(work)], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0 or p.stderr:
        sys.exit("run failed: rc=%d %s" % (p.returncode, p.stderr.decode()))
    return dt, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preload", required=True)
    ap.add_argument("--python")
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--work", type=int, default=600000)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--mode", default="auto", help="HTMGIL_HTM under the preload")
    a = ap.parse_args()
    py = a.python or find_python("3.12")
    if not py:
        sys.exit("no python3.12 found; pass --python")
    preload = os.path.abspath(a.preload)
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("HTMGIL_") and k != "LD_PRELOAD"}
    pre_env = dict(base_env, LD_PRELOAD=preload, HTMGIL_HTM=a.mode)
    print("python %s, preload %s, HTMGIL_HTM=%s, %d runs each, work %d" % (
        py, os.path.basename(preload), a.mode, a.runs, a.work))
    print("%-8s %12s %12s %8s" % ("threads", "base med s", "preload med s", "ratio"))
    for th in [int(x) for x in a.threads.split(",")]:
        once(py, th, a.work, base_env)  # warm the page cache
        base, pre = [], []
        for _ in range(a.runs):
            dt, out_b = once(py, th, a.work, base_env)
            base.append(dt)
            dt, out_p = once(py, th, a.work, pre_env)
            pre.append(dt)
            if out_b != out_p:
                sys.exit("different output with the preload: %r vs %r" % (out_b, out_p))
        mb, mp = statistics.median(base), statistics.median(pre)
        print("%-8d %12.3f %12.3f %8.3f" % (th, mb, mp, mp / mb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
