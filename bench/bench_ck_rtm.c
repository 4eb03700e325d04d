/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_ck_rtm.c - ck's adaptive elided spinlock with RTM (built with
 * -mrtm and CK_MD_RTM_ENABLE, see bench/bench_ck.h).  These functions
 * execute XBEGIN: bench/bench_lock.cc calls them only when htmgil's
 * detection reported RTM usable.
 */
#include <ck_elide.h>
#include <ck_spinlock.h>

#include "bench_ck.h"

#ifndef CK_F_PR_RTM
#error "bench_ck_rtm.c needs CK_MD_RTM_ENABLE (ck's RTM support)"
#endif

/* ck's default budgets; per-thread statistics as ck_elide.h asks. */
static struct ck_elide_config hg_ck_config = CK_ELIDE_CONFIG_DEFAULT_INITIALIZER;
static __thread struct ck_elide_stat hg_ck_stat;

static ck_spinlock_t *hg_ck(struct hg_bench_ck_lock *l)
{
	return (ck_spinlock_t *)(void *)l->word;
}

void hg_bench_ck_rtm_lock(struct hg_bench_ck_lock *l)
{
	CK_ELIDE_LOCK_ADAPTIVE(ck_spinlock, &hg_ck_stat, &hg_ck_config, hg_ck(l));
}

void hg_bench_ck_rtm_unlock(struct hg_bench_ck_lock *l)
{
	CK_ELIDE_UNLOCK_ADAPTIVE(ck_spinlock, &hg_ck_stat, hg_ck(l));
}
