/* SPDX-License-Identifier: MIT */
/* tests/unit/test_emu.c - emulated HTM: configuration grammar and injection rates. */
#include "hg_test.h"
#include "htm/emu.h"
#include "htm/status.h"
#include "htmgil/htmgil.h"

static void test_grammar(void)
{
	HG_EXPECT_EQ(hg_emu_configure("conflict=0.2,capacity=0.01,retry=0.05,other=0.01,seed=7"), 0);
	HG_EXPECT_EQ(hg_emu_configure(""), 0);
	HG_EXPECT_EQ(hg_emu_configure("conflict=1.5"), -1);
	HG_EXPECT_EQ(hg_emu_configure("conflict=0.6,capacity=0.6"), -1);
	HG_EXPECT_EQ(hg_emu_configure("bogus=0.1"), -1);
	HG_EXPECT_EQ(hg_emu_configure("conflict"), -1);
	HG_EXPECT_EQ(hg_emu_configure("conflict=abc"), -1);
	HG_EXPECT_EQ(hg_emu_configure("seed=-3"), -1);
	HG_EXPECT_EQ(hg_emu_configure("seed=0x10"), 0);
}

static struct hg_mutex m = HG_MUTEX_INITIALIZER;
static void op_lock(void *t) { hg_mutex_lock(t); }
static bool op_trylock(void *t) { return hg_mutex_trylock(t); }
static void op_unlock(void *t) { hg_mutex_unlock(t); }
static const struct hg_target_ops ops = { op_lock, op_trylock, op_unlock, NULL, NULL, false };

static void count(const char *spec, unsigned n, unsigned out[5], unsigned *started)
{
	HG_ASSERT_EQ(hg_emu_configure(spec), 0);
	for (int i = 0; i < 5; i++)
		out[i] = 0;
	*started = 0;
	for (unsigned i = 0; i < n; i++) {
		uint32_t s = hg_emu_begin(&m, &ops);
		if (s == HG_STATUS_STARTED) {
			HG_EXPECT(hg_mutex_is_locked(&m)); /* an emulated transaction holds the lock */
			HG_EXPECT_EQ(hg_emu_depth(), 1);
			hg_emu_commit(&m, &ops);
			(*started)++;
		} else {
			out[hg_status_cause(s)]++;
		}
	}
}

static void test_rates(void)
{
	unsigned c[5], started, n = 40000;
	count("conflict=0.25,capacity=0.05,other=0.1,seed=1", n, c, &started);
	HG_EXPECT(c[HG_CAUSE_CONFLICT] > n * 0.23 && c[HG_CAUSE_CONFLICT] < n * 0.27);
	HG_EXPECT(c[HG_CAUSE_CAPACITY] > n * 0.04 && c[HG_CAUSE_CAPACITY] < n * 0.06);
	HG_EXPECT(c[HG_CAUSE_OTHER] > n * 0.085 && c[HG_CAUSE_OTHER] < n * 0.115);
	HG_EXPECT_EQ(c[HG_CAUSE_RETRY], 0);
	HG_EXPECT_EQ(started + c[0] + c[1] + c[2] + c[3] + c[4], n);
	HG_EXPECT(!hg_mutex_is_locked(&m));
}

static void test_deterministic(void)
{
	unsigned a[5], b[5], sa, sb;
	count("conflict=0.3,capacity=0.1,seed=42", 5000, a, &sa);
	count("conflict=0.3,capacity=0.1,seed=42", 5000, b, &sb);
	HG_EXPECT_EQ(sa, sb);
	for (int i = 0; i < 5; i++)
		HG_EXPECT_EQ(a[i], b[i]);
	count("conflict=0.3,capacity=0.1,seed=43", 5000, b, &sb);
	HG_EXPECT(sa != sb || a[0] != b[0]); /* another seed, another stream */
}

static void test_busy(void)
{
	HG_ASSERT_EQ(hg_emu_configure("seed=1"), 0);
	hg_mutex_lock(&m);
	uint32_t s = hg_emu_begin(&m, &ops);
	HG_EXPECT(hg_status_is_busy(s)); /* as an RTM subscription would abort */
	hg_mutex_unlock(&m);
}

int main(void)
{
	static const struct hg_test t[] = {
		HG_TEST(test_grammar), HG_TEST(test_rates), HG_TEST(test_deterministic), HG_TEST(test_busy),
	};
	return HG_RUN_TESTS(t);
}
