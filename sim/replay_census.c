/* SPDX-License-Identifier: MIT */
/*
 * sim/replay_census.c - the lines the recorded threads share, whatever the
 * timing: every line that one thread writes in its sections and another
 * thread reads or writes in its own (docs/report.md, "Simulation",
 * "shared_lines"), ranked by how many writes other threads' uses can meet.  The replay's conflicts say what the predicted schedule
 * hits; this says what any schedule that overlaps the threads would hit,
 * which is what a program can change.  Lock words (the sections'
 * subscription lines) are left out: every section of a lock shares them by
 * design.
 */
#include <stdlib.h>
#include <string.h>

#include "sim/replay.h"

/* Per (line, thread): sub-intervals that wrote it and that touched it, and
 * the first chunk/line entry that did (for names). */
struct hg_cell {
	uint32_t writes, touches;
	uint32_t lent, ival; /* UINT32_MAX: none */
};

static int hg_shared_cmp(const void *a, const void *b)
{
	const struct hg_sim_shared *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return x->line < y->line ? -1 : x->line > y->line;
}

int hg_sim_census(const struct hg_sim_trace *t, struct hg_sim_census *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	uint64_t ncell = (uint64_t)t->nglines * t->nthreads;
	if (ncell == 0)
		return 0;
	if (ncell > HG_SIM_CENSUS_CELLS) {
		out->skipped = 1; /* too large to count; said in the output */
		return 0;
	}
	struct hg_cell *cell = malloc(ncell * sizeof *cell);
	uint8_t *lockline = calloc(t->nglines, 1);
	if (!cell || !lockline) {
		free(cell);
		free(lockline);
		snprintf(err, errlen, "out of memory counting shared lines");
		return -1;
	}
	for (uint64_t i = 0; i < ncell; i++)
		cell[i] = (struct hg_cell){ 0, 0, UINT32_MAX, UINT32_MAX };
	for (uint32_t i = 0; i < t->nivals; i++)
		lockline[t->ivals[i].sub_g] = 1;
	for (uint32_t th = 0; th < t->nthreads; th++) {
		const struct hg_sim_thread_in *ti = &t->threads[th];
		for (uint32_t c = ti->iv0; c < ti->iv0 + ti->niv; c++) {
			const struct hg_sim_ival *iv = &t->ivals[c];
			for (uint32_t k = iv->le0; k < iv->le0 + iv->nle; k++) {
				const struct hg_sim_lent *le = &t->lents[k];
				uint32_t g = t->lent_g[k];
				if (lockline[g])
					continue;
				struct hg_cell *x = &cell[(uint64_t)g * t->nthreads + th];
				x->writes += (uint32_t)__builtin_popcountll(le->wmask);
				x->touches += (uint32_t)__builtin_popcountll(le->rmask | le->wmask);
				/* Name a side by its first write, else its first access. */
				if (x->lent == UINT32_MAX || (le->wmask && !t->lents[x->lent].wmask)) {
					x->lent = k;
					x->ival = c;
				}
			}
		}
	}
	unsigned cap = 0;
	for (uint32_t g = 0; g < t->nglines; g++) {
		const struct hg_cell *row = &cell[(uint64_t)g * t->nthreads];
		unsigned users = 0;
		uint64_t writes = 0, touches = 0;
		for (uint32_t th = 0; th < t->nthreads; th++) {
			users += row[th].touches > 0;
			writes += row[th].writes;
			touches += row[th].touches;
		}
		if (users < 2 || writes == 0)
			continue;
		/*
		 * Score: for each thread, its writes of the line, up to the uses
		 * by the other threads (a write can abort, or be aborted by,
		 * another thread's section only when that thread uses the line
		 * too): a line one thread writes all the time and another
		 * touched once scores 1, not the first thread's writes.
		 */
		uint64_t score = 0;
		for (uint32_t th = 0; th < t->nthreads; th++) {
			uint64_t others = touches - row[th].touches;
			score += row[th].writes < others ? row[th].writes : others;
		}
		writes = score;
		if (out->n == cap) {
			cap = cap ? 2 * cap : 256;
			struct hg_sim_shared *s = realloc(out->lines, cap * sizeof *s);
			if (!s) {
				free(cell);
				free(lockline);
				snprintf(err, errlen, "out of memory counting shared lines");
				return -1;
			}
			out->lines = s;
		}
		struct hg_sim_shared *s = &out->lines[out->n++];
		memset(s, 0, sizeof *s);
		s->line = HG_SIM_GLINE_LINE(t->glines[g]);
		s->g = g;
		s->score = writes;
		s->nthreads = users;
	}
	qsort(out->lines, out->n, sizeof *out->lines, hg_shared_cmp);
	/* Sides of the lines that are kept, in decreasing order of writes. */
	if (out->n > HG_SIM_CENSUS_KEEP)
		out->n = HG_SIM_CENSUS_KEEP;
	for (unsigned i = 0; i < out->n; i++) {
		struct hg_sim_shared *s = &out->lines[i];
		uint32_t g = s->g;
		const struct hg_cell *row = &cell[(uint64_t)g * t->nthreads];
		for (uint32_t th = 0; th < t->nthreads && s->nsides < HG_SIM_CENSUS_SIDES; th++) {
			if (!row[th].touches)
				continue;
			struct hg_sim_shared_side *d = &s->sides[s->nsides++];
			const struct hg_sim_lent *le = &t->lents[row[th].lent];
			const struct hg_sim_ival *iv = &t->ivals[row[th].ival];
			d->thread = t->threads[th].serial;
			d->writes = row[th].writes;
			d->touches = row[th].touches;
			d->data = le->data;
			d->code = le->wmask ? le->code_write : le->code;
			uint32_t k = le->wmask ? (uint32_t)__builtin_ctzll(le->wmask)
			                       : (uint32_t)__builtin_ctzll(le->rmask | le->wmask);
			d->site = t->sub_site[iv->st0 + (k < iv->nsubs ? k : 0)];
			const struct hg_sim_desc_in *ds = le->data < t->ndescs ? &t->descs[le->data] : NULL;
			d->off = ds && le->data && ds->kind != HG_SIM_D_CODE && le->addr >= ds->base ?
			    le->addr - ds->base : UINT64_MAX;
		}
	}
	free(cell);
	free(lockline);
	return 0;
}

void hg_sim_census_free(struct hg_sim_census *c)
{
	free(c->lines);
	memset(c, 0, sizeof *c);
}
