#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs tests/cpython/prog.py under the preload with the emulated HTM and
checks the exit report, in JSON and in text:

  - the GIL section is there, active, with sections entered through the engine,
    counted as emulated (tier "emu", never "htm"), and the report says at
    its top (JSON "emulated", the text header) that they ran serialized with
    injected aborts;
  - the GIL lock's sites are bytecodes: "OPNAME@offset function file:line";
  - at least one site is in prog.py, names one of its functions, and its
    line number is a line of prog.py inside that function;
  - opcode names are real names (not "op<N>");
  - sites are sorted by aborts (most first) in JSON;
  - the text report has one site table carrying prog.py sites with
    file:line, each row once.

usage: check_report.py PYTHON PRELOAD PROG WORKDIR
"""
import json
import os
import re
import subprocess
import sys

EMU = "conflict=0.3,capacity=0.05,other=0.02,seed=7"
SITE = re.compile(r"^([A-Z_0-9+]+)@(-?\d+) (\S+) (.+):(-?\d+)$")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(py, preload, prog, report):
    env = dict(os.environ)
    env.update(LD_PRELOAD=preload, HTMGIL_HTM="emu",
               HTMGIL_EMU=EMU,
               HTMGIL_REPORT=report)
    p = subprocess.run([py, prog, "3", "300000"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    out = p.stdout.decode()
    if p.returncode != 0 or "checksum=" not in out:
        fail("prog.py failed under the preload: rc=%s %s %s" % (p.returncode, out, p.stderr.decode()))
    if p.stderr.strip():
        fail("unexpected stderr: %s" % p.stderr.decode())
    return out


def main():
    py, preload, prog, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    preload, prog = os.path.abspath(preload), os.path.abspath(prog)
    lines = open(prog).read().splitlines()
    funcs = {}
    cur = None
    for no, line in enumerate(lines, 1):
        m = re.match(r"def (\w+)\(", line)
        if m:
            cur = m.group(1)
        elif line and not line[0].isspace():
            cur = None
        if cur:
            funcs[no] = cur

    jpath = os.path.join(work, "report.json")
    run(py, preload, prog, jpath)
    r = json.load(open(jpath))
    g = r.get("gil")
    if not g or not g.get("active"):
        fail("no active GIL section in the report: %r" % g)
    if g["sections_emu"] == 0 or g["sections_htm"] != 0:
        fail("GIL sections not counted as emulated (emu > 0, htm 0): %r" % g)
    em = r.get("emulated")
    if not em or not em.get("serialized") or em.get("injected") != EMU:
        fail("the report does not say its sections were emulated with %s: %r" % (EMU, em))
    gil = [l for l in r["locks"] if l["name"] == "gil"]
    if not gil:
        fail("no lock named gil in the report")
    sites = gil[0]["sites"]
    ours = []
    for s in sites:
        name = s["name"]
        if name.startswith("<"):
            continue
        m = SITE.match(name)
        if not m:
            fail("site %r is not 'OPNAME@offset function file:line'" % name)
        op, off, func, path, line = m.groups()
        if s["commits"]["htm"] != 0 or s["tier"] == "htm":
            fail("site %r counted as RTM under emulated HTM: %r %r" % (name, s["commits"], s["tier"]))
        if re.match(r"op\d+$", op):
            fail("opcode not named in %r" % name)
        if os.path.basename(path) == os.path.basename(prog):
            ours.append((name, func, int(line), s))
    if not ours:
        fail("no site in %s among %d sites: %s" % (prog, len(sites), [s["name"] for s in sites][:10]))
    good = [(n, f, l) for n, f, l, s in ours if funcs.get(l) == f.split(".")[-1]]
    if not good:
        fail("no prog.py site whose line lies in the function it names: %s" % [o[0] for o in ours])
    aborts = [sum(s["aborts"].values()) for s in sites]
    if aborts != sorted(aborts, reverse=True):
        fail("sites are not sorted by aborts: %s" % aborts)
    if sum(aborts) == 0:
        fail("injected aborts were not counted")

    tpath = os.path.join(work, "report.txt")
    run(py, preload, prog, tpath)
    text = open(tpath).read()
    if "\nemulated HTM: sections ran serialized" not in text or ("HTMGIL_EMU=%s" % EMU) not in text:
        fail("the text report does not say its sections were emulated:\n" + text[:1000])
    heads = [l for l in text.splitlines() if re.match(r"^  lock +site +time +share .* acquired ", l)]
    if len(heads) != 1 or not re.search(r"prog\.py:\d+", text):
        fail("text report lacks one site table with the sites of prog.py:\n" + text[-2000:])
    rows = [l for l in text.splitlines() if l.startswith("  gil ")]
    if len(rows) != len(set(rows)):
        fail("text report lists a site twice:\n" + text[-2000:])
    for n, f, l in good[:3]:
        print("ok site %s (line %d is in %s)" % (n, l, f))
    print("ok %d sites, %d in prog.py, GIL totals %s" % (len(sites), len(ours),
          {k: g[k] for k in ("takes", "sections_emu", "sections_lock", "drops")}))


if __name__ == "__main__":
    main()
