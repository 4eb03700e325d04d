/* SPDX-License-Identifier: MIT */
/*
 * sim/replay.h - the replay's shared state: the trace as loaded
 * (sim/replay_load.c), one simulation run (sim/replay.c) and its results,
 * written by sim/replay_out.c.  docs/report.md, "Simulation (tier sim)",
 * describes the model; sim/model.h holds its constants.
 */
#ifndef HG_SIM_REPLAY_H
#define HG_SIM_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/model.h"
#include "sim/trace.h"

/* ------------------------------------------------------------ the trace */

#define HG_SIM_LINE_THREAD_SHIFT 48
/* The line (address >> HG_SIM_LINE_SHIFT) of a glines entry. */
#define HG_SIM_GLINE_LINE(l) ((l) & ((UINT64_C(1) << HG_SIM_LINE_THREAD_SHIFT) - 1))

/* One line entry of a chunk (struct hg_sim_line, kept as read). */
struct hg_sim_lent {
	uint64_t addr;
	uint64_t rmask, wmask; /* sub-intervals that read / wrote the line */
	uint32_t first, first_write;
	uint32_t code, code_write, data;
};

/*
 * One step of a transaction or lock run within one chunk, sorted by `at`
 * (an offset from the chunk's begin): a read, a write (of lent index arg)
 * or an event (of ev index arg).  hg_sim_chunk_ops computes them for a
 * range of the chunk's sub-intervals when a run starts.
 */
enum { HG_SIM_OP_READ = 0, HG_SIM_OP_WRITE = 1, HG_SIM_OP_EVENT = 2 };
struct hg_sim_op {
	uint32_t at;
	uint32_t kind;
	uint32_t arg;
};

/*
 * One chunk (a BEGIN..END pair, trace.h): nsubs sub-intervals, the yield
 * intervals of a hold; sub-interval j starts at ic_begin + starts[st0 + j]
 * and ends where j + 1 starts (the last at ic_end).  The replay numbers the
 * sub-intervals of the trace globally: this chunk's are [sub0, sub0 + nsubs).
 */
struct hg_sim_ival {
	uint32_t lock;      /* index into hg_sim_trace.locks */
	uint32_t site;      /* index into hg_sim_trace.sites: the BEGIN's (sub-interval 0's) */
	uint64_t sub_line;  /* the subscription word's line */
	uint32_t sub_g;     /* its index into trace.glines */
	uint64_t ic_begin, ic_end;
	uint32_t le0, nle;  /* into trace.lents */
	uint32_t ev0, nev;  /* into trace.evs, in order of `at` */
	uint32_t st0, nsubs; /* into trace.starts */
	uint32_t sub0;      /* global index of the first sub-interval */
	uint32_t continues; /* BEGIN had HG_SIM_B_CONTINUES: same hold as the previous */
	uint32_t truncated;
};

struct hg_sim_thread_in {
	uint32_t serial, parent;
	uint64_t start_ic;  /* the parent's instructions when this thread appeared */
	uint64_t first_ic;  /* this thread's instructions at its THREAD record */
	uint64_t exit_ic;   /* last instruction count seen (EXIT, or the last END) */
	uint32_t iv0, niv;  /* into trace.ivals (chunks), in order */
};

struct hg_sim_desc_in {
	uint32_t kind;
	uint64_t base, size;
	char *text;
};

struct hg_sim_site_in {
	uint32_t lock_id;
	uint64_t key;
};

struct hg_sim_trace {
	uint64_t page_size, pid;
	struct hg_sim_thread_in *threads;
	uint32_t nthreads;
	struct hg_sim_ival *ivals; /* chunks, grouped by thread */
	uint32_t nivals;
	uint32_t *starts;          /* sub-interval starts of every chunk */
	uint32_t *sub_site;        /* the site index of each (indexed as starts) */
	uint32_t nsubs;            /* sub-intervals of the trace */
	struct hg_sim_lent *lents;
	uint64_t *lent_am;         /* each lent's rmask | wmask, for scans */
	uint32_t nlents;
	struct hg_sim_event *evs;
	uint32_t nevs;
	struct hg_sim_desc_in *descs; /* by id; descs[0] unused */
	uint32_t ndescs;
	struct hg_sim_site_in *sites;
	uint32_t nsites;
	uint32_t *locks; /* lock ids, by index */
	uint32_t nlocks;
	uint64_t *glines; /* every distinct line of the trace, by line index; a
	                   * stack line carries its thread's serial above
	                   * HG_SIM_LINE_THREAD_SHIFT (stacks are private) */
	uint32_t nglines;
	uint32_t *lent_g; /* line index of each lent */
	uint32_t truncated; /* chunks with HG_SIM_E_TRUNCATED */
	char *info;       /* INFO texts, joined by "; " (may be NULL) */
	struct hg_sim_opcache *cache; /* hg_sim_chunk_ops' whole-chunk steps (replay_load.c) */
};

/* Loads path; on error writes one line to err and returns -1. */
int hg_sim_trace_load(const char *path, struct hg_sim_trace *t, char *err, size_t errlen);
void hg_sim_trace_free(struct hg_sim_trace *t);
const char *hg_sim_desc_text(const struct hg_sim_trace *t, uint32_t id);
/* Instruction counts where global sub-interval k of chunk c begins and ends. */
uint64_t hg_sim_sub_begin(const struct hg_sim_trace *t, const struct hg_sim_ival *c, uint32_t k);
uint64_t hg_sim_sub_end(const struct hg_sim_trace *t, const struct hg_sim_ival *c, uint32_t k);
/*
 * The steps of chunk c within its global sub-intervals [a, b), sorted, into
 * *ops (grown as needed); returns their count.  A line's time is derived
 * from its first access and the masks (docs/report.md, "Simulation").
 */
uint32_t hg_sim_chunk_ops(const struct hg_sim_trace *t, const struct hg_sim_ival *c, uint32_t a,
    uint32_t b, struct hg_sim_op **ops, uint32_t *cap);

/* Names from a preload report (--names): lock ids and site keys. */
struct hg_sim_names {
	struct { uint32_t id; char *name; } *locks;
	unsigned nlocks;
	struct { uint32_t lock_id; uint64_t key; char *name; } *sites;
	unsigned nsites;
};
int hg_sim_names_load(const char *path, struct hg_sim_names *n, char *err, size_t errlen);
void hg_sim_names_free(struct hg_sim_names *n);
const char *hg_sim_lock_name(const struct hg_sim_names *n, uint32_t id);
const char *hg_sim_site_name(const struct hg_sim_names *n, uint32_t lock_id, uint64_t key);

/* ------------------------------------------------------------ one run */

struct hg_sim_opts {
	const struct hg_sim_cpu_model *model;
	double cpi, ghz;
	uint64_t seed;
	double jitter; /* attempts and gaps scaled by U[1 - jitter, 1 + jitter] (0: exact) */
	unsigned cpus;
	bool elide; /* false: every hold on the real lock (the baseline) */
	/*
	 * true: a hold of several yield intervals that falls back to the lock
	 * keeps it to the hold's end (the front end before bounded fallbacks);
	 * false: in stretches of txlen intervals, given back at a stretch's end
	 * while another thread waits to speculate (docs/gil.md, "Falling back
	 * without serializing").
	 */
	bool hold_fallback;
};

/* Abort causes of the report, in its order. */
enum hg_sim_cause {
	HG_SIM_C_CONFLICT, HG_SIM_C_CAP_WRITE, HG_SIM_C_CAP_READ, HG_SIM_C_TIMER,
	HG_SIM_C_SYSCALL, HG_SIM_C_CPUID, HG_SIM_C_PAUSE, HG_SIM_C_XSAVE, HG_SIM_C_PAGE,
	HG_SIM_C_OTHER, HG_SIM_C_BUSY, HG_SIM_C_COUNT
};
extern const char *const hg_sim_cause_names[HG_SIM_C_COUNT];

struct hg_sim_thread_out {
	uint64_t instructions;
	double committed, aborted, locked, outside, waiting;
	double end;
};

struct hg_sim_site_out {
	uint64_t attempts, commits, aborts[HG_SIM_C_COUNT];
	uint64_t lock_sections, acquisitions;
	uint64_t txlen_sum, txlen_n;
	uint32_t txlen_last;
	double cyc_committed, cyc_aborted, cyc_locked;
};

/* One side of a conflict: whose line entry, in which section. */
struct hg_sim_side {
	uint32_t data, code;  /* DESC ids (0: not known) */
	uint64_t off;         /* addr - the data object's base (UINT64_MAX: no object) */
	uint32_t site;        /* site index (UINT32_MAX: a lock acquisition) */
	uint32_t thread;      /* serial */
	uint32_t lock_word;   /* 1: the side is the real lock's acquisition */
	uint32_t pad;
};
struct hg_sim_conflict {
	uint64_t line;
	struct hg_sim_side victim, aggressor;
	uint64_t count;
	double wasted;
};

/* Capacity aborts of one site and kind, with the largest footprint seen. */
struct hg_sim_capacity {
	uint32_t site, cause;
	uint64_t count;
	double wasted;
	uint32_t write_lines, read_lines, fullest_set, fullest_n;
	uint32_t data; /* DESC of the line that did not fit */
};

/* Unfriendly (status 0) aborts of one site, kind and instruction. */
struct hg_sim_unfriendly {
	uint32_t site, cause, code;
	uint64_t arg;
	uint64_t count;
	double wasted;
};

struct hg_sim_result {
	unsigned cpus;
	bool elide;
	double makespan, busy;
	uint64_t attempts, aborts;
	uint64_t lock_stretches; /* lock runs given back before the hold's end (bounded fallback) */
	struct hg_sim_thread_out *threads; /* by thread index */
	struct hg_sim_site_out *sites;     /* by site index */
	struct hg_sim_conflict *conflicts;
	unsigned nconflicts;
	struct hg_sim_capacity *caps;
	unsigned ncaps;
	struct hg_sim_unfriendly *unf;
	unsigned nunf;
};

/* Runs the trace once; 0, or -1 with one line in err. */
int hg_sim_run(const struct hg_sim_trace *t, const struct hg_sim_opts *o,
    struct hg_sim_result *r, char *err, size_t errlen);
void hg_sim_result_free(struct hg_sim_result *r);

/* ------------------------------------------------------- shared lines */

#define HG_SIM_CENSUS_CELLS (64u << 20) /* at most lines x threads counted */
#define HG_SIM_CENSUS_KEEP 100          /* shared lines kept, by score */
#define HG_SIM_CENSUS_SIDES 8           /* threads named per line */
/* One thread's use of a shared line: its first write (else first access). */
struct hg_sim_shared_side {
	uint32_t thread;          /* serial */
	uint32_t writes, touches; /* sub-intervals that wrote / touched the line */
	uint32_t data, code;      /* DESC ids */
	uint32_t site;            /* site index of that sub-interval */
	uint64_t off;             /* offset in the data object (UINT64_MAX: none) */
};
/* A line one thread writes and another touches, in their sections. */
struct hg_sim_shared {
	uint64_t line;
	uint64_t score;      /* per thread, its writing sub-intervals up to the other
	                      * threads' using ones, summed (replay_census.c) */
	uint32_t nthreads;   /* threads that touched it */
	uint32_t nsides, g;  /* g: index into trace.glines */
	struct hg_sim_shared_side sides[HG_SIM_CENSUS_SIDES];
};
struct hg_sim_census {
	struct hg_sim_shared *lines; /* by score, at most HG_SIM_CENSUS_KEEP */
	unsigned n;
	int skipped; /* the trace was too large to count */
};
/* Counts the shared lines of t (sim/replay_census.c); 0, or -1 with one line in err. */
int hg_sim_census(const struct hg_sim_trace *t, struct hg_sim_census *out, char *err, size_t errlen);
void hg_sim_census_free(struct hg_sim_census *c);

/* ------------------------------------------------------------ the output */

struct hg_sim_report {
	const struct hg_sim_trace *t;
	const struct hg_sim_names *names;
	const struct hg_sim_opts *o;
	const char *trace_path;
	struct hg_sim_result *elided, *locked; /* at o->cpus */
	double *curve_elided, *curve_locked;   /* makespans at 1..o->cpus cores */
	double wall_s;
	const struct hg_sim_census *census; /* shared lines (NULL: not counted) */
};
void hg_sim_write_json(FILE *f, const struct hg_sim_report *rp);
void hg_sim_write_text(FILE *f, const struct hg_sim_report *rp);

#endif /* HG_SIM_REPLAY_H */
