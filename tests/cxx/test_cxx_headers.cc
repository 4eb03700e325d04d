// SPDX-License-Identifier: MIT
//
// tests/cxx/test_cxx_headers.cc - the public API used from C++: the static
// initializers, the elided lock from two std::threads, and the statistics.
// Run with HTMGIL_HTM=emu so the speculative path is taken.
#include <htmgil/htmgil.h>

#include <cstdio>
#include <thread>

static struct hg_lock cxx_lock = HG_LOCK_INITIALIZER;
static struct hg_mutex cxx_mutex = HG_MUTEX_INITIALIZER;
static unsigned long cxx_counter; // guarded by cxx_lock

static_assert(sizeof(struct hg_lock) == 64, "struct hg_lock is one cache line");
static_assert(alignof(struct hg_lock) == 64, "struct hg_lock is line-aligned");

int main()
{
	int fails = 0;
	const unsigned long per_thread = 10000;

	hg_lock_init(&cxx_lock, "cxx");
	uint64_t site = hg_site("cxx.site");

	auto work = [&] {
		for (unsigned long i = 0; i < per_thread; i++) {
			hg_lock_acquire(&cxx_lock, site);
			cxx_counter++;
			hg_lock_release(&cxx_lock);
		}
	};
	std::thread a(work), b(work);
	a.join();
	b.join();
	if (cxx_counter != 2 * per_thread) {
		std::fprintf(stderr, "counter %lu, expected %lu\n", cxx_counter, 2 * per_thread);
		fails++;
	}

	struct hg_site_stats st;
	hg_stats_get(&cxx_lock, site, &st);
	if (st.acquisitions != 2 * per_thread) {
		std::fprintf(stderr, "acquisitions %llu, expected %lu\n",
		    static_cast<unsigned long long>(st.acquisitions), 2 * per_thread);
		fails++;
	}

	hg_mutex_lock(&cxx_mutex);
	if (!hg_mutex_is_locked(&cxx_mutex)) {
		std::fprintf(stderr, "hg_mutex not locked after hg_mutex_lock\n");
		fails++;
	}
	hg_mutex_unlock(&cxx_mutex);

	if (hg_htm_mode() != HG_HTM_EMU) {
		std::fprintf(stderr, "mode %s, expected emu (HTMGIL_HTM=emu)\n",
		    hg_htm_mode_name(hg_htm_mode()));
		fails++;
	}
	hg_lock_destroy(&cxx_lock);
	std::printf("%s\n", fails ? "FAILED" : "ok");
	return fails != 0;
}
