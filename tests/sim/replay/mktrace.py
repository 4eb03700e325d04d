#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes synthetic section traces (the format of sim/trace.h) for the
replay's tests: a small writer on the struct module, and the scenarios
check_replay.py replays.  Each scenario is a function returning a Trace."""

import struct

MAGIC = b"HGSIMTR1"
VERSION = 2
SUBS_MAX = 64
NONE = 0xFFFFFFFF
R_THREAD, R_BEGIN, R_END, R_DESC, R_EXIT, R_INFO = 1, 2, 3, 4, 5, 6
B_CONTINUES = 1
E_YIELD, E_TRUNCATED = 1, 2
EV_SYSCALL, EV_CPUID, EV_PAUSE, EV_XSAVE, EV_PAGE, EV_OTHER = 1, 2, 3, 4, 5, 6
D_CODE, D_GLOBAL, D_HEAP, D_STACK, D_MAP = 1, 2, 3, 4, 5

LOCK_WORD = 0x7F0000001000  # the subscription word of lock 1, on a line of its own


def _pad(b):
    return b + b"\0" * (-len(b) % 8)


class Trace:
    """Records in file order; per thread, a running instruction count."""

    def __init__(self, page_size=4096, pid=4242):
        self.page_size, self.pid = page_size, pid
        self.recs = []
        self.ic = {}
        self.next_desc = 1

    def rec(self, rtype, payload):
        assert len(payload) % 8 == 0
        self.recs.append(struct.pack("<II", rtype, len(payload)) + payload)

    def info(self, text):
        self.rec(R_INFO, _pad(text.encode() + b"\0"))

    def thread(self, parent=0):
        serial = len(self.ic) + 1
        self.ic[serial] = 0
        self.rec(R_THREAD, struct.pack("<IIQ", serial, parent, 0))
        return serial

    def desc(self, kind, text, base=0, size=0):
        i = self.next_desc
        self.next_desc += 1
        t = text.encode() + b"\0"
        self.rec(R_DESC, struct.pack("<IIQQII", i, kind, base, size, len(t), 0) + _pad(t))
        return i

    def run(self, serial, n):
        """n instructions outside sections."""
        self.ic[serial] += n

    def section(self, serial, length, lines=(), events=(), site=0x51, lock=1,
                sub=LOCK_WORD, continues=False, yield_end=False, truncated=False,
                starts=(0,), sites=None):
        """One chunk of `length` instructions, of sub-intervals beginning at
        `starts` (one by default).  lines: (addr, first, first_write or None,
        code, data), or the same with (rmask, wmask) appended (the default,
        for one sub-interval: read if not written first, written if
        first_write); events: (at, kind, arg, code); sites: each
        sub-interval's site (default: `site` for all)."""
        b = self.ic[serial]
        self.rec(R_BEGIN, struct.pack("<IIQQQII", serial, lock, site, sub, b,
                                      B_CONTINUES if continues else 0, 0))
        e = b + length
        self.ic[serial] = e
        flags = (E_YIELD if yield_end else 0) | (E_TRUNCATED if truncated else 0)
        body = struct.pack("<IIQIIII", serial, flags, e, len(lines), len(events), len(starts), 0)
        body += _pad(struct.pack("<%dI" % len(starts), *starts))
        for ln in lines:
            addr, first, fw, code, data = ln[:5]
            if len(ln) > 5:
                rmask, wmask = ln[5], ln[6]
            else:
                rmask = 1 if fw is None or first < fw else 0
                wmask = 0 if fw is None else 1
            body += struct.pack("<QIIIIIIQQ", addr, first, NONE if fw is None else fw,
                                code, code if fw is not None else 0, data, 8, rmask, wmask)
        for at, kind, arg, code in events:
            body += struct.pack("<IIQII", at, kind, arg, code, 0)
        sites = list(sites) if sites is not None else [site] * len(starts)
        assert len(sites) == len(starts) and sites[0] == site
        body += struct.pack("<%dQ" % len(sites), *sites)
        self.rec(R_END, body)

    def hold(self, serial, subs, per_chunk=SUBS_MAX, **kw):
        """One lock hold of yield intervals, recorded as the tool does: joined
        into chunks of up to per_chunk sub-intervals.  subs: (length, lines,
        events[, site]) per yield interval, with offsets from its own start
        (1..length: the offset of the x-th instruction is x); lines: (addr,
        first, first_write or None, code, data); events: (at, kind, arg,
        code); site: the yield interval's (default kw's site)."""
        assert 1 <= per_chunk <= SUBS_MAX
        groups = [subs[i:i + per_chunk] for i in range(0, len(subs), per_chunk)]
        for g, group in enumerate(groups):
            starts, at, merged, order, evs, sites = [], 0, {}, [], [], []
            for j, sub in enumerate(group):
                length, lines, events = sub[:3]
                sites.append(sub[3] if len(sub) > 3 else kw.get("site", 0x51))
                starts.append(at)
                for addr, first, fw, code, data in lines:
                    assert fw is None or first <= fw
                    line = addr >> 6
                    if line not in merged:
                        merged[line] = [addr, at + first, None, code, data, 0, 0]
                        order.append(line)
                    m = merged[line]
                    if fw is None or first < fw:
                        m[5] |= 1 << j
                    if fw is not None:
                        if m[2] is None:
                            m[0], m[2] = addr, at + fw
                        m[6] |= 1 << j
                for ev_at, kind, arg, code in events:
                    evs.append((at + ev_at, kind, arg, code))
                at += length
            kw2 = dict(kw, site=sites[0])
            self.section(serial, at, lines=[tuple(merged[x]) for x in order], events=evs,
                         continues=g > 0, yield_end=g < len(groups) - 1, starts=starts,
                         sites=sites, **kw2)

    def exit(self, serial):
        self.rec(R_EXIT, struct.pack("<IIQ", serial, 0, self.ic[serial]))

    def data(self, magic=MAGIC, version=VERSION):
        head = struct.pack("<8sIIQQ", magic, version, 6, self.page_size, self.pid)
        return head + b"".join(self.recs)

    def write(self, path, **kw):
        with open(path, "wb") as f:
            f.write(self.data(**kw))


# ---------------------------------------------------------------- scenarios

def increments(addrs, n=2000, body=250, gap=20, text=("counter", "counter")):
    """Two (or more) threads, each doing n transactions of `body`
    instructions that increment one word (read at 1, written at 3), with a
    short non-transactional gap: the measured two-thread test."""
    t = Trace()
    t.info("scenario=increments")
    code = [t.desc(D_CODE, "bump_%d (inc.c:%d)" % (k + 1, 10 + k), base=0x401000 + 16 * k)
            for k in range(len(addrs))]
    base = min(addrs) & ~63
    data = [t.desc(D_GLOBAL, "%s (inc)" % text[k], base=base, size=256) for k in range(len(addrs))]
    ths = [t.thread() for _ in addrs]
    for i in range(n):
        for k, s in enumerate(ths):
            t.run(s, gap)
            t.section(s, body, lines=[(addrs[k], 1, 3, code[k], data[k])], site=0x100 + k)
    for s in ths:
        t.run(s, gap)
        t.exit(s)
    return t


def footprint(lines_addrs, n=50, reads=False, body=None):
    """One thread, n sections that each write (or only read) the given addresses."""
    t = Trace()
    code = t.desc(D_CODE, "fill (fill.c:7)", base=0x402000)
    data = t.desc(D_HEAP, "heap block of 8388608 bytes allocated at main < _start",
                  base=0x10000000, size=8 << 20)
    s = t.thread()
    body = body or 4 * len(lines_addrs) + 10
    for _ in range(n):
        t.run(s, 100)
        ls = [(a, 2 + 4 * i, None if reads else 2 + 4 * i, code, data)
              for i, a in enumerate(lines_addrs)]
        t.section(s, body, lines=ls, site=0x200)
    t.exit(s)
    return t


def event(kind, n=40):
    """Two threads on disjoint lines; every section of thread 1 makes one event."""
    t = Trace()
    code = t.desc(D_CODE, "getpid (libc.so.6)", base=0x7f0000400000)
    c2 = t.desc(D_CODE, "work (ev.c:3)", base=0x403000)
    d = [t.desc(D_GLOBAL, "slot%d (ev)" % k, base=0x600000 + 4096 * k, size=64) for k in range(2)]
    a, b = t.thread(), t.thread()
    for _ in range(n):
        t.run(a, 50)
        t.section(a, 200, lines=[(0x600000, 1, 2, c2, d[0])], events=[(100, kind, 39, code)], site=0x300)
        t.run(b, 50)
        t.section(b, 200, lines=[(0x601000, 1, 2, c2, d[1])], site=0x301)
    t.exit(a)
    t.exit(b)
    return t


def long_section(instructions, n=20):
    """One thread, n sections of the given length (at 2 GHz and CPI 1: 2000 per µs)."""
    t = Trace()
    s = t.thread()
    for _ in range(n):
        t.run(s, 100)
        t.section(s, instructions, site=0x400)
    t.exit(s)
    return t


def gil_holds(holds=40, per_hold=64, body=500, per_chunk=SUBS_MAX):
    """Two threads, GIL-style: each hold is per_hold yield intervals, in
    chunks of per_chunk, on disjoint lines (so every transaction can commit)."""
    t = Trace()
    code = t.desc(D_CODE, "_PyEval_EvalFrameDefault (ceval.c:1)", base=0x500000)
    d = [t.desc(D_HEAP, "frame of thread %d" % (k + 1), base=0x20000000 + (k << 20), size=1 << 20)
         for k in range(2)]
    ths = [t.thread(), t.thread()]
    for h in range(holds):
        for k, s in enumerate(ths):
            t.run(s, 200)
            subs = [(body, [(0x20000000 + (k << 20) + 64 * (i % 32), 5, 9, code, d[k])], [])
                    for i in range(per_hold)]
            t.hold(s, subs, per_chunk=per_chunk, site=0x1000)
    for s in ths:
        t.exit(s)
    return t


def gil_shared(holds=30, per_chunk=SUBS_MAX, subs=64, body=300):
    """Two threads, GIL-style holds of `subs` yield intervals on one lock:
    each interval writes a private line (the same one again 32 intervals
    later, at the same offset, as a loop does), every eighth increments a
    shared counter, and thread 1 touches a new page in interval 50 of every
    fifth hold.  per_chunk: how many intervals the tool joins per chunk."""
    t = Trace()
    code = t.desc(D_CODE, "loop (gil.c:3)", base=0x500000)
    cnt = t.desc(D_GLOBAL, "shared (gil)", base=0x640000, size=64)
    d = [t.desc(D_HEAP, "frame of thread %d" % (k + 1), base=0x20000000 + (k << 20), size=1 << 20)
         for k in range(2)]
    ths = [t.thread(), t.thread()]
    for h in range(holds):
        for k, s in enumerate(ths):
            t.run(s, 150)
            hs = []
            for i in range(subs):
                ls = [(0x20000000 + (k << 20) + 64 * (i % 32), 7, 11, code, d[k])]
                if i % 8 == 3:
                    ls.append((0x640000, 40, 42, code, cnt))
                ev = [(60, EV_PAGE, 0x7000 + h, code)] if k == 0 and i == 50 and h % 5 == 0 else []
                hs.append((body, ls, ev))
            t.hold(s, hs, per_chunk=per_chunk, site=0x800)
    for s in ths:
        t.run(s, 100)
        t.exit(s)
    return t


def gil_syscall(holds=30, subs=64, body=2000, every=1):
    """Two threads, GIL-style holds of `subs` yield intervals on one lock, on
    disjoint lines, each interval its own site (0x9000 + 0x100 * thread +
    interval, as bytecode sites are); thread 1 makes a system call in the
    first interval of every `every`-th hold, so its hold falls back to the
    lock there."""
    t = Trace()
    code = t.desc(D_CODE, "loop (sys.c:4)", base=0x502000)
    sysc = t.desc(D_CODE, "getpid (libc.so.6)", base=0x7f0000400000)
    d = [t.desc(D_HEAP, "frame of thread %d" % (k + 1), base=0x22000000 + (k << 20), size=1 << 20)
         for k in range(2)]
    ths = [t.thread(), t.thread()]
    for h in range(holds):
        for k, s in enumerate(ths):
            t.run(s, 150)
            hs = []
            for i in range(subs):
                ls = [(0x22000000 + (k << 20) + 64 * (i % 32), 7, 11, code, d[k])]
                ev = [(100, EV_SYSCALL, 39, sysc)] if k == 0 and i == 0 and h % every == 0 else []
                hs.append((body, ls, ev, 0x9000 + 0x100 * k + i))
            t.hold(s, hs, site=0x9000 + 0x100 * k)
    for s in ths:
        t.run(s, 100)
        t.exit(s)
    return t


def one_sub_writes(holds=40, sub=40, subs=64, body=200, n_b=None):
    """Thread 1: GIL-style holds of `subs` intervals in one chunk, each
    writing a private line; only interval `sub` also writes line X, and it
    has a site of its own (0xA40; the others 0xA00).  Thread 2, on another
    lock, keeps writing X in short sections (site 0xB00)."""
    t = Trace()
    code = t.desc(D_CODE, "step (one.c:5)", base=0x501000)
    dx = t.desc(D_GLOBAL, "x (one)", base=0x650000, size=64)
    dp = t.desc(D_HEAP, "frame of thread 1", base=0x21000000, size=1 << 20)
    a, b = t.thread(), t.thread()
    for h in range(holds):
        t.run(a, 200)
        hs = []
        for i in range(subs):
            ls = [(0x21000000 + 64 * i, 5, 9, code, dp)]
            if i == sub:
                ls.append((0x650000, 100, 100, code, dx))
            hs.append((body, ls, [], 0xA40 if i == sub else 0xA00))
        t.hold(a, hs, site=0xA00)
    lock_b = LOCK_WORD + 0x1000
    for i in range(n_b or holds * subs * body // 400):
        t.run(b, 300)
        t.section(b, 100, lines=[(0x650000, 10, 10, code, dx)], site=0xB00, lock=2, sub=lock_b)
    t.exit(a)
    t.exit(b)
    return t


def counter(body=470, at=100, gap=300, n=2000):
    """Two identical threads: sections of `body` instructions that read a
    shared counter at `at` and write it two later, then `gap` outside."""
    t = Trace()
    code = t.desc(D_CODE, "bump (ctr.c:9)", base=0x401000)
    data = t.desc(D_GLOBAL, "hits (ctr)", base=0x601000, size=64)
    ths = [t.thread(), t.thread()]
    for _ in range(n):
        for s in ths:
            t.run(s, gap)
            t.section(s, body, lines=[(0x601000, at, at + 2, code, data)], site=0x100)
    for s in ths:
        t.run(s, gap)
        t.exit(s)
    return t
