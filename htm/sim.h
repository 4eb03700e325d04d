/* SPDX-License-Identifier: MIT */
/*
 * htm/sim.h - the simulation markers: where a section would run as a
 * hardware transaction, for the valgrind tool of `htmgil sim` (docs/sim.md).
 *
 * With HTMGIL_SIM=1 (set by `htmgil sim`) the process runs in emulated mode
 * with no injected aborts and one yield point per transaction
 * (engine/env.c): every section holds the real lock, so the program runs
 * correctly and serially, and the engine calls the markers:
 *
 *   hg_sim_mark_begin  a section of lock lock_id begins at site (after the
 *                      real lock or its emulated transaction is taken),
 *                      subscribed to sub_word;
 *   hg_sim_mark_yield  the open section ends at a forced yield point of the
 *                      host and the next one continues the same lock hold
 *                      (gil/gil3.c's emulated restart);
 *   hg_sim_mark_end    the open section ends (before the real lock is
 *                      given back);
 *   hg_sim_mark_region names [base, base + size) (name: a NUL-terminated
 *                      string that stays valid) for the tool's descriptions of
 *                      data: a front end names what it knows of its host
 *                      (the interpreter's runtime state, the GIL, the eval
 *                      breaker), which symbol tables may not resolve.
 *
 * The tool recognises the three functions by name at translation time and
 * reads their arguments from the registers of the call (sim/trace.h), so
 * they are exported, never inlined or merged, and keep their arguments in
 * the System V argument registers: their empty bodies consume them.  Calls
 * happen outside transactions only (the mode is emulated).
 *
 * hg_sim_on is written once by the start-up constructor, before any thread
 * but the first exists, and read relaxed afterwards.
 */
#ifndef HG_HTM_SIM_H
#define HG_HTM_SIM_H

#include <stdint.h>

#include "base/util.h"

HG_INTERNAL extern uint32_t hg_sim_on;

#if defined(__GNUC__) && !defined(__clang__)
#define HG_SIM_MARKER __attribute__((visibility("default"), noinline, noipa, used))
#else
#define HG_SIM_MARKER __attribute__((visibility("default"), noinline, used))
#endif

HG_SIM_MARKER void hg_sim_mark_begin(uint64_t site, const void *sub_word, uint32_t lock_id);
HG_SIM_MARKER void hg_sim_mark_yield(void);
HG_SIM_MARKER void hg_sim_mark_end(void);
HG_SIM_MARKER void hg_sim_mark_region(const void *base, uint64_t size, const char *name);

#endif /* HG_HTM_SIM_H */
