#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Pthread mode on real RTM (run through rtm_gate.sh, label rtm):
tests/cpython/pthread_prog.c under the preload with HTMGIL_TARGET=pthread
and HTMGIL_HTM=rtm must print what it prints alone, with nothing on stderr
(in every run), and its report must show, in one of up to three runs,
mutex sections committed in hardware and the
condition-variable waits of sections that ran in hardware counted under
their own explicit code ("syscall", XABORT 0xfb from the wait path), with
no code counted as "unknown".

usage: check_pthread_rtm.py PROG PRELOAD WORKDIR
"""
import json
import os
import subprocess
import sys

RUNS = 3


def main():
    prog, preload, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    args = [prog, "4", "20000"]
    env = dict((k, v) for k, v in os.environ.items()
               if not k.startswith("HTMGIL_") and k != "LD_PRELOAD")
    base = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120)
    if base.returncode != 0:
        print("FAIL: the program fails on its own: %s" % base.stderr.decode())
        return 1
    report = os.path.join(os.path.abspath(work), "pthread-rtm.json")
    env.update(LD_PRELOAD=os.path.abspath(preload), HTMGIL_TARGET="pthread", HTMGIL_HTM="rtm",
               HTMGIL_REPORT=report)
    # A run with no hardware commit is repeated up to RUNS times: on a
    # shared host the CPU can abort every transaction for a while (all
    # status 0), which says nothing about the preload.  Every run must give
    # the program's own output; one of them must commit in hardware.
    for attempt in range(1, RUNS + 1):
        p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=300)
        if p.returncode != 0 or p.stdout != base.stdout or p.stderr:
            print("FAIL: rc=%d\nwithout: %s\nwith:    %s\nstderr: %s" % (
                p.returncode, base.stdout.decode(), p.stdout.decode(), p.stderr.decode()))
            return 1
        r = json.load(open(report))
        locks = [l for l in r["locks"] if l["name"] == "pthread_mutex"]
        if not locks:
            print("FAIL: no pthread_mutex lock in the report")
            return 1
        sites = locks[0]["sites"]
        htm = sum(s["commits"]["htm"] for s in sites)
        other = sum(s["aborts"]["other"] for s in sites)
        codes = {}
        for s in sites:
            for k, v in s.get("explicit_codes", {}).items():
                codes[k] = codes.get(k, 0) + v
        print("run %d: %s; commits htm %d over %d call sites; status-0 aborts %d; "
              "explicit codes %s" % (attempt, p.stdout.decode().strip(), htm, len(sites), other,
                                     codes))
        if htm > 0:
            break
    if htm == 0:
        print("FAIL: no mutex section committed in hardware in %d runs" % RUNS)
        return 1
    if codes.get("syscall", 0) == 0:
        print("FAIL: no wait counted under the syscall code")
        return 1
    if codes.get("unknown", 0):
        print("FAIL: explicit codes counted as unknown")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
