#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reads a section trace (sim/trace.h), checks the invariants the header
promises, and asserts what one case of tests/sim/sim_sections.c must have
recorded.

usage: check_trace.py --run VALGRIND VGLIB PROG CASE [TOOL-OPTION...]
           run PROG CASE under valgrind --tool=htmgilsim (VALGRIND_LIB=VGLIB)
           and check its trace
       check_trace.py --trace FILE CASE [key=value...]
           check an existing trace (key=value: what the case printed)
"""
import os
import struct
import subprocess
import sys
import tempfile

MAGIC = b"HGSIMTR1"
R_THREAD, R_BEGIN, R_END, R_DESC, R_EXIT, R_INFO = 1, 2, 3, 4, 5, 6
B_CONTINUES = 1
E_YIELD, E_TRUNCATED = 1, 2
NONE = 0xffffffff
SUBS_MAX = 64
EV_SYSCALL, EV_CPUID, EV_PAUSE, EV_XSAVE, EV_PAGE, EV_OTHER = 1, 2, 3, 4, 5, 6
D_CODE, D_GLOBAL, D_HEAP, D_STACK, D_MAP = 1, 2, 3, 4, 5


class Bad(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Bad(what)


def text_of(payload):
    return payload.split(b"\0", 1)[0].decode("utf-8", "replace")


def low_bit(m):
    return (m & -m).bit_length() - 1


def sub_of(starts, x):
    """The sub-interval holding offset x: starts[j] < x <= starts[j+1]."""
    j = 0
    while j + 1 < len(starts) and starts[j + 1] < x:
        j += 1
    return j


class Trace:
    """The records of one trace, checked against sim/trace.h as read."""

    def __init__(self, data):
        need(len(data) >= 32, "trace shorter than its head")
        magic, version, shift, page, pid = struct.unpack_from("<8sIIQQ", data, 0)
        need(magic == MAGIC, "bad magic %r" % magic)
        need(version == 2 and shift == 6, "version %d, line shift %d" % (version, shift))
        self.page_size, self.pid = page, pid
        self.threads = {}   # serial -> parent
        self.descs = {}     # id -> (kind, base, size, text)
        self.intervals = [] # chunks, in END order: dicts of serial, begin, end, starts,
                            # sites, lines, events, bpos/epos (record numbers)
        self.exits = {}
        self.info = ""
        self.opts = {}
        self.chunk_max = SUBS_MAX
        open_ = {}          # serial -> chunk dict
        last_icount = {}
        yielded = {}        # serial -> icount of an END with E_YIELD
        pos = 32
        nrec = 0
        while pos < len(data):
            nrec += 1
            need(pos + 8 <= len(data), "truncated record head at %d" % pos)
            typ, ln = struct.unpack_from("<II", data, pos)
            pos += 8
            need(ln % 8 == 0 and pos + ln <= len(data), "bad record length %d at %d" % (ln, pos))
            p = data[pos:pos + ln]
            pos += ln
            if typ == R_INFO:
                self.info += text_of(p)
                self.opts = dict(w.split("=", 1) for w in self.info.split("\n") if "=" in w)
                self.chunk_max = int(self.opts.get("chunk", SUBS_MAX))
            elif typ == R_THREAD:
                serial, parent, icount = struct.unpack_from("<IIQ", p)
                need(serial == len(self.threads) + 1, "thread serial %d out of order" % serial)
                need(parent == 0 or parent in self.threads, "parent %d unknown" % parent)
                self.threads[serial] = parent
                last_icount[serial] = icount
            elif typ == R_BEGIN:
                serial, lock, site, sub, icount, flags, _ = struct.unpack_from("<IIQQQII", p)
                need(serial in self.threads, "BEGIN of unknown thread %d" % serial)
                need(serial not in open_, "two BEGINs of thread %d" % serial)
                need(icount >= last_icount[serial], "icount decreases (BEGIN)")
                if serial in yielded:
                    need(flags & B_CONTINUES and icount == yielded.pop(serial),
                         "BEGIN after an END with YIELD: flags %d, icount %d" % (flags, icount))
                else:
                    need(not flags & B_CONTINUES, "CONTINUES without an END with YIELD before")
                last_icount[serial] = icount
                open_[serial] = dict(serial=serial, lock=lock, site=site, sub=sub,
                                     begin=icount, bflags=flags, bpos=nrec)
            elif typ == R_END:
                serial, flags, icount, nl, ne, ns, _ = struct.unpack_from("<IIQIIII", p)
                need(serial in open_, "END without BEGIN (thread %d)" % serial)
                need(1 <= ns <= self.chunk_max, "nsubs %d, the tool's limit %d"
                     % (ns, self.chunk_max))
                lo = 32 + (4 * ns + 7) // 8 * 8
                ev0 = lo + 48 * nl
                si0 = ev0 + 24 * ne
                need(ln == si0 + 8 * ns, "END length %d for %d subs, %d lines, %d events"
                     % (ln, ns, nl, ne))
                iv = open_.pop(serial)
                need(icount >= iv["begin"], "END icount before BEGIN")
                last_icount[serial] = icount
                n = icount - iv["begin"]
                starts = list(struct.unpack_from("<%dI" % ns, p, 32))
                need(p[32 + 4 * ns:lo] == bytes(lo - 32 - 4 * ns), "starts padded with non-zero")
                need(starts[0] == 0 and all(a < b for a, b in zip(starts, starts[1:]))
                     and starts[-1] <= n, "starts %r in a chunk of %d" % (starts, n))
                sites = list(struct.unpack_from("<%dQ" % ns, p, si0))
                need(sites[0] == iv["site"], "sites[0] 0x%x, BEGIN site 0x%x"
                     % (sites[0], iv["site"]))
                lines, seen = [], set()
                for i in range(nl):
                    addr, first, fw, code, cw, dat, size, rm, wm = \
                        struct.unpack_from("<QIIIIIIQQ", p, lo + 48 * i)
                    need(addr >> 6 not in seen, "line 0x%x twice" % (addr << 0))
                    seen.add(addr >> 6)
                    need(first <= n and (fw == NONE or first <= fw <= n),
                         "offsets %d/%d outside a chunk of %d" % (first, fw, n))
                    for ident in (code, cw, dat):
                        need(ident == 0 or ident in self.descs, "id %d used before its DESC" % ident)
                    need((fw == NONE) == (cw == 0), "first_write and code_write disagree")
                    m = rm | wm
                    need(m != 0 and m >> ns == 0, "line 0x%x masks 0x%x/0x%x with %d subs"
                         % (addr, rm, wm, ns))
                    need(low_bit(m) == sub_of(starts, first),
                         "line 0x%x: lowest mask bit %d, first %d in sub %d"
                         % (addr, low_bit(m), first, sub_of(starts, first)))
                    need((wm == 0) == (fw == NONE), "line 0x%x: wmask 0x%x, first_write %d"
                         % (addr, wm, fw))
                    need(wm == 0 or low_bit(wm) == sub_of(starts, fw),
                         "line 0x%x: lowest wmask bit %d, first_write %d in sub %d"
                         % (addr, low_bit(wm), fw, sub_of(starts, fw)))
                    lines.append(dict(addr=addr, first=first, first_write=fw, code=code,
                                      code_write=cw, data=dat, size=size, rmask=rm, wmask=wm))
                events = []
                for i in range(ne):
                    at, kind, arg, code, _ = struct.unpack_from("<IIQII", p, ev0 + 24 * i)
                    need(at <= n, "event at %d outside a chunk of %d" % (at, n))
                    need(code == 0 or code in self.descs, "event code id %d undefined" % code)
                    events.append(dict(at=at, kind=kind, arg=arg, code=code))
                need([e["at"] for e in events] == sorted(e["at"] for e in events),
                     "events out of order")
                if flags & E_YIELD:
                    yielded[serial] = icount
                iv.update(end=icount, eflags=flags, lines=lines, events=events, starts=starts,
                          sites=sites, epos=nrec)
                self.intervals.append(iv)
            elif typ == R_DESC:
                ident, kind, base, size, tlen, _ = struct.unpack_from("<IIQQII", p)
                need(ident not in self.descs and ident != 0, "id %d defined twice" % ident)
                need(32 + tlen <= ln and p[32 + tlen - 1] == 0, "DESC text not NUL-terminated")
                self.descs[ident] = (kind, base, size, text_of(p[32:]))
            elif typ == R_EXIT:
                serial, _, icount = struct.unpack_from("<IIQ", p)
                need(serial in self.threads and serial not in self.exits, "bad EXIT %d" % serial)
                need(icount >= last_icount[serial], "icount decreases (EXIT)")
                need(serial not in open_ and serial not in yielded,
                     "EXIT of thread %d with its hold open" % serial)
                self.exits[serial] = icount
        need("tool=htmgilsim" in self.info and "command=" in self.info, "INFO record missing")
        need(not open_ and not yielded, "chunks left open at the end: %r"
             % sorted(set(open_) | set(yielded)))
        # The real lock serializes: chunks of one lock, of different threads,
        # never overlap in file order.
        last_end = {}       # lock -> the latest END so far, in BEGIN order
        for c in sorted(self.intervals, key=lambda c: c["bpos"]):
            need(last_end.get(c["lock"], 0) < c["bpos"],
                 "a chunk of lock %d overlaps thread %d's at record %d"
                 % (c["lock"], c["serial"], c["bpos"]))
            last_end[c["lock"]] = max(last_end.get(c["lock"], 0), c["epos"])

    def desc(self, ident):
        return self.descs.get(ident, (0, 0, 0, ""))

    def lines_in(self, iv, kind, text_start):
        return [l for l in iv["lines"]
                if self.desc(l["data"])[0] == kind and self.desc(l["data"])[3].startswith(text_start)]

    def one_interval(self, site):
        ivs = [iv for iv in self.intervals if iv["site"] == site]
        need(len(ivs) == 1, "%d intervals of site 0x%x, want 1" % (len(ivs), site))
        return ivs[0]


def case_lines(t, kv):
    iv = t.one_interval(0x11)
    mine = t.lines_in(iv, D_GLOBAL, "hg_t_lines")
    written = [l for l in mine if l["first_write"] != NONE]
    need(len(written) == 100, "%d written lines of hg_t_lines, want 100" % len(written))
    kind, base, size, _ = t.desc(written[0]["data"])
    need(base == kv["base"] and size == 6400, "hg_t_lines described at 0x%x size %d" % (base, size))
    written.sort(key=lambda l: l["addr"])
    for i, l in enumerate(written):
        need(l["addr"] == kv["base"] + i * 64 + i % 8, "line %d addr 0x%x" % (i, l["addr"]))
        need(l["size"] == 1, "line %d size %d" % (i, l["size"]))
        need("case_lines" in t.desc(l["code_write"])[3], "code of the write: %s"
             % t.desc(l["code_write"])[3])
    offs = [l["first_write"] for l in written]
    need(all(a < b for a, b in zip(offs, offs[1:])), "write offsets do not increase with the loop")
    need(offs[-1] - offs[0] >= 99 * 2, "99 loop turns in %d instructions" % (offs[-1] - offs[0]))
    need(iv["end"] - iv["begin"] >= offs[-1], "interval shorter than its last write")
    need(not iv["eflags"] & E_TRUNCATED, "interval truncated")


def case_truncated(t, kv):
    iv = t.one_interval(0x11)
    need(iv["eflags"] & E_TRUNCATED, "TRUNCATED not set")
    need(len(iv["lines"]) == 10, "%d lines kept, want 10 (--max-lines=10)" % len(iv["lines"]))


def case_global(t, kv):
    iv = t.one_interval(0x12)
    mine = t.lines_in(iv, D_GLOBAL, "hg_t_counter")
    need(len(mine) == 1, "%d lines of hg_t_counter, want 1" % len(mine))
    l = mine[0]
    need(l["addr"] == kv["base"] and l["first_write"] == NONE and l["size"] == 4,
         "hg_t_counter line: %r" % l)
    need(t.desc(l["data"])[1] == kv["base"] and t.desc(l["data"])[2] == 4,
         "hg_t_counter DESC base/size %r" % (t.desc(l["data"]),))


def case_threads(t, kv):
    ivs = [iv for iv in t.intervals if iv["site"] == 0x13]
    serials = sorted(iv["serial"] for iv in ivs)
    need(len(ivs) == 2 and serials[0] != serials[1], "intervals of serials %r" % serials)
    for s in serials:
        need(s != 1 and t.threads[s] == 1, "thread %d, parent %d" % (s, t.threads[s]))
        need(s in t.exits, "no EXIT for thread %d" % s)
    for iv in ivs:
        need(t.lines_in(iv, D_GLOBAL, "hg_t_counter"), "thread %d: no hg_t_counter line" % iv["serial"])
        stacks = {t.desc(l["data"])[3] for l in iv["lines"] if t.desc(l["data"])[0] == D_STACK}
        need(stacks <= {"stack of thread %d" % iv["serial"]}, "stacks %r" % stacks)


def case_interleave(t, kv):
    ivs = [iv for iv in t.intervals if iv["site"] == 0x21]
    serials = sorted(iv["serial"] for iv in ivs)
    need(len(ivs) == 2 and serials[0] != serials[1], "intervals of serials %r" % serials)
    owns = []
    for iv in ivs:
        ctr = t.lines_in(iv, D_GLOBAL, "hg_t_counter")
        need(len(ctr) == 1 and ctr[0]["wmask"] & 1, "thread %d: hg_t_counter lines %r"
             % (iv["serial"], ctr))
        own = [l["addr"] >> 6 for l in t.lines_in(iv, D_GLOBAL, "hg_t_own") if l["wmask"] & 1]
        need(len(own) == 1, "thread %d: written hg_t_own lines %r" % (iv["serial"], own))
        owns.append(own[0])
    need(sorted(owns) == sorted([kv["own0"] >> 6, kv["own1"] >> 6]),
         "own lines %r, want those of 0x%x and 0x%x" % (owns, kv["own0"], kv["own1"]))


def case_syscall(t, kv):
    iv = t.one_interval(0x14)
    ev = [e for e in iv["events"] if e["kind"] == EV_SYSCALL]
    need(len(ev) == 1 and ev[0]["arg"] == kv["sysno"], "SYSCALL events %r" % ev)
    need(ev[0]["code"] != 0, "SYSCALL without code id")


def case_heap(t, kv):
    iv = t.one_interval(0x15)
    mine = [l for l in iv["lines"] if t.desc(l["data"])[0] == D_HEAP]
    need(len(mine) == 1, "%d heap lines, want 1" % len(mine))
    kind, base, size, text = t.desc(mine[0]["data"])
    need(base == kv["base"] and size == 1000 and mine[0]["addr"] == kv["base"] + 500,
         "heap block 0x%x size %d line 0x%x" % (base, size, mine[0]["addr"]))
    need(text.startswith("heap block of 1000 bytes allocated at") and "hg_t_make_block" in text,
         "heap DESC %r" % text)


def case_page(t, kv):
    first, second = t.one_interval(0x16), t.one_interval(0x17)
    ev = [e for e in first["events"] if e["kind"] == EV_PAGE]
    need(len(ev) == 1 and ev[0]["arg"] == kv["base"], "PAGE events %r of a fresh page" % ev)
    need(not [e for e in second["events"] if e["kind"] == EV_PAGE],
         "PAGE event when the page was touched before")
    maps = [l for l in first["lines"] if t.desc(l["data"])[0] == D_MAP]
    # The client's own mmap: named by its size and the code that made it.
    need(len(maps) == 1 and t.desc(maps[0]["data"])[3].startswith(
             "anonymous mapping of 4096 bytes made at case_page < main"),
         "mapping lines %r" % [t.desc(l["data"]) for l in maps])
    need(t.desc(maps[0]["data"])[1] == kv["base"] and t.desc(maps[0]["data"])[2] == 4096,
         "mapping extent %r" % (t.desc(maps[0]["data"]),))


def case_fixed(t, kv):
    """A mapping made with MAP_FIXED inside a reservation is named by itself."""
    iv = t.one_interval(0x19)
    maps = [l for l in iv["lines"] if t.desc(l["data"])[0] == D_MAP]
    need(len(maps) == 1, "mapping lines %r" % [t.desc(l["data"]) for l in maps])
    kind, base, size, text = t.desc(maps[0]["data"])
    need(base == kv["base"] and size == 4096 and
         text.startswith("anonymous mapping of 4096 bytes made at case_fixed < main"),
         "the inner mapping is described as %r" % (t.desc(maps[0]["data"]),))


def case_cpuid(t, kv):
    iv = t.one_interval(0x18)
    need([e["kind"] for e in iv["events"]] == [EV_CPUID], "events %r" % iv["events"])


def case_pause(t, kv):
    iv = t.one_interval(0x19)
    need([e["kind"] for e in iv["events"]] == [EV_PAUSE], "events %r" % iv["events"])


def case_outside(t, kv):
    need(len(t.intervals) == 2, "%d intervals, want 2" % len(t.intervals))
    for site in (0x1c, 0x1a):
        iv = t.one_interval(site)
        need(not iv["events"], "events %r in an empty section" % iv["events"])
        kinds = {t.desc(l["data"])[0] for l in iv["lines"]}
        need(kinds <= {D_STACK}, "lines of %r in an empty section"
             % [t.desc(l["data"]) for l in iv["lines"]])
        need(iv["end"] - iv["begin"] < 20, "empty section of %d instructions"
             % (iv["end"] - iv["begin"]))


def case_yield(t, kv):
    """begin, yield, begin at another site, end: one chunk of two
    sub-intervals; with --chunk=1, two chunks joined by YIELD/CONTINUES."""
    ivs = [iv for iv in t.intervals if iv["site"] in (0x1b, 0x1e)]
    if t.chunk_max == 1:
        need(len(ivs) == 2, "%d chunks, want 2 (--chunk=1)" % len(ivs))
        need(ivs[0]["eflags"] & E_YIELD and not ivs[1]["eflags"] & E_YIELD, "END flags")
        need(not ivs[0]["bflags"] & B_CONTINUES and ivs[1]["bflags"] & B_CONTINUES,
             "BEGIN flags")
        need([iv["site"] for iv in ivs] == [0x1b, 0x1e], "sites %r" % [iv["site"] for iv in ivs])
        need(ivs[0]["end"] == ivs[1]["begin"], "instructions between two chunks of a hold")
        for iv in ivs:
            need(iv["starts"] == [0], "starts %r" % iv["starts"])
            need(t.lines_in(iv, D_GLOBAL, "hg_t_counter"), "no hg_t_counter line")
        return
    need(len(ivs) == 1, "%d chunks, want 1" % len(ivs))
    iv = ivs[0]
    need(not iv["eflags"] & E_YIELD and not iv["bflags"] & B_CONTINUES, "flags %d/%d"
         % (iv["bflags"], iv["eflags"]))
    need(len(iv["starts"]) == 2 and iv["sites"] == [0x1b, 0x1e], "subs %r at sites %r"
         % (iv["starts"], iv["sites"]))
    c = t.lines_in(iv, D_GLOBAL, "hg_t_counter")
    need(len(c) == 1 and c[0]["rmask"] == 3 and c[0]["wmask"] == 3,
         "hg_t_counter, read and written in both: %r" % c)


def case_yield100(t, kv):
    """One hold of 100 yield intervals at sites 0x1000 + i, each writing
    hg_t_counter: chunks of --chunk intervals (64 + 36 by default)."""
    ivs = [iv for iv in t.intervals if iv["lock"] == 2]
    want = [min(t.chunk_max, 100 - k) for k in range(0, 100, t.chunk_max)]
    need([len(iv["starts"]) for iv in ivs] == want, "chunks of %r sub-intervals, want %r"
         % ([len(iv["starts"]) for iv in ivs], want))
    for i, iv in enumerate(ivs):
        last = i == len(ivs) - 1
        need(bool(iv["eflags"] & E_YIELD) == (not last), "chunk %d END flags %d"
             % (i, iv["eflags"]))
        need(bool(iv["bflags"] & B_CONTINUES) == (i > 0), "chunk %d BEGIN flags %d"
             % (i, iv["bflags"]))
        if not last:
            need(iv["end"] == ivs[i + 1]["begin"], "instructions between chunks %d and %d"
                 % (i, i + 1))
        c = t.lines_in(iv, D_GLOBAL, "hg_t_counter")
        full = (1 << len(iv["starts"])) - 1
        need(len(c) == 1 and c[0]["wmask"] == full and c[0]["rmask"] == full,
             "chunk %d: hg_t_counter masks %r, want 0x%x" % (i, c, full))
    sites = [s for iv in ivs for s in iv["sites"]]
    need(sites == [0x1000 + i for i in range(100)], "sites %r" % sites)


def case_masks(t, kv):
    """Six sub-intervals: line a read in 0 and written in 3; b written and c
    read only in 5; d written between sub-interval 2's end marker and the
    next begin, outside any transaction, so not recorded."""
    iv = t.one_interval(0x30)
    st = iv["starts"]
    need(iv["sites"] == [0x30 + j for j in range(6)], "sites %r" % iv["sites"])
    by = {l["addr"] >> 6: l for l in t.lines_in(iv, D_GLOBAL, "hg_t_lines")}
    def line(k):
        l = by.get((kv["base"] >> 6) + k)
        need(l is not None, "no line %d of hg_t_lines" % k)
        return l
    a, b, c = line(0), line(5), line(6)
    need(a["rmask"] == 1 and a["wmask"] == 1 << 3, "line a masks 0x%x/0x%x"
         % (a["rmask"], a["wmask"]))
    need(st[3] < a["first_write"] <= st[4], "line a first_write %d outside sub 3 %r"
         % (a["first_write"], st))
    need(a["first"] <= st[1], "line a first %d outside sub 0" % a["first"])
    need(b["rmask"] == 0 and b["wmask"] == 1 << 5, "line b masks 0x%x/0x%x"
         % (b["rmask"], b["wmask"]))
    need(c["rmask"] == 1 << 5 and c["wmask"] == 0 and c["first_write"] == NONE,
         "line c masks 0x%x/0x%x" % (c["rmask"], c["wmask"]))
    need((kv["base"] >> 6) + 7 not in by,
         "line d, written between an end marker and the next begin, was recorded")
    need(len(by) == 3, "%d lines of hg_t_lines, want 3" % len(by))


def case_cut(t, kv):
    """Holds that end after a yield point without a begin continuing them:
    another thread begins (lock 1), the thread exits, a begin of lock 2."""
    order = [(iv["site"], iv["serial"], iv["lock"]) for iv in t.intervals]
    need(order == [(0x40, 1, 1), (0x41, 2, 1), (0x42, 1, 1), (0x43, 1, 2)],
         "chunks %r" % order)
    for iv in t.intervals:
        need(iv["eflags"] == 0 and iv["bflags"] == 0 and len(iv["starts"]) == 1,
             "chunk 0x%x: flags %d/%d, %d subs" % (iv["site"], iv["bflags"], iv["eflags"],
                                                  len(iv["starts"])))


def case_exec(t, kv):
    iv = t.one_interval(0x1d)
    need(t.lines_in(iv, D_GLOBAL, "hg_t_counter"), "no hg_t_counter line")


def case_stack(t, kv):
    """The section's stack lines are the callee's array, written, and few
    more: not the deeper stack written before it began."""
    iv = t.one_interval(0x1f)
    mine = t.lines_in(iv, D_STACK, "stack of thread")
    lo, hi = kv["buf"] >> 6, (kv["buf"] + kv["buf_size"] - 1) >> 6
    buf = [l for l in mine if lo <= l["addr"] >> 6 <= hi]
    need(len(buf) == hi - lo + 1, "%d lines of the stack array, want %d" % (len(buf), hi - lo + 1))
    need(all(l["first_write"] != NONE and l["code_write"] != 0 for l in buf),
         "stack array lines not all written with their code")
    need(len(mine) <= len(buf) + 16, "%d stack lines, want the array's %d and at most 16 more"
         % (len(mine), len(buf)))
    deeper = [l for l in mine if l["addr"] >> 6 < lo - 4]
    need(not deeper, "%d lines below the array (the stack written before the section)"
         % len(deeper))


def case_rodata(t, kv):
    """A load from a read-only mapping at a constant address is not kept;
    the counter the section writes is."""
    iv = t.one_interval(0x20)
    need(t.lines_in(iv, D_GLOBAL, "hg_t_counter"), "hg_t_counter not kept")
    ro = [l for l in iv["lines"] if l["addr"] >> 6 == kv["table"] >> 6]
    need(not ro, "the read-only table's line is kept: %r" % ro)


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}


def parse_kv(words):
    kv = {}
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            try:
                kv[k] = int(v, 0)
            except ValueError:
                kv[k] = v
    return kv


def check(path, case, kv):
    with open(path, "rb") as f:
        t = Trace(f.read())
    CASES[case](t, kv)
    return t


def main(argv):
    try:
        if len(argv) >= 5 and argv[0] == "--run":
            valgrind, vglib, prog, case = argv[1:5]
            program_case = {"truncated": "lines"}.get(case, case)
            with tempfile.TemporaryDirectory(prefix="hg_sim_") as d:
                path = os.path.join(d, "trace")
                env = dict(os.environ, VALGRIND_LIB=vglib)
                r = subprocess.run([valgrind, "-q", "--tool=htmgilsim", "--trace=" + path]
                                   + argv[5:] + [prog, program_case],
                                   env=env, capture_output=True, text=True)
                sys.stderr.write(r.stderr)
                need(r.returncode == 0, "the program under the tool exited %d" % r.returncode)
                t = check(path, case, parse_kv(r.stdout.split()))
        elif len(argv) >= 3 and argv[0] == "--trace" and argv[2] in CASES:
            t = check(argv[1], argv[2], parse_kv(argv[3:]))
        else:
            print(__doc__.strip(), file=sys.stderr)
            return 2
    except Bad as e:
        print("FAIL %s: %s" % (argv[4] if argv[0] == "--run" else argv[2], e))
        return 1
    print("ok %s: %d threads, %d intervals, %d descriptions"
          % (argv[4] if argv[0] == "--run" else argv[2], len(t.threads), len(t.intervals),
             len(t.descs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
