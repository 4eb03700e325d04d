/* SPDX-License-Identifier: MIT */
/*
 * sim/replay_out.c - the replay's prediction as JSON (schema "htmgil-sim",
 * docs/report.md, "Simulation (tier sim)") and as text.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "engine/policy.h"
#include "sim/replay.h"

#define HG_SIM_JSON_CONFLICTS 1000 /* conflicts written to JSON, by wasted cycles */
#define HG_SIM_TEXT_CONFLICTS 10

static const struct hg_sim_report *hg_rp_sort;

static int hg_conf_cmp(const void *a, const void *b)
{
	const struct hg_sim_conflict *x = a, *y = b;
	if (x->wasted != y->wasted)
		return x->wasted > y->wasted ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static uint64_t hg_site_aborts(const struct hg_sim_site_out *s)
{
	uint64_t n = 0;
	for (int c = 0; c < HG_SIM_C_COUNT; c++)
		n += s->aborts[c];
	return n;
}

static int hg_site_cmp(const void *a, const void *b)
{
	const struct hg_sim_site_out *sa = &hg_rp_sort->elided->sites[*(const uint32_t *)a];
	const struct hg_sim_site_out *sb = &hg_rp_sort->elided->sites[*(const uint32_t *)b];
	uint64_t x = hg_site_aborts(sa), y = hg_site_aborts(sb);
	if (x != y)
		return x > y ? -1 : 1;
	if (sa->acquisitions != sb->acquisitions)
		return sa->acquisitions > sb->acquisitions ? -1 : 1;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Sites in report order: by aborts, then by acquisitions; only those used. */
static uint32_t *hg_sites_order(const struct hg_sim_report *rp, uint32_t *n)
{
	uint32_t *ord = malloc((rp->t->nsites + 1) * sizeof *ord);
	if (!ord) {
		fprintf(stderr, "htmgil-sim-replay: out of memory writing the report\n");
		exit(2);
	}
	*n = 0;
	for (uint32_t i = 0; i < rp->t->nsites; i++)
		ord[(*n)++] = i;
	hg_rp_sort = rp;
	qsort(ord, *n, sizeof *ord, hg_site_cmp);
	return ord;
}

static void hg_sort_conflicts(struct hg_sim_result *r)
{
	if (r->nconflicts > 1)
		qsort(r->conflicts, r->nconflicts, sizeof *r->conflicts, hg_conf_cmp);
}

/* A site's name: from --names, else its key in hex (buf). */
static const char *hg_site_label(const struct hg_sim_report *rp, uint32_t site, char *buf, size_t len)
{
	const struct hg_sim_site_in *si = &rp->t->sites[site];
	const char *n = hg_sim_site_name(rp->names, si->lock_id, si->key);
	if (n)
		return n;
	snprintf(buf, len, "0x%016" PRIx64, si->key);
	return buf;
}

static double hg_us(const struct hg_sim_report *rp, double cyc)
{
	return cyc / (rp->o->ghz * 1000.0);
}

static double hg_spec_aborted_frac(const struct hg_sim_result *r, uint32_t nthreads)
{
	double c = 0, a = 0;
	for (uint32_t i = 0; i < nthreads; i++) {
		c += r->threads[i].committed;
		a += r->threads[i].aborted;
	}
	return c + a > 0 ? a / (c + a) : 0.0;
}

/* Curve points: every core count up to 16, then powers of two and the last. */
static int hg_curve_point(unsigned k, unsigned n)
{
	return k <= 16 || (k & (k - 1)) == 0 || k == n;
}

/* ------------------------------------------------------------ JSON */

static void hg_json_num(FILE *f, double v)
{
	fprintf(f, "%.6g", v);
}

static void hg_json_str_or_null(FILE *f, const char *s)
{
	if (s)
		hg_json_write_str(f, s);
	else
		fputs("null", f);
}

static void hg_json_site_ref(FILE *f, const struct hg_sim_report *rp, uint32_t site)
{
	char buf[32];
	const struct hg_sim_site_in *si = &rp->t->sites[site];
	fprintf(f, "\"lock_id\": %u, \"site\": \"0x%016" PRIx64 "\", \"site_name\": ", si->lock_id, si->key);
	hg_json_write_str(f, hg_site_label(rp, site, buf, sizeof buf));
}

static void hg_json_side(FILE *f, const struct hg_sim_report *rp, const struct hg_sim_side *sd)
{
	fprintf(f, "{ \"thread\": %u, \"lock_word\": %s, \"data\": ", sd->thread,
	    sd->lock_word ? "true" : "false");
	hg_json_str_or_null(f, hg_sim_desc_text(rp->t, sd->data));
	fputs(", \"offset\": ", f);
	if (sd->off == UINT64_MAX)
		fputs("null", f);
	else
		fprintf(f, "%" PRIu64, sd->off);
	fputs(", \"code\": ", f);
	hg_json_str_or_null(f, hg_sim_desc_text(rp->t, sd->code));
	fputs(", ", f);
	hg_json_site_ref(f, rp, sd->site);
	fputs(" }", f);
}

static void hg_json_cycles(FILE *f, const struct hg_sim_thread_out *t)
{
	fprintf(f, "{ \"committed\": %.0f, \"aborted\": %.0f, \"lock\": %.0f, \"waiting\": %.0f, "
	    "\"outside\": %.0f }", t->committed, t->aborted, t->locked, t->waiting, t->outside);
}

void hg_sim_write_json(FILE *f, const struct hg_sim_report *rp)
{
	const struct hg_sim_trace *t = rp->t;
	const struct hg_sim_opts *o = rp->o;
	struct hg_sim_result *E = rp->elided, *L = rp->locked;
	hg_sort_conflicts(E);
	fputs("{\n  \"schema\": \"htmgil-sim\",\n  \"version\": 1,\n", f);
	fputs("  \"trace\": { \"path\": ", f);
	hg_json_write_str(f, rp->trace_path);
	fprintf(f, ", \"pid\": %" PRIu64 ", \"page_size\": %" PRIu64 ", \"threads\": %u, "
	    "\"intervals\": %u, \"chunks\": %u, \"lines\": %u, \"truncated_intervals\": %u, "
	    "\"info\": ", t->pid, t->page_size, t->nthreads, t->nsubs, t->nivals, t->nglines, t->truncated);
	hg_json_str_or_null(f, t->info);
	fputs(" },\n", f);

	fputs("  \"model\": { \"name\": ", f);
	hg_json_write_str(f, o->model->name);
	fputs(", \"what\": ", f);
	hg_json_write_str(f, o->model->what);
	fprintf(f, ", \"cpus\": %u, \"cpi\": ", o->cpus);
	hg_json_num(f, o->cpi);
	fputs(", \"ghz\": ", f);
	hg_json_num(f, o->ghz);
	fputs(", \"jitter\": ", f);
	hg_json_num(f, o->jitter);
	fprintf(f, ", \"fallback\": \"%s\"", o->hold_fallback ? "hold" : "bounded");
	fprintf(f, ", \"seed\": %" PRIu64 ",\n    \"l1_sets\": %u, \"l1_ways\": %u, \"read_lines\": %u, "
	    "\"line_bytes\": %u,\n    \"begin_cycles\": %g, \"commit_cycles\": %g, "
	    "\"abort_penalty_cycles\": %g, \"pause_cycles\": %g, \"wake_cycles\": %g, \"lock_cycles\": %g,\n"
	    "    \"timer_survival\": [", o->seed, o->model->l1_sets, o->model->l1_ways,
	    o->model->read_lines, 1u << HG_SIM_LINE_SHIFT, HG_SIM_BEGIN_CYCLES, HG_SIM_COMMIT_CYCLES,
	    HG_SIM_ABORT_PENALTY, HG_SIM_PAUSE_CYCLES, HG_SIM_WAKE_CYCLES, HG_SIM_LOCK_CYCLES);
	for (unsigned i = 0; i < HG_SIM_N_SURVIVAL; i++)
		fprintf(f, "%s[%g, %g]", i ? ", " : "", hg_sim_survival[i].us, hg_sim_survival[i].survive);
	fputs("] },\n", f);

	const struct hg_policy *p = &hg_policy_now;
	fprintf(f, "  \"policy\": { \"retry_conflict\": %u, \"retry_busy\": %u, \"retry_capacity\": %u, "
	    "\"skip_other\": %u, \"demote_rate\": %g, \"demote_min\": %u, \"decay\": %g, "
	    "\"reprobe_base\": %u, \"reprobe_max\": %u, \"txtime_us\": %u, \"txlen_fixed\": %u, "
	    "\"txlen_off\": %s },\n",
	    p->retry_conflict, p->retry_busy, p->retry_capacity, p->skip_other, p->demote_rate,
	    p->demote_min, p->decay, p->reprobe_base, p->reprobe_max, p->txtime_us, hg_txlen_fixed,
	    hg_txlen_off ? "true" : "false");

	double par = E->makespan > 0 ? E->busy / E->makespan : 0;
	double lpar = L->makespan > 0 ? L->busy / L->makespan : 0;
	fprintf(f, "  \"process\": { \"makespan_cycles\": %.0f, \"makespan_us\": ", E->makespan);
	hg_json_num(f, hg_us(rp, E->makespan));
	fputs(", \"parallelism\": ", f);
	hg_json_num(f, par);
	fputs(", \"speedup\": ", f);
	hg_json_num(f, E->makespan > 0 ? L->makespan / E->makespan : 0);
	fputs(", \"aborted_fraction\": ", f);
	hg_json_num(f, hg_spec_aborted_frac(E, t->nthreads));
	fprintf(f, ", \"attempts\": %" PRIu64 ", \"aborts\": %" PRIu64 ", \"lock_stretches\": %" PRIu64
	    ",\n", E->attempts, E->aborts, E->lock_stretches);
	fprintf(f, "    \"lock_only\": { \"makespan_cycles\": %.0f, \"makespan_us\": ", L->makespan);
	hg_json_num(f, hg_us(rp, L->makespan));
	fputs(", \"parallelism\": ", f);
	hg_json_num(f, lpar);
	fputs(" },\n    \"curve\": [", f);
	int first = 1;
	for (unsigned k = 1; k <= o->cpus; k++) {
		if (!hg_curve_point(k, o->cpus))
			continue;
		double e = rp->curve_elided[k - 1], l = rp->curve_locked[k - 1];
		fprintf(f, "%s\n      { \"cpus\": %u, \"makespan_cycles\": %.0f, \"lock_makespan_cycles\": %.0f, "
		    "\"speedup\": ", first ? "" : ",", k, e, l);
		hg_json_num(f, e > 0 ? l / e : 0);
		fputs(", \"scaling\": ", f);
		hg_json_num(f, e > 0 ? rp->curve_elided[0] / e : 0);
		fputs(" }", f);
		first = 0;
	}
	fputs(" ] },\n", f);

	fputs("  \"threads\": [", f);
	for (uint32_t i = 0; i < t->nthreads; i++) {
		const struct hg_sim_thread_out *to = &E->threads[i];
		fprintf(f, "%s\n    { \"serial\": %u, \"parent\": %u, \"instructions\": %" PRIu64
		    ", \"end_cycles\": %.0f, \"cycles\": ", i ? "," : "", t->threads[i].serial,
		    t->threads[i].parent, to->instructions, to->end);
		hg_json_cycles(f, to);
		fputs(", \"lock_only_cycles\": ", f);
		hg_json_cycles(f, &L->threads[i]);
		fputs(" }", f);
	}
	fputs(" ],\n", f);

	uint32_t ns;
	uint32_t *ord = hg_sites_order(rp, &ns);
	fputs("  \"sites\": [", f);
	for (uint32_t k = 0; k < ns; k++) {
		uint32_t i = ord[k];
		const struct hg_sim_site_out *so = &E->sites[i];
		fprintf(f, "%s\n    { ", k ? "," : "");
		hg_json_site_ref(f, rp, i);
		fputs(", \"lock_name\": ", f);
		hg_json_str_or_null(f, hg_sim_lock_name(rp->names, t->sites[i].lock_id));
		fprintf(f, ",\n      \"acquisitions\": %" PRIu64 ", \"attempts\": %" PRIu64 ", \"commits\": %"
		    PRIu64 ", \"lock_sections\": %" PRIu64 ", \"aborts_total\": %" PRIu64 ",\n      \"aborts\": { ",
		    so->acquisitions, so->attempts, so->commits, so->lock_sections, hg_site_aborts(so));
		for (int c = 0; c < HG_SIM_C_COUNT; c++)
			fprintf(f, "%s\"%s\": %" PRIu64, c ? ", " : "", hg_sim_cause_names[c], so->aborts[c]);
		fprintf(f, " },\n      \"txlen\": { \"last\": %u, \"mean\": ", so->txlen_last);
		hg_json_num(f, so->txlen_n ? (double)so->txlen_sum / (double)so->txlen_n : 0);
		fprintf(f, ", \"transactions\": %" PRIu64 " },\n      \"cycles\": { \"committed\": %.0f, "
		    "\"aborted\": %.0f, \"lock\": %.0f } }", so->txlen_n, so->cyc_committed,
		    so->cyc_aborted, so->cyc_locked);
	}
	fputs(" ],\n", f);
	free(ord);

	fputs("  \"conflicts\": [", f);
	for (unsigned i = 0; i < E->nconflicts && i < HG_SIM_JSON_CONFLICTS; i++) {
		const struct hg_sim_conflict *c = &E->conflicts[i];
		fprintf(f, "%s\n    { \"line\": \"0x%" PRIx64 "\", \"count\": %" PRIu64 ", \"wasted_cycles\": %.0f,"
		    "\n      \"victim\": ", i ? "," : "", c->line << HG_SIM_LINE_SHIFT, c->count, c->wasted);
		hg_json_side(f, rp, &c->victim);
		fputs(",\n      \"aggressor\": ", f);
		hg_json_side(f, rp, &c->aggressor);
		fputs(" }", f);
	}
	fprintf(f, " ],\n  \"conflicts_total\": %u,\n", E->nconflicts);

	const struct hg_sim_census *cs = rp->census;
	fputs("  \"shared_lines\": ", f);
	if (!cs || cs->skipped) {
		fputs("null,\n", f);
	} else {
		fputs("[", f);
		for (unsigned i = 0; i < cs->n; i++) {
			const struct hg_sim_shared *sl = &cs->lines[i];
			fprintf(f, "%s\n    { \"line\": \"0x%" PRIx64 "\", \"score\": %" PRIu64
			    ", \"threads\": %u, \"sides\": [", i ? "," : "", sl->line << HG_SIM_LINE_SHIFT,
			    sl->score, sl->nthreads);
			for (unsigned j = 0; j < sl->nsides; j++) {
				const struct hg_sim_shared_side *d = &sl->sides[j];
				fprintf(f, "%s\n      { \"thread\": %u, \"writes\": %u, \"touches\": %u, "
				    "\"data\": ", j ? "," : "", d->thread, d->writes, d->touches);
				hg_json_str_or_null(f, hg_sim_desc_text(t, d->data));
				fputs(", \"offset\": ", f);
				if (d->off == UINT64_MAX)
					fputs("null", f);
				else
					fprintf(f, "%" PRIu64, d->off);
				fputs(", \"code\": ", f);
				hg_json_str_or_null(f, hg_sim_desc_text(t, d->code));
				fputs(", ", f);
				hg_json_site_ref(f, rp, d->site);
				fputs(" }", f);
			}
			fputs(" ] }", f);
		}
		fputs(" ],\n", f);
	}

	fputs("  \"capacity\": [", f);
	for (unsigned i = 0; i < E->ncaps; i++) {
		const struct hg_sim_capacity *c = &E->caps[i];
		fprintf(f, "%s\n    { ", i ? "," : "");
		hg_json_site_ref(f, rp, c->site);
		fprintf(f, ", \"cause\": \"%s\", \"count\": %" PRIu64 ", \"wasted_cycles\": %.0f, "
		    "\"write_lines\": %u, \"read_lines\": %u, \"fullest_set\": { \"index\": %u, \"lines\": %u }, "
		    "\"data\": ", hg_sim_cause_names[c->cause], c->count, c->wasted, c->write_lines,
		    c->read_lines, c->fullest_set, c->fullest_n);
		hg_json_str_or_null(f, hg_sim_desc_text(t, c->data));
		fputs(" }", f);
	}
	fputs(" ],\n", f);

	fputs("  \"unfriendly\": [", f);
	for (unsigned i = 0; i < E->nunf; i++) {
		const struct hg_sim_unfriendly *u = &E->unf[i];
		fprintf(f, "%s\n    { ", i ? "," : "");
		hg_json_site_ref(f, rp, u->site);
		fprintf(f, ", \"cause\": \"%s\", \"count\": %" PRIu64 ", \"wasted_cycles\": %.0f, "
		    "\"arg\": %" PRIu64 ", \"code\": ", hg_sim_cause_names[u->cause], u->count, u->wasted, u->arg);
		hg_json_str_or_null(f, hg_sim_desc_text(t, u->code));
		fputs(" }", f);
	}
	fprintf(f, " ],\n  \"replay_seconds\": %.3f\n}\n", rp->wall_s);
}

/* ------------------------------------------------------------ text */

static void hg_text_side(FILE *f, const struct hg_sim_report *rp, const struct hg_sim_side *sd,
    int victim)
{
	char buf[32];
	if (sd->lock_word) {
		fprintf(f, "thread %u at %s: %s lock %u's word", sd->thread,
		    hg_site_label(rp, sd->site, buf, sizeof buf), victim ? "subscribed to" : "taking",
		    rp->t->sites[sd->site].lock_id);
		return;
	}
	const char *d = hg_sim_desc_text(rp->t, sd->data), *c = hg_sim_desc_text(rp->t, sd->code);
	fprintf(f, "thread %u at %s: ", sd->thread, hg_site_label(rp, sd->site, buf, sizeof buf));
	if (d) {
		fprintf(f, "%s", d);
		if (sd->off != UINT64_MAX)
			fprintf(f, " +%" PRIu64, sd->off);
	} else
		fputs("(unknown data)", f);
	fprintf(f, ", by %s", c ? c : "(unknown code)");
}

void hg_sim_write_text(FILE *f, const struct hg_sim_report *rp)
{
	const struct hg_sim_trace *t = rp->t;
	const struct hg_sim_opts *o = rp->o;
	struct hg_sim_result *E = rp->elided, *L = rp->locked;
	hg_sort_conflicts(E);
	double par = E->makespan > 0 ? E->busy / E->makespan : 0;
	fprintf(f, "htmgil sim: predicted: threads overlap %.2fx on %u core%s; %.1f %% of speculative "
	    "time aborted\n", par, o->cpus, o->cpus == 1 ? "" : "s",
	    100.0 * hg_spec_aborted_frac(E, t->nthreads));
	if (par < 1.1 && t->nthreads > 1)
		fputs("  the threads would not run at once: their sections serialize "
		    "(see the sites' on-lock and busy columns)\n", f);
	fprintf(f, "  makespan %.1f us with elision, %.1f us with every section on the lock: speedup %.2fx\n",
	    hg_us(rp, E->makespan), hg_us(rp, L->makespan), E->makespan > 0 ? L->makespan / E->makespan : 0);
	fputs("  scaling (cores: speedup over the lock):", f);
	for (unsigned k = 1; k <= o->cpus; k++)
		if (hg_curve_point(k, o->cpus) && rp->curve_elided[k - 1] > 0)
			fprintf(f, " %u: %.2fx", k, rp->curve_locked[k - 1] / rp->curve_elided[k - 1]);
	fprintf(f, "\n  model %s (%s), CPI %.2f, %.2f GHz, jitter %.2f, seed %" PRIu64 "\n",
	    o->model->name, o->model->what, o->cpi, o->ghz, o->jitter, o->seed);
	fprintf(f, "trace %s: pid %" PRIu64 ", %u threads, %u intervals in %u chunks, %u lines",
	    rp->trace_path, t->pid, t->nthreads, t->nsubs, t->nivals, t->nglines);
	if (t->truncated)
		fprintf(f, ", %u chunks truncated (more lines than the tool keeps: capacity is a lower bound)",
		    t->truncated);
	fputc('\n', f);

	uint32_t ns;
	uint32_t *ord = hg_sites_order(rp, &ns);
	fputs("\nsites (by aborts)\n", f);
	fprintf(f, "  %-6s %-28s %9s %9s %8s %8s %6s %6s %6s %6s %6s %7s %6s\n", "lock", "site", "attempts",
	    "commits", "aborts", "conflict", "cap-w", "cap-r", "timer", "unfr", "busy", "on-lock", "txlen");
	uint32_t shown = 0;
	for (uint32_t k = 0; k < ns && shown < 30; k++) {
		uint32_t i = ord[k];
		const struct hg_sim_site_out *so = &E->sites[i];
		if (so->acquisitions == 0)
			continue; /* a site only ever inside another's transaction */
		shown++;
		char buf[32];
		uint64_t unf = 0;
		for (int c = HG_SIM_C_SYSCALL; c <= HG_SIM_C_OTHER; c++)
			unf += so->aborts[c];
		char tx[16] = "-";
		if (so->txlen_n)
			snprintf(tx, sizeof tx, "%.1f", (double)so->txlen_sum / (double)so->txlen_n);
		fprintf(f, "  %-6u %-28.28s %9" PRIu64 " %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %6" PRIu64
		    " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %7" PRIu64 " %6s\n",
		    t->sites[i].lock_id, hg_site_label(rp, i, buf, sizeof buf), so->attempts, so->commits,
		    hg_site_aborts(so), so->aborts[HG_SIM_C_CONFLICT], so->aborts[HG_SIM_C_CAP_WRITE],
		    so->aborts[HG_SIM_C_CAP_READ], so->aborts[HG_SIM_C_TIMER], unf,
		    so->aborts[HG_SIM_C_BUSY], so->lock_sections, tx);
	}
	if (shown == 30 && ns > 30)
		fputs("  ... more sites in the JSON report (--report FILE.json)\n", f);
	free(ord);

	if (E->nconflicts) {
		fprintf(f, "\ntop conflicts (by wasted time; %u distinct)\n", E->nconflicts);
		for (unsigned i = 0; i < E->nconflicts && i < HG_SIM_TEXT_CONFLICTS; i++) {
			const struct hg_sim_conflict *c = &E->conflicts[i];
			fprintf(f, "  %u. line 0x%" PRIx64 ": %" PRIu64 " aborts, %.1f us wasted\n", i + 1,
			    c->line << HG_SIM_LINE_SHIFT, c->count, hg_us(rp, c->wasted));
			fputs("     aborted: ", f);
			hg_text_side(f, rp, &c->victim, 1);
			fputs("\n     by:      ", f);
			hg_text_side(f, rp, &c->aggressor, 0);
			fputc('\n', f);
		}
	}
	if (E->ncaps) {
		fputs("\ncapacity aborts\n", f);
		for (unsigned i = 0; i < E->ncaps; i++) {
			const struct hg_sim_capacity *c = &E->caps[i];
			char buf[32];
			const char *d = hg_sim_desc_text(t, c->data);
			fprintf(f, "  %s: %" PRIu64 " %s, footprint %u written lines (fullest L1 set %u: %u lines), "
			    "%u read lines; the line that did not fit: %s\n",
			    hg_site_label(rp, c->site, buf, sizeof buf), c->count, hg_sim_cause_names[c->cause],
			    c->write_lines, c->fullest_set, c->fullest_n, c->read_lines, d ? d : "(unknown data)");
		}
	}
	if (E->nunf) {
		fputs("\nunfriendly aborts (status 0)\n", f);
		for (unsigned i = 0; i < E->nunf; i++) {
			const struct hg_sim_unfriendly *u = &E->unf[i];
			char buf[32];
			const char *c = hg_sim_desc_text(t, u->code);
			fprintf(f, "  %s: %" PRIu64 " %s", hg_site_label(rp, u->site, buf, sizeof buf), u->count,
			    hg_sim_cause_names[u->cause]);
			if (u->cause == HG_SIM_C_SYSCALL)
				fprintf(f, " (nr %" PRIu64 ")", u->arg);
			if (u->cause != HG_SIM_C_TIMER)
				fprintf(f, " at %s", c ? c : "(unknown code)");
			fprintf(f, ", %.1f us wasted\n", hg_us(rp, u->wasted));
		}
	}
	const struct hg_sim_census *cs = rp->census;
	if (cs && cs->skipped) {
		fputs("\nshared lines: not counted (the trace is too large)\n", f);
	} else if (cs && cs->n) {
		fputs("\nshared lines (written by one thread and used by another in their sections, "
		    "whatever the schedule; by writes that other threads' uses can meet)\n", f);
		for (unsigned i = 0; i < cs->n && i < HG_SIM_TEXT_CONFLICTS; i++) {
			const struct hg_sim_shared *sl = &cs->lines[i];
			fprintf(f, "  %u. line 0x%" PRIx64 ": score %" PRIu64 ", %u threads\n",
			    i + 1, sl->line << HG_SIM_LINE_SHIFT, sl->score, sl->nthreads);
			for (unsigned j = 0; j < sl->nsides && j < 3; j++) {
				const struct hg_sim_shared_side *d = &sl->sides[j];
				char buf[32];
				const char *dt = hg_sim_desc_text(t, d->data), *ct = hg_sim_desc_text(t, d->code);
				fprintf(f, "     thread %u (%u writes, %u uses) at %s: %s", d->thread, d->writes,
				    d->touches, hg_site_label(rp, d->site, buf, sizeof buf), dt ? dt : "?");
				if (d->off != UINT64_MAX)
					fprintf(f, " +%" PRIu64, d->off);
				fprintf(f, ", by %s\n", ct ? ct : "?");
			}
		}
	}
	fprintf(f, "\n(replayed in %.2f s)\n", rp->wall_s);
}
