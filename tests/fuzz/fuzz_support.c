/* fuzz_support.c - the fixtures harnesses share (see fuzz.h): an agent over a fixed synthetic
 * ring, the plans of the bundled scripts, seed files. */
#include "fuzz.h"
#include "agent/agent.h"
#include "engine/plan.h"
#include "lua/script.h"
#include "ring/ring.h"
#include "ring/snapshot.h"
#include "ring/synthetic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t put = fwrite(p, 1, n, f);
	return fclose(f) == 0 && put == n ? 0 : -1;
}

int fuzz_write_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return write_file(path, p, n);
}

struct ring *fuzz_ring_new(const char *node)
{
	struct synth_config sc = {2, 20, 30, 4, 8, 7, 1.0, 0, 0};
	struct ring_config cfg = {16u << 20, node, 0};
	struct ring *r = ring_new(&cfg);
	struct synth *s = r ? synth_new(&sc, r) : NULL;
	if (!s || synth_fill(s, FUZZ_DATA_SEC, FUZZ_DATA_SECONDS) < 0) {
		ring_free(r);
		r = NULL;
	}
	synth_free(s); /* the ring holds what it interned */
	return r;
}

/* The fixture's ring as a snapshot file at path. 0 or -1. */
static int write_fixture(const char *path)
{
	struct ring *r = fuzz_ring_new("fixture");
	void *buf = NULL;
	size_t len;
	char err[256];
	int rc = -1;
	if (r && ring_snapshot(r, INT64_MIN, INT64_MAX, &buf, &len, err, sizeof(err)) == 0)
		rc = write_file(path, buf, len);
	free(buf);
	ring_free(r);
	return rc;
}

struct agent *fuzz_agent_new(const char *node)
{
	char path[64], spec[80], err[512];
	snprintf(path, sizeof(path), "/tmp/wisp-fuzz-fixture.%d", (int)getpid());
	snprintf(spec, sizeof(spec), "replay:%s", path);
	struct agent_config ac = {node, 32u << 20, spec, {0, 0, false, 0}};
	struct agent *a = write_fixture(path) == 0 ? agent_new(&ac, err, sizeof(err)) : NULL;
	unlink(path);
	if (!a)
		fprintf(stderr, "fuzz: cannot make the fixture agent: %s\n", err);
	return a;
}

char *fuzz_bundled_source(const char *name, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.lua", WISP_SCRIPTS_DIR, name);
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long sz = -1;
	if (f && fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)sz + 1)) && fread(buf, 1, (size_t)sz, f) == (size_t)sz) {
		buf[sz] = '\0';
		*len = (size_t)sz;
	} else {
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	return buf;
}

struct plan *fuzz_bundled_plan(const char *name)
{
	size_t len;
	char *src = fuzz_bundled_source(name, &len);
	struct script_input in = {name, src, len, NULL, 0, (FUZZ_DATA_SEC + FUZZ_DATA_SECONDS) * 1000000000LL};
	struct script_limits lim = SCRIPT_DEFAULT_LIMITS;
	struct plan *p = NULL;
	char err[512];
	if (src && (script_compile(&in, &lim, &p, NULL, err, sizeof(err)) < 0 || plan_split(p) < 0)) {
		plan_free(p);
		p = NULL;
	}
	free(src);
	return p;
}
