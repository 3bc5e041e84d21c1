/* python.h - what the BPF Python walker (python.bpf.h) needs to know about an interpreter, and
 * what it records; shared with the agent's reader of interpreters (vizier/agent/python/).
 * Fixed-width types only: both compilers must agree on layout.
 *
 * How a CPython stack is found from BPF, for the thread that was on the CPU:
 *   runtime + interp_head            -> the first interpreter (PyInterpreterState *)
 *   interp + interp_threads          -> its first thread state; then ts + ts_next, ...
 *   ts + ts_native_tid == the tid    -> the sampled thread's state (cached per tid, re-checked)
 *   ts + ts_frame [+ cframe_frame]   -> its innermost frame (3.11, 3.12: through the _PyCFrame)
 *   frame + f_code, f_previous, f_instr, f_entry or f_owner: a window of each frame, read with
 *                                    its callers in one block of the thread's stack;
 *   code + code_sig_at: one read of the code object's file and first line (its signature).
 * The agent fills one wisp_py_proc per Python process from the binary (versions and offsets:
 * vizier/agent/python/pyversion.c); BPF records per frame the code object's address, its
 * signature and the instruction offset, and user space names it (reading the code object once).
 * The signature is how user space knows that the code object it reads, later, is the one that
 * ran: a freed code object's address is soon another's (imports, exec, eval). */
#ifndef WISP_PYTHON_H
#define WISP_PYTHON_H

#define WISP_PY_MAX_FRAMES 128   /* Python frames recorded per sample (deeper: truncated, counted) */
#define WISP_PY_MAX_THREADS 256  /* thread states searched for a tid not in the cache */
#define WISP_PY_NO_OFFSET 0xffff /* an offset the version does not have */

struct wisp_py_proc {
	__u64 runtime;        /* address of _PyRuntime in the process */
	__u16 version;        /* major << 8 | minor: 0x030b for 3.11 */
	__u16 interp_head;    /* _PyRuntimeState.interpreters.head */
	__u16 interp_threads; /* PyInterpreterState.threads.head */
	__u16 ts_next;        /* PyThreadState.next */
	__u16 ts_native_tid;  /* PyThreadState.native_thread_id */
	__u16 ts_frame;       /* PyThreadState.cframe (3.11, 3.12) or .current_frame (3.13+) */
	__u16 cframe_frame;   /* _PyCFrame.current_frame; WISP_PY_NO_OFFSET: ts_frame is the frame */
	__u16 f_code;         /* _PyInterpreterFrame.f_code / f_executable */
	__u16 f_previous;     /* .previous */
	__u16 f_instr;        /* .prev_instr / instr_ptr: the instruction it executes */
	__u16 f_entry;        /* .is_entry (3.11): the first frame of an _PyEval_EvalFrameDefault call */
	__u16 f_owner;        /* .owner (3.12+): FRAME_OWNED_BY_CSTACK marks such a call's start */
	__u16 code_bytecode;  /* PyCodeObject.co_code_adaptive: instructions begin here */
	__u16 code_sig_at;    /* where the signature window starts in a code object (NO_OFFSET: none) */
	__u16 code_sig_file;  /* co_filename's offset in that window */
	__u16 code_sig_line;  /* co_firstlineno's offset in that window */
};

#define WISP_PY_SIG_WINDOW 64 /* bytes of a code object read for its signature */

/* A code object's signature: its file (the str object's address) and first line. Never 0 (0 in
 * a frame: not read). */
static inline __u32 wisp_py_sig(__u64 file, __u32 first_line)
{
	__u32 s = (__u32)file ^ (__u32)(file >> 32) ^ first_line * 0x9e3779b1u;
	return s ? s : 1;
}

/* One Python frame of a sample. */
#define WISP_PY_F_ENTRY 0x1      /* the outermost frame of its _PyEval_EvalFrameDefault call */

struct wisp_py_frame {
	__u64 code;   /* PyCodeObject * in the process */
	__u32 lasti;  /* instruction offset in code units (the instruction it executes, or calls from) */
	__u32 flags;  /* WISP_PY_F_* */
	__u32 sig;    /* wisp_py_sig of the code object when it ran (0: not read) */
	__u32 pad;
};

/* How the Python walk of a sample ended (wisp_sample.py_end). */
enum wisp_py_end {
	WISP_PY_END_NONE = 0,      /* not a Python process (or not yet known to be one) */
	WISP_PY_END_OK = 1,        /* reached the thread's first frame */
	WISP_PY_END_NO_THREAD = 2, /* no thread state has this tid (a thread Python does not know) */
	WISP_PY_END_IDLE = 3,      /* the thread runs no Python code now */
	WISP_PY_END_READ = 4,      /* interpreter memory could not be read */
	WISP_PY_END_DEPTH = 5,     /* deeper than WISP_PY_MAX_FRAMES */
	WISP_PY_END_MAX = 6,
};

#endif
