/* SPDX-License-Identifier: MIT */
/*
 * engine/trace.h - the section timeline (HTMGIL_TRACE=N; docs/report.md,
 * "Timeline").
 *
 * Each thread keeps a ring of its last N sections: entry and exit stamps
 * (hg_cycles), the site record's lock and site, the tier the section ended
 * on, the speculative attempts it made and whether a speculative commit was
 * emulated.  A section opens when a front end fetches its record
 * (hg_site_rec_get, engine/site.h, always outside transactions, just before
 * the engine is entered) and closes where it ended: hg_engine_exit, the
 * elided lock's release, or the end of hg_run for a software section.  Both
 * run outside transactions (after commit, in the abort path or after
 * unlock); nothing here is called inside one.
 *
 * Off (the default) costs one relaxed load and a predictable branch per
 * open and per close.
 */
#ifndef HG_ENGINE_TRACE_H
#define HG_ENGINE_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "htmgil/elide.h"
#include "htmgil/prof.h"
#include "base/atomic.h"
#include "base/util.h"

struct hg_site_rec;

/* Events kept per thread, 0: off.  Set at start-up or by hg_trace_configure
 * while no section runs; read relaxed (a setting). */
HG_INTERNAL extern uint32_t hg_trace_cap;

#define HG_TRACE_MAX (1u << 20) /* the most events per thread HTMGIL_TRACE accepts */

/* The tier codes of an event: enum hg_tier, plus the emulated speculative tier. */
#define HG_TRACE_TIER_EMU 3u

static inline bool hg_trace_on(void)
{
	return HG_UNLIKELY(hg_atomic_load_relaxed32(&hg_trace_cap) != 0);
}

HG_INTERNAL void hg_trace_open_slow(struct hg_site_rec *rec);
HG_INTERNAL void hg_trace_close_slow(struct hg_site_rec *rec, enum hg_tier tier, bool emu);

/* A section of rec begins (outside transactions). */
static inline void hg_trace_open(struct hg_site_rec *rec)
{
	if (hg_trace_on())
		hg_trace_open_slow(rec);
}

/* The section of rec ended on tier (emu: an emulated speculative commit);
 * a close without a matching open records nothing. */
static inline void hg_trace_close(struct hg_site_rec *rec, enum hg_tier tier, bool emu)
{
	if (hg_trace_on())
		hg_trace_close_slow(rec, tier, emu);
}

/* Parses an HTMGIL_TRACE value: 0 (off) or 1..HG_TRACE_MAX.  Returns 0, or -1. */
HG_INTERNAL int hg_trace_parse(const char *v, uint32_t *out);
/* Starts (n > 0) or stops (n == 0) recording and drops every event so far;
 * call while no section runs (start-up, tests). */
HG_INTERNAL void hg_trace_configure(uint32_t n);

/* One event, as the report reads it back. */
struct hg_trace_event {
	uint64_t t0, t1;   /* hg_cycles at open and at close */
	uint64_t site;
	uint32_t lock_id;
	uint32_t tier;     /* enum hg_tier, or HG_TRACE_TIER_EMU */
	uint32_t attempts; /* speculative begins of the section */
};

/*
 * Copies the calling process's events: for each thread that recorded
 * something (in the order threads first recorded), fn(ordinal, events, n,
 * arg), oldest first.  Outside transactions; events still being written by
 * a live thread are left out.  Returns -1 when out of memory.
 */
HG_INTERNAL int hg_trace_each(void (*fn)(uint32_t ordinal, const struct hg_trace_event *ev,
    size_t n, void *arg), void *arg);

/* The cycle counter's frequency in Hz, measured once against CLOCK_MONOTONIC
 * (~10 ms, outside transactions); 0 when there is no cycle counter. */
HG_INTERNAL double hg_trace_tsc_hz(void);

/* The report's "timeline" member (",\"timeline\":..."): null when off. */
HG_INTERNAL void hg_trace_write_json(FILE *f, const struct hg_stats_snapshot *snap);

#endif /* HG_ENGINE_TRACE_H */
