/* unwind.bpf.h - walks a user stack without frame pointers, by the tables of bpf/unwind.h, for
 * profile.bpf.c. Owns the table maps (the agent's unwinder fills them) and the walk.
 *
 * One bpf_loop step per frame: find the mapping of pc (binary search in the process's table),
 * its page, the row (binary search within the page) and the rule; compute the caller's
 * registers. Where no table applies the step follows the frame pointer instead and flags the
 * sample. Reads of user memory that fault end the walk; nothing here can loop unbounded. */
#ifndef WISP_UNWIND_BPF_H
#define WISP_UNWIND_BPF_H

#include "unwind.h"

#define PF_KTHREAD 0x00200000

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* resized by the loader */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct wisp_unwind_proc);
} wisp_unwind_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct wisp_unwind_page_key);
	__type(value, struct wisp_unwind_page);
} wisp_unwind_pages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 21); /* resized by the loader (--unwind-mb): rows / 2 */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64); /* two rows */
} wisp_unwind_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, WISP_UNWIND_MAX_RULES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct wisp_unwind_rule);
} wisp_unwind_rules SEC(".maps");

/* Pids that exec'd, for the agent to load their tables at once (a wakeup each: execs are rare
 * next to samples). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 10);
} wisp_exec_events SEC(".maps");

/* The user frames of the sample being taken (per CPU: a perf event does not nest on one CPU). */
struct wisp_ustack {
	__u64 ips[WISP_MAX_FRAMES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wisp_ustack);
} wisp_unwind_scratch SEC(".maps");

struct wisp_walk {
	__u64 pc, sp, fp;
	struct wisp_unwind_proc *proc;
	struct wisp_unwind_mapping *last; /* the previous frame's mapping */
	struct wisp_ustack *out;
	__u32 n;     /* frames in out */
	__u8 end;    /* enum wisp_unwind_end, once the walk ended */
	__u8 flags;  /* WISP_UNWIND_F_* */
	__u8 exact;  /* pc is where the thread was, not a return address (the leaf, a signal's) */
	__u8 done;
};

/* The binary searches run as bpf_loop callbacks: unrolled, each step's two outcomes would double
 * the states the verifier explores (2^8 for the mappings times 2^17 for the rows). */
struct wisp_msearch {
	struct wisp_unwind_proc *p;
	__u64 pc;
	__u32 lo, hi;
};

static long wisp_msearch_step(__u64 index, void *ctx)
{
	struct wisp_msearch *s = ctx;
	__u32 mid = (s->lo + s->hi) / 2;
	if (s->lo >= s->hi || mid >= WISP_UNWIND_MAX_MAPPINGS)
		return 1;
	if (s->p->maps[mid & (WISP_UNWIND_MAX_MAPPINGS - 1)].start <= s->pc)
		s->lo = mid + 1;
	else
		s->hi = mid;
	return 0;
}

/* The mapping of the process holding pc, or NULL. */
static __always_inline struct wisp_unwind_mapping *wisp_find_mapping(struct wisp_unwind_proc *p, __u64 pc)
{
	struct wisp_msearch s = {.p = p, .pc = pc, .lo = 0, .hi = p->n};
	bpf_loop(9, wisp_msearch_step, &s, 0); /* log2(WISP_UNWIND_MAX_MAPPINGS) + 2 */
	if (s.lo == 0 || s.lo > WISP_UNWIND_MAX_MAPPINGS)
		return NULL;
	/* The mask repeats the bound for the verifier (clang may test after computing the address). */
	struct wisp_unwind_mapping *m = &p->maps[(s.lo - 1) & (WISP_UNWIND_MAX_MAPPINGS - 1)];
	return pc < m->end ? m : NULL;
}

/* Row idx of the row array, or -1. Rows are stored two to an 8-byte element (an array map's
 * elements are 8-byte aligned), low half first: in memory, one contiguous array of rows. The
 * half is chosen by a shift, not an address, so idx stays an imprecise scalar for the verifier. */
static __always_inline long wisp_row(__u32 idx)
{
	__u32 pair = idx / 2;
	__u64 *v = bpf_map_lookup_elem(&wisp_unwind_rows, &pair);
	return v ? (long)((*v >> ((idx & 1) * 32)) & 0xffffffff) : -1;
}

/* The rule for file address addr of file, or NULL (no table there). */
static __always_inline struct wisp_unwind_rule *wisp_find_rule(__u32 file, __u64 addr)
{
	struct wisp_unwind_page_key key = {.file = file, .page = (__u32)(addr >> WISP_UNWIND_PAGE_BITS)};
	struct wisp_unwind_page *pg = bpf_map_lookup_elem(&wisp_unwind_pages, &key);
	if (!pg)
		return NULL;
	__u32 first = pg->first, off = (__u32)addr & ((1u << WISP_UNWIND_PAGE_BITS) - 1);
	/* Invariant: the row sought (the last starting at or before off) is in [base, base + len).
	 * Each step halves len whatever the comparison says, and the comparison only moves base: the
	 * two outcomes differ in base alone, which only keys map lookups, so the verifier keeps it
	 * imprecise and prunes them into one state. (A lo < hi test instead lets a newer verifier
	 * relate lo and hi, decide the test, and mark both precise: 2^17 paths, too large to load.) */
	__u32 base = 0, len = pg->count;
	for (int i = 0; i < WISP_UNWIND_PAGE_BITS + 1 && len > 1; i++) {
		__u32 half = len / 2;
		long row = wisp_row(first + base + half);
		if (row < 0)
			return NULL;
		if (((__u32)row >> 16) <= off)
			base += half;
		len -= half;
	}
	long row = wisp_row(first + base);
	if (row < 0)
		return NULL;
	__u32 r = (__u32)row & 0xffff;
	return bpf_map_lookup_elem(&wisp_unwind_rules, &r);
}

static __always_inline int wisp_read(__u64 *dst, __u64 addr)
{
	return bpf_probe_read_user(dst, sizeof(*dst), (const void *)addr);
}

/* One frame by the frame pointer: [fp] is the caller's fp, [fp + 8] the return address. */
static __always_inline void wisp_fp_step(struct wisp_walk *w)
{
	__u64 ra, next;
	w->flags |= WISP_UNWIND_F_FP_USED;
	if (w->fp == 0) {
		w->end = WISP_UNWIND_END_FP;
		w->done = 1;
		return;
	}
	if (w->fp < w->sp || (w->fp & 7) || wisp_read(&next, w->fp) || wisp_read(&ra, w->fp + 8)) {
		w->end = WISP_UNWIND_END_BAD_FP;
		w->done = 1;
		return;
	}
	w->sp = w->fp + 16;
	w->fp = next;
	w->pc = ra;
	w->exact = 0;
}

/* x86-64 rt_sigframe at sp: the ucontext's saved rbp, rsp and rip. */
#define WISP_SIGFRAME_FP 120
#define WISP_SIGFRAME_SP 160
#define WISP_SIGFRAME_PC 168

static long wisp_unwind_step(__u64 index, void *ctx)
{
	struct wisp_walk *w = ctx;
	struct wisp_unwind_proc *proc = w->proc;
	struct wisp_ustack *out = w->out;
	__u64 cfa, ra;

	if (w->pc == 0) {
		w->done = 1;
		return 1;
	}
	__u32 n = w->n;
	if (n >= WISP_MAX_FRAMES) {
		w->end = WISP_UNWIND_END_DEPTH;
		w->done = 1;
		return 1;
	}
	out->ips[n] = w->pc;
	w->n = n + 1;
	__u64 lookup = w->exact ? w->pc : w->pc - 1; /* a return address may follow a noreturn call */
	/* Callers are usually in the caller's file: try the last frame's mapping first. */
	struct wisp_unwind_mapping *m = w->last;
	if (!m || lookup < m->start || lookup >= m->end)
		m = w->last = wisp_find_mapping(proc, lookup);
	if (!m) {
		w->flags |= WISP_UNWIND_F_MAP_MISS;
		wisp_fp_step(w);
		return w->done ? 1 : 0;
	}
	struct wisp_unwind_rule *r = m->file ? wisp_find_rule(m->file, lookup - m->bias) : NULL;
	if (!r || r->cfa == WISP_CFA_NONE) {
		wisp_fp_step(w);
		return w->done ? 1 : 0;
	}
	switch (r->cfa) {
	case WISP_CFA_STOP:
		w->end = WISP_UNWIND_END_OK;
		w->done = 1;
		return 1;
	case WISP_CFA_SIGNAL:
		if (wisp_read(&w->fp, w->sp + WISP_SIGFRAME_FP) || wisp_read(&ra, w->sp + WISP_SIGFRAME_PC) ||
		    wisp_read(&w->sp, w->sp + WISP_SIGFRAME_SP)) {
			w->end = WISP_UNWIND_END_READ;
			w->done = 1;
			return 1;
		}
		w->pc = ra;
		w->exact = 1;
		return 0;
	case WISP_CFA_SP:
		cfa = w->sp + r->cfa_off;
		break;
	case WISP_CFA_FP:
		cfa = w->fp + r->cfa_off;
		break;
	case WISP_CFA_PLT:
		cfa = w->sp + r->cfa_off + ((w->pc & 15) >= r->aux ? 8 : 0);
		break;
	default:
		wisp_fp_step(w);
		return w->done ? 1 : 0;
	}
	if (r->fp == WISP_REG_AT_CFA && r->fp_off == r->ra_off - 8) {
		/* The common prologue (push rbp right after the call): one read for both. */
		__u64 pair[2];
		if (bpf_probe_read_user(pair, sizeof(pair), (const void *)(cfa + r->fp_off))) {
			w->end = WISP_UNWIND_END_READ;
			w->done = 1;
			return 1;
		}
		w->fp = pair[0];
		ra = pair[1];
	} else if (wisp_read(&ra, cfa + r->ra_off)) {
		w->end = WISP_UNWIND_END_READ;
		w->done = 1;
		return 1;
	} else if (r->fp == WISP_REG_AT_CFA) {
		if (wisp_read(&w->fp, cfa + r->fp_off)) {
			w->end = WISP_UNWIND_END_READ;
			w->done = 1;
			return 1;
		}
	} else if (r->fp == WISP_REG_UNDEFINED) {
		w->fp = 0;
	}
	w->sp = cfa;
	w->pc = ra;
	w->exact = 0;
	return 0;
}

/* Walks the current task's user stack into *out. Returns the frames; *end and *flags say how
 * the walk ended. No table for the process: returns -1 (the caller uses the kernel's walk). */
static __always_inline int wisp_unwind_user(struct wisp_ustack *out, __u32 pid, __u8 *end, __u8 *flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct wisp_walk w = {.out = out, .exact = 1, .end = WISP_UNWIND_END_OK};

	if (task->flags & PF_KTHREAD) {
		*end = WISP_UNWIND_END_KERNEL_ONLY;
		*flags = 0;
		return 0;
	}
	w.proc = bpf_map_lookup_elem(&wisp_unwind_procs, &pid);
	if (!w.proc)
		return -1;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return -1;
	w.pc = PT_REGS_IP(regs);
	w.sp = PT_REGS_SP(regs);
	w.fp = PT_REGS_FP(regs);
	bpf_loop(WISP_MAX_FRAMES + 1, wisp_unwind_step, &w, 0);
	if (!w.done)
		w.end = WISP_UNWIND_END_DEPTH;
	*end = w.end;
	*flags = w.flags;
	return (int)w.n;
}

#endif
