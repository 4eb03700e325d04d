/* SPDX-License-Identifier: MIT */
/*
 * engine/trace.c - the section timeline (engine/trace.h, docs/report.md,
 * "Timeline").
 *
 * Per thread: a stack of open sections (thread-local, HG_TRACE_DEPTH deep;
 * nested sections of other locks push, a close pops down to its own entry,
 * an open of a record already on the stack drops what lies above it, which
 * never closed: a failed trylock) and a ring of the last cap events.
 *
 * The ring (struct hg_trace_ring): written only by its thread, read by the
 * report.  Event i (0-based, ever increasing) lives in slot[i % cap].  To
 * write event j the owner stores pending = j + 1 (relaxed), then the slot's
 * words with release stores (each orders the pending store before it),
 * then count = j + 1 (release).  A reader loads count with acquire (pairs
 * with that store: events below count are complete), copies the slots with
 * acquire loads, then loads pending: a slot it read that the owner was
 * overwriting (event j) shows pending >= j + 1 (the acquire load of a word
 * stored by release), so every event i < pending - cap may be torn and is
 * dropped.  Invariants: count <= pending <= count + 1; events kept are
 * [max(count, pending) - cap, count).
 *
 * Rings are linked into hg_trace_head (under hg_trace_mutex) in the order
 * threads first record, and stay after their thread exits, as counters do.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/trace.h"
#include "engine/engine.h"

uint32_t hg_trace_cap;

#define HG_TRACE_DEPTH 8

struct hg_trace_slot {
	uint64_t t0, t1, site;
	uint64_t meta; /* lock_id << 32 | tier << 28 | attempts (28 bits, saturated) */
};

struct hg_trace_ring {
	struct hg_trace_ring *next; /* under hg_trace_mutex */
	uint32_t ordinal;           /* the thread's number in the report, from 0 */
	uint32_t cap;
	uint32_t retired;           /* 1: left by hg_trace_configure, never read again */
	uint64_t pending;
	uint64_t count;
	struct hg_trace_slot slot[];
};

struct hg_trace_entry {
	struct hg_site_rec *rec;
	uint64_t t0;
	uint64_t attempts; /* rec->st.attempts at open */
};

static pthread_mutex_t hg_trace_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct hg_trace_ring *hg_trace_head, **hg_trace_tail = &hg_trace_head;
static uint32_t hg_trace_threads; /* ordinals handed out, under hg_trace_mutex */

static HG_TLS struct hg_trace_ring *hg_trace_self;
static HG_TLS struct hg_trace_entry hg_trace_stack[HG_TRACE_DEPTH];
static HG_TLS unsigned hg_trace_depth;

void hg_trace_open_slow(struct hg_site_rec *rec)
{
	unsigned d = hg_trace_depth;
	for (unsigned i = d; i-- > 0;)
		if (hg_trace_stack[i].rec == rec) {
			d = i;
			break;
		}
	if (d == HG_TRACE_DEPTH) {
		/* Too deep: the outermost section goes unrecorded. */
		memmove(&hg_trace_stack[0], &hg_trace_stack[1], (HG_TRACE_DEPTH - 1) * sizeof hg_trace_stack[0]);
		d--;
	}
	hg_trace_stack[d].rec = rec;
	hg_trace_stack[d].attempts = hg_atomic_load_relaxed64(&rec->st.attempts);
	hg_trace_stack[d].t0 = hg_cycles();
	hg_trace_depth = d + 1;
}

/* The calling thread's ring, made on first use; NULL when out of memory. */
static struct hg_trace_ring *hg_trace_ring_self(void)
{
	struct hg_trace_ring *r = hg_trace_self;
	uint32_t cap = hg_atomic_load_relaxed32(&hg_trace_cap);
	if (HG_LIKELY(r && !hg_atomic_load_relaxed32(&r->retired)))
		return r;
	if (cap == 0)
		return NULL;
	r = calloc(1, sizeof *r + (size_t)cap * sizeof r->slot[0]);
	if (!r)
		return NULL;
	r->cap = cap;
	pthread_mutex_lock(&hg_trace_mutex);
	r->ordinal = hg_trace_threads++;
	*hg_trace_tail = r;
	hg_trace_tail = &r->next;
	pthread_mutex_unlock(&hg_trace_mutex);
	hg_trace_self = r;
	return r;
}

void hg_trace_close_slow(struct hg_site_rec *rec, enum hg_tier tier, bool emu)
{
	uint64_t t1 = hg_cycles();
	unsigned i = hg_trace_depth;
	while (i > 0 && hg_trace_stack[i - 1].rec != rec)
		i--;
	if (i == 0)
		return; /* opened before recording began, or never opened */
	const struct hg_trace_entry *e = &hg_trace_stack[i - 1];
	hg_trace_depth = i - 1;
	struct hg_trace_ring *r = hg_trace_ring_self();
	if (!r)
		return;
	uint64_t att = hg_atomic_load_relaxed64(&rec->st.attempts) - e->attempts;
	if (att > 0x0fffffffu)
		att = 0x0fffffffu;
	uint64_t code = emu && tier == HG_TIER_HTM ? HG_TRACE_TIER_EMU : (uint64_t)tier;
	/* Relaxed: only this thread writes count and pending. */
	uint64_t j = hg_atomic_load_relaxed64(&r->count);
	hg_atomic_store_relaxed64(&r->pending, j + 1);
	struct hg_trace_slot *s = &r->slot[j % r->cap];
	/* Release: each orders the pending store before it (see the file comment). */
	hg_atomic_store_release64(&s->t0, e->t0);
	hg_atomic_store_release64(&s->t1, t1);
	hg_atomic_store_release64(&s->site, rec->site);
	hg_atomic_store_release64(&s->meta, (uint64_t)rec->lock_id << 32 | code << 28 | att);
	/* Release: pairs with the acquire load of count in hg_trace_copy(). */
	hg_atomic_store_release64(&r->count, j + 1);
}

/* Copies r's complete events, oldest first, into out (r->cap of them at most). */
static size_t hg_trace_copy(struct hg_trace_ring *r, struct hg_trace_event *out)
{
	uint64_t cap = r->cap;
	/* Acquire: pairs with the release store of count in hg_trace_close_slow(). */
	uint64_t c1 = hg_atomic_load_acquire64(&r->count);
	uint64_t lo = c1 > cap ? c1 - cap : 0;
	size_t n = 0;
	for (uint64_t i = lo; i < c1; i++) {
		const struct hg_trace_slot *s = &r->slot[i % cap];
		/* Acquire: each pairs with the owner's release store of that word,
		 * so the pending load below sees the write that stored it. */
		struct hg_trace_event *ev = &out[n++];
		ev->t0 = hg_atomic_load_acquire64(&s->t0);
		ev->t1 = hg_atomic_load_acquire64(&s->t1);
		ev->site = hg_atomic_load_acquire64(&s->site);
		uint64_t meta = hg_atomic_load_acquire64(&s->meta);
		ev->lock_id = (uint32_t)(meta >> 32);
		ev->tier = (uint32_t)(meta >> 28) & 0xfu;
		ev->attempts = (uint32_t)(meta & 0x0fffffffu);
	}
	/* Relaxed: ordered after the acquire loads above. */
	uint64_t c2 = hg_atomic_load_relaxed64(&r->pending);
	uint64_t ok = c2 > cap ? c2 - cap : 0;
	if (ok <= lo)
		return n;
	size_t drop = ok - lo >= n ? n : (size_t)(ok - lo);
	memmove(out, out + drop, (n - drop) * sizeof *out);
	return n - drop;
}

int hg_trace_each(void (*fn)(uint32_t, const struct hg_trace_event *, size_t, void *), void *arg)
{
	int rc = 0;
	/* Held throughout: a thread's first event links a ring (briefly waits). */
	pthread_mutex_lock(&hg_trace_mutex);
	for (struct hg_trace_ring *r = hg_trace_head; r; r = r->next) {
		if (hg_atomic_load_relaxed32(&r->retired))
			continue;
		struct hg_trace_event *ev = malloc((size_t)r->cap * sizeof *ev);
		if (!ev) {
			rc = -1;
			continue;
		}
		size_t n = hg_trace_copy(r, ev);
		if (n)
			fn(r->ordinal, ev, n, arg);
		free(ev);
	}
	pthread_mutex_unlock(&hg_trace_mutex);
	return rc;
}

int hg_trace_parse(const char *v, uint32_t *out)
{
	if (!v || v[0] < '0' || v[0] > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (*end || errno || n > HG_TRACE_MAX)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

void hg_trace_configure(uint32_t n)
{
	if (n > HG_TRACE_MAX)
		n = HG_TRACE_MAX;
	pthread_mutex_lock(&hg_trace_mutex);
	/* No section runs: relaxed stores; each ring's thread makes a new one. */
	for (struct hg_trace_ring *r = hg_trace_head; r; r = r->next)
		hg_atomic_store_relaxed32(&r->retired, 1);
	hg_trace_threads = 0;
	hg_atomic_store_relaxed32(&hg_trace_cap, n);
	pthread_mutex_unlock(&hg_trace_mutex);
	hg_trace_depth = 0;
}

/* A fork child: only the forking thread is left; its timeline starts empty. */
static void hg_trace_atfork_child(void)
{
	pthread_mutex_init(&hg_trace_mutex, NULL);
	struct hg_trace_ring *next;
	for (struct hg_trace_ring *r = hg_trace_head; r; r = next) {
		next = r->next;
		free(r);
	}
	hg_trace_head = NULL;
	hg_trace_tail = &hg_trace_head;
	hg_trace_threads = 0;
	hg_trace_self = NULL;
}

/* Priority 103: after engine/env.c's constructor (102), before the front ends'. */
__attribute__((constructor(103))) static void hg_trace_init(void)
{
	pthread_atfork(NULL, NULL, hg_trace_atfork_child);
	const char *v = getenv("HTMGIL_TRACE");
	if (!v || !*v)
		return;
	uint32_t n;
	if (hg_trace_parse(v, &n) != 0) {
		hg_warn("HTMGIL_TRACE=\"%s\" is not a number of events per thread in 0..%u; "
		        "the timeline is off", v, HG_TRACE_MAX);
		return;
	}
	hg_trace_configure(n);
}

/* ---- the report ---- */

static pthread_once_t hg_tsc_once = PTHREAD_ONCE_INIT;
static double hg_tsc_hz;

static void hg_tsc_measure(void)
{
	struct timespec a, b, pause = { 0, 10 * 1000 * 1000 };
	clock_gettime(CLOCK_MONOTONIC, &a);
	uint64_t c0 = hg_cycles();
	while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &b);
	uint64_t c1 = hg_cycles();
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
	hg_tsc_hz = s > 0 && c1 > c0 ? (double)(c1 - c0) / s : 0.0;
}

double hg_trace_tsc_hz(void)
{
	pthread_once(&hg_tsc_once, hg_tsc_measure);
	return hg_tsc_hz;
}

struct hg_trace_key {
	uint32_t lock_id;
	uint64_t site;
	unsigned index;
};

static int hg_trace_key_cmp(const void *a, const void *b)
{
	const struct hg_trace_key *x = a, *y = b;
	if (x->lock_id != y->lock_id)
		return x->lock_id < y->lock_id ? -1 : 1;
	return x->site < y->site ? -1 : x->site > y->site;
}

struct hg_trace_out {
	FILE *f;
	struct hg_trace_key *keys;
	unsigned nkeys;
	bool first;
};

static const char *hg_trace_tier_name(uint32_t t)
{
	return t == HG_TRACE_TIER_EMU ? "emu" : hg_tier_name((enum hg_tier)t);
}

static void hg_trace_thread_json(uint32_t ordinal, const struct hg_trace_event *ev, size_t n, void *arg)
{
	struct hg_trace_out *o = arg;
	fprintf(o->f, "%s{\"thread\":%u,\"events\":[", o->first ? "" : ",", ordinal);
	o->first = false;
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		struct hg_trace_key k = { ev[i].lock_id, ev[i].site, 0 };
		const struct hg_trace_key *hit = o->nkeys ? bsearch(&k, o->keys, o->nkeys, sizeof k,
		    hg_trace_key_cmp) : NULL;
		if (!hit)
			continue; /* counters reset since: no site to refer to */
		fprintf(o->f, "%s[%llu,%llu,%u,\"%s\",%u]", first ? "" : ",",
		    (unsigned long long)ev[i].t0, (unsigned long long)ev[i].t1, hit->index,
		    hg_trace_tier_name(ev[i].tier), ev[i].attempts);
		first = false;
	}
	fputs("]}", o->f);
}

void hg_trace_write_json(FILE *f, const struct hg_stats_snapshot *snap)
{
	uint32_t cap = hg_atomic_load_relaxed32(&hg_trace_cap);
	if (cap == 0) {
		fputs(",\"timeline\":null", f);
		return;
	}
	struct hg_trace_out o = { f, NULL, 0, true };
	if (snap->n) {
		o.keys = malloc(snap->n * sizeof *o.keys);
		if (!o.keys) {
			fputs(",\"timeline\":null", f);
			return;
		}
		for (unsigned i = 0; i < snap->n; i++)
			o.keys[i] = (struct hg_trace_key){ snap->rows[i].lock_id, snap->rows[i].site, i };
		o.nkeys = snap->n;
		qsort(o.keys, o.nkeys, sizeof *o.keys, hg_trace_key_cmp);
	}
	fprintf(f, ",\"timeline\":{\"tsc_hz\":%.0f,\"events_per_thread\":%u,\"threads\":[",
	    hg_trace_tsc_hz(), cap);
	hg_trace_each(hg_trace_thread_json, &o);
	fputs("]}", f);
	free(o.keys);
}
