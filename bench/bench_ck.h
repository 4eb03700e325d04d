/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_ck.h - Concurrency Kit's spinlock and its elided form as peers
 * of the benchmarks in bench/bench_lock.cc (Debian: libck-dev).  Built only
 * when ck's headers are found (HG_BENCH_HAVE_CK); without them the peers are
 * absent and bench/ratios.py says so.
 *
 * ck chooses at build time whether ck_elide.h uses RTM (CK_F_PR_RTM, from
 * CK_MD_RTM_ENABLE).  Two translation units therefore wrap it:
 *
 *   bench_ck.c      built without RTM: ck_spinlock, and CK_ELIDE_LOCK over
 *                   it, which ck then compiles to the plain spinlock; safe
 *                   on every CPU
 *   bench_ck_rtm.c  built with -mrtm and CK_MD_RTM_ENABLE: ck's adaptive
 *                   elided spinlock, with XBEGIN inside (HG_BENCH_HAVE_CK_RTM).
 *                   Its functions may run only after htmgil's detection
 *                   said RTM is usable: bench/bench_lock.cc registers their
 *                   benchmarks only then (hg_bench_register_rtm_peers()).
 *
 * The lock is opaque to C++ (ck's headers are C): one 64-byte line, of
 * which ck uses the first word.
 */
#ifndef HG_BENCH_CK_H
#define HG_BENCH_CK_H

#ifdef __cplusplus
extern "C" {
#endif

struct hg_bench_ck_lock {
	unsigned int word[16];
} __attribute__((aligned(64)));

void hg_bench_ck_init(struct hg_bench_ck_lock *l);
void hg_bench_ck_spin_lock(struct hg_bench_ck_lock *l);
void hg_bench_ck_spin_unlock(struct hg_bench_ck_lock *l);
void hg_bench_ck_elide_lock(struct hg_bench_ck_lock *l);
void hg_bench_ck_elide_unlock(struct hg_bench_ck_lock *l);

/* bench_ck_rtm.c: RTM only; never call unless detection allowed RTM. */
void hg_bench_ck_rtm_lock(struct hg_bench_ck_lock *l);
void hg_bench_ck_rtm_unlock(struct hg_bench_ck_lock *l);

#ifdef __cplusplus
}
#endif
#endif /* HG_BENCH_CK_H */
