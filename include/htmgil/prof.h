/* SPDX-License-Identifier: MIT */
/*
 * htmgil/prof.h - statistics per (lock, site) and the exit report.
 *
 * Counters are per thread, written only outside transactions by their owning
 * thread, and merged on demand (a snapshot or the report).  The report's JSON
 * schema is described in docs/report.md.
 */
#ifndef HTMGIL_PROF_H
#define HTMGIL_PROF_H

#include <stdint.h>
#include <stdio.h>

#include <htmgil/elide.h>

#include <htmgil/api.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HG_REPORT_SCHEMA_VERSION 4

/* Demotion/promotion reasons, counted per site. */
enum hg_reason {
	HG_REASON_ABORT_RATE = 0, /* decaying abort rate over the threshold */
	HG_REASON_CAPACITY,       /* capacity aborts exhausted their retry */
	HG_REASON_COST,           /* a lower tier measured cheaper per section */
	HG_REASON_REPROBE,        /* a re-probe of the upper tier succeeded */
	HG_REASON_COUNT
};
HG_API const char *hg_reason_name(enum hg_reason r);

/*
 * Hardware TSX events counted per site under HTMGIL_PMU (docs/design.md,
 * "Hardware counters"): the index into hg_site_stats.pmu_events.  Each is
 * the libpfm4 event named; a model without it leaves its count at 0.
 */
enum hg_pmu_count {
	HG_PMU_TX_START = 0,        /* RTM_RETIRED:START */
	HG_PMU_TX_COMMIT,           /* RTM_RETIRED:COMMIT */
	HG_PMU_TX_ABORTED,          /* RTM_RETIRED:ABORTED, every cause */
	HG_PMU_ABORTED_MEM,         /* RTM_RETIRED:ABORTED_MEM (hsw/bdw: ABORTED_MISC1) */
	HG_PMU_ABORTED_TIMER,       /* RTM_RETIRED:ABORTED_TIMER (skl: ABORTED_TMR) */
	HG_PMU_ABORTED_UNFRIENDLY,  /* RTM_RETIRED:ABORTED_UNFRIENDLY (hsw/bdw: MISC3) */
	HG_PMU_ABORTED_MEMTYPE,     /* RTM_RETIRED:ABORTED_MEMTYPE (hsw/bdw: MISC4) */
	HG_PMU_ABORTED_EVENTS,      /* RTM_RETIRED:ABORTED_EVENTS (hsw/bdw: MISC5) */
	HG_PMU_ABORT_CONFLICT,      /* TX_MEM:ABORT_CONFLICT */
	HG_PMU_ABORT_CAPACITY_READ, /* TX_MEM:ABORT_CAPACITY_READ (icl and later) */
	HG_PMU_ABORT_CAPACITY_WRITE,/* TX_MEM:ABORT_CAPACITY_WRITE (hsw, icl and later) */
	HG_PMU_ABORT_CAPACITY,      /* TX_MEM:ABORT_CAPACITY (bdw, skl: reads and writes) */
	HG_PMU_COUNT_N
};

/*
 * Where a timed section's wall time went (hg_site_stats.time; docs/report.md,
 * "Time"): cycles of the time-stamp counter.
 */
enum hg_time_kind {
	HG_TIME_SPEC = 0, /* in committed speculative sections: begin (RTM) or the
	                     emulated begin's return, to the commit */
	HG_TIME_ABORTED,  /* in aborted attempts: the attempt's begin to the abort's return */
	HG_TIME_WAITING,  /* waiting: the retry loop's waits and backoff, and taking the real lock */
	HG_TIME_LOCK,     /* holding the real lock (lock tier): acquired to released */
	HG_TIME_STM,      /* in software sections (hg_run's STM tier) */
	HG_TIME_COUNT
};

/* Explicit codes counted individually; others fall in the last slot. */
#define HG_EXPLICIT_SLOTS 10

struct hg_site_stats {
	uint64_t acquisitions;              /* sections entered */
	uint64_t attempts;                  /* speculative begins (HTM) */
	uint64_t commits[HG_TIER_COUNT];    /* sections completed, by tier; [HG_TIER_HTM]: RTM only */
	uint64_t commits_emu;               /* speculative sections completed under emulated HTM
	                                       (serialized on the real lock; tier "emu" in reports) */
	uint64_t aborts[HG_CAUSE_COUNT];    /* speculative aborts, by cause */
	uint64_t explicit_codes[HG_EXPLICIT_SLOTS]; /* by code, see hg_explicit_slot_code */
	uint64_t demotions[HG_REASON_COUNT];
	uint64_t promotions[HG_REASON_COUNT];
	uint64_t reprobes;                  /* upward probes started */
	uint64_t skips;                     /* acquisitions sent to the lock by skip_other */
	uint64_t bad_releases;              /* releases of a lock not held */
	uint64_t stm_aborts;                /* software-tier aborts (issue: STM tier) */
	uint64_t cycles[HG_TIER_COUNT];     /* cycles spent per tier, when measured */
	/* HTMGIL_PMU: hardware counters read before each speculative begin and
	 * after its commit or abort (docs/design.md, "Hardware counters"). */
	uint64_t pmu_reads;                 /* speculative attempts read around */
	uint64_t pmu_cycles_commit;         /* cycles-ct: cycles in committed transactions */
	uint64_t pmu_cycles_abort;          /* cycles-t - cycles-ct: cycles lost in aborted ones */
	uint64_t pmu_events[HG_PMU_COUNT_N]; /* TSX events, by enum hg_pmu_count */
	/* Wall time (docs/report.md, "Time"): sections whose time is measured
	 * (every one at sites of long sections, the GIL; else 1 in 64, so that
	 * acquisitions / timed scales the sums to estimates). */
	uint64_t timed;                     /* sections timed */
	uint64_t time[HG_TIME_COUNT];       /* cycles, by enum hg_time_kind, over the timed sections */
	/* GIL sites: aborts (not busy) of transactions one yield interval long,
	 * by cause: each lies in the interval from this site to the next yield
	 * point (next_site): localised (docs/report.md, "Localised aborts"). */
	uint64_t aborts_one[HG_CAUSE_COUNT];
	uint32_t tier_now;                  /* tier of the most recently active thread */
	uint32_t txlen;                     /* transaction length chosen (GIL sites) */
	uint32_t txlen_cap;                 /* ... its cap by time (0: none; hg_policy.txtime_us) */
	uint32_t yield_cycles;              /* measured cycles per yield interval (0: none) */
	uint64_t next_site;                 /* GIL sites: the yield point that ended a one-interval
	                                       transaction begun here, last seen (0: none) */
	double abort_rate;                  /* decaying estimate, mean over threads */
};

/* The explicit code counted in slot i (0 for the "other codes" slot). */
HG_API unsigned hg_explicit_slot_code(unsigned slot);

/* One (lock, site) row of a snapshot. */
struct hg_stats_row {
	uint32_t lock_id;
	uint64_t site;
	struct hg_site_stats s;
};

struct hg_stats_snapshot {
	struct hg_stats_row *rows;
	unsigned n;
};

/* Merges all threads' counters (live and exited). Free with hg_stats_free. */
HG_API int hg_stats_snapshot(struct hg_stats_snapshot *out);
HG_API void hg_stats_free(struct hg_stats_snapshot *s);
/* Merged counters of one (lock, site); zeros if never used. */
HG_API void hg_stats_get(const struct hg_lock *l, uint64_t site, struct hg_site_stats *out);
/* Zeroes every counter and policy state (for tests and benchmarks). */
HG_API void hg_stats_reset(void);
HG_API const char *hg_lock_name(uint32_t lock_id);

enum hg_report_format { HG_REPORT_TEXT = 0, HG_REPORT_JSON = 1 };
/* Writes the report for everything counted so far. */
HG_API int hg_report_write(FILE *f, enum hg_report_format fmt);
/* Writes to path; the format follows the suffix (".json" -> JSON). */
HG_API int hg_report_write_path(const char *path);
/*
 * Starts a run whose processes write their reports under name (as
 * HTMGIL_REPORT does, docs/report.md): makes name absolute against the
 * current directory, removes a file left there from before, and sets
 * HTMGIL_REPORT and the run marker for this process's descendants, this
 * process (its pid) being the run's top.  Writes the absolute name to out.
 * Returns 0, or -1 when name does not fit or the environment cannot be set.
 */
HG_API int hg_report_start_run(const char *name, char *out, size_t len);

/*
 * Hooks that let a front end (the GIL) add its own section to the report:
 * called while the report is written, outside any transaction.
 */
typedef void (*hg_report_hook)(FILE *f, enum hg_report_format fmt);
HG_API void hg_report_set_hook(hg_report_hook fn);

#ifdef __cplusplus
}
#endif
#endif /* HTMGIL_PROF_H */
