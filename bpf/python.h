/* python.h - what the BPF Python walker (python.bpf.h) needs to know about an interpreter, and
 * what it records; shared with the agent's reader of interpreters (vizier/agent/python/).
 * Fixed-width types only: both compilers must agree on layout.
 *
 * How a CPython stack is found from BPF, for the thread that was on the CPU:
 *   runtime + interp_head            -> the first interpreter (PyInterpreterState *)
 *   interp + interp_threads          -> its first thread state; then ts + ts_next, ...
 *   ts + ts_native_tid == the tid    -> the sampled thread's state (cached per tid, re-checked)
 *   ts + ts_frame [+ cframe_frame]   -> its innermost frame (3.11, 3.12: through the _PyCFrame)
 *   frame + f_code, f_previous, f_instr, f_entry or f_owner: one read per frame.
 * The agent fills one wisp_py_proc per Python process from the binary (versions and offsets:
 * vizier/agent/python/pyversion.c); BPF records per frame the code object's address and the
 * instruction offset, and user space names it (reading the code object once). */
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
	__u16 pad[3];
};

/* One Python frame of a sample. */
#define WISP_PY_F_ENTRY 0x1      /* the outermost frame of its _PyEval_EvalFrameDefault call */

struct wisp_py_frame {
	__u64 code;   /* PyCodeObject * in the process */
	__u32 lasti;  /* instruction offset in code units (the instruction it executes, or calls from) */
	__u32 flags;  /* WISP_PY_F_* */
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
