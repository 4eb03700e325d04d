#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The known answers of `htmgil sim` (tests/sim/ka_prog.c, label sim).

    check_ka.py HTMGIL KA_PROG MODE WORKDIR

Runs `htmgil sim --target pthread --report WORKDIR/MODE.json -- KA_PROG MODE`
and checks that the program's own output and status are untouched and that
the prediction says what the hardware does (docs/sim.md, "Known answers"):

  disjoint    conflicts in under 2 % of attempts, none between data lines
  counter     conflicts in over 5 %; the top data conflict names
              hg_ka_counter on both sides
  falseshare  conflicts in over 5 %; the top data conflict names
              hg_ka_word_a on one side and hg_ka_word_b on the other
  bigwrite    capacity (write set) aborts; under 1 % of sections commit
  oneset      the same, for 14 lines of one L1 set
  oneset10    10 lines of one set: no capacity abort, over 95 % commit
  syscall     system-call aborts named at the syscall wrapper
"""
import json
import os
import subprocess
import sys

SECTIONS = 2000


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    htmgil, prog, mode, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    rep = os.path.join(work, mode + ".json")
    if os.path.exists(rep):
        os.unlink(rep)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTMGIL_")}
    r = subprocess.run([htmgil, "sim", "--target", "pthread", "--report", rep, "--",
                        prog, mode, str(SECTIONS)],
                       capture_output=True, text=True, env=env, timeout=600)
    sys.stderr.write(r.stderr)
    want = "ka_prog %s: %d sections per thread, ok\n" % (mode, SECTIONS)
    if r.returncode != 0 or r.stdout != want:
        fail("the program's output or status changed under htmgil sim: status %d, stdout %r"
             % (r.returncode, r.stdout))
    if "predicted:" not in r.stderr:
        fail("no prediction on stderr")
    with open(rep) as f:
        p = json.load(f)
    if p.get("schema") != "htmgil-sim":
        fail("report schema %r" % p.get("schema"))
    sites = [s for s in p["sites"] if s.get("lock_name") == "pthread_mutex"]
    if not sites:
        fail("no pthread_mutex site in the prediction")
    acq = sum(s["acquisitions"] for s in sites)
    att = sum(s["attempts"] for s in sites)
    com = sum(s["commits"] for s in sites)
    ab = {}
    for s in sites:
        for k, v in s["aborts"].items():
            ab[k] = ab.get(k, 0) + v
    if acq < 2 * SECTIONS:
        fail("%d acquisitions predicted, the program made %d" % (acq, 2 * SECTIONS))
    conf = ab.get("conflict", 0) / max(att, 1)
    data = [c for c in p["conflicts"]
            if not c["victim"]["lock_word"] and not c["aggressor"]["lock_word"]]
    print("%s: %d acquisitions, %d attempts, %d commits, conflict rate %.2f %%, aborts %s"
          % (mode, acq, att, com, 100 * conf, ab))

    def names(c):
        return c["victim"]["data"].split(" ")[0], c["aggressor"]["data"].split(" ")[0]

    if mode == "disjoint":
        if conf >= 0.02:
            fail("disjoint lines: %.2f %% conflicts" % (100 * conf))
        if data:
            fail("disjoint lines: a data conflict on %s" % (names(data[0]),))
    elif mode in ("counter", "falseshare"):
        if conf <= 0.05:
            fail("%s: only %.2f %% conflicts" % (mode, 100 * conf))
        if not data:
            fail("%s: no data conflict named" % mode)
        top = names(data[0])
        if mode == "counter" and top != ("hg_ka_counter", "hg_ka_counter"):
            fail("counter: the top data conflict is on %s, not hg_ka_counter" % (top,))
        if mode == "falseshare" and sorted(top) != ["hg_ka_word_a", "hg_ka_word_b"]:
            fail("falseshare: the top data conflict names %s, not both words" % (top,))
    elif mode in ("bigwrite", "oneset"):
        if ab.get("capacity_write", 0) == 0:
            fail("%s: no write-capacity abort" % mode)
        if com > 0.01 * acq:
            fail("%s: %d of %d sections committed" % (mode, com, acq))
        if not p["capacity"]:
            fail("%s: no capacity entry with its footprint" % mode)
    elif mode == "oneset10":
        if ab.get("capacity_write", 0) or ab.get("capacity_read", 0):
            fail("10 lines of one set: capacity aborts %s" % ab)
        if com < 0.95 * acq:
            fail("10 lines of one set: only %d of %d commit" % (com, acq))
    elif mode == "syscall":
        if ab.get("syscall", 0) == 0:
            fail("syscall: no system-call abort")
        u = [x for x in p["unfriendly"] if x["cause"] == "syscall"]
        if not u or "syscall" not in u[0]["code"]:
            fail("syscall: the abort is not named at the syscall wrapper: %s" % u[:1])
    else:
        sys.exit("unknown mode %s" % mode)
    print("ok")


if __name__ == "__main__":
    main()
