// SPDX-License-Identifier: MIT
//
// bench/bench_lock.h - run-time part of bench/bench_lock.cc's registration.
#ifndef HG_BENCH_LOCK_H
#define HG_BENCH_LOCK_H

// Registers the variants that need RTM (only where detection allowed it) and
// records in the context which peers this binary measures.  Call once from
// main, before the benchmarks run.
void hg_bench_lock_setup();

#endif
