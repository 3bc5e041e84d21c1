/* store.h - the unwind tables as the BPF walker reads them (bpf/unwind.h): the one row array and
 * the one rule table (both BPF array maps, mmapped here, written in place) and the page index (a
 * BPF hash map). A file's rows take one contiguous extent of the row array; when a new file does
 * not fit, the files used least recently are evicted until it does. File ids are never reused,
 * so a walker that still holds an evicted file's id finds no page and falls back to frame
 * pointers: eviction is safe while BPF runs.
 *
 * Not thread-safe: the unwinder's loader thread owns the store. */
#ifndef WISP_UNWIND_STORE_H
#define WISP_UNWIND_STORE_H

#include <stddef.h>
#include <stdint.h>

struct cfi_table;
struct unwind_store;

struct unwind_store_stats {
	uint64_t files;         /* tables held */
	uint64_t rows, rows_cap;
	uint64_t pages;
	uint64_t rules;
	uint64_t evicted;       /* files evicted to make room */
	uint64_t refused;       /* files that did not fit even in an empty store, or broke a limit */
	uint64_t bytes;         /* memory the tables hold in the kernel (rows, rules, pages) */
};

/* rows/rules: fds of the mmappable array maps (rows_cap rows, WISP_UNWIND_PAIR_ROWS per element,
 * and WISP_UNWIND_MAX_RULES rules);
 * pages: fd of the hash map (pages_cap entries). NULL with a reason in err. */
struct unwind_store *unwind_store_new(int rows_fd, uint32_t rows_cap, int rules_fd, int pages_fd,
				      uint32_t pages_cap, char *err, size_t errlen);
void unwind_store_free(struct unwind_store *s);

/* Loads t; returns its file id (> 0), or 0 when it cannot be held (then the walker uses frame
 * pointers in that file). `now` orders eviction: the least recent `now` goes first. */
uint32_t unwind_store_add(struct unwind_store *s, const struct cfi_table *t, uint64_t now);
/* Marks file id used at `now` (a process mapping it was loaded). */
void unwind_store_touch(struct unwind_store *s, uint32_t id, uint64_t now);
/* Whether file id is still held (not evicted). */
int unwind_store_has(const struct unwind_store *s, uint32_t id);
void unwind_store_get_stats(const struct unwind_store *s, struct unwind_store_stats *out);

#endif
