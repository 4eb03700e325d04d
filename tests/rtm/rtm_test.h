/* SPDX-License-Identifier: MIT */
/*
 * tests/rtm/rtm_test.h - the gate of every test that needs real RTM: the
 * library's own detection (CPUID, erratum list, commit probe) must say
 * "usable", and the build must not be a ThreadSanitizer one (it cannot see
 * hardware transactions).  Elsewhere these tests skip (exit 77).
 */
#ifndef HG_RTM_TEST_H
#define HG_RTM_TEST_H

#include <stdbool.h>
#include <stdio.h>

#include "htmgil/htm.h"

/* true when RTM may run here; otherwise prints why on stderr. */
static inline bool hg_rtm_test_usable(void)
{
#if defined(__SANITIZE_THREAD__)
	fprintf(stderr, "skipped: ThreadSanitizer build (hardware transactions are invisible to it)\n");
	return false;
#else
	const struct hg_cpu_info *ci = hg_cpu_detect();
	if (ci->verdict != HG_RTM_USABLE) {
		fprintf(stderr, "skipped: RTM not usable here: %s\n", hg_rtm_verdict_str(ci->verdict));
		return false;
	}
	return true;
#endif
}

#endif /* HG_RTM_TEST_H */
