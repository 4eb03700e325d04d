// SPDX-License-Identifier: MIT
//
// bench/main.cc - entry point of htmgil-bench.  Every bench/bench_*.cc file
// registers its own benchmarks; this file only records, in the output's
// context block, the htmgil mode the run used, so a JSON result says whether
// HTM was available when it was measured.
#include <benchmark/benchmark.h>

#include <htmgil/htmgil.h>

#include <string>

int main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	benchmark::AddCustomContext("htmgil_version",
	    std::to_string(HTMGIL_VERSION_MAJOR) + "." + std::to_string(HTMGIL_VERSION_MINOR) +
		"." + std::to_string(HTMGIL_VERSION_PATCH));
	benchmark::AddCustomContext("htmgil_htm_mode", hg_htm_mode_name(hg_htm_mode()));
	benchmark::AddCustomContext("htmgil_rtm_verdict",
	    hg_rtm_verdict_str(hg_cpu_detect()->verdict));
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
