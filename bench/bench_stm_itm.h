/* SPDX-License-Identifier: MIT */
/* bench/bench_stm_itm.h - the libitm baseline's entry points (bench_stm_itm.c). */
#ifndef HG_BENCH_STM_ITM_H
#define HG_BENCH_STM_ITM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { HG_ITM_LIST = 0, HG_ITM_HASH, HG_ITM_SKIP };

void hg_itm_bank_reset(void);
void hg_itm_bank_transfer(unsigned i, unsigned j);
int64_t hg_itm_bank_audit(void);
/* kind: 0 contains, 1 add, 2 remove; returns whether the key was present. */
int hg_itm_set_op(int set, int kind, uint64_t key);
void hg_itm_set_reset(void);

#ifdef __cplusplus
}
#endif
#endif /* HG_BENCH_STM_ITM_H */
