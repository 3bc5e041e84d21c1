/* unwinder.c - the loader thread, its file and process caches, and the builder thread (see
 * unwinder.h).
 *
 * The loader reads a process's maps and writes its table at once with the files that have one;
 * a file still without one is handed to the builder thread (its descriptor duplicated) and the
 * process marked incomplete: its mappings there walk by frame pointers until the builder is done,
 * and then it is loaded again. So one large file (node's 2.7 MB of .eh_frame: over a second
 * under ASan) delays no other process, and a Python process is walkable from its first load. */
#include "unwinder.h"
#include "cfi.h"
#include "store.h"

#include "agent/python/pyprocs.h"
#include "agent/symbolize/symbolize.h"
#include "core/clock.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUCKETS 1024
#define QUEUE_CAP 1024
#define STALE_RELOAD_MS 1000  /* a table that missed a pc: reload at most this often */
#define MISSING_RELOAD_MS 100 /* a table the kernel lacks (exec, or a failed load) */
#define SWEEP_MS 5000         /* forget processes whose table the kernel dropped */
#define MAX_SEGS 16
#define EXEC_PENDING 4096     /* exec'd processes waiting to be loaded */
#define EXEC_DELAY_MS 10      /* after the exec: the dynamic loader has mapped the libraries */
#define BUILD_PENDING 64      /* files waiting for the builder (more: built by the loader itself) */

struct seg {
	uint64_t offset, vaddr, filesz;
};

/* One file the loader has seen, with or without a table. */
struct ufile {
	struct ufile *next;
	uint64_t dev, ino, size;
	int64_t mtime_ns;
	uint32_t id;             /* store id; 0: no table (no CFI, refused, or evicted since) */
	bool tried;              /* built once: do not retry a file without CFI */
	bool building;           /* a job of the builder's holds it (which then sets id and tried) */
	bool py_scanned;
	struct py_elf *py;       /* the CPython interpreter in it, or NULL (owned) */
	struct seg segs[MAX_SEGS];
	int nsegs;
};

struct uproc {
	struct uproc *next;
	uint32_t pid;
	int64_t first_load_ms;   /* when its table was first written */
	int64_t last_load_ms;    /* when its maps were last read */
	int64_t backoff_ms;      /* no reload before this (the kernel's map was full) */
	bool loaded;             /* the kernel holds its table */
	uint32_t *files;         /* store ids its mappings use (touched while it lives) */
	bool python;             /* py_procs knows it */
	bool incomplete;         /* a file it maps was being built: load it again when one is done */
	size_t nfiles;
};

struct unwinder {
	struct unwinder_maps maps;
	struct unwind_store *store;
	struct ufile *files[BUCKETS];
	struct ufile *vdso;      /* the kernel's vDSO: one image for every process */
	struct uproc *procs[BUCKETS];
	struct wisp_unwind_proc *scratch; /* the table being written (4 KiB: not on the stack) */
	pthread_mutex_t load_lock;        /* the caches, the store and st: the loader, or get_stats */

	pthread_mutex_t q_lock;           /* the queue */
	int wake_fd;                      /* eventfd: a request was queued, or stop */
	int epfd;                         /* the loader waits on wake_fd and exec_rb */
	struct ring_buffer *exec_rb;      /* exec events from BPF (wisp_exec_events) */
	struct { uint32_t pid; int64_t due_ms; } exec[EXEC_PENDING]; /* execs to load, by due time */
	size_t exec_head, exec_len;
	struct { uint32_t pid; bool stale; } queue[QUEUE_CAP];
	size_t q_head, q_len;
	atomic_bool stop;
	pthread_t thread;
	bool thread_started;

	struct unwinder_stats st;         /* under load_lock */

	/* The builder's jobs: a file without a table and a descriptor of it (the job owns it). The
	 * builder takes load_lock only to store a table it built. */
	pthread_mutex_t b_lock;
	pthread_cond_t b_cond;            /* a job was queued, or stop */
	struct { struct ufile *f; int fd; } jobs[BUILD_PENDING];
	size_t j_head, j_len;
	pthread_t builder;
	bool builder_started;
	atomic_bool built;                /* a table was stored since the loader last looked */
};

static int64_t now_ms(void)
{
	return mono_now_ns() / 1000000;
}

/* ---- files ---- */

static void read_segs(struct ufile *f, Elf *elf)
{
	size_t n = 0;
	if (elf_getphdrnum(elf, &n) != 0)
		return;
	for (size_t i = 0; i < n && f->nsegs < MAX_SEGS; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
			f->segs[f->nsegs++] = (struct seg){ph.p_offset, ph.p_vaddr, ph.p_filesz};
	}
}

/* Stores the table cfi_build made of f (rc 0; it is freed here) or notes that f has none;
 * under load_lock. t0: when the build began. */
static void store_table(struct unwinder *u, struct ufile *f, int rc, struct cfi_table *t, int64_t t0)
{
	f->tried = true;
	if (rc != 0) {
		u->st.files_no_cfi++;
		return;
	}
	f->id = unwind_store_add(u->store, t, (uint64_t)now_ms());
	u->st.files_built++;
	u->st.cfi_bytes += t->cfi_bytes;
	u->st.build_ns += (uint64_t)(mono_now_ns() - t0);
	cfi_table_free(t);
}

/* Builds and stores f's table from elf, on the calling thread (which holds load_lock). */
static void build_table(struct unwinder *u, struct ufile *f, Elf *elf)
{
	struct cfi_table t;
	char err[128];
	int64_t t0 = mono_now_ns();
	store_table(u, f, cfi_build(elf, &t, err, sizeof(err)), &t, t0);
}

/* Hands f to the builder with a duplicate of fd. 0, or -1 (the queue is full). */
static int queue_build(struct unwinder *u, struct ufile *f, int fd)
{
	int rc = -1;
	pthread_mutex_lock(&u->b_lock);
	if (u->builder_started && u->j_len < BUILD_PENDING) {
		int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dfd >= 0) {
			size_t at = (u->j_head + u->j_len++) % BUILD_PENDING;
			u->jobs[at].f = f;
			u->jobs[at].fd = dfd;
			f->building = true;
			pthread_cond_signal(&u->b_cond);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&u->b_lock);
	return rc;
}

static void wake(struct unwinder *u);

static void *builder_main(void *arg)
{
	struct unwinder *u = arg;
	for (;;) {
		pthread_mutex_lock(&u->b_lock);
		while (!u->j_len && !atomic_load(&u->stop))
			pthread_cond_wait(&u->b_cond, &u->b_lock);
		if (atomic_load(&u->stop)) {
			pthread_mutex_unlock(&u->b_lock);
			return NULL; /* unwinder_free closes what is left */
		}
		struct ufile *f = u->jobs[u->j_head].f;
		int fd = u->jobs[u->j_head].fd;
		u->j_head = (u->j_head + 1) % BUILD_PENDING;
		u->j_len--;
		pthread_mutex_unlock(&u->b_lock);

		struct cfi_table t;
		char err[128];
		int64_t t0 = mono_now_ns();
		Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		int rc = elf && elf_kind(elf) == ELF_K_ELF ? cfi_build(elf, &t, err, sizeof(err)) : -1;
		pthread_mutex_lock(&u->load_lock);
		f->building = false;
		store_table(u, f, rc, &t, t0);
		pthread_mutex_unlock(&u->load_lock);
		if (elf)
			elf_end(elf);
		close(fd);
		atomic_store(&u->built, true);
		wake(u);
		/* A build frees what it parsed (libdw's CFI, the rows before they were packed: several
		 * MiB for a large binary), which the heap keeps; once the queue is empty, give it back,
		 * a trim for a burst of builds. */
		pthread_mutex_lock(&u->b_lock);
		bool idle = !u->j_len;
		pthread_mutex_unlock(&u->b_lock);
		if (idle)
			malloc_trim(0);
	}
}

/* The file known by st's device, inode, size and mtime, or NULL. */
static struct ufile *file_find(struct unwinder *u, const struct stat *st)
{
	int64_t mtime = st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	for (struct ufile *f = u->files[((uint64_t)st->st_dev * 31 + st->st_ino) % BUCKETS]; f; f = f->next)
		if (f->dev == st->st_dev && f->ino == st->st_ino && f->size == (uint64_t)st->st_size && f->mtime_ns == mtime)
			return f;
	return NULL;
}

/* Whether f needs nothing more: being built, its table held, or known to have none. */
static bool file_ready(struct unwinder *u, const struct ufile *f)
{
	return f->building || (f->id ? unwind_store_has(u->store, f->id) : f->tried);
}

/* The file behind an open descriptor, its segments and CPython scan done, and its table when
 * it has one; one still to be built (new, or evicted since) goes to the builder, and says so in
 * f->building until it is done. */
static struct ufile *file_get(struct unwinder *u, int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return NULL;
	int64_t mtime = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	size_t b = ((uint64_t)st.st_dev * 31 + st.st_ino) % BUCKETS;
	struct ufile *f = file_find(u, &st);
	if (f && file_ready(u, f))
		return f;
	if (!f) {
		if (!(f = calloc(1, sizeof(*f))))
			return NULL;
		*f = (struct ufile){.next = u->files[b], .dev = st.st_dev, .ino = st.st_ino,
				    .size = (uint64_t)st.st_size, .mtime_ns = mtime};
		u->files[b] = f;
	}
	f->id = 0;
	f->nsegs = 0;
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF) {
		read_segs(f, elf);
		if (!f->py_scanned && u->maps.python) {
			f->py = py_elf_scan(elf, NULL);
			f->py_scanned = true;
		}
		if (queue_build(u, f, fd) != 0)
			build_table(u, f, elf);
	} else {
		f->tried = true;
	}
	if (elf)
		elf_end(elf);
	return f;
}

/* The vDSO's table, from this process's copy (the same image everywhere). */
static void load_vdso(struct unwinder *u)
{
	size_t len;
	char *copy = symbolize_vdso_copy(&len);
	struct ufile *f = copy ? calloc(1, sizeof(*f)) : NULL;
	Elf *elf = f ? elf_memory(copy, len) : NULL;
	if (elf && elf_kind(elf) == ELF_K_ELF) {
		read_segs(f, elf);
		build_table(u, f, elf);
		u->vdso = f;
		f = NULL;
	}
	if (elf)
		elf_end(elf);
	free(copy);
	free(f);
}

/* file address = pc - bias, for a mapping of f at start with file offset pgoff. */
static uint64_t mapping_bias(const struct ufile *f, uint64_t start, uint64_t pgoff, bool vdso)
{
	if (vdso)
		return start - (f->nsegs ? f->segs[0].vaddr : 0);
	for (int i = 0; i < f->nsegs; i++) {
		const struct seg *s = &f->segs[i];
		if (pgoff >= (s->offset & ~4095ULL) && pgoff < s->offset + s->filesz)
			return start - pgoff + s->offset - s->vaddr;
	}
	return start - pgoff;
}

/* ---- processes ---- */

static struct uproc *proc_find(struct unwinder *u, uint32_t pid, bool create)
{
	struct uproc **pp = &u->procs[pid % BUCKETS];
	for (struct uproc *p = *pp; p; p = p->next)
		if (p->pid == pid)
			return p;
	if (!create)
		return NULL;
	struct uproc *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->next = *pp;
	*pp = p;
	return p;
}

static void proc_forget(struct unwinder *u, struct uproc *p)
{
	struct uproc **pp = &u->procs[p->pid % BUCKETS];
	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	if (p->loaded)
		u->st.procs--;
	if (p->python && u->maps.python)
		py_procs_forget(u->maps.python, p->pid);
	free(p->files);
	free(p);
}

/* Reads /proc/PID/maps into u->scratch and p->files. 0, or -1 when the process is gone. A
 * CPython interpreter among its files is shown to the Python registry as soon as it is found. */
static int read_maps(struct unwinder *u, struct uproc *p)
{
	bool python = false;
	p->incomplete = false;
	char path[64], line[4096];
	struct wisp_unwind_proc *w = u->scratch;
	snprintf(path, sizeof(path), "/proc/%u/maps", p->pid);
	FILE *mf = fopen(path, "r");
	if (!mf)
		return -1;
	memset(w, 0, sizeof(*w));
	free(p->files);
	p->files = calloc(WISP_UNWIND_MAX_MAPPINGS, sizeof(*p->files));
	p->nfiles = 0;
	while (fgets(line, sizeof(line), mf) && w->n < WISP_UNWIND_MAX_MAPPINGS) {
		unsigned long long lo, hi, off, ino;
		char perms[8], dev[16];
		int pathpos = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %n", &lo, &hi, perms, &off, dev, &ino, &pathpos) < 6 ||
		    !strchr(perms, 'x'))
			continue;
		char *file = line + pathpos;
		file[strcspn(file, "\n")] = '\0';
		struct wisp_unwind_mapping *m = &w->maps[w->n++];
		*m = (struct wisp_unwind_mapping){.start = lo, .end = hi};
		const struct ufile *f = NULL;
		bool vdso = !strcmp(file, "[vdso]");
		if (vdso) {
			f = u->vdso;
		} else if (file[0] == '/' && ino) {
			char mfp[128], alt[4200];
			snprintf(mfp, sizeof(mfp), "/proc/%u/map_files/%llx-%llx", p->pid, lo, hi);
			snprintf(alt, sizeof(alt), "/proc/%u/root%s", p->pid, file);
			/* A file seen before costs one stat (map_files works after the file was replaced);
			 * only a new one, or one whose table was evicted, is opened. */
			struct stat st;
			struct ufile *nf = NULL;
			if (stat(mfp, &st) == 0 || stat(alt, &st) == 0)
				nf = file_find(u, &st);
			if (!nf || !file_ready(u, nf)) {
				int fd = open(mfp, O_RDONLY | O_CLOEXEC);
				if (fd < 0)
					fd = open(alt, O_RDONLY | O_CLOEXEC);
				nf = fd >= 0 ? file_get(u, fd) : NULL;
				if (fd >= 0)
					close(fd);
			}
			if (nf && nf->py && !python) { /* walkable now, whether or not its table is built */
				python = true;
				if (py_procs_load(u->maps.python, p->pid, nf->py, mapping_bias(nf, lo, off, false)) == 0)
					p->python = true;
			}
			if (nf && nf->building)
				p->incomplete = true;
			f = nf;
		}
		/* Anonymous code (JIT) stays in the table with no file: frame pointers, no reload. */
		if (f && f->id) {
			m->file = f->id;
			m->bias = mapping_bias(f, lo, off, vdso);
			if (p->files)
				p->files[p->nfiles++] = f->id;
		}
	}
	fclose(mf);
	return 0;
}

static int load_proc(struct unwinder *u, uint32_t pid)
{
	struct uproc *p = proc_find(u, pid, true);
	if (!p)
		return -1;
	p->last_load_ms = now_ms();
	if (!p->first_load_ms)
		p->first_load_ms = p->last_load_ms;
	if (read_maps(u, p) != 0) {
		u->st.proc_failed++;
		proc_forget(u, p);
		return -1;
	}
	uint64_t now = (uint64_t)now_ms();
	for (size_t i = 0; i < p->nfiles; i++)
		unwind_store_touch(u->store, p->files[i], now);
	if (bpf_map_update_elem(u->maps.procs_fd, &pid, u->scratch, BPF_ANY) != 0) {
		u->st.proc_failed++;
		p->backoff_ms = now_ms() + SWEEP_MS; /* the map is full: back off */
		if (p->loaded)
			u->st.procs--;
		p->loaded = false;
		return -1;
	}
	if (!p->loaded)
		u->st.procs++;
	p->loaded = true;
	u->st.proc_loads++;
	return 0;
}

/* Forgets processes the kernel no longer holds (exec, exit) or that never loaded; touches the
 * files of the rest, and the vDSO's, so that eviction takes what no live process maps. */
static void sweep(struct unwinder *u)
{
	struct wisp_unwind_proc *w = u->scratch;
	uint64_t now = (uint64_t)now_ms();
	if (u->vdso && u->vdso->id)
		unwind_store_touch(u->store, u->vdso->id, now);
	for (int b = 0; b < BUCKETS; b++) {
		struct uproc *p = u->procs[b];
		while (p) {
			struct uproc *next = p->next;
			bool gone = p->loaded ? bpf_map_lookup_elem(u->maps.procs_fd, &p->pid, w) != 0
					      : (int64_t)now - p->last_load_ms > 2 * SWEEP_MS;
			if (gone) {
				proc_forget(u, p);
			} else {
				for (size_t i = 0; i < p->nfiles; i++)
					unwind_store_touch(u->store, p->files[i], now);
			}
			p = next;
		}
	}
}

/* A table that missed a pc is reloaded at most every STALE_RELOAD_MS, but soon after a process
 * starts: the first load (at exec) sees only the program and the dynamic loader, which maps the
 * libraries a moment later. */
#define YOUNG_MS 2000
#define YOUNG_RELOAD_MS 20

static void handle(struct unwinder *u, uint32_t pid, bool stale)
{
	struct uproc *p = proc_find(u, pid, false);
	int64_t now = now_ms();
	if (p) {
		int64_t wait = !stale ? MISSING_RELOAD_MS
				      : now - p->first_load_ms < YOUNG_MS ? YOUNG_RELOAD_MS : STALE_RELOAD_MS;
		if (now < p->backoff_ms || now - p->last_load_ms < wait)
			return;
	}
	load_proc(u, pid);
}

/* An exec: the process has a new image (the kernel dropped its old table). Its table is built
 * EXEC_DELAY_MS later, once the dynamic loader has mapped its libraries; a process gone by then
 * (a shell pipeline's `cat`) costs one failed open. When execs come faster than the pending list
 * holds, the rest are loaded on their first sample instead. */
static int on_exec_event(void *ctx, void *data, size_t size)
{
	struct unwinder *u = ctx;
	if (size < sizeof(uint32_t) || u->exec_len == EXEC_PENDING)
		return 0;
	uint32_t pid;
	memcpy(&pid, data, sizeof(pid));
	struct uproc *p = proc_find(u, pid, false);
	if (p)
		proc_forget(u, p);
	size_t at = (u->exec_head + u->exec_len++) % EXEC_PENDING;
	u->exec[at].pid = pid;
	u->exec[at].due_ms = now_ms() + EXEC_DELAY_MS;
	return 0;
}

/* Loads the exec'd processes that are due; returns ms until the next one (or SWEEP_MS). */
static int load_due_execs(struct unwinder *u)
{
	while (u->exec_len) {
		int64_t wait = u->exec[u->exec_head].due_ms - now_ms();
		if (wait > 0)
			return (int)wait;
		uint32_t pid = u->exec[u->exec_head].pid;
		u->exec_head = (u->exec_head + 1) % EXEC_PENDING;
		u->exec_len--;
		if (!proc_find(u, pid, false) && load_proc(u, pid) == 0) /* not loaded by a sample meanwhile */
			u->st.exec_loads++;
	}
	return SWEEP_MS;
}

/* Loads again the processes that waited for a table the builder has made since. */
static void load_incomplete(struct unwinder *u)
{
	for (int b = 0; b < BUCKETS; b++)
		for (struct uproc *p = u->procs[b], *next; p; p = next) {
			next = p->next; /* load_proc may forget p */
			if (p->incomplete)
				load_proc(u, p->pid);
		}
}

static void *loader_main(void *arg)
{
	struct unwinder *u = arg;
	int64_t next_sweep = now_ms() + SWEEP_MS;
	int timeout = SWEEP_MS;
	while (!atomic_load(&u->stop)) {
		struct epoll_event ev[2];
		int n = epoll_wait(u->epfd, ev, 2, timeout);
		uint64_t drained;
		if (n > 0 && read(u->wake_fd, &drained, sizeof(drained)) < 0 && errno != EAGAIN)
			break;
		pthread_mutex_lock(&u->load_lock);
		if (u->exec_rb)
			ring_buffer__consume(u->exec_rb);
		for (;;) {
			uint32_t pid;
			bool stale;
			pthread_mutex_lock(&u->q_lock);
			bool have = u->q_len > 0;
			if (have) {
				pid = u->queue[u->q_head].pid;
				stale = u->queue[u->q_head].stale;
				u->q_head = (u->q_head + 1) % QUEUE_CAP;
				u->q_len--;
			}
			pthread_mutex_unlock(&u->q_lock);
			if (!have)
				break;
			load_due_execs(u); /* a new process first: its early samples matter most */
			handle(u, pid, stale);
		}
		timeout = load_due_execs(u);
		if (atomic_exchange(&u->built, false))
			load_incomplete(u);
		if (now_ms() >= next_sweep) {
			sweep(u);
			next_sweep = now_ms() + SWEEP_MS;
		}
		pthread_mutex_unlock(&u->load_lock);
	}
	return NULL;
}

static void wake(struct unwinder *u)
{
	uint64_t one = 1;
	if (write(u->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loader has wakes pending already */
	}
}

void unwinder_request(struct unwinder *u, uint32_t pid, bool stale)
{
	pthread_mutex_lock(&u->q_lock);
	bool queued = false;
	for (size_t i = 0; i < u->q_len && !queued; i++)
		queued = u->queue[(u->q_head + i) % QUEUE_CAP].pid == pid;
	if (!queued && u->q_len < QUEUE_CAP) { /* full: the next sample asks again */
		size_t at = (u->q_head + u->q_len) % QUEUE_CAP;
		u->queue[at].pid = pid;
		u->queue[at].stale = stale;
		u->q_len++;
	}
	pthread_mutex_unlock(&u->q_lock);
	if (!queued)
		wake(u);
}

void unwinder_get_stats(struct unwinder *u, struct unwinder_stats *out)
{
	struct unwind_store_stats ss;
	pthread_mutex_lock(&u->load_lock);
	*out = u->st;
	unwind_store_get_stats(u->store, &ss);
	pthread_mutex_unlock(&u->load_lock);
	out->files = ss.files;
	out->rows = ss.rows;
	out->rows_cap = ss.rows_cap;
	out->pages = ss.pages;
	out->rules = ss.rules;
	out->evicted = ss.evicted;
	out->refused = ss.refused;
	out->bytes = ss.bytes + out->procs * sizeof(struct wisp_unwind_proc);
}

struct unwinder *unwinder_new(const struct unwinder_maps *maps, char *err, size_t errlen)
{
	struct unwinder *u = calloc(1, sizeof(*u));
	if (!u || !(u->scratch = malloc(sizeof(*u->scratch)))) {
		free(u);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	u->wake_fd = u->epfd = -1;
	u->maps = *maps;
	pthread_mutex_init(&u->load_lock, NULL);
	pthread_mutex_init(&u->q_lock, NULL);
	pthread_mutex_init(&u->b_lock, NULL);
	pthread_cond_init(&u->b_cond, NULL);
	u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	if (u->wake_fd < 0 || u->epfd < 0 || epoll_ctl(u->epfd, EPOLL_CTL_ADD, u->wake_fd, &ev) != 0) {
		snprintf(err, errlen, "unwinder: %s", strerror(errno));
		goto fail;
	}
	if (maps->exec_events_fd >= 0) {
		u->exec_rb = ring_buffer__new(maps->exec_events_fd, on_exec_event, u, NULL);
		if (!u->exec_rb || epoll_ctl(u->epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(u->exec_rb), &ev) != 0) {
			snprintf(err, errlen, "unwinder: cannot watch exec events: %s", strerror(errno));
			goto fail;
		}
	}
	u->store = unwind_store_new(maps->rows_fd, maps->rows_cap, maps->rules_fd, maps->pages_fd, maps->pages_cap,
				    err, errlen);
	if (!u->store)
		goto fail;
	load_vdso(u);
	if (pthread_create(&u->builder, NULL, builder_main, u) != 0) {
		snprintf(err, errlen, "cannot start the unwind builder thread");
		goto fail;
	}
	u->builder_started = true;
	if (pthread_create(&u->thread, NULL, loader_main, u) != 0) {
		snprintf(err, errlen, "cannot start the unwind loader thread");
		goto fail;
	}
	u->thread_started = true;
	return u;
fail:
	unwinder_free(u);
	return NULL;
}

void unwinder_free(struct unwinder *u)
{
	if (!u)
		return;
	atomic_store(&u->stop, true);
	if (u->thread_started) {
		wake(u);
		pthread_join(u->thread, NULL);
	}
	if (u->builder_started) {
		pthread_mutex_lock(&u->b_lock);
		pthread_cond_broadcast(&u->b_cond);
		pthread_mutex_unlock(&u->b_lock);
		pthread_join(u->builder, NULL);
	}
	for (; u->j_len; u->j_len--, u->j_head = (u->j_head + 1) % BUILD_PENDING)
		close(u->jobs[u->j_head].fd);
	ring_buffer__free(u->exec_rb);
	if (u->epfd >= 0)
		close(u->epfd);
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	for (int b = 0; b < BUCKETS; b++) {
		while (u->procs[b]) {
			struct uproc *p = u->procs[b];
			u->procs[b] = p->next;
			if (p->python && u->maps.python)
				py_procs_forget(u->maps.python, p->pid);
			free(p->files);
			free(p);
		}
		while (u->files[b]) {
			struct ufile *f = u->files[b];
			u->files[b] = f->next;
			free(f->py);
			free(f);
		}
	}
	free(u->vdso);
	unwind_store_free(u->store);
	pthread_mutex_destroy(&u->load_lock);
	pthread_mutex_destroy(&u->q_lock);
	pthread_mutex_destroy(&u->b_lock);
	pthread_cond_destroy(&u->b_cond);
	free(u->scratch);
	free(u);
}
