# SPDX-License-Identifier: MIT
"""Two threads: the first makes a system call every 50 iterations of its
loop (os.getpid: an RTM transaction that makes one aborts, so its section
falls back to the real GIL), the second only computes.  Each checks its
own result.

usage: fallback_prog.py ITERATIONS
"""
import os
import sys
import threading


def calls(n, out):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
        if i % 50 == 0:
            acc = (acc + (os.getpid() > 0)) % 1000003
    out[0] = acc


def pure(n, out):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    out[1] = acc


def expected(n, every):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
        if every and i % every == 0:
            acc = (acc + 1) % 1000003
    return acc


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    out = [None, None]
    ts = [threading.Thread(target=calls, args=(n, out)),
          threading.Thread(target=pure, args=(n, out))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    want = [expected(n, 50), expected(n, 0)]
    if out != want:
        print("WRONG: %r, expected %r" % (out, want))
        sys.exit(1)
    print("ok %d %d" % tuple(out))


if __name__ == "__main__":
    main()
