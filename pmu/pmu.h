/* SPDX-License-Identifier: MIT */
/*
 * pmu/pmu.h - hardware TSX counters and abort sampling (docs/design.md,
 * "Hardware counters").
 *
 * Three parts:
 *   - the encoding (pmu/pmu.c): the TSX events htmgil wants, encoded for
 *     this machine's PMU model by libpfm4 (a table, each entry with the
 *     encoding or why there is none);
 *   - the counting (pmu/pmu.c): per thread, the encoded events opened with
 *     perf_event_open in groups of at most HG_PMU_GROUP_MAX, read with RDPMC
 *     where the kernel allows it and with read() otherwise, always outside
 *     transactions; the engine reads them around each speculative attempt
 *     and charges the difference to the site (hg_pmu_account);
 *   - the sampling (pmu/sample.c): RTM_RETIRED:ABORTED sampled with
 *     precise_ip = 2 under HTMGIL_PMU=sample, each PERF_RECORD_SAMPLE's
 *     aborting IP counted per site.
 *
 * Invariants:
 *   - nothing here runs inside a transaction: every entry point is called
 *     before a speculative begin or after its commit or abort;
 *   - perf_event_open is called only through hg_pmu_open_event(), which
 *     refuses while LIBPFM_FORCE_PMU is set (a forced model's encoding
 *     programs the wrong raw event on this CPU);
 *   - hg_pmu_on is 0 unless HTMGIL_PMU asked for counters and they opened on
 *     the thread that enabled them; while 0 the engine's hooks cost one
 *     predictable branch.
 */
#ifndef HG_PMU_H
#define HG_PMU_H

#include <linux/perf_event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "htmgil/prof.h"
#include "base/atomic.h"
#include "base/util.h"

/* ---- the events htmgil wants, and their encoding here ---- */

/* The wanted events: the counts of enum hg_pmu_count, then the two cycle counts. */
#define HG_PMU_EV_CYCLES_T HG_PMU_COUNT_N         /* CPU_CLK_UNHALTED:THREAD_P:intx=1 */
#define HG_PMU_EV_CYCLES_CT (HG_PMU_COUNT_N + 1)  /* ...:intx=1:intxcp=1 (checkpointed) */
#define HG_PMU_EV_N (HG_PMU_COUNT_N + 2)

/* Events opened in one perf group (scheduled together): at most this many. */
#define HG_PMU_GROUP_MAX 4

struct hg_pmu_enc {
	const char *key;   /* short name, as in the report: "tx_start", "cycles_t", ... */
	const char *want;  /* the event as htmgil wants it, e.g. "RTM_RETIRED:START" */
	const char *name;  /* the libpfm4 name that encoded it (a model's own spelling), or NULL */
	bool ok;           /* encoded for this machine's PMU */
	uint32_t type;     /* perf_event_attr.type (PERF_TYPE_RAW for core events) */
	uint64_t config, config1;
	char why[256];     /* !ok: why not, one phrase */
};

/*
 * The table of wanted events (HG_PMU_EV_N entries, in enum hg_pmu_count
 * order, then cycles-t and cycles-ct), encoded on first use.  Built
 * without libpfm4 every entry says so.  Never NULL.
 */
HG_INTERNAL const struct hg_pmu_enc *hg_pmu_table(void);
/* The PMU model libpfm4 matched ("skl", ...), or NULL when none has TSX events. */
HG_INTERNAL const char *hg_pmu_model(void);
/* Whether the build has libpfm4 (HG_HAVE_LIBPFM). */
HG_INTERNAL bool hg_pmu_have_libpfm(void);

/* ---- the process switch ---- */

enum hg_pmu_mode {
	HG_PMU_OFF = 0,      /* HTMGIL_PMU unset, empty, 0 or off */
	HG_PMU_COUNTING = 1, /* 1 or on: counters per site */
	HG_PMU_SAMPLING = 2, /* sample: counters, and abort IPs sampled */
};
/* HTMGIL_PMU's value: the mode, or -1 for a value not understood. */
HG_INTERNAL int hg_pmu_parse(const char *v);
/*
 * Turns counting on for the process in mode m.  Refuses (one line on
 * stderr) while LIBPFM_FORCE_PMU is set; otherwise opens the counters on
 * the calling thread to see that they open, and where they do not prints
 * one line naming why and the way out and leaves counting off.  Returns
 * the mode in force.  Call outside any transaction.
 */
HG_INTERNAL enum hg_pmu_mode hg_pmu_enable(enum hg_pmu_mode m);
/* Turns counting off for the process; threads' counters stay open until they exit. */
HG_INTERNAL void hg_pmu_disable(void);
/* Nonzero: the mode in force (written by hg_pmu_enable/disable, read relaxed). */
extern uint32_t hg_pmu_on;

/* ---- the per-thread counters ---- */

/*
 * Opens the encoded events on the calling thread (once; hg_pmu_read and
 * the engine's hooks call it on first use).  Returns 0 when at least one
 * event opened, -1 otherwise (errno: the first open's error).
 */
HG_INTERNAL int hg_pmu_thread_start(void);
/* Closes the calling thread's counters (also run at thread exit). */
HG_INTERNAL void hg_pmu_thread_stop(void);

/* Counter values at one moment, indexed like hg_pmu_table(); 0 where not open. */
struct hg_pmu_sample {
	uint64_t v[HG_PMU_EV_N];
	unsigned n;        /* events read */
};
/*
 * Reads the calling thread's counters into *out.  Returns 0, or -1 when
 * the thread has none.  Outside transactions only: read() is a system call
 * (it aborts the transaction) and a value read by RDPMC inside one is lost
 * with it when the transaction aborts.
 */
HG_INTERNAL int hg_pmu_read(struct hg_pmu_sample *out);
/*
 * Charges the interval a..b of one speculative attempt to st: the event
 * counts, cycles-ct to the committed cycles and cycles-t minus cycles-ct to
 * the aborted ones (cycles-ct is checkpointed: an abort rolls it back).
 * Counters of the owning thread, written outside transactions.
 */
HG_INTERNAL void hg_pmu_account(struct hg_site_stats *st, const struct hg_pmu_sample *a,
    const struct hg_pmu_sample *b);

/* Bit cap_user_rdpmc of perf_event_mmap_page.capabilities (checked by the tests). */
#define HG_PMU_CAP_USER_RDPMC (1ull << 2)
/*
 * One event's count through its user page: RDPMC when the page says the
 * kernel allows it (cap_user_rdpmc) and the event is on a counter now
 * (index != 0), else read(fd).  page may be NULL (read() only).
 */
HG_INTERNAL uint64_t hg_pmu_read_event(int fd, const struct perf_event_mmap_page *page);

/*
 * Every perf_event_open of this module goes through hg_pmu_open_event(),
 * which calls *hg_pmu_open_impl (the system call; tests replace it) unless
 * LIBPFM_FORCE_PMU is set, where it fails with EPERM without calling it.
 */
typedef long (*hg_pmu_open_fn)(struct perf_event_attr *attr, pid_t pid, int cpu, int group,
    unsigned long flags);
extern hg_pmu_open_fn hg_pmu_open_impl;
HG_INTERNAL long hg_pmu_open_event(struct perf_event_attr *attr, int group);
/* Whether LIBPFM_FORCE_PMU is set (now, or when the table was encoded). */
HG_INTERNAL bool hg_pmu_forced(void);
/* Why perf_event_open failed with error e, and the way out, in buf: one phrase. */
HG_INTERNAL char *hg_pmu_open_why(int e, char *buf, size_t len);

/* ---- the engine's hooks ---- */

HG_INTERNAL void hg_pmu_begin_slow(void);
HG_INTERNAL void hg_pmu_end_slow(struct hg_site_stats *st, uint32_t lock_id, uint64_t site);

/* Before a speculative begin (outside any transaction): read the counters. */
static inline void hg_pmu_spec_begin(void)
{
	/* Relaxed: a switch set at start-up; a stale value skips or adds one read. */
	if (HG_UNLIKELY(hg_atomic_load_relaxed32(&hg_pmu_on) != 0))
		hg_pmu_begin_slow();
}

/* After that attempt's commit or abort (outside): charge the interval to st. */
static inline void hg_pmu_spec_end(struct hg_site_stats *st, uint32_t lock_id, uint64_t site)
{
	if (HG_UNLIKELY(hg_atomic_load_relaxed32(&hg_pmu_on) != 0))
		hg_pmu_end_slow(st, lock_id, site);
}

/* ---- abort sampling (pmu/sample.c) ---- */

/* The sample_type htmgil samples with; hg_pmu_parse_sample accepts others too. */
#define HG_PMU_SAMPLE_TYPE \
	(PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_TRANSACTION)

/* One PERF_RECORD_SAMPLE, the fields sample_type asked for (others 0). */
struct hg_pmu_rec {
	uint64_t ip;
	uint32_t pid, tid;
	uint64_t time;
	uint64_t addr, id, stream_id, period, weight, data_src;
	uint32_t cpu;
	uint64_t txn;        /* PERF_SAMPLE_TRANSACTION word */
	bool exact;          /* PERF_RECORD_MISC_EXACT_IP: ip is the aborting instruction */
};
/*
 * Parses one record (header included) of len bytes written for
 * sample_type.  Returns 0, or -1 when it is not a PERF_RECORD_SAMPLE, is
 * shorter than its fields, or sample_type has a field of variable size
 * (READ, CALLCHAIN, RAW, BRANCH_STACK, REGS_*, STACK_USER, AUX) or one
 * after TRANSACTION.  A pure function.
 */
HG_INTERNAL int hg_pmu_parse_sample(const void *rec, size_t len, uint64_t sample_type,
    struct hg_pmu_rec *out);

/* The transaction word decoded (not the RTM status layout: htm/status.h). */
struct hg_pmu_txn {
	uint32_t flags;      /* PERF_TXN_* bits 0..7 */
	uint32_t code;       /* bits 32..63: the XABORT code, for explicit aborts */
};
HG_INTERNAL struct hg_pmu_txn hg_pmu_txn_decode(uint64_t txn);
/* The flags as "transaction,async,conflict" (none: "none"); returns buf. */
HG_INTERNAL char *hg_pmu_txn_str(uint32_t flags, char *buf, size_t len);

/* Counts one sampled abort at ip for (lock_id, site); a process-wide table. */
HG_INTERNAL void hg_pmu_ip_note(uint32_t lock_id, uint64_t site, uint64_t ip, uint64_t txn);
struct hg_pmu_top {
	uint64_t ip;
	uint64_t count;
	uint32_t flags;      /* PERF_TXN_* flags of its samples, or-ed */
	uint32_t code;       /* the last sample's abort code */
};
/* The max most sampled IPs of (lock_id, site), most first; returns how many. */
HG_INTERNAL unsigned hg_pmu_top_ips(uint32_t lock_id, uint64_t site, struct hg_pmu_top *out,
    unsigned max);
/* Forgets every sampled IP (tests). */
HG_INTERNAL void hg_pmu_ips_reset(void);
/* "symbol+0xoff (object)" for ip (dladdr), or "0x..." when unknown; returns buf. */
HG_INTERNAL char *hg_pmu_symbol(uint64_t ip, char *buf, size_t len);

/*
 * The sampling event of one thread: opened by hg_pmu_sample_open() (its
 * ring of 1 + 2^HG_PMU_RING_ORDER pages), drained by hg_pmu_sample_drain()
 * after an abort, each sample counted for the site whose attempt aborted.
 */
#define HG_PMU_RING_ORDER 3
#define HG_PMU_SAMPLE_PERIOD 97 /* one abort in 97: a PEBS record inside a transaction aborts it */
struct hg_pmu_ring {
	int fd;              /* -1: none */
	void *base;          /* the mmap: header page, then the data pages */
	size_t len;          /* of the mmap */
};
HG_INTERNAL int hg_pmu_sample_open(struct hg_pmu_ring *r, const struct hg_pmu_enc *aborted);
HG_INTERNAL unsigned hg_pmu_sample_drain(struct hg_pmu_ring *r, uint32_t lock_id, uint64_t site);
HG_INTERNAL void hg_pmu_sample_close(struct hg_pmu_ring *r);

#endif /* HG_PMU_H */
