/* pyprocs.c - the Python processes the walker knows, and the names of their frames (pyprocs.h).
 *
 * Process memory is read with process_vm_readv and never trusted: a code object must have
 * PyCode_Type as its type, lengths are bounded, and a read that fails names the frame
 * "[python: unreadable]" and is counted; a code object whose signature is not the one BPF saw
 * when the frame ran was freed in between (its address reused) and names it "[python: gone]".
 * Each process keeps its named code objects in a map by address; the map is dropped whole when
 * it grows past CODES_MAX (a process that keeps making code) and with the process. */
#include "python_internal.h"

#include "core/frame.h"
#include "core/hashmap.h"

#include <bpf/bpf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define BUCKETS 256
#define CODES_MAX 16384     /* code objects cached per process */
#define NAME_MAX_BYTES 512  /* longest qualified name or file name kept */
#define LINES_MAX (64 << 10) /* longest line table read */
#define MEMBERS_MAX 64      /* PyCode_Type's member table is read this far */

/* PyTypeObject: stable since 3.0. */
#define TP_BASICSIZE 32
#define TP_MEMBERS 240
#define PYOBJ_TYPE 8        /* PyObject.ob_type */
#define BYTES_SIZE 16       /* PyVarObject.ob_size */
#define BYTES_DATA 32       /* PyBytesObject.ob_sval */

struct py_code {
	char *name, *file;  /* malloc'd */
	int first_line;
	uint32_t sig;       /* wisp_py_sig: a frame with another was a code object since freed */
	uint8_t *lines;     /* the location table (3.11+), malloc'd */
	size_t nlines;
};

struct py_proc {
	struct py_proc *next;
	uint32_t pid;
	uint64_t code_type;  /* PyCode_Type in the process */
	uint64_t eval_lo, eval_hi;
	uint16_t co_filename, co_name, co_qualname, co_firstlineno, co_linetable, co_bytecode;
	struct py_str_layout str;
	struct hashmap codes; /* code object address -> struct py_code * */
};

struct py_procs {
	int procs_fd;
	pthread_mutex_t lock;            /* everything below */
	struct py_proc *procs[BUCKETS];
	struct py_procs_stats st;
	char frame[2 * NAME_MAX_BYTES + 64]; /* py_procs_frame's answer */
};

static int read_mem(uint32_t pid, uint64_t addr, void *dst, size_t len)
{
	struct iovec local = {dst, len}, remote = {(void *)(uintptr_t)addr, len};
	return addr && process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -1;
}

static int read_u64(uint32_t pid, uint64_t addr, uint64_t *out)
{
	return read_mem(pid, addr, out, sizeof(*out));
}

struct py_procs *py_procs_new(int procs_fd)
{
	struct py_procs *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->procs_fd = procs_fd;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

static void code_free(struct py_code *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->file);
	free(c->lines);
	free(c);
}

static void codes_clear(struct py_procs *p, struct py_proc *pp)
{
	for (size_t i = 0; i < pp->codes.cap; i++)
		if (pp->codes.slots[i].key)
			code_free((struct py_code *)(uintptr_t)pp->codes.slots[i].value);
	p->st.codes -= pp->codes.count;
	hashmap_destroy(&pp->codes);
	hashmap_init(&pp->codes, false);
}

static void proc_free(struct py_procs *p, struct py_proc *pp)
{
	codes_clear(p, pp);
	hashmap_destroy(&pp->codes);
	free(pp);
}

void py_procs_free(struct py_procs *p)
{
	if (!p)
		return;
	for (int b = 0; b < BUCKETS; b++)
		for (struct py_proc *pp = p->procs[b], *next; pp; pp = next) {
			next = pp->next;
			proc_free(p, pp);
		}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static struct py_proc **proc_slot(struct py_procs *p, uint32_t pid)
{
	struct py_proc **pp = &p->procs[pid % BUCKETS];
	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	return pp;
}

/* The code object fields, from PyCode_Type's member table in the process (name -> offset). */
static int read_code_layout(uint32_t pid, struct py_proc *pp)
{
	uint64_t basicsize = 0, members = 0;
	if (read_u64(pid, pp->code_type + TP_BASICSIZE, &basicsize) || read_u64(pid, pp->code_type + TP_MEMBERS, &members))
		return -1;
	if (basicsize < 64 || basicsize > 4096)
		return -1;
	pp->co_bytecode = (uint16_t)basicsize; /* the instructions follow the fixed part */
	struct { const char *name; uint16_t *field; } want[] = {
		{"co_filename", &pp->co_filename}, {"co_name", &pp->co_name}, {"co_qualname", &pp->co_qualname},
		{"co_firstlineno", &pp->co_firstlineno}, {"co_linetable", &pp->co_linetable},
	};
	int found = 0;
	for (int i = 0; i < MEMBERS_MAX; i++) {
		uint64_t def[3]; /* PyMemberDef: name, type (int, padded), offset */
		char name[24] = {0};
		if (read_mem(pid, members + (uint64_t)i * 40, def, sizeof(def)))
			return -1;
		if (!def[0])
			break;
		if (read_mem(pid, def[0], name, sizeof(name) - 1))
			continue;
		for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++)
			if (!strcmp(name, want[w].name) && def[2] < basicsize && !*want[w].field) {
				*want[w].field = (uint16_t)def[2];
				found++;
			}
	}
	/* co_qualname is 3.11+: every version the walker knows has all five. */
	return found == (int)(sizeof(want) / sizeof(want[0])) ? 0 : -1;
}

int py_procs_load(struct py_procs *p, uint32_t pid, const struct py_elf *e, uint64_t bias)
{
	struct wisp_py_proc w;
	struct py_proc *pp = calloc(1, sizeof(*pp));
	const char *why = NULL;
	int rc = -1;
	if (!pp)
		return -1;
	hashmap_init(&pp->codes, false);
	pp->pid = pid;
	pp->code_type = e->code_type + bias;
	pp->eval_lo = e->eval_lo + bias;
	pp->eval_hi = e->eval_hi + bias;
	if (py_layout(e, &w, &pp->str, &why) != 0 || read_code_layout(pid, pp) != 0)
		goto out;
	w.runtime = e->runtime + bias;
	w.code_bytecode = pp->co_bytecode;
	uint16_t lo = pp->co_filename < pp->co_firstlineno ? pp->co_filename : pp->co_firstlineno;
	uint16_t hi = pp->co_filename < pp->co_firstlineno ? pp->co_firstlineno : pp->co_filename;
	w.code_sig_at = w.code_sig_file = w.code_sig_line = WISP_PY_NO_OFFSET;
	if (hi + 8 - lo <= WISP_PY_SIG_WINDOW) { /* both fit the window BPF reads */
		w.code_sig_at = lo;
		w.code_sig_file = (uint16_t)(pp->co_filename - lo);
		w.code_sig_line = (uint16_t)(pp->co_firstlineno - lo);
	}
	if (bpf_map_update_elem(p->procs_fd, &pid, &w, BPF_ANY) != 0)
		goto out;
	pthread_mutex_lock(&p->lock);
	struct py_proc **slot = proc_slot(p, pid);
	if (*slot) { /* reloaded (its maps changed): the code objects stay valid */
		struct py_proc *old = *slot;
		pp->codes = old->codes;
		hashmap_init(&old->codes, false);
		pp->next = old->next;
		free(old);
	} else {
		p->st.procs++;
	}
	*slot = pp;
	p->st.loads++;
	pthread_mutex_unlock(&p->lock);
	pp = NULL;
	rc = 0;
out:
	if (pp) {
		pthread_mutex_lock(&p->lock);
		p->st.load_failed++;
		pthread_mutex_unlock(&p->lock);
		hashmap_destroy(&pp->codes);
		free(pp);
	}
	return rc;
}

void py_procs_forget(struct py_procs *p, uint32_t pid)
{
	pthread_mutex_lock(&p->lock);
	struct py_proc **slot = proc_slot(p, pid), *pp = *slot;
	if (pp) {
		*slot = pp->next;
		p->st.procs--;
		proc_free(p, pp);
	}
	pthread_mutex_unlock(&p->lock);
}

bool py_procs_eval_range(struct py_procs *p, uint32_t pid, uint64_t *lo, uint64_t *hi)
{
	pthread_mutex_lock(&p->lock);
	struct py_proc *pp = *proc_slot(p, pid);
	if (pp) {
		*lo = pp->eval_lo;
		*hi = pp->eval_hi;
	}
	pthread_mutex_unlock(&p->lock);
	return pp != NULL;
}

/* Appends code point cp as UTF-8. */
static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18 & 7));
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A malloc'd UTF-8 copy of the str object at addr (at most NAME_MAX_BYTES), or NULL. Frame
 * separators and control characters become '?'. */
static char *read_str(uint32_t pid, const struct py_str_layout *L, uint64_t addr)
{
	uint64_t length = 0;
	uint32_t state = 0;
	if (read_u64(pid, addr + L->length, &length) || read_mem(pid, addr + L->state, &state, sizeof(state)))
		return NULL;
	unsigned kind = state >> 2 & 7, compact = state >> 5 & 1, ascii = state >> 6 & 1;
	if (!compact || (kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1))
		return NULL;
	size_t chars = length < NAME_MAX_BYTES / 4 ? (size_t)length : NAME_MAX_BYTES / 4;
	uint8_t raw[NAME_MAX_BYTES];
	if (read_mem(pid, addr + (ascii ? L->ascii_data : L->compact_data), raw, chars * kind))
		return NULL;
	char *out = malloc(chars * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < chars; i++) {
		uint32_t cp = kind == 1 ? raw[i] : kind == 2 ? (uint32_t)raw[2 * i] | (uint32_t)raw[2 * i + 1] << 8
							  : (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
								    (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
		if (cp < 0x20 || cp == 0x7f || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
			cp = '?';
		o += put_utf8(o, cp);
	}
	*o = '\0';
	return out;
}

/* Reads the code object at addr of pp's process; NULL when it is not one. */
static struct py_code *read_code(struct py_proc *pp, uint64_t addr)
{
	uint8_t head[512];
	uint64_t type, bytes_len = 0;
	if (pp->co_bytecode > sizeof(head) || read_mem(pp->pid, addr, head, pp->co_bytecode))
		return NULL;
	memcpy(&type, head + PYOBJ_TYPE, sizeof(type));
	if (type != pp->code_type)
		return NULL;
	uint64_t qualname, filename, linetable;
	int32_t first_line;
	memcpy(&qualname, head + pp->co_qualname, sizeof(qualname));
	memcpy(&filename, head + pp->co_filename, sizeof(filename));
	memcpy(&linetable, head + pp->co_linetable, sizeof(linetable));
	memcpy(&first_line, head + pp->co_firstlineno, sizeof(first_line));
	struct py_code *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->first_line = first_line;
	c->sig = wisp_py_sig(filename, (uint32_t)first_line);
	c->name = read_str(pp->pid, &pp->str, qualname);
	c->file = read_str(pp->pid, &pp->str, filename);
	if (!c->name || !c->file || read_u64(pp->pid, linetable + BYTES_SIZE, &bytes_len)) {
		code_free(c);
		return NULL;
	}
	if (bytes_len && bytes_len <= LINES_MAX && (c->lines = malloc(bytes_len))) {
		c->nlines = (size_t)bytes_len;
		if (read_mem(pp->pid, linetable + BYTES_DATA, c->lines, c->nlines)) {
			free(c->lines);
			c->lines = NULL;
			c->nlines = 0;
		}
	}
	return c;
}

/* The location table's varints: 6 bits a byte, low first, 0x40 = more follow. */
static uint32_t varint(const uint8_t *t, size_t n, size_t *i)
{
	uint32_t v = 0;
	for (int shift = 0; *i < n && shift < 32; shift += 6) {
		uint8_t b = t[(*i)++];
		v |= (uint32_t)(b & 0x3f) << shift;
		if (!(b & 0x40))
			break;
	}
	return v;
}

static int32_t svarint(const uint8_t *t, size_t n, size_t *i)
{
	uint32_t v = varint(t, n, i);
	return v & 1 ? -(int32_t)(v >> 1) : (int32_t)(v >> 1);
}

/* The line of instruction lasti (code units), from the 3.11+ location table: entries of
 * (first byte: 1 CCCC LLL) covering LLL + 1 code units; code C says how the line changes.
 * 0 when unknown. */
static int line_of(const struct py_code *c, uint32_t lasti)
{
	const uint8_t *t = c->lines;
	size_t n = c->nlines, i = 0;
	int line = c->first_line;
	uint64_t at = 0;
	while (i < n) {
		uint8_t b = t[i++];
		if (!(b & 0x80))
			return 0; /* not the start of an entry: a table we misread */
		unsigned code = b >> 3 & 15, units = (b & 7) + 1;
		int entry_line = line;
		bool none = false;
		switch (code) {
		case 15: /* no location */
			none = true;
			break;
		case 14: /* long form: line delta, end line delta, column, end column */
			line += svarint(t, n, &i);
			entry_line = line;
			varint(t, n, &i);
			varint(t, n, &i);
			varint(t, n, &i);
			break;
		case 13: /* no column */
			line += svarint(t, n, &i);
			entry_line = line;
			break;
		case 10: case 11: case 12: /* one line: the delta is the code - 10, then two columns */
			line += (int)code - 10;
			entry_line = line;
			i += 2;
			break;
		default: /* short form: the same line, one byte of columns */
			i += 1;
			break;
		}
		if (lasti < at + units)
			return none ? 0 : entry_line;
		at += units;
	}
	return 0;
}

/* The cached name of the code object frame f ran, read (again) when the address is new or now
 * holds another code object; NULL with the reason counted when it cannot be had. */
static struct py_code *frame_code(struct py_procs *p, struct py_proc *pp, const struct wisp_py_frame *f)
{
	uint64_t *v = hashmap_get(&pp->codes, (const void *)(uintptr_t)f->code);
	struct py_code *c = v ? (struct py_code *)(uintptr_t)*v : NULL;
	if (c && (!f->sig || c->sig == f->sig))
		return c;
	struct py_code *now = read_code(pp, f->code);
	if (!now || (f->sig && now->sig != f->sig)) {
		/* A frame with a signature had a code object there when it ran: freed since. */
		if (f->sig)
			p->st.code_gone++;
		else
			p->st.code_failed++;
		code_free(now);
		return NULL;
	}
	if (c) { /* the address was reused: the new code object takes the old one's slot */
		code_free(c);
		*v = (uint64_t)(uintptr_t)now;
		return now;
	}
	if (pp->codes.count >= CODES_MAX)
		codes_clear(p, pp);
	if (hashmap_put(&pp->codes, (const void *)(uintptr_t)f->code, (uint64_t)(uintptr_t)now) != 0) {
		code_free(now);
		return NULL;
	}
	p->st.codes++;
	return now;
}

const char *py_procs_frame(struct py_procs *p, uint32_t pid, const struct wisp_py_frame *f, bool *unsettled)
{
	const char *out = "[python: unreadable]\x1f\x1f\x1f\x1f\x1fpython";
	pthread_mutex_lock(&p->lock);
	struct py_proc *pp = *proc_slot(p, pid);
	struct py_code *c = pp ? frame_code(p, pp, f) : NULL;
	if (c) {
		int line = line_of(c, f->lasti);
		if (line > 0)
			snprintf(p->frame, sizeof(p->frame), "%s%c%s:%d%c%c%c%cpython", c->name, FRAME_SEP, c->file, line,
				 FRAME_SEP, FRAME_SEP, FRAME_SEP, FRAME_SEP);
		else /* the file without a line */
			snprintf(p->frame, sizeof(p->frame), "%s%c%s%c%c%c%cpython", c->name, FRAME_SEP, c->file, FRAME_SEP,
				 FRAME_SEP, FRAME_SEP, FRAME_SEP);
		out = p->frame;
		p->st.frames++;
	} else if (pp && f->sig) {
		out = "[python: gone]\x1f\x1f\x1f\x1f\x1fpython";
	}
	*unsettled |= !c;
	pthread_mutex_unlock(&p->lock);
	return out;
}

void py_procs_get_stats(struct py_procs *p, struct py_procs_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->st;
	pthread_mutex_unlock(&p->lock);
}
