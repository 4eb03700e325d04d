#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""HTMGIL_PYALLOC (docs/gil.md, "The object allocator") on
tests/cpython/pyalloc_prog.py, whose output without the preload is the
reference for every run:

  - HTMGIL_PYALLOC=mimalloc under HTMGIL_HTM=emu: the report's GIL section
    names mimalloc, which served blocks on both worker threads, and blocks
    made before the switch went back through CPython's previous allocator
    (old_frees > 0, and the early list's growth reallocated through it);
  - HTMGIL_PYALLOC=off (emu) and HTMGIL_HTM=off (with =mimalloc): nothing is
    installed, the report says why and counts nothing;
  - auto under emu, and in simulation mode (HTMGIL_SIM=1), installs
    nothing (only mode rtm); =mimalloc in simulation mode does;
  - a bad value: one line naming it and the accepted values, auto kept.

Exit 77 when the preload was built without mimalloc (libmimalloc-dev).

usage: check_pyalloc.py PYTHON PRELOAD PROG WORKDIR
"""
import json
import os
import subprocess
import sys

N = "30000"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(py, prog, env_extra):
    env = dict(os.environ)
    for k in ("HTMGIL_EMU", "HTMGIL_PYALLOC", "HTMGIL_SIM", "HTMGIL_HTM", "LD_PRELOAD"):
        env.pop(k, None)
    env.update(env_extra)
    p = subprocess.run([py, prog, N], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    if p.returncode != 0:
        fail("pyalloc_prog.py failed (%s): rc=%s %s %s"
             % (env_extra, p.returncode, p.stdout.decode(), p.stderr.decode()))
    return p.stdout.decode(), p.stderr.decode()


def main():
    py, preload, prog, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    want, _ = run(py, prog, {})
    if "result=" not in want:
        fail("no result without the preload: %r" % want)

    def alloc_run(tag, expect_stderr=None, **env_extra):
        report = os.path.join(work, "%s.json" % tag)
        if os.path.exists(report):
            os.remove(report)
        env = dict(LD_PRELOAD=preload, HTMGIL_REPORT=report, HTMGIL_HTM="emu")
        env.update(env_extra)
        out, err = run(py, prog, env)
        if out != want:
            fail("%s: output %r differs from %r without the preload" % (tag, out, want))
        lines = [l for l in err.splitlines() if l.strip()]
        if expect_stderr is None:
            if lines:
                fail("%s: unexpected stderr: %s" % (tag, err))
        elif len(lines) != 1 or not all(s in lines[0] for s in expect_stderr):
            fail("%s: expected one line naming %s, got %r" % (tag, expect_stderr, err))
        a = json.load(open(report))["gil"].get("object_allocator")
        if a is None:
            fail("%s: the report's GIL section has no object_allocator" % tag)
        return a

    probe = os.path.join(work, "probe.json")
    run(py, prog, dict(LD_PRELOAD=preload, HTMGIL_REPORT=probe, HTMGIL_HTM="emu",
                       HTMGIL_PYALLOC="mimalloc"))
    if "built without mimalloc" in json.load(open(probe))["gil"]["object_allocator"]["why"]:
        print("SKIP: the preload was built without mimalloc (libmimalloc-dev)")
        sys.exit(77)
    a = alloc_run("mimalloc", HTMGIL_PYALLOC="mimalloc")
    if a["allocator"] != "mimalloc":
        fail("HTMGIL_PYALLOC=mimalloc under emu installed nothing: %s" % a)
    if a["mimalloc_threads"] < 2 or a["mimalloc_blocks"] < 2 * int(N):
        fail("mimalloc did not serve both worker threads: %s" % a)
    if a["old_frees"] <= 0 or a["old_reallocs"] <= 0:
        fail("blocks made before the switch did not go back to CPython's allocator: %s" % a)
    if a["mimalloc_frees"] <= 0 or a["mimalloc_frees"] > a["mimalloc_blocks"]:
        fail("mimalloc frees out of range: %s" % a)
    print("mimalloc: %s" % a)

    def installs_nothing(tag, why, expect_stderr=None, **env_extra):
        a = alloc_run(tag, expect_stderr, **env_extra)
        if a["allocator"] != "cpython" or why not in a["why"]:
            fail("%s: expected CPython's allocator (%s): %s" % (tag, why, a))
        counts = [a[k] for k in ("mimalloc_blocks", "mimalloc_threads", "mimalloc_frees",
                                 "old_frees", "old_reallocs")]
        if any(counts):
            fail("%s: counted allocator traffic though nothing was installed: %s" % (tag, a))
        print("%s: %s" % (tag, a["why"]))

    installs_nothing("off", "HTMGIL_PYALLOC=off", HTMGIL_PYALLOC="off")
    installs_nothing("mode_off", "mode off", HTMGIL_PYALLOC="mimalloc", HTMGIL_HTM="off")
    installs_nothing("auto_emu", "auto:")
    installs_nothing("auto_sim", "HTMGIL_PYALLOC=mimalloc simulates", HTMGIL_SIM="1")
    a = alloc_run("mimalloc_sim", HTMGIL_PYALLOC="mimalloc", HTMGIL_SIM="1")
    if a["allocator"] != "mimalloc" or a["mimalloc_threads"] < 2:
        fail("HTMGIL_PYALLOC=mimalloc in simulation mode installed nothing: %s" % a)
    installs_nothing("bad", "auto:", ["HTMGIL_PYALLOC=bogus", "auto", "mimalloc", "off"],
                     HTMGIL_PYALLOC="bogus")
    print("ok")


main()
