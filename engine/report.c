/* SPDX-License-Identifier: MIT */
/*
 * engine/report.c - the report: an aligned text table or JSON (docs/report.md).
 * Written outside any transaction, from a merged snapshot; the JSON carries
 * the section timeline when one was recorded (engine/trace.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "htm/detect.h"
#include "htm/emu.h"
#include "base/json.h"
#include "base/text.h"
#include "engine/engine.h"
#include "engine/trace.h"
#include "pmu/pmu.h"

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

static uint64_t hg_row_aborts_one(const struct hg_site_stats *s)
{
	uint64_t n = 0;
	for (int c = 0; c < HG_CAUSE_COUNT; c++)
		n += s->aborts_one[c];
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

/* ,"name":{"abort_rate":n,...} for a per-reason counter array */
static void hg_json_reasons(FILE *f, const char *name, const uint64_t *v)
{
	fprintf(f, ",\"%s\":{", name);
	for (int r = 0; r < HG_REASON_COUNT; r++)
		fprintf(f, "%s\"%s\":%" PRIu64, r ? "," : "", hg_reason_name(r), v[r]);
	fputc('}', f);
}

#define HG_REPORT_TOP_IPS 5 /* sampled aborting IPs shown per site */

/*
 * ,"pmu":{...} for a site whose speculative attempts were read around with
 * hardware counters or whose aborts were sampled (HTMGIL_PMU), else nothing.
 */
static void hg_json_pmu(FILE *f, const struct hg_stats_row *row)
{
	const struct hg_site_stats *s = &row->s;
	struct hg_pmu_top top[HG_REPORT_TOP_IPS];
	unsigned nt = hg_pmu_top_ips(row->lock_id, row->site, top, HG_REPORT_TOP_IPS);
	if (s->pmu_reads == 0 && nt == 0)
		return;
	const struct hg_pmu_enc *tab = hg_pmu_table();
	fprintf(f, ",\"pmu\":{\"reads\":%" PRIu64 ",\"cycles_committed\":%" PRIu64
	           ",\"cycles_aborted\":%" PRIu64 ",\"events\":{",
	    s->pmu_reads, s->pmu_cycles_commit, s->pmu_cycles_abort);
	bool first = true;
	for (unsigned i = 0; i < HG_PMU_COUNT_N; i++) {
		if (!tab[i].ok)
			continue; /* not encoded on this model: not counted */
		fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", tab[i].key, s->pmu_events[i]);
		first = false;
	}
	fprintf(f, "},\"abort_ips\":[");
	for (unsigned k = 0; k < nt; k++) {
		char sym[256], fl[128];
		fprintf(f, "%s{\"ip\":\"0x%" PRIx64 "\",\"symbol\":", k ? "," : "", top[k].ip);
		hg_json_write_str(f, hg_pmu_symbol(top[k].ip, sym, sizeof sym));
		fprintf(f, ",\"samples\":%" PRIu64 ",\"txn\":\"%s\",\"code\":%" PRIu32 "}",
		    top[k].count, hg_pmu_txn_str(top[k].flags, fl, sizeof fl), top[k].code);
	}
	fprintf(f, "]}");
}

/* The text report's pmu lines for a site, as hg_json_pmu. */
static void hg_text_pmu(FILE *f, const struct hg_stats_row *row)
{
	const struct hg_site_stats *s = &row->s;
	struct hg_pmu_top top[HG_REPORT_TOP_IPS];
	unsigned nt = hg_pmu_top_ips(row->lock_id, row->site, top, HG_REPORT_TOP_IPS);
	if (s->pmu_reads == 0 && nt == 0)
		return;
	const uint64_t *e = s->pmu_events;
	char name[256];
	fprintf(f, "  %s, site %s: pmu: cycles committed %" PRIu64 ", aborted %" PRIu64
	           "; tx start %" PRIu64 ", commit %" PRIu64 ", aborted %" PRIu64 " (conflict %" PRIu64
	           ", capacity %" PRIu64 ")\n", hg_lock_name(row->lock_id),
	    hg_site_name(row->site, name, sizeof name), s->pmu_cycles_commit, s->pmu_cycles_abort,
	    e[HG_PMU_TX_START],
	    e[HG_PMU_TX_COMMIT], e[HG_PMU_TX_ABORTED], e[HG_PMU_ABORT_CONFLICT],
	    e[HG_PMU_ABORT_CAPACITY] + e[HG_PMU_ABORT_CAPACITY_READ] + e[HG_PMU_ABORT_CAPACITY_WRITE]);
	for (unsigned k = 0; k < nt; k++) {
		char sym[256], fl[128];
		fprintf(f, "    aborts at %s: %" PRIu64 " samples (%s)\n",
		    hg_pmu_symbol(top[k].ip, sym, sizeof sym), top[k].count,
		    hg_pmu_txn_str(top[k].flags, fl, sizeof fl));
	}
}


/* ---- time (docs/report.md, "Time") ---- */

/*
 * The process clock: the stamps at which the library started (or the
 * counters were last reset, or this fork child began), and the CPU time
 * used by then.  Written by the constructor, hg_report_time_reset() and the
 * fork child while no other thread of the library runs; read by the report.
 */
static struct {
	uint64_t cycles;
	struct timespec ts;
	struct rusage ru;
} hg_clock0;
/* Holds of a lock passed to the host without the engine, and the waits for them. */
static uint64_t hg_direct_hold, hg_direct_wait;
static uint32_t hg_gil_lock_id; /* 0: no GIL */

void hg_report_time_reset(void)
{
	clock_gettime(CLOCK_MONOTONIC, &hg_clock0.ts);
	hg_clock0.cycles = hg_cycles();
	getrusage(RUSAGE_SELF, &hg_clock0.ru);
	/* relaxed: statistics, read by the report */
	hg_atomic_store_relaxed64(&hg_direct_hold, 0);
	hg_atomic_store_relaxed64(&hg_direct_wait, 0);
}

__attribute__((constructor(101))) static void hg_report_clock_init(void)
{
	hg_report_time_reset();
}

void hg_report_direct_time(uint64_t hold_cycles, uint64_t wait_cycles)
{
	/* relaxed: statistics, read by the report at exit */
	hg_atomic_fetch_add_relaxed64(&hg_direct_hold, hold_cycles);
	hg_atomic_fetch_add_relaxed64(&hg_direct_wait, wait_cycles);
}

void hg_report_set_gil(uint32_t lock_id)
{
	hg_gil_lock_id = lock_id;
}

static double hg_tv_s(struct timeval a, struct timeval b)
{
	return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_usec - a.tv_usec) * 1e-6;
}

/* A site's time in seconds, scaled to all its sections when only some were timed. */
struct hg_site_time {
	double t[HG_TIME_COUNT];
	double busy;  /* spec + aborted + lock + stm: a thread ran in the section */
	double total; /* busy + waiting */
	bool estimate;
};

/* The whole process (docs/report.md, "Time"). */
struct hg_proc_time {
	double hz, wall, busy, parallelism;
	double t[HG_TIME_COUNT];    /* summed over the sites, seconds */
	double direct_hold, direct_wait;
	double total;               /* every part above: the time in the library's sections */
	double gil_held, gil_spec;  /* gil_held < 0: no GIL */
	double cpu_user, cpu_sys, cpu_parallelism;
	bool estimate;
};

static void hg_site_time_of(const struct hg_site_stats *s, double hz, struct hg_site_time *o)
{
	double scale = 1.0;
	o->estimate = s->timed < s->acquisitions;
	if (s->timed && s->timed < s->acquisitions)
		scale = (double)s->acquisitions / (double)s->timed;
	/* Waits are summed over every section already (engine/engine.h): not scaled. */
	for (int k = 0; k < HG_TIME_COUNT; k++)
		o->t[k] = hz > 0 ? (double)s->time[k] * (k == HG_TIME_WAITING ? 1.0 : scale) / hz : 0.0;
	o->busy = o->t[HG_TIME_SPEC] + o->t[HG_TIME_ABORTED] + o->t[HG_TIME_LOCK] + o->t[HG_TIME_STM];
	o->total = o->busy + o->t[HG_TIME_WAITING];
}

static void hg_proc_time_of(const struct hg_stats_snapshot *snap, struct hg_proc_time *p)
{
	memset(p, 0, sizeof *p);
	struct timespec now;
	struct rusage ru;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t c = hg_cycles();
	getrusage(RUSAGE_SELF, &ru);
	p->wall = (double)(now.tv_sec - hg_clock0.ts.tv_sec) +
	    (double)(now.tv_nsec - hg_clock0.ts.tv_nsec) * 1e-9;
	/* The counter's rate over the run itself; a short run asks the timeline's measurement. */
	p->hz = p->wall >= 0.05 && c > hg_clock0.cycles ? (double)(c - hg_clock0.cycles) / p->wall :
	                                                 hg_trace_tsc_hz();
	p->cpu_user = hg_tv_s(hg_clock0.ru.ru_utime, ru.ru_utime);
	p->cpu_sys = hg_tv_s(hg_clock0.ru.ru_stime, ru.ru_stime);
	p->cpu_parallelism = p->wall > 0 ? (p->cpu_user + p->cpu_sys) / p->wall : 0.0;
	/* relaxed: statistics */
	double hz = p->hz > 0 ? p->hz : 1.0;
	p->direct_hold = (double)hg_atomic_load_relaxed64(&hg_direct_hold) / hz;
	p->direct_wait = (double)hg_atomic_load_relaxed64(&hg_direct_wait) / hz;
	p->gil_held = hg_gil_lock_id ? p->direct_hold : -1.0;
	for (unsigned i = 0; i < snap->n; i++) {
		const struct hg_stats_row *row = &snap->rows[i];
		struct hg_site_time st;
		hg_site_time_of(&row->s, p->hz, &st);
		for (int k = 0; k < HG_TIME_COUNT; k++)
			p->t[k] += st.t[k];
		p->estimate |= st.estimate && row->s.acquisitions > 0;
		if (hg_gil_lock_id && row->lock_id == hg_gil_lock_id) {
			p->gil_held += st.t[HG_TIME_SPEC] + st.t[HG_TIME_ABORTED] + st.t[HG_TIME_LOCK];
			p->gil_spec += st.t[HG_TIME_SPEC];
		}
	}
	p->busy = p->t[HG_TIME_SPEC] + p->t[HG_TIME_ABORTED] + p->t[HG_TIME_LOCK] +
	    p->t[HG_TIME_STM] + p->direct_hold;
	p->total = p->busy + p->t[HG_TIME_WAITING] + p->direct_wait;
	p->parallelism = p->wall > 0 ? p->busy / p->wall : 0.0;
}

/* Shares of the time in sections: speculative, aborted, waiting, on the lock, software. */
static void hg_proc_shares(const struct hg_proc_time *p, double out[HG_TIME_COUNT])
{
	double tot = p->total > 0 ? p->total : 1.0;
	out[HG_TIME_SPEC] = p->t[HG_TIME_SPEC] / tot;
	out[HG_TIME_ABORTED] = p->t[HG_TIME_ABORTED] / tot;
	out[HG_TIME_WAITING] = (p->t[HG_TIME_WAITING] + p->direct_wait) / tot;
	out[HG_TIME_LOCK] = (p->t[HG_TIME_LOCK] + p->direct_hold) / tot;
	out[HG_TIME_STM] = p->t[HG_TIME_STM] / tot;
}

static const char *const hg_time_keys[HG_TIME_COUNT] = { "spec", "aborted", "waiting", "lock", "stm" };

/* "12.3 ms", "456 us" or "1.23 s" into buf. */
static const char *hg_fmt_s(double v, char *buf, size_t len)
{
	if (v >= 1.0)
		snprintf(buf, len, "%.2f s", v);
	else if (v >= 1e-3)
		snprintf(buf, len, "%.1f ms", v * 1e3);
	else
		snprintf(buf, len, "%.0f us", v * 1e6);
	return buf;
}

/*
 * The parallelism rounded as the text header prints it (two places). The
 * header's words and the JSON "overlap" are decided on it, so a figure shown
 * as 0.80 or 1.10 never carries the words of the other side of a threshold.
 */
static double hg_par_shown(double par)
{
	return par > 0 ? (double)(long long)(par * 100 + 0.5) / 100 : 0;
}

#define HG_TEXT_LOCALISED 10

/*
 * Sites whose transactions span yield points (the GIL): those whose aborts
 * were met in transactions one interval long, with that interval, most
 * first; then how many such sites aborted only in longer ones
 * (docs/report.md, "Localised aborts").
 */
static void hg_text_localised(FILE *f, const struct hg_stats_snapshot *snap)
{
	unsigned idx[HG_TEXT_LOCALISED], n = 0, loose = 0;
	uint64_t loose_aborts = 0;
	for (unsigned i = 0; i < snap->n; i++) {
		const struct hg_site_stats *s = &snap->rows[i].s;
		uint64_t one = hg_row_aborts_one(s), all = hg_row_aborts(s) - s->aborts[HG_CAUSE_EXPLICIT];
		if (s->txlen == 0 || all == 0)
			continue;
		if (one == 0) {
			loose++;
			loose_aborts += all;
			continue;
		}
		/* Insert into the top HG_TEXT_LOCALISED by localised aborts. */
		unsigned k = n < HG_TEXT_LOCALISED ? n++ : HG_TEXT_LOCALISED;
		while (k > 0 && hg_row_aborts_one(&snap->rows[idx[k - 1]].s) < one) {
			if (k < HG_TEXT_LOCALISED)
				idx[k] = idx[k - 1];
			k--;
		}
		if (k < HG_TEXT_LOCALISED)
			idx[k] = i;
	}
	if (n == 0 && loose == 0)
		return;
	char a[256], b[256];
	fprintf(f, "\naborts localised to one yield interval (in transactions of one interval, "
	           "from the site to the next yield point):\n");
	for (unsigned j = 0; j < n; j++) {
		const struct hg_stats_row *r = &snap->rows[idx[j]];
		const struct hg_site_stats *s = &r->s;
		fprintf(f, "  %s .. %s: %" PRIu64 " (conflict %" PRIu64 ", capacity %" PRIu64
		           ", retry %" PRIu64 ", other %" PRIu64 ")\n",
		    hg_site_name(r->site, a, sizeof a),
		    s->next_site ? hg_site_name(s->next_site, b, sizeof b) : "(next yield point not seen)",
		    hg_row_aborts_one(s), s->aborts_one[HG_CAUSE_CONFLICT], s->aborts_one[HG_CAUSE_CAPACITY],
		    s->aborts_one[HG_CAUSE_RETRY], s->aborts_one[HG_CAUSE_OTHER]);
	}
	if (n == 0)
		fprintf(f, "  none\n");
	if (loose)
		fprintf(f, "  not localised: %u sites with %" PRIu64 " aborts, all in transactions of several "
		           "intervals (the abort lies anywhere in them)\n", loose, loose_aborts);
}

/* The text header's time lines (docs/report.md, "Text"). */
static void hg_text_time(FILE *f, const struct hg_proc_time *p)
{
	char a[32], b[32], c[32];
	double sh[HG_TIME_COUNT];
	hg_proc_shares(p, sh);
	if (p->busy <= 0) {
		fprintf(f, "time: wall %s; no time in sections was measured\n", hg_fmt_s(p->wall, a, sizeof a));
		return;
	}
	double shown = hg_par_shown(p->parallelism);
	const char *words;
	if (shown > 1.1)
		words = "threads ran at once";
	else if (shown >= 0.8)
		words = "the threads did not run at once";
	else
		words = "no parallelism: less than one thread was busy at a time, on average";
	fprintf(f, "time: %s: parallelism achieved %.2f (busy thread-time %s over %s of wall time; "
	           "CPU time / wall time %.2f)\n", words, p->parallelism, hg_fmt_s(p->busy, a, sizeof a),
	    hg_fmt_s(p->wall, b, sizeof b), p->cpu_parallelism);
	fprintf(f, "time in sections (%s): speculative %.1f%%, aborted %.1f%%, waiting %.1f%%, "
	           "on the lock %.1f%%", hg_fmt_s(p->total, c, sizeof c), 100 * sh[HG_TIME_SPEC],
	    100 * sh[HG_TIME_ABORTED], 100 * sh[HG_TIME_WAITING], 100 * sh[HG_TIME_LOCK]);
	if (p->t[HG_TIME_STM] > 0)
		fprintf(f, ", software %.1f%%", 100 * sh[HG_TIME_STM]);
	fprintf(f, "%s\n", p->estimate ? " (estimates: short sections are timed 1 in 64, marked ~)" : "");
	if (p->gil_held > 0)
		fprintf(f, "GIL: %.1f%% of bytecode time ran speculatively (%s of %s holding the GIL)\n",
		    100 * p->gil_spec / p->gil_held, hg_fmt_s(p->gil_spec, a, sizeof a),
		    hg_fmt_s(p->gil_held, b, sizeof b));
}

static void hg_json_time(FILE *f, const struct hg_proc_time *p)
{
	double sh[HG_TIME_COUNT];
	hg_proc_shares(p, sh);
	fprintf(f, "\"time\":{\"tsc_hz\":%.0f,\"wall_ms\":%.3f,\"busy_ms\":%.3f,\"parallelism\":%.4f,"
	           "\"overlap\":%s,\"estimate\":%s,\"ms\":{",
	    p->hz, p->wall * 1e3, p->busy * 1e3, p->parallelism, hg_par_shown(p->parallelism) > 1.1 ? "true" : "false",
	    p->estimate ? "true" : "false");
	for (int k = 0; k < HG_TIME_COUNT; k++)
		fprintf(f, "%s\"%s\":%.3f", k ? "," : "", hg_time_keys[k], p->t[k] * 1e3);
	fprintf(f, ",\"held_direct\":%.3f,\"waiting_direct\":%.3f,\"total\":%.3f},\"share\":{",
	    p->direct_hold * 1e3, p->direct_wait * 1e3, p->total * 1e3);
	for (int k = 0; k < HG_TIME_COUNT; k++)
		fprintf(f, "%s\"%s\":%.4f", k ? "," : "", hg_time_keys[k], sh[k]);
	fprintf(f, "},\"gil\":");
	if (p->gil_held >= 0)
		fprintf(f, "{\"held_ms\":%.3f,\"spec_ms\":%.3f,\"spec_share\":%.4f}", p->gil_held * 1e3,
		    p->gil_spec * 1e3, p->gil_held > 0 ? p->gil_spec / p->gil_held : 0.0);
	else
		fprintf(f, "null");
	fprintf(f, ",\"cpu\":{\"user_ms\":%.3f,\"sys_ms\":%.3f,\"parallelism\":%.4f}},",
	    p->cpu_user * 1e3, p->cpu_sys * 1e3, p->cpu_parallelism);
}

static void hg_json_site_time(FILE *f, const struct hg_site_stats *s, double hz)
{
	struct hg_site_time st;
	hg_site_time_of(s, hz, &st);
	fprintf(f, ",\"time\":{\"timed\":%" PRIu64 ",\"estimate\":%s,\"cycles\":{", s->timed,
	    st.estimate ? "true" : "false");
	for (int k = 0; k < HG_TIME_COUNT; k++)
		fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "", hg_time_keys[k], s->time[k]);
	fprintf(f, "},\"ms\":{");
	for (int k = 0; k < HG_TIME_COUNT; k++)
		fprintf(f, "%s\"%s\":%.4f", k ? "," : "", hg_time_keys[k], st.t[k] * 1e3);
	fprintf(f, "},\"busy_ms\":%.4f,\"total_ms\":%.4f}", st.busy * 1e3, st.total * 1e3);
}

/* ---- who wrote the report, and whether its sections were emulated ---- */

static pid_t hg_rpt_ppid; /* the parent at start-up, or at fork() in a child */

/* The command line of this process from /proc/self/cmdline (NUL-separated). */
static size_t hg_cmdline(char *buf, size_t len)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	if (fd < 0)
		return 0;
	ssize_t r;
	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return n;
}

static pid_t hg_parent_pid(void)
{
	return hg_rpt_ppid ? hg_rpt_ppid : getppid();
}

/*
 * A site ran emulated when most of its speculative commits were emulated,
 * or when it has none and the process mode is emu (a lock forced to emu in
 * another mode shows its emulated commits).
 */
static bool hg_row_emulated(const struct hg_site_stats *s)
{
	if (s->commits_emu != s->commits[HG_TIER_HTM])
		return s->commits_emu > s->commits[HG_TIER_HTM];
	return hg_htm_mode() == HG_HTM_EMU;
}

/* The speculative tier's name for a site: "htm" (RTM) or "emu". */
const char *hg_site_tier_name(const struct hg_site_stats *s, uint32_t tier)
{
	if (tier == HG_TIER_HTM && hg_row_emulated(s))
		return "emu";
	return hg_tier_name((enum hg_tier)tier);
}

static bool hg_snap_emulated(const struct hg_stats_snapshot *snap)
{
	if (hg_htm_mode() == HG_HTM_EMU)
		return true;
	for (unsigned i = 0; i < snap->n; i++)
		if (snap->rows[i].s.commits_emu)
			return true;
	return false;
}

/* The report's words for an emulated run (text header and the JSON "emulated" member). */
static void hg_emu_note(char *buf, size_t len)
{
	const char *spec = hg_emu_spec();
	if (*spec)
		snprintf(buf, len, "sections ran serialized on the real lock under emulated HTM; aborts "
		    "were injected (HTMGIL_EMU=%s): per-site abort rates are those of the injection, "
		    "not properties of the program", spec);
	else
		snprintf(buf, len, "sections ran serialized on the real lock under emulated HTM; no "
		    "aborts were injected (HTMGIL_EMU unset): only lock-busy aborts occur, not the "
		    "program's own");
}

static void hg_report_json(FILE *f, struct hg_stats_snapshot *snap)
{
	const struct hg_cpu_info *ci = hg_cpu_detect();
	struct hg_policy p;
	char name[256];

	hg_policy_get(&p);
	fprintf(f, "{\"schema\":\"htmgil-report\",\"version\":%d,", HG_REPORT_SCHEMA_VERSION);
	/* "process" comes first: hg_report_claim() reads the pid back from here. */
	fprintf(f, "\"process\":{\"pid\":%ld,\"ppid\":%ld,\"cmdline\":[", (long)getpid(),
	    (long)hg_parent_pid());
	char cmd[4096];
	size_t cn = hg_cmdline(cmd, sizeof cmd);
	for (size_t k = 0; k < cn; k += strlen(cmd + k) + 1) {
		if (k)
			fputc(',', f);
		hg_json_write_str(f, cmd + k);
	}
	fprintf(f, "]},");
	struct hg_proc_time pt;
	hg_proc_time_of(snap, &pt);
	hg_json_time(f, &pt);
	if (hg_snap_emulated(snap)) {
		fprintf(f, "\"emulated\":{\"serialized\":true,\"injected\":");
		hg_json_write_str(f, hg_emu_spec());
		char note[512];
		hg_emu_note(note, sizeof note);
		fprintf(f, ",\"note\":");
		hg_json_write_str(f, note);
		fprintf(f, "},");
	} else {
		fprintf(f, "\"emulated\":null,");
	}
	fprintf(f, "\"mode\":\"%s\",\"rtm\":{\"usable\":%s,\"verdict\":", hg_htm_mode_name(hg_htm_mode()),
	    ci->verdict == HG_RTM_USABLE ? "true" : "false");
	hg_json_write_str(f, hg_rtm_verdict_str(ci->verdict));
	fprintf(f, "},\"policy\":{\"retry_conflict\":%u,\"retry_busy\":%u,\"retry_capacity\":%u,"
	           "\"skip_other\":%u,\"spin_wait\":%u,\"demote_rate\":%g,\"demote_min\":%u,"
	           "\"decay\":%g,\"reprobe_base\":%u,\"reprobe_max\":%u,\"txtime_us\":%u},",
	    p.retry_conflict, p.retry_busy, p.retry_capacity, p.skip_other, p.spin_wait,
	    p.demote_rate, p.demote_min, p.decay, p.reprobe_base, p.reprobe_max, p.txtime_us);
	fprintf(f, "\"locks\":[");
	for (unsigned i = 0; i < snap->n;) {
		uint32_t id = snap->rows[i].lock_id;
		if (i)
			fputc(',', f);
		fprintf(f, "{\"id\":%" PRIu32 ",\"name\":", id);
		hg_json_write_str(f, hg_lock_name(id));
		fprintf(f, ",\"sites\":[");
		for (unsigned j = i; j < snap->n && snap->rows[j].lock_id == id; j++, i++) {
			const struct hg_site_stats *s = &snap->rows[j].s;
			if (j > 0 && snap->rows[j - 1].lock_id == id)
				fputc(',', f);
			fprintf(f, "{\"key\":\"0x%016" PRIx64 "\",\"name\":", snap->rows[j].site);
			hg_json_write_str(f, hg_site_name(snap->rows[j].site, name, sizeof name));
			fprintf(f, ",\"acquisitions\":%" PRIu64 ",\"attempts\":%" PRIu64, s->acquisitions, s->attempts);
			fprintf(f, ",\"commits\":{\"htm\":%" PRIu64 ",\"emu\":%" PRIu64, s->commits[HG_TIER_HTM],
			    s->commits_emu);
			for (int t = HG_TIER_HTM + 1; t < HG_TIER_COUNT; t++)
				fprintf(f, ",\"%s\":%" PRIu64, hg_tier_name(t), s->commits[t]);
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
			    hg_site_tier_name(s, s->tier_now), s->txlen);
			fprintf(f, ",\"txlen_cap\":%" PRIu32 ",\"yield_us\":%.3f", s->txlen_cap,
			    pt.hz > 0 ? (double)s->yield_cycles * 1e6 / pt.hz : 0.0);
			fprintf(f, ",\"localised\":{\"aborts\":%" PRIu64 ",\"by_cause\":{", hg_row_aborts_one(s));
			for (int c = 0; c < HG_CAUSE_COUNT; c++)
				fprintf(f, "%s\"%s\":%" PRIu64, c ? "," : "", hg_abort_cause_name(c), s->aborts_one[c]);
			fprintf(f, "},\"to\":");
			if (s->next_site)
				hg_json_write_str(f, hg_site_name(s->next_site, name, sizeof name));
			else
				fputs("null", f);
			fputc('}', f);
			fprintf(f, ",\"cycles\":{");
			for (int t = 0; t < HG_TIER_COUNT; t++)
				fprintf(f, "%s\"%s\":%" PRIu64, t ? "," : "", hg_tier_name(t), s->cycles[t]);
			fputc('}', f);
			hg_json_site_time(f, s, pt.hz);
			hg_json_pmu(f, &snap->rows[j]);
			fputc('}', f);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]");
	hg_trace_write_json(f, snap);
	if (hg_hook)
		hg_hook(f, HG_REPORT_JSON);
	fprintf(f, "}\n");
}

/* The text table (docs/report.md, "Text"): columns and the rows shown. */
#define HG_TEXT_LOCK_COLS 14
#define HG_TEXT_SITE_COLS 44
#define HG_TEXT_ROWS 40

static double hg_sort_hz; /* the rate hg_row_by_time converts at (set before its qsort) */

/* Most time first (sections and waits), then most aborts and acquisitions: the text table's order. */
static int hg_row_by_time(const void *a, const void *b)
{
	const struct hg_stats_row *x = a, *y = b;
	struct hg_site_time tx, ty;
	hg_site_time_of(&x->s, hg_sort_hz, &tx);
	hg_site_time_of(&y->s, hg_sort_hz, &ty);
	if (tx.total != ty.total)
		return tx.total > ty.total ? -1 : 1;
	uint64_t ax = hg_row_aborts(&x->s), ay = hg_row_aborts(&y->s);
	if (ax != ay)
		return ax > ay ? -1 : 1;
	if (x->s.acquisitions != y->s.acquisitions)
		return x->s.acquisitions > y->s.acquisitions ? -1 : 1;
	return hg_row_cmp(a, b);
}

/* name in a column of width columns: elided in the middle, then padded. */
static void hg_text_cell(FILE *f, const char *name, unsigned width)
{
	char buf[1024];
	unsigned w = hg_text_elide(name, width, buf, sizeof buf);
	fputs(buf, f);
	for (; w < width; w++)
		fputc(' ', f);
}

static void hg_report_text(FILE *f, struct hg_stats_snapshot *snap)
{
	const struct hg_cpu_info *ci = hg_cpu_detect();
	char name[256];

	fprintf(f, "htmgil report: mode %s; rtm %s (%s)\n", hg_htm_mode_name(hg_htm_mode()),
	    ci->verdict == HG_RTM_USABLE ? "usable" : "not usable", hg_rtm_verdict_str(ci->verdict));
	/* hg_report_claim() reads the pid back from this line. */
	fprintf(f, "process %ld (parent %ld):", (long)getpid(), (long)hg_parent_pid());
	char cmd[4096];
	size_t cn = hg_cmdline(cmd, sizeof cmd);
	for (size_t k = 0; k < cn; k += strlen(cmd + k) + 1)
		fprintf(f, " %s", cmd + k);
	fputc('\n', f);
	struct hg_proc_time pt;
	hg_proc_time_of(snap, &pt);
	hg_text_time(f, &pt);
	if (hg_snap_emulated(snap)) {
		char note[512];
		hg_emu_note(note, sizeof note);
		fprintf(f, "emulated HTM: %s\n", note);
	}
	if (snap->n == 0)
		fprintf(f, "\n(no elided sections ran)\n");
	else {
		/* One table over every lock, most time first. */
		hg_sort_hz = pt.hz;
		qsort(snap->rows, snap->n, sizeof *snap->rows, hg_row_by_time);
		double all = 0;
		for (unsigned i = 0; i < snap->n; i++) {
			struct hg_site_time st;
			hg_site_time_of(&snap->rows[i].s, pt.hz, &st);
			all += st.total;
		}
		fputs("\n  ", f);
		hg_text_cell(f, "lock", HG_TEXT_LOCK_COLS);
		fputc(' ', f);
		hg_text_cell(f, "site", HG_TEXT_SITE_COLS);
		fprintf(f, " %11s %6s %5s %5s %5s %5s"
		           " %10s %10s %10s %10s %8s %10s %9s %9s %9s %9s %9s %7s %-5s %5s %4s %4s %7s\n",
		    "time", "share", "spec%", "abrt%", "wait%", "lock%", "acquired", "attempts", "htm", "emu", "stm", "locked", "conflict", "capacity",
		    "explicit", "retry", "other", "abort%", "tier", "txlen", "dem", "pro", "reprobe");
		unsigned shown = snap->n < HG_TEXT_ROWS ? snap->n : HG_TEXT_ROWS;
		for (unsigned i = 0; i < shown; i++) {
			const struct hg_site_stats *s = &snap->rows[i].s;
			uint64_t dem = 0, pro = 0;
			for (int r = 0; r < HG_REASON_COUNT; r++) {
				dem += s->demotions[r];
				pro += s->promotions[r];
			}
			uint64_t ab = hg_row_aborts(s);
			fputs("  ", f);
			hg_text_cell(f, hg_lock_name(snap->rows[i].lock_id), HG_TEXT_LOCK_COLS);
			fputc(' ', f);
			hg_text_cell(f, hg_site_name(snap->rows[i].site, name, sizeof name), HG_TEXT_SITE_COLS);
			struct hg_site_time st;
			hg_site_time_of(s, pt.hz, &st);
			char tb[32], cell[40];
			snprintf(cell, sizeof cell, "%s%s", st.estimate ? "~" : "", hg_fmt_s(st.total, tb, sizeof tb));
			double d = st.total > 0 ? 100.0 / st.total : 0.0;
			fprintf(f, " %11s %5.1f%% %5.1f %5.1f %5.1f %5.1f", cell,
			    all > 0 ? 100.0 * st.total / all : 0.0, d * st.t[HG_TIME_SPEC],
			    d * st.t[HG_TIME_ABORTED], d * st.t[HG_TIME_WAITING],
			    d * (st.t[HG_TIME_LOCK] + st.t[HG_TIME_STM]));
			fprintf(f, " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %8" PRIu64 " %10" PRIu64
			           " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64
			           " %6.1f%% %-5s %5" PRIu32 " %4" PRIu64 " %4" PRIu64 " %7" PRIu64 "\n",
			    s->acquisitions, s->attempts, s->commits[HG_TIER_HTM], s->commits_emu,
			    s->commits[HG_TIER_STM], s->commits[HG_TIER_LOCK],
			    s->aborts[HG_CAUSE_CONFLICT], s->aborts[HG_CAUSE_CAPACITY],
			    s->aborts[HG_CAUSE_EXPLICIT], s->aborts[HG_CAUSE_RETRY],
			    s->aborts[HG_CAUSE_OTHER], s->attempts ? 100.0 * (double)ab / (double)s->attempts : 0.0,
			    hg_site_tier_name(s, s->tier_now), s->txlen, dem, pro, s->reprobes);
		}
		if (snap->n > shown)
			fprintf(f, "  ... %u more sites (all of them are in the JSON report)\n", snap->n - shown);
		hg_text_localised(f, snap);
		for (unsigned i = 0; i < snap->n; i++) {
			const struct hg_site_stats *s = &snap->rows[i].s;
			if (s->bad_releases || s->stm_aborts)
				fprintf(f, "  %s, site %s: %" PRIu64 " bad releases, %" PRIu64 " stm aborts\n",
				    hg_lock_name(snap->rows[i].lock_id),
				    hg_site_name(snap->rows[i].site, name, sizeof name), s->bad_releases,
				    s->stm_aborts);
			hg_text_pmu(f, &snap->rows[i]);
		}
	}
	if (hg_hook)
		hg_hook(f, HG_REPORT_TEXT);
	fprintf(f, "\nmore: write the report as JSON (HTMGIL_REPORT=NAME.json; HTMGIL_TRACE=N adds a timeline) "
	           "and run `htmgil report NAME.json` (wasted time per site; --format html, trace)\n");
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

/* ---- the report files of a run (docs/report.md, "One report per process") ---- */

#define HG_RUN_VAR "HTMGIL_REPORT_RUN" /* "PID:NAME": the run's top process and its report name */

static char *hg_rpt_name;         /* absolute name (may hold %p), "-", or NULL: no report */
static pid_t hg_rpt_top;          /* the run's top process */
static bool (*hg_rpt_active)(void);

void hg_report_set_active(bool (*fn)(void))
{
	hg_rpt_active = fn;
}

void hg_report_forked(void)
{
	hg_rpt_ppid = getppid();
	hg_report_time_reset();
}

/* name made absolute against the current directory; malloc'd, NULL on failure. */
static char *hg_abs_name(const char *name)
{
	char cwd[PATH_MAX];
	if (name[0] == '/' || !getcwd(cwd, sizeof cwd))
		return strdup(name);
	size_t n = strlen(cwd) + 1 + strlen(name) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", cwd, name);
	return p;
}

int hg_report_start_run(const char *name, char *out, size_t len)
{
	if (!name || !*name || !out || len == 0)
		return -1;
	if (strcmp(name, "-") == 0) {
		snprintf(out, len, "-");
		unsetenv(HG_RUN_VAR);
		return 0;
	}
	char *abs = hg_abs_name(name);
	if (!abs || strlen(abs) >= len) {
		free(abs);
		return -1;
	}
	char mark[PATH_MAX + 32];
	snprintf(mark, sizeof mark, "%ld:%s", (long)getpid(), abs);
	if (setenv("HTMGIL_REPORT", abs, 1) != 0 || setenv(HG_RUN_VAR, mark, 1) != 0) {
		free(abs);
		return -1;
	}
	/* A file of that name left from before is not this run's: remove it.
	 * A %p name is each process's own and is replaced when written. */
	if (!strstr(abs, "%p"))
		unlink(abs);
	snprintf(out, len, "%s", abs);
	free(abs);
	return 0;
}

void hg_report_init(const char *name)
{
	hg_rpt_ppid = getppid();
	if (strcmp(name, "-") == 0) {
		hg_rpt_name = strdup(name);
		return;
	}
	/* Inside a run (the marker names this report): join it. */
	const char *m = getenv(HG_RUN_VAR);
	char *end;
	long top = m ? strtol(m, &end, 10) : 0;
	if (m && top > 0 && *end == ':' && name[0] == '/' && strcmp(end + 1, name) == 0) {
		hg_rpt_top = (pid_t)top;
		hg_rpt_name = strdup(name);
		return;
	}
	/* Otherwise this process starts the run and is its top. */
	char abs[PATH_MAX];
	if (hg_report_start_run(name, abs, sizeof abs) != 0) {
		hg_warn("HTMGIL_REPORT=%s: cannot use this name (too long, or no working directory); "
		        "name a file by a shorter absolute path", name);
		return;
	}
	hg_rpt_top = getpid();
	hg_rpt_name = strdup(abs);
}

/* True when this process counted a section of its own (since fork, in a child). */
static bool hg_report_due(void)
{
	if (hg_rpt_active && hg_rpt_active())
		return true;
	struct hg_stats_snapshot snap;
	if (hg_stats_snapshot(&snap) != 0)
		return false;
	bool any = false;
	for (unsigned i = 0; i < snap.n && !any; i++)
		any = snap.rows[i].s.acquisitions > 0;
	hg_stats_free(&snap);
	return any;
}

/* name with %p replaced by the pid and %% by %. */
static int hg_expand(const char *name, char *out, size_t len)
{
	size_t o = 0;
	for (const char *p = name; *p; p++) {
		int n;
		if (p[0] == '%' && p[1] == 'p') {
			n = snprintf(out + o, len - o, "%ld", (long)getpid());
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			n = snprintf(out + o, len - o, "%%");
			p++;
		} else {
			n = snprintf(out + o, len - o, "%c", *p);
		}
		if (n < 0 || (size_t)n >= len - o)
			return -1;
		o += (size_t)n;
	}
	return 0;
}

/* NAME.PID.EXT (k == 0) or NAME.PID-k.EXT; the extension is the base name's last suffix. */
static int hg_alt_name(const char *name, long pid, unsigned k, char *out, size_t len)
{
	const char *base = strrchr(name, '/');
	const char *dot = strrchr(base ? base + 1 : name, '.');
	if (!dot || dot == (base ? base + 1 : name))
		dot = name + strlen(name);
	char tag[48];
	if (k)
		snprintf(tag, sizeof tag, ".%ld-%u", pid, k);
	else
		snprintf(tag, sizeof tag, ".%ld", pid);
	int n = snprintf(out, len, "%.*s%s%s", (int)(dot - name), name, tag, dot);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Links src to the first free NAME.PID[-k].EXT; 0 or -1 (errno set). */
static int hg_link_alt(const char *src, const char *name, long pid, char *got, size_t len)
{
	for (unsigned k = 0; k < 100; k++) {
		if (hg_alt_name(name, pid, k, got, len) != 0) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (link(src, got) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* The pid a report file says wrote it, or 0. */
static long hg_report_pid_of(const char *path)
{
	char buf[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *p = strstr(buf, "\"process\":{\"pid\":");
	if (p)
		return strtol(p + 17, NULL, 10);
	p = strstr(buf, "\nprocess ");
	return p ? strtol(p + 9, NULL, 10) : 0;
}

/*
 * Puts the finished report tmp in place under name (docs/report.md): the
 * first process to link() it there owns the name, except that the top
 * process takes the name over, moving the report found there to its
 * writer's NAME.PID.EXT; everyone else falls back to NAME.PID.EXT.  No
 * report of another process is ever replaced.  Returns 0 or -1 with *where.
 */
static int hg_report_claim(const char *tmp, const char *name, bool own_name, char *where, size_t len)
{
	long me = (long)getpid();
	snprintf(where, len, "%s", name);
	if (own_name)
		return rename(tmp, name);
	if (link(tmp, name) == 0)
		return unlink(tmp), 0;
	if (errno != EEXIST) {
		/* No hard links here (some file systems): the name, if still free. */
		int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0) {
			close(fd);
			return rename(tmp, name);
		}
		hg_alt_name(name, me, 0, where, len);
		return rename(tmp, where);
	}
	char alt[PATH_MAX];
	long other = hg_report_pid_of(name);
	if (me == (long)hg_rpt_top && other > 0 && other != me &&
	    hg_link_alt(name, name, other, alt, sizeof alt) == 0)
		return rename(tmp, name); /* the other report stays, as alt */
	if (hg_link_alt(tmp, name, me, where, len) != 0)
		return -1;
	return unlink(tmp), 0;
}

void hg_report_at_exit(void)
{
	if (!hg_rpt_name || !hg_report_due())
		return;
	if (strcmp(hg_rpt_name, "-") == 0) {
		hg_report_write(stderr, HG_REPORT_TEXT);
		return;
	}
	char name[PATH_MAX], tmp[PATH_MAX + 32], where[PATH_MAX];
	if (hg_expand(hg_rpt_name, name, sizeof name) != 0) {
		hg_warn("HTMGIL_REPORT=%s: the name is too long; name a shorter path", hg_rpt_name);
		return;
	}
	size_t n = strlen(name);
	enum hg_report_format fmt = (n >= 5 && strcmp(name + n - 5, ".json") == 0) ? HG_REPORT_JSON : HG_REPORT_TEXT;
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", name, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f) {
		hg_warn("HTMGIL_REPORT=%s: cannot write the report there (%m); name a writable file", name);
		return;
	}
	int r = hg_report_write(f, fmt);
	r |= fclose(f);
	if (r == 0 && hg_report_claim(tmp, name, strstr(hg_rpt_name, "%p") != NULL, where, sizeof where) == 0)
		return;
	hg_warn("HTMGIL_REPORT=%s: cannot put the report in place (%m); it is left in %s", name, tmp);
}
