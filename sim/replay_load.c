/* SPDX-License-Identifier: MIT */
/*
 * sim/replay_load.c - reads a section trace (the contract: sim/trace.h)
 * into struct hg_sim_trace, checking the invariants the replay relies on,
 * and reads site names from a preload report (--names).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "sim/replay.h"

static void hg_sim_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/*
 * The steps of whole chunks, as hg_sim_chunk_ops made them: every run of a
 * process walks most chunks whole, and each run would sort them again.
 * Filled on first use in each process (the replays' children fill their
 * own copies), up to HG_SIM_OPCACHE_MAX steps in all; read-only
 * otherwise.  ent[i] belongs to t->ivals[i]; ops NULL: not cached.
 */
struct hg_sim_opcache {
	struct hg_sim_opc_ent {
		struct hg_sim_op *ops;
		uint32_t n;
	} *ent;
	uint64_t total;
};
#define HG_SIM_OPCACHE_MAX (16u << 20)

/* Grows *p (of *cap elements of size sz) to hold n; exits on no memory. */
static void hg_sim_grow(void *pp, uint32_t *cap, uint64_t n, size_t sz)
{
	void **p = pp;
	if (n <= *cap)
		return;
	uint64_t c = *cap ? *cap : 64;
	while (c < n)
		c *= 2;
	if (c > UINT32_MAX) {
		fprintf(stderr, "htmgil-sim-replay: trace too large (more than 2^32 entries)\n");
		exit(2);
	}
	void *q = realloc(*p, c * sz);
	if (!q) {
		fprintf(stderr, "htmgil-sim-replay: out of memory reading the trace\n");
		exit(2);
	}
	*p = q;
	*cap = (uint32_t)c;
}

/* The replay's per-thread reading state. */
struct hg_sim_rd_thread {
	uint64_t last_ic;
	int open; /* a BEGIN without its END */
	struct hg_sim_begin b;
};

static uint32_t hg_sim_lock_index(struct hg_sim_trace *t, uint32_t *cap, uint32_t id)
{
	for (uint32_t i = 0; i < t->nlocks; i++)
		if (t->locks[i] == id)
			return i;
	hg_sim_grow(&t->locks, cap, t->nlocks + 1, sizeof *t->locks);
	t->locks[t->nlocks] = id;
	return t->nlocks++;
}

/* Open-addressing map (lock id, site key) -> site index. */
struct hg_sim_site_map {
	uint32_t *slot; /* index + 1, 0: empty */
	uint32_t cap;   /* power of two */
};

static uint64_t hg_sim_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint32_t hg_sim_site_index(struct hg_sim_trace *t, uint32_t *cap,
    struct hg_sim_site_map *m, uint32_t lock_id, uint64_t key)
{
	if ((uint64_t)(t->nsites + 1) * 2 > m->cap) {
		uint32_t nc = m->cap ? m->cap * 2 : 64;
		uint32_t *ns = calloc(nc, sizeof *ns);
		if (!ns) {
			fprintf(stderr, "htmgil-sim-replay: out of memory reading the trace\n");
			exit(2);
		}
		for (uint32_t i = 0; i < t->nsites; i++) {
			uint64_t h = hg_sim_mix(t->sites[i].key ^ ((uint64_t)t->sites[i].lock_id << 40));
			uint32_t j = (uint32_t)h & (nc - 1);
			while (ns[j])
				j = (j + 1) & (nc - 1);
			ns[j] = i + 1;
		}
		free(m->slot);
		m->slot = ns;
		m->cap = nc;
	}
	uint64_t h = hg_sim_mix(key ^ ((uint64_t)lock_id << 40));
	uint32_t j = (uint32_t)h & (m->cap - 1);
	while (m->slot[j]) {
		const struct hg_sim_site_in *s = &t->sites[m->slot[j] - 1];
		if (s->key == key && s->lock_id == lock_id)
			return m->slot[j] - 1;
		j = (j + 1) & (m->cap - 1);
	}
	hg_sim_grow(&t->sites, cap, t->nsites + 1, sizeof *t->sites);
	t->sites[t->nsites] = (struct hg_sim_site_in){ lock_id, key };
	m->slot[j] = t->nsites + 1;
	return t->nsites++;
}

/* Numbers the distinct lines of the trace (glines), for the replay's line table. */
static int hg_sim_index_lines(struct hg_sim_trace *t)
{
	uint64_t want = (uint64_t)t->nlents + t->nivals + 1;
	uint32_t cap = 64;
	while (cap < want * 2)
		cap *= 2;
	uint32_t *slot = calloc(cap, sizeof *slot);
	t->lent_g = malloc((size_t)(t->nlents ? t->nlents : 1) * sizeof *t->lent_g);
	t->glines = malloc((size_t)want * sizeof *t->glines);
	if (!slot || !t->lent_g || !t->glines) {
		free(slot);
		return -1;
	}
	/*
	 * A thread's stack is its own: a line of it is keyed by the thread too
	 * (above any address), so stacks that reuse the same memory in turn
	 * (exited threads' stacks, cached by the C library) do not meet.
	 */
	uint32_t *lent_thread = calloc((size_t)(t->nlents ? t->nlents : 1), sizeof *lent_thread);
	if (!lent_thread) {
		free(slot);
		return -1;
	}
	for (uint32_t th = 0; th < t->nthreads; th++)
		for (uint32_t c = t->threads[th].iv0; c < t->threads[th].iv0 + t->threads[th].niv; c++)
			for (uint32_t k = t->ivals[c].le0; k < t->ivals[c].le0 + t->ivals[c].nle; k++)
				lent_thread[k] = t->threads[th].serial;
	for (uint32_t i = 0; i < t->nlents + t->nivals; i++) {
		uint64_t line = i < t->nlents ? t->lents[i].addr >> HG_SIM_LINE_SHIFT
		                              : t->ivals[i - t->nlents].sub_line;
		if (i < t->nlents) {
			uint32_t d = t->lents[i].data;
			if (d && d < t->ndescs && t->descs[d].kind == HG_SIM_D_STACK)
				line |= (uint64_t)lent_thread[i] << HG_SIM_LINE_THREAD_SHIFT;
		}
		uint32_t j = (uint32_t)hg_sim_mix(line) & (cap - 1);
		while (slot[j] && t->glines[slot[j] - 1] != line)
			j = (j + 1) & (cap - 1);
		if (!slot[j]) {
			t->glines[t->nglines] = line;
			slot[j] = ++t->nglines;
		}
		if (i < t->nlents)
			t->lent_g[i] = slot[j] - 1;
		else
			t->ivals[i - t->nlents].sub_g = slot[j] - 1;
	}
	free(lent_thread);
	free(slot);
	return 0;
}

/*
 * Whether sub-interval j of a chunk (starts st, n of them, len
 * instructions) holds offset x: st[j] < x <= the next start (or len); offset
 * 0 is sub-interval 0's (trace.h).
 */
static bool hg_sim_holds(const uint32_t *st, uint32_t n, uint64_t len, unsigned j, uint64_t x)
{
	uint64_t end = j + 1 < n ? st[j + 1] : len;
	return (x > st[j] || (j == 0 && x == 0)) && x <= end;
}

int hg_sim_trace_load(const char *path, struct hg_sim_trace *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	FILE *f = fopen(path, "rb");
	if (!f) {
		hg_sim_err(err, errlen, "cannot open trace %s: %s", path, strerror(errno));
		return -1;
	}
	/* A regular file is mapped (the trace was just written: its pages are
	 * in the page cache, and a copy would fault in as much again); a pipe
	 * is read. */
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0;
	bool mapped = false;
	size_t mapped_len = 0;
	struct stat fst;
	if (fstat(fileno(f), &fst) == 0 && S_ISREG(fst.st_mode) && fst.st_size > 0 &&
	    (uint64_t)fst.st_size <= SIZE_MAX) {
		void *m = mmap(NULL, (size_t)fst.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
		    fileno(f), 0);
		if (m != MAP_FAILED) {
			buf = m;
			n = cap = mapped_len = (size_t)fst.st_size;
			mapped = true;
		}
	}
	for (; !mapped;) {
		if (n == cap) {
			cap = cap ? cap * 2 : (1u << 20);
			unsigned char *nb = realloc(buf, cap);
			if (!nb) {
				fclose(f);
				free(buf);
				hg_sim_err(err, errlen, "out of memory reading trace %s", path);
				return -1;
			}
			buf = nb;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	int rerr = !mapped && ferror(f);
	fclose(f);
	if (rerr) {
		free(buf);
		hg_sim_err(err, errlen, "cannot read trace %s", path);
		return -1;
	}

	int rc = -1;
	struct hg_sim_file_head fh;
	struct hg_sim_rd_thread *rt = NULL;
	uint32_t *iv_thread = NULL;
	uint32_t rt_cap = 0, th_cap = 0, iv_cap = 0, st_cap = 0, ss_cap = 0, le_cap = 0, ev_cap = 0;
	uint32_t de_cap = 0, si_cap = 0, lk_cap = 0, ivt_cap = 0;
	struct hg_sim_site_map smap = { NULL, 0 };
	size_t info_len = 0;
	if (n < sizeof fh) {
		hg_sim_err(err, errlen, "%s: not a section trace (shorter than its header)", path);
		goto out;
	}
	memcpy(&fh, buf, sizeof fh);
	if (memcmp(fh.magic, HG_SIM_MAGIC, 8) != 0) {
		hg_sim_err(err, errlen, "%s: not a section trace (magic is not %s); "
		    "write one with valgrind --tool=htmgilsim", path, HG_SIM_MAGIC);
		goto out;
	}
	if (fh.version != HG_SIM_VERSION) {
		hg_sim_err(err, errlen, "%s: trace version %u, this replay reads version %u; "
		    "record it again with the matching tool", path, fh.version, HG_SIM_VERSION);
		goto out;
	}
	if (fh.line_shift != HG_SIM_LINE_SHIFT) {
		hg_sim_err(err, errlen, "%s: trace line shift %u, the model has 64-byte lines (%u)",
		    path, fh.line_shift, HG_SIM_LINE_SHIFT);
		goto out;
	}
	t->page_size = fh.page_size;
	t->pid = fh.pid;
	size_t pos = sizeof fh;
	while (pos < n) {
		struct hg_sim_rec_head rh;
		if (n - pos < sizeof rh) {
			hg_sim_err(err, errlen, "%s: truncated at byte %zu (a record head cut short)",
			    path, pos);
			goto out;
		}
		memcpy(&rh, buf + pos, sizeof rh);
		pos += sizeof rh;
		if (rh.len > n - pos) {
			hg_sim_err(err, errlen, "%s: truncated at byte %zu (a record of type %u "
			    "needs %u bytes, %zu left)", path, pos - sizeof rh, rh.type, rh.len, n - pos);
			goto out;
		}
		const unsigned char *p = buf + pos;
		size_t at = pos - sizeof rh;
		pos += rh.len;
#define HG_NEED(sz)                                                                         \
	do {                                                                                \
		if (rh.len < (sz)) {                                                        \
			hg_sim_err(err, errlen, "%s: record of type %u at byte %zu is too short " \
			    "(%u bytes)", path, rh.type, at, rh.len);                          \
			goto out;                                                           \
		}                                                                           \
	} while (0)
#define HG_SERIAL(s)                                                                        \
	do {                                                                                \
		if ((s) == 0 || (s) > t->nthreads) {                                        \
			hg_sim_err(err, errlen, "%s: record at byte %zu names thread %u before " \
			    "its THREAD record", path, at, (s));                               \
			goto out;                                                           \
		}                                                                           \
	} while (0)
		switch (rh.type) {
		case HG_SIM_R_THREAD: {
			struct hg_sim_thread r;
			HG_NEED(sizeof r);
			memcpy(&r, p, sizeof r);
			if (r.serial != t->nthreads + 1) {
				hg_sim_err(err, errlen, "%s: THREAD record at byte %zu has serial %u, "
				    "expected %u", path, at, r.serial, t->nthreads + 1);
				goto out;
			}
			hg_sim_grow(&t->threads, &th_cap, t->nthreads + 1, sizeof *t->threads);
			hg_sim_grow(&rt, &rt_cap, t->nthreads + 1, sizeof *rt);
			struct hg_sim_thread_in *th = &t->threads[t->nthreads];
			memset(th, 0, sizeof *th);
			memset(&rt[t->nthreads], 0, sizeof *rt);
			th->serial = r.serial;
			th->parent = r.parent > 0 && r.parent <= t->nthreads ? r.parent : 0;
			th->start_ic = th->parent ? rt[th->parent - 1].last_ic : 0;
			rt[t->nthreads].last_ic = r.icount;
			th->exit_ic = r.icount;
			th->first_ic = r.icount;
			t->nthreads++;
			break;
		}
		case HG_SIM_R_BEGIN: {
			struct hg_sim_begin r;
			HG_NEED(sizeof r);
			memcpy(&r, p, sizeof r);
			HG_SERIAL(r.serial);
			struct hg_sim_rd_thread *x = &rt[r.serial - 1];
			if (x->open || r.icount < x->last_ic) {
				hg_sim_err(err, errlen, "%s: BEGIN at byte %zu of thread %u %s", path, at,
				    r.serial, x->open ? "follows a BEGIN without END" : "goes back in icount");
				goto out;
			}
			x->open = 1;
			x->b = r;
			x->last_ic = r.icount;
			break;
		}
		case HG_SIM_R_END: {
			struct hg_sim_end r;
			HG_NEED(sizeof r);
			memcpy(&r, p, sizeof r);
			HG_SERIAL(r.serial);
			if (r.nsubs == 0 || r.nsubs > HG_SIM_SUBS_MAX) {
				hg_sim_err(err, errlen, "%s: END at byte %zu has %u sub-intervals (1 to %u)",
				    path, at, r.nsubs, HG_SIM_SUBS_MAX);
				goto out;
			}
			uint64_t stb = ((uint64_t)r.nsubs * 4 + 7) & ~(uint64_t)7;
			uint64_t need = sizeof r + stb + (uint64_t)r.nlines * sizeof(struct hg_sim_line) +
			    (uint64_t)r.nevents * sizeof(struct hg_sim_event);
			HG_NEED(need);
			struct hg_sim_rd_thread *x = &rt[r.serial - 1];
			if (!x->open || r.icount < x->b.icount) {
				hg_sim_err(err, errlen, "%s: END at byte %zu of thread %u %s", path, at,
				    r.serial, !x->open ? "without a BEGIN" : "goes back in icount");
				goto out;
			}
			x->open = 0;
			x->last_ic = r.icount;
			t->threads[r.serial - 1].exit_ic = r.icount;
			hg_sim_grow(&t->ivals, &iv_cap, t->nivals + 1, sizeof *t->ivals);
			hg_sim_grow(&iv_thread, &ivt_cap, t->nivals + 1, sizeof *iv_thread);
			struct hg_sim_ival *iv = &t->ivals[t->nivals];
			iv_thread[t->nivals] = r.serial - 1;
			t->nivals++;
			iv->lock = hg_sim_lock_index(t, &lk_cap, x->b.lock_id);
			iv->site = hg_sim_site_index(t, &si_cap, &smap, x->b.lock_id, x->b.site);
			iv->sub_line = x->b.sub_word >> HG_SIM_LINE_SHIFT;
			iv->ic_begin = x->b.icount;
			iv->ic_end = r.icount;
			iv->continues = (x->b.flags & HG_SIM_B_CONTINUES) != 0;
			iv->truncated = (r.flags & HG_SIM_E_TRUNCATED) != 0;
			t->truncated += iv->truncated;
			uint64_t len = r.icount - x->b.icount;
			/* Sub-interval starts: 0, then strictly increasing, within the chunk. */
			const unsigned char *sp = p + sizeof r;
			iv->st0 = t->nsubs;
			iv->nsubs = r.nsubs;
			hg_sim_grow(&t->starts, &st_cap, (uint64_t)t->nsubs + r.nsubs, sizeof *t->starts);
			hg_sim_grow(&t->sub_site, &ss_cap, (uint64_t)t->nsubs + r.nsubs, sizeof *t->sub_site);
			for (uint32_t j = 0; j < r.nsubs; j++) {
				uint32_t v;
				memcpy(&v, sp + 4 * (size_t)j, 4);
				if ((j == 0 && v != 0) || (j > 0 && v <= t->starts[t->nsubs - 1]) || v > len) {
					hg_sim_err(err, errlen, "%s: END at byte %zu: sub-interval %u starts at %u "
					    "(starts are 0, then increase, within the chunk's %" PRIu64
					    " instructions)", path, at, j, v, len);
					goto out;
				}
				t->starts[t->nsubs++] = v;
			}
			const uint32_t *st = t->starts + iv->st0;
			uint64_t subs = r.nsubs == 64 ? ~0ull : (1ull << r.nsubs) - 1;
			const unsigned char *lp = sp + stb;
			iv->le0 = t->nlents;
			for (uint32_t i = 0; i < r.nlines; i++) {
				struct hg_sim_line l;
				memcpy(&l, lp + (size_t)i * sizeof l, sizeof l);
				bool w = l.first_write != HG_SIM_NONE;
				uint64_t am = l.rmask | l.wmask;
				if (l.first > len + 1 || (w && (l.first_write > len + 1 || l.first_write < l.first))) {
					hg_sim_err(err, errlen, "%s: END at byte %zu: line 0x%" PRIx64 " has offsets "
					    "outside its chunk of %" PRIu64 " instructions", path, at, l.addr, len);
					goto out;
				}
				if (am == 0 || (am & ~subs) || w != (l.wmask != 0) ||
				    !hg_sim_holds(st, r.nsubs, len, (unsigned)__builtin_ctzll(am), l.first) ||
				    (w && !hg_sim_holds(st, r.nsubs, len, (unsigned)__builtin_ctzll(l.wmask),
				    l.first_write))) {
					hg_sim_err(err, errlen, "%s: END at byte %zu: line 0x%" PRIx64 " has masks "
					    "0x%" PRIx64 "/0x%" PRIx64 " that do not match its %u sub-intervals and "
					    "first accesses", path, at, l.addr, l.rmask, l.wmask, r.nsubs);
					goto out;
				}
				hg_sim_grow(&t->lents, &le_cap, (uint64_t)t->nlents + 1, sizeof *t->lents);
				t->lents[t->nlents++] = (struct hg_sim_lent){ l.addr, l.rmask, l.wmask, l.first,
					l.first_write, l.code, l.code_write, l.data };
			}
			iv->nle = t->nlents - iv->le0;
			const unsigned char *ep = lp + (size_t)r.nlines * sizeof(struct hg_sim_line);
			iv->ev0 = t->nevs;
			if (r.nevents) {
				hg_sim_grow(&t->evs, &ev_cap, (uint64_t)t->nevs + r.nevents, sizeof *t->evs);
				memcpy(&t->evs[t->nevs], ep, (size_t)r.nevents * sizeof(struct hg_sim_event));
			}
			t->nevs += r.nevents;
			iv->nev = r.nevents;
			/* Each sub-interval's site, after the events; absent, the BEGIN's for all. */
			const unsigned char *sitep = ep + (size_t)r.nevents * sizeof(struct hg_sim_event);
			int have_sites = rh.len >= need + 8 * (uint64_t)r.nsubs;
			for (uint32_t j = 0; j < r.nsubs; j++) {
				uint64_t key = x->b.site;
				if (have_sites)
					memcpy(&key, sitep + 8 * (size_t)j, 8);
				t->sub_site[iv->st0 + j] = j == 0 ? iv->site :
				    hg_sim_site_index(t, &si_cap, &smap, x->b.lock_id, key);
			}
			break;
		}
		case HG_SIM_R_DESC: {
			struct hg_sim_desc r;
			HG_NEED(sizeof r);
			memcpy(&r, p, sizeof r);
			if (r.id == 0 || r.text_len == 0 || r.text_len > rh.len - sizeof r) {
				hg_sim_err(err, errlen, "%s: DESC at byte %zu has id %u and text of %u bytes "
				    "(record of %u)", path, at, r.id, r.text_len, rh.len);
				goto out;
			}
			hg_sim_grow(&t->descs, &de_cap, (uint64_t)r.id + 1, sizeof *t->descs);
			if (r.id >= t->ndescs) {
				memset(t->descs + t->ndescs, 0, (r.id + 1 - t->ndescs) * sizeof *t->descs);
				t->ndescs = r.id + 1;
			}
			struct hg_sim_desc_in *d = &t->descs[r.id];
			free(d->text);
			d->kind = r.kind;
			d->base = r.base;
			d->size = r.size;
			d->text = malloc(r.text_len);
			if (!d->text) {
				hg_sim_err(err, errlen, "out of memory reading trace %s", path);
				goto out;
			}
			memcpy(d->text, p + sizeof r, r.text_len);
			d->text[r.text_len - 1] = '\0';
			break;
		}
		case HG_SIM_R_EXIT: {
			struct hg_sim_exit r;
			HG_NEED(sizeof r);
			memcpy(&r, p, sizeof r);
			HG_SERIAL(r.serial);
			if (r.icount >= rt[r.serial - 1].last_ic)
				t->threads[r.serial - 1].exit_ic = r.icount;
			break;
		}
		case HG_SIM_R_INFO: {
			size_t l = strnlen((const char *)p, rh.len);
			char *ni = realloc(t->info, info_len + l + 3);
			if (!ni) {
				hg_sim_err(err, errlen, "out of memory reading trace %s", path);
				goto out;
			}
			t->info = ni;
			if (info_len) {
				memcpy(t->info + info_len, "; ", 2);
				info_len += 2;
			}
			memcpy(t->info + info_len, p, l);
			info_len += l;
			t->info[info_len] = '\0';
			break;
		}
		default:
			break; /* a record type this reader does not know: skipped by len */
		}
#undef HG_NEED
#undef HG_SERIAL
	}
	if (t->nthreads == 0) {
		hg_sim_err(err, errlen, "%s: the trace holds no thread", path);
		goto out;
	}
	t->lent_am = malloc((size_t)(t->nlents ? t->nlents : 1) * sizeof *t->lent_am);
	if (!t->lent_am) {
		hg_sim_err(err, errlen, "out of memory reading trace %s", path);
		goto out;
	}
	for (uint32_t i = 0; i < t->nlents; i++)
		t->lent_am[i] = t->lents[i].rmask | t->lents[i].wmask;
	/* Every id used must be defined (trace.h); an undefined one reads as 0. */
	for (uint32_t i = 0; i < t->nlents; i++) {
		struct hg_sim_lent *l = &t->lents[i];
		uint32_t *ids[3] = { &l->code, &l->code_write, &l->data };
		for (int k = 0; k < 3; k++)
			if (*ids[k] >= t->ndescs || !t->descs[*ids[k]].text)
				*ids[k] = 0;
	}
	/* Intervals grouped by thread, in each thread's order (a stable counting sort). */
	{
		uint32_t *cnt = calloc(t->nthreads + 1, sizeof *cnt);
		struct hg_sim_ival *sorted = malloc((size_t)(t->nivals ? t->nivals : 1) * sizeof *sorted);
		if (!cnt || !sorted) {
			free(cnt);
			free(sorted);
			hg_sim_err(err, errlen, "out of memory reading trace %s", path);
			goto out;
		}
		for (uint32_t i = 0; i < t->nivals; i++)
			cnt[iv_thread[i] + 1]++;
		for (uint32_t k = 0; k < t->nthreads; k++) {
			t->threads[k].iv0 = cnt[k];
			t->threads[k].niv = cnt[k + 1];
			cnt[k + 1] += cnt[k];
		}
		for (uint32_t i = 0; i < t->nivals; i++)
			sorted[cnt[iv_thread[i]]++] = t->ivals[i];
		free(cnt);
		free(t->ivals);
		t->ivals = sorted;
		/* Global sub-interval numbers, in the sorted order (< nsubs, which fits 32 bits). */
		uint32_t k = 0;
		for (uint32_t i = 0; i < t->nivals; i++) {
			t->ivals[i].sub0 = k;
			k += t->ivals[i].nsubs;
		}
	}
	if (hg_sim_index_lines(t) != 0) {
		hg_sim_err(err, errlen, "out of memory indexing the lines of trace %s", path);
		goto out;
	}
	if (!(t->cache = calloc(1, sizeof *t->cache))) {
		hg_sim_err(err, errlen, "out of memory loading trace %s", path);
		goto out;
	}
	rc = 0;
out:
	if (mapped)
		munmap(buf, mapped_len);
	else
		free(buf);
	free(rt);
	free(iv_thread);
	free(smap.slot);
	if (rc)
		hg_sim_trace_free(t);
	return rc;
}

void hg_sim_trace_free(struct hg_sim_trace *t)
{
	for (uint32_t i = 0; i < t->ndescs; i++)
		free(t->descs[i].text);
	free(t->descs);
	free(t->threads);
	free(t->ivals);
	free(t->starts);
	free(t->sub_site);
	free(t->lents);
	free(t->lent_am);
	free(t->evs);
	free(t->sites);
	free(t->locks);
	free(t->info);
	free(t->glines);
	free(t->lent_g);
	if (t->cache) {
		for (uint32_t i = 0; t->cache->ent && i < t->nivals; i++)
			free(t->cache->ent[i].ops);
		free(t->cache->ent);
		free(t->cache);
	}
	memset(t, 0, sizeof *t);
}

const char *hg_sim_desc_text(const struct hg_sim_trace *t, uint32_t id)
{
	if (id == 0 || id >= t->ndescs || !t->descs[id].text)
		return NULL;
	return t->descs[id].text;
}


uint64_t hg_sim_sub_begin(const struct hg_sim_trace *t, const struct hg_sim_ival *c, uint32_t k)
{
	return c->ic_begin + t->starts[c->st0 + (k - c->sub0)];
}

uint64_t hg_sim_sub_end(const struct hg_sim_trace *t, const struct hg_sim_ival *c, uint32_t k)
{
	uint32_t j = k - c->sub0;
	return j + 1 < c->nsubs ? c->ic_begin + t->starts[c->st0 + j + 1] : c->ic_end;
}

/* Ops in time order; at one time reads, then writes, then events; then
 * by index (a total order: the replay is deterministic). */
static inline int hg_sim_op_lt(const struct hg_sim_op *x, const struct hg_sim_op *y)
{
	if (x->at != y->at)
		return x->at < y->at;
	if (x->kind != y->kind)
		return x->kind < y->kind;
	return x->arg < y->arg;
}

/*
 * Sorts o[0..n) with tmp[0..n) as scratch: insertion sort on runs of 16,
 * then bottom-up merges.  The ops of one range come nearly in order (lines
 * are listed by first access), so a sorted input is detected first.
 */
static void hg_sim_ops_sort(struct hg_sim_op *o, struct hg_sim_op *tmp, uint32_t n)
{
	uint32_t i;
	for (i = 1; i < n && !hg_sim_op_lt(&o[i], &o[i - 1]); i++)
		;
	if (i >= n)
		return;
	enum { RUN = 16 };
	for (uint32_t b = 0; b < n; b += RUN) {
		uint32_t e = b + RUN < n ? b + RUN : n;
		for (uint32_t j = b + 1; j < e; j++) {
			struct hg_sim_op v = o[j];
			uint32_t k = j;
			while (k > b && hg_sim_op_lt(&v, &o[k - 1])) {
				o[k] = o[k - 1];
				k--;
			}
			o[k] = v;
		}
	}
	struct hg_sim_op *src = o, *dst = tmp;
	for (uint32_t w = RUN; w < n; w *= 2) {
		for (uint32_t b = 0; b < n; b += 2 * w) {
			uint32_t m = b + w < n ? b + w : n, e = b + 2 * w < n ? b + 2 * w : n;
			uint32_t x = b, y = m, k = b;
			while (x < m && y < e)
				dst[k++] = hg_sim_op_lt(&src[y], &src[x]) ? src[y++] : src[x++];
			while (x < m)
				dst[k++] = src[x++];
			while (y < e)
				dst[k++] = src[y++];
		}
		struct hg_sim_op *t = src;
		src = dst;
		dst = t;
	}
	if (src != o)
		memcpy(o, src, (size_t)n * sizeof *o);
}

/*
 * The offset in chunk c at which an access recorded at `off` in
 * sub-interval j0 happens in sub-interval j >= j0: the recorded offset in
 * j0; in a later one, the same distance from its start, clipped to its
 * length (a loop touches the line at the same point of each iteration).
 */
static uint32_t hg_sim_at_in(const struct hg_sim_trace *t, const struct hg_sim_ival *c, unsigned j,
    unsigned j0, uint32_t off)
{
	const uint32_t *st = t->starts + c->st0;
	if (j == j0)
		return off;
	uint32_t len = (uint32_t)((j + 1 < c->nsubs ? c->ic_begin + st[j + 1] : c->ic_end) -
	    (c->ic_begin + st[j]));
	uint32_t d = off - st[j0]; /* in [0, its length]: the loader checked that j0 holds off */
	return st[j] + (d < len ? d : len);
}

static uint32_t hg_sim_chunk_ops_make(const struct hg_sim_trace *t, const struct hg_sim_ival *c,
    uint32_t a, uint32_t b, struct hg_sim_op **ops, uint32_t *cap);

uint32_t hg_sim_chunk_ops(const struct hg_sim_trace *t, const struct hg_sim_ival *c, uint32_t a,
    uint32_t b, struct hg_sim_op **ops, uint32_t *cap)
{
	struct hg_sim_opcache *oc = t->cache;
	if (!oc || a != c->sub0 || b != c->sub0 + c->nsubs)
		return hg_sim_chunk_ops_make(t, c, a, b, ops, cap);
	if (!oc->ent && !(oc->ent = calloc(t->nivals ? t->nivals : 1, sizeof *oc->ent)))
		return hg_sim_chunk_ops_make(t, c, a, b, ops, cap);
	struct hg_sim_opc_ent *e = &oc->ent[c - t->ivals];
	if (e->ops) {
		hg_sim_grow(ops, cap, 2 * ((uint64_t)c->nle * 2 + c->nev), sizeof **ops);
		memcpy(*ops, e->ops, (size_t)e->n * sizeof **ops);
		return e->n;
	}
	uint32_t n = hg_sim_chunk_ops_make(t, c, a, b, ops, cap);
	if (oc->total + n <= HG_SIM_OPCACHE_MAX && (e->ops = malloc((size_t)(n ? n : 1) * sizeof **ops))) {
		memcpy(e->ops, *ops, (size_t)n * sizeof **ops);
		e->n = n;
		oc->total += n;
	}
	return n;
}

static uint32_t hg_sim_chunk_ops_make(const struct hg_sim_trace *t, const struct hg_sim_ival *c,
    uint32_t a, uint32_t b, struct hg_sim_op **ops, uint32_t *cap)
{
	unsigned la = a - c->sub0, lb = b - c->sub0; /* 0 <= la < lb <= nsubs */
	uint64_t range = (lb >= 64 ? ~0ull : (1ull << lb) - 1) & ~((1ull << la) - 1);
	uint32_t n = 0;
	uint64_t most = (uint64_t)c->nle * 2 + c->nev;
	hg_sim_grow(ops, cap, 2 * most, sizeof **ops); /* the upper half: the sort's scratch */
	struct hg_sim_op *o = *ops;
	const uint64_t *ams = t->lent_am;
	for (uint32_t i = c->le0; i < c->le0 + c->nle; i++) {
		uint64_t am = ams[i];
		if (!(am & range))
			continue;
		const struct hg_sim_lent *l = &t->lents[i];
		uint32_t ta = hg_sim_at_in(t, c, (unsigned)__builtin_ctzll(am & range),
		    (unsigned)__builtin_ctzll(am), l->first);
		if (l->wmask & range) {
			uint32_t tw = hg_sim_at_in(t, c, (unsigned)__builtin_ctzll(l->wmask & range),
			    (unsigned)__builtin_ctzll(l->wmask), l->first_write);
			if (ta < tw)
				o[n++] = (struct hg_sim_op){ ta, HG_SIM_OP_READ, i };
			o[n++] = (struct hg_sim_op){ tw, HG_SIM_OP_WRITE, i };
		} else
			o[n++] = (struct hg_sim_op){ ta, HG_SIM_OP_READ, i };
	}
	/* An event belongs to the sub-interval holding `at` (trace.h). */
	const uint32_t *st = t->starts + c->st0;
	for (uint32_t i = c->ev0; i < c->ev0 + c->nev; i++) {
		uint32_t at = t->evs[i].at;
		unsigned lo = 0, hi = c->nsubs; /* the last j with st[j] < at, or 0 */
		while (hi - lo > 1) {
			unsigned mid = (lo + hi) / 2;
			if (st[mid] < at)
				lo = mid;
			else
				hi = mid;
		}
		if (lo >= la && lo < lb)
			o[n++] = (struct hg_sim_op){ at, HG_SIM_OP_EVENT, i };
	}
	hg_sim_ops_sort(o, o + most, n);
	return n;
}

/* ------------------------------------------------------------ --names */

/*
 * A scanner for the one shape --names needs (docs/report.md, "JSON"):
 * locks[].id, .name, .sites[].key, .name.  The replay's C has no
 * dependency beyond libc and the library (as the report writer itself),
 * and these four members need no general JSON library: the scanner walks
 * every value and skips what it does not use.
 */
struct hg_js {
	const char *p, *end;
	int bad;
};

static void hg_js_ws(struct hg_js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

/* Reads a string into a new buffer (NULL: not a string); \uXXXX kept as '?'. */
static char *hg_js_str(struct hg_js *j)
{
	hg_js_ws(j);
	if (j->p >= j->end || *j->p != '"') {
		j->bad = 1;
		return NULL;
	}
	j->p++;
	size_t cap = 32, n = 0;
	char *s = malloc(cap);
	while (s && j->p < j->end && *j->p != '"') {
		char c = *j->p++;
		if (c == '\\' && j->p < j->end) {
			c = *j->p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': c = '?'; j->p += (j->end - j->p >= 4) ? 4 : j->end - j->p; break;
			default: break;
			}
		}
		if (n + 2 > cap) {
			char *ns = realloc(s, cap *= 2);
			if (!ns) {
				free(s);
				s = NULL;
				break;
			}
			s = ns;
		}
		s[n++] = c;
	}
	if (!s || j->p >= j->end) {
		free(s);
		j->bad = 1;
		return NULL;
	}
	j->p++;
	s[n] = '\0';
	return s;
}

static void hg_js_skip(struct hg_js *j, int depth);

static void hg_js_skip_seq(struct hg_js *j, char close, int obj, int depth)
{
	j->p++;
	hg_js_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return;
	}
	while (!j->bad) {
		if (obj) {
			free(hg_js_str(j));
			hg_js_ws(j);
			if (j->p >= j->end || *j->p != ':') {
				j->bad = 1;
				return;
			}
			j->p++;
		}
		hg_js_skip(j, depth + 1);
		hg_js_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return;
		}
		j->bad = 1;
	}
}

static void hg_js_skip(struct hg_js *j, int depth)
{
	hg_js_ws(j);
	if (j->p >= j->end || depth > 64) {
		j->bad = 1;
		return;
	}
	char c = *j->p;
	if (c == '"')
		free(hg_js_str(j));
	else if (c == '{')
		hg_js_skip_seq(j, '}', 1, depth);
	else if (c == '[')
		hg_js_skip_seq(j, ']', 0, depth);
	else {
		const char *s = j->p;
		while (j->p < j->end && !strchr(",]} \n\t\r", *j->p))
			j->p++;
		if (j->p == s)
			j->bad = 1;
	}
}

/* Iterates the members of an object: returns the key (caller frees) with p at the value, NULL at its end. */
static char *hg_js_member(struct hg_js *j, int *first)
{
	hg_js_ws(j);
	if (*first) {
		if (j->p >= j->end || *j->p != '{') {
			j->bad = 1;
			return NULL;
		}
		j->p++;
		*first = 0;
		hg_js_ws(j);
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return NULL;
		}
	} else {
		if (j->p < j->end && *j->p == ',')
			j->p++;
		else {
			if (j->p < j->end && *j->p == '}')
				j->p++;
			else
				j->bad = 1;
			return NULL;
		}
	}
	char *k = hg_js_str(j);
	hg_js_ws(j);
	if (!k || j->p >= j->end || *j->p != ':') {
		free(k);
		j->bad = 1;
		return NULL;
	}
	j->p++;
	return k;
}

/* Iterates the elements of an array: 1 with p at the next element, 0 at its end. */
static int hg_js_elem(struct hg_js *j, int *first)
{
	hg_js_ws(j);
	if (*first) {
		if (j->p >= j->end || *j->p != '[') {
			j->bad = 1;
			return 0;
		}
		j->p++;
		*first = 0;
		hg_js_ws(j);
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return 0;
		}
		return 1;
	}
	if (j->p < j->end && *j->p == ',') {
		j->p++;
		return 1;
	}
	if (j->p < j->end && *j->p == ']')
		j->p++;
	else
		j->bad = 1;
	return 0;
}

static void *hg_sim_more(void *p, unsigned n, size_t sz)
{
	void *q = realloc(p, (size_t)(n + 1) * sz);
	if (!q) {
		fprintf(stderr, "htmgil-sim-replay: out of memory reading names\n");
		exit(2);
	}
	return q;
}

static void hg_js_sites(struct hg_js *j, struct hg_sim_names *nm, uint32_t lock_id)
{
	int fa = 1;
	while (!j->bad && hg_js_elem(j, &fa)) {
		int fo = 1;
		char *k, *name = NULL;
		uint64_t key = 0;
		int have_key = 0;
		while (!j->bad && (k = hg_js_member(j, &fo))) {
			if (strcmp(k, "key") == 0) {
				char *v = hg_js_str(j);
				if (v) {
					char *e;
					key = strtoull(v, &e, 16);
					have_key = *v && !*e;
				}
				free(v);
			} else if (strcmp(k, "name") == 0) {
				free(name);
				name = hg_js_str(j);
			} else
				hg_js_skip(j, 2);
			free(k);
		}
		if (have_key && name) {
			nm->sites = hg_sim_more(nm->sites, nm->nsites, sizeof *nm->sites);
			nm->sites[nm->nsites].lock_id = lock_id;
			nm->sites[nm->nsites].key = key;
			nm->sites[nm->nsites++].name = name;
		} else
			free(name);
	}
}

int hg_sim_names_load(const char *path, struct hg_sim_names *nm, char *err, size_t errlen)
{
	memset(nm, 0, sizeof *nm);
	FILE *f = fopen(path, "rb");
	if (!f) {
		hg_sim_err(err, errlen, "cannot open names report %s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, n = 0, k;
	char *buf = malloc(cap);
	while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	fclose(f);
	if (!buf) {
		hg_sim_err(err, errlen, "out of memory reading names report %s", path);
		return -1;
	}
	struct hg_js j = { buf, buf + n, 0 };
	int fo = 1, seen_locks = 0;
	char *key;
	while (!j.bad && (key = hg_js_member(&j, &fo))) {
		if (strcmp(key, "locks") != 0) {
			hg_js_skip(&j, 1);
			free(key);
			continue;
		}
		free(key);
		seen_locks = 1;
		int fa = 1;
		while (!j.bad && hg_js_elem(&j, &fa)) {
			/* The sites may come before the id: read them into a buffer, then relabel. */
			int fl = 1;
			char *k2, *name = NULL;
			uint32_t id = 0;
			unsigned s0 = nm->nsites;
			while (!j.bad && (k2 = hg_js_member(&j, &fl))) {
				if (strcmp(k2, "id") == 0) {
					hg_js_ws(&j);
					id = (uint32_t)strtoul(j.p, NULL, 10);
					hg_js_skip(&j, 2);
				} else if (strcmp(k2, "name") == 0) {
					free(name);
					name = hg_js_str(&j);
				} else if (strcmp(k2, "sites") == 0)
					hg_js_sites(&j, nm, 0);
				else
					hg_js_skip(&j, 2);
				free(k2);
			}
			for (unsigned i = s0; i < nm->nsites; i++)
				nm->sites[i].lock_id = id;
			if (name) {
				nm->locks = hg_sim_more(nm->locks, nm->nlocks, sizeof *nm->locks);
				nm->locks[nm->nlocks].id = id;
				nm->locks[nm->nlocks++].name = name;
			}
		}
	}
	free(buf);
	if (j.bad || !seen_locks) {
		hg_sim_err(err, errlen, "%s: not an htmgil report (no locks[] found%s); --names takes "
		    "the JSON report of htmgil run --report FILE.json", path, j.bad ? ", or bad JSON" : "");
		return -1;
	}
	return 0;
}

const char *hg_sim_lock_name(const struct hg_sim_names *n, uint32_t id)
{
	for (unsigned i = 0; n && i < n->nlocks; i++)
		if (n->locks[i].id == id)
			return n->locks[i].name;
	return NULL;
}

const char *hg_sim_site_name(const struct hg_sim_names *n, uint32_t lock_id, uint64_t key)
{
	for (unsigned i = 0; n && i < n->nsites; i++)
		if (n->sites[i].key == key && n->sites[i].lock_id == lock_id)
			return n->sites[i].name;
	return NULL;
}

void hg_sim_names_free(struct hg_sim_names *n)
{
	for (unsigned i = 0; i < n->nlocks; i++)
		free(n->locks[i].name);
	for (unsigned i = 0; i < n->nsites; i++)
		free(n->sites[i].name);
	free(n->locks);
	free(n->sites);
	memset(n, 0, sizeof *n);
}
