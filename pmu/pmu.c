/* SPDX-License-Identifier: MIT */
/*
 * pmu/pmu.c - the TSX events encoded with libpfm4, the per-thread counters,
 * HTMGIL_PMU and the engine's hooks (docs/design.md, "Hardware counters").
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pmu/pmu.h"

#if HG_HAVE_LIBPFM
/* After linux/perf_event.h (pmu.h): libpfm's copy of it then defines nothing twice. */
#include <perfmon/pfmlib_perf_event.h>
#endif

/* ---- the table of wanted events ---- */

/*
 * Each wanted event with the spellings libpfm4's models use for it, tried
 * in order: the names of lib/events/intel_{hsw,bdw,skl,icl,spr}_events.h
 * differ (hsw/bdw number the abort causes MISC1..5, skl calls the timer
 * TMR); the umask bits they encode are the same on every model.
 */
struct hg_pmu_want {
	const char *key;
	const char *names[4];
};
static const struct hg_pmu_want hg_pmu_wants[HG_PMU_EV_N] = {
	[HG_PMU_TX_START] = { "tx_start", { "RTM_RETIRED:START" } },
	[HG_PMU_TX_COMMIT] = { "tx_commit", { "RTM_RETIRED:COMMIT" } },
	[HG_PMU_TX_ABORTED] = { "tx_aborted", { "RTM_RETIRED:ABORTED" } },
	[HG_PMU_ABORTED_MEM] = { "aborted_mem",
		{ "RTM_RETIRED:ABORTED_MEM", "RTM_RETIRED:ABORTED_MISC1" } },
	[HG_PMU_ABORTED_TIMER] = { "aborted_timer",
		{ "RTM_RETIRED:ABORTED_TIMER", "RTM_RETIRED:ABORTED_TMR", "RTM_RETIRED:ABORTED_MISC2" } },
	[HG_PMU_ABORTED_UNFRIENDLY] = { "aborted_unfriendly",
		{ "RTM_RETIRED:ABORTED_UNFRIENDLY", "RTM_RETIRED:ABORTED_MISC3" } },
	[HG_PMU_ABORTED_MEMTYPE] = { "aborted_memtype",
		{ "RTM_RETIRED:ABORTED_MEMTYPE", "RTM_RETIRED:ABORTED_MISC4" } },
	[HG_PMU_ABORTED_EVENTS] = { "aborted_events",
		{ "RTM_RETIRED:ABORTED_EVENTS", "RTM_RETIRED:ABORTED_MISC5" } },
	[HG_PMU_ABORT_CONFLICT] = { "abort_conflict", { "TX_MEM:ABORT_CONFLICT" } },
	[HG_PMU_ABORT_CAPACITY_READ] = { "abort_capacity_read", { "TX_MEM:ABORT_CAPACITY_READ" } },
	[HG_PMU_ABORT_CAPACITY_WRITE] = { "abort_capacity_write", { "TX_MEM:ABORT_CAPACITY_WRITE" } },
	[HG_PMU_ABORT_CAPACITY] = { "abort_capacity", { "TX_MEM:ABORT_CAPACITY" } },
	[HG_PMU_EV_CYCLES_T] = { "cycles_t", { "CPU_CLK_UNHALTED:THREAD_P:intx=1" } },
	[HG_PMU_EV_CYCLES_CT] = { "cycles_ct", { "CPU_CLK_UNHALTED:THREAD_P:intx=1:intxcp=1" } },
};

/*
 * Group of each event (opened together, so their counts cover the same
 * time): cycles with the begin/commit counts, the aborts with their
 * memory causes, the other causes.  A group over HG_PMU_GROUP_MAX encoded
 * events is split.
 */
static const unsigned char hg_pmu_group_of[HG_PMU_EV_N] = {
	[HG_PMU_EV_CYCLES_T] = 0, [HG_PMU_EV_CYCLES_CT] = 0,
	[HG_PMU_TX_START] = 0, [HG_PMU_TX_COMMIT] = 0,
	[HG_PMU_TX_ABORTED] = 1, [HG_PMU_ABORT_CONFLICT] = 1, [HG_PMU_ABORT_CAPACITY_READ] = 1,
	[HG_PMU_ABORT_CAPACITY_WRITE] = 1, [HG_PMU_ABORT_CAPACITY] = 1,
	[HG_PMU_ABORTED_MEM] = 2, [HG_PMU_ABORTED_TIMER] = 2, [HG_PMU_ABORTED_UNFRIENDLY] = 2,
	[HG_PMU_ABORTED_MEMTYPE] = 2, [HG_PMU_ABORTED_EVENTS] = 2,
};
/* Opening order: the cycle pair first (cycles-ct is restricted to one counter). */
static const unsigned char hg_pmu_open_order[HG_PMU_EV_N] = {
	HG_PMU_EV_CYCLES_T, HG_PMU_EV_CYCLES_CT, HG_PMU_TX_START, HG_PMU_TX_COMMIT,
	HG_PMU_TX_ABORTED, HG_PMU_ABORT_CONFLICT, HG_PMU_ABORT_CAPACITY_READ,
	HG_PMU_ABORT_CAPACITY_WRITE, HG_PMU_ABORT_CAPACITY,
	HG_PMU_ABORTED_MEM, HG_PMU_ABORTED_TIMER, HG_PMU_ABORTED_UNFRIENDLY,
	HG_PMU_ABORTED_MEMTYPE, HG_PMU_ABORTED_EVENTS,
};

static struct hg_pmu_enc hg_pmu_tab[HG_PMU_EV_N];
static char hg_pmu_model_name[64];
static bool hg_pmu_forced_at_init;
static pthread_once_t hg_pmu_tab_once = PTHREAD_ONCE_INIT;

bool hg_pmu_have_libpfm(void)
{
	return HG_HAVE_LIBPFM != 0;
}

#if HG_HAVE_LIBPFM
/* The core PMU libpfm4 activated (detected, or forced), into hg_pmu_model_name. */
static void hg_pmu_find_model(void)
{
	pfm_pmu_t p;
	pfm_for_all_pmus(p) {
		pfm_pmu_info_t info;
		memset(&info, 0, sizeof info);
		info.size = sizeof info;
		if (pfm_get_pmu_info(p, &info) != PFM_SUCCESS || !info.is_present)
			continue;
		if (info.type != PFM_PMU_TYPE_CORE)
			continue;
		snprintf(hg_pmu_model_name, sizeof hg_pmu_model_name, "%s", info.name);
		return;
	}
}

static void hg_pmu_encode_one(struct hg_pmu_enc *e, const struct hg_pmu_want *w)
{
	int err = PFM_ERR_NOTFOUND;
	for (unsigned k = 0; k < 4 && w->names[k]; k++) {
		struct perf_event_attr attr;
		pfm_perf_encode_arg_t arg;
		memset(&attr, 0, sizeof attr);
		attr.size = sizeof attr;
		memset(&arg, 0, sizeof arg);
		arg.attr = &attr;
		arg.size = sizeof arg;
		int r = pfm_get_os_event_encoding(w->names[k], PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg);
		if (r == PFM_SUCCESS) {
			e->ok = true;
			e->name = w->names[k];
			e->type = attr.type;
			e->config = attr.config;
			e->config1 = attr.config1;
			return;
		}
		/* A more specific error (a model without the umask) over "not found". */
		if (k == 0 || err == PFM_ERR_NOTFOUND)
			err = r;
	}
	if (err == PFM_ERR_NOTFOUND)
		snprintf(e->why, sizeof e->why, "the %s PMU model has no such event (libpfm4: %s)",
		    hg_pmu_model_name, pfm_strerror(err));
	else if (err == PFM_ERR_ATTR || err == PFM_ERR_UMASK)
		snprintf(e->why, sizeof e->why, "the %s PMU model has no such unit mask (libpfm4: %s)",
		    hg_pmu_model_name, pfm_strerror(err));
	else
		snprintf(e->why, sizeof e->why, "the %s PMU model does not encode it (libpfm4: %s)",
		    hg_pmu_model_name[0] ? hg_pmu_model_name : "matched", pfm_strerror(err));
}
#endif

static void hg_pmu_encode_all(void)
{
	hg_pmu_forced_at_init = getenv("LIBPFM_FORCE_PMU") != NULL;
	for (unsigned i = 0; i < HG_PMU_EV_N; i++) {
		hg_pmu_tab[i].key = hg_pmu_wants[i].key;
		hg_pmu_tab[i].want = hg_pmu_wants[i].names[0];
	}
#if HG_HAVE_LIBPFM
	int r = pfm_initialize();
	if (r != PFM_SUCCESS) {
		for (unsigned i = 0; i < HG_PMU_EV_N; i++)
			snprintf(hg_pmu_tab[i].why, sizeof hg_pmu_tab[i].why,
			    "libpfm4 did not initialize: %s", pfm_strerror(r));
		return;
	}
	hg_pmu_find_model();
	/* Only a model with TSX events is used at all (its cycles' intx bits included). */
	if (pfm_find_event("RTM_RETIRED") < 0) {
		char found[96];
		if (hg_pmu_model_name[0])
			snprintf(found, sizeof found, "the active core PMU, %s, has none", hg_pmu_model_name);
		else
			snprintf(found, sizeof found, "no active core PMU: not an Intel CPU, or a VM without a PMU");
		for (unsigned i = 0; i < HG_PMU_EV_N; i++)
			snprintf(hg_pmu_tab[i].why, sizeof hg_pmu_tab[i].why,
			    "no PMU model matched: libpfm4 knows no PMU with TSX events here (%s)", found);
		hg_pmu_model_name[0] = '\0';
		return;
	}
	for (unsigned i = 0; i < HG_PMU_EV_N; i++)
		hg_pmu_encode_one(&hg_pmu_tab[i], &hg_pmu_wants[i]);
#else
	for (unsigned i = 0; i < HG_PMU_EV_N; i++)
		snprintf(hg_pmu_tab[i].why, sizeof hg_pmu_tab[i].why,
		    "built without libpfm4 (install libpfm4-dev and rebuild)");
#endif
}

const struct hg_pmu_enc *hg_pmu_table(void)
{
	pthread_once(&hg_pmu_tab_once, hg_pmu_encode_all);
	return hg_pmu_tab;
}

const char *hg_pmu_model(void)
{
	const struct hg_pmu_enc *t = hg_pmu_table();
	return t[HG_PMU_TX_ABORTED].ok && hg_pmu_model_name[0] ? hg_pmu_model_name : NULL;
}

/* ---- opening: the one way to perf_event_open ---- */

static long hg_pmu_sys_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group,
    unsigned long flags)
{
	return syscall(SYS_perf_event_open, attr, pid, cpu, group, flags);
}

hg_pmu_open_fn hg_pmu_open_impl = hg_pmu_sys_open;

bool hg_pmu_forced(void)
{
	return hg_pmu_forced_at_init || getenv("LIBPFM_FORCE_PMU") != NULL;
}

long hg_pmu_open_event(struct perf_event_attr *attr, int group)
{
	/* A forced model's encoding is another CPU's: never program it here. */
	if (hg_pmu_forced()) {
		errno = EPERM;
		return -1;
	}
	return hg_pmu_open_impl(attr, 0, -1, group, PERF_FLAG_FD_CLOEXEC);
}

char *hg_pmu_open_why(int e, char *buf, size_t len)
{
	switch (e) {
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP:
		snprintf(buf, len, "the kernel has no hardware PMU event for it here (%s; a VM "
		    "without a virtual PMU, or a kernel without the CPU's PMU driver): run on the "
		    "host, or give the VM a PMU", strerror(e));
		break;
	case EACCES:
	case EPERM: {
		char p[32] = "?";
		FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
		if (f) {
			if (!fgets(p, sizeof p, f))
				snprintf(p, sizeof p, "?");
			p[strcspn(p, "\n")] = '\0';
			fclose(f);
		}
		snprintf(buf, len, "not permitted (%s; perf_event_paranoid is %s): set "
		    "/proc/sys/kernel/perf_event_paranoid to 2 or lower, or grant CAP_PERFMON",
		    strerror(e), p);
		break;
	}
	case EMFILE:
	case ENFILE:
		snprintf(buf, len, "out of file descriptors (%s): raise the open-file limit", strerror(e));
		break;
	case ENOSYS:
		snprintf(buf, len, "perf_event_open is not available (%s): a kernel built with "
		    "CONFIG_PERF_EVENTS is needed", strerror(e));
		break;
	case EBUSY:
		snprintf(buf, len, "the counters are busy (%s): another tool holds them", strerror(e));
		break;
	default:
		snprintf(buf, len, "perf_event_open failed (%s): check the kernel's PMU driver",
		    strerror(e));
		break;
	}
	return buf;
}

/* ---- the calling thread's counters ---- */

struct hg_pmu_thread {
	int fd[HG_PMU_EV_N];                          /* -1: not open */
	struct perf_event_mmap_page *page[HG_PMU_EV_N]; /* user page, or NULL */
	unsigned nopen;
	struct hg_pmu_sample t0;                      /* read before the current attempt */
	bool t0_valid;
	struct hg_pmu_ring ring;                      /* abort sampling (HTMGIL_PMU=sample) */
};

/* The calling thread's counters; hg_pmu_tried: thread start ran (they may be NULL). */
static HG_TLS struct hg_pmu_thread *hg_pmu_self;
static HG_TLS bool hg_pmu_tried;
static pthread_key_t hg_pmu_key;
static pthread_once_t hg_pmu_key_once = PTHREAD_ONCE_INIT;
static uint32_t hg_pmu_warned_forced, hg_pmu_warned_sampling;

uint32_t hg_pmu_on;
static const char *hg_pmu_spec; /* HTMGIL_PMU as given, for messages */

static void hg_pmu_close(struct hg_pmu_thread *t)
{
	long pg = sysconf(_SC_PAGESIZE);
	for (unsigned i = 0; i < HG_PMU_EV_N; i++) {
		if (t->page[i])
			munmap(t->page[i], (size_t)pg);
		if (t->fd[i] >= 0)
			close(t->fd[i]);
	}
	hg_pmu_sample_close(&t->ring);
	free(t);
}

static void hg_pmu_thread_exit(void *p)
{
	if (p)
		hg_pmu_close(p);
}

/* A fork child: these counters count the parent's thread; the child opens its own. */
static void hg_pmu_atfork_child(void)
{
	if (hg_pmu_self)
		hg_pmu_close(hg_pmu_self);
	hg_pmu_self = NULL;
	hg_pmu_tried = false;
}

static void hg_pmu_key_init(void)
{
	pthread_key_create(&hg_pmu_key, hg_pmu_thread_exit);
	pthread_atfork(NULL, NULL, hg_pmu_atfork_child);
}

/* One line per process: a forced model is never opened. */
static void hg_pmu_refuse_forced(void)
{
	uint32_t expect = 0;
	if (hg_atomic_cas_relaxed32(&hg_pmu_warned_forced, &expect, 1)) {
		const char *f = getenv("LIBPFM_FORCE_PMU");
		hg_warn("HTMGIL_PMU=%s: LIBPFM_FORCE_PMU=%s is set, and a forced PMU model is for "
		    "encoding tests only: no counter is opened (unset LIBPFM_FORCE_PMU to count)",
		    hg_pmu_spec ? hg_pmu_spec : "1", f ? f : "");
	}
}

int hg_pmu_thread_start(void)
{
	if (hg_pmu_tried)
		return hg_pmu_self && hg_pmu_self->nopen ? 0 : -1;
	hg_pmu_tried = true;
	if (hg_pmu_forced()) {
		hg_pmu_refuse_forced();
		errno = EPERM;
		return -1;
	}
	pthread_once(&hg_pmu_key_once, hg_pmu_key_init);
	const struct hg_pmu_enc *tab = hg_pmu_table();
	struct hg_pmu_thread *t = calloc(1, sizeof *t);
	if (!t) {
		errno = ENOMEM;
		return -1;
	}
	for (unsigned i = 0; i < HG_PMU_EV_N; i++)
		t->fd[i] = -1;
	t->ring.fd = -1;

	long pg = sysconf(_SC_PAGESIZE);
	int first_err = 0, leader = -1, group = -1;
	unsigned in_group = 0;
	for (unsigned k = 0; k < HG_PMU_EV_N; k++) {
		unsigned i = hg_pmu_open_order[k];
		if (!tab[i].ok)
			continue;
		if ((int)hg_pmu_group_of[i] != group || in_group == HG_PMU_GROUP_MAX) {
			group = hg_pmu_group_of[i];
			leader = -1;
			in_group = 0;
		}
		struct perf_event_attr attr;
		memset(&attr, 0, sizeof attr);
		attr.size = sizeof attr;
		attr.type = tab[i].type;
		attr.config = tab[i].config;
		attr.config1 = tab[i].config1;
		attr.exclude_kernel = 1; /* user-space counts: allowed up to perf_event_paranoid 2 */
		attr.exclude_hv = 1;
		long fd = hg_pmu_open_event(&attr, leader);
		if (fd < 0) {
			if (!first_err)
				first_err = errno;
			continue;
		}
		t->fd[i] = (int)fd;
		t->nopen++;
		in_group++;
		if (leader < 0)
			leader = (int)fd;
		void *p = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, (int)fd, 0);
		t->page[i] = p == MAP_FAILED ? NULL : p;
	}
	if (t->nopen == 0) {
		free(t);
		errno = first_err ? first_err : ENOENT;
		return -1;
	}
	if (hg_atomic_load_relaxed32(&hg_pmu_on) == HG_PMU_SAMPLING &&
	    hg_pmu_sample_open(&t->ring, &tab[HG_PMU_TX_ABORTED]) != 0) {
		int e = errno;
		uint32_t expect = 0;
		if (hg_atomic_cas_relaxed32(&hg_pmu_warned_sampling, &expect, 1)) {
			char why[256];
			hg_warn("HTMGIL_PMU=sample: abort sampling not opened: %s; counting continues "
			    "without samples", hg_pmu_open_why(e, why, sizeof why));
		}
	}
	hg_pmu_self = t;
	pthread_setspecific(hg_pmu_key, t);
	return 0;
}

void hg_pmu_thread_stop(void)
{
	if (hg_pmu_self) {
		pthread_setspecific(hg_pmu_key, NULL);
		hg_pmu_close(hg_pmu_self);
	}
	hg_pmu_self = NULL;
	hg_pmu_tried = false;
}

#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t hg_pmu_rdpmc(uint32_t counter)
{
	return __builtin_ia32_rdpmc((int)counter);
}
#define HG_PMU_HAVE_RDPMC 1
#else
#define HG_PMU_HAVE_RDPMC 0
#endif

uint64_t hg_pmu_read_event(int fd, const struct perf_event_mmap_page *pg)
{
#if HG_PMU_HAVE_RDPMC
	/*
	 * The kernel's protocol for the user page (linux/perf_event.h): a
	 * sequence count in .lock around .index, .offset and the capability
	 * bits.  RDPMC only when cap_user_rdpmc is set and the event sits on a
	 * counter (index != 0): without CR4.PCE it faults.
	 */
	while (pg) {
		/* acquire: pairs with the kernel's update of the page (its seqcount write) */
		uint32_t seq = __atomic_load_n(&pg->lock, __ATOMIC_ACQUIRE);
		uint64_t caps = __atomic_load_n(&pg->capabilities, __ATOMIC_RELAXED);
		uint32_t idx = __atomic_load_n(&pg->index, __ATOMIC_RELAXED);
		int64_t off = __atomic_load_n(&pg->offset, __ATOMIC_RELAXED);
		uint16_t width = __atomic_load_n(&pg->pmc_width, __ATOMIC_RELAXED);
		if (!(caps & HG_PMU_CAP_USER_RDPMC) || idx == 0 || width == 0 || width > 64)
			break;
		uint64_t pmc = hg_pmu_rdpmc(idx - 1);
		if (width < 64) { /* sign-extend from pmc_width bits */
			pmc <<= 64 - width;
			pmc = (uint64_t)((int64_t)pmc >> (64 - width));
		}
		/* the loads above complete before .lock is read again */
		hg_fence_load_load();
		if (__atomic_load_n(&pg->lock, __ATOMIC_RELAXED) == seq)
			return (uint64_t)off + pmc;
	}
#else
	(void)pg;
#endif
	uint64_t v = 0;
	if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
		return 0;
	return v;
}

int hg_pmu_read(struct hg_pmu_sample *out)
{
	struct hg_pmu_thread *t = hg_pmu_self;
	if (!t && (hg_pmu_thread_start() != 0 || !(t = hg_pmu_self)))
		return -1;
	out->n = 0;
	for (unsigned i = 0; i < HG_PMU_EV_N; i++) {
		out->v[i] = 0;
		if (t->fd[i] < 0)
			continue;
		out->v[i] = hg_pmu_read_event(t->fd[i], t->page[i]);
		out->n++;
	}
	return 0;
}

void hg_pmu_account(struct hg_site_stats *st, const struct hg_pmu_sample *a,
    const struct hg_pmu_sample *b)
{
	for (unsigned i = 0; i < HG_PMU_COUNT_N; i++)
		hg_counter_add(&st->pmu_events[i], b->v[i] - a->v[i]);
	uint64_t dt = b->v[HG_PMU_EV_CYCLES_T] - a->v[HG_PMU_EV_CYCLES_T];
	uint64_t dct = b->v[HG_PMU_EV_CYCLES_CT] - a->v[HG_PMU_EV_CYCLES_CT];
	hg_counter_add(&st->pmu_cycles_commit, dct);
	/* cycles-ct <= cycles-t; a group that ran for part of the interval may break it */
	hg_counter_add(&st->pmu_cycles_abort, dt > dct ? dt - dct : 0);
	hg_counter_add(&st->pmu_reads, 1);
}

/* ---- the engine's hooks (outside transactions: before begin, after commit or abort) ---- */

void hg_pmu_begin_slow(void)
{
	struct hg_pmu_thread *t = hg_pmu_self;
	if (!t) {
		if (hg_pmu_tried || hg_pmu_thread_start() != 0)
			return;
		t = hg_pmu_self;
	}
	t->t0_valid = hg_pmu_read(&t->t0) == 0;
}

void hg_pmu_end_slow(struct hg_site_stats *st, uint32_t lock_id, uint64_t site)
{
	struct hg_pmu_thread *t = hg_pmu_self;
	if (!t || !t->t0_valid)
		return;
	struct hg_pmu_sample now;
	if (hg_pmu_read(&now) == 0)
		hg_pmu_account(st, &t->t0, &now);
	t->t0_valid = false;
	if (t->ring.fd >= 0)
		hg_pmu_sample_drain(&t->ring, lock_id, site);
}

/* ---- the process switch ---- */

int hg_pmu_parse(const char *v)
{
	if (!v || !*v || strcmp(v, "0") == 0 || strcmp(v, "off") == 0)
		return HG_PMU_OFF;
	if (strcmp(v, "1") == 0 || strcmp(v, "on") == 0)
		return HG_PMU_COUNTING;
	if (strcmp(v, "sample") == 0)
		return HG_PMU_SAMPLING;
	return -1;
}

enum hg_pmu_mode hg_pmu_enable(enum hg_pmu_mode m)
{
	const char *spec = hg_pmu_spec ? hg_pmu_spec : m == HG_PMU_SAMPLING ? "sample" : "1";
	if (m == HG_PMU_OFF) {
		hg_pmu_disable();
		return HG_PMU_OFF;
	}
	if (hg_pmu_forced()) {
		hg_pmu_refuse_forced();
		return HG_PMU_OFF;
	}
	const struct hg_pmu_enc *tab = hg_pmu_table();
	unsigned ok = 0;
	for (unsigned i = 0; i < HG_PMU_EV_N; i++)
		ok += tab[i].ok;
	if (ok == 0) {
		hg_warn("HTMGIL_PMU=%s: no TSX event encodes here: %s; counting continues without "
		    "hardware counters (they need an Intel CPU with TSX whose PMU the kernel exposes)",
		    spec, tab[HG_PMU_TX_ABORTED].why);
		return HG_PMU_OFF;
	}
	/* The switch first: thread start opens the sampling event only in sampling mode. */
	hg_atomic_store_relaxed32(&hg_pmu_on, (uint32_t)m);
	hg_pmu_thread_stop();
	if (hg_pmu_thread_start() != 0) {
		int e = errno;
		char why[256];
		hg_atomic_store_relaxed32(&hg_pmu_on, HG_PMU_OFF);
		hg_warn("HTMGIL_PMU=%s: hardware counters not opened: %s; counting continues "
		    "without them", spec, hg_pmu_open_why(e, why, sizeof why));
		return HG_PMU_OFF;
	}
	return m;
}

void hg_pmu_disable(void)
{
	hg_atomic_store_relaxed32(&hg_pmu_on, HG_PMU_OFF);
}

/*
 * HTMGIL_PMU at load.  Priority 103: after tools/htmgil.c's constructor
 * (101), which moves the variable aside in the htmgil program, and after
 * engine/env.c's (102).
 */
__attribute__((constructor(103))) static void hg_pmu_init(void)
{
	const char *v = getenv("HTMGIL_PMU");
	if (!v || !*v)
		return;
	int m = hg_pmu_parse(v);
	if (m < 0) {
		hg_warn("HTMGIL_PMU=\"%s\" is not one of 0, 1, sample (or off, on); hardware "
		    "counters are off", v);
		return;
	}
	hg_pmu_spec = v;
	hg_pmu_enable((enum hg_pmu_mode)m);
}
