/* fuzz.h - what every fuzz harness (tests/fuzz/fuzz_NAME.c) provides and may use. A harness is
 * built twice (tests/CMakeLists.txt, wisp_fuzzer): as fuzz_NAME_replay in every build, whose
 * main (fuzz_main.c) replays tests/fuzz/corpus/NAME as the ctest unit.fuzz_NAME, and, with
 * -DWISP_FUZZ=ON (clang), as the libFuzzer binary fuzz_NAME that tests/fuzz/run.sh drives. */
#ifndef WISP_FUZZ_H
#define WISP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point: must accept any bytes, never crash, leak or hang. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes the harness's seed inputs into dir (fuzz_NAME_replay --make-seeds DIR). 0 or -1. */
int fuzz_make_seeds(const char *dir);

/* ---- fuzz_support.c: what harnesses share ---------------------------------------------------- */

struct agent;
struct plan;
struct ring;

/* The simulated second the fixture's data starts at, and how many seconds it holds. */
#define FUZZ_DATA_SEC 1800000000LL
#define FUZZ_DATA_SECONDS 120

/* A ring holding a small synthetic node's FUZZ_DATA_SECONDS from FUZZ_DATA_SEC (2 CPUs at
 * 20 Hz, 30 stacks): the same every run. NULL on failure. */
struct ring *fuzz_ring_new(const char *node);

/* A real agent (agent/agent.h) named node whose ring replays a small synthetic node's
 * ring is fuzz_ring_new's. NULL on failure. */
struct agent *fuzz_agent_new(const char *node);

/* The plan of bundled script `name` (scripts/pxl-lua/NAME.lua) run with no arguments at the end
 * of the fixture's data, split; NULL when it does not compile. */
struct plan *fuzz_bundled_plan(const char *name);
/* Its source text (malloc'd, NUL-terminated; *len its length), or NULL. */
char *fuzz_bundled_source(const char *name, size_t *len);

/* One section of fuzz_elf_image: its bytes, and where it would load (0 and no SHF_ALLOC for
 * debug sections). */
struct fuzz_section {
	const char *name;
	const void *data;
	size_t len;
	uint64_t flags, addr;
};

/* A minimal ELF64 x86-64 file image holding these PROGBITS sections (each at an 8-byte aligned
 * offset) and .shstrtab: what the harnesses of file parsers wrap their inputs in. malloc'd, its
 * size in *len; NULL on out-of-memory or more than 16 sections. */
uint8_t *fuzz_elf_image(const struct fuzz_section *secs, int n, size_t *len);

/* Seed writing: dir/name holds the n bytes at p. 0 or -1. */
int fuzz_write_seed(const char *dir, const char *name, const void *p, size_t n);

#endif
