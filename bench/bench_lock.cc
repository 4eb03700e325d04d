// SPDX-License-Identifier: MIT
//
// bench/bench_lock.cc - the elided lock against its baselines and its peers.
//
// Every benchmark body is written once over a lock adapter, and registered
// once per variant; the benchmark's name ends in the variant:
//
//   pthread_mutex   glibc's default mutex (the baseline).  Run with
//                   GLIBC_TUNABLES=glibc.elision.enable=1 it is glibc's own
//                   elision (bench/ratios.py runs it so, as "glibc_elision");
//                   the context entry glibc_elision says whether glibc elided
//   hg_mutex        htmgil's real-lock tier alone (struct hg_mutex)
//   hg_lock         the elided lock in the process mode (HTMGIL_HTM; "off"
//                   on a machine without RTM, so this measures the cost of
//                   the elision layer when HTM is unavailable)
//   hg_lock_off     the elided lock forced to its lock tier (mode off)
//   hg_lock_emu     the elided lock forced to emulated HTM
//   hg_lock_rtm     the elided lock forced to RTM and to its hardware tier
//                   (no cost comparison: only aborts move a site to the
//                   lock): registered only where detection allowed RTM
//   ck_spinlock     Concurrency Kit's spinlock (bench/bench_ck.h)
//   ck_elide        ck_elide.h over it, built without RTM
//   ck_elide_rtm    ck_elide.h's adaptive elision with RTM: registered only
//                   where detection allowed RTM (never runs XBEGIN otherwise)
//
// The ck variants exist when the build found libck-dev; the context entries
// ck_peers and rtm_peers say which peers this binary measures and why not.
//
// Bodies:
//   pair/<variant>      uncontended acquire + release of an empty section
//   counter/<variant>   one shared counter bumped under the lock, 1 and 2 threads
//   percpu/<variant>    per-thread counters (own cache line) under one lock
//   hash/<variant>      a read-mostly hash table under one lock: 90 % lookups,
//                       10 % updates, 1 and 2 threads (where elision should win)
//
// The threaded bodies check after the run that no increment was lost and
// mark the benchmark as failed otherwise.
#include <benchmark/benchmark.h>

#include <htmgil/htmgil.h>

#include <pthread.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_lock.h"
#ifdef HG_BENCH_HAVE_CK
#include "bench_ck.h"
#endif

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

template <enum hg_htm_mode M> struct hg_lock_forced_variant : hg_lock_variant {
	explicit hg_lock_forced_variant(const char *name) : hg_lock_variant(name)
	{
		mode_ok = hg_lock_set_mode(&l, M) == 0;
		if (M == HG_HTM_RTM)
			hg_lock_set_cost(&l, 0); /* the hardware tier itself */
	}
};
using hg_lock_off_variant = hg_lock_forced_variant<HG_HTM_OFF>;
using hg_lock_emu_variant = hg_lock_forced_variant<HG_HTM_EMU>;
using hg_lock_rtm_variant = hg_lock_forced_variant<HG_HTM_RTM>;

#ifdef HG_BENCH_HAVE_CK
struct ck_spin_variant {
	struct hg_bench_ck_lock l;
	explicit ck_spin_variant(const char *) { hg_bench_ck_init(&l); }
	bool ok() const { return true; }
	void lock() { hg_bench_ck_spin_lock(&l); }
	void unlock() { hg_bench_ck_spin_unlock(&l); }
};

struct ck_elide_variant : ck_spin_variant {
	using ck_spin_variant::ck_spin_variant;
	void lock() { hg_bench_ck_elide_lock(&l); }
	void unlock() { hg_bench_ck_elide_unlock(&l); }
};

#ifdef HG_BENCH_HAVE_CK_RTM
// Constructed (and so run) only from hg_bench_lock_setup(), after detection.
struct ck_elide_rtm_variant : ck_spin_variant {
	using ck_spin_variant::ck_spin_variant;
	void lock() { hg_bench_ck_rtm_lock(&l); }
	void unlock() { hg_bench_ck_rtm_unlock(&l); }
};
#endif
#endif

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


// A read-mostly table: open addressing over hash_slots slots holding
// hash_keys keys, filled once.  A lookup probes for a key that is always
// present; an update adds one to its value and to the table's total, so
// after a run sum(values) == total unless sections overlapped.
constexpr unsigned hash_keys = 1024;
constexpr unsigned hash_slots = 2048; // a power of two

struct hash_slot {
	uint32_t key; // key + 1; 0 = empty
	uint32_t pad;
	uint64_t value;
};

struct hash_table {
	hash_slot slot[hash_slots];
	uint64_t total;

	static unsigned home(uint32_t key) { return (key * 2654435761u) & (hash_slots - 1); }
	hash_slot *find(uint32_t key)
	{
		for (unsigned i = home(key);; i = (i + 1) & (hash_slots - 1)) {
			if (slot[i].key == key + 1)
				return &slot[i];
			if (slot[i].key == 0)
				return nullptr;
		}
	}
	void fill()
	{
		std::memset(slot, 0, sizeof slot);
		total = 0;
		for (uint32_t k = 0; k < hash_keys; k++) {
			unsigned i = home(k);
			while (slot[i].key != 0)
				i = (i + 1) & (hash_slots - 1);
			slot[i].key = k + 1;
		}
	}
	uint64_t sum() const
	{
		uint64_t s = 0;
		for (const hash_slot &e : slot)
			s += e.value;
		return s;
	}
};

template <class L> void hash_bench(benchmark::State &st)
{
	alignas(64) static L lock("bench.hash");
	alignas(64) static hash_table tab; // guarded by lock
	static bool missed;                 // guarded by lock
	if (!lock.ok()) {
		st.SkipWithError("lock mode could not be set");
		return;
	}
	if (st.thread_index() == 0) {
		tab.fill();
		missed = false;
	}
	uint64_t x = 0x9e3779b97f4a7c15u * static_cast<uint64_t>(st.thread_index() + 1);
	uint64_t found = 0;
	for (auto _ : st) {
		x ^= x << 13; // xorshift64
		x ^= x >> 7;
		x ^= x << 17;
		const uint32_t key = static_cast<uint32_t>(x >> 32) % hash_keys;
		const bool update = (x & 0xffff) % 10 == 0;
		lock.lock();
		hash_slot *e = tab.find(key);
		if (e == nullptr)
			missed = true;
		else if (update) {
			e->value++;
			tab.total++;
		} else
			found += e->value;
		lock.unlock();
	}
	benchmark::DoNotOptimize(found);
	st.SetItemsProcessed(st.iterations());
	// Every thread has left the loop (Google Benchmark's exit barrier).
	if (st.thread_index() == 0 && (missed || tab.sum() != tab.total))
		st.SkipWithError(missed ? "hash table lost a key" : "hash table lost updates");
}

// What moving one cache line between two threads costs, measured in the
// same run as the locks: two threads adding to one word make every add a
// transfer (bench/ratios.py prints it; it depends on where the host
// placed the vCPUs).
static void line_bench(benchmark::State &st)
{
	alignas(64) static uint64_t word;
	for (auto _ : st)
		__atomic_fetch_add(&word, 1, __ATOMIC_RELAXED);
	st.SetItemsProcessed(st.iterations());
}
BENCHMARK(line_bench)->Name("line/atomic_add")->Threads(1)->Threads(2)->UseRealTime();

#define HG_BENCH_PAIR(variant, type) \
	BENCHMARK_TEMPLATE(pair_bench, type)->Name("pair/" variant)
#define HG_BENCH_THREADED(body, prefix, variant, type)                            \
	BENCHMARK_TEMPLATE(body, type)->Name(prefix variant)->Threads(1)->Threads(2) \
	    ->UseRealTime()

#define HG_BENCH_ALL(variant, type)                                   \
	HG_BENCH_PAIR(variant, type);                                 \
	HG_BENCH_THREADED(counter_bench, "counter/", variant, type); \
	HG_BENCH_THREADED(percpu_bench, "percpu/", variant, type);   \
	HG_BENCH_THREADED(hash_bench, "hash/", variant, type)

HG_BENCH_ALL("pthread_mutex", pthread_variant);
HG_BENCH_ALL("hg_mutex", hg_mutex_variant);
HG_BENCH_ALL("hg_lock", hg_lock_variant);
HG_BENCH_ALL("hg_lock_off", hg_lock_off_variant);
HG_BENCH_ALL("hg_lock_emu", hg_lock_emu_variant);
#ifdef HG_BENCH_HAVE_CK
HG_BENCH_ALL("ck_spinlock", ck_spin_variant);
HG_BENCH_ALL("ck_elide", ck_elide_variant);
#endif

// Registered at run time, and only where detection allowed RTM.
template <class L> void register_all(const char *variant)
{
	const std::string v(variant);
	benchmark::RegisterBenchmark(("pair/" + v).c_str(), pair_bench<L>);
	for (auto body : { std::make_pair("counter/", counter_bench<L>),
	         std::make_pair("percpu/", percpu_bench<L>), std::make_pair("hash/", hash_bench<L>) })
		benchmark::RegisterBenchmark((body.first + v).c_str(), body.second)
		    ->Threads(1)
		    ->Threads(2)
		    ->UseRealTime();
}

/*
 * Whether glibc elides its default mutexes in this process: with elision
 * enabled (the tunable) and a CPU with RTM, the first lock of a default
 * mutex sets PTHREAD_MUTEX_ELISION_NP (256, glibc's internal kind flag) in
 * its kind, which glibc then uses for every later acquisition.
 */
std::string glibc_elision_state()
{
	const char *tun = std::getenv("GLIBC_TUNABLES");
	const bool asked = tun && std::strstr(tun, "glibc.elision.enable=1");
#ifdef __GLIBC__
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&m);
	const bool elides = (m.__data.__kind & 256) != 0;
	pthread_mutex_unlock(&m);
	if (elides)
		return "on: glibc elides pthread_mutex (GLIBC_TUNABLES=glibc.elision.enable=1, RTM)";
	if (asked)
		return "off: glibc.elision.enable=1 is set but glibc does not elide (no usable RTM on "
		       "this CPU), so pthread_mutex ran as the plain mutex";
	return "off: glibc.elision.enable=1 is not set (GLIBC_TUNABLES)";
#else
	(void)asked;
	return "absent: not glibc";
#endif
}

} // namespace

void hg_bench_lock_setup()
{
	const struct hg_cpu_info *ci = hg_cpu_detect();
	const bool rtm = ci->verdict == HG_RTM_USABLE;
	const std::string why = std::string("skipped: RTM not usable here (") +
	    hg_rtm_verdict_str(ci->verdict) + ")";
	if (rtm)
		register_all<hg_lock_rtm_variant>("hg_lock_rtm");
#if defined(HG_BENCH_HAVE_CK) && defined(HG_BENCH_HAVE_CK_RTM)
	if (rtm)
		register_all<ck_elide_rtm_variant>("ck_elide_rtm");
	benchmark::AddCustomContext("ck_peers", "ck_spinlock ck_elide");
	benchmark::AddCustomContext("ck_elide_rtm", rtm ? "measured" : why);
#elif defined(HG_BENCH_HAVE_CK)
	benchmark::AddCustomContext("ck_peers", "ck_spinlock ck_elide");
	benchmark::AddCustomContext("ck_elide_rtm",
	    "absent: built without RTM support in the compiler");
#else
	benchmark::AddCustomContext("ck_peers",
	    "absent: built without Concurrency Kit (Debian: apt-get install libck-dev)");
	benchmark::AddCustomContext("ck_elide_rtm",
	    "absent: built without Concurrency Kit (Debian: apt-get install libck-dev)");
#endif
	benchmark::AddCustomContext("hg_lock_rtm", rtm ? "measured" : why);
	benchmark::AddCustomContext("glibc_elision", glibc_elision_state());
}
