#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The CPython known answers of `htmgil sim` (label sim).

    check_py.py HTMGIL PYTHON WORKDIR

Runs tests/sim/py_append.py (two threads, each appending to its own list)
under `htmgil sim` in both variants and checks that the program's output and
status are its own, that the shared-line census names its top line by data
and code, and what it is (measured on CPython 3.12):

  method  the loop looks up lst.append each time: the top shared line is the
          reference count of the shared method descriptor, in an object
          allocator arena, written by _PyObject_GetMethod's Py_INCREF;
  bound   the bound method is fetched once: the top shared line is the
          object allocator's own state (its pool lists in _PyRuntime, or a
          pool header in an arena), written by the allocator's functions.
"""
import json
import os
import subprocess
import sys

N = 50000
ALLOC_CODE = ("_PyObject_Malloc", "_PyObject_Free", "allocate_from_new_pool", "pymalloc_")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(htmgil, python, variant, work):
    prog = os.path.join(os.path.dirname(os.path.abspath(__file__)), "py_append.py")
    rep = os.path.join(work, "py_%s.json" % variant)
    if os.path.exists(rep):
        os.unlink(rep)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HTMGIL_") and not k.startswith("PYTHON")}
    r = subprocess.run([htmgil, "sim", "--report", rep, "--", python, prog, variant, str(N)],
                       capture_output=True, text=True, env=env, timeout=900)
    sys.stderr.write(r.stderr)
    if r.returncode != 0 or r.stdout != "ok\n":
        fail("%s: the program's output or status changed: status %d, stdout %r"
             % (variant, r.returncode, r.stdout))
    with open(rep) as f:
        p = json.load(f)
    shared = p.get("shared_lines")
    if not shared:
        fail("%s: no shared lines counted" % variant)
    top = shared[0]
    sides = [s for s in top["sides"] if s["data"] and s["code"]]
    if len(sides) < 2:
        fail("%s: the top shared line is not named on two sides: %r" % (variant, top))
    print("%s: top shared line %s (score %d): %s" % (
        variant, top["line"], top["score"],
        "; ".join("thread %d: %s +%s by %s" % (s["thread"], s["data"], s["offset"], s["code"])
                  for s in top["sides"])))
    return top


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    htmgil, python, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    top = run(htmgil, python, "method", work)
    writers = [s for s in top["sides"] if s["writes"] > 0 and s["code"]]
    if not any("_PyObject_GetMethod" in s["code"] for s in writers) or \
            not all("_PyMem_ArenaAlloc" in (s["data"] or "") for s in writers):
        fail("method: the top shared line is not the method's reference count in an arena")
    top = run(htmgil, python, "bound", work)
    writers = [s for s in top["sides"] if s["writes"] > 0 and s["code"]]
    if not any(any(c in s["code"] for c in ALLOC_CODE) for s in writers):
        fail("bound: the top shared line is not written by the object allocator")
    if not all("_PyRuntime" in (s["data"] or "") or "_PyMem_ArenaAlloc" in (s["data"] or "")
               for s in writers):
        fail("bound: the top shared line is not the allocator's state")
    print("ok")


if __name__ == "__main__":
    main()
