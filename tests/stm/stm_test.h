/* SPDX-License-Identifier: MIT */
/*
 * tests/stm/stm_test.h - the shared harness (tests/hg_test.h) plus the
 * environment knobs the STM stress tests take their sizes and their
 * hardware tier's mode from.
 */
#ifndef HG_STM_TEST_H
#define HG_STM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hg_test.h"
#include "htmgil/htm.h"

/* A positive integer from the environment, or def (one line when malformed). */
static inline unsigned long hg_test_env(const char *name, unsigned long def)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	unsigned long x = strtoul(v, &end, 10);
	if (*end || x == 0) {
		fprintf(stderr, "%s=%s is not a positive integer; using %lu\n", name, v, def);
		return def;
	}
	return x;
}

/*
 * The hardware tier of the stress tests: HG_STRESS_HTM=emu (default) runs it
 * on the emulated HTM with injected aborts, HG_STRESS_HTM=rtm on real RTM
 * (the ctest label rtm).  Returns the mode; -1 when rtm was asked for where
 * detection does not allow it (the caller skips: exit 77); -2, with one
 * line, when the value is neither.
 */
static inline int hg_test_stress_mode(void)
{
	const char *v = getenv("HG_STRESS_HTM");
	if (!v || !*v || strcmp(v, "emu") == 0)
		return HG_HTM_EMU;
	if (strcmp(v, "rtm") != 0) {
		fprintf(stderr, "HG_STRESS_HTM=%s is not emu or rtm\n", v);
		return -2;
	}
#if defined(__SANITIZE_THREAD__)
	fprintf(stderr, "skipped: HG_STRESS_HTM=rtm in a ThreadSanitizer build\n");
	return -1;
#else
	const struct hg_cpu_info *ci = hg_cpu_detect();
	if (ci->verdict != HG_RTM_USABLE) {
		fprintf(stderr, "skipped: HG_STRESS_HTM=rtm, but RTM is not usable here: %s\n",
		    hg_rtm_verdict_str(ci->verdict));
		return -1;
	}
	return HG_HTM_RTM;
#endif
}

#endif /* HG_STM_TEST_H */
