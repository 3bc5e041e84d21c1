/* intern.h - content-addressed storage for strings, stacks and threads.
 *
 * Every distinct string (process names, function names), stack (frames + kernel/user split) and
 * thread (pid, tid, cgroup, comm and its Kubernetes names) is stored once: equal content gives the same pointer inside one
 * intern table. Stacks and threads carry a small dense id (reused after free) so batches can
 * store 4-byte ids and look them up in O(1) (intern_stack_by_id, intern_thread_by_id).
 *
 * Reference counts: a stack holds its frame strings, a thread holds its name strings; the ring
 * holds stacks and threads once per batch that uses them. An entry is freed when its count
 * drops to zero. intern_stack/intern_thread return a new reference; intern_str does not (a
 * string nobody adopts lives until the table is freed).
 *
 * Not thread-safe: the owner (the ring, or one query) serializes changes. Concurrent readers may
 * use pointers and id lookups of entries they hold references to (through pinned batches): those
 * are never moved or freed under them. */
#ifndef WISP_INTERN_H
#define WISP_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A stack holds at most this many frames: every decoder of stacks (wire, snapshots) and every
 * producer (the collector) keeps to it. */
#define STACK_MAX_FRAMES 4096
/* Dense ids of stacks and of threads stay below this (16 M live records of each kind). */
#define INTERN_MAX_IDS (1u << 24)

struct stack {
	uint32_t hash;        /* content hash of the frame names + nkernel: equal in every table */
	uint32_t refs;        /* holders; freed at 0 */
	uint32_t id;          /* dense id in its table, reused after free */
	uint32_t mark;        /* scratch for the owner (the ring marks stacks seen by a batch) */
	uint16_t nframes;     /* total frames */
	uint16_t nkernel;     /* frames[0 .. nkernel) are kernel frames, the rest user */
	const char *frames[]; /* leaf first; interned strings of the same table */
};

/* A thread as a sample names it: what intern_thread stores. The strings need not be interned
 * and NULL stands for "". container, pod and namespace are "" outside Kubernetes (agent/kube/). */
struct thread_key {
	int64_t pid, tid, cgroup;
	const char *comm, *container, *pod, *namespace;
};

struct thread_rec {
	uint32_t hash;
	uint32_t refs;
	uint32_t id;          /* dense id in its table */
	uint32_t mark;        /* scratch for the owner, like stack.mark */
	int64_t pid, tid, cgroup;
	const char *comm, *container, *pod, *namespace; /* interned, never NULL */
};

struct intern;

struct intern *intern_new(void);
void intern_free(struct intern *it);

/* The interned copy of s[0..len) (NUL-terminated); no reference is added. NULL on OOM. */
const char *intern_strn(struct intern *it, const char *s, size_t len);
const char *intern_str(struct intern *it, const char *s);

/* Interns a stack of interned frame names (leaf first); returns it with one new reference. */
struct stack *intern_stack(struct intern *it, const char *const *frames, uint16_t nframes,
			   uint16_t nkernel);
void intern_stack_ref(struct stack *st);
void intern_stack_unref(struct intern *it, struct stack *st);
/* The live stack with this id (NULL if none). Ids are < intern_stack_id_limit(). */
struct stack *intern_stack_by_id(const struct intern *it, uint32_t id);
uint32_t intern_stack_id_limit(const struct intern *it);

/* Interns a thread record (its strings interned here); returns it with one new reference. NULL on
 * OOM. */
struct thread_rec *intern_thread(struct intern *it, const struct thread_key *k);
void intern_thread_ref(struct thread_rec *th);
void intern_thread_unref(struct intern *it, struct thread_rec *th);
struct thread_rec *intern_thread_by_id(const struct intern *it, uint32_t id);
uint32_t intern_thread_id_limit(const struct intern *it);

/* Stacks equal by content, even when they come from different intern tables. */
bool stack_equal(const struct stack *a, const struct stack *b);

/* Bytes held: strings, stacks, threads and the indexes. */
size_t intern_bytes(const struct intern *it);
size_t intern_nstacks(const struct intern *it);
size_t intern_nstrings(const struct intern *it);
size_t intern_nthreads(const struct intern *it);

#endif
