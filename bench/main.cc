// SPDX-License-Identifier: MIT
//
// bench/main.cc - entry point of htmgil-bench.  Every bench/bench_*.cc file
// registers its own benchmarks; this file records, in the output's context
// block, the htmgil mode the run used (so a JSON result says whether HTM was
// available when it was measured), and makes the process multi-threaded
// before anything is measured.
//
// Why a parked thread: while a process has a single thread, glibc's
// pthread_mutex_lock/unlock drop the LOCK prefix (the lock cannot be
// contended), which makes the uncontended pthread_mutex pair about three
// times cheaper than in any program that actually needs a lock.  A thread
// that sleeps for the whole run puts glibc on its multi-threaded path, the
// one every lock in this project competes with.
#include <benchmark/benchmark.h>

#include <htmgil/htmgil.h>

#include "bench_lock.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

int park_pipe[2] = { -1, -1 };

void *park(void *)
{
	char c;
	// Returns when main closes the write end.
	while (read(park_pipe[0], &c, 1) > 0) {
	}
	return nullptr;
}

} // namespace

int main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;

	pthread_t parked;
	int e = pipe(park_pipe) != 0 ? errno : pthread_create(&parked, nullptr, park, nullptr);
	if (e != 0) {
		std::fprintf(stderr, "htmgil-bench: cannot start the parked thread: %s\n",
		    std::strerror(e));
		return 1;
	}

	benchmark::AddCustomContext("htmgil_version",
	    std::to_string(HTMGIL_VERSION_MAJOR) + "." + std::to_string(HTMGIL_VERSION_MINOR) +
		"." + std::to_string(HTMGIL_VERSION_PATCH));
	benchmark::AddCustomContext("htmgil_htm_mode", hg_htm_mode_name(hg_htm_mode()));
	benchmark::AddCustomContext("htmgil_rtm_verdict",
	    hg_rtm_verdict_str(hg_cpu_detect()->verdict));
	benchmark::AddCustomContext("htmgil_process", "multi-threaded (one parked thread)");
	hg_bench_lock_setup();
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();

	close(park_pipe[1]);
	pthread_join(parked, nullptr);
	close(park_pipe[0]);
	return 0;
}
