/* SPDX-License-Identifier: MIT */
/* tests/unit/test_detect.c - RTM detection from mocked CPUID values. */
#include <string.h>

#include "hg_test.h"
#include "htm/detect.h"
#include "htmgil/config.h"
#include "htmgil/htmgil.h"

/* The verdict this build gives a CPU whose own verdict is v: build reasons first. */
static enum hg_rtm_verdict build_first(enum hg_rtm_verdict v)
{
	return !HG_HAVE_RTM ? HG_RTM_NOT_X86 : HG_SANITIZED ? HG_RTM_SANITIZER : v;
}

static struct hg_cpuid_raw mk(const char *vendor, unsigned fam, unsigned model, unsigned step,
    uint32_t ebx7, uint32_t edx7)
{
	struct hg_cpuid_raw r;
	memset(&r, 0, sizeof r);
	r.max_leaf = 0x16;
	strcpy(r.vendor, vendor);
	/* family 6: base family 6, model split into base (3:0) and extended (19:16) */
	r.leaf1_eax = (step & 0xf) | ((model & 0xf) << 4) | ((fam & 0xf) << 8) | (((model >> 4) & 0xf) << 16);
	r.leaf7_ebx = ebx7;
	r.leaf7_edx = edx7;
	return r;
}

static void test_amd_no_rtm(void)
{
	struct hg_cpuid_raw r = mk("AuthenticAMD", 15, 0x01, 1, 0, 0);
	struct hg_cpu_info ci;
	hg_cpu_classify(&r, &ci);
	HG_EXPECT(!ci.rtm);
	HG_EXPECT(!ci.hle);
	HG_EXPECT_EQ(ci.verdict, build_first(HG_RTM_NO_CPUID_BIT));
}

static void test_intel_rtm_usable(void)
{
	struct hg_cpuid_raw r = mk("GenuineIntel", 6, 0x55, 7, HG_CPUID7_EBX_RTM | HG_CPUID7_EBX_HLE, 0);
	struct hg_cpu_info ci;
	hg_cpu_classify(&r, &ci);
	HG_EXPECT(ci.rtm);
	HG_EXPECT(ci.hle);
	HG_EXPECT_EQ(ci.family, 6);
	HG_EXPECT_EQ(ci.model, 0x55);
	HG_EXPECT_EQ(ci.stepping, 7);
	HG_EXPECT(!ci.erratum);
	HG_EXPECT_EQ(ci.verdict, build_first(HG_RTM_USABLE)); /* pending the probe */
	HG_EXPECT(!ci.probe_ran); /* classify never executes anything */
}

static void test_always_abort(void)
{
	struct hg_cpuid_raw r = mk("GenuineIntel", 6, 0x8e, 0xb, HG_CPUID7_EBX_RTM,
	    HG_CPUID7_EDX_RTM_ALWAYS_ABORT | HG_CPUID7_EDX_TSX_FORCE_ABORT);
	struct hg_cpu_info ci;
	hg_cpu_classify(&r, &ci);
	HG_EXPECT(ci.rtm_always_abort);
	HG_EXPECT(ci.tsx_force_abort);
	HG_EXPECT_EQ(ci.verdict, build_first(HG_RTM_ALWAYS_ABORTS));
}

static void test_haswell_erratum(void)
{
	static const unsigned bad[] = { 0x3c, 0x45, 0x46 };
	struct hg_cpu_info ci;
	for (unsigned i = 0; i < 3; i++) {
		struct hg_cpuid_raw r = mk("GenuineIntel", 6, bad[i], 3, HG_CPUID7_EBX_RTM, 0);
		hg_cpu_classify(&r, &ci);
		HG_EXPECT(ci.erratum);
		HG_EXPECT_EQ(ci.verdict, build_first(HG_RTM_ERRATUM));
	}
	/* Haswell-E (0x3f): stepping < 4 is on the list, 4 and later are not. */
	struct hg_cpuid_raw r = mk("GenuineIntel", 6, 0x3f, 2, HG_CPUID7_EBX_RTM, 0);
	hg_cpu_classify(&r, &ci);
	HG_EXPECT(ci.erratum);
	r = mk("GenuineIntel", 6, 0x3f, 4, HG_CPUID7_EBX_RTM, 0);
	hg_cpu_classify(&r, &ci);
	HG_EXPECT(!ci.erratum);
	/* The same model numbers on another vendor are not Intel's erratum. */
	r = mk("AuthenticAMD", 6, 0x3c, 1, HG_CPUID7_EBX_RTM, 0);
	hg_cpu_classify(&r, &ci);
	HG_EXPECT(!ci.erratum);
}

static void test_no_leaf7(void)
{
	struct hg_cpuid_raw r = mk("GenuineIntel", 6, 0x55, 1, HG_CPUID7_EBX_RTM, 0);
	r.max_leaf = 5; /* leaf 7 not present: its bits mean nothing */
	struct hg_cpu_info ci;
	hg_cpu_classify(&r, &ci);
	HG_EXPECT(!ci.rtm);
}

/*
 * A sanitizer build refuses RTM before any CPUID check, whatever the CPU
 * offers, with its own verdict (and never runs the probe); other builds
 * never give that verdict.
 */
static void test_sanitizer_verdict(void)
{
	struct hg_cpuid_raw r = mk("GenuineIntel", 6, 0xcf, 2, HG_CPUID7_EBX_RTM | HG_CPUID7_EBX_HLE, 0);
	struct hg_cpu_info ci;
	hg_cpu_classify(&r, &ci);
	if (HG_HAVE_RTM && HG_SANITIZED)
		HG_EXPECT_EQ(ci.verdict, HG_RTM_SANITIZER);
	else
		HG_EXPECT(ci.verdict != HG_RTM_SANITIZER);
	HG_EXPECT(ci.rtm); /* the CPUID facts are still shown */
	r = mk("AuthenticAMD", 25, 0x01, 1, 0, 0);
	hg_cpu_classify(&r, &ci);
	HG_EXPECT_EQ(ci.verdict, build_first(HG_RTM_NO_CPUID_BIT));
	HG_EXPECT(strstr(hg_rtm_verdict_str(HG_RTM_SANITIZER), "sanitizer") != NULL);
	const struct hg_cpu_info *here = hg_cpu_detect();
	if (HG_HAVE_RTM && HG_SANITIZED) {
		HG_EXPECT_EQ(here->verdict, HG_RTM_SANITIZER);
		HG_EXPECT(!here->probe_ran);
		HG_EXPECT_EQ(hg_htm_set_mode(HG_HTM_REQ_AUTO), HG_HTM_OFF);
		HG_EXPECT_EQ(hg_htm_set_mode(HG_HTM_REQ_RTM), HG_HTM_OFF);
		struct hg_lock l;
		hg_lock_init(&l, "sanitized");
		HG_EXPECT_EQ(hg_lock_set_mode(&l, HG_HTM_RTM), -1);
		hg_htm_set_mode(HG_HTM_REQ_OFF);
	}
}

/* glibc before 2.33: AVX2 string functions end in VZEROUPPER, which aborts RTM. */
static void test_glibc_version(void)
{
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2.33"), 1);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2.36"), 1);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2.40.9000"), 1);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("3.0"), 1);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2.32"), 0);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2.31"), 0);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2.4"), 0); /* minor 4, not 40 */
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2.17-326"), 0);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("1.99"), 0);
	HG_EXPECT_EQ(hg_glibc_rtm_safe(""), -1);
	HG_EXPECT_EQ(hg_glibc_rtm_safe(NULL), -1);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2"), -1);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2."), -1);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("v2.36"), -1);
	HG_EXPECT_EQ(hg_glibc_rtm_safe("2.36x"), -1);
}

/* On this machine: what detection says about the real CPU, and the RTM request. */
static void test_this_machine(void)
{
	const struct hg_cpu_info *ci = hg_cpu_detect();
	HG_EXPECT(ci->verdict != HG_RTM_VALGRIND || hg_under_valgrind());
	if (ci->verdict == HG_RTM_USABLE) {
		HG_EXPECT(ci->probe_ran);
		HG_EXPECT(ci->probe_commits > 0);
		HG_EXPECT_EQ(hg_htm_set_mode(HG_HTM_REQ_RTM), HG_HTM_RTM);
	} else if (!hg_under_valgrind()) {
		/* No RTM: asking for it gives off (and one line), never SIGILL. */
		HG_EXPECT_EQ(hg_htm_set_mode(HG_HTM_REQ_RTM), HG_HTM_OFF);
		HG_EXPECT_EQ(hg_htm_mode(), HG_HTM_OFF);
		HG_EXPECT_EQ(hg_htm_set_mode(HG_HTM_REQ_AUTO), HG_HTM_OFF);
	}
	HG_EXPECT_EQ(hg_htm_set_mode(HG_HTM_REQ_EMU), HG_HTM_EMU);
	HG_EXPECT_EQ(hg_htm_set_mode(HG_HTM_REQ_OFF), HG_HTM_OFF);
	HG_EXPECT(strcmp(hg_htm_mode_name(HG_HTM_EMU), "emu") == 0);
}

int main(void)
{
	static const struct hg_test t[] = {
		HG_TEST(test_amd_no_rtm), HG_TEST(test_intel_rtm_usable), HG_TEST(test_always_abort),
		HG_TEST(test_haswell_erratum), HG_TEST(test_no_leaf7), HG_TEST(test_this_machine),
		HG_TEST(test_sanitizer_verdict), HG_TEST(test_glibc_version),
	};
	return HG_RUN_TESTS(t);
}
