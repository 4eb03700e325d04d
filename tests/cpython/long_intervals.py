# SPDX-License-Identifier: MIT
"""Threads whose yield intervals are long: every loop iteration runs one C
builtin over 20000 integers (about 100 us) between two eval-breaker checks,
so a transaction of a few intervals already outlasts what the hardware
commits reliably (docs/gil.md, "Length per site").

usage: long_intervals.py [THREADS] [ITERATIONS]

Runs on 2.7 and 3.x (2.7 with a check interval of 1 bytecode).  Prints one line: threads, iterations and the
combined checksum, checked against the value computed in one thread.
"""
import sys
import threading

SPAN = 20000


def work(n, out, slot):
    acc = 0
    for i in range(n):
        acc = (acc + sum(range(SPAN)) + i) % 1000003
    out[slot] = acc


def expected(n):
    acc = 0
    s = SPAN * (SPAN - 1) // 2
    for i in range(n):
        acc = (acc + s + i) % 1000003
    return acc


def main():
    if hasattr(sys, "setcheckinterval"):
        sys.setcheckinterval(1)  # 2.7: a check per bytecode, about as many as 3.x has
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    out = [None] * threads
    ts = [threading.Thread(target=work, args=(n, out, k)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    want = expected(n)
    if any(v != want for v in out):
        print("WRONG: %r, expected %d each" % (out, want))
        sys.exit(1)
    print("threads=%d iterations=%d checksum=%d" % (threads, n, sum(out) % 1000003))


if __name__ == "__main__":
    main()
