#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Which processes of a run write a report, and under which name
(docs/report.md, "One report per process"):

  - a wrapper shell around Python: one report, named as given, the Python
    process's (pid, command line), with emulated sections;
  - a child that outlives its parent: two reports, the top process keeps
    the name, the child's is NAME.PID.EXT, each with its own pid and ppid;
  - a child that exits first: the same two names (the top takes the name over);
  - os.fork() without exec: the child's report is separate and holds only
    what the child ran (its parent pid, fork_children 1);
  - `-- ls`: no report at all;
  - a relative name: resolved against the directory the run started in;
  - %p in the name: the pid;
  - an `off` run: a report that does not say sections were emulated.

usage: check_report_files.py HTMGIL PYTHON PRELOAD PROG WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys
import time

EMU = "conflict=0.1,seed=3"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def fresh(work, name):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def run(cmd, cwd=None, env=None, timeout=300):
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if p.returncode != 0:
        fail("%s: rc=%d\n%s\n%s" % (cmd, p.returncode, p.stdout.decode(), p.stderr.decode()))
    return p.stdout.decode()


def reports(d):
    return sorted(f for f in os.listdir(d) if not f.endswith(".tmp"))


def load(d, name):
    return json.load(open(os.path.join(d, name)))


def gil_acq(r):
    return sum(s["acquisitions"] for l in r["locks"] if l["name"] == "gil" for s in l["sites"])


def expect_files(d, want, what):
    got = reports(d)
    if got != sorted(want):
        fail("%s: reports %s, expected %s" % (what, got, sorted(want)))


def wait_for(path, what, timeout=120):
    t0 = time.time()
    while not os.path.exists(path):
        if time.time() - t0 > timeout:
            fail("%s: %s never appeared" % (what, path))
        time.sleep(0.1)


def main():
    htmgil, py, preload, prog, work = sys.argv[1:6]
    preload, prog, htmgil = map(os.path.abspath, (preload, prog, htmgil))
    os.makedirs(work, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTMGIL_") and k != "LD_PRELOAD"}
    env["HTMGIL_PRELOAD"] = preload
    hrun = [htmgil, "run", "--htm", "emu", "--emu", EMU]
    work_py = [py, prog, "2", "20000"]

    # A wrapper shell: only the Python process elides, and it gets the name.
    d = fresh(work, "wrapper")
    w = os.path.join(d, "w.json")
    out = run(hrun + ["--report", w, "--", "sh", "-c",
                      "'%s' '%s' 2 20000; echo done" % (py, prog)], env=env)
    if "done" not in out:
        fail("the wrapper shell did not finish: %r" % out)
    expect_files(d, ["w.json"], "wrapper shell")
    r = load(d, "w.json")
    cmd = r.get("process", {}).get("cmdline", [])
    if "gil" not in r or prog not in cmd or "sh" in os.path.basename(cmd[0]):
        fail("wrapper shell: w.json is not the Python process's report: %r" % r["process"])
    if gil_acq(r) == 0 or r["gil"]["sections_emu"] == 0 or not r["emulated"]:
        fail("wrapper shell: no emulated sections in w.json: %r" % r["gil"])
    print("ok wrapper shell: one report, python pid %d, %d GIL sections"
          % (r["process"]["pid"], gil_acq(r)))

    # A child that outlives its parent, and one that exits first.
    parent = ("import subprocess, sys, threading\n"
              "py, prog, delay = sys.argv[1:4]\n"
              "code = ('import time, sys, runpy; time.sleep(float(sys.argv[1])); '\n"
              "        'sys.argv = [sys.argv[2], \"2\", \"5000\"]; runpy.run_path(sys.argv[0])[\"main\"]()')\n"
              "p = subprocess.Popen([py, '-c', code, delay, prog], stdout=subprocess.DEVNULL)\n"
              "print(p.pid, flush=True)\n"
              "if delay == '0': p.wait()\n"
              "ts = [threading.Thread(target=sum, args=(range(200000),)) for _ in range(2)]\n"
              "[t.start() for t in ts]; [t.join() for t in ts]\n")
    for delay, what in (("2", "long-lived child"), ("0", "child exiting first")):
        d = fresh(work, "child" + delay)
        w = os.path.join(d, "w.json")
        hp = subprocess.Popen(hrun + ["--report", w, "--", py, "-c", parent, py, prog, delay], env=env,
                              stdout=subprocess.PIPE)
        child = int(hp.stdout.readline())
        hp.communicate(timeout=300)
        if hp.returncode != 0:
            fail("%s: the parent failed (rc %d)" % (what, hp.returncode))
        cname = "w.%d.json" % child
        wait_for(os.path.join(d, cname), what)
        expect_files(d, ["w.json", cname], what)
        top, ch = load(d, "w.json"), load(d, cname)
        if top["process"]["pid"] != hp.pid:
            fail("%s: w.json is not the top process's (%d): %r" % (what, hp.pid, top["process"]))
        if ch["process"]["pid"] != child or ch["process"]["ppid"] != hp.pid:
            fail("%s: %s has pid/ppid %r, expected %d/%d" % (what, cname, ch["process"], child, hp.pid))
        print("ok %s: w.json pid %d, %s ppid %d" % (what, hp.pid, cname, ch["process"]["ppid"]))

    # fork() without exec: the child's counts are its own.
    forker = ("import os, sys, runpy\n"
              "sys.argv = [%r, '2', '30000']\n"
              "runpy.run_path(%r)['main']()\n"
              "sys.stdout.flush()  # else the child flushes the parent's buffered lines too\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    x = sum(range(1000))\n"
              "    sys.exit(0)\n"
              "print(pid, flush=True)\n"
              "os.waitpid(pid, 0)\n" % (prog, prog))
    d = fresh(work, "fork")
    w = os.path.join(d, "w.json")
    hp = subprocess.run(hrun + ["--report", w, "--", py, "-c", forker], env=env,
                        stdout=subprocess.PIPE, timeout=300)
    if hp.returncode != 0:
        fail("fork: rc %d" % hp.returncode)
    child = int(hp.stdout.decode().split()[-1])
    cname = "w.%d.json" % child
    expect_files(d, ["w.json", cname], "fork")
    top, ch = load(d, "w.json"), load(d, cname)
    if ch["process"]["pid"] != child or ch["process"]["ppid"] != top["process"]["pid"]:
        fail("fork: child report pid/ppid %r, parent %r" % (ch["process"], top["process"]))
    if ch["gil"]["fork_children"] != 1 or top["gil"]["fork_children"] != 0:
        fail("fork: fork_children child %d parent %d, expected 1 and 0"
             % (ch["gil"]["fork_children"], top["gil"]["fork_children"]))
    if not 0 < gil_acq(ch) < gil_acq(top) // 4:
        fail("fork: the child's report holds the parent's counts: child %d, parent %d sections"
             % (gil_acq(ch), gil_acq(top)))
    print("ok fork: parent %d sections, child %d (its own)" % (gil_acq(top), gil_acq(ch)))

    # A program that is not CPython: nothing elided, no report.
    d = fresh(work, "ls")
    run([htmgil, "run", "--report", os.path.join(d, "r.json"), "--", "ls", d], env=env)
    expect_files(d, [], "-- ls")
    print("ok -- ls: no report")

    # A relative name: against the directory the run started in, not the
    # one the program ends in; with htmgil run and with the variable alone.
    d = fresh(work, "rel")
    os.makedirs(os.path.join(d, "sub"))
    inner = "cd sub && '%s' '%s' 2 2000" % (py, prog)
    run(hrun + ["--report", "rel.json", "--", "sh", "-c", inner], cwd=d, env=env)
    env2 = dict(env, LD_PRELOAD=preload, HTMGIL_HTM="emu", HTMGIL_REPORT="rel2.txt")
    run(["sh", "-c", inner], cwd=d, env=env2)
    expect_files(d, ["rel.json", "rel2.txt", "sub"], "relative name")
    expect_files(os.path.join(d, "sub"), [], "relative name (final directory)")
    print("ok relative names resolved against the starting directory")

    # %p: the pid.
    d = fresh(work, "pid")
    hp = subprocess.Popen(hrun + ["--report", os.path.join(d, "p-%p.json"), "--"] + work_py,
                          env=env, stdout=subprocess.DEVNULL)
    if hp.wait(timeout=300) != 0:
        fail("%%p: rc %d" % hp.returncode)
    expect_files(d, ["p-%d.json" % hp.pid], "%p")
    print("ok %%p: p-%d.json" % hp.pid)

    # An off run reports, but does not say its sections were emulated.
    d = fresh(work, "off")
    run([htmgil, "run", "--htm", "off", "--report", os.path.join(d, "off.txt"), "--"] + work_py,
        env=env)
    text = open(os.path.join(d, "off.txt")).read()
    if not text.startswith("htmgil report: mode off") or "emulated" in text or "serialized" in text:
        fail("off run: report missing or says emulated:\n" + text[:800])
    run([htmgil, "run", "--htm", "off", "--report", os.path.join(d, "off.json"), "--"] + work_py,
        env=env)
    r = load(d, "off.json")
    if r["emulated"] is not None or r["gil"]["sections_emu"] != 0:
        fail("off run: JSON says emulated: %r" % r["emulated"])
    print("ok off run: no emulation note")


if __name__ == "__main__":
    main()
