#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for htmgil-bench in the tests of bench/ab.py: two benchmarks,
one in items per second and one in time per iteration.  Called through a
link whose name contains "slow", every result is 20 % worse."""
import json
import os
import re
import sys

NAMES = ["fake/items", "fake/time"]
slow = "slow" in os.path.basename(sys.argv[0])
flt = "."
for a in sys.argv[1:]:
    if a.startswith("--benchmark_filter="):
        flt = a.split("=", 1)[1]
chosen = [n for n in NAMES if re.search(flt, n)]
if "--benchmark_list_tests" in sys.argv:
    print("\n".join(chosen))
    sys.exit(0)
rows = []
for n in chosen:
    if n.endswith("items"):
        rows.append({"name": n, "run_type": "iteration",
                     "items_per_second": 100.0 * (0.8 if slow else 1.0), "real_time": 1.0})
    else:
        rows.append({"name": n, "run_type": "iteration", "real_time": 10.0 * (1.25 if slow else 1.0)})
print(json.dumps({"benchmarks": rows}))
