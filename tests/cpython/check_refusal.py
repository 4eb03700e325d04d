#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Refusals and bystanders: the preload must say exactly one clear line and
leave the program's results alone, or say nothing at all.

  - Debian's stripped, LTO-built /usr/bin/python3.11 (take_gil is inlined):
    one line naming the reason and the way out (python3.11-dbg / pyenv);
    stdout and exit status as without the preload.
  - a program that is not CPython (sh): no output from htmgil at all.
  - HTMGIL_TARGET with an unknown value: one line naming the accepted values.
  - an unsupported CPython (3.10 from pyenv, when installed): one line.

usage: check_refusal.py PRELOAD STRIPPED_PYTHON [UNSUPPORTED_PYTHON]
"""
import os
import re
import subprocess
import sys

failed = []


def run(cmd, extra):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("HTMGIL_") or k == "LD_PRELOAD":
            del env[k]
    env.update(extra)
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def expect(name, cmd, preload, extra, pattern):
    base = run(cmd, {})
    got = run(cmd, dict(extra, LD_PRELOAD=preload))
    lines = [l for l in got[2].splitlines() if l.startswith("htmgil:")]
    ok = got[0] == base[0] and got[1] == base[1]
    if pattern is None:
        ok = ok and not lines
    else:
        ok = ok and len(lines) == 1 and re.search(pattern, lines[0]) is not None
    print("%s %s: %s" % ("ok" if ok else "FAIL", name, lines[0] if lines else "(silent)"))
    if not ok:
        print("  without: rc=%s out=%r\n  with:    rc=%s out=%r err=%r" % (
            base[0], base[1], got[0], got[1], got[2]))
        failed.append(name)


def main():
    preload = os.path.abspath(sys.argv[1])
    stripped = sys.argv[2]
    code = ["-c", "import threading; t = threading.Thread(target=print, args=(6 * 7,)); "
                  "t.start(); t.join()"]
    if not os.path.exists(stripped):
        print("FAIL: %s is not installed (apt-get install python3.11)" % stripped)
        return 1
    for mode in ("auto", "emu"):
        expect("stripped %s (HTMGIL_HTM=%s)" % (stripped, mode), [stripped] + code, preload,
               {"HTMGIL_HTM": mode},
               r"cannot elide the GIL of .*python3\.11.*not in its symbol table.*stripped or LTO"
               r".*python3\.11d.*python3\.11-dbg.*pyenv.*running it unchanged")
    expect("not CPython (sh)", ["sh", "-c", "echo hello; exit 3"], preload,
           {"HTMGIL_HTM": "emu"}, None)
    expect("bad HTMGIL_TARGET", ["sh", "-c", "echo hello"], preload,
           {"HTMGIL_TARGET": "gill"}, r"HTMGIL_TARGET=gill is not understood.*'gil'.*'pthread'")
    if len(sys.argv) > 3 and os.path.exists(sys.argv[3]):
        expect("unsupported %s" % sys.argv[3], [sys.argv[3]] + code, preload,
               {"HTMGIL_HTM": "emu"}, r"CPython 3\.\d+ .*is not supported.*2\.7 or 3\.11-3\.13")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
