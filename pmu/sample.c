/* SPDX-License-Identifier: MIT */
/*
 * pmu/sample.c - abort sampling: the PERF_RECORD_SAMPLE parser, the
 * transaction word, the ring buffer of one thread, the per-site table of
 * aborting IPs and their symbols (docs/design.md, "Hardware counters").
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pmu/pmu.h"

/* ---- one record ---- */

/* Fields of fixed size this parser knows, in the order the kernel writes them. */
#define HG_PMU_SAMPLE_KNOWN                                                              \
	(PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |    \
	    PERF_SAMPLE_ADDR | PERF_SAMPLE_ID | PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU |   \
	    PERF_SAMPLE_PERIOD | PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC |                \
	    PERF_SAMPLE_TRANSACTION)

struct hg_pmu_cursor {
	const unsigned char *p;
	size_t left;
};

/* The next n bytes (4 or 8) as a number; false when the record ends first. */
static bool hg_pmu_take(struct hg_pmu_cursor *c, void *out, size_t n)
{
	if (c->left < n)
		return false;
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
	return true;
}

int hg_pmu_parse_sample(const void *rec, size_t len, uint64_t st, struct hg_pmu_rec *out)
{
	struct perf_event_header h;
	memset(out, 0, sizeof *out);
	if (len < sizeof h || (st & ~(uint64_t)HG_PMU_SAMPLE_KNOWN) != 0)
		return -1;
	memcpy(&h, rec, sizeof h);
	if (h.type != PERF_RECORD_SAMPLE || h.size < sizeof h || h.size > len)
		return -1;
	out->exact = (h.misc & PERF_RECORD_MISC_EXACT_IP) != 0;
	struct hg_pmu_cursor c = { (const unsigned char *)rec + sizeof h, h.size - sizeof h };
	uint64_t id = 0;
	/* The fields in the order linux/perf_event.h gives for PERF_RECORD_SAMPLE. */
	if ((st & PERF_SAMPLE_IDENTIFIER) && !hg_pmu_take(&c, &id, 8))
		return -1;
	if ((st & PERF_SAMPLE_IP) && !hg_pmu_take(&c, &out->ip, 8))
		return -1;
	if ((st & PERF_SAMPLE_TID) && !(hg_pmu_take(&c, &out->pid, 4) && hg_pmu_take(&c, &out->tid, 4)))
		return -1;
	if ((st & PERF_SAMPLE_TIME) && !hg_pmu_take(&c, &out->time, 8))
		return -1;
	if ((st & PERF_SAMPLE_ADDR) && !hg_pmu_take(&c, &out->addr, 8))
		return -1;
	if ((st & PERF_SAMPLE_ID) && !hg_pmu_take(&c, &out->id, 8))
		return -1;
	if (st & PERF_SAMPLE_IDENTIFIER)
		out->id = id;
	if ((st & PERF_SAMPLE_STREAM_ID) && !hg_pmu_take(&c, &out->stream_id, 8))
		return -1;
	uint32_t res;
	if ((st & PERF_SAMPLE_CPU) && !(hg_pmu_take(&c, &out->cpu, 4) && hg_pmu_take(&c, &res, 4)))
		return -1;
	if ((st & PERF_SAMPLE_PERIOD) && !hg_pmu_take(&c, &out->period, 8))
		return -1;
	/* READ, CALLCHAIN, RAW, BRANCH_STACK, REGS_USER, STACK_USER: refused above. */
	if ((st & PERF_SAMPLE_WEIGHT) && !hg_pmu_take(&c, &out->weight, 8))
		return -1;
	if ((st & PERF_SAMPLE_DATA_SRC) && !hg_pmu_take(&c, &out->data_src, 8))
		return -1;
	if ((st & PERF_SAMPLE_TRANSACTION) && !hg_pmu_take(&c, &out->txn, 8))
		return -1;
	return 0;
}

struct hg_pmu_txn hg_pmu_txn_decode(uint64_t txn)
{
	struct hg_pmu_txn t;
	t.flags = (uint32_t)(txn & 0xff);
	t.code = (uint32_t)((txn & PERF_TXN_ABORT_MASK) >> PERF_TXN_ABORT_SHIFT);
	return t;
}

char *hg_pmu_txn_str(uint32_t flags, char *buf, size_t len)
{
	static const char *const names[8] = { "elision", "transaction", "sync", "async", "retry",
		"conflict", "capacity_write", "capacity_read" };
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned b = 0; b < 8; b++) {
		if (!(flags & (1u << b)))
			continue;
		if (n >= len)
			break;
		int w = snprintf(buf + n, len - n, "%s%s", n ? "," : "", names[b]);
		if (w > 0)
			n += (size_t)w;
	}
	if (n == 0)
		snprintf(buf, len, "none");
	return buf;
}

/* ---- the aborting IPs per site: one process-wide table ---- */

#define HG_PMU_IPS 4096 /* entries; samples of a full table are dropped */
struct hg_pmu_ip {
	uint64_t site, ip, count;
	uint32_t lock_id, flags, code;
	bool used;
};
static struct hg_pmu_ip hg_pmu_ips[HG_PMU_IPS];
static pthread_mutex_t hg_pmu_ips_mu = PTHREAD_MUTEX_INITIALIZER;

static unsigned hg_pmu_ip_hash(uint32_t lock_id, uint64_t site, uint64_t ip)
{
	uint64_t h = (ip ^ (site * 0x9e3779b97f4a7c15ull) ^ lock_id) * 0xff51afd7ed558ccdull;
	return (unsigned)(h >> 32) & (HG_PMU_IPS - 1);
}

void hg_pmu_ip_note(uint32_t lock_id, uint64_t site, uint64_t ip, uint64_t txn)
{
	struct hg_pmu_txn t = hg_pmu_txn_decode(txn);
	pthread_mutex_lock(&hg_pmu_ips_mu);
	unsigned h = hg_pmu_ip_hash(lock_id, site, ip);
	for (unsigned k = 0; k < HG_PMU_IPS; k++) {
		struct hg_pmu_ip *e = &hg_pmu_ips[(h + k) & (HG_PMU_IPS - 1)];
		if (!e->used) {
			*e = (struct hg_pmu_ip){ site, ip, 0, lock_id, 0, 0, true };
		} else if (e->lock_id != lock_id || e->site != site || e->ip != ip) {
			continue;
		}
		e->count++;
		e->flags |= t.flags;
		e->code = t.code;
		break;
	}
	pthread_mutex_unlock(&hg_pmu_ips_mu);
}

unsigned hg_pmu_top_ips(uint32_t lock_id, uint64_t site, struct hg_pmu_top *out, unsigned max)
{
	unsigned n = 0;
	pthread_mutex_lock(&hg_pmu_ips_mu);
	for (unsigned i = 0; i < HG_PMU_IPS; i++) {
		const struct hg_pmu_ip *e = &hg_pmu_ips[i];
		if (!e->used || e->lock_id != lock_id || e->site != site)
			continue;
		/* insertion into out[0..n), most first; ties by lower IP */
		unsigned j = n < max ? n++ : max;
		while (j > 0 && (out[j - 1].count < e->count ||
		    (out[j - 1].count == e->count && out[j - 1].ip > e->ip))) {
			if (j < max)
				out[j] = out[j - 1];
			j--;
		}
		if (j < max)
			out[j] = (struct hg_pmu_top){ e->ip, e->count, e->flags, e->code };
	}
	pthread_mutex_unlock(&hg_pmu_ips_mu);
	return n;
}

void hg_pmu_ips_reset(void)
{
	pthread_mutex_lock(&hg_pmu_ips_mu);
	memset(hg_pmu_ips, 0, sizeof hg_pmu_ips);
	pthread_mutex_unlock(&hg_pmu_ips_mu);
}

char *hg_pmu_symbol(uint64_t ip, char *buf, size_t len)
{
	Dl_info di;
	memset(&di, 0, sizeof di);
	if (dladdr((void *)(uintptr_t)ip, &di) && di.dli_sname && di.dli_saddr) {
		const char *obj = di.dli_fname ? strrchr(di.dli_fname, '/') : NULL;
		obj = obj ? obj + 1 : di.dli_fname ? di.dli_fname : "?";
		snprintf(buf, len, "%s+0x%lx (%s)", di.dli_sname,
		    (unsigned long)(ip - (uint64_t)(uintptr_t)di.dli_saddr), obj);
	} else if (di.dli_fname && di.dli_fbase) {
		const char *obj = strrchr(di.dli_fname, '/');
		snprintf(buf, len, "%s+0x%lx", obj ? obj + 1 : di.dli_fname,
		    (unsigned long)(ip - (uint64_t)(uintptr_t)di.dli_fbase));
	} else {
		snprintf(buf, len, "0x%llx", (unsigned long long)ip);
	}
	return buf;
}

/* ---- one thread's sampling event and its ring ---- */

int hg_pmu_sample_open(struct hg_pmu_ring *r, const struct hg_pmu_enc *aborted)
{
	r->fd = -1;
	r->base = NULL;
	r->len = 0;
	if (!aborted->ok) {
		errno = ENOENT;
		return -1;
	}
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = aborted->type;
	attr.config = aborted->config;
	attr.config1 = aborted->config1;
	attr.sample_period = HG_PMU_SAMPLE_PERIOD;
	attr.sample_type = HG_PMU_SAMPLE_TYPE;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	/* EventingIP (the aborting instruction) needs precise_ip 2; 1 gives the
	 * fallback handler's address, which still names the region. */
	attr.precise_ip = 2;
	long fd = hg_pmu_open_event(&attr, -1);
	if (fd < 0 && errno == EOPNOTSUPP) {
		attr.precise_ip = 1;
		fd = hg_pmu_open_event(&attr, -1);
	}
	if (fd < 0)
		return -1;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = pg * (1 + ((size_t)1 << HG_PMU_RING_ORDER));
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		close((int)fd);
		errno = e;
		return -1;
	}
	r->fd = (int)fd;
	r->base = p;
	r->len = len;
	return 0;
}

/* n bytes at ring offset off of the data area (size a power of two), across its end. */
static void hg_pmu_ring_copy(void *dst, const unsigned char *data, size_t size, uint64_t off,
    size_t n)
{
	size_t at = (size_t)(off & (size - 1));
	size_t first = n < size - at ? n : size - at;
	memcpy(dst, data + at, first);
	memcpy((unsigned char *)dst + first, data, n - first);
}

unsigned hg_pmu_sample_drain(struct hg_pmu_ring *r, uint32_t lock_id, uint64_t site)
{
	if (r->fd < 0)
		return 0;
	struct perf_event_mmap_page *h = r->base;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	const unsigned char *data = (const unsigned char *)r->base + pg;
	size_t size = r->len - pg;
	/* acquire: pairs with the kernel's release store of data_head after writing records */
	uint64_t head = __atomic_load_n(&h->data_head, __ATOMIC_ACQUIRE);
	/* relaxed: only this thread writes data_tail */
	uint64_t tail = __atomic_load_n(&h->data_tail, __ATOMIC_RELAXED);
	unsigned n = 0;
	while (tail < head) {
		struct perf_event_header eh;
		if (head - tail < sizeof eh)
			break;
		hg_pmu_ring_copy(&eh, data, size, tail, sizeof eh);
		if (eh.size < sizeof eh || eh.size > head - tail)
			break;
		unsigned char buf[256];
		if (eh.type == PERF_RECORD_SAMPLE && eh.size <= sizeof buf) {
			struct hg_pmu_rec rec;
			hg_pmu_ring_copy(buf, data, size, tail, eh.size);
			if (hg_pmu_parse_sample(buf, eh.size, HG_PMU_SAMPLE_TYPE, &rec) == 0) {
				hg_pmu_ip_note(lock_id, site, rec.ip, rec.txn);
				n++;
			}
		}
		tail += eh.size;
	}
	/* release: the records are read before the kernel may overwrite them */
	__atomic_store_n(&h->data_tail, tail, __ATOMIC_RELEASE);
	return n;
}

void hg_pmu_sample_close(struct hg_pmu_ring *r)
{
	if (r->base)
		munmap(r->base, r->len);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->base = NULL;
	r->len = 0;
}
