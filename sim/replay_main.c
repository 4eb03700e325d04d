/* SPDX-License-Identifier: MIT */
/*
 * sim/replay_main.c - htmgil-sim-replay: reads a section trace, replays it
 * with elision and on the lock alone, at 1..N cores, and writes the
 * prediction (docs/report.md, "Simulation (tier sim)").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/replay.h"

static void hg_sim_usage(FILE *f)
{
	fprintf(f,
	    "usage: htmgil-sim-replay TRACE [options]\n"
	    "  predicts which sections of a recorded trace abort on Intel RTM and what\n"
	    "  parallelism elision gives (docs/report.md, \"Simulation (tier sim)\")\n"
	    "options:\n"
	    "  --cpus N          virtual cores (default: the trace's threads, at most %u)\n"
	    "  --model NAME      CPU model (default emerald-rapids):\n",
	    HG_SIM_MAX_CPUS);
	for (unsigned i = 0; i < HG_SIM_N_MODELS; i++)
		fprintf(f, "                      %-15s %s\n", hg_sim_models[i].name, hg_sim_models[i].what);
	fprintf(f,
	    "  --cpi X           cycles per instruction (default %.1f)\n"
	    "  --ghz X           nominal clock, for microseconds (default %.1f)\n"
	    "  --seed N          seed of the timer draws, the jitter and the policy's randomness (default 1)\n"
	    "  --jitter X        each attempt's and gap's length times U[1-X, 1+X] (default %.2f, 0: exact)\n"
	    "  --report F.json   write the prediction as JSON (schema htmgil-sim, version 1)\n"
	    "  --text FILE       write the text to FILE (default: stderr)\n"
	    "  --names R.json    name locks and sites from the preload's JSON report\n"
	    "  --no-curve        skip the 1..N-core scaling runs\n"
	    "The policy's knobs come from HTMGIL_POLICY and HTMGIL_TXLEN, as for a run.\n",
	    HG_SIM_CPI_DEFAULT, HG_SIM_GHZ_DEFAULT, HG_SIM_JITTER_DEFAULT);
}

static int hg_sim_bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "htmgil-sim-replay: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (htmgil-sim-replay --help lists the options)\n");
	return 2;
}

static int hg_sim_num(const char *s, double lo, double hi, double *out)
{
	char *e;
	errno = 0;
	double v = strtod(s, &e);
	if (errno || e == s || *e || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static double hg_sim_secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct hg_sim_opts o = { .model = &hg_sim_models[0], .cpi = HG_SIM_CPI_DEFAULT,
		.ghz = HG_SIM_GHZ_DEFAULT, .seed = 1, .jitter = HG_SIM_JITTER_DEFAULT, .cpus = 0,
		.elide = true };
	const char *trace = NULL, *report = NULL, *text = NULL, *names = NULL;
	int curve = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		double x;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			hg_sim_usage(stdout);
			return 0;
		} else if (strcmp(a, "--no-curve") == 0) {
			curve = 0;
			continue;
		} else if (a[0] == '-' && a[1] == '-') {
			if (!v)
				return hg_sim_bad("option %s needs a value", a);
			i++;
			if (strcmp(a, "--cpus") == 0) {
				if (hg_sim_num(v, 1, HG_SIM_MAX_CPUS, &x) || x != (unsigned)x)
					return hg_sim_bad("--cpus takes a whole number from 1 to 64, not '%s'", v);
				o.cpus = (unsigned)x;
			} else if (strcmp(a, "--model") == 0) {
				o.model = NULL;
				for (unsigned k = 0; k < HG_SIM_N_MODELS; k++)
					if (strcmp(v, hg_sim_models[k].name) == 0)
						o.model = &hg_sim_models[k];
				if (!o.model)
					return hg_sim_bad("unknown --model '%s'", v);
			} else if (strcmp(a, "--cpi") == 0) {
				if (hg_sim_num(v, 0.01, 100, &o.cpi))
					return hg_sim_bad("--cpi takes a number from 0.01 to 100, not '%s'", v);
			} else if (strcmp(a, "--ghz") == 0) {
				if (hg_sim_num(v, 0.1, 10, &o.ghz))
					return hg_sim_bad("--ghz takes a number from 0.1 to 10, not '%s'", v);
			} else if (strcmp(a, "--jitter") == 0) {
				if (hg_sim_num(v, 0, 0.9, &o.jitter))
					return hg_sim_bad("--jitter takes a number from 0 to 0.9, not '%s'", v);
			} else if (strcmp(a, "--seed") == 0) {
				char *e;
				errno = 0;
				o.seed = strtoull(v, &e, 0);
				if (errno || e == v || *e)
					return hg_sim_bad("--seed takes a whole number, not '%s'", v);
			} else if (strcmp(a, "--report") == 0)
				report = v;
			else if (strcmp(a, "--text") == 0)
				text = v;
			else if (strcmp(a, "--names") == 0)
				names = v;
			else
				return hg_sim_bad("unknown option %s", a);
		} else if (!trace)
			trace = a;
		else
			return hg_sim_bad("one trace at a time; '%s' is a second one", a);
	}
	if (!trace)
		return hg_sim_bad("%s", "no trace named");

	double t0 = hg_sim_secs();
	char err[512];
	struct hg_sim_trace t;
	if (hg_sim_trace_load(trace, &t, err, sizeof err) != 0) {
		fprintf(stderr, "htmgil-sim-replay: %s\n", err);
		return 2;
	}
	struct hg_sim_names nm;
	int have_names = 0;
	if (names) {
		if (hg_sim_names_load(names, &nm, err, sizeof err) != 0) {
			fprintf(stderr, "htmgil-sim-replay: %s\n", err);
			return 2;
		}
		have_names = 1;
	}
	if (o.cpus == 0)
		o.cpus = t.nthreads < HG_SIM_MAX_CPUS ? t.nthreads : HG_SIM_MAX_CPUS;

	struct hg_sim_result E, L;
	double *ce = calloc(o.cpus, sizeof *ce), *cl = calloc(o.cpus, sizeof *cl);
	if (!ce || !cl) {
		fprintf(stderr, "htmgil-sim-replay: out of memory\n");
		return 2;
	}
	struct hg_sim_opts lo = o;
	lo.elide = false;
	if (hg_sim_run(&t, &o, &E, err, sizeof err) != 0 || hg_sim_run(&t, &lo, &L, err, sizeof err) != 0) {
		fprintf(stderr, "htmgil-sim-replay: %s\n", err);
		return 2;
	}
	ce[o.cpus - 1] = E.makespan;
	cl[o.cpus - 1] = L.makespan;
	for (unsigned k = 1; curve && k < o.cpus; k++) {
		if (!(k <= 16 || (k & (k - 1)) == 0))
			continue;
		struct hg_sim_opts ok = o, lk = lo;
		ok.cpus = lk.cpus = k;
		struct hg_sim_result re, rl;
		if (hg_sim_run(&t, &ok, &re, err, sizeof err) != 0 ||
		    hg_sim_run(&t, &lk, &rl, err, sizeof err) != 0) {
			fprintf(stderr, "htmgil-sim-replay: %s\n", err);
			return 2;
		}
		ce[k - 1] = re.makespan;
		cl[k - 1] = rl.makespan;
		hg_sim_result_free(&re);
		hg_sim_result_free(&rl);
	}
	struct hg_sim_census cen;
	if (hg_sim_census(&t, &cen, err, sizeof err) != 0) {
		fprintf(stderr, "htmgil-sim-replay: %s\n", err);
		return 2;
	}
	struct hg_sim_report rp = { &t, have_names ? &nm : NULL, &o, trace, &E, &L, ce, cl,
		hg_sim_secs() - t0, &cen };
	int rc = 0;
	if (report) {
		FILE *f = fopen(report, "w");
		if (!f) {
			fprintf(stderr, "htmgil-sim-replay: cannot write %s: %s\n", report, strerror(errno));
			return 2;
		}
		hg_sim_write_json(f, &rp);
		if (fclose(f) != 0) {
			fprintf(stderr, "htmgil-sim-replay: cannot write %s: %s\n", report, strerror(errno));
			rc = 2;
		}
	}
	FILE *tf = stderr;
	if (text && !(tf = fopen(text, "w"))) {
		fprintf(stderr, "htmgil-sim-replay: cannot write %s: %s\n", text, strerror(errno));
		return 2;
	}
	hg_sim_write_text(tf, &rp);
	if (tf != stderr && fclose(tf) != 0) {
		fprintf(stderr, "htmgil-sim-replay: cannot write %s: %s\n", text, strerror(errno));
		rc = 2;
	}
	hg_sim_census_free(&cen);
	hg_sim_result_free(&E);
	hg_sim_result_free(&L);
	free(ce);
	free(cl);
	hg_sim_trace_free(&t);
	if (have_names)
		hg_sim_names_free(&nm);
	return rc;
}
