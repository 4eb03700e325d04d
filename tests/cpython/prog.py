# SPDX-License-Identifier: MIT
"""A CPU-bound threaded program: the demo for the GIL front end and the
workload of bench/gil_overhead.py.

usage: prog.py [THREADS] [WORK]

Each thread runs the same mix of bytecodes (a loop with integer arithmetic,
a small function call, list and dict updates); the result is checked
against the single-threaded value, so a wrong interleaving cannot go
unnoticed.  Prints one line: threads, work and the combined checksum.
"""
import sys
import threading


def mix(i, acc):
    return (acc * 31 + i) % 1000003


def work(n, out, slot):
    acc = 0
    table = {}
    items = []
    for i in range(n):
        acc = mix(i, acc)
        if i % 64 == 0:
            table[i % 97] = acc
            items.append(acc)
    out[slot] = (acc + sum(table.values()) + len(items)) % 1000003


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    out = [None] * threads
    ts = [threading.Thread(target=work, args=(n, out, k)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    expect = [None]
    work(n, expect, 0)
    if any(v != expect[0] for v in out):
        print("MISMATCH %r vs %r" % (out, expect[0]))
        return 1
    print("threads=%d work=%d checksum=%d" % (threads, n, sum(out) % 1000003))
    return 0


if __name__ == "__main__":
    sys.exit(main())
