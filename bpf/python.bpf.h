/* python.bpf.h - walks the CPython frames of the sampled thread, by the offsets of bpf/python.h,
 * for profile.bpf.c. Owns the map of Python processes (the agent fills it), the cache of thread
 * states by tid, and the walk.
 *
 * Cost: a cached thread state costs one map lookup and one read to re-check. Frames are read a
 * block at a time: CPython pushes a thread's frames one after another on its data stack, the
 * caller below the callee, so the block that ends at a frame holds its callers too and a walk
 * reads again only when a caller lies outside it (another stack chunk, a generator's frame). A
 * block that cannot be read (it reaches below the stack's memory) gives way to one from the
 * frame's own page. Every frame also costs one read of its code object's signature window. A
 * thread-state miss walks the interpreter's thread list (two reads per thread, at most
 * WISP_PY_MAX_THREADS). Reads that fault end the walk and say why; nothing here loops unbounded. */
#ifndef WISP_PYTHON_BPF_H
#define WISP_PYTHON_BPF_H

#include <bpf/bpf_core_read.h>
#include "python.h"

#define WISP_PY_WINDOW 80        /* bytes of a frame used: every field offset of 3.11-3.14 is below */
#define WISP_PY_FIELD_MASK 127   /* offsets into the window are masked by this for the verifier */
#define WISP_PY_BLOCK 2048       /* bytes of stack read at once, ending at a frame's window */
#define WISP_PY_OWNED_BY_CSTACK 3 /* _PyInterpreterFrame.owner of the shim an eval call starts with */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct wisp_py_proc);
} wisp_py_procs SEC(".maps");

/* Root-namespace tid -> its PyThreadState *. An entry is re-checked before use (the state may
 * have been freed and reused), so a stale one costs a search, never a wrong stack. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} wisp_py_threads SEC(".maps");

struct wisp_py_scratch {
	struct wisp_py_frame frames[WISP_PY_MAX_FRAMES];
	__u8 window[WISP_PY_FIELD_MASK + 1 + 8]; /* a code object's signature; +8: a u64 at the last offset */
	__u8 block[WISP_PY_BLOCK + WISP_PY_FIELD_MASK + 1 + 8]; /* frames: a window at any offset fits */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wisp_py_scratch);
} wisp_py_scratch SEC(".maps");

static __always_inline __u64 wisp_py_u64(const __u8 *window, __u16 off)
{
	return *(const __u64 *)(window + (off & WISP_PY_FIELD_MASK));
}

/* The thread search: the interpreter's thread states, until one has the tid. */
struct wisp_py_tsearch {
	struct wisp_py_proc *proc;
	__u64 ts;   /* the state looked at, then the one found (0: none) */
	__u64 tid;  /* the tid as the process's pid namespace numbers it */
	__u8 found, failed;
};

static long wisp_py_tsearch_step(__u64 index, void *ctx)
{
	struct wisp_py_tsearch *s = ctx;
	__u64 tid = 0, next = 0;
	if (!s->ts)
		return 1;
	if (bpf_probe_read_user(&tid, sizeof(tid), (void *)(s->ts + s->proc->ts_native_tid)) ||
	    bpf_probe_read_user(&next, sizeof(next), (void *)(s->ts + s->proc->ts_next))) {
		s->failed = 1;
		return 1;
	}
	if (tid == s->tid) {
		s->found = 1;
		return 1;
	}
	s->ts = next;
	return 0;
}

/* The tid of the current thread in its own pid namespace (what CPython stored):
 * task->thread_pid->numbers[level].nr, read as plain addresses (CO-RE offsets). */
static __always_inline __u64 wisp_ns_tid(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 pidp = 0;
	unsigned int level = 0;
	int nr = 0;
	if (bpf_probe_read_kernel(&pidp, sizeof(pidp), &task->thread_pid) || !pidp ||
	    bpf_probe_read_kernel(&level, sizeof(level), (void *)(pidp + bpf_core_field_offset(struct pid, level))))
		return 0;
	__u64 at = pidp + bpf_core_field_offset(struct pid, numbers) +
		   (__u64)(level & 31) * bpf_core_type_size(struct upid) + bpf_core_field_offset(struct upid, nr);
	if (bpf_probe_read_kernel(&nr, sizeof(nr), (void *)at))
		return 0;
	return (__u64)nr;
}

/* The sampled thread's PyThreadState *, or 0 with *end set. */
static __always_inline __u64 wisp_py_thread(struct wisp_py_proc *proc, __u32 tid, __u8 *end)
{
	__u64 *cached = bpf_map_lookup_elem(&wisp_py_threads, &tid);
	__u64 seen = 0, head = 0;
	struct wisp_py_tsearch s = {.proc = proc, .tid = wisp_ns_tid()};
	if (cached) {
		__u64 ts = *cached;
		if (!bpf_probe_read_user(&seen, sizeof(seen), (void *)(ts + proc->ts_native_tid)) && seen == s.tid)
			return ts;
	}
	if (bpf_probe_read_user(&head, sizeof(head), (void *)(proc->runtime + proc->interp_head)) || !head ||
	    bpf_probe_read_user(&s.ts, sizeof(s.ts), (void *)(head + proc->interp_threads))) {
		*end = WISP_PY_END_READ;
		return 0;
	}
	bpf_loop(WISP_PY_MAX_THREADS, wisp_py_tsearch_step, &s, 0);
	if (!s.found) {
		*end = s.failed ? WISP_PY_END_READ : WISP_PY_END_NO_THREAD;
		return 0;
	}
	bpf_map_update_elem(&wisp_py_threads, &tid, &s.ts, BPF_ANY);
	return s.ts;
}

struct wisp_py_walk {
	struct wisp_py_proc *proc;
	struct wisp_py_scratch *out;
	__u64 frame;
	__u64 block_lo, block_hi; /* the process addresses out->block holds (empty: equal) */
	__u32 n;
	__u8 end;
};

/* The window of the walk's frame inside out->block, read when the block does not hold it; NULL
 * when it cannot be read. */
static __always_inline const __u8 *wisp_py_frame_window(struct wisp_py_walk *w)
{
	__u64 fr = w->frame, top = fr + WISP_PY_WINDOW;
	if (fr < w->block_lo || top > w->block_hi) {
		__u64 lo = top - WISP_PY_BLOCK, page = fr & ~4095ULL;
		if (top < WISP_PY_BLOCK || bpf_probe_read_user(w->out->block, WISP_PY_BLOCK, (void *)lo)) {
			/* The block reaches below the stack: from the frame's own page, which is there. */
			lo = page > lo ? page : lo;
			__u64 len = (top - lo) & (2 * WISP_PY_BLOCK - 1);
			if (len > WISP_PY_BLOCK || len < WISP_PY_WINDOW ||
			    bpf_probe_read_user(w->out->block, len, (void *)lo))
				return NULL;
		}
		w->block_lo = lo;
		w->block_hi = top;
	}
	return w->out->block + ((fr - w->block_lo) & (WISP_PY_BLOCK - 1));
}

static long wisp_py_step(__u64 index, void *ctx)
{
	struct wisp_py_walk *w = ctx;
	struct wisp_py_proc *proc = w->proc;
	struct wisp_py_scratch *out = w->out;
	if (!w->frame) {
		w->end = WISP_PY_END_OK;
		return 1;
	}
	const __u8 *win = wisp_py_frame_window(w);
	if (!win) {
		w->end = WISP_PY_END_READ;
		return 1;
	}
	__u64 code = wisp_py_u64(win, proc->f_code) & ~7ULL; /* 3.14 tags the reference's low bits */
	__u64 instr = wisp_py_u64(win, proc->f_instr);
	w->frame = wisp_py_u64(win, proc->f_previous);
	__u32 n = w->n;
	if (proc->f_owner != WISP_PY_NO_OFFSET && win[proc->f_owner & WISP_PY_FIELD_MASK] == WISP_PY_OWNED_BY_CSTACK) {
		/* The shim an eval call starts with (3.12+): the frame before it was that call's first. */
		if (n > 0 && n <= WISP_PY_MAX_FRAMES)
			out->frames[(n - 1) & (WISP_PY_MAX_FRAMES - 1)].flags |= WISP_PY_F_ENTRY;
		return 0;
	}
	if (n >= WISP_PY_MAX_FRAMES) {
		w->end = WISP_PY_END_DEPTH;
		return 1;
	}
	struct wisp_py_frame *f = &out->frames[n & (WISP_PY_MAX_FRAMES - 1)];
	__u64 first = code + proc->code_bytecode;
	f->code = code;
	f->lasti = instr > first ? (__u32)((instr - first) / 2) : 0;
	f->flags = proc->f_entry != WISP_PY_NO_OFFSET && win[proc->f_entry & WISP_PY_FIELD_MASK] ? WISP_PY_F_ENTRY : 0;
	f->sig = 0;
	if (proc->code_sig_at != WISP_PY_NO_OFFSET &&
	    !bpf_probe_read_user(out->window, WISP_PY_SIG_WINDOW, (void *)(code + proc->code_sig_at)))
		f->sig = wisp_py_sig(wisp_py_u64(out->window, proc->code_sig_file),
				     *(const __u32 *)(out->window + (proc->code_sig_line & WISP_PY_FIELD_MASK)));
	w->n = n + 1;
	return 0;
}

/* Walks the Python frames of the current thread (tid) of the Python process proc (its entry in
 * wisp_py_procs) into out->frames, innermost first. Returns how many; *end says how the walk
 * ended. */
static __always_inline int wisp_py_walk(struct wisp_py_proc *proc, __u32 tid, struct wisp_py_scratch *out,
					__u8 *end)
{
	struct wisp_py_walk w = {.proc = proc, .out = out, .end = WISP_PY_END_DEPTH};
	__u64 at = 0;
	*end = WISP_PY_END_NONE;
	__u64 ts = wisp_py_thread(proc, tid, end);
	if (!ts)
		return 0;
	if (bpf_probe_read_user(&at, sizeof(at), (void *)(ts + proc->ts_frame))) {
		*end = WISP_PY_END_READ;
		return 0;
	}
	if (at && proc->cframe_frame != WISP_PY_NO_OFFSET &&
	    bpf_probe_read_user(&at, sizeof(at), (void *)(at + proc->cframe_frame))) {
		*end = WISP_PY_END_READ;
		return 0;
	}
	if (!at) {
		*end = WISP_PY_END_IDLE;
		return 0;
	}
	w.frame = at;
	bpf_loop(WISP_PY_MAX_FRAMES + 8, wisp_py_step, &w, 0); /* + shims that record nothing */
	*end = w.end;
	return (int)w.n;
}

#endif
