/* SPDX-License-Identifier: MIT */
/*
 * htm/report.c - the report: an aligned text table or JSON (docs/report.md).
 * Written outside any transaction, from a merged snapshot.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "htm/detect.h"
#include "htm/engine.h"

static hg_report_hook hg_hook;

void hg_report_set_hook(hg_report_hook fn)
{
	hg_hook = fn;
}

const char *hg_tier_name(enum hg_tier t)
{
	switch (t) {
	case HG_TIER_HTM: return "htm";
	case HG_TIER_STM: return "stm";
	case HG_TIER_LOCK: return "lock";
	default: return "?";
	}
}

const char *hg_abort_cause_name(enum hg_abort_cause c)
{
	static const char *const n[HG_CAUSE_COUNT] = { "conflict", "capacity", "explicit", "retry", "other" };
	return (unsigned)c < HG_CAUSE_COUNT ? n[c] : "?";
}

const char *hg_reason_name(enum hg_reason r)
{
	static const char *const n[HG_REASON_COUNT] = { "abort_rate", "capacity", "cost", "reprobe" };
	return (unsigned)r < HG_REASON_COUNT ? n[r] : "?";
}

const char *hg_abort_code_name(unsigned code)
{
	switch (code) {
	case HG_ABORT_BUSY: return "busy";
	case HG_ABORT_NESTED_TRYLOCK: return "nested_trylock";
	case HG_ABORT_STM_BUSY: return "stm_busy";
	case HG_ABORT_GIL_DROP: return "gil_drop";
	case HG_ABORT_SYSCALL: return "syscall";
	case HG_ABORT_IRREVOCABLE: return "irrevocable";
	case HG_ABORT_NESTED_BUSY: return "nested_busy";
	case HG_ABORT_FINALIZING: return "finalizing";
	case 0: return "other";
	default: return code <= HG_ABORT_USER_MAX ? "user" : "unknown";
	}
}

static uint64_t hg_row_aborts(const struct hg_site_stats *s)
{
	uint64_t n = 0;
	for (int c = 0; c < HG_CAUSE_COUNT; c++)
		n += s->aborts[c];
	return n;
}

static int hg_row_cmp(const void *a, const void *b)
{
	const struct hg_stats_row *x = a, *y = b;
	if (x->lock_id != y->lock_id)
		return x->lock_id < y->lock_id ? -1 : 1;
	uint64_t ax = hg_row_aborts(&x->s), ay = hg_row_aborts(&y->s);
	if (ax != ay)
		return ax > ay ? -1 : 1;
	if (x->s.acquisitions != y->s.acquisitions)
		return x->s.acquisitions > y->s.acquisitions ? -1 : 1;
	return x->site < y->site ? -1 : x->site > y->site;
}

static void hg_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* ,"name":{"abort_rate":n,...} for a per-reason counter array */
static void hg_json_reasons(FILE *f, const char *name, const uint64_t *v)
{
	fprintf(f, ",\"%s\":{", name);
	for (int r = 0; r < HG_REASON_COUNT; r++)
		fprintf(f, "%s\"%s\":%" PRIu64, r ? "," : "", hg_reason_name(r), v[r]);
	fputc('}', f);
}

static void hg_report_json(FILE *f, struct hg_stats_snapshot *snap)
{
	const struct hg_cpu_info *ci = hg_cpu_detect();
	struct hg_policy p;
	char name[256];

	hg_policy_get(&p);
	fprintf(f, "{\"schema\":\"htmgil-report\",\"version\":%d,", HG_REPORT_SCHEMA_VERSION);
	fprintf(f, "\"mode\":\"%s\",\"rtm\":{\"usable\":%s,\"verdict\":", hg_htm_mode_name(hg_htm_mode()),
	    ci->verdict == HG_RTM_USABLE ? "true" : "false");
	hg_json_str(f, hg_rtm_verdict_str(ci->verdict));
	fprintf(f, "},\"policy\":{\"retry_conflict\":%u,\"retry_busy\":%u,\"retry_capacity\":%u,"
	           "\"skip_other\":%u,\"spin_wait\":%u,\"demote_rate\":%g,\"demote_min\":%u,"
	           "\"decay\":%g,\"reprobe_base\":%u,\"reprobe_max\":%u},",
	    p.retry_conflict, p.retry_busy, p.retry_capacity, p.skip_other, p.spin_wait,
	    p.demote_rate, p.demote_min, p.decay, p.reprobe_base, p.reprobe_max);
	fprintf(f, "\"locks\":[");
	for (unsigned i = 0; i < snap->n;) {
		uint32_t id = snap->rows[i].lock_id;
		if (i)
			fputc(',', f);
		fprintf(f, "{\"id\":%" PRIu32 ",\"name\":", id);
		hg_json_str(f, hg_lock_name(id));
		fprintf(f, ",\"sites\":[");
		for (unsigned j = i; j < snap->n && snap->rows[j].lock_id == id; j++, i++) {
			const struct hg_site_stats *s = &snap->rows[j].s;
			if (j > 0 && snap->rows[j - 1].lock_id == id)
				fputc(',', f);
			fprintf(f, "{\"key\":\"0x%016" PRIx64 "\",\"name\":", snap->rows[j].site);
			hg_json_str(f, hg_site_name(snap->rows[j].site, name, sizeof name));
			fprintf(f, ",\"acquisitions\":%" PRIu64 ",\"attempts\":%" PRIu64, s->acquisitions, s->attempts);
			fprintf(f, ",\"commits\":{");
			for (int t = 0; t < HG_TIER_COUNT; t++)
				fprintf(f, "%s\"%s\":%" PRIu64, t ? "," : "", hg_tier_name(t), s->commits[t]);
			fprintf(f, "},\"aborts\":{");
			for (int c = 0; c < HG_CAUSE_COUNT; c++)
				fprintf(f, "%s\"%s\":%" PRIu64, c ? "," : "", hg_abort_cause_name(c), s->aborts[c]);
			fprintf(f, "},\"explicit_codes\":{");
			bool first = true;
			for (unsigned k = 0; k < HG_EXPLICIT_SLOTS; k++) {
				if (!s->explicit_codes[k])
					continue;
				unsigned code = hg_explicit_slot_code(k);
				fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",",
				    k == HG_EXPLICIT_SLOTS - 1 ? "unknown" : hg_abort_code_name(code),
				    s->explicit_codes[k]);
				first = false;
			}
			uint64_t att = s->attempts;
			fprintf(f, "},\"abort_ratio\":%.4f,\"abort_rate_estimate\":%.4f",
			    att ? (double)hg_row_aborts(s) / (double)att : 0.0, s->abort_rate);
			hg_json_reasons(f, "demotions", s->demotions);
			hg_json_reasons(f, "promotions", s->promotions);
			fprintf(f, ",\"reprobes\":%" PRIu64 ",\"skips\":%" PRIu64 ",\"bad_releases\":%" PRIu64
			           ",\"stm_aborts\":%" PRIu64 ",\"tier\":\"%s\",\"txlen\":%" PRIu32,
			    s->reprobes, s->skips, s->bad_releases, s->stm_aborts,
			    hg_tier_name((enum hg_tier)s->tier_now), s->txlen);
			fprintf(f, ",\"cycles\":{");
			for (int t = 0; t < HG_TIER_COUNT; t++)
				fprintf(f, "%s\"%s\":%" PRIu64, t ? "," : "", hg_tier_name(t), s->cycles[t]);
			fprintf(f, "}}");
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]");
	if (hg_hook)
		hg_hook(f, HG_REPORT_JSON);
	fprintf(f, "}\n");
}

static void hg_report_text(FILE *f, struct hg_stats_snapshot *snap)
{
	const struct hg_cpu_info *ci = hg_cpu_detect();
	char name[256];

	fprintf(f, "htmgil report: mode %s; rtm %s (%s)\n", hg_htm_mode_name(hg_htm_mode()),
	    ci->verdict == HG_RTM_USABLE ? "usable" : "not usable", hg_rtm_verdict_str(ci->verdict));
	for (unsigned i = 0; i < snap->n;) {
		uint32_t id = snap->rows[i].lock_id;
		fprintf(f, "\nlock %s (id %" PRIu32 ")\n", hg_lock_name(id), id);
		fprintf(f, "  %-32s %10s %10s %10s %10s %9s %9s %9s %9s %9s %7s %-5s %4s %4s %7s\n",
		    "site", "acquired", "attempts", "htm", "lock", "conflict", "capacity",
		    "explicit", "retry", "other", "abort%", "tier", "dem", "pro", "reprobe");
		for (; i < snap->n && snap->rows[i].lock_id == id; i++) {
			const struct hg_site_stats *s = &snap->rows[i].s;
			uint64_t dem = 0, pro = 0;
			for (int r = 0; r < HG_REASON_COUNT; r++) {
				dem += s->demotions[r];
				pro += s->promotions[r];
			}
			uint64_t ab = hg_row_aborts(s);
			fprintf(f, "  %-32.32s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
			           " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64
			           " %6.1f%% %-5s %4" PRIu64 " %4" PRIu64 " %7" PRIu64 "\n",
			    hg_site_name(snap->rows[i].site, name, sizeof name), s->acquisitions,
			    s->attempts, s->commits[HG_TIER_HTM], s->commits[HG_TIER_LOCK],
			    s->aborts[HG_CAUSE_CONFLICT], s->aborts[HG_CAUSE_CAPACITY],
			    s->aborts[HG_CAUSE_EXPLICIT], s->aborts[HG_CAUSE_RETRY],
			    s->aborts[HG_CAUSE_OTHER], s->attempts ? 100.0 * (double)ab / (double)s->attempts : 0.0,
			    hg_tier_name((enum hg_tier)s->tier_now), dem, pro, s->reprobes);
			if (s->commits[HG_TIER_STM] || s->stm_aborts)
				fprintf(f, "  %-32s stm commits %" PRIu64 ", stm aborts %" PRIu64 "\n", "",
				    s->commits[HG_TIER_STM], s->stm_aborts);
			if (s->bad_releases)
				fprintf(f, "  %-32s bad releases %" PRIu64 "\n", "", s->bad_releases);
		}
	}
	if (snap->n == 0)
		fprintf(f, "\n(no elided sections ran)\n");
	if (hg_hook)
		hg_hook(f, HG_REPORT_TEXT);
}

int hg_report_write(FILE *f, enum hg_report_format fmt)
{
	struct hg_stats_snapshot snap;
	if (hg_stats_snapshot(&snap) != 0)
		return -1;
	qsort(snap.rows, snap.n, sizeof *snap.rows, hg_row_cmp);
	if (fmt == HG_REPORT_JSON)
		hg_report_json(f, &snap);
	else
		hg_report_text(f, &snap);
	hg_stats_free(&snap);
	return fflush(f) == 0 ? 0 : -1;
}

int hg_report_write_path(const char *path)
{
	size_t n = strlen(path);
	enum hg_report_format fmt = (n >= 5 && strcmp(path + n - 5, ".json") == 0) ? HG_REPORT_JSON : HG_REPORT_TEXT;
	FILE *f = strcmp(path, "-") == 0 ? stderr : fopen(path, "w");
	if (!f) {
		hg_warn("HTMGIL_REPORT=%s: cannot write the report there (%m); "
		        "name a writable file", path);
		return -1;
	}
	int r = hg_report_write(f, fmt);
	if (f != stderr)
		r |= fclose(f);
	return r;
}
