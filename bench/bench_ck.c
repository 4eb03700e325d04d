/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_ck.c - ck's spinlock and ck_elide.h over it, built without RTM
 * (see bench/bench_ck.h): CK_ELIDE_LOCK is then ck's plain spinlock path.
 */
#include <ck_elide.h>
#include <ck_spinlock.h>

#include "bench_ck.h"

#ifdef CK_F_PR_RTM
#error "bench_ck.c must be built without CK_MD_RTM_ENABLE (that is bench_ck_rtm.c)"
#endif

_Static_assert(sizeof(ck_spinlock_t) <= sizeof(struct hg_bench_ck_lock),
    "struct hg_bench_ck_lock holds a ck_spinlock_t");

static ck_spinlock_t *hg_ck(struct hg_bench_ck_lock *l)
{
	return (ck_spinlock_t *)(void *)l->word;
}

void hg_bench_ck_init(struct hg_bench_ck_lock *l)
{
	ck_spinlock_init(hg_ck(l));
}

void hg_bench_ck_spin_lock(struct hg_bench_ck_lock *l)
{
	ck_spinlock_lock(hg_ck(l));
}

void hg_bench_ck_spin_unlock(struct hg_bench_ck_lock *l)
{
	ck_spinlock_unlock(hg_ck(l));
}

void hg_bench_ck_elide_lock(struct hg_bench_ck_lock *l)
{
	CK_ELIDE_LOCK(ck_spinlock, hg_ck(l));
}

void hg_bench_ck_elide_unlock(struct hg_bench_ck_lock *l)
{
	CK_ELIDE_UNLOCK(ck_spinlock, hg_ck(l));
}
