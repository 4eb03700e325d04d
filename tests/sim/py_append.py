# SPDX-License-Identifier: MIT
"""Two threads, each appending to its own list (tests/sim/check_py.py).

    py_append.py method|bound N

method: l.append(x) in the loop (the method is looked up every time);
bound: the bound method is fetched once per thread.
"""
import sys
import threading


def work(n, bound, out, k):
    lst = []
    if bound:
        append = lst.append
        for i in range(n):
            append(i * 2)
    else:
        for i in range(n):
            lst.append(i * 2)
    out[k] = sum(lst)


def main():
    variant, n = sys.argv[1], int(sys.argv[2])
    out = [0, 0]
    ts = [threading.Thread(target=work, args=(n, variant == "bound", out, k)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    want = n * (n - 1)
    print("ok" if out == [want, want] else "WRONG %r" % out)


main()
