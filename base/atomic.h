/* SPDX-License-Identifier: MIT */
/*
 * base/atomic.h - the one place htmgil touches <stdatomic.h>.
 *
 * Every operation carries its memory order in its name (mimalloc style), so a
 * reader never has to guess, and there is no implicit seq_cst anywhere.  The
 * operands are plain integers accessed through _Atomic casts, so the public
 * structs stay plain C that C++ can include.
 */
#ifndef HG_ATOMIC_H
#define HG_ATOMIC_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define HG_A32(p) ((_Atomic uint32_t *)(p))
#define HG_A64(p) ((_Atomic uint64_t *)(p))
#define HG_AP(p) ((void *_Atomic *)(p))

#define HG_A8(p) ((_Atomic uint8_t *)(p))
static inline uint8_t hg_atomic_load_relaxed8(const uint8_t *p)
{
	return atomic_load_explicit(HG_A8(p), memory_order_relaxed);
}
static inline uint8_t hg_atomic_load_acquire8(const uint8_t *p)
{
	return atomic_load_explicit(HG_A8(p), memory_order_acquire);
}
static inline bool hg_atomic_cas_acq_rel8(uint8_t *p, uint8_t *expect, uint8_t v)
{
	return atomic_compare_exchange_strong_explicit(HG_A8(p), expect, v,
	    memory_order_acq_rel, memory_order_relaxed);
}
static inline void hg_atomic_store_release8(uint8_t *p, uint8_t v)
{
	atomic_store_explicit(HG_A8(p), v, memory_order_release);
}

static inline uint32_t hg_atomic_load_relaxed32(const uint32_t *p)
{
	return atomic_load_explicit(HG_A32(p), memory_order_relaxed);
}
static inline uint32_t hg_atomic_load_acquire32(const uint32_t *p)
{
	return atomic_load_explicit(HG_A32(p), memory_order_acquire);
}
static inline void hg_atomic_store_relaxed32(uint32_t *p, uint32_t v)
{
	atomic_store_explicit(HG_A32(p), v, memory_order_relaxed);
}
static inline void hg_atomic_store_release32(uint32_t *p, uint32_t v)
{
	atomic_store_explicit(HG_A32(p), v, memory_order_release);
}
static inline bool hg_atomic_cas_acquire32(uint32_t *p, uint32_t *expect, uint32_t v)
{
	return atomic_compare_exchange_strong_explicit(HG_A32(p), expect, v,
	    memory_order_acquire, memory_order_relaxed);
}
static inline bool hg_atomic_cas_release32(uint32_t *p, uint32_t *expect, uint32_t v)
{
	return atomic_compare_exchange_strong_explicit(HG_A32(p), expect, v,
	    memory_order_release, memory_order_relaxed);
}
static inline bool hg_atomic_cas_acq_rel32(uint32_t *p, uint32_t *expect, uint32_t v)
{
	return atomic_compare_exchange_strong_explicit(HG_A32(p), expect, v,
	    memory_order_acq_rel, memory_order_relaxed);
}
static inline bool hg_atomic_cas_relaxed32(uint32_t *p, uint32_t *expect, uint32_t v)
{
	return atomic_compare_exchange_strong_explicit(HG_A32(p), expect, v,
	    memory_order_relaxed, memory_order_relaxed);
}
static inline uint32_t hg_atomic_fetch_add_relaxed32(uint32_t *p, uint32_t v)
{
	return atomic_fetch_add_explicit(HG_A32(p), v, memory_order_relaxed);
}
static inline uint32_t hg_atomic_fetch_add_release32(uint32_t *p, uint32_t v)
{
	return atomic_fetch_add_explicit(HG_A32(p), v, memory_order_release);
}
static inline uint32_t hg_atomic_fetch_add_seq_cst32(uint32_t *p, uint32_t v)
{
	return atomic_fetch_add_explicit(HG_A32(p), v, memory_order_seq_cst);
}

static inline uint64_t hg_atomic_load_relaxed64(const uint64_t *p)
{
	return atomic_load_explicit(HG_A64(p), memory_order_relaxed);
}
static inline uint64_t hg_atomic_load_acquire64(const uint64_t *p)
{
	return atomic_load_explicit(HG_A64(p), memory_order_acquire);
}
static inline void hg_atomic_store_relaxed64(uint64_t *p, uint64_t v)
{
	atomic_store_explicit(HG_A64(p), v, memory_order_relaxed);
}
static inline void hg_atomic_store_release64(uint64_t *p, uint64_t v)
{
	atomic_store_explicit(HG_A64(p), v, memory_order_release);
}
static inline uint64_t hg_atomic_fetch_add_relaxed64(uint64_t *p, uint64_t v)
{
	return atomic_fetch_add_explicit(HG_A64(p), v, memory_order_relaxed);
}
static inline uint64_t hg_atomic_fetch_add_acq_rel64(uint64_t *p, uint64_t v)
{
	return atomic_fetch_add_explicit(HG_A64(p), v, memory_order_acq_rel);
}
/* Bit set/clear on a word other threads may also update bit-wise (RMW keeps their bits). */
static inline uint64_t hg_atomic_fetch_or_relaxed64(uint64_t *p, uint64_t v)
{
	return atomic_fetch_or_explicit(HG_A64(p), v, memory_order_relaxed);
}
static inline uint64_t hg_atomic_fetch_and_relaxed64(uint64_t *p, uint64_t v)
{
	return atomic_fetch_and_explicit(HG_A64(p), v, memory_order_relaxed);
}

/*
 * Single-writer counter bump: the owning thread is the only writer, readers
 * (the report) tolerate a slightly stale value, so a relaxed load+store pair
 * suffices and compiles to a plain add, with no locked instruction.
 */
static inline void hg_counter_add(uint64_t *p, uint64_t v)
{
	hg_atomic_store_relaxed64(p, hg_atomic_load_relaxed64(p) + v);
}

static inline void *hg_atomic_load_acquire_ptr(void *const *p)
{
	return atomic_load_explicit(HG_AP(p), memory_order_acquire);
}
static inline void hg_atomic_store_release_ptr(void **p, void *v)
{
	atomic_store_explicit(HG_AP(p), v, memory_order_release);
}

/* Full fence, named for its one use: ordering a store before a later load
 * (Dekker-style handshakes, e.g. STM readers vs. lock acquirers). */
static inline void hg_fence_store_load(void)
{
#if defined(__SANITIZE_THREAD__)
	/* ThreadSanitizer does not model fences (and gcc warns about them);
	 * a seq_cst read-modify-write is the same full barrier on x86. */
	static _Atomic uint32_t hg_fence_word;
	atomic_fetch_add_explicit(&hg_fence_word, 0, memory_order_seq_cst);
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* Compiler-only barrier, for asymmetric fencing: the other side issues a
 * membarrier(2) that fences this thread on the CPU (e.g. STM epochs). */
static inline void hg_fence_compiler(void)
{
	atomic_signal_fence(memory_order_seq_cst);
}

/*
 * Load-load fence: loads before it complete before loads after it (a
 * seqlock reader's data loads before its second read of the sequence).  On
 * x86 loads are not reordered with older loads, so only the compiler must
 * be stopped, which also keeps ThreadSanitizer (which does not model
 * atomic_thread_fence) quiet; elsewhere an acquire fence.
 */
static inline void hg_fence_load_load(void)
{
#if defined(__x86_64__) || defined(__i386__)
	atomic_signal_fence(memory_order_acquire);
#else
	atomic_thread_fence(memory_order_acquire);
#endif
}

/* CPU relax hint for spin-waits. Never executed inside a transaction: PAUSE aborts one. */
static inline void hg_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/*
 * One step of a wait that spins and then yields: call it once after each
 * failed check of the awaited condition, with the same *count (0 before the
 * first call).  The first spin calls run hg_cpu_relax(); every later call
 * gives the CPU away with sched_yield(), so a waiter whose partner was
 * descheduled lets it run.  Never inside a transaction (PAUSE and the
 * system call both abort one).
 */
static inline void hg_spin_then_yield(unsigned *count, unsigned spin)
{
	if (*count < spin) {
		(*count)++;
		hg_cpu_relax();
	} else {
		sched_yield();
	}
}

#endif /* HG_ATOMIC_H */
