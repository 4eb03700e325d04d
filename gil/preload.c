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

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gil/pyalloc.h"
#include "gil/pysite.h"
#include "base/json.h"
#include "engine/engine.h"

struct hg_gil_totals hg_gil_totals;
struct hg_gil_state hg_gil_state;

static const char *hg_preload_kind_name(enum hg_py_kind k)
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
	t.lock_stretches = hg_atomic_load_relaxed64(&hg_gil_totals.lock_stretches);
	t.waits_polled = hg_atomic_load_relaxed64(&hg_gil_totals.waits_polled);
	t.waits_taken = hg_atomic_load_relaxed64(&hg_gil_totals.waits_taken);
	const char *yields = g->yields ? g->yields : "not available for this interpreter";
	for (int i = 0; i < HG_TIER_COUNT; i++)
		t.sections[i] = hg_atomic_load_relaxed64(&hg_gil_totals.sections[i]);
	/* The GIL runs in the process mode (hg_htm_mode): under emu every
	 * speculative section was emulated. */
	uint64_t emu = 0;
	if (hg_htm_mode() == HG_HTM_EMU) {
		emu = t.sections[HG_TIER_HTM];
		t.sections[HG_TIER_HTM] = 0;
	}
	if (fmt == HG_REPORT_JSON) {
		fprintf(f, ",\"gil\":{\"interpreter\": \"%s\", \"version\": ",
		    hg_preload_kind_name(g->py.kind));
		hg_json_write_str(f, g->py.version);
		fprintf(f, ", \"active\": %s, \"hooked\": ", g->active ? "true" : "false");
		hg_json_write_str(f, g->hooked ? g->hooked : "");
		fprintf(f, ", \"mode\": \"%s\", \"takes\": %llu, \"direct\": %llu, "
		    "\"sections_htm\": %llu, \"sections_emu\": %llu, \"sections_lock\": %llu, \"drops\": %llu, "
		    "\"fork_children\": %llu, \"sites\": %u, \"forced_yields\": ",
		    hg_htm_mode_name(hg_htm_mode()),
		    (unsigned long long)t.takes, (unsigned long long)t.direct,
		    (unsigned long long)t.sections[HG_TIER_HTM], (unsigned long long)emu,
		    (unsigned long long)t.sections[HG_TIER_LOCK],
		    (unsigned long long)t.drops, (unsigned long long)t.forks, hg_pysite_count());
		hg_json_write_str(f, yields);
		fprintf(f, ", \"yield_points\": %llu, \"yield_restarts\": %llu, \"lock_stretches\": %llu, "
		    "\"waits_polled\": %llu, \"waits_taken\": %llu",
		    (unsigned long long)t.yields, (unsigned long long)t.restarts,
		    (unsigned long long)t.lock_stretches, (unsigned long long)t.waits_polled,
		    (unsigned long long)t.waits_taken);
		if (g->py.kind == HG_PY_3X)
			hg_pyalloc_report(f, fmt);
		fputc('}', f);
		return;
	}
	fprintf(f, "\nGIL: CPython %s (%s), %s\n", g->py.version, g->py.path,
	    g->active ? g->hooked : "not hooked");
	fprintf(f, "GIL totals: takes %llu (direct %llu), sections htm %llu emu %llu lock %llu, drops %llu, "
	    "fork children %llu, bytecode sites %u\n",
	    (unsigned long long)t.takes, (unsigned long long)t.direct,
	    (unsigned long long)t.sections[HG_TIER_HTM], (unsigned long long)emu,
	    (unsigned long long)t.sections[HG_TIER_LOCK],
	    (unsigned long long)t.drops, (unsigned long long)t.forks, hg_pysite_count());
	fprintf(f, "GIL forced yield points: %s; %llu passed inside speculative sections, "
	    "%llu ended a transaction and began the next\n",
	    yields, (unsigned long long)t.yields, (unsigned long long)t.restarts);
	if (t.lock_stretches || t.waits_polled || t.waits_taken)
		fprintf(f, "GIL fallback: %llu holds on the real GIL given back at a yield point to "
		    "threads waiting to speculate; waits for a busy GIL: %llu by reading it, %llu "
		    "through take_gil\n", (unsigned long long)t.lock_stretches,
		    (unsigned long long)t.waits_polled, (unsigned long long)t.waits_taken);
	if (g->py.kind == HG_PY_3X)
		hg_pyalloc_report(f, fmt);
}

/* The GIL front end took part in this process: the interpreter asked it for the GIL. */
static bool hg_gil_saw_sections(void)
{
	/* relaxed: read at exit */
	return hg_gil_state.active && hg_atomic_load_relaxed64(&hg_gil_totals.takes) > 0;
}

/*
 * fork() without exec: the child's totals are its own (docs/report.md).
 * Registered before the interpreter hooks' handlers, so the fork those
 * count stays counted.
 */
static void hg_gil_totals_atfork_child(void)
{
	memset(&hg_gil_totals, 0, sizeof hg_gil_totals);
}

static void hg_gil_init(void)
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
	pthread_atfork(NULL, NULL, hg_gil_totals_atfork_child);
	hg_pysite_init(&g->py);
	int rc = k == HG_PY_27 ? hg_gil27_install(g) : hg_gil3_install(g);
	if (rc != 0)
		return;
	g->active = true;
	hg_site_set_resolver(hg_pysite_resolve);
	hg_report_set_hook(hg_gil_report);
	hg_report_set_active(hg_gil_saw_sections);
}

__attribute__((constructor)) static void hg_preload_init(void)
{
	const char *t = getenv("HTMGIL_TARGET");
	if (!t || !*t || strcmp(t, "gil") == 0) {
		hg_gil_init();
	} else if (strcmp(t, "pthread") == 0) {
		hg_pthread_install();
	} else {
		hg_warn("HTMGIL_TARGET=%s is not understood: use 'gil' (the default) or 'pthread'; "
		    "eliding nothing", t);
	}
}
