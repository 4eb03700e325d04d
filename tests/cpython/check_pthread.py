#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Pthread mode: tests/cpython/pthread_prog.c must print the same line with
and without the preload (HTMGIL_TARGET=pthread, emulated HTM with injected
aborts), and the report must show its default mutexes elided (emulated
commits on the pthread_mutex lock) while the process stays silent.

usage: check_pthread.py PROG PRELOAD WORKDIR
"""
import json
import os
import subprocess
import sys


def main():
    prog, preload, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    args = [prog, "4", "20000"]
    base = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if base.returncode != 0:
        print("FAIL: the program fails on its own: %s" % base.stderr.decode())
        return 1
    for seed in (1, 2):
        report = os.path.join(work, "pthread-%d.json" % seed)
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(preload), HTMGIL_TARGET="pthread",
                   HTMGIL_HTM="emu", HTMGIL_REPORT=report,
                   HTMGIL_EMU="conflict=0.3,capacity=0.05,other=0.02,seed=%d" % seed)
        p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=300)
        if p.returncode != 0 or p.stdout != base.stdout or p.stderr:
            print("FAIL (seed %d): rc=%d\nwithout: %s\nwith:    %s\nstderr: %s" % (
                seed, p.returncode, base.stdout.decode(), p.stdout.decode(), p.stderr.decode()))
            return 1
        r = json.load(open(report))
        locks = [l for l in r["locks"] if l["name"] == "pthread_mutex"]
        if not locks:
            print("FAIL: no pthread_mutex lock in the report")
            return 1
        htm = sum(s["commits"]["emu"] for s in locks[0]["sites"])
        if any(s["commits"]["htm"] for s in locks[0]["sites"]) or not r.get("emulated"):
            print("FAIL: emulated sections counted as RTM, or not marked emulated")
            return 1
        aborts = sum(sum(s["aborts"].values()) for s in locks[0]["sites"])
        if htm == 0 or aborts == 0:
            print("FAIL: expected emulated commits and injected aborts, got %d and %d" % (htm, aborts))
            return 1
        print("ok seed %d: %s (%d emulated commits, %d aborts over %d call sites)" % (
            seed, p.stdout.decode().strip(), htm, aborts, len(locks[0]["sites"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
