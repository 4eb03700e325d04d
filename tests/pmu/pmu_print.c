/* SPDX-License-Identifier: MIT */
/*
 * tests/pmu/pmu_print.c - runs 1000 sections of one elided lock and prints
 * whether hardware counting is on after HTMGIL_PMU, how many speculative
 * attempts were read around, and a result that must not depend on the
 * environment (HTMGIL_PMU never changes the host's results).
 */
#include <inttypes.h>
#include <stdio.h>

#include "htmgil/htmgil.h"
#include "pmu/pmu.h"

int main(void)
{
	struct hg_lock l;
	struct hg_site_stats s;
	long sum = 0;

	hg_lock_init(&l, "pmu");
	for (long i = 1; i <= 1000; i++) {
		hg_lock_acquire(&l, 0);
		sum += i;
		hg_lock_release(&l);
	}
	hg_stats_get(&l, 0, &s);
	printf("pmu=%u reads=%" PRIu64 " sum=%ld\n", (unsigned)hg_pmu_on, s.pmu_reads, sum);
	return sum == 500500 ? 0 : 1;
}
