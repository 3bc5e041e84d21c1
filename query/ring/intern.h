/* intern.h - content-addressed storage for strings and stacks.
 *
 * Every distinct string (process names, function names) and every distinct stack is stored once;
 * equal content gives the same pointer, so pointer equality is content equality inside one
 * intern table. Stacks are reference counted: the ring counts one reference per row that points
 * at a stack and frees the stack when its last row is evicted. Strings live as long as the table.
 *
 * Not thread-safe: the owner (the ring, or one query) serializes access. Pointers returned stay
 * valid until the entry is released (stacks) or the table is freed (strings). */
#ifndef WISP_INTERN_H
#define WISP_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stack {
	uint32_t hash;        /* content hash of the frame names + nkernel: equal in every table */
	uint32_t refs;        /* holders; the stack is freed when this drops to 0 */
	uint32_t slot;        /* index in the owning table's stack array */
	uint16_t nframes;     /* total frames */
	uint16_t nkernel;     /* frames[0 .. nkernel) are kernel frames, the rest user */
	const char *frames[]; /* leaf first; interned strings of the same table */
};

struct intern;

struct intern *intern_new(void);
void intern_free(struct intern *it);

/* Returns the interned copy of s[0..len) (NUL-terminated). NULL only on out-of-memory. */
const char *intern_strn(struct intern *it, const char *s, size_t len);
const char *intern_str(struct intern *it, const char *s);

/* Interns a stack of already-interned frame names (leaf first) and adds one reference.
 * NULL only on out-of-memory. */
struct stack *intern_stack(struct intern *it, const char *const *frames, uint16_t nframes,
			   uint16_t nkernel);
void intern_stack_ref(struct stack *st);
/* Drops one reference; frees the stack when none remain. */
void intern_stack_unref(struct intern *it, struct stack *st);

/* Content hash of an interned string (s must come from intern_str*). */
uint32_t intern_str_hash(const char *s);

/* Stacks equal by content, even when they come from different intern tables. */
bool stack_equal(const struct stack *a, const struct stack *b);

/* Bytes held: strings, stacks and the hash indexes. */
size_t intern_bytes(const struct intern *it);
size_t intern_nstacks(const struct intern *it);
size_t intern_nstrings(const struct intern *it);

uint64_t intern_hash_bytes(const void *p, size_t n, uint64_t seed);

#endif
