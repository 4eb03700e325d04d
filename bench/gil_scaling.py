#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Do Python threads scale under the GIL preload?  Runs seven workloads,
the same total work split over 1 and 2 threads, on every interpreter found,
with and without LD_PRELOAD, interleaved over rounds, and prints wall time,
the ratios that say whether threads scale, and cpu/wall (user+sys CPU time
over wall time: how many threads really ran at once).

usage: gil_scaling.py [--python LIST] [--workloads LIST] [--threads 1,2]
                      [--rounds N] [--scale S] [--preload LIB] [--htmgil BIN]
                      [--htm auto|rtm|emu|off] [--seed N] [--json FILE]
       gil_scaling.py --one WORKLOAD [--threads N] [--scale S]

The second form (the child) runs one workload once and prints one line,
    gil_scaling one=arith threads=2 scale=1 units=... wall_s=... cpu_s=... checksum=...
so the same workload can be run under other tools (`htmgil run`, `htmgil
sim`).  The child imports only what its workload needs, runs on CPython 2.7
and 3.x, and times only the workload: from just before its threads start to
after they are joined; wall_s is that interval, cpu_s the process's user+sys
time over it (all threads).  Every thread count runs its work in worker
threads while the main thread waits in join(), so 1 thread and 2 threads
differ only in the number of threads contending for the GIL.  The checksum
is a function of the work units done, not of how they were split: the same
workload at any thread count, with or without the preload, prints the same
checksum (the parent checks that, and fails otherwise).

Interpreters are found the way gil/pythons.cmake finds them (pyenv's 2.7,
3.11, 3.12, 3.13 under PYENV_ROOT, `pyenv root` or ~/.pyenv, plus
python3.11d on PATH); --python takes a comma-separated list of programs
instead.  A python's label is its X.Y, with a `d` for a debug build.
Nothing is asserted about speed: the figures are for the reader
(docs/results.md, "Python threads: bench/gil_scaling.py").
"""
import os
import sys
import threading
import time

WORKLOADS = ["arith", "alloc", "shared_read", "shared_call", "json", "regex", "sort"]

# Work units of each workload at --scale 1: about 0.2-0.3 s on one thread of
# CPython 3.12 on the AMD EPYC of docs/results.md (a debug build takes 3-4
# times as long, 2.7's json 3 times).
UNITS = {
    "arith": 1300000,
    "alloc": 170000,
    "shared_read": 1500000,
    "shared_call": 900000,
    "json": 15000,
    "regex": 95000,
    "sort": 2400,
}

if sys.version_info[0] == 2:
    range = xrange  # noqa: F821 (2.7: no list of the whole range per run)

SHARED_LIST = list(range(4096))


def hg_shared_fn(x):
    return (x * 3 + 1) % 11


def w_arith(lo, hi):
    s = 0
    for k in range(lo, hi):
        s += (k * k) % 7
    return s


def w_alloc(lo, hi):
    s = 0
    for k in range(lo, hi):
        st = "k%d-%s" % (k, "x" * (k % 8))
        d = {"a": st, "b": k, "c": [k]}
        s += len(d["a"]) + len(d)
    return s


def w_shared_read(lo, hi):
    s = 0
    for k in range(lo, hi):
        s += SHARED_LIST[k & 4095]
    return s


def w_shared_call(lo, hi):
    s = 0
    for k in range(lo, hi):
        s += hg_shared_fn(k)
    return s


def w_json(lo, hi):
    import json
    s = 0
    for k in range(lo, hi):
        obj = {"id": k, "name": "item%d" % k, "tags": ["a", "b", k % 10],
               "score": k * 0.5, "ok": k % 3 == 0, "nested": {"x": [k, k + 1]}}
        s += len(json.dumps(obj, sort_keys=True))
    return s


def w_regex(lo, hi):
    import re
    pat = re.compile(r"([a-z]+)(\d+)@([a-z]+)\.(com|org)")
    hosts = ["alpha", "be", "gamma", "dlt"]
    s = 0
    for k in range(lo, hi):
        m = pat.search("to: user%d@%s.%s;" % (k, hosts[k % 4], ("com", "org")[k % 2]))
        s += (m.end(2) - m.start(2)) + len(m.group(3))
    return s


def w_sort(lo, hi):
    # One unit sorts a thread-private list of 500 ints: a rotation (by the
    # unit's index) of the same pseudo-random list, so the sorted result, and
    # the element picked from it, depend only on the unit's index.
    n = 500
    base = []
    x = 12345
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7fffffff
        base.append(x)
    s = 0
    for k in range(lo, hi):
        r = k % n
        lst = base[r:] + base[:r]
        lst.sort()
        s += lst[(k * 7) % n] & 0xffff
    return s


FUNCS = {"arith": w_arith, "alloc": w_alloc, "shared_read": w_shared_read,
         "shared_call": w_shared_call, "json": w_json, "regex": w_regex,
         "sort": w_sort}


def child_main(argv):
    """--one WORKLOAD [--threads N] [--scale S]: one run, one line out."""
    opts = {"--one": None, "--threads": "1", "--scale": "1"}
    i = 0
    while i < len(argv):
        a = argv[i]
        key, eq, val = a.partition("=")
        if key not in opts:
            sys.stderr.write("gil_scaling.py: unknown argument %r with --one "
                             "(it takes --threads N and --scale S)\n" % a)
            return 2
        if not eq:
            i += 1
            if i >= len(argv):
                sys.stderr.write("gil_scaling.py: %s needs a value\n" % a)
                return 2
            val = argv[i]
        opts[key] = val
        i += 1
    name = opts["--one"]
    if name not in FUNCS:
        sys.stderr.write("gil_scaling.py: unknown workload %r (one of %s)\n"
                         % (name, ", ".join(WORKLOADS)))
        return 2
    try:
        nthreads = int(opts["--threads"])
        scale = float(opts["--scale"])
    except ValueError:
        sys.stderr.write("gil_scaling.py: --threads takes an integer and --scale "
                         "a number (got %r, %r)\n" % (opts["--threads"], opts["--scale"]))
        return 2
    if nthreads < 1 or not scale > 0:
        sys.stderr.write("gil_scaling.py: --threads must be at least 1 and --scale "
                         "above 0\n")
        return 2
    units = max(nthreads, int(UNITS[name] * scale))
    fn = FUNCS[name]
    out = [None] * nthreads

    def body(i):
        out[i] = fn(units * i // nthreads, units * (i + 1) // nthreads)

    ths = [threading.Thread(target=body, args=(i,)) for i in range(nthreads)]
    import resource
    clock = getattr(time, "perf_counter", time.time)

    def cpu():
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    c0 = cpu()
    t0 = clock()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    t1 = clock()
    c1 = cpu()
    if None in out:
        sys.stderr.write("gil_scaling.py: a worker thread of %s did not finish\n" % name)
        return 1
    sys.stdout.write("gil_scaling one=%s threads=%d scale=%g units=%d wall_s=%.6f "
                     "cpu_s=%.6f checksum=%d\n"
                     % (name, nthreads, scale, units, t1 - t0,
                        c1 - c0, sum(out)))
    return 0


# ---------------------------------------------------------------------------
# The parent: everything below runs only on the python that drives the table.

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def parse_child(text):
    """The child's line as a dict, or None where there is none."""
    for line in text.splitlines():
        if line.startswith("gil_scaling "):
            d = dict(f.split("=", 1) for f in line.split()[1:])
            for k in ("threads", "units", "checksum"):
                d[k] = int(d[k])
            for k in ("scale", "wall_s", "cpu_s"):
                d[k] = float(d[k])
            return d
    return None


def pyenv_roots():
    import shutil
    import subprocess
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            roots.append(subprocess.check_output([pyenv, "root"],
                                                 stderr=subprocess.DEVNULL).decode().strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    if os.environ.get("HOME"):
        roots.append(os.path.join(os.environ["HOME"], ".pyenv"))
    seen = []
    for r in roots:
        if r and r not in seen:
            seen.append(r)
    return seen


def find_pythons():
    """gil/pythons.cmake's search: the newest pyenv build of each supported
    version (free-threaded `t` builds excluded), then python3.11d on PATH."""
    import glob
    import shutil
    found = []
    for ver in ("2.7", "3.11", "3.12", "3.13"):
        for r in pyenv_roots():
            dirs = sorted(glob.glob(os.path.join(r, "versions", ver + ".*")),
                          key=lambda d: [int(p) if p.isdigit() else -1
                                         for p in os.path.basename(d).split(".")],
                          reverse=True)
            exes = [os.path.join(d, "bin", "python" + ver) for d in dirs
                    if not d.endswith("t")]
            exes = [e for e in exes if os.path.exists(e)]
            if exes:
                found.append(exes[0])
                break
    d = shutil.which("python3.11d")
    if d:
        found.append(d)
    return found


def py_label(exe):
    """(label, full version) of an interpreter, or None if it does not run."""
    import subprocess
    code = ("import sys, platform; sys.stdout.write('%d.%d%s %s' % (sys.version_info[0], "
            "sys.version_info[1], 'd' if hasattr(sys, 'gettotalrefcount') else '', "
            "platform.python_version()))")
    try:
        out = subprocess.check_output([exe, "-c", code], stderr=subprocess.DEVNULL)
        label, version = out.decode().split()
        return label, version
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None


def short_path(path):
    home = os.path.expanduser("~")
    if home and home != "/" and path.startswith(home + os.sep):
        return "~" + path[len(home):]
    return path


def run_child(exe, workload, threads, scale, env):
    """One child process: its own line, plus the process's wall time and
    user+sys CPU time (os.wait4) as measured from outside."""
    import subprocess
    cmd = [exe, os.path.abspath(__file__), "--one", workload,
           "--threads", str(threads), "--scale", "%g" % scale]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stdout.close()
    p.stderr.close()
    res = parse_child(out.decode(errors="replace"))
    if p.returncode != 0 or res is None:
        sys.exit("gil_scaling.py: %s failed (exit %d): %s"
                 % (" ".join(cmd), p.returncode,
                    err.decode(errors="replace").strip() or "no result line"))
    res["proc_wall_s"] = wall
    res["proc_cpu_s"] = ru.ru_utime + ru.ru_stime
    res["stderr"] = err.decode(errors="replace").strip()
    return res


def sh(cmd):
    import subprocess
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout
    except OSError:
        return ""


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown"


def rtm_verdict(htmgil, env):
    """`htmgil cpu`'s verdict: and mode: lines (mode under the same HTMGIL_HTM
    as the preloaded runs)."""
    if not htmgil or not os.path.exists(htmgil):
        return "unknown (no htmgil program; pass --htmgil)", "unknown"
    import subprocess
    try:
        text = subprocess.run([htmgil, "cpu"], capture_output=True, text=True,
                              env=env).stdout
    except OSError as e:
        return "unknown (%s)" % e, "unknown"
    verdict = mode = "unknown"
    for line in text.splitlines():
        if line.startswith("verdict:"):
            verdict = line.split(":", 1)[1].strip()
        elif line.startswith("mode:"):
            mode = line.split(":", 1)[1].strip()
    return verdict, mode


def probe_preload(exe, pre_env):
    """What the preload does in this interpreter: a short 2-thread run with a
    report, read back (gil.active, gil.mode, gil.hooked)."""
    import json
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        rep = os.path.join(d, "probe.json")
        env = dict(pre_env, HTMGIL_REPORT=rep)
        r = run_child(exe, "arith", 2, 0.005, env)
        if not os.path.exists(rep):
            return {"active": False, "mode": "-",
                    "note": r["stderr"].splitlines()[0] if r["stderr"] else "no report written"}
        with open(rep) as f:
            g = json.load(f).get("gil") or {}
    return {"active": bool(g.get("active")), "mode": g.get("mode", "-"),
            "hooked": g.get("hooked", ""), "note": r["stderr"]}


def stats(xs):
    import statistics
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def fmt_range(st, prec=3):
    f = "%%.%df" % prec
    return (f + " (" + f + "-" + f + ")") % (st["median"], st["min"], st["max"])


def main():
    if "--one" in sys.argv[1:] or any(a.startswith("--one=") for a in sys.argv[1:]):
        return child_main(sys.argv[1:])
    import argparse
    import json
    import random
    ap = argparse.ArgumentParser(description="Python threads scaling under the GIL preload")
    ap.add_argument("--python", help="comma-separated interpreters (default: found as "
                    "gil/pythons.cmake finds them)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=4,
                    help="rounds; each cell is its median over them (default 4: "
                    "about 4 minutes with five interpreters on 2 CPUs)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="work per run relative to UNITS (default 1)")
    ap.add_argument("--preload", default=os.path.join(ROOT, "build", "lib",
                                                      "libhtmgil-preload.so"))
    ap.add_argument("--htmgil", default=os.path.join(ROOT, "build", "bin", "htmgil"))
    ap.add_argument("--htm", default="auto", choices=["auto", "rtm", "emu", "off"],
                    help="HTMGIL_HTM for the preloaded runs (default auto)")
    ap.add_argument("--seed", type=int, default=1, help="order of the runs within a round")
    ap.add_argument("--json", help="write every run and every cell here")
    a = ap.parse_args()

    workloads = [w for w in a.workloads.split(",") if w]
    bad = [w for w in workloads if w not in FUNCS]
    if bad:
        ap.error("unknown workload %s (known: %s)" % (", ".join(bad), ", ".join(WORKLOADS)))
    try:
        threads = [int(t) for t in a.threads.split(",") if t]
    except ValueError:
        ap.error("--threads takes a comma-separated list of integers, e.g. 1,2")
    if not threads or min(threads) < 1:
        ap.error("--threads takes thread counts of at least 1, e.g. 1,2")
    if a.rounds < 1 or not a.scale > 0:
        ap.error("--rounds must be at least 1 and --scale above 0")
    preload = os.path.abspath(a.preload)
    if not os.path.exists(preload):
        ap.error("no preload library at %s: build it (cmake --build build --target "
                 "htmgil_preload) or pass --preload" % a.preload)

    exes = [p for p in a.python.split(",") if p] if a.python else find_pythons()
    pythons = []
    for exe in exes:
        import shutil
        path = exe if os.sep in exe else shutil.which(exe)
        lv = py_label(path) if path else None
        if not lv:
            ap.error("cannot run %s as a python: pass a CPython program to --python" % exe)
        label = lv[0]
        while label in [p["label"] for p in pythons]:
            label += "'"
        pythons.append({"label": label, "version": lv[1], "exe": path})
    if not pythons:
        sys.exit("gil_scaling.py: no supported CPython found (pyenv 2.7/3.11/3.12/3.13, "
                 "python3.11d); pass --python")

    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("HTMGIL_") and k != "LD_PRELOAD"}
    pre_env = dict(base_env, LD_PRELOAD=preload, HTMGIL_HTM=a.htm)
    verdict, cli_mode = rtm_verdict(a.htmgil, dict(base_env, HTMGIL_HTM=a.htm))
    for p in pythons:
        p["preload"] = probe_preload(p["exe"], pre_env)

    configs = [(t, pre) for t in threads for pre in (False, True)]
    runs = {}  # (workload, label, threads, preload) -> [child results]
    rnd = random.Random(a.seed)
    load_before = os.getloadavg()[0]
    t_start = time.time()
    for rd in range(a.rounds):
        rows = [(w, p) for w in workloads for p in pythons]
        rnd.shuffle(rows)
        for w, p in rows:
            order = list(configs)
            rnd.shuffle(order)
            for t, pre in order:
                r = run_child(p["exe"], w, t, a.scale, pre_env if pre else base_env)
                r["round"] = rd
                runs.setdefault((w, p["label"], t, pre), []).append(r)
        sys.stderr.write("round %d/%d done (%.0f s)\n" % (rd + 1, a.rounds,
                                                          time.time() - t_start))

    load_after = os.getloadavg()[0]
    # Same total work: every run of a (workload, python) row gives the same
    # checksum, whatever the thread count, with or without the preload.
    for w in workloads:
        for p in pythons:
            sums = set(r["checksum"] for (w2, l, _, _), rs in runs.items()
                       if w2 == w and l == p["label"] for r in rs)
            if len(sums) != 1:
                sys.exit("gil_scaling.py: %s on %s gave different checksums %s: the "
                         "work done differs between runs" % (w, p["label"], sorted(sums)))

    def cell(w, l, t, pre):
        return runs.get((w, l, t, pre))

    def per_round(w, l, num, den, what="wall_s"):
        """Ratio num/den within each round (the two runs seconds apart)."""
        a_, b_ = cell(w, l, *num), cell(w, l, *den)
        if not a_ or not b_:
            return None
        return stats([x[what] / y[what] for x, y in zip(a_, b_)])

    t_hi = max(threads)
    t_lo = min(threads)
    rows = []
    for w in workloads:
        for p in pythons:
            l = p["label"]
            row = {"workload": w, "python": l, "cells": {}}
            for t, pre in configs:
                rs = cell(w, l, t, pre)
                row["cells"]["%d%s" % (t, "+" if pre else "-")] = {
                    "wall_s": stats([r["wall_s"] for r in rs]),
                    "cpu_per_wall": stats([r["cpu_s"] / r["wall_s"] for r in rs]),
                    "proc_wall_s": stats([r["proc_wall_s"] for r in rs]),
                    "proc_cpu_s": stats([r["proc_cpu_s"] for r in rs]),
                }
            row["scaling"] = per_round(w, l, (t_hi, True), (t_lo, False))
            row["never_slower"] = per_round(w, l, (t_hi, True), (t_hi, False))
            rows.append(row)

    print("gil_scaling.py: %d rounds, scale %g, threads %s, order seed %d"
          % (a.rounds, a.scale, ",".join(map(str, threads)), a.seed))
    print("cpu: %s, %d logical CPUs; load average %.2f before, %.2f after (above the "
          "CPU count: other processes shared the CPUs)" % (cpu_model(), os.cpu_count(),
                                                          load_before, load_after))
    print("rtm: %s" % verdict)
    print("preload: %s, HTMGIL_HTM=%s, mode %s (htmgil cpu)"
          % (os.path.relpath(preload, os.getcwd()) if preload.startswith(os.getcwd())
             else os.path.basename(preload), a.htm, cli_mode))
    for p in pythons:
        pr = p["preload"]
        if pr["active"]:
            desc = "active, mode %s, %s" % (pr["mode"], pr["hooked"])
        else:
            desc = "not active (%s)" % pr["note"]
        print("  %-6s %s (%s): preload %s" % (p["label"], short_path(p["exe"]),
                                            p["version"], desc))
    print("")
    print("wall s of the workload, median (min-max over rounds); -: without the "
          "preload, +: with it")
    print("%d+/%d-: wall with the preload at %d threads over wall without it at %d "
          "(%.2f = perfect scaling, 1.00 = none)" % (t_hi, t_lo, t_hi, t_lo,
                                                      float(t_lo) / t_hi))
    print("%d+/%d-: the preload's effect at %d threads (above 1.00 = slower with it)"
          % (t_hi, t_hi, t_hi))
    print("cpu/wall %d+: user+sys CPU over wall with the preload (%d = all threads "
          "running, 1 = serialized)" % (t_hi, t_hi))
    print("")
    cols = ["%d-" % t_lo, "%d-" % t_hi, "%d+" % t_hi] if t_hi != t_lo else ["%d-" % t_lo, "%d+" % t_lo]
    hdr = (["workload", "python"] + ["%s wall s" % c for c in cols]
           + ["%d+/%d-" % (t_hi, t_lo), "%d+/%d-" % (t_hi, t_hi), "cpu/wall %d+" % t_hi])
    table = [hdr]
    for row in rows:
        c = row["cells"]
        table.append([row["workload"], row["python"]]
                     + [fmt_range(c[k]["wall_s"]) for k in cols]
                     + [fmt_range(row["scaling"], 2), fmt_range(row["never_slower"], 2),
                        fmt_range(c["%d+" % t_hi]["cpu_per_wall"], 2)])
    widths = [max(len(r[i]) for r in table) for i in range(len(hdr))]
    for i, r in enumerate(table):
        print("| " + " | ".join(x.ljust(widths[j]) for j, x in enumerate(r)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")

    if a.json:
        doc = {
            "schema": "htmgil-gil-scaling", "version": 1,
            "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "rtm": verdict,
                        "htmgil_cpu_mode": cli_mode,
                        "load_average": [load_before, load_after]},
            "config": {"rounds": a.rounds, "scale": a.scale, "threads": threads,
                       "htm": a.htm, "preload": os.path.basename(preload),
                       "workloads": workloads, "units": {w: UNITS[w] for w in workloads},
                       "seed": a.seed},
            "pythons": pythons,
            "rows": rows,
            "runs": [dict(r, workload=w, python=l, threads_run=t, preloaded=pre)
                     for (w, l, t, pre), rs in sorted(runs.items()) for r in rs],
        }
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
