/* SPDX-License-Identifier: MIT */
/*
 * sim/trace.h - the section trace: written by the valgrind tool
 * (sim/vg/, valgrind --tool=htmgilsim), read by the replay (sim/replay.c).
 * docs/sim.md describes the pipeline; this header is the contract.
 *
 * The preload, in simulation mode (HTMGIL_SIM=1), runs every section on the
 * real lock and calls three empty marker functions (htm/sim.h) that the tool
 * recognises at translation time:
 *
 *   hg_sim_mark_begin(site, sub_word, lock_id)  a speculative section of
 *       lock lock_id would begin here, at site, subscribed to sub_word
 *   hg_sim_mark_yield()   the section now open ends at a yield point of the
 *       host (the GIL's forced yield points): the thread keeps the real lock
 *       and its next begin continues the same hold
 *   hg_sim_mark_end()     the open section ends (commit)
 *
 * One BEGIN..END pair is a chunk: one interval between two markers, or up
 * to HG_SIM_SUBS_MAX consecutive intervals of one lock hold that the tool
 * joined at yield points (a GIL hold crosses a yield point every few
 * bytecodes; one record per yield interval would repeat the same lines
 * thousands of times).  The intervals of a chunk are its sub-intervals:
 * the END record gives where each starts, and each line entry says in
 * which sub-intervals the line was read and written, so a reader can cut
 * the chunk at any yield point.  Since the real lock serializes sections,
 * the chunks of different threads never overlap in the recording: each END
 * record is written when its chunk closes, and file order is the recorded
 * order.
 *
 * Sub-intervals.  A chunk's sub-interval 0 begins at the chunk's BEGIN; each
 * later one begins at a begin marker of the same thread that follows a
 * yield point, with the same lock_id and sub_word as the chunk's BEGIN (its
 * site may differ: the END gives each sub-interval's site).  An offset x
 * (first, first_write, at, a start) counts the instructions executed since
 * the chunk's begin; an access or event at x was made by the x-th of them,
 * and sub-interval j holds the offsets x with starts[j] < x <=
 * starts[j+1] (the last one up to the chunk's instruction count; offset 0,
 * should it occur, is sub-interval 0's).  A sub-interval runs up to the next
 * one's begin marker: the instructions from a yield point to the next begin
 * (the host's own bookkeeping, on the lock still) are the yielding
 * sub-interval's time.  Those after its end marker run outside any
 * transaction under RTM (between XEND and the next XBEGIN), so the lines
 * and events they touch are not recorded.  A begin
 * inside an open sub-interval (nested) is flattened into it, as RTM does.
 * A chunk closes:
 *   - at an end marker with no yield point before it: END flags 0;
 *   - at a begin after a yield point that would give it more sub-intervals
 *     than the tool's limit (valgrind --tool=htmgilsim --chunk=N, at most
 *     HG_SIM_SUBS_MAX; --chunk=1 gives one chunk per interval), or whose
 *     offset would not fit a start (2^31 and more): END with
 *     HG_SIM_E_YIELD at that begin's icount, and the next BEGIN, at the same
 *     icount, has HG_SIM_B_CONTINUES;
 *   - when the hold ends after a yield point without such a begin (the
 *     thread's next begin names another lock_id or sub_word, another thread
 *     begins a section of the same lock_id, or the thread exits): END flags
 *     0, at the thread's instruction count then.
 *
 * Layout: a struct hg_sim_file_head, then records, each a struct
 * hg_sim_rec_head followed by len bytes (len a multiple of 8).  Every
 * integer is little-endian (x86-64 only).  A reader skips record types it
 * does not know, using len.  Strings are NUL-terminated and padded with NULs
 * to a multiple of 8.
 *
 * Invariants a reader may rely on:
 *   - a thread's THREAD record precedes every other record naming its serial;
 *     serials are 1, 2, ... in order of first appearance, never reused
 *     (valgrind reuses ThreadIds; the tool does not);
 *   - per thread, BEGIN and END alternate, starting with BEGIN; icounts of a
 *     thread never decrease;
 *   - every id (code, data) used in an END record was defined by a DESC
 *     record earlier in the file; id 0 means "not known" and is never
 *     defined;
 *   - line entries of one END are distinct lines; first <= first_write when
 *     the line was written; both < the chunk's instruction count + 1;
 *   - sub-interval starts are 0 for the first and increase strictly after,
 *     the last <= the chunk's instruction count; sites[0] is the BEGIN's site;
 *   - a line's rmask | wmask is not 0 and has no bit at or above nsubs; its
 *     lowest bit is the sub-interval holding `first`, and wmask's lowest bit
 *     the one holding `first_write` (wmask is 0 exactly when first_write is
 *     HG_SIM_NONE);
 *   - an END with HG_SIM_E_YIELD is followed by the thread's next BEGIN, with
 *     HG_SIM_B_CONTINUES and the END's icount; a BEGIN has HG_SIM_B_CONTINUES
 *     only after such an END.
 */
#ifndef HG_SIM_TRACE_H
#define HG_SIM_TRACE_H

#include <stdint.h>

#define HG_SIM_MAGIC "HGSIMTR1" /* 8 bytes, no NUL */
#define HG_SIM_VERSION 2u
#define HG_SIM_SUBS_MAX 64u /* sub-intervals per chunk (bits of a mask) */
#define HG_SIM_LINE_SHIFT 6u /* 64-byte lines */
#define HG_SIM_NONE 0xffffffffu /* a first_write of a line only read */

struct hg_sim_file_head {
	char magic[8];
	uint32_t version;
	uint32_t line_shift;  /* HG_SIM_LINE_SHIFT */
	uint64_t page_size;   /* the client's page size */
	uint64_t pid;         /* the client process */
};

enum hg_sim_rec_type {
	HG_SIM_R_THREAD = 1, /* struct hg_sim_thread */
	HG_SIM_R_BEGIN = 2,  /* struct hg_sim_begin */
	HG_SIM_R_END = 3,    /* struct hg_sim_end, lines, events */
	HG_SIM_R_DESC = 4,   /* struct hg_sim_desc, text */
	HG_SIM_R_EXIT = 5,   /* struct hg_sim_exit */
	HG_SIM_R_INFO = 6,   /* key=value text: tool version, command, options */
};

struct hg_sim_rec_head {
	uint32_t type; /* enum hg_sim_rec_type */
	uint32_t len;  /* payload bytes after this head */
};

/* A thread seen for the first time (its first BEGIN, or its creation). */
struct hg_sim_thread {
	uint32_t serial;
	uint32_t parent;  /* serial of the creating thread, 0: none/unknown */
	uint64_t icount;  /* the thread's instruction count at this point (0) */
};

/* A chunk begins (hg_sim_mark_begin): site is sub-interval 0's; lock_id and
 * sub_word are every sub-interval's. */
struct hg_sim_begin {
	uint32_t serial;
	uint32_t lock_id;
	uint64_t site;     /* the front end's site key (engine site record key) */
	uint64_t sub_word; /* address of the word a transaction would subscribe to */
	uint64_t icount;   /* the thread's instructions executed before the begin */
	uint32_t flags;    /* HG_SIM_B_* */
	uint32_t pad;
};
/* The previous chunk of this thread ended at a yield point: same lock hold. */
#define HG_SIM_B_CONTINUES 1u

/*
 * A chunk ends (see "A chunk closes" above).
 * Followed by nsubs uint32_t sub-interval starts (instruction offsets from
 * the chunk's begin; padded with zeros to a multiple of 8 bytes), then
 * nlines struct hg_sim_line, then nevents struct hg_sim_event in order of
 * `at`, then nsubs uint64_t sites (sites[j]: the site of sub-interval j's
 * begin marker).  The sites come last so that a reader that stops after the
 * events still parses the record; len is exactly sizeof(struct hg_sim_end)
 * + 4 * nsubs rounded up to 8 + 48 * nlines + 24 * nevents + 8 * nsubs.
 * Instructions of the chunk: icount - the BEGIN's icount.
 */
struct hg_sim_end {
	uint32_t serial;
	uint32_t flags;   /* HG_SIM_E_* */
	uint64_t icount;  /* the thread's instructions executed at the end */
	uint32_t nlines;
	uint32_t nevents;
	uint32_t nsubs;   /* 1..HG_SIM_SUBS_MAX */
	uint32_t pad;
};
#define HG_SIM_E_YIELD 1u /* full at a yield point: the thread's next BEGIN continues the hold */
#define HG_SIM_E_TRUNCATED 2u /* more lines or events than the tool keeps; the rest are lost */

/*
 * One cache line the chunk accessed.  Instruction offsets count from the
 * chunk's begin.  rmask/wmask: bit j set when sub-interval j read/wrote
 * the line.  addr: the first written address of the line if the
 * line was written, else the first accessed one (its line is addr >>
 * line_shift).  code/code_write: DESC ids of the instruction of the first
 * access and of the first write (0 if none).  data: DESC id of the object
 * holding addr (0: not known).
 */
struct hg_sim_line {
	uint64_t addr;
	uint32_t first;       /* offset of the first access (read or write) */
	uint32_t first_write; /* offset of the first write, HG_SIM_NONE if only read */
	uint32_t code;
	uint32_t code_write;
	uint32_t data;
	uint32_t size;        /* bytes of the first access (of the first write if written) */
	uint64_t rmask;
	uint64_t wmask;
};

/* Something a real transaction cannot survive, in order of occurrence. */
enum hg_sim_event_kind {
	HG_SIM_EV_SYSCALL = 1, /* arg: system call number */
	HG_SIM_EV_CPUID = 2,
	HG_SIM_EV_PAUSE = 3,
	HG_SIM_EV_XSAVE = 4,   /* XSAVE, XRSTOR, FXSAVE, FXRSTOR and relatives */
	HG_SIM_EV_PAGE = 5,    /* first touch of a page by the process; arg: page address */
	HG_SIM_EV_OTHER = 6,   /* another instruction that aborts (INT, UD2, ...): arg its kind */
};
struct hg_sim_event {
	uint32_t at;   /* instruction offset from the chunk's begin */
	uint32_t kind; /* enum hg_sim_event_kind */
	uint64_t arg;
	uint32_t code; /* DESC id of the instruction */
	uint32_t pad;
};

/*
 * A description, defined once per id before first use.  Followed by the
 * text (NUL-terminated, padded).  Code descriptions: "function (file:line)"
 * or "function (object)" or "0xADDR (object)".  Data descriptions name one
 * object; base and size bound it, so a line's offset in it is addr - base:
 *   HG_SIM_D_GLOBAL  "symbol (object)"      base: the symbol's address
 *   HG_SIM_D_HEAP    "heap block of N bytes allocated at f1 < f2 < f3"
 *   HG_SIM_D_STACK   "stack of thread S"
 *   HG_SIM_D_MAP     "anonymous mapping" or "mapping of FILE"
 */
enum hg_sim_desc_kind {
	HG_SIM_D_CODE = 1,
	HG_SIM_D_GLOBAL = 2,
	HG_SIM_D_HEAP = 3,
	HG_SIM_D_STACK = 4,
	HG_SIM_D_MAP = 5,
};
struct hg_sim_desc {
	uint32_t id;
	uint32_t kind;  /* enum hg_sim_desc_kind */
	uint64_t base;  /* code: the instruction's address */
	uint64_t size;  /* data: the object's size (0: unknown); code: 0 */
	uint32_t text_len; /* bytes of text including the NUL, before padding */
	uint32_t pad;
};

/* A thread exits. */
struct hg_sim_exit {
	uint32_t serial;
	uint32_t pad;
	uint64_t icount;
};

#endif /* HG_SIM_TRACE_H */
