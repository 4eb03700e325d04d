/* SPDX-License-Identifier: MIT */
/*
 * sim/model.h - every constant of the replay's machine model, with its
 * source.  The replay (sim/replay.c) reads a section trace (sim/trace.h) and
 * runs its threads as hardware transactions on virtual cores; docs/report.md,
 * "Simulation (tier sim)", describes the model and its report.
 *
 * Sources:
 *   [M]  the measurements of RTM on an Emerald Rapids part that the project
 *        keeps beside its sources (capacity, events, duration and two-thread
 *        conflict tables; quoted in the comments below)
 *   [C]  calibrated here: tests/sim/replay/check_replay.py ("calibration")
 *        replays two threads doing 50 increments per transaction and checks
 *        the measured 10.8 % (same word), 11.4 % (two words of one line) and
 *        ~0 % (adjacent lines) abort rates within HG_SIM_CAL_TOL_PCT
 *   [E]  the engine itself: engine/engine.c (hg_backoff), linked, not copied
 *   [A]  an assumption, stated where it is used
 *
 * | constant                    | value          | source |
 * |-----------------------------|----------------|--------|
 * | HG_SIM_CPI_DEFAULT          | 1.0 cycle/insn | [A] --cpi |
 * | HG_SIM_GHZ_DEFAULT          | 2.0 GHz        | [A] --ghz (µs of the timer table) |
 * | HG_SIM_BEGIN_CYCLES         | 40             | [C] XBEGIN + subscription read |
 * | HG_SIM_COMMIT_CYCLES        | 60             | [C] XEND |
 * | HG_SIM_ABORT_PENALTY        | 150            | [C] abort, rollback, back in the handler |
 * | HG_SIM_PAUSE_CYCLES         | 140            | [A] PAUSE latency of Skylake-SP and later (Intel optimization manual); one hg_backoff step |
 * | HG_SIM_WAKE_CYCLES          | 100            | [A] a waiter sees the lock free (one line transfer) |
 * | HG_SIM_LOCK_CYCLES          | 40             | [A] the real lock's acquire and release (a locked RMW and a store) |
 * | HG_SIM_JITTER_DEFAULT       | 0.1            | [C] --jitter: each attempt's and gap's length times U[1-j, 1+j] (cache misses, interrupts); without it two identical threads lock into anti-phase |
 * | emerald-rapids L1D          | 64 sets x 12   | [M] 48 KiB 12-way; 14 lines of one set: 0 %, 10: 99 % |
 * | emerald-rapids read budget  | 4096 lines     | [M] 4096 reads commit 49 %, 16384 never: the 4097th aborts |
 * | skylake L1D                 | 64 sets x 8    | [A] 32 KiB 8-way (Skylake's documented L1D) |
 * | skylake read budget         | 4096 lines     | [A] not measured: the same assumption as emerald-rapids |
 * | timer survival              | 10 µs 100 %, 100 µs 94 %, 500 µs 44 %, 1 ms 2 %, 2 ms 0 % | [M], piecewise linear |
 * | unfriendly events           | abort, status 0 | [M] syscall, CPUID, PAUSE, page first touch 0/100; XSAVE, other [A] |
 * | line size                   | 64 bytes       | [M] sharing detected per 64-byte line; trace.h HG_SIM_LINE_SHIFT |
 * | HG_SIM_MAX_CPUS             | 64             | the core masks of the line table are 64 bits |
 */
#ifndef HG_SIM_MODEL_H
#define HG_SIM_MODEL_H

#include <stdint.h>

#define HG_SIM_CPI_DEFAULT 1.0
#define HG_SIM_GHZ_DEFAULT 2.0
#define HG_SIM_BEGIN_CYCLES 40.0
#define HG_SIM_COMMIT_CYCLES 60.0
#define HG_SIM_ABORT_PENALTY 150.0
#define HG_SIM_PAUSE_CYCLES 140.0
#define HG_SIM_WAKE_CYCLES 100.0
#define HG_SIM_LOCK_CYCLES 40.0
#define HG_SIM_JITTER_DEFAULT 0.1
#define HG_SIM_MAX_CPUS 64u
/* The calibration test's tolerance, in percentage points of abort rate. */
#define HG_SIM_CAL_TOL_PCT 2.5

/* One CPU model: what bounds a transaction's footprint. */
struct hg_sim_cpu_model {
	const char *name;
	const char *what;       /* one line for --help and the report */
	uint32_t l1_sets;       /* power of two */
	uint32_t l1_ways;       /* written lines per set; one more aborts */
	uint32_t read_lines;    /* lines read (not written); one more aborts */
};

static const struct hg_sim_cpu_model hg_sim_models[] = {
	{ "emerald-rapids", "Xeon 5th gen: L1D 48 KiB 64x12, read set 4096 lines (measured)",
	  64, 12, 4096 },
	{ "skylake", "Skylake: L1D 32 KiB 64x8, read set 4096 lines (assumed as emerald-rapids)",
	  64, 8, 4096 },
};
#define HG_SIM_N_MODELS (sizeof hg_sim_models / sizeof hg_sim_models[0])

/*
 * Timer survival: the fraction of transactions of a given length that a
 * timer interrupt does not abort [M].  Linear between the points, 1 before
 * the first, 0 after the last.
 */
struct hg_sim_survival_pt {
	double us;
	double survive;
};
static const struct hg_sim_survival_pt hg_sim_survival[] = {
	{ 10.0, 1.00 }, { 100.0, 0.94 }, { 500.0, 0.44 }, { 1000.0, 0.02 }, { 2000.0, 0.00 },
};
#define HG_SIM_N_SURVIVAL (sizeof hg_sim_survival / sizeof hg_sim_survival[0])

#endif /* HG_SIM_MODEL_H */
