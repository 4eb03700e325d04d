/* SPDX-License-Identifier: MIT */
/*
 * htm/detect.c - CPUID checks, the commit probe and the process mode.
 *
 * RTM is usable only when, in order: the library was built with RTM support
 * for x86-64; it was not built with a sanitizer (ThreadSanitizer cannot see
 * hardware transactions, and sanitizer runtimes make system calls inside
 * sections); CPUID.(7,0):EBX[11] (RTM) is set; CPUID.(7,0):EDX[11]
 * (RTM_ALWAYS_ABORT) is clear; the model is not on the Haswell erratum list
 * shared by glibc and libitm; and a probe of empty transactions commits.
 * Only after all of that may XBEGIN run.  TSX_FORCE_ABORT is reported but
 * not decisive by itself: the probe tells whether the MSR forces aborts.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define HG_DETECT_DEFINES_MODE /* the exported hg_htm_mode() is defined here */
#include "base/atomic.h"
#include "htm/detect.h"

#include "htm/htm.h"
#include "base/util.h"
#if HG_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#define HG_PROBE_ROUNDS 4
#define HG_PROBE_TX 64
#define HG_PROBE_NEED 32 /* commits in the best round */

/* The mode in force; written at init and by hg_htm_set_mode, read everywhere. */
uint32_t hg_mode_global = HG_HTM_OFF;
bool hg_rtm_ok;

void hg_cpu_read(struct hg_cpuid_raw *raw)
{
	memset(raw, 0, sizeof *raw);
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	if (!__get_cpuid(0, &a, &b, &c, &d))
		return;
	raw->max_leaf = a;
	memcpy(raw->vendor + 0, &b, 4);
	memcpy(raw->vendor + 4, &d, 4);
	memcpy(raw->vendor + 8, &c, 4);
	raw->vendor[12] = '\0';
	if (a >= 1) {
		__cpuid(1, a, b, c, d);
		raw->leaf1_eax = a;
		raw->leaf1_ecx = c;
	}
	if (raw->max_leaf >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		raw->leaf7_ebx = b;
		raw->leaf7_edx = d;
	}
#endif
}

void hg_cpu_classify(const struct hg_cpuid_raw *raw, struct hg_cpu_info *out)
{
	memset(out, 0, sizeof *out);
	out->raw = *raw;
	unsigned fam = (raw->leaf1_eax >> 8) & 0xf;
	unsigned model = (raw->leaf1_eax >> 4) & 0xf;
	if (fam == 6 || fam == 15)
		model |= ((raw->leaf1_eax >> 16) & 0xf) << 4;
	if (fam == 15)
		fam += (raw->leaf1_eax >> 20) & 0xff;
	out->family = fam;
	out->model = model;
	out->stepping = raw->leaf1_eax & 0xf;

	bool leaf7 = raw->max_leaf >= 7;
	out->rtm = leaf7 && (raw->leaf7_ebx & HG_CPUID7_EBX_RTM);
	out->hle = leaf7 && (raw->leaf7_ebx & HG_CPUID7_EBX_HLE);
	out->rtm_always_abort = leaf7 && (raw->leaf7_edx & HG_CPUID7_EDX_RTM_ALWAYS_ABORT);
	out->tsx_force_abort = leaf7 && (raw->leaf7_edx & HG_CPUID7_EDX_TSX_FORCE_ABORT);
	bool intel = strcmp(raw->vendor, "GenuineIntel") == 0;
	out->erratum = intel && fam == 6 &&
	    (model == 0x3c || model == 0x45 || model == 0x46 ||
	        (model == 0x3f && out->stepping < 4));

	if (!HG_HAVE_RTM)
		out->verdict = HG_RTM_NOT_X86;
	else if (HG_SANITIZED)
		out->verdict = HG_RTM_SANITIZER;
	else if (!out->rtm)
		out->verdict = HG_RTM_NO_CPUID_BIT;
	else if (out->rtm_always_abort)
		out->verdict = HG_RTM_ALWAYS_ABORTS;
	else if (out->erratum)
		out->verdict = HG_RTM_ERRATUM;
	else
		out->verdict = HG_RTM_USABLE; /* pending the probe */
}

/*
 * The probe: rounds of empty transactions.  Interrupts abort a few, so the
 * best round must commit at least half.  A CPU whose microcode forces aborts
 * (TSX_FORCE_ABORT set, or a hypervisor hiding it badly) fails here.
 */
static void hg_cpu_probe(struct hg_cpu_info *ci)
{
	unsigned best = 0;
	ci->probe_ran = true;
	for (unsigned r = 0; r < HG_PROBE_ROUNDS; r++) {
		unsigned ok = 0;
		for (unsigned i = 0; i < HG_PROBE_TX; i++) {
			uint32_t s = hg_htm_begin();
			if (hg_htm_begin_success(s)) {
				hg_htm_commit();
				ok++;
			} else {
				ci->probe_last_status = s;
			}
		}
		ci->probe_attempts += HG_PROBE_TX;
		ci->probe_commits += ok;
		if (ok > best)
			best = ok;
	}
	if (best < HG_PROBE_NEED)
		ci->verdict = HG_RTM_PROBE_FAILED;
}

static struct hg_cpu_info hg_cpu_cached;
static pthread_once_t hg_cpu_once = PTHREAD_ONCE_INIT;

static void hg_cpu_detect_once(void)
{
	struct hg_cpuid_raw raw;
	hg_cpu_read(&raw);
	hg_cpu_classify(&raw, &hg_cpu_cached);
	if (hg_cpu_cached.verdict == HG_RTM_USABLE)
		hg_cpu_probe(&hg_cpu_cached);
}

const struct hg_cpu_info *hg_cpu_detect(void)
{
	pthread_once(&hg_cpu_once, hg_cpu_detect_once);
	return &hg_cpu_cached;
}

bool hg_under_valgrind(void)
{
#if HG_HAVE_VALGRIND_H
	return RUNNING_ON_VALGRIND != 0;
#else
	return false;
#endif
}

enum hg_htm_mode hg_htm_mode(void)
{
	/* Relaxed: the mode is set before sections run (documented contract of
	 * hg_htm_set_mode); a stale read only picks the other valid mode. */
	return (enum hg_htm_mode)hg_atomic_load_relaxed32(&hg_mode_global);
}

const char *hg_htm_mode_name(enum hg_htm_mode m)
{
	switch (m) {
	case HG_HTM_OFF: return "off";
	case HG_HTM_RTM: return "rtm";
	case HG_HTM_EMU: return "emu";
	}
	return "?";
}

const char *hg_rtm_verdict_str(enum hg_rtm_verdict v)
{
	switch (v) {
	case HG_RTM_USABLE: return "usable";
	case HG_RTM_NOT_X86: return "not built for x86-64 with RTM support";
	case HG_RTM_NO_CPUID_BIT: return "CPUID.(7,0):EBX[11] clear (no RTM on this CPU, or hidden by the kernel's tsx=off)";
	case HG_RTM_ALWAYS_ABORTS: return "CPUID.(7,0):EDX[11] RTM_ALWAYS_ABORT set (TSX disabled by microcode)";
	case HG_RTM_ERRATUM: return "CPU model on the Haswell TSX erratum list";
	case HG_RTM_PROBE_FAILED: return "empty transactions do not commit (TSX force-aborted)";
	case HG_RTM_VALGRIND: return "valgrind test mode: every XBEGIN aborts with CAPACITY";
	case HG_RTM_SANITIZER: return "a sanitizer build cannot run hardware transactions "
	    "(built with HTMGIL_SANITIZE)";
	}
	return "?";
}

int hg_glibc_rtm_safe(const char *version)
{
	if (!version || version[0] < '0' || version[0] > '9')
		return -1;
	char *end;
	unsigned long major = strtoul(version, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return -1;
	unsigned long minor = strtoul(end + 1, &end, 10);
	if (*end != '\0' && *end != '.' && *end != '-' && *end != '+')
		return -1;
	return major > 2 || (major == 2 && minor >= 33) ? 1 : 0;
}

enum hg_htm_mode hg_htm_set_mode(enum hg_htm_request req)
{
	enum hg_htm_mode m = HG_HTM_OFF;
	const struct hg_cpu_info *ci;

	switch (req) {
	case HG_HTM_REQ_OFF:
		m = HG_HTM_OFF;
		break;
	case HG_HTM_REQ_EMU:
		m = HG_HTM_EMU;
		break;
	case HG_HTM_REQ_AUTO:
		ci = hg_cpu_detect();
		m = ci->verdict == HG_RTM_USABLE ? HG_HTM_RTM : HG_HTM_OFF;
		hg_rtm_ok = ci->verdict == HG_RTM_USABLE;
		break;
	case HG_HTM_REQ_RTM:
		ci = hg_cpu_detect();
		if (ci->verdict == HG_RTM_USABLE) {
			m = HG_HTM_RTM;
			hg_rtm_ok = true;
		} else if (HG_HAVE_RTM && !HG_SANITIZED && hg_under_valgrind()) {
			/*
			 * Test-only way past the gate: valgrind executes XBEGIN as
			 * an immediate CAPACITY abort whatever the host CPU, so the
			 * real abort path runs and no transaction ever starts.
			 * Natively RUNNING_ON_VALGRIND is 0 and this is unreachable.
			 */
			hg_cpu_cached.verdict = HG_RTM_VALGRIND;
			m = HG_HTM_RTM;
			hg_rtm_ok = true;
		} else {
			hg_warn("HTMGIL_HTM=rtm, but RTM is not usable here: %s; "
			        "elision is off (use HTMGIL_HTM=emu to emulate it)",
			    hg_rtm_verdict_str(ci->verdict));
			m = HG_HTM_OFF;
		}
		break;
	}
	hg_atomic_store_relaxed32(&hg_mode_global, m);
	return m;
}
