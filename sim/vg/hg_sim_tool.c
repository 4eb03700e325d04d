/* SPDX-License-Identifier: MIT */
/*
 * sim/vg/hg_sim_tool.c - valgrind --tool=htmgilsim: records, per chunk of
 * section intervals (hg_sim_mark_begin .. hg_sim_mark_end, joined at yield
 * points as sim/trace.h describes), the cache lines each sub-interval read
 * and wrote and the events a real transaction cannot survive, and writes
 * them as the trace of sim/trace.h.
 *
 * Instrumentation (hg_instrument):
 *   - instructions are counted in IR: each superblock adds its count of
 *     instructions to hg_icount before each side exit and at its end, and
 *     every helper receives the instructions of its superblock not yet
 *     added, so a helper's count is exact;
 *   - every memory access inside one line that hits the filter's table for
 *     its kind (hg_ftab: lines of the open chunk while an interval is open,
 *     lines of touched pages while none is) sets the sub-interval's bit in
 *     the entry's mask inline (nothing to do outside intervals); any other
 *     calls hg_access;
 *   - accesses at the superblock's entry RSP plus a constant (the thread's
 *     own stack) are not probed one by one: the superblock widens a span
 *     that the helpers flush as written lines (hg_stack_flush);
 *   - loads at constant addresses in read-only mappings are not recorded
 *     (hg_readonly_load);
 *   - an instruction at the entry of a function named hg_sim_mark_* gets a
 *     call of its marker helper, which reads the arguments from the guest's
 *     RDI, RSI, RDX;
 *   - CPUID, XSAVE-family dirty helpers and superblocks ending in PAUSE
 *     (Ijk_Yield) or a synthesized trap get an event call.
 *
 * Invariants:
 *   hg_cur, hg_icount, hg_open describe the thread valgrind runs now; they
 *   are loaded at start_client_code and stored back at stop_client_code
 *   (valgrind runs one thread at a time).  hg_open == (hg_cur->open &&
 *   !hg_cur->gap).
 *   A thread's chunk is open from its BEGIN to its END, across yield points
 *   (t->yielded: a yield point ended the last sub-interval and no begin has
 *   started the next yet); 1 <= t->nsubs <= hg_clo_chunk while it is open,
 *   and every line kept has a bit of sub-interval nsubs - 1 or below.
 *   hg_nyielded counts the threads with t->yielded set.
 *   hg_pcache[p & HG_PCACHE_MASK] == p, or p in hg_pf, implies page p is
 *   set in the page bitmap (the process touched it since it was last
 *   mapped).
 *   A DESC record for an id precedes every END naming it: ids are made while
 *   an END is assembled, and its DESC is written before the END.
 */
#include "pub_tool_basics.h"
#include "pub_tool_tooliface.h"
#include "pub_tool_libcassert.h"
#include "pub_tool_libcbase.h"
#include "pub_tool_libcprint.h"
#include "pub_tool_libcfile.h"
#include "pub_tool_libcproc.h"
#include "pub_tool_mallocfree.h"
#include "pub_tool_replacemalloc.h"
#include "pub_tool_options.h"
#include "pub_tool_machine.h"
#include "pub_tool_threadstate.h"
#include "pub_tool_debuginfo.h"
#include "pub_tool_stacktrace.h"
#include "pub_tool_hashtable.h"
#include "pub_tool_oset.h"
#include "pub_tool_aspacemgr.h"
#include "pub_tool_clientstate.h"
#include "pub_tool_xarray.h"
#include "pub_tool_vki.h"
#include "pub_tool_vkiscnums.h"
#include "libvex_guest_amd64.h"

#include "sim/trace.h"

#define HG_TOOL_VERSION "2"

/* The core's (pub_core_libcfile.h): moves fd above the client's range. */
extern Int VG_(safe_fd)(Int oldfd);

_Static_assert(sizeof(struct hg_sim_file_head) == 32, "trace.h layout");
_Static_assert(sizeof(struct hg_sim_begin) == 40, "trace.h layout");
_Static_assert(sizeof(struct hg_sim_end) == 32, "trace.h layout");
_Static_assert(sizeof(struct hg_sim_line) == 48, "trace.h layout");
_Static_assert(HG_SIM_SUBS_MAX == 64, "a sub-interval mask is one ULong");
_Static_assert(sizeof(struct hg_sim_event) == 24, "trace.h layout");
_Static_assert(sizeof(struct hg_sim_desc) == 32, "trace.h layout");

/* ------------------------------------------------------------------ */
/* Options                                                             */

static const HChar *hg_clo_trace = NULL;
static Long hg_clo_max_lines = 1 << 16;
static Long hg_clo_max_events = 1 << 16;
static Long hg_clo_chunk = HG_SIM_SUBS_MAX;
static Bool hg_clo_stack_spans = True;

static Bool hg_process_cmd_line_option(const HChar *arg)
{
	if VG_STR_CLO(arg, "--trace", hg_clo_trace) {}
	else if VG_BINT_CLO(arg, "--max-lines", hg_clo_max_lines, 1, 1 << 22) {}
	else if VG_BINT_CLO(arg, "--max-events", hg_clo_max_events, 1, 1 << 22) {}
	else if VG_BOOL_CLO(arg, "--stack-spans", hg_clo_stack_spans) {}
	else if (VG_(strncmp)(arg, "--chunk=", 8) == 0) {
		HChar *rest;
		hg_clo_chunk = VG_(strtoll10)(arg + 8, &rest);
		if (arg[8] == '\0' || *rest != '\0' || hg_clo_chunk < 1 ||
		    hg_clo_chunk > HG_SIM_SUBS_MAX) {
			VG_(fmsg)("htmgilsim: bad %s; give --chunk=N with N from 1 to %u\n", arg,
			          HG_SIM_SUBS_MAX);
			VG_(exit)(1);
		}
	}
	else
		return VG_(replacement_malloc_process_cmd_line_option)(arg);
	return True;
}

static void hg_print_usage(void)
{
	VG_(printf)(
"    --trace=FILE            write the section trace (sim/trace.h) to FILE [required];\n"
"                            %%p in FILE is replaced by the process id\n"
"    --max-lines=N           lines kept per chunk; more set TRUNCATED [65536]\n"
"    --max-events=N          events kept per chunk; more set TRUNCATED [65536]\n"
"    --chunk=N               most yield intervals of one hold joined in one chunk,\n"
"                            1..64; 1: one chunk per interval [64]\n");
}

static void hg_print_debug_usage(void)
{
	VG_(printf)(
"    --stack-spans=no|yes    yes: a superblock's accesses at its entry RSP plus a\n"
"                            constant are recorded as one span, not one by one [yes]\n");
}

/* ------------------------------------------------------------------ */
/* Trace output: one buffer, flushed with VG_(write) when full and at   */
/* the end.  hg_fd < 0: not writing (before the options, or in a forked */
/* child, which must not write into its parent's trace).               */

static Int hg_fd = -1;
static UChar hg_buf[1 << 16];
static UInt hg_buf_used;

static void hg_flush(void)
{
	UInt done = 0;
	while (done < hg_buf_used && hg_fd >= 0) {
		Int n = VG_(write)(hg_fd, hg_buf + done, hg_buf_used - done);
		if (n <= 0) {
			VG_(umsg)("htmgilsim: writing the trace failed; the trace is incomplete\n");
			VG_(close)(hg_fd);
			hg_fd = -1;
			break;
		}
		done += n;
	}
	hg_buf_used = 0;
}

static void hg_out(const void *p, SizeT n)
{
	const UChar *s = p;
	if (hg_fd < 0)
		return;
	while (n > 0) {
		SizeT room = sizeof hg_buf - hg_buf_used;
		SizeT k = n < room ? n : room;
		VG_(memcpy)(hg_buf + hg_buf_used, s, k);
		hg_buf_used += k;
		s += k;
		n -= k;
		if (hg_buf_used == sizeof hg_buf)
			hg_flush();
	}
}

static void hg_out_head(UInt type, UInt len)
{
	struct hg_sim_rec_head h = { .type = type, .len = len };
	hg_out(&h, sizeof h);
}

static UInt hg_pad8(UInt n) { return (n + 7u) & ~7u; }

static void hg_out_text(const HChar *s, UInt len_with_nul)
{
	static const UChar zeros[8];
	hg_out(s, len_with_nul);
	hg_out(zeros, hg_pad8(len_with_nul) - len_with_nul);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */

struct hg_line {
	Addr line;      /* addr >> HG_SIM_LINE_SHIFT */
	Addr addr;
	Addr code;
	Addr code_write;
	UInt first;
	UInt first_write;
	UInt size;
	UInt slot;      /* index in hg_thread.slots */
	ULong rmask;    /* sub-intervals that read / wrote the line */
	ULong wmask;
};

struct hg_event {
	UInt at;
	UInt kind;
	ULong arg;
	Addr code;
};

/* A thread's slot table has room for 2 * --max-lines entries and uses its
 * first 1 << slots_log, from HG_SLOTS_MIN_LOG, doubled while a chunk's lines
 * fill half of it: a chunk of few lines probes a table the cache holds. */
#define HG_SLOTS_MIN_LOG 9

struct hg_thread {
	UInt serial;        /* 0: no live thread on this ThreadId */
	Bool open;          /* a chunk is open (see the invariants above) */
	Bool yielded;       /* the last sub-interval ended at a yield point */
	Bool gap;           /* ... and its end marker came: until the next begin the
	                     * thread runs outside any transaction (its accesses and
	                     * events are not recorded; its instructions count) */
	UInt depth;         /* begin marks of the sub-interval not yet ended */
	ULong icount;
	ULong begin_icount; /* the chunk's BEGIN */
	UInt lock_id;       /* the chunk's BEGIN */
	ULong sub_word;
	UInt nsubs;
	UInt starts[HG_SIM_SUBS_MAX];
	ULong sites[HG_SIM_SUBS_MAX];
	Bool truncated;
	UInt stack_desc;
	struct hg_line *lines;
	UInt nlines, cap_lines;
	UInt *slots;        /* 1 << slots_max_log entries: 0 empty, else index + 1;
	                     * those at or above 1 << slots_log are 0 */
	UInt slots_log, slots_max_log;
	struct hg_event *evs;
	UInt nevs, cap_evs;
};

static struct hg_thread *hg_threads; /* indexed by ThreadId, VG_N_THREADS */
static UInt hg_next_serial = 1;
static UInt hg_nyielded;

/* The running thread (see the invariants above); read by generated code. */
static struct hg_thread *hg_cur;
ULong hg_icount;
ULong hg_open;
/*
 * The filter generated code consults before calling hg_access: hg_ftab[0]
 * for reads, hg_ftab[1] for writes, indexed by the line of the address.
 *   - While hg_open is 1 they are the line tables hg_rf (any line kept) and
 *     hg_wf (a line the chunk wrote): each entry holds a line of hg_cur's
 *     open chunk with the address of its rmask or wmask.  An access inside
 *     one line that hits its table ORs hg_bit into that mask in generated
 *     code, which is all hg_access would do for it (the line's page is
 *     marked: hg_pages_forget empties the tables), and calls nothing.
 *     hg_bit is the open sub-interval's bit.
 *   - While hg_open is 0 both are hg_pf: each entry holds a line whose page
 *     the page bitmap has set, with &hg_filter_sink as its mask, and hg_bit
 *     is 0.  An access inside one line that hits needs nothing.
 * Every entry's mask is a valid address: an empty entry is
 * { HG_NO_LINE, &hg_filter_sink }.  hg_rf and hg_wf hold only lines of
 * hg_filter_of's open chunk, at addresses valid while it stays open
 * (emptied when the chunk closes, its lines move, or another thread starts
 * running); hg_filter_of is hg_cur while client code runs.  A thread that
 * stops and starts again (a translation, a system call) keeps them.  hg_ftab and
 * hg_bit change only in hg_bit_sync, which runs where hg_open or the
 * sub-interval changes: in marker helpers and at thread switches.
 */
#define HG_NO_LINE (~0ull)
#define HG_PAGE_SHIFT 12
#define HG_FILTER_LOG 11
struct hg_filter_ent {
	ULong line;
	ULong *mask;
};
struct hg_filter_ent hg_rf[1u << HG_FILTER_LOG];
struct hg_filter_ent hg_wf[1u << HG_FILTER_LOG];
struct hg_filter_ent hg_pf[1u << HG_FILTER_LOG];
static const struct hg_thread *hg_filter_of;
struct hg_filter_ent *hg_ftab[2] = { hg_pf, hg_pf };
ULong hg_bit;
ULong hg_filter_sink;

static void hg_bit_sync(void)
{
	hg_bit = hg_open ? 1ull << (hg_cur->nsubs - 1) : 0;
	hg_ftab[0] = hg_open ? hg_rf : hg_pf;
	hg_ftab[1] = hg_open ? hg_wf : hg_pf;
}

static void hg_filter_init(void)
{
	for (UInt i = 0; i < (1u << HG_FILTER_LOG); i++) {
		hg_rf[i].line = hg_wf[i].line = HG_NO_LINE;
		hg_rf[i].mask = hg_wf[i].mask = &hg_filter_sink;
	}
}

static void hg_pfilter_init(void)
{
	for (UInt i = 0; i < (1u << HG_FILTER_LOG); i++) {
		hg_pf[i].line = HG_NO_LINE;
		hg_pf[i].mask = &hg_filter_sink;
	}
}

static struct hg_thread *hg_thread_of(ThreadId tid)
{
	tl_assert(tid > 0 && tid < VG_N_THREADS);
	return &hg_threads[tid];
}

static void hg_thread_announce(ThreadId tid, ThreadId parent)
{
	struct hg_thread *t = hg_thread_of(tid);
	struct hg_sim_thread r;
	if (t->serial != 0 || hg_fd < 0)
		return;
	t->serial = hg_next_serial++;
	r.serial = t->serial;
	r.parent = (parent > 0 && parent < VG_N_THREADS) ? hg_threads[parent].serial : 0;
	r.icount = t->icount;
	hg_out_head(HG_SIM_R_THREAD, sizeof r);
	hg_out(&r, sizeof r);
}

/* ------------------------------------------------------------------ */
/* Pages the process touched: a two-level bitmap over the 47-bit user   */
/* address space, and a direct-mapped cache of page numbers in front.  */

#define HG_CHUNK_LOG 18 /* pages per bitmap chunk: 1 GiB of address space */
#define HG_TOP_N (1u << (48 - HG_PAGE_SHIFT - HG_CHUNK_LOG))
#define HG_PCACHE_LOG 12
#define HG_PCACHE_MASK ((1u << HG_PCACHE_LOG) - 1)

static UChar *hg_pages[HG_TOP_N];
ULong hg_pcache[1u << HG_PCACHE_LOG];

/* Marks page p touched; returns True if it was not. */
static Bool hg_page_mark(ULong p)
{
	ULong c = p >> HG_CHUNK_LOG, bit = p & ((1u << HG_CHUNK_LOG) - 1);
	UChar *m;
	if (c >= HG_TOP_N)
		return False; /* not user space (vsyscall page): never reported */
	m = hg_pages[c];
	if (m == NULL) {
		m = VG_(calloc)("htmgilsim.pages", 1, (1u << HG_CHUNK_LOG) / 8);
		hg_pages[c] = m;
	}
	hg_pcache[p & HG_PCACHE_MASK] = p;
	if (m[bit >> 3] & (1u << (bit & 7)))
		return False;
	m[bit >> 3] |= (UChar)(1u << (bit & 7));
	return True;
}

/* [a, a+len) is mapped afresh or unmapped: its pages are untouched again. */
static void hg_pages_forget(Addr a, SizeT len)
{
	ULong p, end;
	if (len == 0)
		return;
	hg_filter_init();
	hg_pfilter_init();
	p = a >> HG_PAGE_SHIFT;
	end = (a + len - 1) >> HG_PAGE_SHIFT;
	if (end - p >= HG_PCACHE_MASK) {
		VG_(memset)(hg_pcache, 0xff, sizeof hg_pcache);
	} else {
		for (ULong q = p; q <= end; q++)
			if (hg_pcache[q & HG_PCACHE_MASK] == q)
				hg_pcache[q & HG_PCACHE_MASK] = ~0ull;
	}
	while (p <= end) {
		ULong c = p >> HG_CHUNK_LOG;
		ULong next = (c + 1) << HG_CHUNK_LOG;
		if (c >= HG_TOP_N)
			break;
		if (hg_pages[c] != NULL) {
			UChar *m = hg_pages[c];
			for (ULong q = p; q <= end && q < next; q++) {
				ULong bit = q & ((1u << HG_CHUNK_LOG) - 1);
				m[bit >> 3] &= (UChar)~(1u << (bit & 7));
			}
		}
		p = next;
	}
}

static void hg_pages_touch_range(Addr a, SizeT len)
{
	if (len == 0)
		return;
	for (ULong p = a >> HG_PAGE_SHIFT; p <= (a + len - 1) >> HG_PAGE_SHIFT; p++)
		hg_page_mark(p);
}

/* ------------------------------------------------------------------ */
/* Heap blocks (the malloc replacement), looked up by any address       */
/* inside them.                                                        */

#define HG_ALLOC_FRAMES 6

struct hg_block {
	Addr start;
	SizeT size;
	UInt desc;
	UInt nips;
	Addr ips[HG_ALLOC_FRAMES];
};

static OSet *hg_blocks;
/* Anonymous mappings the client made (mmap), with the stack that made them. */
static OSet *hg_maps;

static Word hg_block_cmp(const void *key, const void *elem)
{
	Addr a = *(const Addr *)key;
	const struct hg_block *b = elem;
	SizeT sz = b->size ? b->size : 1;
	if (a < b->start)
		return -1;
	if (a >= b->start + sz)
		return 1;
	return 0;
}

static void *hg_block_new(ThreadId tid, SizeT size, SizeT align, Bool zero)
{
	void *p = VG_(cli_malloc)(align, size);
	struct hg_block *b;
	if (p == NULL)
		return NULL;
	if (zero)
		VG_(memset)(p, 0, size);
	b = VG_(OSetGen_AllocNode)(hg_blocks, sizeof *b);
	b->start = (Addr)p;
	b->size = size;
	b->desc = 0;
	b->nips = VG_(get_StackTrace)(tid, b->ips, HG_ALLOC_FRAMES, NULL, NULL, 0);
	VG_(OSetGen_Insert)(hg_blocks, b);
	/* The allocator wrote the block's header: that page is not fresh. */
	hg_page_mark(((Addr)p - 1) >> HG_PAGE_SHIFT);
	return p;
}

static void hg_block_free(ThreadId tid, void *p)
{
	Addr a = (Addr)p;
	struct hg_block *b;
	(void)tid;
	if (p == NULL)
		return;
	b = VG_(OSetGen_Lookup)(hg_blocks, &a);
	if (b != NULL && b->start == a) {
		VG_(OSetGen_Remove)(hg_blocks, &a);
		VG_(OSetGen_FreeNode)(hg_blocks, b);
		VG_(cli_free)(p);
	}
	/* Not a block of ours: the client's bug; valgrind's own free would
	 * complain, this tool leaves it alone (the host's results never change). */
}

static void *hg_malloc(ThreadId tid, SizeT n) { return hg_block_new(tid, n, VG_(clo_alignment), False); }
static void *hg_memalign(ThreadId tid, SizeT align, SizeT n) { return hg_block_new(tid, n, align, False); }
static void *hg_new_aligned(ThreadId tid, SizeT n, SizeT align) { return hg_block_new(tid, n, align, False); }
static void hg_delete_aligned(ThreadId tid, void *p, SizeT align) { (void)align; hg_block_free(tid, p); }

static void *hg_calloc(ThreadId tid, SizeT nmemb, SizeT size1)
{
	if (size1 != 0 && nmemb > ((SizeT)-1) / size1)
		return NULL;
	return hg_block_new(tid, nmemb * size1, VG_(clo_alignment), True);
}

static void *hg_realloc(ThreadId tid, void *p, SizeT n)
{
	Addr a = (Addr)p;
	struct hg_block *b;
	void *q;
	if (p == NULL)
		return hg_malloc(tid, n);
	b = VG_(OSetGen_Lookup)(hg_blocks, &a);
	if (b == NULL || b->start != a)
		return NULL;
	q = hg_block_new(tid, n, VG_(clo_alignment), False);
	if (q == NULL)
		return NULL;
	VG_(memcpy)(q, p, b->size < n ? b->size : n);
	hg_block_free(tid, p);
	return q;
}

static SizeT hg_usable_size(ThreadId tid, void *p)
{
	Addr a = (Addr)p;
	struct hg_block *b = VG_(OSetGen_Lookup)(hg_blocks, &a);
	(void)tid;
	return (b != NULL && b->start == a) ? b->size : 0;
}

/* ------------------------------------------------------------------ */
/* Descriptions.  Made during the run (symbols are gone at exit), once   */
/* per object: per code address, per heap block, per global symbol, per */
/* thread stack, per mapping; a line cache maps lines outside the heap  */
/* to their id and is dropped when mappings or threads change.          */

struct hg_node { /* VgHashNode layout */
	struct hg_node *next;
	UWord key;
	UInt id;
	SizeT size; /* hg_map_ids: the segment's size when described */
};

static VgHashTable *hg_code_ids;   /* code address -> id */
static VgHashTable *hg_global_ids; /* symbol address -> id */
static VgHashTable *hg_map_ids;    /* segment start -> id */
static VgHashTable *hg_line_ids;   /* line outside the heap -> data id */
static UInt hg_next_id = 1;

/* The extent of each DESC id (by id), to check a line's cached object. */
static Addr *hg_desc_base;
static SizeT *hg_desc_size;
static UInt hg_desc_cap;

static UInt hg_desc(UInt kind, ULong base, ULong size, const HChar *text)
{
	struct hg_sim_desc d;
	UInt n = VG_(strlen)(text) + 1;
	if (hg_next_id >= hg_desc_cap) {
		hg_desc_cap = hg_desc_cap ? 2 * hg_desc_cap : 1024;
		hg_desc_base = VG_(realloc)("htmgilsim.desc_base", hg_desc_base,
		    hg_desc_cap * sizeof *hg_desc_base);
		hg_desc_size = VG_(realloc)("htmgilsim.desc_size", hg_desc_size,
		    hg_desc_cap * sizeof *hg_desc_size);
	}
	hg_desc_base[hg_next_id] = (Addr)base;
	hg_desc_size[hg_next_id] = (SizeT)size;
	d.id = hg_next_id++;
	d.kind = kind;
	d.base = base;
	d.size = size;
	d.text_len = n;
	d.pad = 0;
	hg_out_head(HG_SIM_R_DESC, sizeof d + hg_pad8(n));
	hg_out(&d, sizeof d);
	hg_out_text(text, n);
	return d.id;
}

static void hg_id_put(VgHashTable *t, UWord key, UInt id)
{
	struct hg_node *n = VG_(malloc)("htmgilsim.id", sizeof *n);
	n->key = key;
	n->id = id;
	n->size = 0;
	VG_(HT_add_node)(t, n);
}

static UInt hg_id_get(VgHashTable *t, UWord key)
{
	struct hg_node *n = VG_(HT_lookup)(t, key);
	return n ? n->id : 0;
}

/* "fn (file:line)", "fn (object)" or "0xADDR (object)". */
static void hg_describe_code(Addr a, HChar *buf, Int cap)
{
	DiEpoch ep = VG_(current_DiEpoch)();
	const HChar *fn, *file, *obj;
	HChar fnbuf[256];
	UInt line;
	Bool have_fn = VG_(get_fnname)(ep, a, &fn);
	if (have_fn)
		VG_(snprintf)(fnbuf, sizeof fnbuf, "%s", fn);
	else
		VG_(snprintf)(fnbuf, sizeof fnbuf, "0x%lx", a);
	if (VG_(get_filename_linenum)(ep, a, &file, NULL, &line))
		VG_(snprintf)(buf, cap, "%s (%s:%u)", fnbuf, file, line);
	else if (VG_(get_objname)(ep, a, &obj))
		VG_(snprintf)(buf, cap, "%s (%s)", fnbuf, obj);
	else
		VG_(snprintf)(buf, cap, "%s", fnbuf);
}

/* A direct-mapped cache in front of hg_code_ids (an entry, once made, is
 * what hg_code_ids holds for its address: code ids are never dropped). */
#define HG_CODE_CACHE_LOG 12
static struct {
	Addr a;
	UInt id;
} hg_code_cache[1u << HG_CODE_CACHE_LOG];

static UInt hg_code_id(Addr a)
{
	HChar buf[512];
	UInt id, k = (UInt)((a ^ (a >> HG_CODE_CACHE_LOG)) & ((1u << HG_CODE_CACHE_LOG) - 1));
	if (a == 0)
		return 0;
	if (hg_code_cache[k].a == a)
		return hg_code_cache[k].id;
	id = hg_id_get(hg_code_ids, a);
	if (id == 0) {
		hg_describe_code(a, buf, sizeof buf);
		id = hg_desc(HG_SIM_D_CODE, a, 0, buf);
		hg_id_put(hg_code_ids, a, id);
	}
	hg_code_cache[k].a = a;
	hg_code_cache[k].id = id;
	return id;
}

/*
 * "WHAT of N bytes VERB f1 < f2 < f3": a block named by the stack that made
 * it, leaving out the frames that say nothing about the caller (the malloc
 * replacement's, mmap's own).  Made once per block.
 */
static UInt hg_block_desc(struct hg_block *b, UInt kind, const HChar *what, const HChar *verb)
{
	DiEpoch ep = VG_(current_DiEpoch)();
	HChar buf[768];
	Int n;
	UInt shown = 0;
	if (b->desc != 0)
		return b->desc;
	n = VG_(snprintf)(buf, sizeof buf, "%s of %lu bytes %s", what, b->size, verb);
	for (UInt i = 0; i < b->nips && shown < 3 && n < (Int)sizeof buf - 1; i++) {
		const HChar *fn, *obj;
		if (VG_(get_objname)(ep, b->ips[i], &obj) && VG_(strstr)(obj, "vgpreload_") != NULL)
			continue;
		if (VG_(get_fnname)(ep, b->ips[i], &fn)) {
			if (VG_(strstr)(fn, "mmap") == fn || VG_(strstr)(fn, "__mmap") == fn)
				continue;
			n += VG_(snprintf)(buf + n, sizeof buf - n, "%s%s", shown ? " < " : " ", fn);
		} else {
			n += VG_(snprintf)(buf + n, sizeof buf - n, "%s0x%lx", shown ? " < " : " ", b->ips[i]);
		}
		shown++;
	}
	b->desc = hg_desc(kind, b->start, b->size, buf);
	return b->desc;
}

static UInt hg_heap_id(struct hg_block *b)
{
	return hg_block_desc(b, HG_SIM_D_HEAP, "heap block", "allocated at");
}

static UInt hg_map_made_id(struct hg_block *m)
{
	return hg_block_desc(m, HG_SIM_D_MAP, "anonymous mapping", "made at");
}

/* The size of the data symbol at base: the symbol covers [base, base+size)
 * and nothing after, so its end is found by doubling then bisecting. */
static SizeT hg_datasym_size(DiEpoch ep, Addr base)
{
	SizeT lo = 1, hi = 1; /* lo: inside; hi: probed outside */
	const HChar *name;
	PtrdiffT off;
	for (;;) {
		if (!VG_(get_datasym_and_offset)(ep, base + hi, &name, &off) ||
		    (Addr)(base + hi - off) != base)
			break;
		lo = hi + 1;
		if (hi >= ((SizeT)1 << 30))
			return 0;
		hi *= 2;
	}
	while (lo < hi) { /* invariant: lo-1 inside, hi outside */
		SizeT mid = lo + (hi - lo) / 2;
		if (VG_(get_datasym_and_offset)(ep, base + mid, &name, &off) &&
		    (Addr)(base + mid - off) == base)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static UInt hg_nonheap_id(Addr a)
{
	DiEpoch ep = VG_(current_DiEpoch)();
	HChar buf[512];
	const HChar *name, *obj;
	PtrdiffT off;
	NSegment const *seg;
	ThreadId tid;

	for (tid = 1; tid < VG_N_THREADS; tid++) {
		struct hg_thread *t = &hg_threads[tid];
		Addr top;
		SizeT size;
		if (t->serial == 0)
			continue;
		/*
		 * stack_max is the stack's highest byte.  A thread the C library
		 * created keeps its descriptor and static TLS above the stack in
		 * the same mapping: they are as private as the stack, so the
		 * range runs to the end of that mapping.
		 */
		top = VG_(thread_get_stack_max)(tid) + 1;
		size = VG_(thread_get_stack_size)(tid);
		if (top <= size)
			continue;
		Addr lo = top - size, hi = top;
		seg = VG_(am_find_nsegment)(top - 1);
		if (seg != NULL && seg->kind == SkAnonC && seg->end + 1 > hi)
			hi = seg->end + 1;
		if (a < hi && a >= lo) {
			if (t->stack_desc == 0) {
				VG_(snprintf)(buf, sizeof buf, "stack of thread %u", t->serial);
				t->stack_desc = hg_desc(HG_SIM_D_STACK, lo, hi - lo, buf);
			}
			return t->stack_desc;
		}
	}
	if (VG_(get_datasym_and_offset)(ep, a, &name, &off)) {
		Addr base = a - off;
		UInt id = hg_id_get(hg_global_ids, base);
		if (id == 0) {
			HChar nm[256];
			VG_(snprintf)(nm, sizeof nm, "%s", name);
			if (VG_(get_objname)(ep, a, &obj))
				VG_(snprintf)(buf, sizeof buf, "%s (%s)", nm, obj);
			else
				VG_(snprintf)(buf, sizeof buf, "%s", nm);
			id = hg_desc(HG_SIM_D_GLOBAL, base, hg_datasym_size(ep, base), buf);
			hg_id_put(hg_global_ids, base, id);
		}
		return id;
	}
	struct hg_block *m = VG_(OSetGen_Lookup)(hg_maps, &a);
	if (m != NULL)
		return hg_map_made_id(m);
	seg = VG_(am_find_nsegment)(a);
	if (seg != NULL && (seg->kind == SkAnonC || seg->kind == SkFileC || seg->kind == SkShmC)) {
		/* A segment keeps its id while its start and size stay. */
		SizeT size = seg->end + 1 - seg->start;
		struct hg_node *n = VG_(HT_lookup)(hg_map_ids, seg->start);
		UInt id = (n != NULL && n->size == size) ? n->id : 0;
		if (id == 0) {
			const HChar *fn = seg->kind == SkFileC ? VG_(am_get_filename)(seg) : NULL;
			if (fn != NULL)
				VG_(snprintf)(buf, sizeof buf, "mapping of %s", fn);
			else
				VG_(snprintf)(buf, sizeof buf, "anonymous mapping");
			id = hg_desc(HG_SIM_D_MAP, seg->start, size, buf);
			if (n == NULL) {
				hg_id_put(hg_map_ids, seg->start, id);
				n = VG_(HT_lookup)(hg_map_ids, seg->start);
			}
			n->id = id;
			n->size = size;
		}
		return id;
	}
	return 0;
}

/*
 * Regions the client named (hg_sim_mark_region, htm/sim.h): host state a
 * symbol table may not resolve.  A few per process; the smallest one that
 * holds an address names it, before heap blocks and symbols.  Each has its
 * DESC id (HG_SIM_D_GLOBAL), made when it is named, during the run.
 */
#define HG_REGIONS_MAX 64
static void hg_forget_objects(void);
static struct hg_region {
	Addr base;
	SizeT size;
	UInt id;
} hg_regions[HG_REGIONS_MAX];
static UInt hg_nregions;

static void hg_mark_region(ULong base, ULong size, ULong name)
{
	HChar buf[256];
	const HChar *obj;
	UInt i, n = 0;
	if (hg_fd < 0 || size == 0 || name == 0)
		return;
	for (i = 0; i < hg_nregions; i++)
		if (hg_regions[i].base == base && hg_regions[i].size == size)
			return;
	if (hg_nregions == HG_REGIONS_MAX)
		return;
	/* The name is a C string in the client's memory. */
	while (n + 1 < sizeof buf && ((const HChar *)(Addr)name)[n] != 0) {
		buf[n] = ((const HChar *)(Addr)name)[n];
		n++;
	}
	buf[n] = 0;
	if (VG_(get_objname)(VG_(current_DiEpoch)(), (Addr)base, &obj))
		VG_(snprintf)(buf + n, sizeof buf - n, " (%s)", obj);
	hg_regions[hg_nregions].base = (Addr)base;
	hg_regions[hg_nregions].size = (SizeT)size;
	hg_regions[hg_nregions].id = hg_desc(HG_SIM_D_GLOBAL, (Addr)base, (SizeT)size, buf);
	hg_nregions++;
	hg_forget_objects(); /* lines cached under another object */
}

static UInt hg_region_id(Addr a)
{
	UInt id = 0;
	SizeT best = 0;
	for (UInt i = 0; i < hg_nregions; i++) {
		const struct hg_region *r = &hg_regions[i];
		if (a >= r->base && a - r->base < r->size && (id == 0 || r->size < best)) {
			id = r->id;
			best = r->size;
		}
	}
	return id;
}

static UInt hg_data_id(Addr a)
{
	struct hg_block *b;
	UWord line = a >> HG_SIM_LINE_SHIFT;
	UInt id = hg_nregions ? hg_region_id(a) : 0;
	if (id != 0)
		return id;
	b = VG_(OSetGen_Lookup)(hg_blocks, &a);
	if (b != NULL)
		return hg_heap_id(b);
	/*
	 * The line's last object, if it holds a: a line may hold several
	 * objects (two globals side by side), each named by its own id.
	 */
	struct hg_node *n = VG_(HT_lookup)(hg_line_ids, line);
	if (n != NULL && n->id != 0 &&
	    (hg_desc_size[n->id] == 0 ||
	     (a >= hg_desc_base[n->id] && a - hg_desc_base[n->id] < hg_desc_size[n->id])))
		return n->id;
	id = hg_nonheap_id(a);
	if (id != 0) {
		if (n != NULL)
			n->id = id;
		else
			hg_id_put(hg_line_ids, line, id);
	}
	return id;
}

/* Mappings or stacks changed: the objects lines belong to may have too. */
static void hg_forget_objects(void)
{
	if (hg_line_ids == NULL)
		return;
	VG_(HT_destruct)(hg_line_ids, VG_(free));
	hg_line_ids = VG_(HT_construct)("htmgilsim.line_ids");
}

/* ------------------------------------------------------------------ */
/* Chunks (sim/trace.h, "Sub-intervals")                               */

static UInt hg_offset(ULong now, const struct hg_thread *t)
{
	ULong d = now - t->begin_icount;
	return d >= HG_SIM_NONE ? HG_SIM_NONE - 1 : (UInt)d;
}

static void hg_event_add(struct hg_thread *t, UInt kind, ULong arg, Addr code, ULong now)
{
	struct hg_event *e;
	if (t->nevs >= hg_clo_max_events) {
		t->truncated = True;
		return;
	}
	if (t->nevs == t->cap_evs) {
		t->cap_evs = t->cap_evs ? 2 * t->cap_evs : 64;
		t->evs = VG_(realloc)("htmgilsim.events", t->evs, t->cap_evs * sizeof *t->evs);
	}
	e = &t->evs[t->nevs++];
	e->at = hg_offset(now, t);
	e->kind = kind;
	e->arg = arg;
	e->code = code;
}

static void hg_filter_put(struct hg_filter_ent *f, UWord line, ULong *mask)
{
	struct hg_filter_ent *e = &f[line & ((1u << HG_FILTER_LOG) - 1)];
	e->line = line;
	e->mask = mask;
}

/* Empties the filter of t's lines, if t is the thread it holds (the lines'
 * keys must still be lines, not ids). */
static void hg_filter_drop(const struct hg_thread *t)
{
	if (t == NULL || t != hg_filter_of)
		return;
	if (t->nlines > (1u << HG_FILTER_LOG) / 4) {
		hg_filter_init();
		return;
	}
	for (UInt i = 0; i < t->nlines; i++) {
		UWord line = t->lines[i].line;
		UInt k = line & ((1u << HG_FILTER_LOG) - 1);
		if (hg_rf[k].line == line) {
			hg_rf[k].line = HG_NO_LINE;
			hg_rf[k].mask = &hg_filter_sink;
		}
		if (hg_wf[k].line == line) {
			hg_wf[k].line = HG_NO_LINE;
			hg_wf[k].mask = &hg_filter_sink;
		}
	}
}

static UInt hg_slot_free(const struct hg_thread *t, UWord line)
{
	UInt mask = (1u << t->slots_log) - 1;
	UInt h = (UInt)((line * 0x9E3779B97F4A7C15ull) >> (64 - t->slots_log));
	while (t->slots[h] != 0)
		h = (h + 1) & mask;
	return h;
}

/* Doubles the slots in use, placing the chunk's lines again. */
static void hg_slots_grow(struct hg_thread *t)
{
	for (UInt i = 0; i < t->nlines; i++)
		t->slots[t->lines[i].slot] = 0;
	t->slots_log++;
	for (UInt i = 0; i < t->nlines; i++) {
		UInt h = hg_slot_free(t, t->lines[i].line);
		t->slots[h] = i + 1;
		t->lines[i].slot = h;
	}
}

static void hg_line_add(struct hg_thread *t, Addr a, UInt size, Bool wr, Addr code, ULong now)
{
	UWord line = a >> HG_SIM_LINE_SHIFT;
	UInt mask = (1u << t->slots_log) - 1;
	UInt h = (UInt)((line * 0x9E3779B97F4A7C15ull) >> (64 - t->slots_log));
	ULong bit = 1ull << (t->nsubs - 1);
	struct hg_line *l;
	for (;;) {
		UInt s = t->slots[h];
		if (s == 0)
			break;
		l = &t->lines[s - 1];
		if (l->line == line) {
			if (!wr) {
				l->rmask |= bit;
				hg_filter_put(hg_rf, line, &l->rmask);
				return;
			}
			if (l->first_write == HG_SIM_NONE) {
				l->first_write = hg_offset(now, t);
				l->code_write = code;
				l->addr = a;
				l->size = size;
			}
			l->wmask |= bit;
			hg_filter_put(hg_wf, line, &l->wmask);
			hg_filter_put(hg_rf, line, &l->rmask);
			return;
		}
		h = (h + 1) & mask;
	}
	if (t->nlines >= hg_clo_max_lines) {
		t->truncated = True;
		return;
	}
	if (t->nlines == t->cap_lines) {
		hg_filter_drop(t); /* the masks move */
		t->cap_lines = t->cap_lines ? 2 * t->cap_lines : 1024;
		t->lines = VG_(realloc)("htmgilsim.lines", t->lines, t->cap_lines * sizeof *t->lines);
	}
	if (2 * (t->nlines + 1) > (1u << t->slots_log) && t->slots_log < t->slots_max_log) {
		hg_slots_grow(t);
		h = hg_slot_free(t, line);
	}
	l = &t->lines[t->nlines++];
	t->slots[h] = t->nlines;
	l->line = line;
	l->addr = a;
	l->code = code;
	l->first = hg_offset(now, t);
	l->first_write = wr ? l->first : HG_SIM_NONE;
	l->code_write = wr ? code : 0;
	l->size = size;
	l->slot = h;
	l->rmask = wr ? 0 : bit;
	l->wmask = wr ? bit : 0;
	if (wr)
		hg_filter_put(hg_wf, line, &l->wmask);
	hg_filter_put(hg_rf, line, &l->rmask);
}

static void hg_interval_reset(struct hg_thread *t)
{
	if (t->slots == NULL) {
		UInt need = 2 * (UInt)hg_clo_max_lines;
		t->slots_max_log = HG_SLOTS_MIN_LOG;
		while ((1u << t->slots_max_log) < need)
			t->slots_max_log++;
		t->slots = VG_(calloc)("htmgilsim.slots", 1u << t->slots_max_log, sizeof *t->slots);
	}
	for (UInt i = 0; i < t->nlines; i++)
		t->slots[t->lines[i].slot] = 0;
	t->slots_log = HG_SLOTS_MIN_LOG;
	t->nlines = 0;
	t->nevs = 0;
	t->nsubs = 0;
	t->truncated = False;
}

/* Writes the END of t's open chunk; describe: make DESC ids (False at
 * exit, where symbols are gone: ids already made are used, others are 0). */
static void hg_chunk_close(struct hg_thread *t, ULong now, UInt flags, Bool describe)
{
	static const UInt zero;
	struct hg_sim_end e;
	ULong len;
	hg_filter_drop(t);
	for (UInt i = 0; i < t->nlines; i++) {
		struct hg_line *l = &t->lines[i];
		/* Ids replace the raw addresses in place; code ids are made here
		 * so that their DESC records precede the END. */
		if (describe) {
			l->code = hg_code_id(l->code);
			l->code_write = hg_code_id(l->code_write);
			l->line = hg_data_id(l->addr);
		} else {
			l->code = hg_id_get(hg_code_ids, l->code);
			l->code_write = hg_id_get(hg_code_ids, l->code_write);
			l->line = 0;
		}
	}
	for (UInt i = 0; i < t->nevs; i++)
		t->evs[i].code = describe ? hg_code_id(t->evs[i].code)
		                          : hg_id_get(hg_code_ids, t->evs[i].code);
	if (t->truncated)
		flags |= HG_SIM_E_TRUNCATED;
	e.serial = t->serial;
	e.flags = flags;
	e.icount = now;
	e.nlines = t->nlines;
	e.nevents = t->nevs;
	e.nsubs = t->nsubs;
	e.pad = 0;
	len = sizeof e + hg_pad8(4 * t->nsubs) + (ULong)t->nlines * sizeof(struct hg_sim_line) +
	      (ULong)t->nevs * sizeof(struct hg_sim_event) + 8 * t->nsubs;
	hg_out_head(HG_SIM_R_END, (UInt)len);
	hg_out(&e, sizeof e);
	hg_out(t->starts, 4 * t->nsubs);
	if (t->nsubs & 1)
		hg_out(&zero, sizeof zero);
	for (UInt i = 0; i < t->nlines; i++) {
		const struct hg_line *l = &t->lines[i];
		struct hg_sim_line r = {
			.addr = l->addr, .first = l->first, .first_write = l->first_write,
			.code = (UInt)l->code, .code_write = (UInt)l->code_write,
			.data = (UInt)l->line, .size = l->size,
			.rmask = l->rmask, .wmask = l->wmask,
		};
		hg_out(&r, sizeof r);
	}
	for (UInt i = 0; i < t->nevs; i++) {
		const struct hg_event *v = &t->evs[i];
		struct hg_sim_event r = {
			.at = v->at, .kind = v->kind, .arg = v->arg, .code = (UInt)v->code,
		};
		hg_out(&r, sizeof r);
	}
	hg_out(t->sites, 8 * t->nsubs);
	/* The lines' keys were overwritten with ids; the slots are cleared by
	 * index, which does not need them. */
	hg_interval_reset(t);
	t->open = False;
	t->depth = 0;
	if (t->yielded)
		hg_nyielded--;
	t->yielded = False;
	t->gap = False;
	if (t == hg_cur) {
		hg_open = 0;
		hg_bit_sync();
	}
}

/* Another thread's hold of lock_id ended after a yield point without a
 * begin continuing it (that thread is not running: its icount is current). */
static void hg_close_yielded(const struct hg_thread *self, UInt lock_id)
{
	for (ThreadId tid = 1; tid < VG_N_THREADS && hg_nyielded > (self->yielded ? 1u : 0u); tid++) {
		struct hg_thread *o = &hg_threads[tid];
		if (o != self && o->yielded && o->lock_id == lock_id)
			hg_chunk_close(o, o->icount, 0, True);
	}
}

/* ------------------------------------------------------------------ */
/* Helpers called from generated code.  pend: the instructions of the   */
/* superblock executed but not yet added to hg_icount.                  */

#define HG_INFO_WRITE (1ull << 63)

/* [a, end] accessed at now: its pages touched, and while an interval is
 * open its lines added. */
static void hg_range(struct hg_thread *t, Addr a, Addr end, Bool wr, Addr code, ULong now)
{
	ULong p0 = a >> HG_PAGE_SHIFT, p1 = end >> HG_PAGE_SHIFT;

	for (ULong p = p0; p <= p1; p++) {
		if (hg_pcache[p & HG_PCACHE_MASK] == p)
			continue;
		if (hg_page_mark(p) && hg_open)
			hg_event_add(t, HG_SIM_EV_PAGE, p << HG_PAGE_SHIFT, code, now);
	}
	if (!hg_open) {
		if (a >> HG_SIM_LINE_SHIFT == end >> HG_SIM_LINE_SHIFT && p0 < ((ULong)HG_TOP_N << HG_CHUNK_LOG))
			hg_filter_put(hg_pf, a >> HG_SIM_LINE_SHIFT, &hg_filter_sink); /* marked above */
		return;
	}
	for (Addr l = a >> HG_SIM_LINE_SHIFT; l <= end >> HG_SIM_LINE_SHIFT; l++) {
		Addr la = l << HG_SIM_LINE_SHIFT;
		Addr s = la > a ? la : a;
		Addr e = end < la + (1u << HG_SIM_LINE_SHIFT) - 1 ? end : la + (1u << HG_SIM_LINE_SHIFT) - 1;
		hg_line_add(t, s, (UInt)(e - s + 1), wr, code, now);
	}
}

static void hg_access(Addr a, Addr code, ULong info)
{
	UInt pend = (UInt)info;
	UInt size = (UInt)(info >> 32) & 0x7fffffffu;
	hg_range(hg_cur, a, a + (size ? size : 1) - 1, (info & HG_INFO_WRITE) != 0, code,
	         hg_icount + pend);
}

/*
 * The stack accesses generated code does not instrument one by one (their
 * address is the superblock's entry RSP plus a constant: hg_instrument)
 * widen [hg_sp_lo, hg_sp_hi) to cover them, once per superblock.  The span
 * is hg_cur's, accumulated since the last flush; it is flushed, as writes
 * of the sub-interval open then (or as touched pages only, with none open),
 * wherever the sub-interval, hg_open or the running thread changes: before
 * each marker helper acts and at stop_client_code.  Empty: lo >= hi.
 */
ULong hg_sp_lo = ~0ull, hg_sp_hi;
ULong hg_sp_code; /* the entry of the last superblock that widened the span */
#define HG_SP_SPAN_MAX (1ull << 20) /* a larger span is not one frame's: dropped */

static void hg_stack_flush(ULong now)
{
	ULong lo = hg_sp_lo, hi = hg_sp_hi;
	hg_sp_lo = ~0ull;
	hg_sp_hi = 0;
	if (lo >= hi || hi - lo > HG_SP_SPAN_MAX || hg_cur == NULL)
		return;
	hg_range(hg_cur, lo, hi - 1, True, (Addr)hg_sp_code, now);
}

static void hg_event(ULong kind, ULong arg, Addr code, ULong pend)
{
	struct hg_thread *t = hg_cur;
	if (hg_open)
		hg_event_add(t, (UInt)kind, arg, code, hg_icount + pend);
}

static void hg_mark_begin(ULong site, ULong sub_word, ULong lock_id, ULong pend)
{
	struct hg_thread *t = hg_cur;
	struct hg_sim_begin b;
	ULong now = hg_icount + pend;
	UInt flags = 0;
	hg_stack_flush(now);
	if (hg_fd < 0 || t->serial == 0)
		return;
	if (hg_nyielded > (t->yielded ? 1u : 0u))
		hg_close_yielded(t, (UInt)lock_id);
	if (t->open && !t->yielded) {
		t->depth++; /* nested: flattened into the open sub-interval, as RTM does */
		return;
	}
	if (t->open) {
		/* After a yield point: the next sub-interval of the hold, or the
		 * end of a full chunk and the BEGIN of the next one. */
		ULong d = now - t->begin_icount;
		if ((UInt)lock_id != t->lock_id || sub_word != t->sub_word) {
			hg_chunk_close(t, now, 0, True);
		} else if (t->nsubs < hg_clo_chunk && d < (1ull << 31) &&
		           d > t->starts[t->nsubs - 1]) {
			t->starts[t->nsubs] = (UInt)d;
			t->sites[t->nsubs] = site;
			t->nsubs++;
			t->depth = 1;
			t->yielded = False;
			t->gap = False;
			hg_nyielded--;
			hg_open = 1;
			hg_bit_sync();
			return;
		} else {
			hg_chunk_close(t, now, HG_SIM_E_YIELD, True);
			flags = HG_SIM_B_CONTINUES;
		}
	}
	hg_interval_reset(t);
	t->open = True;
	t->gap = False;
	t->depth = 1;
	t->begin_icount = now;
	t->lock_id = (UInt)lock_id;
	t->sub_word = sub_word;
	t->nsubs = 1;
	t->starts[0] = 0;
	t->sites[0] = site;
	b.serial = t->serial;
	b.lock_id = (UInt)lock_id;
	b.site = site;
	b.sub_word = sub_word;
	b.icount = now;
	b.flags = flags;
	b.pad = 0;
	hg_out_head(HG_SIM_R_BEGIN, sizeof b);
	hg_out(&b, sizeof b);
	hg_open = 1;
	hg_bit_sync();
}

/* The sub-interval ends here; the chunk stays open for the next begin. */
static void hg_mark_yield(ULong pend)
{
	struct hg_thread *t = hg_cur;
	hg_stack_flush(hg_icount + pend);
	if (!t->open || t->yielded)
		return;
	t->yielded = True;
	hg_nyielded++;
}

static void hg_mark_end(ULong pend)
{
	struct hg_thread *t = hg_cur;
	hg_stack_flush(hg_icount + pend);
	if (!t->open)
		return;
	if (t->yielded) {
		t->depth = 0; /* the yield point ended every nested section too */
		t->gap = True;
		hg_open = 0;
		hg_bit_sync();
		return;
	}
	if (--t->depth > 0)
		return;
	hg_chunk_close(t, hg_icount + pend, 0, True);
}

/* ------------------------------------------------------------------ */
/* Instrumentation                                                     */

static IRExpr *hg_assign(IRSB *sb, IRType ty, IRExpr *e)
{
	IRTemp t = newIRTemp(sb->tyenv, ty);
	addStmtToIRSB(sb, IRStmt_WrTmp(t, e));
	return IRExpr_RdTmp(t);
}

static void hg_add_icount(IRSB *sb, UInt n)
{
	IRExpr *addr, *old, *sum;
	if (n == 0)
		return;
	addr = mkIRExpr_HWord((HWord)&hg_icount);
	old = hg_assign(sb, Ity_I64, IRExpr_Load(Iend_LE, Ity_I64, addr));
	sum = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Add64, old, IRExpr_Const(IRConst_U64(n))));
	addStmtToIRSB(sb, IRStmt_Store(Iend_LE, mkIRExpr_HWord((HWord)&hg_icount), sum));
}

/*
 * The unguarded accesses instrumented since the superblock's start or its
 * last marker call: an access of the same kind at the same address (the
 * same IR atom) and no larger repeats one that ran before it with the same
 * sub-interval, so it would change nothing and gets no code.
 */
#define HG_SEEN_MAX 64
static struct hg_seen {
	IRExpr *addr;
	UInt size;
	Bool wr;
} hg_seen[HG_SEEN_MAX];
static UInt hg_nseen;
/*
 * hg_bit and hg_ftab[0], hg_ftab[1] as loaded since the superblock's start
 * or its last marker call (only marker helpers and thread switches change
 * them, and a switch ends the superblock); NULL: not loaded yet.
 */
static IRExpr *hg_sb_bit, *hg_sb_tab[2];

static void hg_sb_forget(void)
{
	hg_nseen = 0;
	hg_sb_bit = hg_sb_tab[0] = hg_sb_tab[1] = NULL;
}

static Bool hg_same_atom(const IRExpr *a, const IRExpr *b)
{
	if (a->tag != b->tag)
		return False;
	if (a->tag == Iex_RdTmp)
		return a->Iex.RdTmp.tmp == b->Iex.RdTmp.tmp;
	if (a->tag == Iex_Const)
		return a->Iex.Const.con->tag == Ico_U64 && b->Iex.Const.con->tag == Ico_U64 &&
		       a->Iex.Const.con->Ico.U64 == b->Iex.Const.con->Ico.U64;
	return False;
}

/* True if the access repeats one in hg_seen; else records it there. */
static Bool hg_seen_repeat(IRExpr *addr, UInt size, Bool wr, const IRExpr *guard)
{
	if (guard != NULL || (addr->tag != Iex_RdTmp && addr->tag != Iex_Const))
		return False;
	for (UInt i = 0; i < hg_nseen; i++)
		if (hg_seen[i].wr == wr && hg_seen[i].size >= size && hg_same_atom(hg_seen[i].addr, addr))
			return True;
	if (hg_nseen < HG_SEEN_MAX)
		hg_seen[hg_nseen++] = (struct hg_seen){ .addr = addr, .size = size, .wr = wr };
	return False;
}

static IRExpr *hg_load64(IRSB *sb, const void *p)
{
	return hg_assign(sb, Ity_I64, IRExpr_Load(Iend_LE, Ity_I64, mkIRExpr_HWord((HWord)p)));
}

/*
 * Stack accesses.  A superblock's accesses whose address is its entry RSP
 * plus a constant (RSP as the IR reads it, through additions of constants
 * and writes of RSP with such values) are the running thread's own stack:
 * they get no code each; the superblock's entry instead widens
 * [hg_sp_lo, hg_sp_hi) by the span they cover (hg_stack_flush).  A guarded
 * access counts as if it ran.  Once RSP is written with any other value,
 * later reads of it are not followed.
 */
#define HG_SP_OFF_MAX (1 << 16)
static UChar *hg_sp_known;
static Long *hg_sp_off;
static Int hg_sp_cap;

/* addr's offset from the entry RSP, if it has a known one in range. */
static Bool hg_sp_addr(const IRExpr *addr, Long *off)
{
	if (addr->tag != Iex_RdTmp || !hg_sp_known[addr->Iex.RdTmp.tmp])
		return False;
	*off = hg_sp_off[addr->Iex.RdTmp.tmp];
	return *off > -HG_SP_OFF_MAX && *off < HG_SP_OFF_MAX;
}

static void hg_sp_span(const IRExpr *addr, Int size, Long *lo, Long *hi)
{
	Long off;
	if (!hg_sp_addr(addr, &off))
		return;
	if (off < *lo)
		*lo = off;
	if (off + size > *hi)
		*hi = off + size;
}

static Bool hg_sp_const(const IRExpr *e, Long *c)
{
	if (e->tag != Iex_Const || e->Iex.Const.con->tag != Ico_U64)
		return False;
	*c = (Long)e->Iex.Const.con->Ico.U64;
	return True;
}

/* Fills hg_sp_known/hg_sp_off for in's temporaries and the span [lo, hi)
 * of its stack accesses (lo >= hi: none). */
static void hg_sp_scan(const IRSB *in, Int offset_sp, Long *lo, Long *hi)
{
	Int n = in->tyenv->types_used;
	Bool sp_known = True;
	Long sp = 0, c;
	if (n > hg_sp_cap) {
		hg_sp_cap = n + 256;
		hg_sp_known = VG_(realloc)("htmgilsim.sp", hg_sp_known, hg_sp_cap);
		hg_sp_off = VG_(realloc)("htmgilsim.sp", hg_sp_off, hg_sp_cap * sizeof *hg_sp_off);
	}
	VG_(memset)(hg_sp_known, 0, n);
	*lo = HG_SP_OFF_MAX;
	*hi = -HG_SP_OFF_MAX;
	if (!hg_clo_stack_spans)
		return;
	for (Int i = 0; i < in->stmts_used; i++) {
		const IRStmt *st = in->stmts[i];
		switch (st->tag) {
		case Ist_WrTmp: {
			const IRExpr *e = st->Ist.WrTmp.data;
			IRTemp t = st->Ist.WrTmp.tmp;
			if (e->tag == Iex_Get && e->Iex.Get.offset == offset_sp && e->Iex.Get.ty == Ity_I64) {
				hg_sp_known[t] = sp_known;
				hg_sp_off[t] = sp;
			} else if (e->tag == Iex_Binop &&
			           (e->Iex.Binop.op == Iop_Add64 || e->Iex.Binop.op == Iop_Sub64)) {
				const IRExpr *x = e->Iex.Binop.arg1, *y = e->Iex.Binop.arg2;
				if (e->Iex.Binop.op == Iop_Add64 && x->tag == Iex_Const) {
					const IRExpr *z = x;
					x = y;
					y = z;
				}
				if (x->tag == Iex_RdTmp && hg_sp_known[x->Iex.RdTmp.tmp] && hg_sp_const(y, &c)) {
					hg_sp_known[t] = 1;
					hg_sp_off[t] = hg_sp_off[x->Iex.RdTmp.tmp] +
					               (e->Iex.Binop.op == Iop_Add64 ? c : -c);
				}
			} else if (e->tag == Iex_Load) {
				hg_sp_span(e->Iex.Load.addr, sizeofIRType(e->Iex.Load.ty), lo, hi);
			}
			break;
		}
		case Ist_Put: {
			Int o = st->Ist.Put.offset;
			const IRExpr *d = st->Ist.Put.data;
			Int sz = sizeofIRType(typeOfIRExpr(in->tyenv, d));
			if (o == offset_sp && sz == 8 && d->tag == Iex_RdTmp && hg_sp_known[d->Iex.RdTmp.tmp])
				sp = hg_sp_off[d->Iex.RdTmp.tmp];
			else if (o < offset_sp + 8 && o + sz > offset_sp)
				sp_known = False;
			break;
		}
		case Ist_PutI:
			sp_known = False; /* not RSP in practice; not followed */
			break;
		case Ist_Store:
			hg_sp_span(st->Ist.Store.addr, sizeofIRType(typeOfIRExpr(in->tyenv, st->Ist.Store.data)),
			           lo, hi);
			break;
		case Ist_StoreG:
			hg_sp_span(st->Ist.StoreG.details->addr,
			           sizeofIRType(typeOfIRExpr(in->tyenv, st->Ist.StoreG.details->data)), lo, hi);
			break;
		case Ist_LoadG: {
			IRType ty = Ity_INVALID, wide = Ity_INVALID;
			typeOfIRLoadGOp(st->Ist.LoadG.details->cvt, &wide, &ty);
			hg_sp_span(st->Ist.LoadG.details->addr, sizeofIRType(ty), lo, hi);
			break;
		}
		case Ist_CAS: {
			const IRCAS *cs = st->Ist.CAS.details;
			Int sz = sizeofIRType(typeOfIRExpr(in->tyenv, cs->dataLo));
			hg_sp_span(cs->addr, cs->dataHi ? 2 * sz : sz, lo, hi);
			break;
		}
		case Ist_LLSC:
			hg_sp_span(st->Ist.LLSC.addr,
			           sizeofIRType(st->Ist.LLSC.storedata
			                            ? typeOfIRExpr(in->tyenv, st->Ist.LLSC.storedata)
			                            : typeOfIRTemp(in->tyenv, st->Ist.LLSC.result)), lo, hi);
			break;
		case Ist_Dirty: {
			const IRDirty *d = st->Ist.Dirty.details;
			if (d->mFx != Ifx_None && d->mSize > 0)
				hg_sp_span(d->mAddr, d->mSize, lo, hi);
			for (Int k = 0; k < d->nFxState; k++)
				if (d->fxState[k].fx != Ifx_Read &&
				    d->fxState[k].offset < offset_sp + 8 &&
				    d->fxState[k].offset + d->fxState[k].size +
				            d->fxState[k].nRepeats * d->fxState[k].repeatLen > offset_sp)
					sp_known = False;
			break;
		}
		default:
			break;
		}
	}
}

/* The superblock's entry: [hg_sp_lo, hg_sp_hi) widened by [RSP+lo, RSP+hi). */
static void hg_add_sp_span(IRSB *sb, Int offset_sp, Long lo, Long hi, Addr code)
{
	IRExpr *sp = hg_assign(sb, Ity_I64, IRExpr_Get(offset_sp, Ity_I64));
	IRExpr *a = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Add64, sp, IRExpr_Const(IRConst_U64((ULong)lo))));
	IRExpr *b = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Add64, sp, IRExpr_Const(IRConst_U64((ULong)hi))));
	IRExpr *cur = hg_load64(sb, &hg_sp_lo);
	IRExpr *lt = hg_assign(sb, Ity_I1, IRExpr_Binop(Iop_CmpLT64U, a, cur));
	addStmtToIRSB(sb, IRStmt_Store(Iend_LE, mkIRExpr_HWord((HWord)&hg_sp_lo),
	                               hg_assign(sb, Ity_I64, IRExpr_ITE(lt, a, cur))));
	cur = hg_load64(sb, &hg_sp_hi);
	lt = hg_assign(sb, Ity_I1, IRExpr_Binop(Iop_CmpLT64U, cur, b));
	addStmtToIRSB(sb, IRStmt_Store(Iend_LE, mkIRExpr_HWord((HWord)&hg_sp_hi),
	                               hg_assign(sb, Ity_I64, IRExpr_ITE(lt, b, cur))));
	addStmtToIRSB(sb, IRStmt_Store(Iend_LE, mkIRExpr_HWord((HWord)&hg_sp_code),
	                               mkIRExpr_HWord((HWord)code)));
}

/*
 * A load at a constant address in a mapping without write permission (the
 * GOT after RELRO, .rodata, code) is not recorded: no thread can write the
 * line, so it never conflicts; it leaves out a few lines of the read
 * budget and the first touch of such a page (docs/sim.md, "What the
 * prediction does not see").
 */
static Bool hg_readonly_load(const IRExpr *addr, Bool wr)
{
	NSegment const *sg;
	if (wr || addr->tag != Iex_Const || addr->Iex.Const.con->tag != Ico_U64)
		return False;
	sg = VG_(am_find_nsegment)((Addr)addr->Iex.Const.con->Ico.U64);
	return sg != NULL && (sg->kind == SkFileC || sg->kind == SkFileV || sg->kind == SkAnonC) &&
	       sg->hasR && !sg->hasW;
}

/*
 * [addr, addr+size) under guard (NULL: always): if it lies in one line and
 * the filter's table for its kind holds that line, hg_bit is ORed into the
 * entry's mask; else hg_access is called.
 */
static void hg_add_access(IRSB *sb, IRExpr *addr, UInt size, Bool wr, Addr code,
                          UInt pend, IRExpr *guard)
{
	IRExpr *line, *last, *ent, *key, *hit, *miss, *mask, *old;
	IRDirty *di;
	ULong info = (ULong)pend | ((ULong)(size & 0x7fffffffu) << 32) | (wr ? HG_INFO_WRITE : 0);

	Long off;
	if (hg_sp_addr(addr, &off) || hg_readonly_load(addr, wr) || hg_seen_repeat(addr, size, wr, guard))
		return;
	if (hg_sb_bit == NULL)
		hg_sb_bit = hg_load64(sb, &hg_bit);
	if (hg_sb_tab[wr] == NULL)
		hg_sb_tab[wr] = hg_load64(sb, &hg_ftab[wr]);

	/* The entry of the first line holds the last one only if they are one
	 * line: two lines in one access are adjacent, in different entries. */
	line = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Shr64, addr, IRExpr_Const(IRConst_U8(HG_SIM_LINE_SHIFT))));
	last = line;
	if (size > 1) {
		last = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Add64, addr, IRExpr_Const(IRConst_U64(size - 1))));
		last = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Shr64, last, IRExpr_Const(IRConst_U8(HG_SIM_LINE_SHIFT))));
	}
	ent = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_And64, line, IRExpr_Const(IRConst_U64((1u << HG_FILTER_LOG) - 1))));
	ent = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Shl64, ent, IRExpr_Const(IRConst_U8(4))));
	ent = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Add64, ent, hg_sb_tab[wr]));
	key = hg_assign(sb, Ity_I64, IRExpr_Load(Iend_LE, Ity_I64, ent));
	hit = hg_assign(sb, Ity_I1, IRExpr_Binop(Iop_CmpEQ64, key, last));
	miss = hg_assign(sb, Ity_I1, IRExpr_Unop(Iop_Not1, hit));
	if (guard != NULL) {
		hit = hg_assign(sb, Ity_I1, IRExpr_Binop(Iop_And1, hit, guard));
		miss = hg_assign(sb, Ity_I1, IRExpr_Binop(Iop_And1, miss, guard));
	}
	ent = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Add64, ent, IRExpr_Const(IRConst_U64(8))));
	mask = hg_assign(sb, Ity_I64, IRExpr_Load(Iend_LE, Ity_I64, ent));
	old = hg_assign(sb, Ity_I64, IRExpr_Load(Iend_LE, Ity_I64, mask));
	old = hg_assign(sb, Ity_I64, IRExpr_Binop(Iop_Or64, old, hg_sb_bit));
	addStmtToIRSB(sb, IRStmt_StoreG(Iend_LE, mask, old, hit));

	di = unsafeIRDirty_0_N(0, "hg_access", VG_(fnptr_to_fnentry)(&hg_access),
	                       mkIRExprVec_3(addr, mkIRExpr_HWord(code), IRExpr_Const(IRConst_U64(info))));
	di->guard = miss;
	addStmtToIRSB(sb, IRStmt_Dirty(di));
}

static void hg_add_event(IRSB *sb, UInt kind, ULong arg, Addr code, UInt pend)
{
	IRDirty *di = unsafeIRDirty_0_N(0, "hg_event", VG_(fnptr_to_fnentry)(&hg_event),
	                                mkIRExprVec_4(IRExpr_Const(IRConst_U64(kind)),
	                                              IRExpr_Const(IRConst_U64(arg)),
	                                              mkIRExpr_HWord(code),
	                                              IRExpr_Const(IRConst_U64(pend))));
	addStmtToIRSB(sb, IRStmt_Dirty(di));
}

static IRExpr *hg_guest_reg(IRSB *sb, Int offset)
{
	return hg_assign(sb, Ity_I64, IRExpr_Get(offset, Ity_I64));
}

/* Adds the marker call if code is the entry of a marker function. */
static void hg_add_marker(IRSB *sb, Addr code, UInt pend)
{
	const HChar *fn;
	IRDirty *di;
	if (!VG_(get_fnname_if_entry)(VG_(current_DiEpoch)(), code, &fn) ||
	    VG_(strncmp)(fn, "hg_sim_mark_", 12) != 0)
		return;
	fn += 12;
	if (VG_(strcmp)(fn, "begin") == 0) {
		IRExpr *rdi = hg_guest_reg(sb, offsetof(VexGuestAMD64State, guest_RDI));
		IRExpr *rsi = hg_guest_reg(sb, offsetof(VexGuestAMD64State, guest_RSI));
		IRExpr *rdx = hg_guest_reg(sb, offsetof(VexGuestAMD64State, guest_RDX));
		di = unsafeIRDirty_0_N(0, "hg_mark_begin", VG_(fnptr_to_fnentry)(&hg_mark_begin),
		                       mkIRExprVec_4(rdi, rsi, rdx, IRExpr_Const(IRConst_U64(pend))));
	} else if (VG_(strcmp)(fn, "yield") == 0) {
		di = unsafeIRDirty_0_N(0, "hg_mark_yield", VG_(fnptr_to_fnentry)(&hg_mark_yield),
		                       mkIRExprVec_1(IRExpr_Const(IRConst_U64(pend))));
	} else if (VG_(strcmp)(fn, "end") == 0) {
		di = unsafeIRDirty_0_N(0, "hg_mark_end", VG_(fnptr_to_fnentry)(&hg_mark_end),
		                       mkIRExprVec_1(IRExpr_Const(IRConst_U64(pend))));
	} else if (VG_(strcmp)(fn, "region") == 0) {
		IRExpr *rdi = hg_guest_reg(sb, offsetof(VexGuestAMD64State, guest_RDI));
		IRExpr *rsi = hg_guest_reg(sb, offsetof(VexGuestAMD64State, guest_RSI));
		IRExpr *rdx = hg_guest_reg(sb, offsetof(VexGuestAMD64State, guest_RDX));
		di = unsafeIRDirty_0_N(0, "hg_mark_region", VG_(fnptr_to_fnentry)(&hg_mark_region),
		                       mkIRExprVec_3(rdi, rsi, rdx));
	} else {
		return;
	}
	addStmtToIRSB(sb, IRStmt_Dirty(di));
	hg_sb_forget(); /* the sub-interval, and hg_open, may change here */
}

/* The event kind of a VEX dirty helper a transaction cannot survive, 0: none. */
static UInt hg_dirty_event(const IRCallee *cee)
{
	const HChar *n = cee->name;
	if (VG_(strstr)(n, "CPUID") != NULL)
		return HG_SIM_EV_CPUID;
	if (VG_(strstr)(n, "XSAVE") != NULL || VG_(strstr)(n, "XRSTOR") != NULL)
		return HG_SIM_EV_XSAVE; /* also FXSAVE, FXRSTOR */
	if (VG_(strcmp)(n, "amd64g_dirtyhelper_IN") == 0 || VG_(strcmp)(n, "amd64g_dirtyhelper_OUT") == 0)
		return HG_SIM_EV_OTHER;
	return 0;
}

/* The event of a superblock's final jump a transaction cannot survive. */
static UInt hg_jump_event(IRJumpKind jk)
{
	switch (jk) {
	case Ijk_Yield:
		return HG_SIM_EV_PAUSE;
	case Ijk_NoDecode: case Ijk_SigILL: case Ijk_SigTRAP: case Ijk_SigSEGV:
	case Ijk_SigBUS: case Ijk_SigFPE: case Ijk_SigFPE_IntDiv: case Ijk_SigFPE_IntOvf:
	case Ijk_Sys_int32: case Ijk_Sys_int129: case Ijk_Sys_int130:
	case Ijk_Sys_int145: case Ijk_Sys_int210:
		return HG_SIM_EV_OTHER;
	default:
		return 0; /* system calls are seen by hg_pre_syscall */
	}
}

static IRSB *hg_instrument(VgCallbackClosure *closure, IRSB *in, const VexGuestLayout *layout,
                           const VexGuestExtents *vge, const VexArchInfo *archinfo_host,
                           IRType gWordTy, IRType hWordTy)
{
	IRSB *sb;
	Int i = 0;
	UInt pend = 0; /* instructions since the last hg_icount update */
	Addr code = 0;
	Long sp_lo, sp_hi;
	(void)closure; (void)vge; (void)archinfo_host;

	if (gWordTy != Ity_I64 || hWordTy != Ity_I64)
		VG_(tool_panic)("htmgilsim runs on amd64 only");
	sb = deepCopyIRSBExceptStmts(in);
	hg_sb_forget();
	hg_sp_scan(in, layout->offset_SP, &sp_lo, &sp_hi);
	while (i < in->stmts_used && in->stmts[i]->tag != Ist_IMark)
		addStmtToIRSB(sb, in->stmts[i++]);
	if (sp_lo < sp_hi && i < in->stmts_used)
		hg_add_sp_span(sb, layout->offset_SP, sp_lo, sp_hi, in->stmts[i]->Ist.IMark.addr);

	for (; i < in->stmts_used; i++) {
		IRStmt *st = in->stmts[i];
		if (st == NULL || st->tag == Ist_NoOp)
			continue;
		switch (st->tag) {
		case Ist_IMark:
			code = st->Ist.IMark.addr;
			pend++;
			addStmtToIRSB(sb, st);
			hg_add_marker(sb, code, pend - 1);
			continue;
		case Ist_WrTmp: {
			IRExpr *e = st->Ist.WrTmp.data;
			if (e->tag == Iex_Load)
				hg_add_access(sb, e->Iex.Load.addr, sizeofIRType(e->Iex.Load.ty),
				              False, code, pend, NULL);
			break;
		}
		case Ist_Store:
			hg_add_access(sb, st->Ist.Store.addr,
			              sizeofIRType(typeOfIRExpr(in->tyenv, st->Ist.Store.data)),
			              True, code, pend, NULL);
			break;
		case Ist_StoreG: {
			IRStoreG *g = st->Ist.StoreG.details;
			hg_add_access(sb, g->addr, sizeofIRType(typeOfIRExpr(in->tyenv, g->data)),
			              True, code, pend, g->guard);
			break;
		}
		case Ist_LoadG: {
			IRLoadG *g = st->Ist.LoadG.details;
			IRType ty = Ity_INVALID, wide = Ity_INVALID;
			typeOfIRLoadGOp(g->cvt, &wide, &ty);
			hg_add_access(sb, g->addr, sizeofIRType(ty), False, code, pend, g->guard);
			break;
		}
		case Ist_CAS: {
			IRCAS *c = st->Ist.CAS.details;
			UInt n = sizeofIRType(typeOfIRExpr(in->tyenv, c->dataLo));
			hg_add_access(sb, c->addr, c->dataHi ? 2 * n : n, True, code, pend, NULL);
			break;
		}
		case Ist_LLSC:
			if (st->Ist.LLSC.storedata == NULL)
				hg_add_access(sb, st->Ist.LLSC.addr,
				              sizeofIRType(typeOfIRTemp(in->tyenv, st->Ist.LLSC.result)),
				              False, code, pend, NULL);
			else
				hg_add_access(sb, st->Ist.LLSC.addr,
				              sizeofIRType(typeOfIRExpr(in->tyenv, st->Ist.LLSC.storedata)),
				              True, code, pend, NULL);
			break;
		case Ist_Dirty: {
			IRDirty *d = st->Ist.Dirty.details;
			UInt ev = hg_dirty_event(d->cee);
			if (ev != 0)
				hg_add_event(sb, ev, 0, code, pend);
			if (d->mFx != Ifx_None && d->mSize > 0)
				hg_add_access(sb, d->mAddr, d->mSize, d->mFx != Ifx_Read, code, pend,
				              NULL);
			break;
		}
		case Ist_Exit:
			hg_add_icount(sb, pend);
			pend = 0;
			break;
		default:
			break;
		}
		addStmtToIRSB(sb, st);
	}
	{
		UInt ev = hg_jump_event(sb->jumpkind);
		if (ev != 0)
			hg_add_event(sb, ev, ev == HG_SIM_EV_OTHER ? sb->jumpkind - Ijk_INVALID : 0,
			             code, pend);
	}
	hg_add_icount(sb, pend);
	return sb;
}

/* ------------------------------------------------------------------ */
/* Core callbacks                                                      */

static void hg_start_client_code(ThreadId tid, ULong blocks)
{
	(void)blocks;
	hg_cur = hg_thread_of(tid);
	if (hg_filter_of != hg_cur) {
		hg_filter_drop(hg_filter_of);
		hg_filter_of = hg_cur;
	}
	hg_icount = hg_cur->icount;
	hg_open = hg_cur->open && !hg_cur->gap;
	hg_bit_sync();
}

static void hg_stop_client_code(ThreadId tid, ULong blocks)
{
	(void)blocks;
	hg_stack_flush(hg_icount);
	hg_thread_of(tid)->icount = hg_icount;
}

static void hg_pre_syscall(ThreadId tid, UInt sysno, UWord *args, UInt nargs)
{
	struct hg_thread *t = hg_thread_of(tid);
	ULong ip = 0;
	(void)args; (void)nargs;
	if (sysno == __NR_execve || sysno == __NR_execveat)
		hg_flush(); /* the process image, and the buffer, may be gone after it */
	if (!t->open || t->gap)
		return;
	VG_(get_shadow_regs_area)(tid, (UChar *)&ip, 0,
	                          offsetof(VexGuestAMD64State, guest_IP_AT_SYSCALL), sizeof ip);
	if (ip == 0) /* the guest RIP is past the 2-byte SYSCALL instruction */
		ip = VG_(get_IP)(tid) - 2;
	hg_event_add(t, HG_SIM_EV_SYSCALL, sysno, ip, t->icount);
}

static void hg_post_syscall(ThreadId tid, UInt sysno, UWord *args, UInt nargs, SysRes res)
{
	(void)tid; (void)sysno; (void)args; (void)nargs; (void)res;
}

static void hg_thread_create(ThreadId parent, ThreadId child)
{
	struct hg_thread *t;
	if (hg_threads == NULL)
		return; /* the main thread, before the options: hg_post_clo_init */
	t = hg_thread_of(child);
	if (t->serial != 0)
		return;
	VG_(memset)(t, 0, sizeof *t);
	hg_thread_announce(child, parent);
	hg_forget_objects(); /* a new stack may cover lines cached as a mapping */
}

static void hg_thread_exit_rec(struct hg_thread *t, Bool describe)
{
	struct hg_sim_exit x;
	if (t->serial == 0)
		return;
	if (t->open)
		hg_chunk_close(t, t->icount, 0, describe);
	x.serial = t->serial;
	x.pad = 0;
	x.icount = t->icount;
	hg_out_head(HG_SIM_R_EXIT, sizeof x);
	hg_out(&x, sizeof x);
}

static void hg_thread_exit(ThreadId tid)
{
	struct hg_thread *t;
	if (hg_threads == NULL)
		return;
	t = hg_thread_of(tid);
	hg_thread_exit_rec(t, True);
	VG_(free)(t->lines);
	VG_(free)(t->slots);
	VG_(free)(t->evs);
	VG_(memset)(t, 0, sizeof *t);
	hg_forget_objects();
}

/* Drops the recorded anonymous mappings that overlap [a, a + len). */
static void hg_maps_forget(Addr a, SizeT len)
{
	/* One that starts before a and reaches into the range (a MAP_FIXED
	 * mapping inside a reservation): the new one replaces it. */
	struct hg_block *c = VG_(OSetGen_Lookup)(hg_maps, &a);
	if (c != NULL) {
		Addr k = c->start;
		VG_(OSetGen_Remove)(hg_maps, &k);
		VG_(OSetGen_FreeNode)(hg_maps, c);
	}
	for (;;) {
		struct hg_block *m = NULL, *x;
		VG_(OSetGen_ResetIterAt)(hg_maps, &a);
		while ((x = VG_(OSetGen_Next)(hg_maps)) != NULL && x->start < a + len) {
			if (x->start >= a) {
				m = x;
				break;
			}
		}
		if (m == NULL)
			return;
		Addr k = m->start;
		VG_(OSetGen_Remove)(hg_maps, &k);
		VG_(OSetGen_FreeNode)(hg_maps, m);
	}
}

static void hg_new_mmap(Addr a, SizeT len, Bool rr, Bool ww, Bool xx, ULong di)
{
	(void)rr; (void)ww; (void)xx;
	hg_pages_forget(a, len);
	hg_forget_objects();
	hg_maps_forget(a, len);
	NSegment const *seg = VG_(am_find_nsegment)(a);
	ThreadId tid = VG_(get_running_tid)();
	if (di != 0 || seg == NULL || seg->kind != SkAnonC || tid == VG_INVALID_THREADID)
		return;
	/* An anonymous mapping the client made: named by who made it. */
	struct hg_block *m = VG_(OSetGen_AllocNode)(hg_maps, sizeof *m);
	m->start = a;
	m->size = len;
	m->desc = 0;
	m->nips = VG_(get_StackTrace)(tid, m->ips, HG_ALLOC_FRAMES, NULL, NULL, 0);
	VG_(OSetGen_Insert)(hg_maps, m);
}

static void hg_die_munmap(Addr a, SizeT len)
{
	hg_pages_forget(a, len);
	hg_forget_objects();
	hg_maps_forget(a, len);
}

static void hg_new_brk(Addr a, SizeT len, ThreadId tid)
{
	(void)tid;
	hg_pages_forget(a, len);
	hg_forget_objects();
}

/* The kernel touched these pages for a system call. */
static void hg_post_mem_write(CorePart part, ThreadId tid, Addr a, SizeT size)
{
	(void)part; (void)tid;
	hg_pages_touch_range(a, size);
}

static void hg_pre_mem_read(CorePart part, ThreadId tid, const HChar *s, Addr a, SizeT size)
{
	(void)part; (void)tid; (void)s;
	hg_pages_touch_range(a, size);
}

static void hg_atfork_child(ThreadId tid)
{
	(void)tid;
	/* The child must not write into the parent's trace (buffered or not). */
	hg_buf_used = 0;
	if (hg_fd >= 0)
		VG_(close)(hg_fd);
	hg_fd = -1;
}

static void hg_write_info(void)
{
	HChar buf[4096];
	Int n;
	n = VG_(snprintf)(buf, sizeof buf, "tool=htmgilsim\ntool_version=%s\nvalgrind=%s\n"
	                  "max_lines=%lld\nmax_events=%lld\nchunk=%lld\ncommand=%s",
	                  HG_TOOL_VERSION, HG_VALGRIND_VERSION, hg_clo_max_lines, hg_clo_max_events,
	                  hg_clo_chunk,
	                  VG_(args_the_exename) ? VG_(args_the_exename) : "");
	for (Word i = 0; i < VG_(sizeXA)(VG_(args_for_client)) && n < (Int)sizeof buf - 1; i++)
		n += VG_(snprintf)(buf + n, sizeof buf - n, " %s",
		                   *(HChar **)VG_(indexXA)(VG_(args_for_client), i));
	if (n < (Int)sizeof buf - 1)
		n += VG_(snprintf)(buf + n, sizeof buf - n, "\n");
	hg_out_head(HG_SIM_R_INFO, hg_pad8(n + 1));
	hg_out_text(buf, n + 1);
}

static void hg_post_clo_init(void)
{
	struct hg_sim_file_head h;
	HChar *path;
	SysRes r;
	if (hg_clo_trace == NULL) {
		VG_(fmsg)("htmgilsim: no trace file; give --trace=FILE\n");
		VG_(exit)(1);
	}
	path = VG_(expand_file_name)("--trace", hg_clo_trace);
	r = VG_(open)(path, VKI_O_CREAT | VKI_O_WRONLY | VKI_O_TRUNC, 0644);
	if (sr_isError(r)) {
		VG_(fmsg)("htmgilsim: cannot create the trace file %s; give a writable --trace=FILE\n",
		          path);
		VG_(exit)(1);
	}
	VG_(free)(path);
	/* Above the client's file descriptors, so that it cannot close it. */
	hg_fd = VG_(safe_fd)(sr_Res(r));
	VG_(memcpy)(h.magic, HG_SIM_MAGIC, 8);
	h.version = HG_SIM_VERSION;
	h.line_shift = HG_SIM_LINE_SHIFT;
	h.page_size = VKI_PAGE_SIZE;
	h.pid = VG_(getpid)();
	hg_out(&h, sizeof h);
	hg_write_info();

	hg_threads = VG_(calloc)("htmgilsim.threads", VG_N_THREADS, sizeof *hg_threads);
	hg_thread_announce(1, 0); /* the main thread */
	hg_code_ids = VG_(HT_construct)("htmgilsim.code_ids");
	hg_global_ids = VG_(HT_construct)("htmgilsim.global_ids");
	hg_map_ids = VG_(HT_construct)("htmgilsim.map_ids");
	hg_line_ids = VG_(HT_construct)("htmgilsim.line_ids");
	hg_blocks = VG_(OSetGen_Create)(offsetof(struct hg_block, start), hg_block_cmp,
	                                VG_(malloc), "htmgilsim.blocks", VG_(free));
	hg_maps = VG_(OSetGen_Create)(offsetof(struct hg_block, start), hg_block_cmp,
	                              VG_(malloc), "htmgilsim.maps", VG_(free));
	VG_(atfork)(NULL, NULL, hg_atfork_child);
}

static void hg_fini(Int exitcode)
{
	(void)exitcode;
	if (hg_cur != NULL)
		hg_cur->icount = hg_icount;
	for (ThreadId tid = 1; tid < VG_N_THREADS; tid++)
		hg_thread_exit_rec(&hg_threads[tid], False);
	hg_flush();
	if (hg_fd >= 0)
		VG_(close)(hg_fd);
	hg_fd = -1;
}

static void hg_pre_clo_init(void)
{
	VG_(details_name)("htmgilsim");
	VG_(details_version)(HG_TOOL_VERSION);
	VG_(details_description)("records what htmgil's speculative sections touch");
	VG_(details_copyright_author)("htmgil authors (MIT)");
	VG_(details_bug_reports_to)("the htmgil project");
	VG_(details_avg_translation_sizeB)(400);

	VG_(basic_tool_funcs)(hg_post_clo_init, hg_instrument, hg_fini);
	VG_(needs_command_line_options)(hg_process_cmd_line_option, hg_print_usage,
	                                hg_print_debug_usage);
	VG_(needs_syscall_wrapper)(hg_pre_syscall, hg_post_syscall);
	VG_(needs_malloc_replacement)(hg_malloc, hg_malloc, hg_new_aligned, hg_malloc,
	                              hg_new_aligned, hg_memalign, hg_calloc, hg_block_free,
	                              hg_block_free, hg_delete_aligned, hg_block_free,
	                              hg_delete_aligned, hg_realloc, hg_usable_size, 0);

	VG_(track_start_client_code)(hg_start_client_code);
	VG_(track_stop_client_code)(hg_stop_client_code);
	VG_(track_pre_thread_ll_create)(hg_thread_create);
	VG_(track_pre_thread_ll_exit)(hg_thread_exit);
	VG_(track_new_mem_mmap)(hg_new_mmap);
	VG_(track_die_mem_munmap)(hg_die_munmap);
	VG_(track_new_mem_brk)(hg_new_brk);
	VG_(track_post_mem_write)(hg_post_mem_write);
	VG_(track_pre_mem_read)(hg_pre_mem_read);

	/* The tool reads no guest register at a memory access (a helper gets
	 * the code address as a constant), so only the stack pointer need be
	 * exact there, as for memcheck; --px-default overrides. */
	VG_(clo_vex_control).iropt_register_updates_default = VG_(clo_px_file_backed) =
	    VexRegUpdSpAtMemAccess;
	/* Superblocks end at branches instead of following them: every probe
	 * makes translation dearer, and a chased block is translated again in
	 * each superblock that reaches it (CPython 3.12's workloads record
	 * 4-8 % faster, docs/sim.md); --vex-guest-chase=yes overrides. */
	VG_(clo_vex_control).guest_chase = False;

	VG_(memset)(hg_pcache, 0xff, sizeof hg_pcache);
	hg_filter_init();
	hg_pfilter_init();
}

VG_DETERMINE_INTERFACE_VERSION(hg_pre_clo_init)
