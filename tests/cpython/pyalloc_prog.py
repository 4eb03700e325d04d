# SPDX-License-Identifier: MIT
"""Two threads that allocate (ints, strings, tuples, dicts, list growth),
after the main thread built a list of its own; one thread keeps growing that
list, whose item array was allocated before any other thread existed
(tests/cpython/check_pyalloc.py).

    pyalloc_prog.py N
"""
import sys
import threading

early = [str(i) for i in range(2000)]   # blocks made before the switch
early_sum = sum(len(s) for s in early)


def work(n, k, out):
    lst, d = [], {}
    for i in range(n):
        lst.append(i * 3 + k)
        if i % 5 == 0:
            d[str(i)] = (i, k)
        if k == 0 and i % 3 == 0:
            early.append(str(i))        # grows (reallocates) the early list
    out[k] = sum(lst) + sum(a + b for a, b in d.values()) + len(d)
    del lst, d


def main():
    n = int(sys.argv[1])
    out = [0, 0]
    ts = [threading.Thread(target=work, args=(n, k, out)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    del early[:1000]                    # frees early strings on the main thread
    print("result=%d,%d early=%d,%d" % (out[0], out[1], early_sum, len(early)))


main()
