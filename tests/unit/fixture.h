/* fixture.h - deterministic sample data for unit tests: fills a ring with synthetic samples
 * drawn from a small set of processes and stacks, and helpers to run scripts against rings as
 * if each ring were an agent (through the real msgpack wire encoding). Header-only. */
#ifndef WISP_TEST_FIXTURE_H
#define WISP_TEST_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/codec.h"
#include "engine/exec.h"
#include "exec_local.h"
#include "lua/script.h"
#include "ring/ring.h"

#define FIX_T0 1700000000000000000LL /* fixture epoch, ns */

static inline uint64_t fix_rand(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

/* Appends n samples, one every 10 ms from FIX_T0, from a seeded generator: 4 processes, stacks
 * built from a pool of function names (so functions recur across stacks). */
static inline void fix_fill(struct ring *r, uint64_t seed, int n)
{
	static const char *const fns[] = {"main", "run", "parse", "hash", "memcpy", "read", "write",
					  "compress", "poll", "do_syscall_64"};
	static const char *const comms[] = {"api", "worker", "db", "cron"};
	uint64_t s = seed;
	for (int i = 0; i < n; i++) {
		const char *frames[8];
		int depth = 2 + (int)(fix_rand(&s) % 5), pidx = (int)(fix_rand(&s) % 4);
		frames[depth - 1] = "main";
		for (int d = depth - 2; d >= 0; d--)
			frames[d] = fns[1 + fix_rand(&s) % 8];
		struct ring_sample rs = {
			.time_ns = FIX_T0 + (int64_t)i * 10000000LL,
			.pid = 100 + pidx,
			.tid = 100 + pidx * 10 + (int)(fix_rand(&s) % 3),
			.cpu = (int)(fix_rand(&s) % 4),
			.cgroup = 1,
			.count = 1,
			.comm = comms[pidx],
			.frames = frames,
			.nframes = (uint16_t)depth,
			.nkernel = fix_rand(&s) % 5 == 0 ? 1 : 0,
		};
		assert_int_equal(ring_append(r, &rs), 0);
	}
}

static inline struct ring *fix_ring(const char *node, uint64_t seed, int n)
{
	struct ring_config cfg = {64u << 20, node, 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&cfg);
	assert_non_null(r);
	fix_fill(r, seed, n);
	return r;
}

static inline char *fix_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc(n + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* A scan source over several rings: "one node holding all the data". */
struct fix_multi {
	struct ring **rings;
	int n;
};

static inline int fix_multi_scan(void *ud, const char *table, int64_t t0, int64_t t1, int flags,
				 scan_chunk_fn *chunk, void *arg)
{
	struct fix_multi *m = ud;
	for (int i = 0; i < m->n; i++) {
		int rc = ring_scan(m->rings[i], table, t0, t1, flags, chunk, arg);
		if (rc)
			return rc;
	}
	return 0;
}

/* Compiles a script (args: NULL-terminated) with "now" at the end of the fixture data. */
static inline struct plan *fix_compile(const char *name, const char *src, const char *const *argv, char *err,
				size_t errlen)
{
	int argc = 0;
	while (argv && argv[argc])
		argc++;
	struct script_input in = {name, src, strlen(src), argv, argc, FIX_T0 + 3600LL * 1000000000LL};
	struct plan *p = NULL;
	char *log = NULL;
	if (script_compile(&in, NULL, &p, &log, err, errlen) < 0)
		return NULL;
	free(log);
	return p;
}

/* Runs a plan the distributed way: each ring is an agent; every bridge result goes through the
 * msgpack codec into the coordinator's qctx; then exec_finish. outs[d] owned by the caller. */
static inline int fix_run_distributed(struct qctx *coord, struct plan *p, struct ring **rings, int n,
			       struct table **outs, bool *trunc)
{
	assert_int_equal(plan_split(p), 0);
	struct table **in[p->nbridges ? p->nbridges : 1];
	int rc = 0;
	for (int b = 0; b < p->nbridges; b++)
		in[b] = calloc(n, sizeof(struct table *));
	for (int a = 0; a < n && rc == 0; a++) {
		/* The agent side decodes the plan from its wire form, like a real agent. */
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		codec_pack_plan(&pk, p);
		msgpack_unpacked u;
		msgpack_unpacked_init(&u);
		assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
		struct plan *ap = NULL;
		char err[256];
		assert_int_equal(codec_unpack_plan(&u.data, &ap, err, sizeof(err)), 0);
		assert_int_equal(plan_split(ap), 0);
		assert_int_equal(ap->nbridges, p->nbridges);
		struct qctx aq;
		qctx_init(&aq);
		struct scan_source src = {ring_scan, rings[a]};
		msgpack_sbuffer rb;
		msgpack_sbuffer_init(&rb);
		msgpack_packer rp;
		msgpack_packer_init(&rp, &rb, msgpack_sbuffer_write);
		msgpack_pack_array(&rp, ap->nbridges);
		for (int b = 0; b < ap->nbridges && rc == 0; b++) {
			struct table *t = NULL;
			rc = exec_bridge(&aq, ap, &ap->bridges[b], &src, &t);
			if (rc == 0)
				codec_pack_table(&rp, t);
			table_free(t);
		}
		if (rc == 0) {
			msgpack_unpacked ru;
			msgpack_unpacked_init(&ru);
			assert_int_equal(msgpack_unpack_next(&ru, rb.data, rb.size, NULL), MSGPACK_UNPACK_SUCCESS);
			for (int b = 0; b < p->nbridges; b++)
				assert_int_equal(codec_unpack_table(coord, &ru.data.via.array.ptr[b], &in[b][a]), 0);
			msgpack_unpacked_destroy(&ru);
		} else {
			qctx_fail(coord, "%s", aq.err);
		}
		msgpack_sbuffer_destroy(&rb);
		qctx_destroy(&aq);
		plan_free(ap);
		msgpack_unpacked_destroy(&u);
		msgpack_sbuffer_destroy(&sb);
	}
	if (rc == 0)
		rc = exec_finish(coord, p, (struct table *const *const *)in, n, outs, trunc);
	for (int b = 0; b < p->nbridges; b++) {
		for (int a = 0; a < n; a++)
			table_free(in[b][a]);
		free(in[b]);
	}
	return rc;
}

#endif
