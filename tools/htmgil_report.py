#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""htmgil report: reads the JSON exit reports of one run (docs/report.md)
and writes them as a ranked text table, one merged JSON report, a
self-contained HTML page, or a Chrome trace of the section timeline.

usage: htmgil report FILE.json [FILE.json ...] [--top N] [--match TEXT]
                     [--per-process] [--format text|json|html|trace] [-o OUT]

Errors print one line naming the problem and the way out, and exit 2.
"""
import argparse
import html
import json
import os
import re
import sys
import unicodedata

KNOWN_VERSIONS = (2, 3, 4)
SCHEMA_VERSION = 4
TIERS = ("htm", "emu", "stm", "lock")
CAUSES = ("conflict", "capacity", "explicit", "retry", "other")
SAMPLE = 64  # the library times one section in 64 per site (cycles)
TIME_KEYS = ("spec", "aborted", "waiting", "lock", "stm")  # a site's "time" (version 4)
SITE_COLS = 48
PROG = "htmgil report"

# A site is start-up when its name shows the import machinery ...
STARTUP_RE = re.compile(r"<frozen |importlib|zipimport|/site\.py:|sitecustomize|_distutils_hack")
# ... or when, with a timeline of two threads or more, all its sections
# ended before the process's second thread began its first section.


class Fail(Exception):
    pass


def die(msg):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.exit(2)


# ---------------------------------------------------------------- reading

def load(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Fail("cannot read %s (%s); name a report written with HTMGIL_REPORT=NAME.json"
                   % (path, e.strerror or e))
    try:
        r = json.loads(data.decode("utf-8", "replace"))
    except ValueError as e:
        raise Fail("%s is not JSON (%s); give a report written with a name ending in .json "
                   "(HTMGIL_REPORT=NAME.json)" % (path, e))
    if not isinstance(r, dict) or r.get("schema") != "htmgil-report":
        raise Fail("%s is not an htmgil report (no \"schema\": \"htmgil-report\"); give a file "
                   "written with HTMGIL_REPORT=NAME.json" % path)
    v = r.get("version")
    if v not in KNOWN_VERSIONS:
        raise Fail("%s is report version %r; this reader knows versions %s: read it with the "
                   "htmgil that wrote it" % (path, v, ", ".join(map(str, KNOWN_VERSIONS))))
    if not isinstance(r.get("locks"), list):
        raise Fail("%s has no \"locks\" list; the file is cut short or edited: write it again" % path)
    return r


def add_maps(into, more):
    for k, v in (more or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            into[k] = into.get(k, 0) + v


def site_list(r):
    """The report's sites in the order they are written (the timeline's site_index)."""
    out = []
    for lk in r["locks"]:
        for s in lk.get("sites", []):
            out.append((lk.get("name", "?"), s))
    return out


def merge(reports):
    """One report of the same schema from the processes of one run."""
    first = reports[0]
    m = {"schema": "htmgil-report", "version": SCHEMA_VERSION,
         "process": first.get("process"),
         "processes": [r.get("process") for r in reports],
         "emulated": next((r["emulated"] for r in reports if r.get("emulated")), None),
         "mode": first.get("mode"), "rtm": first.get("rtm"), "policy": first.get("policy")}
    locks, order, index = {}, [], {}
    remap = []  # per report: its site_index -> merged (lock, site) key
    for r in reports:
        keys = []
        for lname, s in site_list(r):
            key = (lname, s.get("name", ""))
            keys.append(key)
            if lname not in locks:
                locks[lname] = {"id": len(locks) + 1, "name": lname, "sites": {}}
                order.append(lname)
            ss = locks[lname]["sites"]
            if key[1] not in ss:
                ss[key[1]] = {"key": s.get("key"), "name": key[1], "acquisitions": 0, "attempts": 0,
                              "commits": {}, "aborts": {}, "explicit_codes": {}, "demotions": {},
                              "promotions": {}, "reprobes": 0, "skips": 0, "bad_releases": 0,
                              "stm_aborts": 0, "tier": s.get("tier"), "txlen": s.get("txlen", 0),
                              "cycles": {}, "_rate": 0.0, "_best": -1}
                if isinstance(s.get("time"), dict):
                    ss[key[1]]["time"] = {"timed": 0, "estimate": False, "cycles": {}, "ms": {},
                                          "busy_ms": 0.0, "total_ms": 0.0}
            d = ss[key[1]]
            for k in ("acquisitions", "attempts", "reprobes", "skips", "bad_releases", "stm_aborts"):
                d[k] += s.get(k, 0)
            for k in ("commits", "aborts", "explicit_codes", "demotions", "promotions", "cycles"):
                add_maps(d[k], s.get(k))
            t = s.get("time")
            if isinstance(t, dict):
                dt = d.setdefault("time", {"timed": 0, "estimate": False, "cycles": {}, "ms": {},
                                           "busy_ms": 0.0, "total_ms": 0.0})
                dt["timed"] += t.get("timed", 0)
                dt["estimate"] = dt["estimate"] or bool(t.get("estimate"))
                add_maps(dt["cycles"], t.get("cycles"))
                add_maps(dt["ms"], t.get("ms"))
                dt["busy_ms"] += t.get("busy_ms", 0.0)
                dt["total_ms"] += t.get("total_ms", 0.0)
            d["_rate"] += s.get("abort_rate_estimate", 0.0) * s.get("attempts", 0)
            if s.get("acquisitions", 0) > d["_best"]:
                d["_best"] = s.get("acquisitions", 0)
                d["tier"], d["txlen"] = s.get("tier"), s.get("txlen", 0)
        remap.append(keys)
    m["locks"] = []
    for lname in order:
        lk = locks[lname]
        sites = list(lk["sites"].values())
        for d in sites:
            ab = sum(d["aborts"].values())
            d["abort_ratio"] = round(ab / d["attempts"], 4) if d["attempts"] else 0.0
            d["abort_rate_estimate"] = round(d.pop("_rate") / d["attempts"], 4) if d["attempts"] else 0.0
            d.pop("_best")
        sites.sort(key=lambda d: (-site_time(d), -sum(d["aborts"].values()), -d["acquisitions"],
                                  d["name"]))
        m["locks"].append({"id": lk["id"], "name": lname, "sites": sites})
    flat = {}
    for i, (lname, s) in enumerate(site_list(m)):
        flat[(lname, s["name"])] = i
    # The timeline: threads of every process, site indices into the merged list.
    tl = None
    for r, keys in zip(reports, remap):
        t = r.get("timeline")
        if not t:
            continue
        if tl is None:
            tl = {"tsc_hz": t.get("tsc_hz", 0), "events_per_thread": t.get("events_per_thread", 0),
                  "threads": []}
        ppid = (r.get("process") or {}).get("pid", 0)
        for th in t.get("threads", []):
            pid = th.get("pid", ppid)
            evs = []
            for e in th.get("events", []):
                if not isinstance(e, list) or len(e) < 5 or not 0 <= e[2] < len(keys):
                    continue
                evs.append([e[0], e[1], flat[keys[e[2]]], e[3], e[4]])
            tl["threads"].append({"thread": len(tl["threads"]), "pid": pid,
                                  "ordinal": th.get("ordinal", th.get("thread", 0)), "events": evs})
    m["timeline"] = tl
    times = [r["time"] for r in reports if isinstance(r.get("time"), dict)]
    if len(times) == 1 and len(reports) == 1:
        m["time"] = times[0]
    elif times:
        # Processes of one run: their busy time over the longest wall time.
        wall = max(t.get("wall_ms", 0.0) for t in times)
        busy = sum(t.get("busy_ms", 0.0) for t in times)
        m["time"] = {"wall_ms": wall, "busy_ms": busy, "parallelism": busy / wall if wall else 0.0,
                     "estimate": any(t.get("estimate") for t in times), "processes": times,
                     "of_processes": len(reports)}
    gils = [r["gil"] for r in reports if isinstance(r.get("gil"), dict)]
    if gils:
        g = dict(gils[0])
        for other in gils[1:]:
            for k, v in other.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "sites":
                    g[k] = g.get(k, 0) + v
                elif isinstance(v, bool):
                    g[k] = g.get(k) or v
        g["sites"] = max(x.get("sites", 0) for x in gils)
        m["gil"] = g
    return m


# ------------------------------------------------------------- analysis

def site_time(s):
    """A site's time in sections and waiting, ms (0 for a report before version 4)."""
    t = s.get("time") if s else None
    return float(t.get("total_ms", 0.0)) if isinstance(t, dict) else 0.0


def fmt_ms(v):
    if v >= 1000:
        return "%.2f s" % (v / 1000)
    if v >= 1:
        return "%.1f ms" % v
    return "%.0f us" % (v * 1000)


def is_startup_name(name):
    return bool(STARTUP_RE.search(name))


class Analysis:
    """Wasted time per site, the estimate used, and start-up sites."""

    def __init__(self, rep):
        self.rep = rep
        self.sites = site_list(rep)
        tl = rep.get("timeline") or {}
        self.hz = float(tl.get("tsc_hz") or 0)
        self.threads = tl.get("threads") or []
        self.events = {}  # site index -> [event, ...]
        for th in self.threads:
            for e in th["events"]:
                self.events.setdefault(e[2], []).append(e)
        self.t_first_second = None
        starts = sorted(min(e[0] for e in th["events"]) for th in self.threads if th["events"])
        if len(starts) >= 2:
            self.t_first_second = starts[1]
        self.rows = []
        have_cycles = any(sum(s.get("cycles", {}).values()) for _, s in self.sites)
        if self.events and self.hz > 0:
            self.estimate = ("timeline: per recorded section, its time beyond the site's fastest "
                             "quartile of clean speculative commits, scaled to all its sections "
                             "(a site with no recorded section: aborts x mean section cost)")
            self.unit = "s"
        elif have_cycles:
            self.estimate = ("aborts x mean section cost (the report has no abort-path cycles: "
                             "mean cost from the sampled section cycles, 1 in %d)" % SAMPLE)
            self.unit = "cycles"
        else:
            self.estimate = "aborts (the report has no cycle counts; wasted time is not known)"
            self.unit = "aborts"
        for i, (lname, s) in enumerate(self.sites):
            self.rows.append(self.row(i, lname, s))

    def row(self, i, lname, s):
        ab = sum(s.get("aborts", {}).values())
        acq = s.get("acquisitions", 0)
        evs = self.events.get(i, [])
        if self.unit == "s":
            clean = sorted(e[1] - e[0] for e in evs if e[3] in ("htm", "emu") and e[4] <= 1)
            base = clean[len(clean) // 4] if clean else 0
            lost = sum(max(0, (e[1] - e[0]) - base) for e in evs if e[4] > 1 or e[3] in ("lock", "stm"))
            scale = acq / len(evs) if evs and acq > len(evs) else 1.0
            wasted = lost * scale / self.hz
            if not evs:
                wasted = ab * sum(s.get("cycles", {}).values()) / max(1, acq // SAMPLE) / self.hz
        elif self.unit == "cycles":
            cyc = sum(s.get("cycles", {}).values())
            mean = cyc / max(1, acq // SAMPLE)
            wasted = ab * mean
        else:
            wasted = ab
        startup = is_startup_name(s.get("name", ""))
        if not startup and self.t_first_second is not None and evs:
            startup = max(e[1] for e in evs) < self.t_first_second
        cause = max(CAUSES, key=lambda c: s.get("aborts", {}).get(c, 0)) if ab else ""
        return {"index": i, "lock": lname, "name": s.get("name", ""), "site": s, "aborts": ab,
                "acq": acq, "wasted": wasted, "startup": startup, "cause": cause,
                "time": site_time(s)}

    def ranked(self, match=None):
        rows = [r for r in self.rows if not match or match in r["name"]]
        start = [r for r in rows if r["startup"]]
        rest = [r for r in rows if not r["startup"]]
        if start:
            g = {"index": -1, "lock": ", ".join(sorted({r["lock"] for r in start})),
                 "name": "(start-up: %d sites of the import machinery)" % len(start),
                 "site": None, "aborts": sum(r["aborts"] for r in start),
                 "acq": sum(r["acq"] for r in start), "wasted": sum(r["wasted"] for r in start),
                 "time": sum(r["time"] for r in start),
                 "startup": True, "cause": "", "members": start}
            caus = {}
            for r in start:
                add_maps(caus, r["site"].get("aborts"))
            g["cause"] = max(caus, key=caus.get) if any(caus.values()) else ""
            rest.append(g)
        # Most time first (version 4), then most wasted time.
        rest.sort(key=lambda r: (-r["time"], -r["wasted"], -r["aborts"], -r["acq"], r["name"]))
        return rest

    def fmt_wasted(self, v):
        if self.unit == "s":
            for lim, u, mul in ((1.0, "s", 1), (1e-3, "ms", 1e3), (0, "us", 1e6)):
                if v >= lim:
                    return "%.3g %s" % (v * mul, u)
        if self.unit == "cycles":
            return "%.3g Mcyc" % (v / 1e6) if v >= 1e5 else "%d cyc" % v
        return "%d" % v


# ---------------------------------------------------------------- text

def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def elide(s, cols):
    """s in at most cols columns: the middle replaced by '...' (between code points)."""
    if width(s) <= cols:
        return s
    keep = cols - 3
    head, tail = "", ""
    for c in s:
        if width(head + c) > (keep + 1) // 2:
            break
        head += c
    for c in reversed(s):
        if width(tail + c) > keep // 2:
            break
        tail = c + tail
    return head + "..." + tail


def pad(s, cols):
    return s + " " * (cols - width(s))


def time_lines(t):
    """The process time, as the library's own text header words it (docs/report.md)."""
    if not isinstance(t, dict):
        return ["time: not in this report (version 3 or older: section counts only)"]
    par = t.get("parallelism", 0.0)
    if par > 1.1:
        words = "threads ran at once"
    elif par >= 0.8:
        words = "the threads did not run at once"
    else:
        words = "no parallelism: less than one thread was busy at a time, on average"
    out = ["time: %s: parallelism achieved %.2f (busy thread-time %s over %s of wall time%s)" % (
        words, par, fmt_ms(t.get("busy_ms", 0.0)), fmt_ms(t.get("wall_ms", 0.0)),
        "; %d of %d processes timed" % (len(t["processes"]), t.get("of_processes", 0))
        if t.get("processes") else "")]
    sh = t.get("share")
    if isinstance(sh, dict):
        out.append("time in sections: speculative %.1f%%, aborted %.1f%%, waiting %.1f%%, "
                   "on the lock %.1f%%%s" % tuple([100 * sh.get(k, 0.0) for k in
                                                  ("spec", "aborted", "waiting", "lock")] +
                                                 [" (estimates)" if t.get("estimate") else ""]))
    g = t.get("gil")
    if isinstance(g, dict) and g.get("held_ms"):
        out.append("GIL: %.1f%% of bytecode time ran speculatively" % (100 * g.get("spec_share", 0.0)))
    return out


def header_lines(rep, ana):
    procs = [p for p in (rep.get("processes") or [rep.get("process")]) if p]
    rtm = rep.get("rtm") or {}
    out = ["htmgil report: %d process%s (%s); mode %s; rtm %s (%s)" % (
        len(procs), "" if len(procs) == 1 else "es", ", ".join(str(p.get("pid")) for p in procs),
        rep.get("mode"), "usable" if rtm.get("usable") else "not usable", rtm.get("verdict", "?"))]
    for p in procs:
        out.append("  process %s (parent %s): %s" % (p.get("pid"), p.get("ppid"),
                                                    " ".join(p.get("cmdline") or [])))
    out.extend(time_lines(rep.get("time")))
    if rep.get("emulated"):
        out.append("emulated HTM: %s" % rep["emulated"].get("note", ""))
    out.append("wasted time: %s" % ana.estimate)
    return out


def text(rep, args, out):
    ana = Analysis(rep)
    rows = ana.ranked(args.match)
    lines = header_lines(rep, ana)
    top = rows[:args.top]
    lines.append("")
    lines.append("  %4s %10s %6s %10s %6s %9s %7s %10s %-5s %-9s  %s  %s" % (
        "rank", "time", "share", "wasted", "share", "aborts", "abort%", "acquired", "tier", "cause",
        pad("site", SITE_COLS), "lock"))
    total = sum(r["wasted"] for r in rows) or 1
    ttotal = sum(r["time"] for r in rows) or 1
    for k, r in enumerate(top, 1):
        s = r["site"] or {}
        att = s.get("attempts", 0) if s else sum(m["site"].get("attempts", 0) for m in r["members"])
        lines.append("  %4d %10s %5.1f%% %10s %5.1f%% %9d %6.1f%% %10d %-5s %-9s  %s  %s" % (
            k, fmt_ms(r["time"]) if r["time"] else "-", 100.0 * r["time"] / ttotal,
            ana.fmt_wasted(r["wasted"]), 100.0 * r["wasted"] / total, r["aborts"],
            100.0 * r["aborts"] / att if att else 0.0, r["acq"], (s.get("tier") or "-") if s else "-",
            r["cause"] or "-", pad(elide(r["name"], SITE_COLS), SITE_COLS), r["lock"]))
    more = len(rows) - len(top)
    if not rows:
        lines.append("  (no site%s)" % (" matches %r" % args.match if args.match else ""))
    lines.append("%d more site%s in the JSON (--top N shows more; --format json, html)" % (
        more, "" if more == 1 else "s"))
    out.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- trace

def trace(rep, args, out):
    tl = rep.get("timeline")
    if not tl or not tl.get("threads"):
        raise Fail("no timeline in the report; record one with HTMGIL_TRACE=N (events per thread), "
                   "e.g. HTMGIL_TRACE=100000 htmgil run --report r.json -- CMD")
    hz = float(tl.get("tsc_hz") or 0)
    if hz <= 0:
        raise Fail("the timeline has no cycle counter frequency (tsc_hz); it cannot be put on a "
                   "time axis: record it on x86-64")
    sites = site_list(rep)
    base = min((e[0] for th in tl["threads"] for e in th["events"]), default=0)
    ev = []
    pids = {}
    for th in tl["threads"]:
        pid = th.get("pid") or (rep.get("process") or {}).get("pid", 0)
        pids.setdefault(pid, None)
        ev.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": th["thread"],
                   "args": {"name": "thread %d" % th["thread"]}})
        for e in th["events"]:
            lname, s = sites[e[2]]
            if args.match and args.match not in s.get("name", ""):
                continue
            ev.append({"name": s.get("name", ""), "cat": e[3], "ph": "X",
                       "ts": round((e[0] - base) * 1e6 / hz, 3),
                       "dur": round(max(0, e[1] - e[0]) * 1e6 / hz, 3),
                       "pid": pid, "tid": th["thread"],
                       "args": {"lock": lname, "tier": e[3], "attempts": e[4]}})
    for p in (rep.get("processes") or [rep.get("process")]):
        if p and p.get("pid") in pids:
            ev.append({"name": "process_name", "ph": "M", "pid": p["pid"], "tid": 0,
                       "args": {"name": " ".join(p.get("cmdline") or []) or str(p["pid"])}})
    json.dump({"traceEvents": ev, "displayTimeUnit": "ms"}, out)
    out.write("\n")


# ---------------------------------------------------------------- html

TIER_COLOR = {"htm": "#2e7d32", "emu": "#66bb6a", "stm": "#1e88e5", "lock": "#e53935"}

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #eee;
text-align:right}th{background:#f4f4f4;cursor:pointer;user-select:none}td.l,th.l{text-align:left}
.bar{display:inline-block;height:12px;vertical-align:middle}.mono{font-family:monospace}
.key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.note{color:#666}svg text{font:11px sans-serif}
"""

JS = """
(function(){
function key(td){var v=td.getAttribute('data-v');if(v!==null)return parseFloat(v);return td.textContent;}
document.querySelectorAll('table.sort').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows),d=th.getAttribute('data-d')==='1'?-1:1;
  th.setAttribute('data-d',d===1?'1':'0');
  rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);return (x<y?-1:x>y?1:0)*d;});
  rows.forEach(function(r){body.appendChild(r);});});});});
var tip=document.getElementById('tip');
document.querySelectorAll('svg rect[data-t]').forEach(function(r){
 r.addEventListener('mousemove',function(){tip.textContent=r.getAttribute('data-t');});});
document.body.setAttribute('data-ready','1');
})();
"""


def esc(s):
    return html.escape(str(s), quote=True)


def bars(items, total):
    """One horizontal bar split by tier: items [(tier, value)]."""
    out = []
    for tier, v in items:
        if v > 0 and total > 0:
            out.append('<span class="bar" style="width:%.1fpx;background:%s" title="%s %.1f%%"></span>'
                       % (600.0 * v / total, TIER_COLOR.get(tier, "#999"), esc(tier), 100.0 * v / total))
    return "".join(out)


def timeline_svg(rep, ana, limit=20000):
    threads = [th for th in ana.threads if th["events"]]
    evs = [(th["thread"], e) for th in threads for e in th["events"]]
    note = ""
    if len(evs) > limit:
        evs.sort(key=lambda te: te[1][0])
        evs = evs[-limit:]
        note = '<p class="note">the last %d of %d recorded sections are drawn</p>' % (limit, sum(
            len(th["events"]) for th in threads))
    t0 = min(e[0] for _, e in evs)
    t1 = max(e[1] for _, e in evs)
    span = max(1, t1 - t0)
    lane, left, w = 22, 130, 1080
    lanes = {th["thread"]: k for k, th in enumerate(threads)}
    h = lane * len(threads) + 30
    parts = ['<svg width="%d" height="%d" role="img" aria-label="per-thread timeline">' % (left + w + 10, h)]
    for th in threads:
        y = lanes[th["thread"]] * lane
        parts.append('<text x="0" y="%d">thread %d%s</text>' % (
            y + 14, th["thread"], (" pid %s" % th["pid"]) if th.get("pid") else ""))
    names = ana.sites
    for tid, e in evs:
        x = left + w * (e[0] - t0) / span
        dx = max(0.5, w * (e[1] - e[0]) / span)
        y = lanes[tid] * lane + 2
        nm = names[e[2]][1].get("name", "") if 0 <= e[2] < len(names) else "?"
        parts.append('<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" data-t="%s"/>' % (
            x, y, dx, lane - 6, TIER_COLOR.get(e[3], "#999"),
            esc("%s  [%s, %d attempts, %.1f us]" % (nm, e[3], e[4], (e[1] - e[0]) * 1e6 / ana.hz))))
    parts.append('<text x="%d" y="%d">0</text><text x="%d" y="%d" text-anchor="end">%.3f ms</text>' % (
        left, h - 6, left + w, h - 6, span * 1e3 / ana.hz))
    parts.append("</svg>")
    return note + "".join(parts)


def html_page(rep, args, out):
    ana = Analysis(rep)
    rows = ana.ranked(args.match)
    top = rows[:args.top]
    procs = [p for p in (rep.get("processes") or [rep.get("process")]) if p]
    rtm = rep.get("rtm") or {}
    b = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
         "<title>htmgil report</title><style>%s</style></head><body>" % CSS]
    b.append("<h1>htmgil report</h1>")
    b.append("<p>mode <b>%s</b>; RTM %s (%s); %d process%s</p>" % (
        esc(rep.get("mode")), "usable" if rtm.get("usable") else "not usable", esc(rtm.get("verdict", "?")),
        len(procs), "" if len(procs) == 1 else "es"))
    b.append('<table><thead><tr><th class="l">pid</th><th class="l">parent</th>'
             '<th class="l">command</th></tr></thead><tbody>')
    for p in procs:
        b.append('<tr><td class="l">%s</td><td class="l">%s</td><td class="l mono">%s</td></tr>' % (
            esc(p.get("pid")), esc(p.get("ppid")), esc(" ".join(p.get("cmdline") or []))))
    b.append("</tbody></table>")
    if rep.get("emulated"):
        b.append('<p class="note">emulated HTM: %s</p>' % esc(rep["emulated"].get("note", "")))
    b.append('<p class="note">wasted time: %s</p>' % esc(ana.estimate))

    # Where time went: per tier, then per thread.
    b.append("<h2>Where time went</h2>")
    b.append('<p class="key">' + "".join('<span style="background:%s"></span>%s' % (c, t)
                                         for t, c in TIER_COLOR.items()) + "</p>")
    com, cyc = {}, {}
    for _, s in ana.sites:
        add_maps(com, s.get("commits"))
        add_maps(cyc, s.get("cycles"))
    ncom = sum(com.get(t, 0) for t in TIERS)
    b.append("<table><tbody>")
    b.append('<tr><td class="l">sections by tier (%d)</td><td class="l">%s</td><td class="l">%s</td></tr>' % (
        ncom, bars([(t, com.get(t, 0)) for t in TIERS], ncom),
        esc(", ".join("%s %d" % (t, com.get(t, 0)) for t in TIERS))))
    # cycles: "htm" is the speculative tier, emulated or not
    spec = "emu" if com.get("emu", 0) > com.get("htm", 0) else "htm"
    cy = [(spec, cyc.get("htm", 0)), ("stm", cyc.get("stm", 0)), ("lock", cyc.get("lock", 0))]
    ncy = sum(v for _, v in cy)
    b.append('<tr><td class="l">sampled cycles by tier</td><td class="l">%s</td><td class="l">%s</td></tr>' % (
        bars(cy, ncy), esc(", ".join("%s %d" % tv for tv in cy)) if ncy else "none sampled"))
    if ana.threads and ana.hz > 0:
        per = []
        for th in ana.threads:
            d = {}
            for e in th["events"]:
                d[e[3]] = d.get(e[3], 0) + (e[1] - e[0])
            per.append((th, d))
        mx = max((sum(d.values()) for _, d in per), default=0)
        for th, d in per:
            b.append('<tr><td class="l">thread %d%s</td><td class="l">%s</td><td class="l">%s</td></tr>' % (
                th["thread"], (" (pid %s)" % th["pid"]) if th.get("pid") else "",
                bars([(t, d.get(t, 0)) for t in TIERS], mx),
                esc(", ".join("%s %.3f ms" % (t, d[t] * 1e3 / ana.hz) for t in TIERS if t in d))))
    b.append("</tbody></table>")
    if not ana.threads:
        b.append('<p class="note">per-thread time needs a timeline: run with HTMGIL_TRACE=N '
                 "(events kept per thread, e.g. 100000) and a .json report</p>")

    # Top sites.
    b.append("<h2>Top %d sites by wasted time%s</h2>" % (
        len(top), (" matching &ldquo;%s&rdquo;" % esc(args.match)) if args.match else ""))
    b.append('<table class="sort"><thead><tr><th>rank</th><th>wasted</th><th>aborts</th>'
             + "".join("<th>%s</th>" % c for c in CAUSES)
             + '<th>abort%</th><th>sections</th><th class="l">tier</th><th class="l">explicit codes</th>'
               '<th class="l">site</th><th class="l">lock</th></tr></thead><tbody>')
    for k, r in enumerate(top, 1):
        s = r["site"]
        if s is None:
            ab, att, codes, tier = {}, 0, {}, "-"
            for m in r["members"]:
                add_maps(ab, m["site"].get("aborts"))
                add_maps(codes, m["site"].get("explicit_codes"))
                att += m["site"].get("attempts", 0)
        else:
            ab, att, codes, tier = s.get("aborts", {}), s.get("attempts", 0), s.get("explicit_codes", {}), s.get("tier")
        b.append("<tr><td>%d</td><td data-v=\"%g\">%s</td><td>%d</td>%s<td>%.1f</td><td>%d</td>"
                 '<td class="l">%s</td><td class="l">%s</td><td class="l mono">%s</td><td class="l">%s</td></tr>' % (
                     k, r["wasted"], esc(ana.fmt_wasted(r["wasted"])), r["aborts"],
                     "".join("<td>%d</td>" % ab.get(c, 0) for c in CAUSES),
                     100.0 * r["aborts"] / att if att else 0.0, r["acq"], esc(tier or "-"),
                     esc(", ".join("%s %d" % kv for kv in sorted(codes.items(), key=lambda kv: -kv[1]))),
                     esc(r["name"]), esc(r["lock"])))
    b.append("</tbody></table>")
    more = len(rows) - len(top)
    b.append('<p class="note">%d more site%s in the JSON report</p>' % (more, "" if more == 1 else "s"))

    # Conflict culprits: explicit codes, and bytecodes of the GIL's sites.
    b.append("<h2>Conflict culprits</h2>")
    codes, ops = {}, {}
    for _, s in ana.sites:
        add_maps(codes, s.get("explicit_codes"))
    gil = [s for lname, s in ana.sites if lname == "gil"]
    for s in gil:
        m = re.match(r"^([A-Z_0-9+]+)@", s.get("name", ""))
        if m:
            o = ops.setdefault(m.group(1), {"sites": 0, "conflict": 0, "aborts": 0})
            o["sites"] += 1
            o["conflict"] += s.get("aborts", {}).get("conflict", 0)
            o["aborts"] += sum(s.get("aborts", {}).values())
    if codes:
        b.append('<table class="sort"><thead><tr><th class="l">explicit abort code</th><th>aborts</th>'
                 "</tr></thead><tbody>")
        for c, n in sorted(codes.items(), key=lambda kv: -kv[1]):
            b.append('<tr><td class="l mono">%s</td><td>%d</td></tr>' % (esc(c), n))
        b.append("</tbody></table>")
    if ops:
        b.append('<p>Bytecodes of the GIL\'s sites (names from the interpreter\'s site resolver), most '
                 "conflicts first:</p>")
        b.append('<table class="sort"><thead><tr><th class="l">bytecode</th><th>sites</th><th>conflict</th>'
                 "<th>aborts</th></tr></thead><tbody>")
        for op, o in sorted(ops.items(), key=lambda kv: (-kv[1]["conflict"], -kv[1]["aborts"]))[:40]:
            b.append('<tr><td class="l mono">%s</td><td>%d</td><td>%d</td><td>%d</td></tr>' % (
                esc(op), o["sites"], o["conflict"], o["aborts"]))
        b.append("</tbody></table>")
    if not codes and not ops:
        b.append('<p class="note">no explicit abort codes and no bytecode sites in this report</p>')

    # Per-thread timeline.
    b.append("<h2>Timeline</h2>")
    if ana.threads and ana.hz > 0 and any(th["events"] for th in ana.threads):
        b.append(timeline_svg(rep, ana))
        b.append('<p class="mono" id="tip">&nbsp;</p>')
    else:
        b.append('<p class="note" id="tip">no timeline in this report: run with HTMGIL_TRACE=N (the '
                 "last N sections of each thread are kept, e.g. HTMGIL_TRACE=100000) and a .json "
                 "report, then htmgil report --format html (or --format trace for Perfetto)</p>")
    b.append("<script>%s</script></body></html>\n" % JS)
    out.write("".join(b))


# ---------------------------------------------------------------- main

class Parser(argparse.ArgumentParser):
    def error(self, message):
        die("%s; see %s --help" % (message, PROG))


# ---------------------------------------------------------------- sim

def load_sim(path):
    """A prediction of `htmgil sim --report` (schema htmgil-sim), or None."""
    try:
        with open(path, "rb") as f:
            r = json.loads(f.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None
    if isinstance(r, dict) and r.get("schema") == "htmgil-sim":
        if r.get("version") != 1 or not isinstance(r.get("sites"), list):
            raise Fail("%s is simulation report version %r; this reader knows version 1: read it "
                       "with the htmgil that wrote it" % (path, r.get("version")))
        return r
    return None


def sim_text(r, args, out):
    """The prediction as the report's text: its sites with tier sim (docs/report.md)."""
    pr, m = r["process"], r["model"]
    us = lambda cyc: cyc / (m["ghz"] * 1000.0)
    out.write("htmgil report: tier sim, predicted by htmgil sim for %s (model %s, %d cores)\n"
              % (" ".join((r.get("trace") or {}).get("info", "").split("command=")[-1:]).strip()
                 or "a recorded run", m["name"], m["cpus"]))
    out.write("predicted: threads overlap %.2fx; speedup %.2fx over every section on the lock; "
              "%.1f %% of speculative time aborted\n"
              % (pr["parallelism"], pr["speedup"], 100 * pr["aborted_fraction"]))
    if pr["parallelism"] < 1.1 and r["trace"]["threads"] > 1:
        out.write("the threads would not run at once: their sections serialize\n")
    sites = [x for x in r["sites"] if not args.match or args.match in (x.get("site_name") or "")]
    sites.sort(key=lambda x: -(x["cycles"]["aborted"] + x["cycles"]["lock"]))
    cols = ("site", "tier", "attempts", "commits", "aborts", "conflict", "capacity", "unfriendly",
            "on-lock", "aborted us", "lock us")
    rows = []
    for x in sites[:args.top]:
        a = x["aborts"]
        unf = sum(a[k] for k in ("timer", "syscall", "cpuid", "pause", "xsave", "page", "other"))
        rows.append((x.get("site_name") or x["site"], "sim", x["attempts"], x["commits"],
                     x["aborts_total"], a["conflict"], a["capacity_write"] + a["capacity_read"],
                     unf, x["lock_sections"], "%.1f" % us(x["cycles"]["aborted"]),
                     "%.1f" % us(x["cycles"]["lock"])))
    out.write("\n" + pad(cols[0], 40) + "".join("%12s" % c for c in cols[1:]) + "\n")
    for row in rows:
        out.write(pad(elide(str(row[0]), 40), 40) + "".join("%12s" % v for v in row[1:]) + "\n")
    confs = [c for c in r.get("conflicts", [])
             if not c["victim"]["lock_word"] and not c["aggressor"]["lock_word"]]
    if confs:
        out.write("\ntop data conflicts\n")
        for c in confs[:5]:
            v, g = c["victim"], c["aggressor"]
            out.write("  %s: %d aborts: %s +%s by %s <- %s +%s by %s\n" % (
                c["line"], c["count"], v["data"], v["offset"], v["code"], g["data"], g["offset"],
                g["code"]))
    shared = r.get("shared_lines") or []
    if shared:
        out.write("\nshared lines (any schedule)\n")
        for sl in shared[:5]:
            w = next((d for d in sl["sides"] if d["writes"]), sl["sides"][0])
            out.write("  %s: score %d, %d threads: %s +%s by %s\n" % (
                sl["line"], sl["score"], sl["threads"], w["data"], w["offset"], w["code"]))


def main(argv):
    global PROG
    if argv and argv[0].startswith("--prog="):
        PROG = argv[0][len("--prog="):]
        argv = argv[1:]
    p = Parser(prog=PROG, description="Reads the JSON exit reports of one run (docs/report.md).")
    p.add_argument("files", nargs="+", metavar="FILE.json", help="reports of the processes of one run")
    p.add_argument("--top", type=int, default=20, metavar="N", help="rows by wasted time (default 20)")
    p.add_argument("--match", metavar="TEXT", help="keep sites whose name contains TEXT")
    p.add_argument("--format", default="text", choices=("text", "json", "html", "trace"))
    p.add_argument("--per-process", action="store_true", help="one table per report (text)")
    p.add_argument("-o", dest="out", metavar="OUT", help="write here instead of stdout")
    args = p.parse_args(argv)
    if args.top < 1:
        die("--top %d: give a number of rows of 1 or more" % args.top)
    try:
        sims = [load_sim(f) for f in args.files]
        if any(sims):
            if not all(sims) or len(sims) > 1:
                raise Fail("a simulation report (htmgil sim --report) is read alone; give it "
                           "without other files")
            if args.format == "json":
                json.dump(sims[0], sys.stdout, ensure_ascii=False)
                sys.stdout.write("\n")
            elif args.format == "text":
                sim_text(sims[0], args, sys.stdout)
            else:
                raise Fail("--format %s does not apply to a simulation report; use text or json"
                           % args.format)
            return 0
        reports = [load(f) for f in args.files]
        rep = merge(reports)
        out = sys.stdout
        if args.out:
            try:
                out = open(args.out, "w", encoding="utf-8")
            except OSError as e:
                raise Fail("cannot write %s (%s); name a writable file with -o" % (args.out, e.strerror))
        elif hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(encoding="utf-8")
        if args.format == "text":
            if args.per_process and len(reports) > 1:
                for k, r in enumerate(reports):
                    if k:
                        out.write("\n")
                    text(merge([r]), args, out)
            else:
                text(rep, args, out)
        elif args.format == "json":
            if args.match:
                for lk in rep["locks"]:
                    lk["sites"] = [s for s in lk["sites"] if args.match in s.get("name", "")]
                rep["timeline"] = None if args.match else rep["timeline"]
            json.dump(rep, out, ensure_ascii=False)
            out.write("\n")
        elif args.format == "html":
            html_page(rep, args, out)
        else:
            trace(rep, args, out)
        if out is not sys.stdout:
            out.close()
    except Fail as e:
        die(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
