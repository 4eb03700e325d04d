// SPDX-License-Identifier: MIT
//
// bench/bench_lock.cc - the elided lock against its baselines.
//
// Every benchmark body is written once over a lock adapter, and registered
// once per variant; the benchmark's name ends in the variant:
//
//   pthread_mutex   glibc's default mutex (the baseline)
//   hg_mutex        htmgil's real-lock tier alone (struct hg_mutex)
//   hg_lock         the elided lock in the process mode (HTMGIL_HTM; "off"
//                   on a machine without RTM, so this measures the cost of
//                   the elision layer when HTM is unavailable)
//   hg_lock_emu     the elided lock forced to emulated HTM
//
// Bodies:
//   pair/<variant>      uncontended acquire + release of an empty section
//   counter/<variant>   one shared counter bumped under the lock, 1 and 2 threads
//   percpu/<variant>    per-thread counters (own cache line) under one lock
//
// The threaded bodies check after the run that no increment was lost and
// mark the benchmark as failed otherwise.
#include <benchmark/benchmark.h>

#include <htmgil/htmgil.h>

#include <pthread.h>

#include <cstdint>

namespace {

struct pthread_variant {
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	explicit pthread_variant(const char *) {}
	bool ok() const { return true; }
	void lock() { pthread_mutex_lock(&m); }
	void unlock() { pthread_mutex_unlock(&m); }
};

struct hg_mutex_variant {
	struct hg_mutex m;
	explicit hg_mutex_variant(const char *) { hg_mutex_init(&m); }
	bool ok() const { return true; }
	void lock() { hg_mutex_lock(&m); }
	void unlock() { hg_mutex_unlock(&m); }
};

struct hg_lock_variant {
	struct hg_lock l;
	uint64_t site;
	bool mode_ok = true;
	explicit hg_lock_variant(const char *name) : site(hg_site(name))
	{
		hg_lock_init(&l, name);
	}
	bool ok() const { return mode_ok; }
	void lock() { hg_lock_acquire(&l, site); }
	void unlock() { hg_lock_release(&l); }
};

struct hg_lock_emu_variant : hg_lock_variant {
	explicit hg_lock_emu_variant(const char *name) : hg_lock_variant(name)
	{
		mode_ok = hg_lock_set_mode(&l, HG_HTM_EMU) == 0;
	}
};

// One counter per cache line, so per-thread sections touch disjoint lines.
struct alignas(64) padded_counter {
	uint64_t n;
};

constexpr int max_threads = 64;

template <class L> void pair_bench(benchmark::State &st)
{
	static L lock("bench.pair");
	if (!lock.ok()) {
		st.SkipWithError("lock mode could not be set");
		return;
	}
	for (auto _ : st) {
		lock.lock();
		lock.unlock();
	}
	st.SetItemsProcessed(st.iterations());
}

template <class L> void counter_bench(benchmark::State &st)
{
	// The lock and the counter each on a line of their own, for every
	// variant: otherwise where the linker happens to put a 40-byte
	// pthread_mutex_t next to the counter decides how many lines move per
	// section, and that, not the lock, is what gets measured.
	alignas(64) static L lock("bench.counter");
	alignas(64) static uint64_t counter; // guarded by lock
	if (!lock.ok()) {
		st.SkipWithError("lock mode could not be set");
		return;
	}
	// Google Benchmark holds every thread at a barrier on loop entry and
	// exit, so thread 0's reset happens before any increment and its check
	// after all of them.
	if (st.thread_index() == 0)
		counter = 0;
	for (auto _ : st) {
		lock.lock();
		counter++;
		lock.unlock();
	}
	st.SetItemsProcessed(st.iterations());
	if (st.thread_index() == 0 &&
	    counter != static_cast<uint64_t>(st.iterations()) * static_cast<uint64_t>(st.threads()))
		st.SkipWithError("shared counter lost increments");
}

template <class L> void percpu_bench(benchmark::State &st)
{
	static L lock("bench.percpu");
	static padded_counter slot[max_threads]; // guarded by lock
	if (!lock.ok()) {
		st.SkipWithError("lock mode could not be set");
		return;
	}
	const int me = st.thread_index();
	if (me >= max_threads) {
		st.SkipWithError("too many threads");
		return;
	}
	slot[me].n = 0;
	for (auto _ : st) {
		lock.lock();
		slot[me].n++;
		lock.unlock();
	}
	st.SetItemsProcessed(st.iterations());
	if (slot[me].n != static_cast<uint64_t>(st.iterations()))
		st.SkipWithError("per-thread counter lost increments");
}

#define HG_BENCH_PAIR(variant, type) \
	BENCHMARK_TEMPLATE(pair_bench, type)->Name("pair/" variant)
#define HG_BENCH_THREADED(body, prefix, variant, type)                            \
	BENCHMARK_TEMPLATE(body, type)->Name(prefix variant)->Threads(1)->Threads(2) \
	    ->UseRealTime()

HG_BENCH_PAIR("pthread_mutex", pthread_variant);
HG_BENCH_PAIR("hg_mutex", hg_mutex_variant);
HG_BENCH_PAIR("hg_lock", hg_lock_variant);
HG_BENCH_PAIR("hg_lock_emu", hg_lock_emu_variant);

HG_BENCH_THREADED(counter_bench, "counter/", "pthread_mutex", pthread_variant);
HG_BENCH_THREADED(counter_bench, "counter/", "hg_mutex", hg_mutex_variant);
HG_BENCH_THREADED(counter_bench, "counter/", "hg_lock", hg_lock_variant);
HG_BENCH_THREADED(counter_bench, "counter/", "hg_lock_emu", hg_lock_emu_variant);

HG_BENCH_THREADED(percpu_bench, "percpu/", "pthread_mutex", pthread_variant);
HG_BENCH_THREADED(percpu_bench, "percpu/", "hg_mutex", hg_mutex_variant);
HG_BENCH_THREADED(percpu_bench, "percpu/", "hg_lock", hg_lock_variant);
HG_BENCH_THREADED(percpu_bench, "percpu/", "hg_lock_emu", hg_lock_emu_variant);

} // namespace
