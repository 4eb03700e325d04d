/* SPDX-License-Identifier: MIT */
/*
 * tests/pmu/test_pmu.c - the hardware-counter module without a PMU.
 *
 *   test_pmu          the open pointer, the forced-PMU guard, the sample
 *                     parser and transaction word on synthetic records, a
 *                     synthetic ring, the IP table, accounting, the read
 *                     fallback, the open-failure messages
 *   test_pmu encode   the encodings for the model LIBPFM_FORCE_PMU names
 *                     (skl, icl, spr); skipped (77) without libpfm4 or when
 *                     libpfm4 does not know the model
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hg_test.h"
#include "htmgil/htmgil.h"
#include "engine/site.h"
#include "pmu/pmu.h"

/* ---- the open pointer and the guard ---- */

static int fake_calls;
static long fake_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group,
    unsigned long flags)
{
	(void)attr, (void)pid, (void)cpu, (void)group, (void)flags;
	fake_calls++;
	errno = ENOENT;
	return -1;
}

/* Runs first: nothing has encoded the table yet, LIBPFM_FORCE_PMU is unset. */
static void test_open_goes_through_pointer(void)
{
	if (getenv("LIBPFM_FORCE_PMU"))
		HG_SKIP("LIBPFM_FORCE_PMU set by the caller");
	hg_pmu_open_fn saved = hg_pmu_open_impl;
	hg_pmu_open_impl = fake_open;
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	fake_calls = 0;
	HG_EXPECT_EQ(hg_pmu_open_event(&attr, -1), -1);
	HG_EXPECT_EQ(fake_calls, 1); /* so the fake sees every open: the guard test means something */
	hg_pmu_open_impl = saved;
}

/* Lines written to stderr by fn(), captured through a temporary file. */
static int stderr_lines(void (*fn)(void), char *text, size_t len)
{
	fflush(stderr);
	FILE *tmp = tmpfile();
	int saved = dup(2);
	if (!tmp || saved < 0 || dup2(fileno(tmp), 2) < 0)
		return -1;
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(text, 1, len - 1, tmp);
	text[n] = '\0';
	fclose(tmp);
	int lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += text[i] == '\n';
	return lines;
}

static enum hg_pmu_mode guard_mode;
static int guard_start, guard_read;
static void guard_body(void)
{
	struct hg_pmu_sample s;
	struct hg_site_stats st;
	memset(&st, 0, sizeof st);
	guard_mode = hg_pmu_enable(HG_PMU_SAMPLING);
	guard_start = hg_pmu_thread_start();
	guard_read = hg_pmu_read(&s);
	hg_pmu_spec_begin();
	hg_pmu_spec_end(&st, 1, 2);
	struct hg_pmu_ring r;
	hg_pmu_sample_open(&r, &hg_pmu_table()[HG_PMU_TX_ABORTED]);
	hg_pmu_sample_close(&r);
}

static void test_forced_pmu_never_opened(void)
{
	const char *was = getenv("LIBPFM_FORCE_PMU");
	if (!was)
		setenv("LIBPFM_FORCE_PMU", "skl", 1);
	hg_pmu_open_fn saved = hg_pmu_open_impl;
	hg_pmu_open_impl = fake_open;
	fake_calls = 0;

	char text[4096];
	int lines = stderr_lines(guard_body, text, sizeof text);
	HG_EXPECT_EQ(fake_calls, 0);
	HG_EXPECT_EQ(lines, 1);
	HG_EXPECT(strstr(text, "LIBPFM_FORCE_PMU=") != NULL);
	HG_EXPECT(strstr(text, "encoding tests only") != NULL);
	HG_EXPECT_EQ(guard_mode, HG_PMU_OFF);
	HG_EXPECT_EQ(hg_pmu_on, 0);
	HG_EXPECT_EQ(guard_start, -1);
	HG_EXPECT_EQ(guard_read, -1);

	/* The one open path refuses by itself, whatever its callers checked. */
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	errno = 0;
	HG_EXPECT_EQ(hg_pmu_open_event(&attr, -1), -1);
	HG_EXPECT_EQ(errno, EPERM);
	HG_EXPECT_EQ(fake_calls, 0);
	if (text[0])
		fprintf(stderr, "(the line: %s)", text);

	hg_pmu_open_impl = saved;
	if (!was)
		unsetenv("LIBPFM_FORCE_PMU");
}

/* ---- HTMGIL_PMU's values ---- */

static void test_parse(void)
{
	HG_EXPECT_EQ(hg_pmu_parse(NULL), HG_PMU_OFF);
	HG_EXPECT_EQ(hg_pmu_parse(""), HG_PMU_OFF);
	HG_EXPECT_EQ(hg_pmu_parse("0"), HG_PMU_OFF);
	HG_EXPECT_EQ(hg_pmu_parse("off"), HG_PMU_OFF);
	HG_EXPECT_EQ(hg_pmu_parse("1"), HG_PMU_COUNTING);
	HG_EXPECT_EQ(hg_pmu_parse("on"), HG_PMU_COUNTING);
	HG_EXPECT_EQ(hg_pmu_parse("sample"), HG_PMU_SAMPLING);
	HG_EXPECT_EQ(hg_pmu_parse("bogus"), -1);
	HG_EXPECT_EQ(hg_pmu_parse("2"), -1);
	HG_EXPECT_EQ(hg_pmu_parse("samples"), -1);
}

/* ---- the sample parser ---- */

struct rec_builder {
	unsigned char b[256];
	size_t n;
};
static void put(struct rec_builder *r, const void *p, size_t n)
{
	memcpy(r->b + r->n, p, n);
	r->n += n;
}
static void put64(struct rec_builder *r, uint64_t v) { put(r, &v, 8); }
static void put32(struct rec_builder *r, uint32_t v) { put(r, &v, 4); }
static void rec_begin(struct rec_builder *r, uint16_t misc)
{
	struct perf_event_header h = { PERF_RECORD_SAMPLE, misc, 0 };
	r->n = 0;
	put(r, &h, sizeof h);
}
static void rec_end(struct rec_builder *r)
{
	uint16_t size = (uint16_t)r->n;
	memcpy(r->b + offsetof(struct perf_event_header, size), &size, sizeof size);
}

static void test_parse_ip_tid_time_txn(void)
{
	struct rec_builder r;
	uint64_t txn = PERF_TXN_TRANSACTION | PERF_TXN_ASYNC | PERF_TXN_CONFLICT | (0xffull << 32);
	rec_begin(&r, PERF_RECORD_MISC_USER | PERF_RECORD_MISC_EXACT_IP);
	put64(&r, 0x7f0012345678ull);
	put32(&r, 4242);
	put32(&r, 4243);
	put64(&r, 123456789ull);
	put64(&r, txn);
	rec_end(&r);

	struct hg_pmu_rec s;
	HG_ASSERT_EQ(hg_pmu_parse_sample(r.b, r.n, HG_PMU_SAMPLE_TYPE, &s), 0);
	HG_EXPECT(s.ip == 0x7f0012345678ull);
	HG_EXPECT_EQ(s.pid, 4242);
	HG_EXPECT_EQ(s.tid, 4243);
	HG_EXPECT(s.time == 123456789ull);
	HG_EXPECT(s.txn == txn);
	HG_EXPECT(s.exact);

	struct hg_pmu_txn t = hg_pmu_txn_decode(s.txn);
	HG_EXPECT_EQ(t.flags, PERF_TXN_TRANSACTION | PERF_TXN_ASYNC | PERF_TXN_CONFLICT);
	HG_EXPECT_EQ(t.code, 0xff);
	char buf[128];
	HG_EXPECT(strcmp(hg_pmu_txn_str(t.flags, buf, sizeof buf), "transaction,async,conflict") == 0);

	/* A record cut short, a length shorter than the header's size, another type. */
	HG_EXPECT_EQ(hg_pmu_parse_sample(r.b, r.n - 1, HG_PMU_SAMPLE_TYPE, &s), -1);
	uint16_t short_size = (uint16_t)(r.n - 8);
	memcpy(r.b + offsetof(struct perf_event_header, size), &short_size, 2);
	HG_EXPECT_EQ(hg_pmu_parse_sample(r.b, r.n, HG_PMU_SAMPLE_TYPE, &s), -1);
	rec_end(&r);
	uint32_t type = PERF_RECORD_LOST;
	memcpy(r.b, &type, 4);
	HG_EXPECT_EQ(hg_pmu_parse_sample(r.b, r.n, HG_PMU_SAMPLE_TYPE, &s), -1);
	/* A field of variable size is refused, not misread. */
	type = PERF_RECORD_SAMPLE;
	memcpy(r.b, &type, 4);
	HG_EXPECT_EQ(hg_pmu_parse_sample(r.b, r.n, HG_PMU_SAMPLE_TYPE | PERF_SAMPLE_CALLCHAIN, &s), -1);
}

/* Every fixed-size field, in the kernel's order: a misordered parser reads the wrong words. */
static void test_parse_field_order(void)
{
	uint64_t st = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
	    PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD | PERF_SAMPLE_WEIGHT |
	    PERF_SAMPLE_DATA_SRC | PERF_SAMPLE_TRANSACTION;
	struct rec_builder r;
	rec_begin(&r, PERF_RECORD_MISC_USER);
	put64(&r, 11);          /* identifier */
	put64(&r, 0x401000);    /* ip */
	put32(&r, 7);           /* pid */
	put32(&r, 8);           /* tid */
	put64(&r, 99);          /* time */
	put64(&r, 0xdead0);     /* addr */
	put32(&r, 3);           /* cpu */
	put32(&r, 0);           /* res */
	put64(&r, 97);          /* period */
	put64(&r, 450);         /* weight */
	put64(&r, 0x55);        /* data_src */
	put64(&r, PERF_TXN_TRANSACTION | PERF_TXN_SYNC | PERF_TXN_CAPACITY_READ);
	rec_end(&r);
	struct hg_pmu_rec s;
	HG_ASSERT_EQ(hg_pmu_parse_sample(r.b, r.n, st, &s), 0);
	HG_EXPECT_EQ(s.id, 11);
	HG_EXPECT_EQ(s.ip, 0x401000);
	HG_EXPECT_EQ(s.pid, 7);
	HG_EXPECT_EQ(s.tid, 8);
	HG_EXPECT_EQ(s.time, 99);
	HG_EXPECT_EQ(s.addr, 0xdead0);
	HG_EXPECT_EQ(s.cpu, 3);
	HG_EXPECT_EQ(s.period, 97);
	HG_EXPECT_EQ(s.weight, 450);
	HG_EXPECT_EQ(s.data_src, 0x55);
	HG_EXPECT_EQ(s.txn, PERF_TXN_TRANSACTION | PERF_TXN_SYNC | PERF_TXN_CAPACITY_READ);
	HG_EXPECT(!s.exact);
	struct hg_pmu_txn t = hg_pmu_txn_decode(s.txn);
	HG_EXPECT_EQ(t.code, 0);
	char buf[128];
	HG_EXPECT(strcmp(hg_pmu_txn_str(t.flags, buf, sizeof buf), "transaction,sync,capacity_read") == 0);
	HG_EXPECT(strcmp(hg_pmu_txn_str(0, buf, sizeof buf), "none") == 0);
	HG_EXPECT(strcmp(hg_pmu_txn_str(0xff, buf, sizeof buf),
	    "elision,transaction,sync,async,retry,conflict,capacity_write,capacity_read") == 0);
}

/* A ring written as the kernel writes it, one record across the end of the data area. */
static void test_ring_drain(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t data_size = pg << HG_PMU_RING_ORDER;
	size_t len = pg + data_size;
	unsigned char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	HG_ASSERT(base != MAP_FAILED);
	struct perf_event_mmap_page *h = (struct perf_event_mmap_page *)base;
	unsigned char *data = base + pg;

	struct rec_builder r;
	rec_begin(&r, PERF_RECORD_MISC_USER);
	put64(&r, 0x1000); put32(&r, 1); put32(&r, 1); put64(&r, 5);
	put64(&r, PERF_TXN_TRANSACTION | PERF_TXN_CONFLICT);
	rec_end(&r);
	/* The first record ends 12 bytes before the end, the second wraps. */
	uint64_t start = (uint64_t)(3 * data_size - r.n - 12);
	for (int k = 0; k < 2; k++) {
		uint64_t at = start + (uint64_t)k * r.n;
		for (size_t i = 0; i < r.n; i++)
			data[(at + i) & (data_size - 1)] = r.b[i];
	}
	h->data_tail = start;
	h->data_head = start + 2 * r.n;

	hg_pmu_ips_reset();
	struct hg_pmu_ring ring = { 99, base, len }; /* the fd is never used by a drain */
	HG_EXPECT_EQ(hg_pmu_sample_drain(&ring, 3, 0xabc), 2);
	HG_EXPECT(h->data_tail == h->data_head);
	struct hg_pmu_top top[4];
	HG_ASSERT_EQ(hg_pmu_top_ips(3, 0xabc, top, 4), 1);
	HG_EXPECT_EQ(top[0].ip, 0x1000);
	HG_EXPECT_EQ(top[0].count, 2);
	HG_EXPECT_EQ(top[0].flags, PERF_TXN_TRANSACTION | PERF_TXN_CONFLICT);
	HG_EXPECT_EQ(hg_pmu_sample_drain(&ring, 3, 0xabc), 0); /* nothing new */
	munmap(base, len);
	hg_pmu_ips_reset();
}

static void test_top_ips(void)
{
	hg_pmu_ips_reset();
	for (int i = 0; i < 5; i++)
		hg_pmu_ip_note(1, 10, 0x500, PERF_TXN_TRANSACTION);
	for (int i = 0; i < 9; i++)
		hg_pmu_ip_note(1, 10, 0x900, PERF_TXN_TRANSACTION | PERF_TXN_CAPACITY_WRITE);
	hg_pmu_ip_note(1, 10, 0x100, PERF_TXN_TRANSACTION | (7ull << 32));
	hg_pmu_ip_note(1, 11, 0x900, PERF_TXN_TRANSACTION); /* another site */
	hg_pmu_ip_note(2, 10, 0x900, PERF_TXN_TRANSACTION); /* another lock */
	struct hg_pmu_top top[2];
	HG_ASSERT_EQ(hg_pmu_top_ips(1, 10, top, 2), 2);
	HG_EXPECT_EQ(top[0].ip, 0x900);
	HG_EXPECT_EQ(top[0].count, 9);
	HG_EXPECT_EQ(top[0].flags, PERF_TXN_TRANSACTION | PERF_TXN_CAPACITY_WRITE);
	HG_EXPECT_EQ(top[1].ip, 0x500);
	HG_EXPECT_EQ(top[1].count, 5);
	struct hg_pmu_top all[8];
	HG_ASSERT_EQ(hg_pmu_top_ips(1, 10, all, 8), 3);
	HG_EXPECT_EQ(all[2].ip, 0x100);
	HG_EXPECT_EQ(all[2].code, 7);
	HG_EXPECT_EQ(hg_pmu_top_ips(1, 11, all, 8), 1);
	HG_EXPECT_EQ(hg_pmu_top_ips(3, 10, all, 8), 0);

	char sym[256];
	hg_pmu_symbol((uint64_t)(uintptr_t)&getpid + 1, sym, sizeof sym);
	HG_EXPECT(strstr(sym, "getpid+0x1") != NULL);
	hg_pmu_ips_reset();
}

/* ---- accounting and reading ---- */

static void test_account(void)
{
	struct hg_site_stats st;
	memset(&st, 0, sizeof st);
	struct hg_pmu_sample a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	/* A committed attempt: cycles-t and cycles-ct advance together. */
	a.v[HG_PMU_EV_CYCLES_T] = 1000;
	a.v[HG_PMU_EV_CYCLES_CT] = 800;
	b.v[HG_PMU_EV_CYCLES_T] = 1500;
	b.v[HG_PMU_EV_CYCLES_CT] = 1300;
	b.v[HG_PMU_TX_START] = 1;
	b.v[HG_PMU_TX_COMMIT] = 1;
	hg_pmu_account(&st, &a, &b);
	HG_EXPECT_EQ(st.pmu_reads, 1);
	HG_EXPECT_EQ(st.pmu_cycles_commit, 500);
	HG_EXPECT_EQ(st.pmu_cycles_abort, 0);
	/* An aborted one: cycles-ct rolled back, cycles-t kept the lost cycles. */
	a = b;
	b.v[HG_PMU_EV_CYCLES_T] = 2100;
	b.v[HG_PMU_TX_START] = 2;
	b.v[HG_PMU_TX_ABORTED] = 1;
	b.v[HG_PMU_ABORT_CONFLICT] = 1;
	hg_pmu_account(&st, &a, &b);
	HG_EXPECT_EQ(st.pmu_reads, 2);
	HG_EXPECT_EQ(st.pmu_cycles_commit, 500);
	HG_EXPECT_EQ(st.pmu_cycles_abort, 600);
	HG_EXPECT_EQ(st.pmu_events[HG_PMU_TX_START], 2);
	HG_EXPECT_EQ(st.pmu_events[HG_PMU_TX_COMMIT], 1);
	HG_EXPECT_EQ(st.pmu_events[HG_PMU_TX_ABORTED], 1);
	HG_EXPECT_EQ(st.pmu_events[HG_PMU_ABORT_CONFLICT], 1);
	HG_EXPECT_EQ(st.pmu_events[HG_PMU_ABORT_CAPACITY], 0);
}

/* RDPMC only with cap_user_rdpmc and a non-zero index; read() otherwise. */
static void test_read_fallback(void)
{
	struct perf_event_mmap_page pg;
	memset(&pg, 0, sizeof pg);
	pg.cap_user_rdpmc = 1;
	HG_EXPECT(pg.capabilities == HG_PMU_CAP_USER_RDPMC);

	int p[2];
	HG_ASSERT_EQ(pipe(p), 0);
	uint64_t vals[3] = { 41, 42, 43 };
	HG_ASSERT_EQ(write(p[1], vals, sizeof vals), (long)sizeof vals);
	HG_EXPECT_EQ(hg_pmu_read_event(p[0], NULL), 41);
	/* cap set, index 0 (the event is not on a counter now): RDPMC would fault */
	pg.index = 0;
	pg.pmc_width = 48;
	HG_EXPECT_EQ(hg_pmu_read_event(p[0], &pg), 42);
	/* index set, cap clear (the kernel refuses user RDPMC) */
	pg.cap_user_rdpmc = 0;
	pg.index = 1;
	HG_EXPECT_EQ(hg_pmu_read_event(p[0], &pg), 43);
	close(p[0]);
	close(p[1]);
}

static void test_open_why(void)
{
	char buf[256];
	HG_EXPECT(strstr(hg_pmu_open_why(EACCES, buf, sizeof buf), "perf_event_paranoid") != NULL);
	HG_EXPECT(strstr(hg_pmu_open_why(ENOENT, buf, sizeof buf), "VM") != NULL);
	HG_EXPECT(strstr(hg_pmu_open_why(EMFILE, buf, sizeof buf), "open-file limit") != NULL);
}

/* Built without libpfm4: the same table, each entry saying so. */
static void test_table_without_libpfm(void)
{
	if (hg_pmu_have_libpfm())
		HG_SKIP("built with libpfm4");
	const struct hg_pmu_enc *t = hg_pmu_table();
	for (unsigned i = 0; i < HG_PMU_EV_N; i++) {
		HG_EXPECT(!t[i].ok);
		HG_EXPECT(strstr(t[i].why, "built without libpfm4") != NULL);
		HG_EXPECT(t[i].key != NULL && t[i].want != NULL);
	}
	HG_EXPECT(hg_pmu_model() == NULL);
}

/* The report's "pmu" member: only for a site whose attempts were read around. */
static void test_report_pmu(void)
{
	static char buf[1 << 16];
	struct hg_lock l;
	hg_stats_reset();
	hg_pmu_ips_reset();
	hg_lock_init(&l, "pmu.report");
	hg_lock_set_mode(&l, HG_HTM_OFF);
	hg_lock_acquire(&l, hg_site("pmu.read"));
	hg_lock_release(&l);
	hg_lock_acquire(&l, hg_site("pmu.unread"));
	hg_lock_release(&l);

	struct hg_site_rec *rec = hg_site_rec_get(l.id, hg_site("pmu.read"));
	struct hg_pmu_sample a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	b.v[HG_PMU_EV_CYCLES_T] = 700;
	b.v[HG_PMU_EV_CYCLES_CT] = 500;
	b.v[HG_PMU_TX_ABORTED] = 3;
	hg_pmu_account(&rec->st, &a, &b);
	uint64_t ip = (uint64_t)(uintptr_t)&getpid + 1;
	hg_pmu_ip_note(l.id, hg_site("pmu.read"), ip, PERF_TXN_TRANSACTION | PERF_TXN_CONFLICT | (0xffull << 32));
	hg_pmu_ip_note(l.id, hg_site("pmu.read"), ip, PERF_TXN_TRANSACTION | PERF_TXN_CONFLICT | (0xffull << 32));

	FILE *f = fmemopen(buf, sizeof buf, "w");
	HG_ASSERT(f != NULL);
	HG_EXPECT_EQ(hg_report_write(f, HG_REPORT_JSON), 0);
	fclose(f);
	HG_EXPECT(strstr(buf, "\"version\":4,") != NULL);
	const char *read_site = strstr(buf, "\"name\":\"pmu.read\"");
	const char *unread_site = strstr(buf, "\"name\":\"pmu.unread\"");
	HG_ASSERT(read_site && unread_site);
	const char *pmu = strstr(buf, "\"pmu\":{\"reads\":1,\"cycles_committed\":500,\"cycles_aborted\":200,\"events\":{");
	HG_ASSERT(pmu != NULL);
	HG_EXPECT(strstr(buf, "\"pmu\":{") == pmu); /* the one site read around has the member */
	HG_EXPECT((read_site < pmu) && (unread_site < read_site || unread_site > pmu));
	HG_EXPECT(strstr(pmu, "\"abort_ips\":[{\"ip\":\"0x") != NULL);
	HG_EXPECT(strstr(pmu, "\"symbol\":\"") && strstr(pmu, "getpid+0x1 (libc") != NULL);
	HG_EXPECT(strstr(pmu, "\"samples\":2,\"txn\":\"transaction,conflict\",\"code\":255}]}") != NULL);
	if (hg_pmu_table()[HG_PMU_TX_ABORTED].ok)
		HG_EXPECT(strstr(pmu, "\"tx_aborted\":3") != NULL);
	else
		HG_EXPECT(strstr(pmu, "\"events\":{}") != NULL); /* nothing encoded: nothing counted */

	f = fmemopen(buf, sizeof buf, "w");
	HG_ASSERT(f != NULL);
	HG_EXPECT_EQ(hg_report_write(f, HG_REPORT_TEXT), 0);
	fclose(f);
	HG_EXPECT(strstr(buf, "pmu: cycles committed 500, aborted 200; tx start 0, commit 0, aborted 3") != NULL);
	HG_EXPECT(strstr(buf, "getpid+0x1 (libc") && strstr(buf, "2 samples (transaction,conflict)") != NULL);
	hg_stats_reset();
	hg_pmu_ips_reset();
}

/* ---- encodings for a forced model ---- */

struct want_enc {
	unsigned ev;
	uint64_t config;     /* 0: the model has no such event */
	const char *name;    /* the model's spelling, NULL: the wanted name */
};

static void check_model(const char *model, const struct want_enc *w, size_t n)
{
	const struct hg_pmu_enc *t = hg_pmu_table();
	for (size_t i = 0; i < n; i++) {
		const struct hg_pmu_enc *e = &t[w[i].ev];
		printf("  %s %-40s %s", model, e->want, e->ok ? "" : "not encoded: ");
		if (e->ok)
			printf("type %u config 0x%llx config1 0x%llx as %s\n", (unsigned)e->type,
			    (unsigned long long)e->config, (unsigned long long)e->config1, e->name);
		else
			printf("%s\n", e->why);
		if (w[i].config == 0) {
			if (e->ok)
				HG_T_FAIL("%s: %s encoded (0x%llx), but the model has no such event", model,
				    e->want, (unsigned long long)e->config);
			else
				HG_EXPECT(strstr(e->why, model) != NULL);
			continue;
		}
		if (!e->ok) {
			HG_T_FAIL("%s: %s not encoded: %s", model, e->want, e->why);
			continue;
		}
		HG_EXPECT_EQ(e->type, PERF_TYPE_RAW);
		/* event, umask, and the in_tx/in_tx_cp bits 32/33; nothing of the privilege level */
		if ((e->config & 0x3ffffffffull) != w[i].config)
			HG_T_FAIL("%s: %s encodes to 0x%llx, want 0x%llx", model, e->want,
			    (unsigned long long)e->config, (unsigned long long)w[i].config);
		const char *name = w[i].name ? w[i].name : e->want;
		if (strcmp(e->name, name) != 0)
			HG_T_FAIL("%s: %s encoded as %s, want %s", model, e->want, e->name, name);
	}
}

static void test_encode_forced(void)
{
	const char *model = getenv("LIBPFM_FORCE_PMU");
	if (!hg_pmu_have_libpfm())
		HG_SKIP("built without libpfm4");
	if (!model)
		HG_SKIP("LIBPFM_FORCE_PMU unset");
	const struct hg_pmu_enc *t = hg_pmu_table();
	if (!hg_pmu_model() || !t[HG_PMU_TX_ABORTED].ok)
		HG_SKIP("libpfm4 does not know the forced model");
	HG_EXPECT(strcmp(hg_pmu_model(), model) == 0);

	/* Common to every TSX model: RTM_RETIRED is 0xc9, TX_MEM 0x54, cycles 0x3c. */
	const struct want_enc common[] = {
		{ HG_PMU_TX_START, 0x1c9, NULL },
		{ HG_PMU_TX_COMMIT, 0x2c9, NULL },
		{ HG_PMU_TX_ABORTED, 0x4c9, NULL },
		{ HG_PMU_ABORTED_MEM, 0x8c9, NULL },
		{ HG_PMU_ABORTED_UNFRIENDLY, 0x20c9, NULL },
		{ HG_PMU_ABORTED_MEMTYPE, 0x40c9, NULL },
		{ HG_PMU_ABORTED_EVENTS, 0x80c9, NULL },
		{ HG_PMU_ABORT_CONFLICT, 0x154, NULL },
		{ HG_PMU_EV_CYCLES_T, 0x10000003cull, NULL },
		{ HG_PMU_EV_CYCLES_CT, 0x30000003cull, NULL },
	};
	check_model(model, common, sizeof common / sizeof common[0]);
	HG_EXPECT(t[HG_PMU_TX_ABORTED].config & 0xffff);
	HG_EXPECT_EQ(t[HG_PMU_TX_ABORTED].config & 0xffff, 0x4c9);
	HG_EXPECT(t[HG_PMU_EV_CYCLES_T].config & (1ull << 32));
	HG_EXPECT(!(t[HG_PMU_EV_CYCLES_T].config & (1ull << 33)));
	HG_EXPECT(t[HG_PMU_EV_CYCLES_CT].config & (1ull << 33));

	/* Where the models differ: the timer cause and the capacity events. */
	if (strcmp(model, "skl") == 0) {
		const struct want_enc m[] = {
			{ HG_PMU_ABORTED_TIMER, 0x10c9, "RTM_RETIRED:ABORTED_TMR" },
			{ HG_PMU_ABORT_CAPACITY, 0x254, NULL },
			{ HG_PMU_ABORT_CAPACITY_READ, 0, NULL },
			{ HG_PMU_ABORT_CAPACITY_WRITE, 0, NULL },
		};
		check_model(model, m, sizeof m / sizeof m[0]);
	} else if (strcmp(model, "icl") == 0 || strcmp(model, "spr") == 0) {
		const struct want_enc m[] = {
			{ HG_PMU_ABORTED_TIMER, 0, NULL },
			{ HG_PMU_ABORT_CAPACITY, 0, NULL },
			{ HG_PMU_ABORT_CAPACITY_READ, 0x8054, NULL },
			{ HG_PMU_ABORT_CAPACITY_WRITE, 0x254, NULL },
		};
		check_model(model, m, sizeof m / sizeof m[0]);
	} else {
		printf("  %s: only the common encodings are known to this test\n", model);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "encode") == 0) {
		static const struct hg_test enc[] = { HG_TEST(test_encode_forced) };
		return HG_RUN_TESTS(enc);
	}
	/* The first two in this order: the pointer before the guard forces the model. */
	static const struct hg_test tests[] = {
		HG_TEST(test_open_goes_through_pointer),
		HG_TEST(test_forced_pmu_never_opened),
		HG_TEST(test_parse),
		HG_TEST(test_parse_ip_tid_time_txn),
		HG_TEST(test_parse_field_order),
		HG_TEST(test_ring_drain),
		HG_TEST(test_top_ips),
		HG_TEST(test_account),
		HG_TEST(test_read_fallback),
		HG_TEST(test_open_why),
		HG_TEST(test_table_without_libpfm),
		HG_TEST(test_report_pmu),
	};
	return HG_RUN_TESTS(tests);
}
