/* SPDX-License-Identifier: MIT */
/*
 * tests/report/test_trace.c - the section timeline (engine/trace.c):
 * HTMGIL_TRACE's values, nothing recorded when off, two threads on an
 * emulated lock (events per thread, ordering, tiers matching the counters,
 * the ring keeping the last N), hg_run's software and lock sections, and
 * the report's "timeline" member.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "hg_test.h"
#include "engine/trace.h"
#include "htm/emu.h"
#include "htmgil/htmgil.h"

#define SECTIONS 300

struct seen {
	unsigned threads;
	size_t n[8];
	size_t by_tier[4];
	size_t disordered; /* t0 > t1, or a section opened before the previous one closed */
	size_t no_attempt; /* speculative commits with no attempt counted */
	uint64_t lock_id;
	size_t other_lock;
};

static void collect(uint32_t ordinal, const struct hg_trace_event *ev, size_t n, void *arg)
{
	struct seen *s = arg;
	if (ordinal < 8)
		s->n[ordinal] = n;
	s->threads++;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].t0 > ev[i].t1 || (i > 0 && ev[i].t0 < ev[i - 1].t1))
			s->disordered++;
		if (ev[i].tier < 4)
			s->by_tier[ev[i].tier]++;
		if ((ev[i].tier == HG_TRACE_TIER_EMU || ev[i].tier == HG_TIER_HTM) && ev[i].attempts == 0)
			s->no_attempt++;
		if (ev[i].lock_id != s->lock_id)
			s->other_lock++;
	}
}

static struct hg_lock lk;
static uint64_t counter;

static void *worker(void *arg)
{
	uint64_t site = *(const uint64_t *)arg;
	for (int i = 0; i < SECTIONS; i++) {
		hg_lock_acquire(&lk, site);
		counter++;
		hg_lock_release(&lk);
	}
	return NULL;
}

static void two_threads(uint64_t site)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		HG_ASSERT_EQ(pthread_create(&t[i], NULL, worker, &site), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

static void test_parse(void)
{
	uint32_t n = 7;
	HG_EXPECT_EQ(hg_trace_parse("0", &n), 0);
	HG_EXPECT_EQ(n, 0);
	HG_EXPECT_EQ(hg_trace_parse("100000", &n), 0);
	HG_EXPECT_EQ(n, 100000);
	HG_EXPECT_EQ(hg_trace_parse("1048576", &n), 0);
	HG_EXPECT_EQ(hg_trace_parse("1048577", &n), -1);
	HG_EXPECT_EQ(hg_trace_parse("-1", &n), -1);
	HG_EXPECT_EQ(hg_trace_parse("12k", &n), -1);
	HG_EXPECT_EQ(hg_trace_parse("", &n), -1);
	HG_EXPECT_EQ(hg_trace_parse("on", &n), -1);
}

/*
 * Records two threads' sections on a fresh lock `name` at `site`, in rings
 * of cap events: an emulated lock with injection spec emu, or (emu NULL)
 * one in the process mode.  Returns what the timeline holds for it.
 */
static struct seen record_two(uint32_t cap, const char *name, const char *emu, uint64_t site)
{
	hg_trace_configure(cap);
	hg_lock_init(&lk, name);
	if (emu) {
		HG_ASSERT_EQ(hg_lock_set_mode(&lk, HG_HTM_EMU), 0);
		HG_ASSERT_EQ(hg_emu_configure(emu), 0);
	}
	counter = 0;
	two_threads(site);
	HG_EXPECT_EQ(counter, 2 * SECTIONS);
	struct seen s = { .lock_id = lk.id };
	HG_EXPECT_EQ(hg_trace_each(collect, &s), 0);
	return s;
}

static void test_off_records_nothing(void)
{
	struct seen s = record_two(0, "trace-off", "conflict=0.3,seed=3", hg_site("trace.off"));
	HG_EXPECT_EQ(s.threads, 0);
	char buf[65536];
	FILE *f = fmemopen(buf, sizeof buf, "w");
	HG_ASSERT(f != NULL);
	HG_EXPECT_EQ(hg_report_write(f, HG_REPORT_JSON), 0);
	fclose(f);
	HG_EXPECT(strstr(buf, ",\"timeline\":null") != NULL);
}

/* Two threads, room for every section: one event per section, tiers as counted. */
static void test_two_threads_emulated(void)
{
	uint64_t site = hg_site("trace.emu");
	struct seen s = record_two(1000, "trace-emu", "conflict=0.6,seed=5", site);
	HG_EXPECT_EQ(s.threads, 2);
	HG_EXPECT_EQ(s.n[0], SECTIONS);
	HG_EXPECT_EQ(s.n[1], SECTIONS);
	HG_EXPECT_EQ(s.disordered, 0);
	HG_EXPECT_EQ(s.no_attempt, 0);
	HG_EXPECT_EQ(s.other_lock, 0);
	struct hg_site_stats st;
	hg_stats_get(&lk, site, &st);
	HG_EXPECT_EQ(s.by_tier[HG_TRACE_TIER_EMU], st.commits_emu);
	HG_EXPECT_EQ(s.by_tier[HG_TIER_LOCK], st.commits[HG_TIER_LOCK]);
	HG_EXPECT(st.commits_emu > 0);
	HG_EXPECT(st.commits[HG_TIER_LOCK] > 0); /* injected aborts sent some to the lock */
	HG_EXPECT_EQ(s.by_tier[HG_TIER_HTM], 0);

	char buf[1 << 17];
	FILE *f = fmemopen(buf, sizeof buf, "w");
	HG_ASSERT(f != NULL);
	HG_EXPECT_EQ(hg_report_write(f, HG_REPORT_JSON), 0);
	fclose(f);
	HG_EXPECT(strstr(buf, ",\"timeline\":{\"tsc_hz\":") != NULL);
	HG_EXPECT(strstr(buf, "\"events_per_thread\":1000,\"threads\":[{\"thread\":0,\"events\":[[") != NULL);
	HG_EXPECT(strstr(buf, "\"emu\",") != NULL);
	HG_EXPECT(hg_trace_tsc_hz() > 1e6);
}

/* A ring smaller than the run keeps the last N of each thread. */
static void test_ring_keeps_last(void)
{
	struct seen s = record_two(64, "trace-ring", "seed=1", hg_site("trace.ring"));
	HG_EXPECT_EQ(s.threads, 2);
	HG_EXPECT_EQ(s.n[0], 64);
	HG_EXPECT_EQ(s.n[1], 64);
	HG_EXPECT_EQ(s.disordered, 0);
}

/* Elision off: the elided lock's fast paths are taken, and still recorded. */
static void test_mode_off(void)
{
	HG_ASSERT_EQ(hg_htm_set_mode(HG_HTM_REQ_OFF), HG_HTM_OFF);
	struct seen s = record_two(SECTIONS, "trace-mode-off", NULL, hg_site("trace.mode-off"));
	HG_EXPECT_EQ(s.threads, 2);
	HG_EXPECT_EQ(s.n[0], SECTIONS);
	HG_EXPECT_EQ(s.n[1], SECTIONS);
	HG_EXPECT_EQ(s.by_tier[HG_TIER_LOCK], 2 * SECTIONS);
	HG_EXPECT_EQ(s.other_lock, 0);
	HG_EXPECT_EQ(s.disordered, 0);
	hg_trace_configure(0);
}

static void body(struct hg_tx *tx, void *arg)
{
	uint64_t *p = arg;
	hg_store64(tx, p, hg_load64(tx, p) + 1);
}

/* hg_run: a software section closes at the end of hg_run, a lock one in the engine. */
static void test_run_tiers(void)
{
	hg_trace_configure(100);
	struct hg_lock rl;
	hg_lock_init(&rl, "trace-run");
	uint64_t v = 0;
	hg_run_force_thread(HG_TIER_STM);
	for (int i = 0; i < 5; i++)
		hg_run(&rl, hg_site("trace.run"), body, &v);
	hg_run_force_thread(HG_TIER_LOCK);
	for (int i = 0; i < 3; i++)
		hg_run(&rl, hg_site("trace.run"), body, &v);
	hg_run_force_thread(-1);
	HG_EXPECT_EQ(v, 8);
	struct seen s = { .lock_id = rl.id };
	HG_EXPECT_EQ(hg_trace_each(collect, &s), 0);
	HG_EXPECT_EQ(s.threads, 1);
	HG_EXPECT_EQ(s.n[0], 8);
	HG_EXPECT_EQ(s.by_tier[HG_TIER_STM], 5);
	HG_EXPECT_EQ(s.by_tier[HG_TIER_LOCK], 3);
	HG_EXPECT_EQ(s.disordered, 0);
	hg_trace_configure(0);
}

int main(void)
{
	static const struct hg_test t[] = {
		HG_TEST(test_parse), HG_TEST(test_off_records_nothing), HG_TEST(test_two_threads_emulated),
		HG_TEST(test_ring_keeps_last), HG_TEST(test_run_tiers), HG_TEST(test_mode_off),
	};
	return HG_RUN_TESTS(t);
}
