/* SPDX-License-Identifier: MIT */
/*
 * engine/site.c - per-thread site records, the lock registry, site names and
 * statistics snapshots.
 *
 * Each thread owns a table of struct hg_site_rec, one per (lock id, site)
 * it has used.  Only the owner writes a record, always outside transactions
 * (counters with hg_counter_add, policy fields with relaxed stores).
 * Snapshots read them with relaxed loads while holding hg_reg_mutex, which
 * also guards the list of live tables, so a table cannot be freed under a
 * snapshot.  A thread's records are folded into hg_retired (under the same
 * mutex) when it exits, so nothing counted is lost.
 *
 * Publication: a new record is fully initialized, then linked at the head of
 * its table's .all list with a release store; snapshots load the head with
 * acquire (pairs with hg_site_rec_new()).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"
#include "engine/engine.h"

struct hg_thread_tab {
	struct hg_site_rec **bucket;
	unsigned mask;  /* bucket count - 1 */
	unsigned n;     /* records */
	struct hg_site_rec *all; /* every record, newest first (release-published) */
	struct hg_thread_tab *prev, *next; /* live list, under hg_reg_mutex */
};

static pthread_mutex_t hg_reg_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct hg_thread_tab *hg_live;     /* live tables */
/* Tables in hg_live: written under hg_reg_mutex, read relaxed (an estimate). */
static uint32_t hg_live_n;
/*
 * Per lock id below HG_LOCK_USERS_MAX: live threads with a record of it.
 * Each thread's first record of a lock adds 1 (.lock_first), and freeing it
 * takes 1 away; atomic adds, read relaxed (an estimate for the policy).
 */
#define HG_LOCK_USERS_MAX 4096u
static uint32_t hg_lock_users[HG_LOCK_USERS_MAX];
static struct hg_stats_row *hg_retired;   /* folded rows of exited threads */
static unsigned hg_nretired, hg_capretired;
static pthread_key_t hg_tab_key;
static pthread_once_t hg_tab_once = PTHREAD_ONCE_INIT;

static HG_TLS struct hg_thread_tab *hg_tab;
HG_TLS struct hg_site_rec *hg_site_last;
/* The record hg_site_last held before it: a section alternating between two
 * sites (a loop's call and its callee's entry) finds both without hashing.
 * Both are this thread's, NULL once its table is freed. */
static HG_TLS struct hg_site_rec *hg_site_prev;

/* ---- lock registry ---- */

static char **hg_lock_names;  /* index = id; [0] is the anonymous lock */
static uint32_t hg_nlocks = 1;
static uint32_t hg_caplocks;

uint32_t hg_lock_register(const char *name)
{
	pthread_mutex_lock(&hg_reg_mutex);
	if (hg_nlocks >= hg_caplocks) {
		uint32_t cap = hg_caplocks ? hg_caplocks * 2 : 64;
		char **n = realloc(hg_lock_names, cap * sizeof *n);
		if (!n) {
			pthread_mutex_unlock(&hg_reg_mutex);
			return 0; /* out of memory: count it as anonymous */
		}
		memset(n + hg_caplocks, 0, (cap - hg_caplocks) * sizeof *n);
		hg_lock_names = n;
		hg_caplocks = cap;
	}
	uint32_t id = hg_nlocks++;
	hg_lock_names[id] = strdup(name ? name : "");
	pthread_mutex_unlock(&hg_reg_mutex);
	return id;
}

const char *hg_lock_name(uint32_t id)
{
	const char *s = "(anonymous)";
	pthread_mutex_lock(&hg_reg_mutex);
	if (id && id < hg_nlocks && hg_lock_names[id])
		s = hg_lock_names[id];
	pthread_mutex_unlock(&hg_reg_mutex);
	return s; /* names are never freed */
}

/* ---- site names ---- */

struct hg_site_name {
	uint64_t key;
	char *name;
	struct hg_site_name *next;
};
#define HG_SITE_BUCKETS 256
static struct hg_site_name *hg_site_names[HG_SITE_BUCKETS];
static hg_site_resolver hg_resolver;

uint64_t hg_site(const char *name)
{
	/* FNV-1a, top bit set: keys with the top bit are reserved for names. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	h |= 1ull << 63;
	unsigned b = (unsigned)(h % HG_SITE_BUCKETS);
	pthread_mutex_lock(&hg_reg_mutex);
	struct hg_site_name *e;
	for (e = hg_site_names[b]; e; e = e->next)
		if (e->key == h)
			break;
	if (!e && (e = malloc(sizeof *e)) != NULL) {
		e->key = h;
		e->name = strdup(name);
		e->next = hg_site_names[b];
		hg_site_names[b] = e;
	}
	pthread_mutex_unlock(&hg_reg_mutex);
	return h;
}

void hg_site_set_resolver(hg_site_resolver fn)
{
	pthread_mutex_lock(&hg_reg_mutex);
	hg_resolver = fn;
	pthread_mutex_unlock(&hg_reg_mutex);
}

const char *hg_site_name(uint64_t key, char *buf, unsigned len)
{
	if (key == 0) {
		snprintf(buf, len, "(anonymous)");
		return buf;
	}
	pthread_mutex_lock(&hg_reg_mutex);
	for (struct hg_site_name *e = hg_site_names[key % HG_SITE_BUCKETS]; e; e = e->next)
		if (e->key == key) {
			snprintf(buf, len, "%s", e->name);
			pthread_mutex_unlock(&hg_reg_mutex);
			return buf;
		}
	hg_site_resolver fn = hg_resolver;
	pthread_mutex_unlock(&hg_reg_mutex);
	if (fn && fn(key, buf, len) == 0)
		return buf;
	snprintf(buf, len, "0x%016" PRIx64, key);
	return buf;
}

/* ---- per-thread tables ---- */

unsigned hg_site_thread_count(void)
{
	return hg_atomic_load_relaxed32(&hg_live_n);
}

unsigned hg_site_lock_threads(uint32_t lock_id)
{
	if (lock_id >= HG_LOCK_USERS_MAX)
		return hg_site_thread_count();
	return hg_atomic_load_relaxed32(&hg_lock_users[lock_id]);
}

static void hg_stats_add(struct hg_site_stats *d, const struct hg_site_stats *s);

/* Folds a table into hg_retired; caller holds hg_reg_mutex. */
static void hg_fold_locked(struct hg_thread_tab *t);

/* Frees a table unlinked from hg_live (or never linked) and all its records. */
static void hg_tab_free(struct hg_thread_tab *t)
{
	for (struct hg_site_rec *r = t->all, *n; r; r = n) {
		n = r->all;
		if (r->lock_first)
			__atomic_fetch_sub(&hg_lock_users[r->lock_id], 1, __ATOMIC_RELAXED);
		hg_policy_site_fini(&r->pol);
		free(r);
	}
	free(t->bucket);
	free(t);
}

static void hg_tab_destroy(void *p)
{
	struct hg_thread_tab *t = p;
	pthread_mutex_lock(&hg_reg_mutex);
	hg_fold_locked(t);
	if (t->prev)
		t->prev->next = t->next;
	else
		hg_live = t->next;
	if (t->next)
		t->next->prev = t->prev;
	hg_atomic_store_relaxed32(&hg_live_n, hg_live_n - 1);
	pthread_mutex_unlock(&hg_reg_mutex);
	hg_tab_free(t);
	hg_tab = NULL;
	hg_site_last = NULL;
	hg_site_prev = NULL;
}

static void hg_tab_key_init(void)
{
	pthread_key_create(&hg_tab_key, hg_tab_destroy);
}

static struct hg_thread_tab *hg_tab_new(void)
{
	pthread_once(&hg_tab_once, hg_tab_key_init);
	struct hg_thread_tab *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->mask = 63;
	t->bucket = calloc(t->mask + 1, sizeof *t->bucket);
	if (!t->bucket) {
		free(t);
		return NULL;
	}
	pthread_mutex_lock(&hg_reg_mutex);
	t->next = hg_live;
	if (hg_live)
		hg_live->prev = t;
	hg_live = t;
	hg_atomic_store_relaxed32(&hg_live_n, hg_live_n + 1);
	pthread_mutex_unlock(&hg_reg_mutex);
	pthread_setspecific(hg_tab_key, t);
	hg_tab = t;
	return t;
}

static inline unsigned hg_rec_hash(uint32_t lock_id, uint64_t site)
{
	uint64_t h = (site ^ ((uint64_t)lock_id << 40) ^ lock_id) * 0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> 40);
}

static void hg_tab_grow(struct hg_thread_tab *t)
{
	unsigned nmask = t->mask * 2 + 1;
	struct hg_site_rec **nb = calloc(nmask + 1, sizeof *nb);
	if (!nb)
		return; /* keep the longer chains */
	for (unsigned i = 0; i <= t->mask; i++)
		for (struct hg_site_rec *r = t->bucket[i], *n; r; r = n) {
			n = r->next;
			unsigned b = hg_rec_hash(r->lock_id, r->site) & nmask;
			r->next = nb[b];
			nb[b] = r;
		}
	free(t->bucket);
	t->bucket = nb;
	t->mask = nmask;
}

static struct hg_site_rec hg_rec_oom; /* last resort: shared, counts may race */

static struct hg_site_rec *hg_site_rec_new(struct hg_thread_tab *t, uint32_t lock_id, uint64_t site)
{
	/* Own cache lines: the owner writes its counters on every section, and
	 * two threads' records must not share a line. */
	size_t sz = (sizeof(struct hg_site_rec) + HG_CACHELINE - 1) & ~(size_t)(HG_CACHELINE - 1);
	struct hg_site_rec *r = aligned_alloc(HG_CACHELINE, sz);
	if (!r)
		return &hg_rec_oom;
	memset(r, 0, sz);
	r->lock_id = lock_id;
	r->site = site;
	hg_policy_site_init(&r->pol);
	if (lock_id < HG_LOCK_USERS_MAX) {
		/* A new record is rare (once per site and thread): a scan. */
		struct hg_site_rec *o = t->all;
		while (o && o->lock_id != lock_id)
			o = o->all;
		if (!o) {
			r->lock_first = 1;
			__atomic_fetch_add(&hg_lock_users[lock_id], 1, __ATOMIC_RELAXED);
		}
	}
	if (t->n + 1 > (t->mask + 1) * 2)
		hg_tab_grow(t);
	unsigned b = hg_rec_hash(lock_id, site) & t->mask;
	r->next = t->bucket[b];
	t->bucket[b] = r;
	t->n++;
	r->all = t->all;
	/* release: pairs with the acquire load of .all in snapshots */
	hg_atomic_store_release_ptr((void **)&t->all, r);
	return r;
}

struct hg_site_rec *hg_site_rec_lookup(uint32_t lock_id, uint64_t site)
{
	struct hg_site_rec *r = hg_site_prev;
	if (r && r->site == site && r->lock_id == lock_id) {
		hg_site_prev = hg_site_last;
		hg_site_last = r;
		return r;
	}
	struct hg_thread_tab *t = hg_tab;
	if (HG_UNLIKELY(!t) && !(t = hg_tab_new()))
		return &hg_rec_oom;
	for (r = t->bucket[hg_rec_hash(lock_id, site) & t->mask]; r; r = r->next)
		if (r->lock_id == lock_id && r->site == site)
			break;
	if (!r)
		r = hg_site_rec_new(t, lock_id, site);
	if (hg_site_last != &hg_rec_oom)
		hg_site_prev = hg_site_last;
	hg_site_last = r;
	return r;
}

/* ---- snapshots ---- */

#define HG_N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * hg_stats_add sums struct hg_site_stats as an array of uint64_t from its
 * start up to .tier_now.  That is valid while every field before .tier_now
 * is a uint64_t (or an array of them) and they leave no padding: the sizes
 * of those fields, each checked to be uint64_t, add up to .tier_now's offset.
 * A field added before .tier_now must be a counter and be named here.
 */
#define HG_STATS_AT(f) (((const struct hg_site_stats *)0)->f)
#define HG_STATS_U64(f) _Generic(HG_STATS_AT(f), uint64_t: sizeof(HG_STATS_AT(f)), default: 0)
#define HG_STATS_U64S(f) _Generic(HG_STATS_AT(f)[0], uint64_t: sizeof(HG_STATS_AT(f)), default: 0)
_Static_assert(offsetof(struct hg_site_stats, acquisitions) == 0,
    "struct hg_site_stats: the counters start the struct");
_Static_assert(HG_STATS_U64(acquisitions) + HG_STATS_U64(attempts) + HG_STATS_U64S(commits) +
	HG_STATS_U64(commits_emu) + HG_STATS_U64S(aborts) + HG_STATS_U64S(explicit_codes) +
	HG_STATS_U64S(demotions) + HG_STATS_U64S(promotions) + HG_STATS_U64(reprobes) +
	HG_STATS_U64(skips) + HG_STATS_U64(bad_releases) + HG_STATS_U64(stm_aborts) +
	HG_STATS_U64S(cycles) + HG_STATS_U64(pmu_reads) + HG_STATS_U64(pmu_cycles_commit) +
	HG_STATS_U64(pmu_cycles_abort) + HG_STATS_U64S(pmu_events) + HG_STATS_U64(timed) +
	HG_STATS_U64S(time) + HG_STATS_U64S(aborts_one) == offsetof(struct hg_site_stats, tier_now),
    "struct hg_site_stats: the fields before tier_now must be uint64_t counters without padding "
    "(hg_stats_add sums them as one array)");

static void hg_stats_add(struct hg_site_stats *d, const struct hg_site_stats *s)
{
	/* The counters are the uint64_t fields up to .tier_now (asserted above); read each relaxed. */
	const uint64_t *sp = (const uint64_t *)s;
	uint64_t *dp = (uint64_t *)d;
	for (size_t i = 0; i < offsetof(struct hg_site_stats, tier_now) / sizeof(uint64_t); i++)
		dp[i] += hg_atomic_load_relaxed64(&sp[i]);
}

struct hg_snap_builder {
	struct hg_stats_row *rows;
	unsigned n, cap;
	double *rate_sum;   /* per row: sum of thread estimates */
	unsigned *nrate;    /* per row: threads contributing */
};

static struct hg_stats_row *hg_snap_row(struct hg_snap_builder *b, uint32_t lock_id, uint64_t site)
{
	for (unsigned i = 0; i < b->n; i++)
		if (b->rows[i].lock_id == lock_id && b->rows[i].site == site)
			return &b->rows[i];
	if (b->n == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 32;
		struct hg_stats_row *nr = realloc(b->rows, cap * sizeof *nr);
		double *rs = realloc(b->rate_sum, cap * sizeof *rs);
		unsigned *nn = realloc(b->nrate, cap * sizeof *nn);
		if (nr)
			b->rows = nr;
		if (rs)
			b->rate_sum = rs;
		if (nn)
			b->nrate = nn;
		if (!nr || !rs || !nn)
			return NULL;
		b->cap = cap;
	}
	struct hg_stats_row *r = &b->rows[b->n];
	memset(r, 0, sizeof *r);
	r->lock_id = lock_id;
	r->site = site;
	b->rate_sum[b->n] = 0;
	b->nrate[b->n] = 0;
	b->n++;
	return r;
}

static void hg_fold_locked(struct hg_thread_tab *t)
{
	for (struct hg_site_rec *r = t->all; r; r = r->all) {
		struct hg_stats_row *row = NULL;
		for (unsigned i = 0; i < hg_nretired; i++)
			if (hg_retired[i].lock_id == r->lock_id && hg_retired[i].site == r->site)
				row = &hg_retired[i];
		if (!row) {
			if (hg_nretired == hg_capretired) {
				unsigned cap = hg_capretired ? hg_capretired * 2 : 32;
				struct hg_stats_row *n = realloc(hg_retired, cap * sizeof *n);
				if (!n)
					continue;
				hg_retired = n;
				hg_capretired = cap;
			}
			row = &hg_retired[hg_nretired++];
			memset(row, 0, sizeof *row);
			row->lock_id = r->lock_id;
			row->site = r->site;
		}
		hg_stats_add(&row->s, &r->st);
		row->s.tier_now = r->pol.tier;
		row->s.txlen = r->pol.txlen;
		row->s.txlen_cap = r->pol.txlen_cap;
		row->s.yield_cycles = r->pol.yield_cyc;
		if (r->st.next_site)
			row->s.next_site = r->st.next_site;
		row->s.abort_rate = r->pol.rate_q16 / (double)HG_Q16;
	}
}

int hg_stats_snapshot(struct hg_stats_snapshot *out)
{
	struct hg_snap_builder b = { 0 };
	pthread_mutex_lock(&hg_reg_mutex);
	for (unsigned i = 0; i < hg_nretired; i++) {
		struct hg_stats_row *row = hg_snap_row(&b, hg_retired[i].lock_id, hg_retired[i].site);
		if (!row)
			continue;
		hg_stats_add(&row->s, &hg_retired[i].s);
		row->s.tier_now = hg_retired[i].s.tier_now;
		row->s.txlen = hg_retired[i].s.txlen;
		row->s.txlen_cap = hg_retired[i].s.txlen_cap;
		row->s.yield_cycles = hg_retired[i].s.yield_cycles;
		if (hg_retired[i].s.next_site)
			row->s.next_site = hg_retired[i].s.next_site;
	}
	for (struct hg_thread_tab *t = hg_live; t; t = t->next) {
		/* acquire: pairs with the release in hg_site_rec_new() */
		for (struct hg_site_rec *r = hg_atomic_load_acquire_ptr((void *const *)&t->all); r; r = r->all) {
			struct hg_stats_row *row = hg_snap_row(&b, r->lock_id, r->site);
			if (!row)
				continue;
			unsigned idx = (unsigned)(row - b.rows);
			hg_stats_add(&row->s, &r->st);
			row->s.tier_now = hg_atomic_load_relaxed32(&r->pol.tier);
			row->s.txlen = hg_atomic_load_relaxed32(&r->pol.txlen);
			row->s.txlen_cap = hg_atomic_load_relaxed32(&r->pol.txlen_cap);
			/* one writer; a torn read cannot happen on 32 bits */
			row->s.yield_cycles = hg_atomic_load_relaxed32(&r->pol.yield_cyc);
			uint64_t next = hg_atomic_load_relaxed64(&r->st.next_site);
			if (next)
				row->s.next_site = next;
			b.rate_sum[idx] += hg_atomic_load_relaxed32(&r->pol.rate_q16) / (double)HG_Q16;
			b.nrate[idx]++;
		}
	}
	pthread_mutex_unlock(&hg_reg_mutex);
	for (unsigned i = 0; i < b.n; i++)
		if (b.nrate[i])
			b.rows[i].s.abort_rate = b.rate_sum[i] / b.nrate[i];
	free(b.rate_sum);
	free(b.nrate);
	out->rows = b.rows;
	out->n = b.n;
	return 0;
}

void hg_stats_free(struct hg_stats_snapshot *s)
{
	free(s->rows);
	s->rows = NULL;
	s->n = 0;
}

void hg_stats_get(const struct hg_lock *l, uint64_t site, struct hg_site_stats *out)
{
	struct hg_stats_snapshot s;
	memset(out, 0, sizeof *out);
	hg_stats_snapshot(&s);
	for (unsigned i = 0; i < s.n; i++)
		if (s.rows[i].lock_id == l->id && s.rows[i].site == site)
			*out = s.rows[i].s;
	hg_stats_free(&s);
}

void hg_stats_reset(void)
{
	pthread_mutex_lock(&hg_reg_mutex);
	hg_nretired = 0;
	for (struct hg_thread_tab *t = hg_live; t; t = t->next)
		for (struct hg_site_rec *r = t->all; r; r = r->all) {
			/* Other threads must be quiescent (documented): plain resets. */
			memset(&r->st, 0, sizeof r->st);
			r->t0 = 0;
			hg_policy_site_reset(&r->pol);
		}
	pthread_mutex_unlock(&hg_reg_mutex);
	hg_report_time_reset();
}

/* ---- fork ---- */

/*
 * fork() without exec: the child's statistics are its own (docs/report.md).
 * hg_reg_mutex is held across fork() so the child finds the registry
 * consistent; the child drops the tables of the threads it does not have,
 * the folded rows of exited threads, and zeroes the counters of the forking
 * thread's records, keeping their policy state (tier, rates, costs).
 */
static void hg_fork_prepare(void)
{
	pthread_mutex_lock(&hg_reg_mutex);
}

static void hg_fork_parent(void)
{
	pthread_mutex_unlock(&hg_reg_mutex);
}

static void hg_fork_child(void)
{
	hg_nretired = 0;
	for (struct hg_thread_tab *t = hg_live, *next; t; t = next) {
		next = t->next;
		if (t == hg_tab)
			continue;
		hg_tab_free(t); /* a thread the child does not have */
	}
	hg_live = hg_tab;
	hg_atomic_store_relaxed32(&hg_live_n, hg_tab ? 1 : 0);
	if (hg_tab) {
		hg_tab->prev = hg_tab->next = NULL;
		for (struct hg_site_rec *r = hg_tab->all; r; r = r->all)
			memset(&r->st, 0, sizeof r->st);
	}
	memset(&hg_rec_oom.st, 0, sizeof hg_rec_oom.st);
	pthread_mutex_unlock(&hg_reg_mutex);
	hg_report_forked();
}

void hg_stats_atfork_install(void)
{
	pthread_atfork(hg_fork_prepare, hg_fork_parent, hg_fork_child);
}
