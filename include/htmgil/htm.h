/* SPDX-License-Identifier: MIT */
/*
 * htmgil/htm.h - what hardware transactional memory this machine offers and
 * which mode htmgil runs in.
 *
 * RTM instructions are executed only when hg_htm_mode() == HG_HTM_RTM, and
 * that mode is entered only when detection allowed it: CPUID.(7,0):EBX[11]
 * set, RTM_ALWAYS_ABORT clear, the model not on the erratum list, and a
 * start-up probe in which trivial transactions really commit.  The one other
 * way in is the valgrind test mode (docs/design.md, "Detection: the gate in
 * front of XBEGIN"), which requires running under valgrind, where XBEGIN
 * never starts a transaction.
 */
#ifndef HTMGIL_HTM_H
#define HTMGIL_HTM_H

#include <stdbool.h>
#include <stdint.h>

#include <htmgil/api.h>

#ifdef __cplusplus
extern "C" {
#endif

enum hg_htm_mode {
	HG_HTM_OFF = 0, /* no speculation: every section takes the real lock */
	HG_HTM_RTM = 1, /* Intel RTM (XBEGIN/XEND) */
	HG_HTM_EMU = 2, /* emulated HTM: serialized, with seeded abort injection */
};

/* What HTMGIL_HTM asked for. */
enum hg_htm_request {
	HG_HTM_REQ_AUTO = 0,
	HG_HTM_REQ_RTM,
	HG_HTM_REQ_EMU,
	HG_HTM_REQ_OFF,
};

/* Raw CPUID words detection reads; tests pass mocked values. */
struct hg_cpuid_raw {
	uint32_t max_leaf;  /* CPUID.0:EAX */
	char vendor[13];    /* CPUID.0:EBX,EDX,ECX, NUL-terminated */
	uint32_t leaf1_eax; /* family/model/stepping */
	uint32_t leaf1_ecx;
	uint32_t leaf7_ebx; /* CPUID.(7,0):EBX */
	uint32_t leaf7_edx; /* CPUID.(7,0):EDX */
};

#define HG_CPUID7_EBX_HLE (1u << 4)
#define HG_CPUID7_EBX_RTM (1u << 11)
#define HG_CPUID7_EDX_RTM_ALWAYS_ABORT (1u << 11)
#define HG_CPUID7_EDX_TSX_FORCE_ABORT (1u << 13)

/* Why RTM is or is not usable; the first reason that applies. */
enum hg_rtm_verdict {
	HG_RTM_USABLE = 0,
	HG_RTM_NOT_X86,        /* not built for x86-64, or compiler lacks RTM */
	HG_RTM_NO_CPUID_BIT,   /* CPUID.(7,0):EBX[11] clear */
	HG_RTM_ALWAYS_ABORTS,  /* CPUID.(7,0):EDX[11] set (microcode disables TSX) */
	HG_RTM_ERRATUM,        /* Haswell erratum list (06_3C, 06_45, 06_46, 06_3F < 4) */
	HG_RTM_PROBE_FAILED,   /* trivial transactions do not commit */
	HG_RTM_VALGRIND,       /* valgrind test mode: XBEGIN always aborts */
	HG_RTM_SANITIZER,      /* built with HTMGIL_SANITIZE: no hardware transactions */
};

struct hg_cpu_info {
	struct hg_cpuid_raw raw;
	unsigned family, model, stepping; /* display values */
	bool rtm;               /* CPUID RTM bit */
	bool hle;               /* CPUID HLE bit */
	bool rtm_always_abort;  /* CPUID RTM_ALWAYS_ABORT */
	bool tsx_force_abort;   /* CPUID TSX_FORCE_ABORT (MSR exists) */
	bool erratum;           /* on the erratum list */
	enum hg_rtm_verdict verdict;
	/* Commit probe, run only when the CPUID checks pass. */
	bool probe_ran;
	unsigned probe_attempts, probe_commits;
	uint32_t probe_last_status; /* last abort status seen by the probe */
};

/*
 * Fills *out from raw CPUID values without executing anything.  Verdicts
 * that the build decides (HG_RTM_NOT_X86, then HG_RTM_SANITIZER) come before
 * every CPUID check.
 */
HG_API void hg_cpu_classify(const struct hg_cpuid_raw *raw, struct hg_cpu_info *out);
/* Reads this CPU's CPUID (x86 only; zeros elsewhere). */
HG_API void hg_cpu_read(struct hg_cpuid_raw *raw);
/*
 * hg_cpu_read + hg_cpu_classify, then the commit probe when the CPUID checks
 * pass.  The result is computed once and cached.
 */
HG_API const struct hg_cpu_info *hg_cpu_detect(void);

/*
 * Whether a glibc version's string functions are safe inside RTM
 * transactions: before 2.33 the AVX2 variants end in VZEROUPPER, which
 * aborts the transaction they run in (2.33 added variants that do not).
 * version is gnu_get_libc_version()'s "MAJOR.MINOR[...]".  Returns 1 (2.33
 * or later), 0 (older) or -1 (not a version).  Pure: reads only its argument.
 */
HG_API int hg_glibc_rtm_safe(const char *version);

/* The mode in force for the process (after HTMGIL_HTM and detection). */
HG_API enum hg_htm_mode hg_htm_mode(void);
/* Human-readable name: "off", "rtm", "emu". */
HG_API const char *hg_htm_mode_name(enum hg_htm_mode m);
HG_API const char *hg_rtm_verdict_str(enum hg_rtm_verdict v);
/*
 * Re-decides the mode from a request, as HTMGIL_HTM does at start-up; returns
 * the mode now in force.  A request for RTM on a machine without usable RTM
 * prints one line and gives HG_HTM_OFF.  Call only while no elided lock is
 * held or being acquired.
 */
HG_API enum hg_htm_mode hg_htm_set_mode(enum hg_htm_request req);

/*
 * Emulated HTM abort injection, the HTMGIL_EMU grammar:
 *   conflict=P,capacity=P,retry=P,other=P,seed=N   (0 <= P, sum of P <= 1)
 * Returns 0, or -1 (and prints one line naming the problem) leaving the
 * previous settings in force.
 */
HG_API int hg_emu_configure(const char *spec);

#ifdef __cplusplus
}
#endif
#endif /* HTMGIL_HTM_H */
