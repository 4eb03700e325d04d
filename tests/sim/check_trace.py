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
EV_SYSCALL, EV_CPUID, EV_PAUSE, EV_XSAVE, EV_PAGE, EV_OTHER = 1, 2, 3, 4, 5, 6
D_CODE, D_GLOBAL, D_HEAP, D_STACK, D_MAP = 1, 2, 3, 4, 5


class Bad(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Bad(what)


def text_of(payload):
    return payload.split(b"\0", 1)[0].decode("utf-8", "replace")


class Trace:
    """The records of one trace, checked against sim/trace.h as read."""

    def __init__(self, data):
        need(len(data) >= 32, "trace shorter than its head")
        magic, version, shift, page, pid = struct.unpack_from("<8sIIQQ", data, 0)
        need(magic == MAGIC, "bad magic %r" % magic)
        need(version == 1 and shift == 6, "version %d, line shift %d" % (version, shift))
        self.page_size, self.pid = page, pid
        self.threads = {}   # serial -> parent
        self.descs = {}     # id -> (kind, base, size, text)
        self.intervals = [] # dicts: serial, begin, end, lines, events
        self.exits = {}
        self.info = ""
        open_ = {}          # serial -> interval dict
        last_icount = {}
        pos = 32
        while pos < len(data):
            need(pos + 8 <= len(data), "truncated record head at %d" % pos)
            typ, ln = struct.unpack_from("<II", data, pos)
            pos += 8
            need(ln % 8 == 0 and pos + ln <= len(data), "bad record length %d at %d" % (ln, pos))
            p = data[pos:pos + ln]
            pos += ln
            if typ == R_INFO:
                self.info += text_of(p)
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
                last_icount[serial] = icount
                open_[serial] = dict(serial=serial, lock=lock, site=site, sub=sub,
                                     begin=icount, bflags=flags)
            elif typ == R_END:
                serial, flags, icount, nl, ne = struct.unpack_from("<IIQII", p)
                need(serial in open_, "END without BEGIN (thread %d)" % serial)
                need(ln == 24 + 32 * nl + 24 * ne, "END length %d for %d lines, %d events"
                     % (ln, nl, ne))
                iv = open_.pop(serial)
                need(icount >= iv["begin"], "END icount before BEGIN")
                last_icount[serial] = icount
                n = icount - iv["begin"]
                lines, seen = [], set()
                for i in range(nl):
                    addr, first, fw, code, cw, dat, size = struct.unpack_from("<QIIIIII", p, 24 + 32 * i)
                    need(addr >> 6 not in seen, "line 0x%x twice" % (addr << 0))
                    seen.add(addr >> 6)
                    need(first <= n and (fw == NONE or first <= fw <= n),
                         "offsets %d/%d outside an interval of %d" % (first, fw, n))
                    for ident in (code, cw, dat):
                        need(ident == 0 or ident in self.descs, "id %d used before its DESC" % ident)
                    need((fw == NONE) == (cw == 0), "first_write and code_write disagree")
                    lines.append(dict(addr=addr, first=first, first_write=fw, code=code,
                                      code_write=cw, data=dat, size=size))
                events = []
                for i in range(ne):
                    at, kind, arg, code, _ = struct.unpack_from("<IIQII", p, 24 + 32 * nl + 24 * i)
                    need(at <= n, "event at %d outside an interval of %d" % (at, n))
                    need(code == 0 or code in self.descs, "event code id %d undefined" % code)
                    events.append(dict(at=at, kind=kind, arg=arg, code=code))
                need([e["at"] for e in events] == sorted(e["at"] for e in events),
                     "events out of order")
                iv.update(end=icount, eflags=flags, lines=lines, events=events)
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
                self.exits[serial] = icount
        need("tool=htmgilsim" in self.info and "command=" in self.info, "INFO record missing")

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
    need(len(maps) == 1 and t.desc(maps[0]["data"])[3] == "anonymous mapping",
         "mapping lines %r" % [t.desc(l["data"]) for l in maps])


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
    ivs = [iv for iv in t.intervals if iv["site"] == 0x1b]
    need(len(ivs) == 2, "%d intervals, want 2" % len(ivs))
    need(ivs[0]["eflags"] & E_YIELD and not ivs[1]["eflags"] & E_YIELD, "END flags")
    need(not ivs[0]["bflags"] & B_CONTINUES and ivs[1]["bflags"] & B_CONTINUES, "BEGIN flags")
    for iv in ivs:
        need(t.lines_in(iv, D_GLOBAL, "hg_t_counter"), "no hg_t_counter line")


def case_exec(t, kv):
    iv = t.one_interval(0x1d)
    need(t.lines_in(iv, D_GLOBAL, "hg_t_counter"), "no hg_t_counter line")


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
            program_case = "lines" if case == "truncated" else case
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
