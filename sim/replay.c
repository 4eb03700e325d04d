/* SPDX-License-Identifier: MIT */
/*
 * sim/replay.c - one replay of a section trace: the recorded threads run
 * concurrently on virtual cores, their sections as hardware transactions
 * under requester-wins conflict detection on 64-byte lines, with the
 * capacity, timer and event aborts of sim/model.h.  After each abort the
 * project's own engine and policy decide (hg_engine_action, hg_policy_*),
 * with the policy's clock replaced by the replay's virtual time and seeded
 * randomness.  docs/report.md, "Simulation (tier sim)", states the model.
 *
 * Invariants:
 *   - a discrete-event loop: every thread has at most one pending event
 *     (th->epoch tags it; an abort by another thread bumps the epoch and
 *     so cancels it); events run in (time, sequence) order;
 *   - line table: bit c of rmask/wmask of a line is set exactly while the
 *     attempt running on core c holds the line in its read/write set (a
 *     line in both counts as written);
 *   - every attempt takes at least HG_SIM_BEGIN_CYCLES and every abort
 *     HG_SIM_ABORT_PENALTY, so virtual time advances; every acquisition
 *     ends on the lock after finitely many attempts because the engine's
 *     budgets are finite (hg_abort_budget), and a lock-holding run always
 *     completes: the replay ends.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/policy.h"
#include "htm/status.h"
#include "sim/replay.h"

const char *const hg_sim_cause_names[HG_SIM_C_COUNT] = {
	"conflict", "capacity_write", "capacity_read", "timer", "syscall", "cpuid",
	"pause", "xsave", "page", "other", "busy",
};

/* ------------------------------------------------------------ randomness */

static uint64_t hg_sim_next(uint64_t *s)
{
	/* xorshift64*: a fixed, seeded stream */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static double hg_sim_uniform(uint64_t *s)
{
	return (double)(hg_sim_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* A length's factor: uniform in [1 - jitter, 1 + jitter] (docs/report.md, "Simulation"). */
static double hg_sim_jit(uint64_t *s, double jitter)
{
	if (jitter <= 0)
		return 1.0;
	return 1.0 - jitter + 2.0 * jitter * hg_sim_uniform(s);
}

/* ------------------------------------------------------------ state */

enum hg_sim_state {
	S_NOTSTARTED, /* waiting for its creation (event: released) */
	S_CORE_WAIT,  /* in the core queue */
	S_GAP,        /* outside sections (event: gap done) */
	S_INTER,      /* between two transactions of one hold (event: next one) */
	S_ATT,        /* a transaction runs (event: its next step) */
	S_ABORTED,    /* the abort's penalty (event: the engine decides) */
	S_DELAY,      /* backoff (event: then) */
	S_WAITFREE,   /* waits for the lock to be free (no event until released) */
	S_LOCKWAIT,   /* in the lock's queue (event when granted: run) */
	S_LOCKED,     /* runs the rest of the hold holding the lock (event: its next step) */
	S_DONE,
};

enum { THEN_RETRY, THEN_LOCK };

struct hg_sim_th {
	uint32_t idx;
	enum hg_sim_state state;
	uint32_t epoch;
	int slot;                 /* core, -1: none */
	uint32_t iv, iv_end;      /* next hold's first chunk; the thread's end */
	uint32_t hold_b, hold_e;  /* the hold under way: its chunks */
	uint32_t hs_b, hs_e;      /* ... and its sub-intervals */
	uint32_t ch_b, ch_e;      /* the transaction's (or lock run's) sub-intervals */
	uint32_t st_e;            /* a lock run: the end of its current stretch (<= ch_e) */
	double t_st;              /* ... and the time it is reached (+inf: the run's end) */
	uint64_t ch_ic0, ch_ic1;  /* where sub-interval ch_b begins, and the run ends */
	uint32_t cur_iv, cur_op;  /* next step: chunk, index into ops */
	struct hg_sim_op *ops;    /* the steps of chunk ops_c in sub-intervals [ops_a, ops_b) */
	uint32_t nops, ops_cap, ops_c, ops_a, ops_b;
	double t_body;            /* time of the run's instruction offset 0 (sub-interval ch_b) */
	double scale;             /* cycles per instruction of this run (CPI, jittered) */
	double t_att;             /* the attempt's (or lock run's, or wait's) start */
	double t_timer;           /* the timer interrupt's time in this attempt */
	int committing;           /* the body ran: the commit is the next step */
	/* the acquisition */
	struct hg_site_rec *rec;
	uint32_t site;
	struct hg_abort_budget b;
	enum hg_policy_go go;
	unsigned attempt;
	int then;
	uint32_t lock;            /* lock index of the hold */
	/* a pending abort */
	uint32_t ab_status, ab_cause;
	/* children released when this thread's instructions pass their start */
	uint32_t *kids, nkids, kid_next;
	struct hg_sim_thread_out out;
};

/* An attempt's own view of its set: line index -> lent (generation-stamped). */
struct hg_sim_lslot {
	uint32_t g, gen, lent, w;
};
struct hg_sim_core {
	struct hg_sim_lslot *map; /* HG_SIM_LMAP entries */
	uint32_t gen;
	uint32_t *touched;        /* line indexes set in the line table */
	uint32_t ntouched, cap_touched;
	uint16_t *setw;           /* written lines per L1 set */
	uint32_t nread, nwrite;
	int th;                   /* thread on this core, -1: free */
};
#define HG_SIM_LMAP (1u << 14) /* > 2 x (read budget + L1 lines), a power of two */

struct hg_sim_lockst {
	int holder;               /* thread index, -1: free */
	uint32_t sub_g;           /* the lock word's line */
	uint32_t *q, qh, qt, qcap; /* FIFO of lock waiters */
	uint32_t *wf, nwf, wfcap;  /* threads waiting for it to be free */
};

struct hg_sim_ev {
	double t;
	uint64_t seq;
	uint32_t th, epoch;
};

struct hg_sim {
	const struct hg_sim_trace *t;
	const struct hg_sim_opts *o;
	struct hg_sim_result *r;
	struct hg_sim_th *th;
	struct hg_sim_core *cores;
	unsigned ncores;
	uint64_t *rmask, *wmask;  /* by line index */
	struct hg_sim_lockst *locks;
	uint32_t *coreq, cq_h, cq_t, cq_cap; /* FIFO of threads waiting for a core */
	struct hg_sim_ev *heap;
	uint32_t nheap, heap_cap;
	uint64_t seq;
	double now;
	double cyc_per_us;
	uint64_t rng_pol, rng_tim, rng_jit;
	/* site records per (site, thread) */
	struct hg_site_rec **recs;
	uint32_t rec_cap, nrecs;
	uint64_t *rec_keys;
	/* aggregation maps: hash -> index + 1 */
	uint32_t *cmap, cmap_cap;
	uint32_t conf_cap, caps_cap, unf_cap;
	int oom;
};

static struct hg_sim *hg_sim_cur; /* the clock's view (one replay at a time) */

static uint64_t hg_sim_clock_cycles(void)
{
	return (uint64_t)hg_sim_cur->now;
}
static uint64_t hg_sim_clock_random(void)
{
	return hg_sim_next(&hg_sim_cur->rng_pol);
}
static unsigned hg_sim_clock_par(void)
{
	return hg_sim_cur->ncores;
}
static double hg_sim_clock_hz(void)
{
	return hg_sim_cur->cyc_per_us * 1e6;
}
static const struct hg_policy_clock hg_sim_clock = {
	.cycles = hg_sim_clock_cycles,
	.random = hg_sim_clock_random,
	.parallelism = hg_sim_clock_par,
	.hz = hg_sim_clock_hz,
};

static void *hg_sim_xalloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "htmgil-sim-replay: out of memory during the replay\n");
		exit(2);
	}
	return q;
}
#define HG_SIM_PUSH(arr, n, cap)                                                     \
	do {                                                                         \
		if ((n) >= (cap)) {                                                  \
			(cap) = (cap) ? (cap) * 2 : 16;                              \
			(arr) = hg_sim_xalloc((arr), (size_t)(cap) * sizeof *(arr)); \
		}                                                                    \
	} while (0)

/* ------------------------------------------------------------ events */

static int hg_sim_ev_less(const struct hg_sim_ev *a, const struct hg_sim_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void hg_sim_at(struct hg_sim *s, struct hg_sim_th *th, double t)
{
	th->epoch++;
	HG_SIM_PUSH(s->heap, s->nheap, s->heap_cap);
	struct hg_sim_ev e = { t < s->now ? s->now : t, s->seq++, th->idx, th->epoch };
	uint32_t i = s->nheap++;
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!hg_sim_ev_less(&e, &s->heap[p]))
			break;
		s->heap[i] = s->heap[p];
		i = p;
	}
	s->heap[i] = e;
}

static int hg_sim_pop(struct hg_sim *s, struct hg_sim_ev *out)
{
	if (s->nheap == 0)
		return 0;
	*out = s->heap[0];
	struct hg_sim_ev last = s->heap[--s->nheap];
	uint32_t i = 0;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && hg_sim_ev_less(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!hg_sim_ev_less(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nheap)
		s->heap[i] = last;
	return 1;
}

/* ------------------------------------------------------------ site records */

static struct hg_site_rec *hg_sim_rec(struct hg_sim *s, uint32_t site, uint32_t thread)
{
	uint64_t key = ((uint64_t)site << 32) | thread;
	if ((uint64_t)(s->nrecs + 1) * 2 > s->rec_cap) {
		uint32_t nc = s->rec_cap ? s->rec_cap * 2 : 256;
		struct hg_site_rec **nr = calloc(nc, sizeof *nr);
		uint64_t *nk = calloc(nc, sizeof *nk);
		if (!nr || !nk) {
			fprintf(stderr, "htmgil-sim-replay: out of memory during the replay\n");
			exit(2);
		}
		for (uint32_t i = 0; i < s->rec_cap; i++) {
			if (!s->recs[i])
				continue;
			uint32_t j = (uint32_t)(s->rec_keys[i] * 0x9E3779B97F4A7C15ull >> 32) & (nc - 1);
			while (nr[j])
				j = (j + 1) & (nc - 1);
			nr[j] = s->recs[i];
			nk[j] = s->rec_keys[i];
		}
		free(s->recs);
		free(s->rec_keys);
		s->recs = nr;
		s->rec_keys = nk;
		s->rec_cap = nc;
	}
	uint32_t j = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 32) & (s->rec_cap - 1);
	while (s->recs[j]) {
		if (s->rec_keys[j] == key)
			return s->recs[j];
		j = (j + 1) & (s->rec_cap - 1);
	}
	struct hg_site_rec *r = calloc(1, sizeof *r);
	if (!r) {
		fprintf(stderr, "htmgil-sim-replay: out of memory during the replay\n");
		exit(2);
	}
	r->lock_id = s->t->sites[site].lock_id;
	r->site = s->t->sites[site].key;
	hg_policy_site_init(&r->pol);
	s->recs[j] = r;
	s->rec_keys[j] = key;
	s->nrecs++;
	return r;
}

/* ------------------------------------------------------------ records of aborts */

static uint64_t hg_sim_hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void hg_sim_side_of(struct hg_sim *s, struct hg_sim_side *sd, uint32_t lent, int wrote,
    uint32_t site, uint32_t serial)
{
	memset(sd, 0, sizeof *sd);
	sd->site = site;
	sd->thread = serial;
	sd->off = UINT64_MAX;
	if (lent == UINT32_MAX) {
		sd->lock_word = 1;
		return;
	}
	const struct hg_sim_lent *l = &s->t->lents[lent];
	sd->data = l->data;
	sd->code = wrote && l->code_write ? l->code_write : l->code;
	if (l->data) {
		const struct hg_sim_desc_in *d = &s->t->descs[l->data];
		if (l->addr >= d->base)
			sd->off = l->addr - d->base;
	}
}

static void hg_sim_note_conflict(struct hg_sim *s, uint32_t g, const struct hg_sim_side *v,
    const struct hg_sim_side *a, double wasted)
{
	struct hg_sim_conflict key;
	memset(&key, 0, sizeof key);
	key.line = HG_SIM_GLINE_LINE(s->t->glines[g]);
	key.victim = *v;
	key.aggressor = *a;
	size_t klen = offsetof(struct hg_sim_conflict, count);
	uint64_t h = hg_sim_hash_bytes(&key, klen);
	struct hg_sim_result *r = s->r;
	if ((uint64_t)(r->nconflicts + 1) * 2 > s->cmap_cap) {
		uint32_t nc = s->cmap_cap ? s->cmap_cap * 2 : 256;
		uint32_t *nm = calloc(nc, sizeof *nm);
		if (!nm) {
			fprintf(stderr, "htmgil-sim-replay: out of memory during the replay\n");
			exit(2);
		}
		for (uint32_t i = 0; i < r->nconflicts; i++) {
			uint32_t j = (uint32_t)hg_sim_hash_bytes(&r->conflicts[i], klen) & (nc - 1);
			while (nm[j])
				j = (j + 1) & (nc - 1);
			nm[j] = i + 1;
		}
		free(s->cmap);
		s->cmap = nm;
		s->cmap_cap = nc;
	}
	uint32_t j = (uint32_t)h & (s->cmap_cap - 1);
	while (s->cmap[j]) {
		struct hg_sim_conflict *c = &r->conflicts[s->cmap[j] - 1];
		if (memcmp(c, &key, klen) == 0) {
			c->count++;
			c->wasted += wasted;
			return;
		}
		j = (j + 1) & (s->cmap_cap - 1);
	}
	HG_SIM_PUSH(r->conflicts, r->nconflicts, s->conf_cap);
	key.count = 1;
	key.wasted = wasted;
	r->conflicts[r->nconflicts] = key;
	s->cmap[j] = ++r->nconflicts;
}

/* ------------------------------------------------------------ the line table */

static struct hg_sim_lslot *hg_sim_lfind(struct hg_sim_core *c, uint32_t g, int add)
{
	uint32_t j = (g * 2654435761u) & (HG_SIM_LMAP - 1);
	for (;;) {
		struct hg_sim_lslot *e = &c->map[j];
		if (e->gen != c->gen) {
			if (!add)
				return NULL;
			e->gen = c->gen;
			e->g = g;
			e->lent = UINT32_MAX;
			e->w = 0;
			return e;
		}
		if (e->g == g)
			return e;
		j = (j + 1) & (HG_SIM_LMAP - 1);
	}
}

/* Drops the attempt of core c from the line table. */
static void hg_sim_core_clear(struct hg_sim *s, struct hg_sim_core *c, unsigned slot)
{
	uint64_t m = ~(1ull << slot);
	for (uint32_t i = 0; i < c->ntouched; i++) {
		s->rmask[c->touched[i]] &= m;
		s->wmask[c->touched[i]] &= m;
	}
	c->ntouched = 0;
	c->nread = c->nwrite = 0;
	memset(c->setw, 0, s->o->model->l1_sets * sizeof *c->setw);
	if (++c->gen == 0) {
		memset(c->map, 0, HG_SIM_LMAP * sizeof *c->map);
		c->gen = 1;
	}
}

static void hg_sim_abort(struct hg_sim *s, struct hg_sim_th *th, double t, uint32_t status,
    uint32_t cause);

/*
 * An access at s->now to line g by thread th: transactional (th->state ==
 * S_ATT) or not (a lock-holding run, or the lock's acquisition: lent ==
 * UINT32_MAX).  Requester wins: every other attempt holding the line in
 * a set the access conflicts with aborts.  Returns the capacity cause when
 * the line does not fit th's own attempt (the caller aborts it), else 0.
 */
static uint32_t hg_sim_access(struct hg_sim *s, struct hg_sim_th *th, uint32_t g, int write,
    uint32_t lent, uint32_t site)
{
	int tx = th->state == S_ATT;
	uint64_t mine = tx ? 1ull << th->slot : 0;
	uint64_t victims = (write ? (s->rmask[g] | s->wmask[g]) : s->wmask[g]) & ~mine;
	if (victims) {
		struct hg_sim_side a;
		hg_sim_side_of(s, &a, lent, write, site, s->t->threads[th->idx].serial);
		while (victims) {
			unsigned c = (unsigned)__builtin_ctzll(victims);
			victims &= victims - 1;
			struct hg_sim_th *v = &s->th[s->cores[c].th];
			struct hg_sim_lslot *e = hg_sim_lfind(&s->cores[c], g, 0);
			struct hg_sim_side vs;
			hg_sim_side_of(s, &vs, e ? e->lent : UINT32_MAX, e && e->w, v->site,
			    s->t->threads[v->idx].serial);
			hg_sim_note_conflict(s, g, &vs, &a, s->now - v->t_att + HG_SIM_ABORT_PENALTY);
			hg_sim_abort(s, v, s->now, HG_STATUS_CONFLICT | HG_STATUS_RETRY, HG_SIM_C_CONFLICT);
		}
	}
	if (!tx)
		return 0;
	struct hg_sim_core *c = &s->cores[th->slot];
	struct hg_sim_lslot *e = hg_sim_lfind(c, g, 1);
	if (e->lent == UINT32_MAX)
		e->lent = lent;
	const struct hg_sim_cpu_model *m = s->o->model;
	if (write) {
		if (e->w)
			return 0;
		if (s->rmask[g] & mine) {
			s->rmask[g] &= ~mine;
			c->nread--;
		} else {
			HG_SIM_PUSH(c->touched, c->ntouched, c->cap_touched);
			c->touched[c->ntouched++] = g;
		}
		e->w = 1;
		e->lent = lent;
		s->wmask[g] |= mine;
		c->nwrite++;
		uint32_t set = (uint32_t)(s->t->glines[g] & (m->l1_sets - 1));
		return ++c->setw[set] > m->l1_ways ? HG_SIM_C_CAP_WRITE : 0;
	}
	if ((s->rmask[g] | s->wmask[g]) & mine)
		return 0;
	HG_SIM_PUSH(c->touched, c->ntouched, c->cap_touched);
	c->touched[c->ntouched++] = g;
	s->rmask[g] |= mine;
	return ++c->nread > m->read_lines ? HG_SIM_C_CAP_READ : 0;
}

/* ------------------------------------------------------------ cores */

static void hg_sim_segment(struct hg_sim *s, struct hg_sim_th *th);

static void hg_sim_core_request(struct hg_sim *s, struct hg_sim_th *th)
{
	for (unsigned c = 0; c < s->ncores; c++) {
		if (s->cores[c].th < 0) {
			s->cores[c].th = (int)th->idx;
			th->slot = (int)c;
			hg_sim_segment(s, th);
			return;
		}
	}
	th->state = S_CORE_WAIT;
	th->t_att = s->now;
	uint32_t n = s->cq_t - s->cq_h;
	if (n >= s->cq_cap) {
		uint32_t nc = s->cq_cap ? s->cq_cap * 2 : 16;
		uint32_t *nq = hg_sim_xalloc(NULL, nc * sizeof *nq);
		for (uint32_t i = 0; i < n; i++)
			nq[i] = s->coreq[(s->cq_h + i) % (s->cq_cap ? s->cq_cap : 1)];
		free(s->coreq);
		s->coreq = nq;
		s->cq_cap = nc;
		s->cq_h = 0;
		s->cq_t = n;
	}
	s->coreq[s->cq_t++ % s->cq_cap] = th->idx;
}

static void hg_sim_core_release(struct hg_sim *s, struct hg_sim_th *th)
{
	int c = th->slot;
	th->slot = -1;
	s->cores[c].th = -1;
	if (s->cq_t != s->cq_h) {
		struct hg_sim_th *w = &s->th[s->coreq[s->cq_h++ % s->cq_cap]];
		w->out.waiting += s->now - w->t_att;
		s->cores[c].th = (int)w->idx;
		w->slot = c;
		hg_sim_segment(s, w);
	}
}

/* ------------------------------------------------------------ the lock */

static void hg_sim_lock_run(struct hg_sim *s, struct hg_sim_th *th, double t_start);

static void hg_sim_lock_take(struct hg_sim *s, struct hg_sim_th *th)
{
	struct hg_sim_lockst *L = &s->locks[th->lock];
	if (L->holder < 0) {
		L->holder = (int)th->idx;
		/* The acquisition writes the lock word: subscribed attempts abort. */
		th->state = S_LOCKED;
		hg_sim_access(s, th, L->sub_g, 1, UINT32_MAX, th->site);
		hg_sim_lock_run(s, th, s->now);
		return;
	}
	th->state = S_LOCKWAIT;
	th->t_att = s->now;
	uint32_t n = L->qt - L->qh;
	if (n >= L->qcap) {
		uint32_t nc = L->qcap ? L->qcap * 2 : 8;
		uint32_t *nq = hg_sim_xalloc(NULL, nc * sizeof *nq);
		for (uint32_t i = 0; i < n; i++)
			nq[i] = L->q[(L->qh + i) % (L->qcap ? L->qcap : 1)];
		free(L->q);
		L->q = nq;
		L->qcap = nc;
		L->qh = 0;
		L->qt = n;
	}
	L->q[L->qt++ % L->qcap] = th->idx;
}

static void hg_sim_lock_release(struct hg_sim *s, uint32_t lock)
{
	struct hg_sim_lockst *L = &s->locks[lock];
	if (L->qt != L->qh) {
		/* FIFO hand-over: the next waiter holds it now, runs after the wake-up. */
		struct hg_sim_th *w = &s->th[L->q[L->qh++ % L->qcap]];
		L->holder = (int)w->idx;
		w->out.waiting += s->now + HG_SIM_WAKE_CYCLES - w->t_att;
		w->state = S_LOCKED;
		hg_sim_lock_run(s, w, s->now + HG_SIM_WAKE_CYCLES);
		return;
	}
	L->holder = -1;
	for (uint32_t i = 0; i < L->nwf; i++) {
		struct hg_sim_th *w = &s->th[L->wf[i]];
		w->out.waiting += s->now + HG_SIM_WAKE_CYCLES - w->t_att;
		w->t_att = s->now + HG_SIM_WAKE_CYCLES;
		w->state = S_DELAY;
		hg_sim_at(s, w, s->now + HG_SIM_WAKE_CYCLES);
	}
	L->nwf = 0;
}

static void hg_sim_wait_free(struct hg_sim *s, struct hg_sim_th *th, int then)
{
	struct hg_sim_lockst *L = &s->locks[th->lock];
	th->then = then;
	th->t_att = s->now;
	th->state = S_WAITFREE;
	HG_SIM_PUSH(L->wf, L->nwf, L->wfcap);
	L->wf[L->nwf++] = th->idx;
}

/* ------------------------------------------------------------ steps */

/* The chunk holding global sub-interval k, among the hold's chunks. */
static uint32_t hg_sim_chunk_of(const struct hg_sim_trace *t, const struct hg_sim_th *th, uint32_t k)
{
	uint32_t lo = th->hold_b, hi = th->hold_e;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->ivals[mid].sub0 <= k)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* The steps of chunk cur_iv within the run's sub-intervals [ch_b, end), into th->ops. */
static void hg_sim_load_ops(struct hg_sim *s, struct hg_sim_th *th, uint32_t end)
{
	const struct hg_sim_ival *c = &s->t->ivals[th->cur_iv];
	uint32_t a = c->sub0 > th->ch_b ? c->sub0 : th->ch_b;
	uint32_t b = c->sub0 + c->nsubs < end ? c->sub0 + c->nsubs : end;
	if (th->ops_c == th->cur_iv && th->ops_a == a && th->ops_b == b)
		return; /* a retry of the same run: the same steps */
	th->nops = hg_sim_chunk_ops(s->t, c, a, b, &th->ops, &th->ops_cap);
	th->ops_c = th->cur_iv;
	th->ops_a = a;
	th->ops_b = b;
}

/* Starts walking the steps of the run [ch_b, end) at its first. */
static void hg_sim_walk_start(struct hg_sim *s, struct hg_sim_th *th, uint32_t end)
{
	th->cur_iv = hg_sim_chunk_of(s->t, th, th->ch_b);
	th->cur_op = 0;
	hg_sim_load_ops(s, th, end);
}

/* The time of the next access or event of the run [ch_b, end) from (cur_iv, cur_op), or +inf. */
static double hg_sim_next_op_time(struct hg_sim *s, struct hg_sim_th *th, uint32_t end)
{
	const struct hg_sim_trace *t = s->t;
	for (;;) {
		if (th->cur_op < th->nops) {
			const struct hg_sim_op *op = &th->ops[th->cur_op];
			uint64_t off = t->ivals[th->cur_iv].ic_begin + op->at - th->ch_ic0;
			return th->t_body + (double)off * th->scale;
		}
		if (th->cur_iv + 1 >= th->hold_e || t->ivals[th->cur_iv + 1].sub0 >= end)
			return INFINITY;
		th->cur_iv++;
		th->cur_op = 0;
		hg_sim_load_ops(s, th, end);
	}
}

static void hg_sim_att_schedule(struct hg_sim *s, struct hg_sim_th *th)
{
	double body_end = th->t_body + (double)(th->ch_ic1 - th->ch_ic0) * th->scale;
	double next;
	if (th->committing)
		next = body_end + HG_SIM_COMMIT_CYCLES;
	else {
		next = hg_sim_next_op_time(s, th, th->ch_e);
		if (next > body_end) {
			th->committing = 1;
			next = body_end + HG_SIM_COMMIT_CYCLES;
		}
	}
	if (th->t_timer < next) {
		th->state = S_ATT;
		th->ab_status = 0;
		th->ab_cause = HG_SIM_C_TIMER;
		/* the pending step is the timer's abort: marked by ab_cause */
		hg_sim_at(s, th, th->t_timer);
		return;
	}
	th->ab_cause = HG_SIM_C_COUNT;
	hg_sim_at(s, th, next);
}

/* Timer abort: the duration at which the attempt is interrupted (inverse of the survival table). */
static double hg_sim_timer_draw(struct hg_sim *s)
{
	double u = hg_sim_uniform(&s->rng_tim); /* the survival level at which it aborts */
	const struct hg_sim_survival_pt *p = hg_sim_survival;
	if (u >= p[0].survive)
		return p[0].us * s->cyc_per_us;
	for (unsigned i = 1; i < HG_SIM_N_SURVIVAL; i++) {
		if (u >= p[i].survive) {
			double f = (p[i - 1].survive - u) / (p[i - 1].survive - p[i].survive);
			return (p[i - 1].us + f * (p[i].us - p[i - 1].us)) * s->cyc_per_us;
		}
	}
	return p[HG_SIM_N_SURVIVAL - 1].us * s->cyc_per_us;
}

static void hg_sim_attempt(struct hg_sim *s, struct hg_sim_th *th)
{
	struct hg_sim_site_out *so = &s->r->sites[th->site];
	hg_counter_add(&th->rec->st.attempts, 1);
	so->attempts++;
	s->r->attempts++;
	th->state = S_ATT;
	th->t_att = s->now;
	th->committing = 0;
	th->scale = s->o->cpi * hg_sim_jit(&s->rng_jit, s->o->jitter);
	hg_sim_walk_start(s, th, th->ch_e);
	th->t_body = s->now + HG_SIM_BEGIN_CYCLES;
	if (s->locks[th->lock].holder >= 0) {
		/* Begun while the lock is held: the subscription check aborts. */
		th->t_timer = INFINITY;
		th->ab_status = HG_STATUS_MAKE_EXPLICIT(HG_ABORT_BUSY);
		th->ab_cause = HG_SIM_C_BUSY;
		hg_sim_at(s, th, s->now + HG_SIM_BEGIN_CYCLES);
		return;
	}
	th->t_timer = s->now + hg_sim_timer_draw(s);
	if (hg_sim_access(s, th, s->locks[th->lock].sub_g, 0, UINT32_MAX, th->site)) {
		hg_sim_abort(s, th, s->now, HG_STATUS_CAPACITY, HG_SIM_C_CAP_READ);
		return;
	}
	hg_sim_att_schedule(s, th);
}

static void hg_sim_after_chunk(struct hg_sim *s, struct hg_sim_th *th);
static void hg_sim_acquire(struct hg_sim *s, struct hg_sim_th *th);

/*
 * Whether a hold on the lock runs in stretches (the GIL front end's bounded
 * fallback): elided, with forced yield points, and not --fallback=hold.
 */
static bool hg_sim_bounded(const struct hg_sim *s, const struct hg_sim_th *th)
{
	return s->o->elide && !s->o->hold_fallback && !hg_txlen_off && th->hs_e - th->hs_b > 1;
}

/*
 * The engine's take_lock: the rest of the hold runs on the lock.  When
 * bounded, the run is cut into stretches: the first ends where the
 * acquisition's chunk does, each later one txlen intervals on, and at a
 * stretch's end the run ends there if a thread waits to speculate
 * (hg_sim_lock_step).
 */
static void hg_sim_take_lock(struct hg_sim *s, struct hg_sim_th *th)
{
	th->st_e = hg_sim_bounded(s, th) ? th->ch_e : th->hs_e;
	th->ch_e = th->hs_e;
	hg_sim_lock_take(s, th);
}

/* An attempt's abort at time t (by itself or by another thread's access). */
static void hg_sim_abort(struct hg_sim *s, struct hg_sim_th *th, double t, uint32_t status,
    uint32_t cause)
{
	double wasted = t - th->t_att + HG_SIM_ABORT_PENALTY;
	if (cause != HG_SIM_C_BUSY)
		hg_sim_core_clear(s, &s->cores[th->slot], (unsigned)th->slot);
	th->out.aborted += wasted;
	struct hg_sim_site_out *so = &s->r->sites[th->site];
	so->aborts[cause]++;
	so->cyc_aborted += wasted;
	s->r->aborts++;
	th->ab_status = status;
	th->ab_cause = cause;
	th->state = S_ABORTED;
	hg_sim_at(s, th, t + HG_SIM_ABORT_PENALTY);
}

static void hg_sim_note_capacity(struct hg_sim *s, struct hg_sim_th *th, uint32_t cause,
    uint32_t lent)
{
	struct hg_sim_result *r = s->r;
	struct hg_sim_core *c = &s->cores[th->slot];
	uint32_t fullest = 0, fn = 0;
	for (uint32_t i = 0; i < s->o->model->l1_sets; i++)
		if (c->setw[i] > fn)
			fn = c->setw[i], fullest = i;
	struct hg_sim_capacity *cp = NULL;
	for (unsigned i = 0; i < r->ncaps; i++)
		if (r->caps[i].site == th->site && r->caps[i].cause == cause)
			cp = &r->caps[i];
	if (!cp) {
		HG_SIM_PUSH(r->caps, r->ncaps, s->caps_cap);
		cp = &r->caps[r->ncaps++];
		memset(cp, 0, sizeof *cp);
		cp->site = th->site;
		cp->cause = cause;
	}
	cp->count++;
	cp->wasted += s->now - th->t_att + HG_SIM_ABORT_PENALTY;
	if (c->nwrite + c->nread >= cp->write_lines + cp->read_lines) {
		cp->write_lines = c->nwrite;
		cp->read_lines = c->nread;
		cp->fullest_set = fullest;
		cp->fullest_n = fn;
		cp->data = s->t->lents[lent].data;
	}
}

static void hg_sim_note_unfriendly(struct hg_sim *s, struct hg_sim_th *th, uint32_t cause,
    uint32_t code, uint64_t arg)
{
	struct hg_sim_result *r = s->r;
	struct hg_sim_unfriendly *u = NULL;
	for (unsigned i = 0; i < r->nunf; i++)
		if (r->unf[i].site == th->site && r->unf[i].cause == cause && r->unf[i].code == code)
			u = &r->unf[i];
	if (!u) {
		HG_SIM_PUSH(r->unf, r->nunf, s->unf_cap);
		u = &r->unf[r->nunf++];
		memset(u, 0, sizeof *u);
		u->site = th->site;
		u->cause = cause;
		u->code = code;
		u->arg = arg;
	}
	u->count++;
	u->wasted += s->now - th->t_att + HG_SIM_ABORT_PENALTY;
}

static const uint32_t hg_sim_ev_cause[] = {
	[HG_SIM_EV_SYSCALL] = HG_SIM_C_SYSCALL, [HG_SIM_EV_CPUID] = HG_SIM_C_CPUID,
	[HG_SIM_EV_PAUSE] = HG_SIM_C_PAUSE,     [HG_SIM_EV_XSAVE] = HG_SIM_C_XSAVE,
	[HG_SIM_EV_PAGE] = HG_SIM_C_PAGE,       [HG_SIM_EV_OTHER] = HG_SIM_C_OTHER,
};

/* The attempt's next step is due. */
static void hg_sim_att_step(struct hg_sim *s, struct hg_sim_th *th)
{
	const struct hg_sim_trace *t = s->t;
	if (th->ab_cause == HG_SIM_C_BUSY) {
		hg_sim_abort(s, th, s->now, th->ab_status, HG_SIM_C_BUSY);
		return;
	}
	if (th->ab_cause == HG_SIM_C_TIMER) {
		hg_sim_note_unfriendly(s, th, HG_SIM_C_TIMER, 0, 0);
		hg_sim_abort(s, th, s->now, 0, HG_SIM_C_TIMER);
		return;
	}
	if (th->committing) {
		double d = s->now - th->t_att;
		hg_sim_core_clear(s, &s->cores[th->slot], (unsigned)th->slot);
		th->out.committed += d;
		s->r->sites[th->site].commits++;
		s->r->sites[th->site].cyc_committed += d;
		hg_engine_note_commit(th->rec, HG_TIER_HTM);
		if (th->hs_e - th->hs_b > 1) /* a hold of several intervals: its length is sized */
			hg_policy_txlen_sample(th->rec, th->ch_e - th->ch_b, (uint64_t)d);
		hg_sim_after_chunk(s, th);
		return;
	}
	const struct hg_sim_op *op = &th->ops[th->cur_op++];
	if (op->kind == HG_SIM_OP_EVENT) {
		const struct hg_sim_event *e = &t->evs[op->arg];
		uint32_t cause = e->kind < sizeof hg_sim_ev_cause / sizeof hg_sim_ev_cause[0] &&
		    e->kind >= HG_SIM_EV_SYSCALL ? hg_sim_ev_cause[e->kind] : HG_SIM_C_OTHER;
		hg_sim_note_unfriendly(s, th, cause, e->code, e->arg);
		hg_sim_abort(s, th, s->now, 0, cause);
		return;
	}
	uint32_t cap = hg_sim_access(s, th, t->lent_g[op->arg], op->kind == HG_SIM_OP_WRITE,
	    op->arg, th->site);
	if (cap) {
		hg_sim_note_capacity(s, th, cap, op->arg);
		hg_sim_abort(s, th, s->now, HG_STATUS_CAPACITY, cap);
		return;
	}
	hg_sim_att_schedule(s, th);
}

/*
 * The abort's penalty is over: the engine's retry loop decides
 * (engine/engine.c, hg_engine_enter), through its own functions.
 */
static void hg_sim_decide(struct hg_sim *s, struct hg_sim_th *th)
{
	struct hg_site_rec *rec = th->rec;
	uint32_t st = th->ab_status;
	struct hg_sim_lockst *L = &s->locks[th->lock];
	hg_engine_note_abort(rec, st);
	enum hg_abort_action act = hg_engine_action(st, &th->b);
	unsigned attempt = th->attempt++;
	if (act == HG_ACT_WAIT) {
		if (L->holder >= 0)
			hg_sim_wait_free(s, th, THEN_RETRY);
		else
			hg_sim_attempt(s, th);
		return;
	}
	int brk = act == HG_ACT_LOCK || act == HG_ACT_SKIP || act == HG_ACT_DEMOTE;
	if (act == HG_ACT_SKIP)
		hg_policy_skip(rec);
	if (act == HG_ACT_DEMOTE)
		hg_policy_capacity(rec);
	int wait = 0;
	double delay = 0;
	if (!brk) {
		if (act == HG_ACT_BACKOFF) {
			if (L->holder >= 0)
				wait = 1;
			else {
				/* hg_backoff's draw: that many PAUSEs, growing with the attempt */
				unsigned shift = attempt < 6 ? attempt : 6;
				uint64_t n = hg_policy_random() & ((32u << shift) - 1);
				delay = (double)n * HG_SIM_PAUSE_CYCLES;
			}
		}
		if (hg_policy_check_rate(rec) || th->go == HG_GO_PROBE)
			brk = 1;
	}
	if (brk) {
		hg_policy_check_rate(rec);
		if (th->go == HG_GO_PROBE)
			hg_policy_probe_lost(rec);
	}
	int then = brk ? THEN_LOCK : THEN_RETRY;
	if (wait) {
		hg_sim_wait_free(s, th, then);
		return;
	}
	if (delay > 0) {
		th->then = then;
		th->state = S_DELAY;
		th->t_att = s->now;
		hg_sim_at(s, th, s->now + delay);
		return;
	}
	if (then == THEN_LOCK)
		hg_sim_take_lock(s, th);
	else
		hg_sim_attempt(s, th);
}

/* One acquisition: the engine's entry, for the transaction of intervals [ch_b, ...). */
static void hg_sim_acquire(struct hg_sim *s, struct hg_sim_th *th)
{
	const struct hg_sim_trace *t = s->t;
	const struct hg_sim_ival *iv = &t->ivals[hg_sim_chunk_of(t, th, th->ch_b)];
	th->site = t->sub_site[iv->st0 + (th->ch_b - iv->sub0)]; /* the first sub-interval's */
	th->lock = iv->lock;
	s->locks[th->lock].sub_g = iv->sub_g;
	th->rec = hg_sim_rec(s, th->site, th->idx);
	struct hg_sim_site_out *so = &s->r->sites[th->site];
	so->acquisitions++;
	hg_counter_add(&th->rec->st.acquisitions, 1);
	if (!s->o->elide) {
		hg_sim_take_lock(s, th);
		return;
	}
	uint32_t len = 1;
	if (th->hs_e - th->hs_b > 1) {
		len = hg_txlen_off ? th->hs_e - th->ch_b : hg_policy_txlen(th->rec);
		so->txlen_sum += len;
		so->txlen_n++;
		so->txlen_last = len;
	}
	th->ch_e = th->ch_b + len < th->hs_e ? th->ch_b + len : th->hs_e;
	th->ch_ic0 = hg_sim_sub_begin(t, iv, th->ch_b);
	th->ch_ic1 = hg_sim_sub_end(t, &t->ivals[hg_sim_chunk_of(t, th, th->ch_e - 1)], th->ch_e - 1);
	th->go = hg_policy_enter(th->rec);
	if (th->go == HG_GO_LOCK) {
		hg_sim_take_lock(s, th);
		return;
	}
	hg_abort_budget_init(&th->b, &hg_policy_now);
	th->attempt = 0;
	hg_sim_attempt(s, th);
}

/* When the run reaches the end of sub-interval st_e - 1 (+inf: st_e is the hold's end). */
static double hg_sim_stretch_time(const struct hg_sim *s, const struct hg_sim_th *th)
{
	const struct hg_sim_trace *t = s->t;
	if (th->st_e >= th->hs_e)
		return INFINITY;
	uint64_t ic = hg_sim_sub_end(t, &t->ivals[hg_sim_chunk_of(t, th, th->st_e - 1)], th->st_e - 1);
	return th->t_body + (double)(ic - th->ch_ic0) * th->scale;
}

static void hg_sim_lock_next(struct hg_sim *s, struct hg_sim_th *th, double next, double end)
{
	double t = next < end ? next : end;
	hg_sim_at(s, th, th->t_st < t ? th->t_st : t);
}

/* The lock is taken at t_start: the run of sub-intervals [ch_b, hs_e) begins. */
static void hg_sim_lock_run(struct hg_sim *s, struct hg_sim_th *th, double t_start)
{
	const struct hg_sim_trace *t = s->t;
	th->state = S_LOCKED;
	th->t_att = t_start;
	th->t_body = t_start + HG_SIM_LOCK_CYCLES;
	th->ch_ic0 = hg_sim_sub_begin(t, &t->ivals[hg_sim_chunk_of(t, th, th->ch_b)], th->ch_b);
	th->ch_ic1 = t->ivals[th->hold_e - 1].ic_end;
	th->scale = s->o->cpi * hg_sim_jit(&s->rng_jit, s->o->jitter);
	hg_sim_walk_start(s, th, th->hs_e);
	th->ab_cause = HG_SIM_C_COUNT;
	th->t_st = hg_sim_stretch_time(s, th);
	double next = hg_sim_next_op_time(s, th, th->hs_e);
	double end = th->t_body + (double)(th->ch_ic1 - th->ch_ic0) * th->scale;
	hg_sim_lock_next(s, th, next, end);
}

static void hg_sim_lock_step(struct hg_sim *s, struct hg_sim_th *th)
{
	const struct hg_sim_trace *t = s->t;
	double end = th->t_body + (double)(th->ch_ic1 - th->ch_ic0) * th->scale;
	double next = hg_sim_next_op_time(s, th, th->hs_e);
	if (next <= s->now && th->cur_op < th->nops) {
		const struct hg_sim_op *op = &th->ops[th->cur_op++];
		if (op->kind != HG_SIM_OP_EVENT)
			hg_sim_access(s, th, t->lent_g[op->arg], op->kind == HG_SIM_OP_WRITE, op->arg, th->site);
		next = hg_sim_next_op_time(s, th, th->hs_e);
		hg_sim_lock_next(s, th, next, end);
		return;
	}
	uint32_t lock = th->lock;
	if (s->now >= th->t_st && th->t_st < end) {
		/* A stretch ends before the hold does (no step of the next one has run). */
		if (s->locks[lock].nwf == 0) {
			/* Nobody waits to speculate: the next stretch on the lock. */
			uint32_t len = hg_policy_txlen(th->rec);
			th->st_e = th->st_e + len < th->hs_e ? th->st_e + len : th->hs_e;
			th->t_st = hg_sim_stretch_time(s, th);
			hg_sim_lock_next(s, th, next, end);
			return;
		}
		/* Given back here: the rest of the hold is the next acquisition's. */
		th->ch_e = th->st_e;
		s->r->lock_stretches++;
	} else if (s->now < end) {
		hg_sim_lock_next(s, th, next, end);
		return;
	}
	/* The run is done: unlock, count the section on the lock tier. */
	double d = s->now - th->t_att;
	th->out.locked += d;
	struct hg_sim_site_out *so = &s->r->sites[th->site];
	so->lock_sections++;
	so->cyc_locked += d;
	hg_engine_note_commit(th->rec, HG_TIER_LOCK);
	hg_sim_lock_release(s, lock);
	hg_sim_after_chunk(s, th);
}

/*
 * Starts the children created while th runs instructions [ic_from, ic_to)
 * outside sections from time now, at `scale` cycles per instruction: each at
 * the instruction that created it (children are in order of creation, trace.h).
 */
static void hg_sim_kids(struct hg_sim *s, struct hg_sim_th *th, uint64_t ic_from, uint64_t ic_to,
    double scale)
{
	while (th->kid_next < th->nkids) {
		struct hg_sim_th *k = &s->th[th->kids[th->kid_next]];
		uint64_t sic = s->t->threads[k->idx].start_ic;
		if (sic > ic_to)
			break;
		th->kid_next++;
		double at = s->now + (sic > ic_from ? (double)(sic - ic_from) * scale : 0.0);
		hg_sim_at(s, k, at);
	}
}

/* A transaction or the lock run ended at chunk end: the next one of the hold, or the hold's end. */
static void hg_sim_after_chunk(struct hg_sim *s, struct hg_sim_th *th)
{
	const struct hg_sim_trace *t = s->t;
	if (th->ch_e < th->hs_e) {
		/* Between two chunks of the hold: the instructions outside their markers. */
		uint64_t gap = hg_sim_sub_begin(t, &t->ivals[hg_sim_chunk_of(t, th, th->ch_e)], th->ch_e) -
		    hg_sim_sub_end(t, &t->ivals[hg_sim_chunk_of(t, th, th->ch_e - 1)], th->ch_e - 1);
		double d = (double)gap * s->o->cpi * (gap ? hg_sim_jit(&s->rng_jit, s->o->jitter) : 1.0);
		th->ch_b = th->ch_e;
		th->state = S_INTER;
		th->out.outside += d;
		hg_sim_at(s, th, s->now + d);
		return;
	}
	th->iv = th->hold_e;
	hg_sim_core_release(s, th);
	hg_sim_core_request(s, th);
}

/* On a core: the gap before the next hold (or the thread's last instructions). */
static void hg_sim_segment(struct hg_sim *s, struct hg_sim_th *th)
{
	const struct hg_sim_trace *t = s->t;
	const struct hg_sim_thread_in *ti = &t->threads[th->idx];
	uint64_t from = th->iv == ti->iv0 ? ti->first_ic : t->ivals[th->iv - 1].ic_end;
	uint64_t to = th->iv < th->iv_end ? t->ivals[th->iv].ic_begin : ti->exit_ic;
	if (to < from)
		to = from;
	double scale = s->o->cpi * hg_sim_jit(&s->rng_jit, s->o->jitter);
	double d = (double)(to - from) * scale;
	hg_sim_kids(s, th, from, to, scale);
	th->state = S_GAP;
	th->t_att = s->now;
	th->out.outside += d;
	hg_sim_at(s, th, s->now + d);
}

static void hg_sim_gap_done(struct hg_sim *s, struct hg_sim_th *th)
{
	const struct hg_sim_trace *t = s->t;
	if (th->iv >= th->iv_end) {
		th->state = S_DONE;
		th->out.end = s->now;
		hg_sim_kids(s, th, UINT64_MAX, UINT64_MAX, s->o->cpi);
		hg_sim_core_release(s, th);
		return;
	}
	th->hold_b = th->iv;
	th->hold_e = th->iv + 1;
	while (th->hold_e < th->iv_end && t->ivals[th->hold_e].continues)
		th->hold_e++;
	th->hs_b = t->ivals[th->hold_b].sub0;
	th->hs_e = t->ivals[th->hold_e - 1].sub0 + t->ivals[th->hold_e - 1].nsubs;
	th->ch_b = th->hs_b;
	hg_sim_acquire(s, th);
}

static void hg_sim_fire(struct hg_sim *s, struct hg_sim_th *th)
{
	switch (th->state) {
	case S_NOTSTARTED:
		hg_sim_core_request(s, th);
		break;
	case S_GAP:
		hg_sim_gap_done(s, th);
		break;
	case S_INTER:
		hg_sim_acquire(s, th);
		break;
	case S_ATT:
		hg_sim_att_step(s, th);
		break;
	case S_ABORTED:
		hg_sim_decide(s, th);
		break;
	case S_DELAY:
		th->out.waiting += s->now - th->t_att;
		if (th->then == THEN_LOCK)
			hg_sim_take_lock(s, th);
		else
			hg_sim_attempt(s, th);
		break;
	case S_LOCKED:
		hg_sim_lock_step(s, th);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------ a run */

int hg_sim_run(const struct hg_sim_trace *t, const struct hg_sim_opts *o,
    struct hg_sim_result *r, char *err, size_t errlen)
{
	struct hg_sim S;
	struct hg_sim *s = &S;
	memset(s, 0, sizeof S);
	memset(r, 0, sizeof *r);
	s->t = t;
	s->o = o;
	s->r = r;
	s->ncores = o->cpus;
	s->cyc_per_us = o->ghz * 1000.0;
	s->rng_pol = o->seed * 0x9E3779B97F4A7C15ull + 1;
	s->rng_tim = (o->seed ^ 0xD1B54A32D192ED03ull) * 0xBF58476D1CE4E5B9ull + 1;
	s->rng_jit = (o->seed ^ 0x94D049BB133111EBull) * 0x9E3779B97F4A7C15ull + 1;
	r->cpus = o->cpus;
	r->elide = o->elide;
	r->threads = calloc(t->nthreads, sizeof *r->threads);
	r->sites = calloc(t->nsites ? t->nsites : 1, sizeof *r->sites);
	s->th = calloc(t->nthreads, sizeof *s->th);
	s->cores = calloc(s->ncores, sizeof *s->cores);
	s->rmask = calloc(t->nglines ? t->nglines : 1, sizeof *s->rmask);
	s->wmask = calloc(t->nglines ? t->nglines : 1, sizeof *s->wmask);
	s->locks = calloc(t->nlocks ? t->nlocks : 1, sizeof *s->locks);
	if (!r->threads || !r->sites || !s->th || !s->cores || !s->rmask || !s->wmask || !s->locks) {
		snprintf(err, errlen, "out of memory for the replay");
		return -1;
	}
	for (unsigned c = 0; c < s->ncores; c++) {
		s->cores[c].map = calloc(HG_SIM_LMAP, sizeof *s->cores[c].map);
		s->cores[c].setw = calloc(o->model->l1_sets, sizeof *s->cores[c].setw);
		s->cores[c].gen = 1;
		s->cores[c].th = -1;
		if (!s->cores[c].map || !s->cores[c].setw) {
			snprintf(err, errlen, "out of memory for the replay");
			return -1;
		}
	}
	for (uint32_t i = 0; i < t->nlocks; i++)
		s->locks[i].holder = -1;
	for (uint32_t i = 0; i < t->nthreads; i++) {
		struct hg_sim_th *th = &s->th[i];
		th->idx = i;
		th->slot = -1;
		th->ops_c = UINT32_MAX;
		th->iv = t->threads[i].iv0;
		th->iv_end = t->threads[i].iv0 + t->threads[i].niv;
		th->state = S_NOTSTARTED;
		r->threads[i].instructions = t->threads[i].exit_ic - t->threads[i].first_ic;
	}
	for (uint32_t i = 0; i < t->nthreads; i++) {
		uint32_t p = t->threads[i].parent;
		if (p) {
			struct hg_sim_th *pt = &s->th[p - 1];
			pt->kids = hg_sim_xalloc(pt->kids, (pt->nkids + 1) * sizeof *pt->kids);
			pt->kids[pt->nkids++] = i;
		}
	}
	hg_sim_cur = s;
	hg_policy_set_clock(&hg_sim_clock);
	for (uint32_t i = 0; i < t->nthreads; i++)
		if (!t->threads[i].parent)
			hg_sim_at(s, &s->th[i], 0);
	struct hg_sim_ev e;
	while (hg_sim_pop(s, &e)) {
		struct hg_sim_th *th = &s->th[e.th];
		if (e.epoch != th->epoch)
			continue;
		s->now = e.t;
		hg_sim_fire(s, th);
	}
	hg_policy_set_clock(NULL);
	hg_sim_cur = NULL;
	int rc = 0;
	for (uint32_t i = 0; i < t->nthreads; i++) {
		struct hg_sim_th *th = &s->th[i];
		if (th->state != S_DONE && rc == 0) {
			snprintf(err, errlen, "internal error: thread %u stopped in state %d with nothing "
			    "left to run (a replay that cannot finish)", t->threads[i].serial, th->state);
			rc = -1;
		}
		th->out.instructions = r->threads[i].instructions;
		r->threads[i] = th->out;
		if (th->out.end > r->makespan)
			r->makespan = th->out.end;
		r->busy += th->out.committed + th->out.aborted + th->out.locked + th->out.outside;
		free(th->kids);
		free(th->ops);
	}
	for (unsigned c = 0; c < s->ncores; c++) {
		free(s->cores[c].map);
		free(s->cores[c].setw);
		free(s->cores[c].touched);
	}
	for (uint32_t i = 0; i < t->nlocks; i++) {
		free(s->locks[i].q);
		free(s->locks[i].wf);
	}
	for (uint32_t i = 0; i < s->rec_cap; i++)
		free(s->recs[i]);
	free(s->recs);
	free(s->rec_keys);
	free(s->cmap);
	free(s->heap);
	free(s->coreq);
	free(s->locks);
	free(s->rmask);
	free(s->wmask);
	free(s->cores);
	free(s->th);
	return rc;
}

void hg_sim_result_free(struct hg_sim_result *r)
{
	free(r->threads);
	free(r->sites);
	free(r->conflicts);
	free(r->caps);
	free(r->unf);
	memset(r, 0, sizeof *r);
}
