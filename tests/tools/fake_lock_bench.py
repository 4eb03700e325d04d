#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for htmgil-bench in the tests of bench/ratios.py: every lock
benchmark and variant, with fixed results (pthread_mutex 100 Mops/s or 10 ns,
ck_elide the best peer at 200 Mops/s or 5 ns), and the context entries the
real binary writes.  Called through a link whose name contains "nock", it
is a build without Concurrency Kit: the ck variants are absent."""
import json
import os
import re
import sys

nock = "nock" in os.path.basename(sys.argv[0])
flt = "."
for a in sys.argv[1:]:
    if a.startswith("--benchmark_filter="):
        flt = a.split("=", 1)[1]
variants = {"pthread_mutex": 1.0, "hg_mutex": 1.0, "hg_lock": 0.98, "hg_lock_off": 0.98,
            "hg_lock_emu": 0.5}
if not nock:
    variants.update({"ck_spinlock": 1.5, "ck_elide": 2.0})
rows = []
for v, speed in variants.items():
    for body, threads in [("pair", [1]), ("counter", [1, 2]), ("percpu", [1, 2]),
                          ("hash", [1, 2])]:
        for t in threads:
            name = "%s/%s" % (body, v) if body == "pair" else \
                "%s/%s/real_time/threads:%d" % (body, v, t)
            if not re.search(flt, name):
                continue
            row = {"name": name, "run_name": name, "run_type": "iteration",
                   "time_unit": "ns", "real_time": 10.0 / speed}
            if body != "pair":
                row["items_per_second"] = 100e6 * speed
            rows.append(row)
# The contended line: 20 ns an add alone, 50 ns a transfer at 2 threads.
for t, ips in ((1, 50e6), (2, 20e6)):
    name = "line/atomic_add/real_time/threads:%d" % t
    if re.search(flt, name):
        rows.append({"name": name, "run_name": name, "run_type": "iteration",
                     "time_unit": "ns", "real_time": 1e9 / ips * t, "items_per_second": ips})
elision = "glibc.elision.enable=1" in os.environ.get("GLIBC_TUNABLES", "")
no_ck = "absent: built without Concurrency Kit (Debian: apt-get install libck-dev)"
ctx = {"htmgil_htm_mode": "off", "htmgil_rtm_verdict": "fake", "num_cpus": 2,
       "hg_lock_rtm": "skipped: RTM not usable here (fake)",
       "ck_peers": no_ck if nock else "ck_spinlock ck_elide",
       "ck_elide_rtm": no_ck if nock else "skipped: RTM not usable here (fake)",
       "glibc_elision": ("off: glibc.elision.enable=1 is set but glibc does not elide (fake)"
                         if elision else "off: glibc.elision.enable=1 is not set")}
print(json.dumps({"context": ctx, "benchmarks": rows}))
