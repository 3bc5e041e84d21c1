/* unwind.h - the unwind tables shared by the BPF walker (unwind.bpf.h) and the agent that builds
 * and loads them (vizier/agent/unwind/). Fixed-width types only: both compilers must agree.
 *
 * How a user stack is walked without frame pointers. User space turns each mapped file's
 * .eh_frame into rows: "from this address on, the caller's frame is found by RULE". In BPF:
 *   pid  -> wisp_unwind_proc:   the process's executable file mappings, sorted by start;
 *           a mapping gives the file's id and its load bias (file address = pc - bias);
 *   (file id, file address >> 16) -> wisp_unwind_page: that 64 KiB page's rows, a slice of
 *           the one shared row array;
 *   row  = (low 16 bits of the address where it starts) << 16 | rule index: 4 bytes, two to
 *          an element of the row array (its elements are 8-byte aligned: a pair wastes nothing);
 *   rule = wisp_unwind_rule, one table of distinct rules shared by every file.
 * Every page's slice starts with a row at offset 0 (the rule in effect where the page begins),
 * so a lookup never leaves its page: at most 17 steps of binary search. A page with no entry
 * has no unwind information; so has a row whose rule is WISP_CFA_NONE: there the walk falls
 * back to the frame pointer and says so in the sample. */
#ifndef WISP_UNWIND_H
#define WISP_UNWIND_H

#define WISP_UNWIND_PAGE_BITS 16
#define WISP_UNWIND_MAX_MAPPINGS 128 /* executable mappings per process in the table (a power of two) */
#define WISP_UNWIND_MAX_RULES 65536  /* a rule index is 16 bits */
#define WISP_UNWIND_PAIR_ROWS 2      /* rows per element (a __u64) of the row array */

/* How the canonical frame address (the caller's stack pointer) is found. */
enum wisp_cfa {
	WISP_CFA_NONE = 0,   /* no unwind information here: fall back to the frame pointer */
	WISP_CFA_SP = 1,     /* CFA = SP + cfa_off */
	WISP_CFA_FP = 2,     /* CFA = FP + cfa_off */
	WISP_CFA_PLT = 3,    /* x86-64 PLT stubs: CFA = SP + cfa_off + ((PC & 15) >= aux ? 8 : 0) */
	WISP_CFA_SIGNAL = 4, /* a signal trampoline: the interrupted registers are on the stack */
	WISP_CFA_STOP = 5,   /* the outermost frame (return address undefined): the stack ends */
};

/* Where a register of the caller (the frame pointer, the return address) is. */
enum wisp_reg {
	WISP_REG_SAME = 0,      /* unchanged by this frame */
	WISP_REG_AT_CFA = 1,    /* saved in memory at CFA + off */
	WISP_REG_UNDEFINED = 2, /* not recoverable */
};

struct wisp_unwind_rule {
	__u8 cfa;     /* enum wisp_cfa */
	__u8 fp;      /* enum wisp_reg: the frame pointer (rbp; x29 on arm64) */
	__u8 ra;      /* enum wisp_reg: the return address (at CFA - 8 on x86-64; x30 on arm64) */
	__u8 aux;     /* WISP_CFA_PLT: the threshold */
	__s32 cfa_off;
	__s16 fp_off;
	__s16 ra_off;
	__u32 pad;    /* 16 bytes: the size of an array map element holding it */
};


struct wisp_unwind_page_key {
	__u32 file;   /* file id, given by the agent (0 is never used) */
	__u32 page;   /* file address >> WISP_UNWIND_PAGE_BITS */
};

struct wisp_unwind_page {
	__u32 first;  /* index of the page's first row in wisp_unwind_rows (counted in rows) */
	__u32 count;  /* rows, at least 1; the first starts at page offset 0 */
};

struct wisp_unwind_mapping {
	__u64 start, end; /* [start, end) in the process's address space */
	__u64 bias;       /* file address = pc - bias */
	__u32 file;       /* file id; 0: the file has no table (frame pointers) */
	__u32 pad;
};

struct wisp_unwind_proc {
	__u32 n;          /* mappings used, sorted by start, not overlapping */
	__u32 pad;
	struct wisp_unwind_mapping maps[WISP_UNWIND_MAX_MAPPINGS];
};

/* How the walk of a sample's user stack ended (wisp_sample.unwind). The first two are complete
 * stacks; the others are truncated ones, counted by reason. */
enum wisp_unwind_end {
	WISP_UNWIND_END_OK = 0,         /* reached the outermost frame by the tables */
	WISP_UNWIND_END_FP = 1,         /* the last frames came from the frame-pointer chain (its end) */
	WISP_UNWIND_END_NO_PROC = 2,    /* no table for this process yet: the kernel's frame-pointer walk */
	WISP_UNWIND_END_READ = 3,       /* stack memory could not be read */
	WISP_UNWIND_END_DEPTH = 4,      /* deeper than WISP_MAX_FRAMES */
	WISP_UNWIND_END_BAD_FP = 5,     /* frame-pointer fallback found no valid frame */
	WISP_UNWIND_END_KERNEL_ONLY = 6,/* a kernel thread: no user stack */
	WISP_UNWIND_END_MAX = 7,
};

/* wisp_sample.unwind_flags */
#define WISP_UNWIND_F_FP_USED 0x1  /* some frame came from the frame pointer, not a table */
#define WISP_UNWIND_F_MAP_MISS 0x2 /* a pc fell outside the process's table: re-read its maps */

#endif
