#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A real run with a timeline: tests/cpython/prog.py under `htmgil run
--htm emu` with HTMGIL_TRACE set, then `htmgil report` on its report.

  - the report has "timeline": tsc_hz, two threads or more, events
    [t0, t1, site_index, tier, attempts] with t0 <= t1, in order per thread,
    site_index naming a site of the report, tiers emu or lock;
  - `htmgil report` writes text, trace and html from it;
  - with --chromium: headless Chromium renders the page (--dump-dom shows
    the attribute its inline script sets, so the script ran) and takes a
    screenshot (a PNG of non-trivial size).  No chromium: exit 77.

usage: check_report_run.py HTMGIL PYTHON PROG WORKDIR [--chromium]
"""
import json
import os
import shutil
import subprocess
import sys

TRACE_N = 20000


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(argv, env=None, timeout=300):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout)
    if p.returncode != 0:
        fail("%s: exit %d\n%s%s" % (" ".join(argv), p.returncode, p.stdout.decode("utf-8", "replace"),
                                    p.stderr.decode("utf-8", "replace")))
    return p


def main():
    htmgil, py, prog, work = sys.argv[1:5]
    chromium = "--chromium" in sys.argv[5:]
    browser = None
    if chromium:
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if not browser:
            print("skipped: no chromium on PATH (apt-get install -y chromium)")
            sys.exit(77)
    os.makedirs(work, exist_ok=True)
    rpath = os.path.join(work, "run.json")
    env = dict(os.environ, HTMGIL_TRACE=str(TRACE_N))
    run([htmgil, "run", "--htm", "emu", "--emu", "conflict=0.2,seed=1", "--report", rpath, "--",
         py, prog, "2", "20000"], env=env)
    r = json.load(open(rpath, encoding="utf-8"))
    if r.get("version") != 4:
        fail("report version %r, expected 4" % r.get("version"))
    tl = r.get("timeline")
    if not tl or tl.get("tsc_hz", 0) <= 0 or tl.get("events_per_thread") != TRACE_N:
        fail("no timeline with tsc_hz and events_per_thread %d: %r" % (TRACE_N, tl and {
            k: tl.get(k) for k in ("tsc_hz", "events_per_thread")}))
    nsites = sum(len(l["sites"]) for l in r["locks"])
    busy = [t for t in tl["threads"] if t["events"]]
    if len(busy) < 2:
        fail("timeline of %d threads with events, expected 2 or more" % len(busy))
    n = 0
    for t in busy:
        prev = 0
        if len(t["events"]) > TRACE_N:
            fail("thread %d kept %d events, more than %d" % (t["thread"], len(t["events"]), TRACE_N))
        for e in t["events"]:
            t0, t1, si, tier, att = e
            if not (prev <= t0 <= t1) or not 0 <= si < nsites or tier not in ("emu", "lock") or att < 0:
                fail("thread %d: bad event %r (previous exit %d, %d sites)" % (t["thread"], e, prev, nsites))
            prev = t1
            n += 1
    print("ok timeline: %d threads, %d events, tsc_hz %.3g" % (len(busy), n, tl["tsc_hz"]))

    text = run([htmgil, "report", rpath, "--top", "10"]).stdout.decode("utf-8")
    if "wasted time: timeline:" not in text or "prog.py" not in text:
        fail("text from a real run:\n" + text)
    tr = json.loads(run([htmgil, "report", rpath, "--format", "trace"]).stdout)
    xs = [e for e in tr["traceEvents"] if e["ph"] == "X"]
    if len(xs) != n or min(e["dur"] for e in xs) < 0:
        fail("trace: %d X events for %d recorded" % (len(xs), n))
    page = os.path.abspath(os.path.join(work, "run.html"))
    run([htmgil, "report", rpath, "--format", "html", "-o", page])
    print("ok htmgil report: text, trace (%d events), html" % len(xs))
    if not chromium:
        return

    png = os.path.join(work, "run.png")
    if os.path.exists(png):
        os.unlink(png)
    flags = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
             "--user-data-dir=" + os.path.join(work, "chromium-profile")]
    dom = run(flags + ["--dump-dom", "file://" + page], timeout=120).stdout.decode("utf-8", "replace")
    if 'data-ready="1"' not in dom:
        fail("the page's script did not run (no data-ready=\"1\" in the DOM):\n" + dom[:2000])
    if "<svg" not in dom or "Top " not in dom:
        fail("the rendered DOM lacks the timeline or the site table")
    run(flags + ["--screenshot=" + png, "--window-size=1280,2000", "file://" + page], timeout=120)
    if not os.path.exists(png):
        fail("no screenshot written")
    data = open(png, "rb").read()
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 20000:
        fail("screenshot %s: %d bytes, not a PNG of a rendered page" % (png, len(data)))
    print("ok chromium: script ran (data-ready=1), screenshot %s, %d bytes" % (png, len(data)))


if __name__ == "__main__":
    main()
