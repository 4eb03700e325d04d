/* SPDX-License-Identifier: MIT */
/*
 * tools/htmgil.c - the htmgil command-line program.
 *
 *   htmgil cpu [--json]          what this machine offers and what htmgil uses
 *   htmgil run [OPTIONS] -- CMD  run CMD with the preload library and settings
 *   htmgil sim [OPTIONS] -- CMD  predict CMD's sections on RTM (valgrind tool + replay)
 *   htmgil report FILE.json ...  read reports (tools/htmgil_report.py, run by python3)
 *   htmgil --version | --help
 *
 * Usage errors print one line on stderr naming the problem and the way out,
 * and exit with status 2.  `run` replaces itself with CMD (execvp), so CMD's
 * exit status is the program's; when CMD cannot be started the status is 127
 * (not found) or 126 (not executable), as env(1) does.
 */
#include <errno.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <htmgil/htmgil.h>

#include "base/json.h"
#include "pmu/pmu.h"

#ifndef HG_CLI_LIBDIR_REL
/* Relative path from the installed bin directory to the library directory. */
#define HG_CLI_LIBDIR_REL "../lib"
#endif
#define HG_PRELOAD_NAME "libhtmgil-preload.so"
#ifndef HG_CLI_LIBEXECDIR_REL
/* Relative path from the installed bin directory to the libexec directory. */
#define HG_CLI_LIBEXECDIR_REL "../libexec"
#endif
#ifndef HG_CLI_DATADIR_REL
/* Relative path from the installed bin directory to the data directory. */
#define HG_CLI_DATADIR_REL "../share"
#endif
#define HG_REPORT_SCRIPT "htmgil/htmgil_report.py"

#define HG_EXIT_USAGE 2

/* The command line's verb, for messages of helpers that `run` and `sim` share. */
static const char *hg_cli_cmd = "htmgil run";

static const char *const hg_htm_values[] = { "auto", "rtm", "emu", "off", NULL };
static const char *const hg_target_values[] = { "gil", "pthread", NULL };

/*
 * The library reads HTMGIL_* once, from its own constructor, in every
 * process that links it, this one included.  `htmgil run` only passes the
 * settings on, so the library here must not act on them: it would print a
 * bad value's warning a second time (the command prints it too) and, should
 * exec fail, write an empty HTMGIL_REPORT over the file at exit.  `htmgil
 * cpu` does honour HTMGIL_HTM, HTMGIL_EMU and HTMGIL_POLICY (it shows the
 * mode they give) but never writes a report nor opens counters
 * (HTMGIL_PMU).  So this constructor, which
 * runs before the library's (a numbered priority runs before unnumbered
 * ones), moves those variables aside; hg_cli_unstash() puts them back.
 * glibc passes main's argc and argv to constructors.
 */
static const char *const hg_cli_stash_names[] = { "HTMGIL_HTM", "HTMGIL_EMU",
	"HTMGIL_POLICY", "HTMGIL_TXLEN", "HTMGIL_REPORT", "HTMGIL_TRACE", "HTMGIL_PMU" };
#define HG_CLI_NSTASH (sizeof hg_cli_stash_names / sizeof hg_cli_stash_names[0])
static char *hg_cli_stash[HG_CLI_NSTASH];

__attribute__((constructor(101))) static void hg_cli_early(int argc, char **argv)
{
	bool run = argc > 1 && argv != NULL &&
	    (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "sim") == 0);
	for (size_t i = 0; i < HG_CLI_NSTASH; i++) {
		const char *name = hg_cli_stash_names[i];
		if (!run && strcmp(name, "HTMGIL_REPORT") != 0 && strcmp(name, "HTMGIL_PMU") != 0)
			continue;
		const char *v = getenv(name);
		if (v == NULL)
			continue;
		hg_cli_stash[i] = strdup(v);
		if (hg_cli_stash[i] != NULL)
			unsetenv(name);
	}
}

/* Restores what hg_cli_early() moved aside (for the command `run` starts). */
static int hg_cli_unstash(void)
{
	for (size_t i = 0; i < HG_CLI_NSTASH; i++) {
		if (hg_cli_stash[i] == NULL)
			continue;
		if (setenv(hg_cli_stash_names[i], hg_cli_stash[i], 1) != 0) {
			fprintf(stderr, "htmgil run: cannot set %s: %s\n", hg_cli_stash_names[i],
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void hg_cli_usage(FILE *f)
{
	fputs("usage: htmgil [--version] [--help] <command> [<args>]\n"
	      "\n"
	      "Commands:\n"
	      "  cpu     show the transactional memory this machine offers and the\n"
	      "          mode htmgil will use here\n"
	      "  run     run a command with the htmgil preload library and settings\n"
	      "  sim     predict how a command's sections would run on RTM, on any x86-64\n"
	      "          machine (valgrind)\n"
	      "  report  read the JSON reports of a run: text, JSON, HTML or a trace\n"
	      "\n"
	      "`htmgil <command> --help` describes each command.\n",
	    f);
}

static void hg_cli_cpu_usage(FILE *f)
{
	fputs("usage: htmgil cpu [--json]\n"
	      "\n"
	      "Prints each CPUID bit htmgil checks (rtm, hle, rtm_always_abort,\n"
	      "tsx_force_abort), family/model/stepping, the erratum check, the\n"
	      "commit probe, what the kernel shows about TSX, whether a hardware\n"
	      "PMU can be opened, each TSX event htmgil counts under HTMGIL_PMU with\n"
	      "its encoding for this machine's PMU model (or why there is none), and\n"
	      "the mode htmgil will use (after HTMGIL_HTM).\n"
	      "\n"
	      "  --json   one JSON object instead of text\n",
	    f);
}

static void hg_cli_run_usage(FILE *f)
{
	fputs("usage: htmgil run [OPTIONS] [--] CMD [ARGS...]\n"
	      "\n"
	      "Runs CMD with " HG_PRELOAD_NAME " prepended to LD_PRELOAD and the\n"
	      "htmgil settings below in its environment.  Settings not given are\n"
	      "inherited unchanged.\n"
	      "\n"
	      "  --htm MODE      HTMGIL_HTM: auto, rtm, emu or off\n"
	      "  --emu SPEC      HTMGIL_EMU: conflict=P,capacity=P,retry=P,other=P,seed=N\n"
	      "                  (emulated HTM only: needs --htm emu or HTMGIL_HTM=emu)\n"
	      "  --policy SPEC   HTMGIL_POLICY: key=value,... (struct hg_policy fields)\n"
	      "  --report FILE   HTMGIL_REPORT: write the report at exit (.json = JSON); one\n"
	      "                  file per process that elided a section, %p = pid\n"
	      "  --target KIND   HTMGIL_TARGET: gil or pthread\n"
	      "  --pmu[=sample]  HTMGIL_PMU=1 (hardware TSX counters per site in the report)\n"
	      "                  or HTMGIL_PMU=sample (also the aborting IPs, sampled)\n"
	      "  --dry-run       print the settings and the command (shell-quoted) instead\n"
	      "                  of running it\n"
	      "\n"
	      "The preload library is found at <dir of htmgil>/" HG_CLI_LIBDIR_REL "/" HG_PRELOAD_NAME "\n"
	      "(or ../lib in a build tree); HTMGIL_PRELOAD=PATH overrides it.\n",
	    f);
}

/* ------------------------------------------------------------------ cpu */

/* Reads the first line of a small file into buf; false when unreadable. */
static bool hg_cli_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	bool ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/*
 * Looks for a word in the "flags" line of /proc/cpuinfo: 1 present, 0
 * absent, -1 when the file or the line cannot be read.
 */
static int hg_cli_cpuinfo_flag(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f == NULL)
		return -1;
	char line[8192];
	int found = -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		char *p = strchr(line, ':');
		if (p == NULL)
			break;
		found = 0;
		for (char *tok = strtok(p + 1, " \t\n"); tok != NULL; tok = strtok(NULL, " \t\n")) {
			if (strcmp(tok, flag) == 0) {
				found = 1;
				break;
			}
		}
		break; /* the first CPU speaks for all */
	}
	fclose(f);
	return found;
}

struct hg_cli_pmu {
	bool ok;
	int err;           /* errno when !ok */
	int paranoid;      /* /proc/sys/kernel/perf_event_paranoid, or INT_MIN */
	const char *why;   /* explanation when !ok */
};

/* Tries to open a hardware cycle counter on this thread. */
static void hg_cli_pmu_probe(struct hg_cli_pmu *out)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = PERF_TYPE_HARDWARE;
	attr.config = PERF_COUNT_HW_CPU_CYCLES;
	attr.disabled = 1;
	attr.exclude_kernel = 1; /* allowed up to perf_event_paranoid=2 */
	attr.exclude_hv = 1;

	char buf[32];
	out->paranoid = INT_MIN;
	if (hg_cli_read_line("/proc/sys/kernel/perf_event_paranoid", buf, sizeof buf))
		out->paranoid = atoi(buf);

	long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
	if (fd >= 0) {
		close((int)fd);
		out->ok = true;
		out->err = 0;
		out->why = "";
		return;
	}
	out->ok = false;
	out->err = errno;
	switch (out->err) {
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP:
		out->why = "no hardware PMU: the kernel has no cycles event here";
		break;
	case EACCES:
	case EPERM:
		out->why = "not permitted: see /proc/sys/kernel/perf_event_paranoid";
		break;
	case ENOSYS:
		out->why = "perf_event_open is not available in this kernel";
		break;
	default:
		out->why = "perf_event_open failed";
		break;
	}
}

static const char *hg_cli_errno_name(int e)
{
	switch (e) {
	case ENOENT: return "ENOENT";
	case ENODEV: return "ENODEV";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOSYS: return "ENOSYS";
	case EINVAL: return "EINVAL";
	case EBUSY: return "EBUSY";
	default: return "errno";
	}
}

/* Everything `htmgil cpu` shows, gathered once for both output formats. */
struct hg_cli_cpu {
	const struct hg_cpu_info *ci;
	enum hg_htm_mode mode;
	const char *request; /* raw HTMGIL_HTM, or NULL */
	bool taa_known;
	char taa[256];       /* /sys/.../vulnerabilities/tsx_async_abort */
	bool tx_abort_event; /* /sys/bus/event_source/devices/cpu/events/tx-abort */
	int flag_rtm, flag_hle;
	struct hg_cli_pmu pmu;
	const char *glibc;   /* gnu_get_libc_version() */
	int glibc_safe;      /* hg_glibc_rtm_safe(glibc) */
};

#define HG_SYS_TAA "/sys/devices/system/cpu/vulnerabilities/tsx_async_abort"
#define HG_SYS_TX_ABORT "/sys/bus/event_source/devices/cpu/events/tx-abort"

static void hg_cli_cpu_gather(struct hg_cli_cpu *c)
{
	memset(c, 0, sizeof *c);
	c->ci = hg_cpu_detect();
	/* The library reads HTMGIL_HTM itself and reports a bad value once. */
	c->mode = hg_htm_mode();
	c->request = getenv("HTMGIL_HTM");
	c->taa_known = hg_cli_read_line(HG_SYS_TAA, c->taa, sizeof c->taa);
	c->tx_abort_event = access(HG_SYS_TX_ABORT, F_OK) == 0;
	c->flag_rtm = hg_cli_cpuinfo_flag("rtm");
	c->flag_hle = hg_cli_cpuinfo_flag("hle");
	hg_cli_pmu_probe(&c->pmu);
	c->glibc = gnu_get_libc_version();
	c->glibc_safe = hg_glibc_rtm_safe(c->glibc);
}

static const char *hg_cli_glibc_note(int safe)
{
	switch (safe) {
	case 1: return "string functions are RTM-safe";
	case 0: return "warning: before 2.33 the AVX2 string functions end in VZEROUPPER, which "
	    "aborts RTM transactions; sections that call them fall back to the lock";
	default: return "version not understood; string functions may abort RTM transactions";
	}
}

static const char *hg_cli_yes(bool b)
{
	return b ? "yes" : "no";
}

static const char *hg_cli_flag_str(int f)
{
	return f < 0 ? "unknown" : f ? "yes" : "no";
}

static void hg_cli_cpu_text(const struct hg_cli_cpu *c)
{
	const struct hg_cpu_info *ci = c->ci;

	printf("vendor: %s\n", ci->raw.vendor[0] ? ci->raw.vendor : "unknown");
	printf("family/model/stepping: %u/%u/%u (0x%02x/0x%02x/0x%x)\n", ci->family,
	    ci->model, ci->stepping, ci->family, ci->model, ci->stepping);
	printf("rtm: %s (CPUID.(7,0):EBX[11] %s)\n", hg_cli_yes(ci->rtm),
	    ci->rtm ? "set" : "clear");
	printf("hle: %s (CPUID.(7,0):EBX[4] %s)\n", hg_cli_yes(ci->hle),
	    ci->hle ? "set" : "clear");
	printf("rtm_always_abort: %s (CPUID.(7,0):EDX[11] %s)\n",
	    hg_cli_yes(ci->rtm_always_abort), ci->rtm_always_abort ? "set" : "clear");
	printf("tsx_force_abort: %s (CPUID.(7,0):EDX[13] %s)\n",
	    hg_cli_yes(ci->tsx_force_abort), ci->tsx_force_abort ? "set" : "clear");
	printf("erratum: %s (Haswell TSX erratum list)\n", hg_cli_yes(ci->erratum));
	if (ci->probe_ran)
		printf("probe: %u of %u trivial transactions committed (last abort status 0x%08x)\n",
		    ci->probe_commits, ci->probe_attempts, (unsigned)ci->probe_last_status);
	else
		printf("probe: not run (the CPUID checks did not allow RTM)\n");
	printf("verdict: %s\n", hg_rtm_verdict_str(ci->verdict));
	if (c->taa_known)
		printf("kernel tsx_async_abort: %s\n", c->taa);
	else
		printf("kernel tsx_async_abort: not shown (%s unreadable)\n", HG_SYS_TAA);
	printf("kernel tx-abort event: %s\n", c->tx_abort_event ? "present" : "absent");
	printf("cpuinfo flags: rtm %s, hle %s\n", hg_cli_flag_str(c->flag_rtm),
	    hg_cli_flag_str(c->flag_hle));
	if (c->pmu.ok)
		printf("pmu: yes (hardware cycles counter opened)\n");
	else if (c->pmu.paranoid != INT_MIN)
		printf("pmu: no (%s: %s; %s; perf_event_paranoid=%d)\n",
		    hg_cli_errno_name(c->pmu.err), strerror(c->pmu.err), c->pmu.why,
		    c->pmu.paranoid);
	else
		printf("pmu: no (%s: %s; %s)\n", hg_cli_errno_name(c->pmu.err),
		    strerror(c->pmu.err), c->pmu.why);
	const struct hg_pmu_enc *tab = hg_pmu_table();
	for (unsigned i = 0; i < HG_PMU_EV_N; i++) {
		const struct hg_pmu_enc *e = &tab[i];
		if (!e->ok)
			printf("pmu event %s: not encoded (%s)\n", e->want, e->why);
		else if (strcmp(e->name, e->want) != 0)
			printf("pmu event %s: encoded as 0x%llx, 0x%llx (config, config1), named %s\n",
			    e->want, (unsigned long long)e->config, (unsigned long long)e->config1, e->name);
		else
			printf("pmu event %s: encoded as 0x%llx, 0x%llx (config, config1)\n", e->want,
			    (unsigned long long)e->config, (unsigned long long)e->config1);
	}
	printf("glibc: %s (%s)\n", c->glibc, hg_cli_glibc_note(c->glibc_safe));
	printf("requested: %s\n", c->request ? c->request : "auto (HTMGIL_HTM unset)");
	printf("mode: %s\n", hg_htm_mode_name(c->mode));
}

/* Writes s as a JSON string literal (base/json.h). */
static void hg_cli_json_str(const char *s)
{
	hg_json_write_str(stdout, s);
}

static void hg_cli_cpu_json(const struct hg_cli_cpu *c)
{
	const struct hg_cpu_info *ci = c->ci;

	printf("{\n  \"vendor\": ");
	hg_cli_json_str(ci->raw.vendor);
	printf(",\n  \"family\": %u,\n  \"model\": %u,\n  \"stepping\": %u,\n", ci->family,
	    ci->model, ci->stepping);
	printf("  \"cpuid\": {\"max_leaf\": %u, \"leaf1_eax\": %u, \"leaf7_ebx\": %u, "
	       "\"leaf7_edx\": %u},\n",
	    (unsigned)ci->raw.max_leaf, (unsigned)ci->raw.leaf1_eax,
	    (unsigned)ci->raw.leaf7_ebx, (unsigned)ci->raw.leaf7_edx);
	printf("  \"rtm\": %s,\n  \"hle\": %s,\n  \"rtm_always_abort\": %s,\n"
	       "  \"tsx_force_abort\": %s,\n  \"erratum\": %s,\n",
	    ci->rtm ? "true" : "false", ci->hle ? "true" : "false",
	    ci->rtm_always_abort ? "true" : "false", ci->tsx_force_abort ? "true" : "false",
	    ci->erratum ? "true" : "false");
	printf("  \"probe\": {\"ran\": %s, \"attempts\": %u, \"commits\": %u, "
	       "\"last_status\": %u},\n",
	    ci->probe_ran ? "true" : "false", ci->probe_attempts, ci->probe_commits,
	    (unsigned)ci->probe_last_status);
	printf("  \"verdict\": ");
	hg_cli_json_str(hg_rtm_verdict_str(ci->verdict));
	printf(",\n  \"kernel\": {\"tsx_async_abort\": ");
	if (c->taa_known)
		hg_cli_json_str(c->taa);
	else
		printf("null");
	printf(", \"tx_abort_event\": %s, \"cpuinfo_rtm\": %s, \"cpuinfo_hle\": %s},\n",
	    c->tx_abort_event ? "true" : "false",
	    c->flag_rtm < 0 ? "null" : c->flag_rtm ? "true" : "false",
	    c->flag_hle < 0 ? "null" : c->flag_hle ? "true" : "false");
	printf("  \"pmu\": {\"available\": %s, \"errno\": ", c->pmu.ok ? "true" : "false");
	if (c->pmu.ok)
		printf("null, \"reason\": null");
	else {
		hg_cli_json_str(hg_cli_errno_name(c->pmu.err));
		printf(", \"reason\": ");
		hg_cli_json_str(c->pmu.why);
	}
	printf(", \"perf_event_paranoid\": ");
	if (c->pmu.paranoid == INT_MIN)
		printf("null");
	else
		printf("%d", c->pmu.paranoid);
	printf("},\n  \"pmu_events\": [");
	const struct hg_pmu_enc *tab = hg_pmu_table();
	for (unsigned i = 0; i < HG_PMU_EV_N; i++) {
		const struct hg_pmu_enc *e = &tab[i];
		printf("%s\n    {\"key\": \"%s\", \"event\": ", i ? "," : "", e->key);
		hg_cli_json_str(e->want);
		if (e->ok) {
			printf(", \"encoded\": true, \"name\": ");
			hg_cli_json_str(e->name);
			printf(", \"type\": %u, \"config\": \"0x%llx\", \"config1\": \"0x%llx\", "
			       "\"reason\": null}",
			    (unsigned)e->type, (unsigned long long)e->config, (unsigned long long)e->config1);
		} else {
			printf(", \"encoded\": false, \"name\": null, \"type\": null, \"config\": null, "
			       "\"config1\": null, \"reason\": ");
			hg_cli_json_str(e->why);
			putchar('}');
		}
	}
	printf("\n  ],\n  \"glibc\": {\"version\": ");
	hg_cli_json_str(c->glibc);
	printf(", \"rtm_safe\": %s}", c->glibc_safe < 0 ? "null" : c->glibc_safe ? "true" : "false");
	printf(",\n  \"requested\": ");
	if (c->request)
		hg_cli_json_str(c->request);
	else
		printf("null");
	printf(",\n  \"mode\": ");
	hg_cli_json_str(hg_htm_mode_name(c->mode));
	printf("\n}\n");
}

static int hg_cli_cpu(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			hg_cli_cpu_usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "htmgil cpu: unknown argument '%s'; accepted: --json, --help\n",
			    argv[i]);
			return HG_EXIT_USAGE;
		}
	}
	struct hg_cli_cpu c;
	hg_cli_cpu_gather(&c);
	if (json)
		hg_cli_cpu_json(&c);
	else
		hg_cli_cpu_text(&c);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ run */

struct hg_cli_run {
	const char *htm, *emu, *policy, *report, *target, *pmu;
	bool dry_run;
	char **cmd; /* NULL-terminated */
};

static bool hg_cli_in(const char *v, const char *const *values)
{
	for (; *values; values++)
		if (strcmp(v, *values) == 0)
			return true;
	return false;
}

/*
 * Matches "--name VALUE" and "--name=VALUE" at argv[*i]; returns 1 with
 * *val set (and *i advanced past a separate value), 0 when argv[*i] is
 * another option, -1 (after one line on stderr) when the value is missing
 * (nothing follows, or the next word starts with "--").
 */
static int hg_cli_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
	} else if (a[n] == '\0') {
		/* "--report --": the next word is an option or the end of them, not a value
		 * (a value that starts with "--" can be given as --name=VALUE). */
		if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0) {
			fprintf(stderr, "%s: %s needs a value; see %s --help\n", hg_cli_cmd, name, hg_cli_cmd);
			return -1;
		}
		*val = argv[++*i];
	} else {
		return 0;
	}
	if (**val == '\0') {
		fprintf(stderr, "%s: %s needs a non-empty value; see %s --help\n", hg_cli_cmd,
		    name, hg_cli_cmd);
		return -1;
	}
	return 1;
}

/*
 * Checks an --emu or --policy value with the library's own parser, so the
 * grammar lives in one place.  The parser explains a bad value in one line
 * written for the environment variable ("htmgil: HTMGIL_EMU=\"...\": why;
 * expected ... (previous settings kept)"); that line is captured and
 * reworded for the option, since here nothing is kept: htmgil stops.
 */
static int hg_cli_validate(const char *opt, const char *var, int (*parse)(const char *),
    const char *spec)
{
	int p[2];
	if (pipe(p) != 0)
		return parse(spec); /* the library's own line then stands */
	fflush(stderr);
	int saved = dup(2);
	if (saved < 0 || dup2(p[1], 2) < 0) {
		close(p[0]);
		close(p[1]);
		if (saved >= 0)
			close(saved);
		return parse(spec);
	}
	close(p[1]);
	int rc = parse(spec);
	dup2(saved, 2); /* the pipe's last writer is gone: reads end at EOF */
	close(saved);

	char msg[2048];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof msg - 1 && (r = read(p[0], msg + n, sizeof msg - 1 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	msg[n] = '\0';
	msg[strcspn(msg, "\n")] = '\0';

	if (rc == 0) {
		if (msg[0] != '\0')
			fprintf(stderr, "%s\n", msg);
		return 0;
	}
	char *why = msg;
	if (strncmp(why, "htmgil: ", 8) == 0)
		why += 8;
	char head[1024];
	snprintf(head, sizeof head, "%s=\"%s\": ", var, spec);
	if (strncmp(why, head, strlen(head)) == 0)
		why += strlen(head);
	char *tail = strrchr(why, '(');
	if (tail != NULL && tail > why && tail[-1] == ' ' && strstr(tail, "kept)") != NULL)
		tail[-1] = '\0';
	if (*why == '\0')
		why = "not accepted; see htmgil run --help";
	fprintf(stderr, "htmgil run: %s '%s': %s\n", opt, spec, why);
	return -1;
}

/* Returns -1 (usage error printed), 1 (help printed) or 0. */
static int hg_cli_run_parse(int argc, char **argv, struct hg_cli_run *r)
{
	int i;
	memset(r, 0, sizeof *r);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		int m;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-')
			break; /* the command starts here */
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			hg_cli_run_usage(stdout);
			return 1;
		}
		if (strcmp(a, "--dry-run") == 0) {
			r->dry_run = true;
			continue;
		}
		if ((m = hg_cli_opt(argc, argv, &i, "--htm", &r->htm)) != 0) {
			if (m < 0)
				return -1;
			if (!hg_cli_in(r->htm, hg_htm_values)) {
				fprintf(stderr, "htmgil run: --htm '%s' is not a mode; accepted: auto, rtm, emu, off\n",
				    r->htm);
				return -1;
			}
			continue;
		}
		if ((m = hg_cli_opt(argc, argv, &i, "--emu", &r->emu)) != 0) {
			if (m < 0)
				return -1;
			if (hg_cli_validate("--emu", "HTMGIL_EMU", hg_emu_configure, r->emu) != 0)
				return -1;
			continue;
		}
		if ((m = hg_cli_opt(argc, argv, &i, "--policy", &r->policy)) != 0) {
			if (m < 0)
				return -1;
			if (hg_cli_validate("--policy", "HTMGIL_POLICY", hg_policy_parse, r->policy) != 0)
				return -1;
			continue;
		}
		if ((m = hg_cli_opt(argc, argv, &i, "--report", &r->report)) != 0) {
			if (m < 0)
				return -1;
			continue;
		}
		if (strcmp(a, "--pmu") == 0 || strncmp(a, "--pmu=", 6) == 0) {
			r->pmu = a[5] == '=' ? a + 6 : "1";
			if (hg_pmu_parse(r->pmu) < 0) {
				fprintf(stderr, "htmgil run: --pmu '%s' is not a counting mode; accepted: "
				    "--pmu, --pmu=sample, --pmu=0\n", r->pmu);
				return -1;
			}
			continue;
		}
		if ((m = hg_cli_opt(argc, argv, &i, "--target", &r->target)) != 0) {
			if (m < 0)
				return -1;
			if (!hg_cli_in(r->target, hg_target_values)) {
				fprintf(stderr, "htmgil run: --target '%s' is not a target; accepted: gil, pthread\n",
				    r->target);
				return -1;
			}
			continue;
		}
		fprintf(stderr, "htmgil run: unknown option '%s'; accepted: --htm, --emu, --policy, "
				"--report, --target, --pmu, --dry-run, --help\n",
		    a);
		return -1;
	}
	if (i >= argc) {
		fprintf(stderr, "htmgil run: no command given; usage: htmgil run [OPTIONS] -- CMD [ARGS...]\n");
		return -1;
	}
	/* --emu configures the emulated HTM only: in any other mode it would do nothing. */
	const char *htm = r->htm ? r->htm : hg_cli_stash[0]; /* [0]: an inherited HTMGIL_HTM */
	if (r->emu && (htm == NULL || strcmp(htm, "emu") != 0)) {
		fprintf(stderr, "htmgil run: --emu takes effect only with emulated HTM (mode %s here); "
		    "add --htm emu\n", htm ? htm : "auto");
		return -1;
	}
	r->cmd = argv + i;
	return 0;
}

/* The directory of this program (no trailing slash); -1 when unreadable. */
static int hg_cli_self_dir(char out[PATH_MAX])
{
	ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 1);
	if (n <= 0)
		return -1;
	out[n] = '\0';
	char *slash = strrchr(out, '/');
	if (slash != NULL)
		*slash = '\0';
	return 0;
}

/* First of dir/rel/name (rel in rels) that exists and allows mode (access(2)), into out. */
static bool hg_cli_find_file(const char *dir, const char *const *rels, size_t nrels,
    const char *name, int mode, char out[PATH_MAX])
{
	char cand[2 * PATH_MAX];
	for (size_t k = 0; k < nrels; k++) {
		int n = snprintf(cand, sizeof cand, "%s/%s/%s", dir, rels[k], name);
		if (n < 0 || (size_t)n >= sizeof cand)
			continue;
		if (realpath(cand, out) != NULL && access(out, mode) == 0)
			return true;
	}
	return false;
}

/*
 * Finds the preload library: $HTMGIL_PRELOAD, else next to this program at
 * HG_CLI_LIBDIR_REL (install tree), else ../lib (build tree).  Writes the
 * canonical absolute path (the command may change directory).  Returns 0, or
 * -1 after one line on stderr.
 */
static int hg_cli_find_preload(char out[PATH_MAX])
{
	const char *env = getenv("HTMGIL_PRELOAD");
	if (env != NULL && *env != '\0') {
		if (realpath(env, out) == NULL) {
			fprintf(stderr, "%s: HTMGIL_PRELOAD=%s: %s; point it at %s or unset it\n",
			    hg_cli_cmd, env, strerror(errno), HG_PRELOAD_NAME);
			return -1;
		}
		return 0;
	}

	char self[PATH_MAX];
	if (hg_cli_self_dir(self) != 0) {
		fprintf(stderr, "%s: cannot read /proc/self/exe (%s); set HTMGIL_PRELOAD=PATH to %s\n",
		    hg_cli_cmd, strerror(errno), HG_PRELOAD_NAME);
		return -1;
	}
	const char *rels[] = { HG_CLI_LIBDIR_REL, "../lib" };
	if (hg_cli_find_file(self, rels, 2, HG_PRELOAD_NAME, R_OK, out))
		return 0;
	fprintf(stderr, "%s: %s not found in %s/%s; build or install it, or set HTMGIL_PRELOAD=PATH\n",
	    hg_cli_cmd, HG_PRELOAD_NAME, self, HG_CLI_LIBDIR_REL);
	return -1;
}

/* true when the whitespace/colon-separated list already names path. */
static bool hg_cli_list_has(const char *list, const char *path)
{
	size_t n = strlen(path);
	for (const char *p = list; (p = strstr(p, path)) != NULL; p += n) {
		bool start = p == list || p[-1] == ':' || p[-1] == ' ';
		bool end = p[n] == '\0' || p[n] == ':' || p[n] == ' ';
		if (start && end)
			return true;
	}
	return false;
}

/* LD_PRELOAD with preload first (once); malloc'd, NULL when out of memory. */
static char *hg_cli_preload_list(const char *preload)
{
	const char *old = getenv("LD_PRELOAD");
	if (old == NULL || *old == '\0')
		return strdup(preload);
	if (hg_cli_list_has(old, preload))
		return strdup(old);
	size_t n = strlen(preload) + 1 + strlen(old) + 1;
	char *list = malloc(n);
	if (list != NULL)
		snprintf(list, n, "%s:%s", preload, old);
	return list;
}

static int hg_cli_setenv(const char *name, const char *value)
{
	if (value == NULL)
		return 0;
	if (setenv(name, value, 1) != 0) {
		fprintf(stderr, "%s: cannot set %s: %s\n", hg_cli_cmd, name, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Writes s so that a POSIX shell reads it back as one word (a command name
 * with '=' is quoted, or the shell would take it for an assignment).
 */
static void hg_cli_shell_word(const char *s, bool command)
{
	bool plain = *s != '\0' && !(command && strchr(s, '=') != NULL);
	for (const char *p = s; *p && plain; p++)
		plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		               "_@%+=:,./-", *p) != NULL;
	if (plain) {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*p);
	}
	putchar('\'');
}

static int hg_cli_run(int argc, char **argv)
{
	struct hg_cli_run r;
	int rc = hg_cli_run_parse(argc, argv, &r);
	if (rc != 0)
		return rc < 0 ? HG_EXIT_USAGE : 0;

	char preload[PATH_MAX];
	if (hg_cli_find_preload(preload) != 0)
		return HG_EXIT_USAGE;

	char *list = hg_cli_preload_list(preload);
	if (list == NULL) {
		fprintf(stderr, "htmgil run: out of memory\n");
		return 1;
	}

	if (hg_cli_unstash() || hg_cli_setenv("HTMGIL_HTM", r.htm) || hg_cli_setenv("HTMGIL_EMU", r.emu) ||
	    hg_cli_setenv("HTMGIL_POLICY", r.policy) ||
	    hg_cli_setenv("HTMGIL_REPORT", r.report) ||
	    hg_cli_setenv("HTMGIL_TARGET", r.target) || hg_cli_setenv("HTMGIL_PMU", r.pmu) ||
	    hg_cli_setenv("LD_PRELOAD", list)) {
		free(list);
		return 1;
	}
	free(list);

	/*
	 * This process starts the report run (docs/report.md): the command it
	 * becomes keeps its pid and so is the run's top.  A dry run only shows
	 * the name made absolute.
	 */
	const char *rep = getenv("HTMGIL_REPORT");
	if (rep != NULL && *rep != '\0' && strcmp(rep, "-") != 0) {
		char name[PATH_MAX], abs[PATH_MAX];
		snprintf(name, sizeof name, "%s", rep);
		char cwd[PATH_MAX];
		if (r.dry_run) {
			if (name[0] != '/' && getcwd(cwd, sizeof cwd) != NULL &&
			    (size_t)snprintf(abs, sizeof abs, "%s/%s", cwd, name) < sizeof abs &&
			    hg_cli_setenv("HTMGIL_REPORT", abs))
				return 1;
		} else if (hg_report_start_run(name, abs, sizeof abs) != 0) {
			fprintf(stderr, "htmgil run: --report '%s': cannot use this name (too long, or no "
			    "working directory); name a shorter absolute path\n", name);
			return HG_EXIT_USAGE;
		}
	}

	if (r.dry_run) {
		static const char *const vars[] = { "LD_PRELOAD", "HTMGIL_HTM", "HTMGIL_EMU",
			"HTMGIL_POLICY", "HTMGIL_REPORT", "HTMGIL_TARGET", "HTMGIL_PMU", NULL };
		for (const char *const *v = vars; *v; v++) {
			const char *val = getenv(*v);
			if (val == NULL)
				continue;
			printf("%s=", *v);
			hg_cli_shell_word(val, false);
			putchar('\n');
		}
		for (char **a = r.cmd; *a; a++) {
			if (a != r.cmd)
				putchar(' ');
			hg_cli_shell_word(*a, a == r.cmd);
		}
		printf("\n");
		return fflush(stdout) == 0 ? 0 : 1;
	}

	fflush(NULL);
	execvp(r.cmd[0], r.cmd);
	int e = errno;
	fprintf(stderr, "htmgil run: cannot run '%s': %s\n", r.cmd[0], strerror(e));
	return e == ENOENT ? 127 : 126;
}

/* ------------------------------------------------------------------ sim */

static void hg_cli_sim_usage(FILE *f)
{
	fputs("usage: htmgil sim [OPTIONS] [--] CMD [ARGS...]\n"
	      "       htmgil sim --replay TRACE [OPTIONS]\n"
	      "\n"
	      "Predicts, on any x86-64 machine, how CMD's sections would run as Intel RTM\n"
	      "transactions: which abort and why (conflicts named by data, code and\n"
	      "site, capacity, unfriendly instructions, timer), and how much the threads\n"
	      "would overlap.  CMD runs under valgrind with htmgil's recording tool and\n"
	      "the preload in simulation mode (every section on the real lock: the\n"
	      "program's results are its own); the recorded sections are then replayed\n"
	      "on virtual cores with the hardware model and htmgil's own policy\n"
	      "(docs/sim.md).  CMD's exit status is htmgil sim's.\n"
	      "\n"
	      "  --cpus N        virtual cores (default: the program's threads)\n"
	      "  --model M       capacity model of a CPU (default emerald-rapids; the\n"
	      "                  replay's --help lists them)\n"
	      "  --report FILE   also write the prediction as JSON (schema htmgil-sim)\n"
	      "  --target KIND   what to elide: gil (default: CPython's GIL when CMD is\n"
	      "                  CPython) or pthread (default and normal pthread mutexes)\n"
	      "  --trace FILE    keep the recorded trace there (replay it later with\n"
	      "                  --replay FILE)\n"
	      "  --replay TRACE  replay a kept trace instead of running a command\n"
	      "  --fallback F    bounded (default): a section that falls back to the lock\n"
	      "                  gives it back in stretches while another thread waits to\n"
	      "                  speculate, as the GIL front end does; hold: keeps it to\n"
	      "                  the end of the recorded hold (a what-if)\n"
	      "  --valgrind PATH the valgrind to use (default: valgrind on PATH)\n"
	      "\n"
	      "The prediction is printed on stderr after CMD exits.\n",
	    f);
}

struct hg_cli_sim {
	const char *cpus, *model, *report, *target, *trace, *replay, *valgrind, *fallback;
	char **cmd;
};

static int hg_cli_sim_parse(int argc, char **argv, struct hg_cli_sim *r)
{
	int i;
	memset(r, 0, sizeof *r);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		int m;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			hg_cli_sim_usage(stdout);
			return 1;
		}
		if ((m = hg_cli_opt(argc, argv, &i, "--cpus", &r->cpus)) != 0) {
			if (m < 0)
				return -1;
			char *end;
			errno = 0;
			unsigned long n = strtoul(r->cpus, &end, 10);
			if (r->cpus[0] < '0' || r->cpus[0] > '9' || *end || errno || n < 1 || n > 256) {
				fprintf(stderr, "htmgil sim: --cpus '%s' is not a number of cores in 1..256\n",
				    r->cpus);
				return -1;
			}
			continue;
		}
		const char **slot = NULL;
		const char *names[] = { "--model", "--report", "--target", "--trace", "--replay",
			"--valgrind", "--fallback" };
		const char **slots[] = { &r->model, &r->report, &r->target, &r->trace, &r->replay,
			&r->valgrind, &r->fallback };
		for (size_t k = 0; k < sizeof names / sizeof names[0] && slot == NULL; k++) {
			if ((m = hg_cli_opt(argc, argv, &i, names[k], slots[k])) < 0)
				return -1;
			if (m > 0)
				slot = slots[k];
		}
		if (slot == &r->target && !hg_cli_in(r->target, hg_target_values)) {
			fprintf(stderr, "htmgil sim: --target '%s' is not a target; accepted: gil, pthread\n",
			    r->target);
			return -1;
		}
		if (slot == &r->fallback && strcmp(r->fallback, "bounded") != 0 &&
		    strcmp(r->fallback, "hold") != 0) {
			fprintf(stderr, "htmgil sim: --fallback '%s' is not a fallback; accepted: bounded, "
			    "hold\n", r->fallback);
			return -1;
		}
		if (slot != NULL)
			continue;
		fprintf(stderr, "htmgil sim: unknown option '%s'; accepted: --cpus, --model, --report, "
		    "--target, --trace, --replay, --valgrind, --fallback, --help\n", a);
		return -1;
	}
	if (r->replay != NULL) {
		if (i < argc) {
			fprintf(stderr, "htmgil sim: --replay replays a kept trace and runs no command; "
			    "drop '%s' or --replay\n", argv[i]);
			return -1;
		}
		return 0;
	}
	if (i >= argc) {
		fprintf(stderr, "htmgil sim: no command given; usage: htmgil sim [OPTIONS] -- CMD [ARGS...]\n");
		return -1;
	}
	r->cmd = argv + i;
	return 0;
}

/* valgrind from --valgrind or PATH; false after one line. */
static bool hg_cli_find_valgrind(const char *given, char out[PATH_MAX])
{
	if (given != NULL) {
		if (realpath(given, out) != NULL && access(out, X_OK) == 0)
			return true;
		fprintf(stderr, "htmgil sim: --valgrind '%s' is not an executable; name valgrind's path "
		    "or leave the option out\n", given);
		return false;
	}
	const char *path = getenv("PATH");
	char dir[PATH_MAX];
	for (const char *p = path ? path : ""; *p;) {
		size_t n = strcspn(p, ":");
		if (n > 0 && n < sizeof dir) {
			memcpy(dir, p, n);
			dir[n] = '\0';
			char cand[2 * PATH_MAX];
			snprintf(cand, sizeof cand, "%s/valgrind", dir);
			if (access(cand, X_OK) == 0 && realpath(cand, out) != NULL)
				return true;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	fprintf(stderr, "htmgil sim: valgrind not found on PATH; install it (Debian: apt-get install "
	    "valgrind) or give --valgrind PATH\n");
	return false;
}

/* Runs argv and waits; returns its wait status, or -1 after one line. */
static int hg_cli_spawn(char **argv, bool quiet_signals)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "htmgil sim: cannot fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "htmgil sim: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* The terminal's SIGINT/SIGQUIT reach the child; this process waits it out. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, oint, oquit;
	if (quiet_signals) {
		sigaction(SIGINT, &ign, &oint);
		sigaction(SIGQUIT, &ign, &oquit);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = -1;
			break;
		}
	}
	if (quiet_signals) {
		sigaction(SIGINT, &oint, NULL);
		sigaction(SIGQUIT, &oquit, NULL);
	}
	return st;
}

static int hg_cli_exit_of(int st)
{
	if (st < 0)
		return 1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/* Replays trace (names: the preload's report, may be absent); the replay's status. */
static int hg_cli_sim_replay(const char *replay, const struct hg_cli_sim *r, const char *trace,
    const char *names)
{
	char *argv[16];
	int n = 0;
	argv[n++] = (char *)replay;
	argv[n++] = (char *)trace;
	if (names != NULL && access(names, R_OK) == 0) {
		argv[n++] = (char *)"--names";
		argv[n++] = (char *)names;
	}
	if (r->cpus) {
		argv[n++] = (char *)"--cpus";
		argv[n++] = (char *)r->cpus;
	}
	if (r->model) {
		argv[n++] = (char *)"--model";
		argv[n++] = (char *)r->model;
	}
	if (r->report) {
		argv[n++] = (char *)"--report";
		argv[n++] = (char *)r->report;
	}
	if (r->fallback) {
		argv[n++] = (char *)"--fallback";
		argv[n++] = (char *)r->fallback;
	}
	argv[n] = NULL;
	return hg_cli_spawn(argv, false);
}

static int hg_cli_sim(int argc, char **argv)
{
	hg_cli_cmd = "htmgil sim";
	struct hg_cli_sim r;
	int rc = hg_cli_sim_parse(argc, argv, &r);
	if (rc != 0)
		return rc < 0 ? HG_EXIT_USAGE : 0;

	char self[PATH_MAX], replay[PATH_MAX], tooldir[PATH_MAX], tool[PATH_MAX];
	if (hg_cli_self_dir(self) != 0) {
		fprintf(stderr, "htmgil sim: cannot read /proc/self/exe (%s)\n", strerror(errno));
		return HG_EXIT_USAGE;
	}
	const char *rels[] = { HG_CLI_LIBEXECDIR_REL "/htmgil", "../libexec/htmgil" };
	if (!hg_cli_find_file(self, rels, 2, "htmgil-sim-replay", X_OK, replay)) {
		fprintf(stderr, "htmgil sim: htmgil-sim-replay not found in %s/%s/htmgil; build or "
		    "install htmgil with the simulator\n", self, HG_CLI_LIBEXECDIR_REL);
		return HG_EXIT_USAGE;
	}
	if (r.replay != NULL) {
		if (access(r.replay, R_OK) != 0) {
			fprintf(stderr, "htmgil sim: --replay '%s': %s; name a trace kept with --trace\n",
			    r.replay, strerror(errno));
			return HG_EXIT_USAGE;
		}
		/* The names the preload wrote beside it, if it was kept by --trace. */
		char names[PATH_MAX + 16];
		snprintf(names, sizeof names, "%s.names.json", r.replay);
		return hg_cli_exit_of(hg_cli_sim_replay(replay, &r, r.replay, names));
	}

	char valgrind[PATH_MAX];
	if (!hg_cli_find_valgrind(r.valgrind, valgrind))
		return HG_EXIT_USAGE;
	const char *trels[] = { HG_CLI_LIBEXECDIR_REL "/htmgil/valgrind", "../libexec/htmgil/valgrind" };
	if (!hg_cli_find_file(self, trels, 2, "htmgilsim-amd64-linux", X_OK, tool)) {
		fprintf(stderr, "htmgil sim: the recording tool htmgilsim-amd64-linux is not in "
		    "%s/%s/htmgil/valgrind; build htmgil where valgrind's tool files are installed "
		    "(Debian: the valgrind package)\n", self, HG_CLI_LIBEXECDIR_REL);
		return HG_EXIT_USAGE;
	}
	snprintf(tooldir, sizeof tooldir, "%s", tool);
	*strrchr(tooldir, '/') = '\0';
	char preload[PATH_MAX];
	if (hg_cli_find_preload(preload) != 0)
		return HG_EXIT_USAGE;

	/* The trace and the preload's report (site names) go to a private directory. */
	char dir[PATH_MAX], trace[PATH_MAX + 32], names[PATH_MAX + 48];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/htmgil-sim.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "htmgil sim: cannot make a directory for the trace in %s: %s; set "
		    "TMPDIR to a writable directory\n", tmp && *tmp ? tmp : "/tmp", strerror(errno));
		return 1;
	}
	if (r.trace != NULL) {
		char abs[PATH_MAX];
		if (r.trace[0] != '/' && getcwd(abs, sizeof abs) != NULL)
			snprintf(trace, sizeof trace, "%s/%s", abs, r.trace);
		else
			snprintf(trace, sizeof trace, "%s", r.trace);
		snprintf(names, sizeof names, "%s.names.json", trace);
	} else {
		snprintf(trace, sizeof trace, "%s/trace", dir);
		snprintf(names, sizeof names, "%s/names.json", dir);
	}
	unlink(names);

	char *list = hg_cli_preload_list(preload);
	const char *old_preload = getenv("LD_PRELOAD");
	char *saved_preload = old_preload ? strdup(old_preload) : NULL;
	if (list == NULL || (old_preload && !saved_preload)) {
		fprintf(stderr, "htmgil sim: out of memory\n");
		return 1;
	}
	int bad = hg_cli_unstash() || hg_cli_setenv("LD_PRELOAD", list) ||
	    hg_cli_setenv("HTMGIL_SIM", "1") || hg_cli_setenv("HTMGIL_REPORT", names) ||
	    hg_cli_setenv("HTMGIL_TARGET", r.target) || hg_cli_setenv("VALGRIND_LIB", tooldir);
	free(list);
	/* Counters and timelines mean nothing under valgrind; a run marker of an outer run must not apply. */
	unsetenv("HTMGIL_PMU");
	unsetenv("HTMGIL_TRACE");
	unsetenv("HTMGIL_REPORT_RUN");
	if (bad)
		return 1;

	size_t nc = 0;
	while (r.cmd[nc])
		nc++;
	char **vargv = calloc(nc + 8, sizeof *vargv);
	char topt[PATH_MAX + 48];
	if (vargv == NULL) {
		fprintf(stderr, "htmgil sim: out of memory\n");
		return 1;
	}
	snprintf(topt, sizeof topt, "--trace=%s", trace);
	int k = 0;
	vargv[k++] = valgrind;
	vargv[k++] = (char *)"-q";
	vargv[k++] = (char *)"--tool=htmgilsim";
	/* Valgrind runs one thread at a time; without a fair lock a busy thread
	 * can keep the others from starting, and the recording would show
	 * threads that never coexisted. */
	vargv[k++] = (char *)"--fair-sched=yes";
	vargv[k++] = topt;
	vargv[k++] = (char *)"--";
	for (size_t j = 0; j < nc; j++)
		vargv[k++] = r.cmd[j];
	vargv[k] = NULL;
	int st = hg_cli_spawn(vargv, true);
	free(vargv);
	int status = hg_cli_exit_of(st);

	/*
	 * The replay reads what the run left; the program's status stays its
	 * own.  It runs in the caller's environment (HTMGIL_POLICY and
	 * HTMGIL_TXLEN apply to it), without the recording's settings.
	 */
	unsetenv("HTMGIL_SIM");
	unsetenv("HTMGIL_REPORT");
	unsetenv("VALGRIND_LIB");
	if (saved_preload)
		setenv("LD_PRELOAD", saved_preload, 1);
	else
		unsetenv("LD_PRELOAD");
	free(saved_preload);
	if (access(trace, R_OK) != 0) {
		fprintf(stderr, "htmgil sim: the run left no trace (%s); nothing to predict\n", trace);
	} else {
		int rst = hg_cli_sim_replay(replay, &r, trace, names);
		if (hg_cli_exit_of(rst) != 0)
			fprintf(stderr, "htmgil sim: the replay failed (status %d); the trace is %s\n",
			    hg_cli_exit_of(rst), r.trace ? trace : "removed (keep it with --trace FILE)");
	}
	if (r.trace == NULL) {
		unlink(trace);
		unlink(names);
	}
	rmdir(dir);
	return status;
}

/* --------------------------------------------------------------- report */

/*
 * Finds the report reader: $HTMGIL_REPORT_SCRIPT, else next to this program
 * at HG_CLI_DATADIR_REL/htmgil (install tree), else ../share/htmgil (build
 * tree).  Returns 0, or -1 after one line on stderr.
 */
static int hg_cli_find_script(char out[PATH_MAX])
{
	const char *env = getenv("HTMGIL_REPORT_SCRIPT");
	if (env != NULL && *env != '\0') {
		if (realpath(env, out) == NULL) {
			fprintf(stderr, "htmgil report: HTMGIL_REPORT_SCRIPT=%s: %s; point it at "
			    "htmgil_report.py or unset it\n", env, strerror(errno));
			return -1;
		}
		return 0;
	}
	char self[PATH_MAX];
	if (hg_cli_self_dir(self) != 0) {
		fprintf(stderr, "htmgil report: cannot read /proc/self/exe (%s); set "
		    "HTMGIL_REPORT_SCRIPT=PATH to htmgil_report.py\n", strerror(errno));
		return -1;
	}
	const char *rels[] = { HG_CLI_DATADIR_REL, "../share" };
	if (hg_cli_find_file(self, rels, 2, HG_REPORT_SCRIPT, R_OK, out))
		return 0;
	fprintf(stderr, "htmgil report: %s not found in %s/%s; build or install htmgil, or set "
	    "HTMGIL_REPORT_SCRIPT=PATH\n", HG_REPORT_SCRIPT, self, HG_CLI_DATADIR_REL);
	return -1;
}

/* Runs the reader with python3 from PATH; its options are its own (--help). */
static int hg_cli_report(int argc, char **argv)
{
	char script[PATH_MAX];
	if (hg_cli_find_script(script) != 0)
		return HG_EXIT_USAGE;
	char **args = calloc((size_t)argc + 3, sizeof *args);
	if (args == NULL) {
		fprintf(stderr, "htmgil report: out of memory\n");
		return 1;
	}
	static char py[] = "python3", prog[] = "--prog=htmgil report";
	args[0] = py;
	args[1] = script;
	args[2] = prog;
	for (int i = 1; i < argc; i++)
		args[i + 2] = argv[i];
	fflush(NULL);
	execvp(args[0], args);
	int e = errno;
	if (e == ENOENT)
		fprintf(stderr, "htmgil report: python3 not found on PATH; install it "
		    "(Debian: apt-get install python3) or put it on PATH\n");
	else
		fprintf(stderr, "htmgil report: cannot run python3: %s\n", strerror(e));
	free(args);
	return e == ENOENT ? 127 : 126;
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "htmgil: no command given; accepted: cpu, run, sim, report (see htmgil --help)\n");
		return HG_EXIT_USAGE;
	}
	const char *verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
		hg_cli_usage(stdout);
		return 0;
	}
	if (strcmp(verb, "--version") == 0 || strcmp(verb, "version") == 0) {
		printf("htmgil %d.%d.%d\n", HTMGIL_VERSION_MAJOR, HTMGIL_VERSION_MINOR,
		    HTMGIL_VERSION_PATCH);
		return 0;
	}
	if (strcmp(verb, "cpu") == 0)
		return hg_cli_cpu(argc - 1, argv + 1);
	if (strcmp(verb, "run") == 0)
		return hg_cli_run(argc - 1, argv + 1);
	if (strcmp(verb, "report") == 0)
		return hg_cli_report(argc - 1, argv + 1);
	if (strcmp(verb, "sim") == 0)
		return hg_cli_sim(argc - 1, argv + 1);
	fprintf(stderr, "htmgil: unknown command '%s'; accepted: cpu, run, sim, report (see htmgil --help)\n",
	    verb);
	return HG_EXIT_USAGE;
}
