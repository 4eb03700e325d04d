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
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
	    "  --jobs N          replays run at once, in processes (default: the online CPUs)\n"
	    "  --fallback F      bounded (default): a hold that falls back to the lock keeps it in\n"
	    "                    stretches of txlen yield intervals, given back while another thread\n"
	    "                    waits to speculate, as the GIL front end does; hold: to the hold's\n"
	    "                    end (what-if: a fallback that serializes)\n"
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

/* What a run in another process sends back: the figures the report reads
 * of the runs other than the first. */
struct hg_sim_run_out {
	double makespan, busy;
	struct hg_sim_thread_out *threads; /* t->nthreads */
};

/* All n bytes of p to fd (out) or from it; -1 on an error or end of file. */
static int hg_sim_xfer(int fd, void *p, size_t n, bool out)
{
	char *c = p;
	while (n > 0) {
		ssize_t k = out ? write(fd, c, n) : read(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static int hg_sim_put(int fd, const void *p, size_t n) { return hg_sim_xfer(fd, (void *)p, n, true); }
static int hg_sim_get(int fd, void *p, size_t n) { return hg_sim_xfer(fd, p, n, false); }

/* Runs runs[j]: run 0 into *first, another into out[j] (threads allocated). */
static int hg_sim_run_one(const struct hg_sim_trace *t, const struct hg_sim_opts *runs, unsigned j,
    struct hg_sim_result *first, struct hg_sim_run_out *out, char *err, size_t errlen)
{
	if (j == 0)
		return hg_sim_run(t, &runs[0], first, err, errlen);
	struct hg_sim_result r;
	if (hg_sim_run(t, &runs[j], &r, err, errlen) != 0)
		return -1;
	out[j].makespan = r.makespan;
	out[j].busy = r.busy;
	out[j].threads = r.threads;
	r.threads = NULL;
	hg_sim_result_free(&r);
	return 0;
}

/*
 * The runs, up to `jobs` at once, taken from a queue: run 0 by this
 * process, which then takes the next run not yet taken, as each worker
 * does (the elided runs cost more than the lock-only ones, so a fixed
 * split would leave one worker with all of them).  Worker w > 0 is a child
 * process, which writes each of its runs' index and figures into its pipe
 * (an index of UINT32_MAX: an error line follows).  The queue is one
 * counter in shared memory, taken with fetch_add (relaxed: it orders
 * nothing but itself; results travel through the pipes).  Each run is
 * deterministic (its seeds are its own), so the figures do not depend on
 * jobs or on who ran what; every run must come back exactly once.
 */
static unsigned hg_sim_take(_Atomic unsigned *next, unsigned nruns)
{
	unsigned j = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);
	return j < nruns ? j : nruns;
}

static int hg_sim_run_all(const struct hg_sim_trace *t, const struct hg_sim_opts *runs,
    unsigned nruns, unsigned jobs, struct hg_sim_result *first, struct hg_sim_run_out *out,
    char *err, size_t errlen)
{
	unsigned nw = jobs < nruns ? jobs : nruns, started = 1;
	int fds[256];
	pid_t pids[256];
	size_t tsz = (size_t)t->nthreads * sizeof(struct hg_sim_thread_out);
	_Atomic unsigned *next = mmap(NULL, sizeof *next, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	bool *done = calloc(nruns, sizeof *done);
	if (next == MAP_FAILED || !done) {
		snprintf(err, errlen, "out of memory for the replays' queue");
		free(done);
		return -1;
	}
	atomic_init(next, 1);
	fflush(NULL);
	for (unsigned w = 1; w < nw; w++, started++) {
		int p[2];
		if (pipe(p) != 0)
			break;
		if ((pids[w] = fork()) < 0) {
			close(p[0]);
			close(p[1]);
			break;
		}
		if (pids[w] == 0) {
			close(p[0]);
			int rc = 0;
			for (unsigned j = hg_sim_take(next, nruns); rc == 0 && j < nruns;
			     j = hg_sim_take(next, nruns)) {
				uint32_t idx = j;
				rc = hg_sim_run_one(t, runs, j, first, out, err, errlen);
				if (rc == 0 && (hg_sim_put(p[1], &idx, sizeof idx) ||
				                hg_sim_put(p[1], &out[j], 2 * sizeof(double)) ||
				                hg_sim_put(p[1], out[j].threads, tsz)))
					_exit(3);
			}
			if (rc != 0) {
				uint32_t idx = UINT32_MAX;
				(void)(hg_sim_put(p[1], &idx, sizeof idx) || hg_sim_put(p[1], err, errlen));
			}
			_exit(rc == 0 ? 0 : 3);
		}
		close(p[1]);
		fds[w] = p[0];
	}
	int rc = hg_sim_run_one(t, runs, 0, first, out, err, errlen);
	done[0] = true;
	for (unsigned j = hg_sim_take(next, nruns); rc == 0 && j < nruns; j = hg_sim_take(next, nruns)) {
		rc = hg_sim_run_one(t, runs, j, first, out, err, errlen);
		done[j] = true;
	}
	for (unsigned w = 1; w < started; w++) {
		uint32_t idx;
		while (rc == 0 && hg_sim_get(fds[w], &idx, sizeof idx) == 0) {
			if (idx == UINT32_MAX) {
				if (hg_sim_get(fds[w], err, errlen) != 0)
					snprintf(err, errlen, "a replay process failed");
				err[errlen - 1] = '\0';
				rc = -1;
				break;
			}
			if (idx == 0 || idx >= nruns || done[idx] ||
			    (out[idx].threads = malloc(tsz ? tsz : 1)) == NULL ||
			    hg_sim_get(fds[w], &out[idx], 2 * sizeof(double)) ||
			    hg_sim_get(fds[w], out[idx].threads, tsz)) {
				snprintf(err, errlen, "a replay process sent a bad result");
				rc = -1;
				break;
			}
			done[idx] = true;
		}
		close(fds[w]);
		int st = 0;
		if (waitpid(pids[w], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			if (rc == 0)
				snprintf(err, errlen, "a replay process failed (status 0x%x)", st);
			rc = -1;
		}
	}
	for (unsigned j = 0; rc == 0 && j < nruns; j++)
		if (!done[j]) {
			snprintf(err, errlen, "replay %u of %u came back from no process", j, nruns);
			rc = -1;
		}
	free(done);
	munmap((void *)next, sizeof *next);
	return rc;
}

int main(int argc, char **argv)
{
	struct hg_sim_opts o = { .model = &hg_sim_models[0], .cpi = HG_SIM_CPI_DEFAULT,
		.ghz = HG_SIM_GHZ_DEFAULT, .seed = 1, .jitter = HG_SIM_JITTER_DEFAULT, .cpus = 0,
		.elide = true };
	const char *trace = NULL, *report = NULL, *text = NULL, *names = NULL;
	int curve = 1;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned jobs = online > 0 ? (unsigned)online : 1;
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
			} else if (strcmp(a, "--jobs") == 0) {
				if (hg_sim_num(v, 1, 256, &x) || x != (unsigned)x)
					return hg_sim_bad("--jobs takes a whole number from 1 to 256, not '%s'", v);
				jobs = (unsigned)x;
			} else if (strcmp(a, "--fallback") == 0) {
				if (strcmp(v, "hold") == 0)
					o.hold_fallback = true;
				else if (strcmp(v, "bounded") == 0)
					o.hold_fallback = false;
				else
					return hg_sim_bad("--fallback takes hold or bounded, not '%s'", v);
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

	/* The runs: 0 elided and 1 on the lock at o.cpus, then pairs at fewer
	 * cores for the curve. */
	struct hg_sim_opts *runs = calloc(2 * (size_t)o.cpus, sizeof *runs);
	double *ce = calloc(o.cpus, sizeof *ce), *cl = calloc(o.cpus, sizeof *cl);
	struct hg_sim_run_out *outs = calloc(2 * (size_t)o.cpus, sizeof *outs);
	if (!runs || !ce || !cl || !outs) {
		fprintf(stderr, "htmgil-sim-replay: out of memory\n");
		return 2;
	}
	unsigned nruns = 0;
	for (unsigned k = o.cpus; k >= 1; k--) {
		if (k < o.cpus && !(curve && (k <= 16 || (k & (k - 1)) == 0)))
			continue;
		for (int elide = 1; elide >= 0; elide--) {
			runs[nruns] = o;
			runs[nruns].cpus = k;
			runs[nruns++].elide = elide;
		}
	}
	struct hg_sim_result E, L;
	if (hg_sim_run_all(&t, runs, nruns, jobs, &E, outs, err, sizeof err) != 0) {
		fprintf(stderr, "htmgil-sim-replay: %s\n", err);
		return 2;
	}
	/* The report reads only these of the lock-only run. */
	memset(&L, 0, sizeof L);
	L.cpus = o.cpus;
	L.makespan = outs[1].makespan;
	L.busy = outs[1].busy;
	L.threads = outs[1].threads;
	outs[1].threads = NULL;
	for (unsigned j = 0; j < nruns; j++) {
		double *c = runs[j].elide ? ce : cl;
		c[runs[j].cpus - 1] = j == 0 ? E.makespan : outs[j].makespan;
		free(outs[j].threads);
	}
	free(outs);
	free(runs);
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
	free(L.threads);
	free(ce);
	free(cl);
	hg_sim_trace_free(&t);
	if (have_names)
		hg_sim_names_free(&nm);
	return rc;
}
