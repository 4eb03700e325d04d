#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The GIL front end on real RTM (run through rtm_gate.sh, label rtm).

Runs tests/cpython/prog.py with 2 threads under the preload with
HTMGIL_HTM=rtm and checks: the same checksum as without the preload, no
line from htmgil, and a JSON report whose GIL section is active with
sections_htm > 0 (GIL sections committed as hardware transactions).

usage: check_gil_rtm.py PYTHON PRELOAD PROG WORKDIR
"""
import json
import os
import subprocess
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    py, preload, prog, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    report = os.path.join(os.path.abspath(work), "gil-rtm.json")
    args = [py, os.path.abspath(prog), "2", "300000"]
    env = dict((k, v) for k, v in os.environ.items()
               if not k.startswith("HTMGIL_") and k != "LD_PRELOAD")
    base = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=300)
    if base.returncode != 0 or b"checksum=" not in base.stdout:
        fail("prog.py fails on its own: rc=%s %s" % (base.returncode, base.stderr.decode()))
    env.update(LD_PRELOAD=os.path.abspath(preload), HTMGIL_HTM="rtm", HTMGIL_REPORT=report)
    p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if p.returncode != 0 or p.stdout != base.stdout:
        fail("rc=%s, output %r, without the preload %r; stderr %s" % (
            p.returncode, p.stdout.decode(), base.stdout.decode(), p.stderr.decode()))
    if b"htmgil:" in p.stderr:
        fail("htmgil said: %s" % p.stderr.decode().strip())
    try:
        with open(report) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        fail("no readable report (%s)" % e)
    g = r.get("gil") or {}
    if not g.get("active"):
        fail("the GIL front end is not active: %s" % g)
    if g.get("mode") != "rtm":
        fail("the report's mode is %r, not rtm" % g.get("mode"))
    htm, lock = g.get("sections_htm", 0), g.get("sections_lock", 0)
    print("%s: %s; GIL sections htm %d lock %d, takes %d" % (
        py, p.stdout.decode().strip(), htm, lock, g.get("takes", 0)))
    if htm == 0:
        fail("no GIL section committed in hardware")
    return 0


if __name__ == "__main__":
    sys.exit(main())
