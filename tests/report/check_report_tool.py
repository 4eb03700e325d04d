#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`htmgil report` on a committed pair of reports (two processes of one run,
tests/report/fixture/):

  - text: one table; a UTF-8 site name longer than the column is elided in
    the middle and the output still decodes as UTF-8; --top N rows and the
    "N more sites" line; start-up sites grouped into one row; --match;
  - json: the merged report (counters summed over the processes) reads back
    to the same JSON;
  - trace: JSON with ph=X events, non-negative ts and dur;
  - html: self-contained (no http:// or https://, no <script src), the
    sortable tables, the timeline SVG;
  - errors: one line, exit 2.

usage: check_report_tool.py HTMGIL FIXTURE_DIR WORKDIR
"""
import json
import os
import re
import subprocess
import sys

LONG_HEAD = "CALL@18 Ünïcödé"
LONG_TAIL = "module_β.py:42"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def report(htmgil, *args, rc=0):
    p = subprocess.run([htmgil, "report"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if p.returncode != rc:
        fail("htmgil report %s: exit %d, expected %d\n%s%s" % (
            " ".join(args), p.returncode, rc, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace")))
    return p


def rows_of(text):
    lines = text.splitlines()
    heads = [i for i, l in enumerate(lines) if re.match(r"^  rank +time +share +wasted ", l)]
    if len(heads) != 1:
        fail("expected one table header, found %d:\n%s" % (len(heads), text))
    rows = []
    for l in lines[heads[0] + 1:]:
        if not re.match(r"^ +\d+ ", l):
            break
        rows.append(l)
    return rows, lines


def main():
    htmgil, fix, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    a, b = os.path.join(fix, "run.json"), os.path.join(fix, "run.4243.json")
    ra, rb = json.load(open(a, encoding="utf-8")), json.load(open(b, encoding="utf-8"))
    names = {s["name"] for r in (ra, rb) for l in r["locks"] for s in l["sites"]}
    startup = {n for n in names if "importlib" in n or "sitecustomize" in n}

    # ---- text
    raw = report(htmgil, a, b).stdout
    try:
        text = raw.decode("utf-8")  # strict: an elision inside a sequence fails here
    except UnicodeDecodeError as e:
        fail("text output is not UTF-8: %s" % e)
    rows, lines = rows_of(text)
    long_rows = [r for r in rows if LONG_HEAD in r]
    if len(long_rows) != 1 or "..." not in long_rows[0] or LONG_TAIL not in long_rows[0]:
        fail("the long UTF-8 name is not elided in the middle (head ... tail):\n%s" % text)
    if "2 processes (4242, 4243)" not in lines[0]:
        fail("header does not name both processes: %r" % lines[0])
    grouped = [r for r in rows if "(start-up: %d sites" % len(startup) in r]
    if len(grouped) != 1 or any(n in text for n in startup):
        fail("start-up sites not grouped into one row:\n%s" % text)
    nrows = len(names) - len(startup) + 1
    if len(rows) != nrows or "0 more sites in the JSON" not in text:
        fail("expected %d rows and '0 more sites':\n%s" % (nrows, text))
    if "wasted time: timeline:" not in text:
        fail("the estimate used is not named (timeline present):\n%s" % text)
    print("ok text: one table, %d rows, long name elided: %s" % (len(rows), long_rows[0].strip()))

    text = report(htmgil, a, b, "--top", "3").stdout.decode("utf-8")
    rows, _ = rows_of(text)
    if len(rows) != 3 or ("%d more sites in the JSON" % (nrows - 3)) not in text:
        fail("--top 3: expected 3 rows and '%d more sites':\n%s" % (nrows - 3, text))
    print("ok --top 3: 3 rows, %d more" % (nrows - 3))

    text = report(htmgil, a, b, "--match", "prog.py").stdout.decode("utf-8")
    rows, _ = rows_of(text)
    want = {n for n in names if "prog.py" in n}
    if len(rows) != len(want) or any("prog.py" not in r for r in rows):
        fail("--match prog.py: expected %d rows, all in prog.py:\n%s" % (len(want), text))
    print("ok --match prog.py: %d rows" % len(rows))

    # ---- json
    m = json.loads(report(htmgil, a, b, "--format", "json").stdout)
    if m["schema"] != "htmgil-report" or m["version"] != 4 or len(m["processes"]) != 2:
        fail("merged JSON header: %r" % {k: m.get(k) for k in ("schema", "version", "processes")})
    acq = sum(s["acquisitions"] for r in (ra, rb) for l in r["locks"] for s in l["sites"])
    macq = sum(s["acquisitions"] for l in m["locks"] for s in l["sites"])
    msites = sum(len(l["sites"]) for l in m["locks"])
    if macq != acq or msites != len(names):
        fail("merged JSON: %d acquisitions over %d sites, expected %d over %d" % (macq, msites, acq, len(names)))
    shared = [s for l in m["locks"] for s in l["sites"] if s["name"] == "BINARY_OP@40 work prog.py:21"]
    if len(shared) != 1 or shared[0]["aborts"]["conflict"] != 480 + 170:
        fail("a site of both processes is not summed: %r" % shared)
    mpath = os.path.join(work, "merged.json")
    with open(mpath, "w", encoding="utf-8") as f:
        json.dump(m, f)
    again = json.loads(report(htmgil, mpath, "--format", "json").stdout)
    again["processes"] = m["processes"]  # one input: its own process list
    if again != m:
        fail("the merged JSON does not read back to itself")
    tl = m["timeline"]
    nev = sum(len(t["events"]) for r in (ra, rb) for t in r["timeline"]["threads"])
    if len(tl["threads"]) != 3 or sum(len(t["events"]) for t in tl["threads"]) != nev:
        fail("merged timeline: %d threads, expected 3 with %d events" % (len(tl["threads"]), nev))
    print("ok json: %d sites, %d acquisitions, round-trips; timeline %d threads" % (msites, macq, 3))

    # ---- trace
    t = json.loads(report(htmgil, a, b, "--format", "trace").stdout)
    xs = [e for e in t["traceEvents"] if e.get("ph") == "X"]
    if len(xs) != nev or any(e["dur"] < 0 or e["ts"] < 0 for e in xs):
        fail("trace: %d X events (expected %d) or negative ts/dur" % (len(xs), nev))
    if any(set(("name", "cat", "ph", "ts", "dur", "pid", "tid", "args")) - set(e) for e in xs):
        fail("trace: an X event lacks a member: %r" % xs[0])
    if {e["pid"] for e in xs} != {4242, 4243}:
        fail("trace: pids %r" % {e["pid"] for e in xs})
    print("ok trace: %d X events, durations non-negative" % len(xs))

    # ---- html
    hpath = os.path.join(work, "page.html")
    report(htmgil, a, b, "--format", "html", "-o", hpath)
    page = open(hpath, encoding="utf-8").read()
    for bad in ("http://", "https://", "<script src", "<link ", "@import", "url("):
        if bad in page:
            fail("html refers outside itself: %r" % bad)
    for need in ("<svg", 'class="sort"', "data-ready", "Conflict culprits", "BINARY_OP", "4243"):
        if need not in page:
            fail("html lacks %r" % need)
    print("ok html: %d bytes, self-contained" % len(page))

    # ---- errors: one line, exit 2
    junk = os.path.join(work, "junk.json")
    open(junk, "w").write("not json")
    other = os.path.join(work, "other.json")
    json.dump({"hello": 1}, open(other, "w"))
    future = os.path.join(work, "future.json")
    json.dump(dict(ra, version=99), open(future, "w"))
    cases = [([os.path.join(work, "missing.json")], "cannot read"), ([junk], "not JSON"),
             ([other], "not an htmgil report"), ([future], "version 99"),
             ([a, "--top", "0"], "--top"), ([a, "--format", "pdf"], "format")]
    for argv, what in cases:
        p = report(htmgil, *argv, rc=2)
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        if len(err) != 1 or what not in err[0] or p.stdout:
            fail("%s: expected one line naming %r, got %r" % (argv, what, err))
    notl = os.path.join(work, "notl.json")
    json.dump(dict(ra, timeline=None), open(notl, "w"))
    p = report(htmgil, notl, "--format", "trace", rc=2)
    if b"HTMGIL_TRACE" not in p.stderr:
        fail("trace without a timeline does not say how to record one: %r" % p.stderr)
    page = report(htmgil, notl, "--format", "html").stdout.decode("utf-8")
    if "HTMGIL_TRACE" not in page or "<svg" in page:
        fail("html without a timeline does not say how to record one")
    print("ok errors: one line, exit 2 (%d cases)" % len(cases))


if __name__ == "__main__":
    main()
