/* SPDX-License-Identifier: MIT */
/*
 * engine/env.c - start-up: HTMGIL_HTM, HTMGIL_EMU, HTMGIL_POLICY, HTMGIL_TXLEN,
 * HTMGIL_SIM, HTMGIL_REPORT, and the policy knobs.
 *
 * A bad value never stops the host program: one line on stderr names the
 * variable, the value and what is accepted, and the safe default applies
 * (elision off for HTMGIL_HTM; the built-in policy for HTMGIL_POLICY).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"
#include "engine/engine.h"
#include "htm/emu.h"
#include "htm/sim.h"

/*
 * HTMGIL_TXLEN's settings live here, beside the start-up constructor, and
 * engine/policy.c reads them: so every program that links the policy from
 * the static library also links this file and runs hg_init() (an archive
 * member is linked only when one of its symbols is needed).
 */
uint32_t hg_txlen_fixed;
bool hg_txlen_off;

struct hg_knob {
	const char *name;
	size_t off;
	bool is_double;
};

#define HG_KNOB_U(f) { #f, offsetof(struct hg_policy, f), false }
#define HG_KNOB_D(f) { #f, offsetof(struct hg_policy, f), true }
static const struct hg_knob hg_knobs[] = {
	HG_KNOB_U(retry_conflict), HG_KNOB_U(retry_busy), HG_KNOB_U(retry_capacity),
	HG_KNOB_U(skip_other), HG_KNOB_U(spin_wait), HG_KNOB_D(demote_rate),
	HG_KNOB_U(demote_min), HG_KNOB_D(decay), HG_KNOB_U(reprobe_base),
	HG_KNOB_U(reprobe_max), HG_KNOB_U(txtime_us),
};

static int hg_policy_bad(const char *spec, const char *item, const char *why)
{
	hg_warn("HTMGIL_POLICY=\"%s\": %s \"%s\"; expected key=value,... with keys "
	        "retry_conflict, retry_busy, retry_capacity, skip_other, spin_wait, demote_rate, "
	        "demote_min, decay, reprobe_base, reprobe_max, txtime_us (default policy kept)",
	    spec, why, item);
	return -1;
}

int hg_policy_parse(const char *spec)
{
	struct hg_policy p = hg_policy_now;
	char buf[512];

	if (strlen(spec) >= sizeof buf)
		return hg_policy_bad(spec, "", "too long:");
	strcpy(buf, spec);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok || !eq[1])
			return hg_policy_bad(spec, tok, "not key=value:");
		*eq = '\0';
		const struct hg_knob *k = NULL;
		for (size_t i = 0; i < sizeof hg_knobs / sizeof hg_knobs[0]; i++)
			if (strcmp(hg_knobs[i].name, tok) == 0)
				k = &hg_knobs[i];
		if (!k)
			return hg_policy_bad(spec, tok, "unknown key");
		char *end;
		errno = 0;
		if (k->is_double) {
			double v = strtod(eq + 1, &end);
			if (*end || errno || !(v >= 0.0 && v <= 1.0))
				return hg_policy_bad(spec, eq + 1, "not a number in 0..1:");
			*(double *)((char *)&p + k->off) = v;
		} else {
			if (eq[1] == '-')
				return hg_policy_bad(spec, eq + 1, "not a non-negative integer:");
			unsigned long v = strtoul(eq + 1, &end, 10);
			if (*end || errno || v > 0xffffffffu)
				return hg_policy_bad(spec, eq + 1, "not a non-negative integer:");
			*(unsigned *)((char *)&p + k->off) = (unsigned)v;
		}
	}
	hg_policy_set(&p);
	return 0;
}

/* HTMGIL_TXLEN: "auto" (adapt per site), "off" (no forced yield points) or N. */
static void hg_txlen_parse(const char *v)
{
	if (strcmp(v, "auto") == 0)
		return;
	if (strcmp(v, "off") == 0) {
		hg_txlen_off = true;
		return;
	}
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno || n < HG_TXLEN_MIN || n > HG_TXLEN_MAX) {
		hg_warn("HTMGIL_TXLEN=\"%s\" is not auto, off or a number of yield points in %u..%u; "
		    "using auto", v, HG_TXLEN_MIN, HG_TXLEN_MAX);
		return;
	}
	hg_txlen_fixed = (uint32_t)n;
}

/*
 * Runs when the library is loaded (linked or preloaded).  Reads the
 * environment once; programs may still change everything through the API.
 * Priority 102: within the preload library it runs before gil/preload.c's
 * (unnumbered) constructor, which reads what it sets; in the `htmgil`
 * program it runs after tools/htmgil.c's priority-101 constructor.
 */
__attribute__((constructor(102))) static void hg_init(void)
{
	const char *v = getenv("HTMGIL_POLICY");
	if (v && *v)
		hg_policy_parse(v);
	v = getenv("HTMGIL_TXLEN");
	if (v && *v)
		hg_txlen_parse(v);
	v = getenv("HTMGIL_EMU");
	if (v && *v)
		hg_emu_configure(v);

	enum hg_htm_request req = HG_HTM_REQ_AUTO;
	v = getenv("HTMGIL_HTM");
	if (v && *v) {
		if (strcmp(v, "auto") == 0)
			req = HG_HTM_REQ_AUTO;
		else if (strcmp(v, "rtm") == 0)
			req = HG_HTM_REQ_RTM;
		else if (strcmp(v, "emu") == 0)
			req = HG_HTM_REQ_EMU;
		else if (strcmp(v, "off") == 0)
			req = HG_HTM_REQ_OFF;
		else {
			hg_warn("HTMGIL_HTM=\"%s\" is not one of auto, rtm, emu, off; elision is off", v);
			req = HG_HTM_REQ_OFF;
		}
	}
	/*
	 * HTMGIL_SIM=1 (set by `htmgil sim`): emulated mode, no injected
	 * aborts, one yield point per transaction, markers on (htm/sim.h).
	 * It overrides HTMGIL_HTM, HTMGIL_EMU and HTMGIL_TXLEN.
	 */
	v = getenv("HTMGIL_SIM");
	if (v && *v && strcmp(v, "0") != 0) {
		if (strcmp(v, "1") != 0) {
			hg_warn("HTMGIL_SIM=\"%s\" is not 0 or 1; simulation markers are off "
			    "(run the program with `htmgil sim -- CMD` instead)", v);
		} else {
			req = HG_HTM_REQ_EMU;
			hg_emu_configure("");
			hg_txlen_fixed = 1;
			hg_txlen_off = false;
			hg_sim_on = 1; /* before any other thread: see htm/sim.h */
		}
	}
	hg_htm_set_mode(req);

	/* A fork child's counts start empty (docs/report.md): registered first,
	 * so it runs before the front ends' own fork handlers. */
	hg_stats_atfork_install();
	v = getenv("HTMGIL_REPORT");
	if (v && *v) {
		hg_report_init(v);
		atexit(hg_report_at_exit);
	}
}
