/* SPDX-License-Identifier: MIT */
/*
 * gil/pyalloc.c - HTMGIL_PYALLOC: mimalloc's thread-local heaps behind
 * CPython's PYMEM_DOMAIN_MEM and PYMEM_DOMAIN_OBJ (docs/gil.md, "The object
 * allocator").
 *
 * Invariants:
 *   - mimalloc is opened with dlopen(RTLD_NOW | RTLD_LOCAL) only when the
 *     switch is wanted: libmimalloc.so exports malloc and free, which must
 *     not replace the C library's for the process, and every relocation of
 *     it is bound before the first call (no lazy binding inside a
 *     transaction).
 *   - PyMem_SetAllocator runs once, with the real GIL held by the calling
 *     thread and only one interpreter in the process, so no thread runs or
 *     speculates on CPython's allocator while its function table changes.
 *   - The wrappers never read their ctx argument (a thread that raced the
 *     table's update would still reach the right functions) and touch only
 *     thread-local counters and mimalloc's thread-local heap on the fast
 *     path: no system call, no shared write.
 *   - Blocks come from mi_heap_malloc & co. on mi_heap_get_default(), the
 *     thread's own heap.  The library's mi_malloc, mi_calloc, mi_realloc
 *     and mi_free share their addresses with its malloc, calloc, realloc
 *     and free, which a malloc-replacing valgrind tool redirects; the heap
 *     functions are its own (under `htmgil sim`, mi_free goes to the tool's
 *     free, which ignores blocks it did not make: freed blocks are not
 *     reused there; docs/gil.md).
 *   - A block is mimalloc's iff mi_is_in_heap_region() says so; every other
 *     block was made by the domain's previous allocator, which frees and
 *     reallocates it (a realloc keeps it there: only that allocator knows
 *     its size).
 */
#define _GNU_SOURCE
#include "gil/pyalloc.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"
#include "base/json.h"
#include "base/util.h"
#include "engine/engine.h"
#include "htm/sim.h"

#ifdef HG_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

/* CPython's allocator API (pymem.h; the same in 3.11, 3.12 and 3.13). */
struct hg_py_mem_allocator {
	void *ctx;
	void *(*malloc)(void *ctx, size_t size);
	void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
	void *(*realloc)(void *ctx, void *ptr, size_t new_size);
	void (*free)(void *ctx, void *ptr);
};
enum { HG_PYMEM_DOMAIN_MEM = 1, HG_PYMEM_DOMAIN_OBJ = 2 };

uint32_t hg_pyalloc_armed;
uint32_t hg_pyalloc_on;

/* What the report says when no switch happened (static strings). */
static const char *hg_pyalloc_why = "not available for this interpreter";
static const char *hg_pyalloc_version = "";

/* Thread-local counts, added to the totals by hg_pyalloc_flush. */
struct hg_pyalloc_counts {
	uint64_t mi_allocs;    /* blocks mimalloc returned (malloc, calloc, realloc) */
	uint64_t mi_frees;     /* mimalloc blocks freed */
	uint64_t old_frees;    /* blocks of the previous allocator freed through it */
	uint64_t old_reallocs; /* ... reallocated through it */
};
static HG_TLS struct hg_pyalloc_counts hg_pyalloc_mine;
static HG_TLS uint8_t hg_pyalloc_counted; /* this thread is in threads */

static struct {
	uint64_t mi_allocs, mi_frees, old_frees, old_reallocs;
	uint64_t threads; /* threads mimalloc served */
} hg_pyalloc_totals;

void hg_pyalloc_flush(void)
{
	struct hg_pyalloc_counts *c = &hg_pyalloc_mine;
	if (!(c->mi_allocs | c->mi_frees | c->old_frees | c->old_reallocs))
		return;
	/* relaxed: statistics, read by the report at exit */
	if (c->mi_allocs && !hg_pyalloc_counted) {
		hg_pyalloc_counted = 1;
		hg_atomic_fetch_add_relaxed64(&hg_pyalloc_totals.threads, 1);
	}
	hg_atomic_fetch_add_relaxed64(&hg_pyalloc_totals.mi_allocs, c->mi_allocs);
	hg_atomic_fetch_add_relaxed64(&hg_pyalloc_totals.mi_frees, c->mi_frees);
	hg_atomic_fetch_add_relaxed64(&hg_pyalloc_totals.old_frees, c->old_frees);
	hg_atomic_fetch_add_relaxed64(&hg_pyalloc_totals.old_reallocs, c->old_reallocs);
	memset(c, 0, sizeof *c);
}

#ifdef HG_HAVE_MIMALLOC

static __typeof__(mi_heap_get_default) *hg_mi_heap;
static __typeof__(mi_heap_malloc) *hg_mi_malloc;
static __typeof__(mi_heap_calloc) *hg_mi_calloc;
static __typeof__(mi_heap_realloc) *hg_mi_realloc;
static __typeof__(mi_free) *hg_mi_free;
static __typeof__(mi_is_in_heap_region) *hg_mi_owns;
static void (*hg_py_get_allocator)(int domain, struct hg_py_mem_allocator *a);
static void (*hg_py_set_allocator)(int domain, struct hg_py_mem_allocator *a);
static void *(*hg_py_interp_head)(void);
static void *(*hg_py_interp_next)(void *interp);

static char hg_pyalloc_version_buf[32];
/* The thread that took the GIL first (pthread_t as an integer; 0: none yet). */
static uint64_t hg_pyalloc_first;
static uint32_t hg_pyalloc_installing;

/* The domains' allocators before the switch. */
static struct hg_py_mem_allocator hg_pyalloc_old_mem, hg_pyalloc_old_obj;

/* The wrappers of one domain; old: its previous allocator. */
#define HG_PYALLOC_WRAPPERS(dom, old)                                                     \
	static void *hg_pyalloc_##dom##_malloc(void *ctx, size_t n)                       \
	{                                                                                 \
		(void)ctx;                                                                \
		void *p = hg_mi_malloc(hg_mi_heap(), n);                                  \
		hg_pyalloc_mine.mi_allocs += p != NULL;                                   \
		return p;                                                                 \
	}                                                                                 \
	static void *hg_pyalloc_##dom##_calloc(void *ctx, size_t k, size_t n)             \
	{                                                                                 \
		(void)ctx;                                                                \
		void *p = hg_mi_calloc(hg_mi_heap(), k, n);                               \
		hg_pyalloc_mine.mi_allocs += p != NULL;                                   \
		return p;                                                                 \
	}                                                                                 \
	static void *hg_pyalloc_##dom##_realloc(void *ctx, void *p, size_t n)             \
	{                                                                                 \
		(void)ctx;                                                                \
		if (p && !hg_mi_owns(p)) {                                                \
			hg_pyalloc_mine.old_reallocs++;                                   \
			return old.realloc(old.ctx, p, n);                                \
		}                                                                         \
		void *q = hg_mi_realloc(hg_mi_heap(), p, n);                              \
		hg_pyalloc_mine.mi_allocs += q != NULL && q != p;                         \
		hg_pyalloc_mine.mi_frees += q != NULL && q != p && p != NULL;             \
		return q;                                                                 \
	}                                                                                 \
	static void hg_pyalloc_##dom##_free(void *ctx, void *p)                           \
	{                                                                                 \
		(void)ctx;                                                                \
		if (!p)                                                                   \
			return;                                                           \
		if (hg_mi_owns(p)) {                                                      \
			hg_pyalloc_mine.mi_frees++;                                       \
			hg_mi_free(p);                                                    \
		} else {                                                                  \
			hg_pyalloc_mine.old_frees++;                                      \
			old.free(old.ctx, p);                                             \
		}                                                                         \
	}

HG_PYALLOC_WRAPPERS(mem, hg_pyalloc_old_mem)
HG_PYALLOC_WRAPPERS(obj, hg_pyalloc_old_obj)

static struct hg_py_mem_allocator hg_pyalloc_new_mem = {
	NULL, hg_pyalloc_mem_malloc, hg_pyalloc_mem_calloc, hg_pyalloc_mem_realloc,
	hg_pyalloc_mem_free,
};
static struct hg_py_mem_allocator hg_pyalloc_new_obj = {
	NULL, hg_pyalloc_obj_malloc, hg_pyalloc_obj_calloc, hg_pyalloc_obj_realloc,
	hg_pyalloc_obj_free,
};

/* mimalloc's soname for the major version of the header built against. */
#define HG_MI_STR2(x) #x
#define HG_MI_STR(x) HG_MI_STR2(x)
#define HG_MI_SONAME "libmimalloc.so." HG_MI_STR(HG_MI_MAJOR)
#define HG_MI_MAJOR 2
#if MI_MALLOC_VERSION / 100 != HG_MI_MAJOR
#error "gil/pyalloc.c expects mimalloc 2.x (libmimalloc.so.2)"
#endif

/* 0, or -1 after saying why in hg_pyalloc_why. */
static int hg_pyalloc_resolve(bool loud)
{
	void *h = dlopen(HG_MI_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		hg_pyalloc_why = "CPython's own: " HG_MI_SONAME " cannot be loaded";
		if (loud)
			hg_warn("HTMGIL_PYALLOC=mimalloc: cannot load " HG_MI_SONAME " (%s); install "
			    "libmimalloc2.0; keeping CPython's allocator", dlerror());
		return -1;
	}
	hg_mi_heap = (__typeof__(hg_mi_heap))dlsym(h, "mi_heap_get_default");
	hg_mi_malloc = (__typeof__(hg_mi_malloc))dlsym(h, "mi_heap_malloc");
	hg_mi_calloc = (__typeof__(hg_mi_calloc))dlsym(h, "mi_heap_calloc");
	hg_mi_realloc = (__typeof__(hg_mi_realloc))dlsym(h, "mi_heap_realloc");
	hg_mi_free = (__typeof__(hg_mi_free))dlsym(h, "mi_free");
	hg_mi_owns = (__typeof__(hg_mi_owns))dlsym(h, "mi_is_in_heap_region");
	int (*version)(void) = (int (*)(void))dlsym(h, "mi_version");
	hg_py_get_allocator = (void (*)(int, struct hg_py_mem_allocator *))dlsym(RTLD_DEFAULT,
	    "PyMem_GetAllocator");
	hg_py_set_allocator = (void (*)(int, struct hg_py_mem_allocator *))dlsym(RTLD_DEFAULT,
	    "PyMem_SetAllocator");
	hg_py_interp_head = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyInterpreterState_Head");
	hg_py_interp_next = (void *(*)(void *))dlsym(RTLD_DEFAULT, "PyInterpreterState_Next");
	if (!hg_mi_heap || !hg_mi_malloc || !hg_mi_calloc || !hg_mi_realloc || !hg_mi_free ||
	    !hg_mi_owns || !version || version() / 100 != HG_MI_MAJOR) {
		hg_pyalloc_why = "CPython's own: " HG_MI_SONAME " lacks the functions used";
		if (loud)
			hg_warn("HTMGIL_PYALLOC=mimalloc: " HG_MI_SONAME " is not mimalloc 2.x; "
			    "keeping CPython's allocator");
		return -1;
	}
	if (!hg_py_get_allocator || !hg_py_set_allocator || !hg_py_interp_head ||
	    !hg_py_interp_next) {
		hg_pyalloc_why = "CPython's own: PyMem_SetAllocator not found";
		if (loud)
			hg_warn("HTMGIL_PYALLOC=mimalloc: the interpreter lacks PyMem_SetAllocator; "
			    "keeping CPython's allocator");
		return -1;
	}
	int v = version();
	snprintf(hg_pyalloc_version_buf, sizeof hg_pyalloc_version_buf, "%d.%d.%d", v / 100,
	    v / 10 % 10, v % 10);
	hg_pyalloc_version = hg_pyalloc_version_buf;
	return 0;
}

static void hg_pyalloc_install(void)
{
	hg_py_get_allocator(HG_PYMEM_DOMAIN_MEM, &hg_pyalloc_old_mem);
	hg_py_get_allocator(HG_PYMEM_DOMAIN_OBJ, &hg_pyalloc_old_obj);
	hg_py_set_allocator(HG_PYMEM_DOMAIN_MEM, &hg_pyalloc_new_mem);
	hg_py_set_allocator(HG_PYMEM_DOMAIN_OBJ, &hg_pyalloc_new_obj);
	/* relaxed: read only by this front end's own paths and the report */
	hg_atomic_store_relaxed32(&hg_pyalloc_on, 1);
	hg_atomic_store_relaxed32(&hg_pyalloc_armed, 0);
}

void hg_pyalloc_taken(void)
{
	uint64_t self = (uint64_t)pthread_self();
	uint64_t first = hg_atomic_load_relaxed64(&hg_pyalloc_first);
	if (first == 0) {
		/* relaxed: the value only tells threads apart */
		__atomic_compare_exchange_n(&hg_pyalloc_first, &first, self, false,
		    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		return;
	}
	if (first == self)
		return;
	/* Another interpreter may run on a GIL of its own: wait until it is gone. */
	void *head = hg_py_interp_head();
	if (!head || hg_py_interp_next(head))
		return;
	uint32_t zero = 0;
	if (!hg_atomic_cas_relaxed32(&hg_pyalloc_installing, &zero, 1))
		return;
	hg_pyalloc_install();
}

#else /* !HG_HAVE_MIMALLOC */

static int hg_pyalloc_resolve(bool loud)
{
	hg_pyalloc_why = "CPython's own: htmgil was built without mimalloc (libmimalloc-dev)";
	if (loud)
		hg_warn("HTMGIL_PYALLOC=mimalloc: this htmgil was built without mimalloc; install "
		    "libmimalloc-dev and rebuild; keeping CPython's allocator");
	return -1;
}

void hg_pyalloc_taken(void)
{
}

#endif /* HG_HAVE_MIMALLOC */

void hg_pyalloc_setup(const struct hg_py *py)
{
	(void)py;
	const char *v = getenv("HTMGIL_PYALLOC");
	enum { AUTO, MIMALLOC, OFF } want = AUTO;
	if (v && *v) {
		if (strcmp(v, "auto") == 0) {
			want = AUTO;
		} else if (strcmp(v, "mimalloc") == 0) {
			want = MIMALLOC;
		} else if (strcmp(v, "off") == 0) {
			want = OFF;
		} else {
			hg_warn("HTMGIL_PYALLOC=%s is not understood: use auto (the default), mimalloc "
			    "or off; keeping auto", v);
		}
	}
	enum hg_htm_mode mode = hg_htm_mode();
	if (want == OFF) {
		hg_pyalloc_why = "CPython's own (HTMGIL_PYALLOC=off)";
		return;
	}
	if (mode == HG_HTM_OFF) {
		hg_pyalloc_why = "CPython's own (mode off: nothing speculates)";
		return;
	}
	/*
	 * auto: only where transactions really run.  Simulation mode keeps
	 * CPython's allocator unless asked (HTMGIL_PYALLOC=mimalloc), so
	 * `htmgil sim` shows the interpreter as it is by default.
	 */
	if (want == AUTO && mode != HG_HTM_RTM) {
		hg_pyalloc_why = hg_sim_on ?
		    "CPython's own (auto: only in mode rtm; HTMGIL_PYALLOC=mimalloc simulates it)" :
		    "CPython's own (auto: only in mode rtm)";
		return;
	}
	if (hg_pyalloc_resolve(want == MIMALLOC) != 0)
		return;
	hg_pyalloc_why = "CPython's own: no second thread took the GIL";
	/* relaxed: before any thread but the first exists */
	hg_atomic_store_relaxed32(&hg_pyalloc_armed, 1);
}

void hg_pyalloc_report(FILE *f, enum hg_report_format fmt)
{
	hg_pyalloc_flush(); /* the reporting thread's own counts */
	/* relaxed: statistics; the report runs at exit */
	bool on = hg_atomic_load_relaxed32(&hg_pyalloc_on) != 0;
	unsigned long long mi = hg_atomic_load_relaxed64(&hg_pyalloc_totals.mi_allocs);
	unsigned long long mif = hg_atomic_load_relaxed64(&hg_pyalloc_totals.mi_frees);
	unsigned long long of = hg_atomic_load_relaxed64(&hg_pyalloc_totals.old_frees);
	unsigned long long orl = hg_atomic_load_relaxed64(&hg_pyalloc_totals.old_reallocs);
	unsigned long long th = hg_atomic_load_relaxed64(&hg_pyalloc_totals.threads);
	if (fmt == HG_REPORT_JSON) {
		fprintf(f, ", \"object_allocator\": {\"allocator\": \"%s\", \"why\": ",
		    on ? "mimalloc" : "cpython");
		hg_json_write_str(f, on ? "installed at the first GIL take of a second thread" :
		                          hg_pyalloc_why);
		fprintf(f, ", \"mimalloc_version\": ");
		hg_json_write_str(f, on ? hg_pyalloc_version : "");
		fprintf(f, ", \"mimalloc_blocks\": %llu, \"mimalloc_threads\": %llu, "
		    "\"mimalloc_frees\": %llu, \"old_frees\": %llu, \"old_reallocs\": %llu}",
		    mi, th, mif, of, orl);
		return;
	}
	if (!on) {
		fprintf(f, "GIL object allocator: %s\n", hg_pyalloc_why);
		return;
	}
	fprintf(f, "GIL object allocator: mimalloc %s (PYMEM_DOMAIN_MEM and _OBJ, from the first "
	    "GIL take of a second thread): %llu blocks served on %llu threads, %llu freed; "
	    "CPython's previous allocator freed %llu blocks made before the switch and "
	    "reallocated %llu\n",
	    hg_pyalloc_version, mi, th, mif, of, orl);
}
