/* SPDX-License-Identifier: MIT */
/*
 * engine/site.h - per-thread site records (engine/site.c).
 *
 * A record (struct hg_site_rec, engine/policy.h) is one (lock, site) of
 * one thread: its counters and its policy state.  Only the owning thread
 * writes it, always outside transactions; snapshots and the report read it
 * (docs/design.md, "Statistics and the report").
 */
#ifndef HG_ENGINE_SITE_H
#define HG_ENGINE_SITE_H

#include <stdint.h>

#include "htmgil/prof.h"
#include "base/util.h"
#include "engine/policy.h"
#include "engine/trace.h"

/* The calling thread's record for (lock_id, site), created on first use. */
HG_INTERNAL struct hg_site_rec *hg_site_rec_lookup(uint32_t lock_id, uint64_t site);
/* Threads with a live table (that have entered a section and not exited). */
HG_INTERNAL unsigned hg_site_thread_count(void);
/*
 * Live threads with a record of lock_id (that have entered a section of it
 * and not exited); for ids beyond the counted range, hg_site_thread_count.
 */
HG_INTERNAL unsigned hg_site_lock_threads(uint32_t lock_id);
/* The record used last by this thread: most acquisitions hit it. */
extern HG_TLS struct hg_site_rec *hg_site_last;
/*
 * The record of a section about to be entered (front ends call it just
 * before the engine, outside transactions): the timeline opens the section
 * here (engine/trace.h).
 */
static inline struct hg_site_rec *hg_site_rec_get(uint32_t lock_id, uint64_t site)
{
	struct hg_site_rec *r = hg_site_last;
	if (HG_UNLIKELY(!r || r->site != site || r->lock_id != lock_id))
		r = hg_site_rec_lookup(lock_id, site);
	hg_trace_open(r);
	return r;
}

/* The tier the calling thread's record runs on (relaxed: a snapshot value). */
static inline enum hg_tier hg_site_tier(const struct hg_site_rec *r)
{
	return (enum hg_tier)__atomic_load_n(&r->pol.tier, __ATOMIC_RELAXED);
}

#endif /* HG_ENGINE_SITE_H */
