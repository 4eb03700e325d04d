/* SPDX-License-Identifier: MIT */
/*
 * gil/preload.c - the constructor of libhtmgil-preload.so.
 *
 *   HTMGIL_TARGET unset or "gil": identify the interpreter (gil/pyident.h);
 *       CPython 2.7 -> gil/gil27.c, 3.11-3.13 -> gil/gil3.c; any other
 *       CPython gets one line on stderr and runs unchanged; a process that
 *       is not CPython (a shell, a subprocess child) is left entirely alone.
 *   HTMGIL_TARGET=pthread: pthread mode (gil/pthread.c), no GIL work.
 *   anything else: one line naming the accepted values, nothing elided.
 *
 * The exit report itself (HTMGIL_REPORT) is written by the core; the GIL
 * front end adds its section through hg_report_set_hook and names its sites
 * through hg_site_set_resolver.
 */
#include "gil/gil.h"

#include <stdlib.h>
#include <string.h>

#include "gil/pysite.h"
#include "htm/engine.h"

struct hg_gil_totals hg_gil_totals;
struct hg_gil_state hg_gil_state;

static const char *kind_name(enum hg_py_kind k)
{
	switch (k) {
	case HG_PY_27:
		return "cpython2.7";
	case HG_PY_3X:
		return "cpython3";
	case HG_PY_REFUSED:
		return "refused";
	default:
		return "none";
	}
}

static uint64_t row_aborts(const struct hg_stats_row *r)
{
	uint64_t n = 0;
	for (int c = 0; c < HG_CAUSE_COUNT; c++)
		n += r->s.aborts[c];
	return n;
}

static int by_aborts(const void *a, const void *b)
{
	uint64_t x = row_aborts(a), y = row_aborts(b);
	if (x != y)
		return x < y ? 1 : -1;
	uint64_t p = ((const struct hg_stats_row *)a)->s.acquisitions;
	uint64_t q = ((const struct hg_stats_row *)b)->s.acquisitions;
	return p < q ? 1 : p > q ? -1 : 0;
}

/*
 * The GIL's sites with their whole names (the core's table cuts names to a
 * column): bytecode location, sections, commits per tier, aborts by cause,
 * the tier the site is on and its transaction length, most aborts first.
 */
static void gil_sites_text(FILE *f, uint32_t lock_id)
{
	struct hg_stats_snapshot snap;
	if (lock_id == 0 || hg_stats_snapshot(&snap) != 0)
		return;
	unsigned n = 0;
	for (unsigned i = 0; i < snap.n; i++)
		if (snap.rows[i].lock_id == lock_id)
			snap.rows[n++] = snap.rows[i];
	qsort(snap.rows, n, sizeof(*snap.rows), by_aborts);
	fprintf(f, "GIL bytecode sites (opcode@offset function file:line), most aborts first:\n");
	fprintf(f, "  %8s %8s %8s %8s %8s %8s %8s %8s %8s %-5s %5s  %s\n", "sections", "attempts",
	    "htm", "lock", "conflict", "capacity", "explicit", "retry", "other", "tier", "txlen",
	    "site");
	char name[256];
	for (unsigned i = 0; i < n && i < 40; i++) {
		const struct hg_site_stats *s = &snap.rows[i].s;
		fprintf(f, "  %8llu %8llu %8llu %8llu %8llu %8llu %8llu %8llu %8llu %-5s %5u  %s\n",
		    (unsigned long long)s->acquisitions, (unsigned long long)s->attempts,
		    (unsigned long long)s->commits[HG_TIER_HTM], (unsigned long long)s->commits[HG_TIER_LOCK],
		    (unsigned long long)s->aborts[HG_CAUSE_CONFLICT],
		    (unsigned long long)s->aborts[HG_CAUSE_CAPACITY],
		    (unsigned long long)s->aborts[HG_CAUSE_EXPLICIT],
		    (unsigned long long)s->aborts[HG_CAUSE_RETRY],
		    (unsigned long long)s->aborts[HG_CAUSE_OTHER],
		    hg_tier_name((enum hg_tier)s->tier_now), s->txlen,
		    hg_site_name(snap.rows[i].site, name, sizeof(name)));
	}
	if (n > 40)
		fprintf(f, "  ... %u more sites (all of them are in the JSON report)\n", n - 40);
	hg_stats_free(&snap);
}

void hg_gil_report(FILE *f, enum hg_report_format fmt)
{
	const struct hg_gil_state *g = &hg_gil_state;
	struct hg_gil_totals t;
	/* relaxed loads: statistics; the report runs at exit */
	t.takes = hg_atomic_load_relaxed64(&hg_gil_totals.takes);
	t.direct = hg_atomic_load_relaxed64(&hg_gil_totals.direct);
	t.drops = hg_atomic_load_relaxed64(&hg_gil_totals.drops);
	t.forks = hg_atomic_load_relaxed64(&hg_gil_totals.forks);
	t.yields = hg_atomic_load_relaxed64(&hg_gil_totals.yields);
	t.restarts = hg_atomic_load_relaxed64(&hg_gil_totals.restarts);
	const char *yields = g->yields ? g->yields : "not available for this interpreter";
	for (int i = 0; i < HG_TIER_COUNT; i++)
		t.sections[i] = hg_atomic_load_relaxed64(&hg_gil_totals.sections[i]);
	if (fmt == HG_REPORT_JSON) {
		fprintf(f, ",\"gil\":{\"interpreter\": \"%s\", \"version\": \"%s\", \"active\": %s, "
		    "\"hooked\": \"%s\", \"mode\": \"%s\", \"takes\": %llu, \"direct\": %llu, "
		    "\"sections_htm\": %llu, \"sections_lock\": %llu, \"drops\": %llu, "
		    "\"fork_children\": %llu, \"sites\": %u, \"forced_yields\": \"%s\", "
		    "\"yield_points\": %llu, \"yield_restarts\": %llu}",
		    kind_name(g->py.kind), g->py.version, g->active ? "true" : "false",
		    g->hooked ? g->hooked : "", hg_htm_mode_name(hg_htm_mode()),
		    (unsigned long long)t.takes, (unsigned long long)t.direct,
		    (unsigned long long)t.sections[HG_TIER_HTM], (unsigned long long)t.sections[HG_TIER_LOCK],
		    (unsigned long long)t.drops, (unsigned long long)t.forks, hg_pysite_count(), yields,
		    (unsigned long long)t.yields, (unsigned long long)t.restarts);
		return;
	}
	fprintf(f, "\nGIL: CPython %s (%s), %s\n", g->py.version, g->py.path,
	    g->active ? g->hooked : "not hooked");
	fprintf(f, "GIL totals: takes %llu (direct %llu), sections htm %llu lock %llu, drops %llu, "
	    "fork children %llu, bytecode sites %u\n",
	    (unsigned long long)t.takes, (unsigned long long)t.direct,
	    (unsigned long long)t.sections[HG_TIER_HTM], (unsigned long long)t.sections[HG_TIER_LOCK],
	    (unsigned long long)t.drops, (unsigned long long)t.forks, hg_pysite_count());
	fprintf(f, "GIL forced yield points: %s; %llu passed inside speculative sections, "
	    "%llu ended a transaction and began the next\n",
	    yields, (unsigned long long)t.yields, (unsigned long long)t.restarts);
	gil_sites_text(f, g->lock_id);
}

static void gil_init(void)
{
	struct hg_gil_state *g = &hg_gil_state;
	enum hg_py_kind k = hg_py_identify(&g->py);
	if (k == HG_PY_NONE)
		return;
	if (k == HG_PY_REFUSED) {
		hg_warn("%s", g->py.why);
		return;
	}
	g->lock_id = hg_lock_register("gil");
	hg_pysite_init(&g->py);
	int rc = k == HG_PY_27 ? hg_gil27_install(g) : hg_gil3_install(g);
	if (rc != 0)
		return;
	g->active = true;
	hg_site_set_resolver(hg_pysite_resolve);
	hg_report_set_hook(hg_gil_report);
}

__attribute__((constructor)) static void hg_preload_init(void)
{
	const char *t = getenv("HTMGIL_TARGET");
	if (!t || !*t || strcmp(t, "gil") == 0) {
		gil_init();
	} else if (strcmp(t, "pthread") == 0) {
		hg_pthread_install();
	} else {
		hg_warn("HTMGIL_TARGET=%s is not understood: use 'gil' (the default) or 'pthread'; "
		    "eliding nothing", t);
	}
}
