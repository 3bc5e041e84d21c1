/* proto.c - packing and reading the wire protocol's messages (see proto.h and docs/PROTOCOL.md).
 * Every message is a map whose first field is "type"; begin() writes that envelope, and each
 * packer states how many fields follow, so a message's shape is visible in one place. */
#include "proto.h"
#include "engine/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <zstd.h>

#ifndef WISP_VERSION
#error "WISP_VERSION comes from the build (the project version in CMakeLists.txt)"
#endif

const char *proto_wisp_version(void)
{
	return WISP_VERSION;
}

static const char *const type_names[] = {
	[PT_UNKNOWN] = "", [PT_HELLO] = "hello", [PT_WELCOME] = "welcome", [PT_HEARTBEAT] = "heartbeat",
	[PT_RUN] = "run", [PT_SNAPSHOT] = "snapshot", [PT_AGENTS] = "agents", [PT_EXEC] = "exec",
	[PT_RESULT] = "result", [PT_SNAPSHOTS] = "snapshots", [PT_ERROR] = "error",
	[PT_SUBSCRIBE] = "subscribe", [PT_UNSUBSCRIBE] = "unsubscribe", [PT_TICK] = "tick",
};
#define NTYPES (int)(sizeof(type_names) / sizeof(type_names[0]))

/* The envelope: a map of 1 + nfields entries, "type" first. */
static void begin(msgpack_packer *pk, enum proto_type t, int nfields)
{
	msgpack_pack_map(pk, 1 + nfields);
	mp_pack_str(pk, "type");
	mp_pack_str(pk, type_names[t]);
}

static void field_str(msgpack_packer *pk, const char *key, const char *v)
{
	mp_pack_str(pk, key);
	mp_pack_str(pk, v ? v : "");
}

static void field_int(msgpack_packer *pk, const char *key, int64_t v)
{
	mp_pack_str(pk, key);
	msgpack_pack_int64(pk, v);
}

static void field_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
	mp_pack_str(pk, key);
	msgpack_pack_uint64(pk, v);
}

static void field_double(msgpack_packer *pk, const char *key, double v)
{
	mp_pack_str(pk, key);
	msgpack_pack_double(pk, v);
}

static void pack_strings(msgpack_packer *pk, char *const *v, int n)
{
	msgpack_pack_array(pk, n);
	for (int i = 0; i < n; i++)
		mp_pack_str(pk, v[i]);
}

static int64_t get_int(const msgpack_object *o, const char *key, int64_t dflt)
{
	int64_t v;
	return mp_int(mp_get(o, key), &v) ? v : dflt;
}

static double get_double(const msgpack_object *o, const char *key)
{
	double v;
	return mp_double(mp_get(o, key), &v) ? v : 0;
}

/* A positive limit from the request, clamped to max; dflt when absent or not positive. */
static int64_t get_limit(const msgpack_object *o, const char *key, int64_t dflt, int64_t max)
{
	int64_t v = get_int(o, key, 0);
	return v <= 0 ? dflt : v > max ? max : v;
}

static const msgpack_object *get_array(const msgpack_object *o, const char *key)
{
	const msgpack_object *a = mp_get(o, key);
	return a && a->type == MSGPACK_OBJECT_ARRAY ? a : NULL;
}

static const msgpack_object *get_map(const msgpack_object *o, const char *key)
{
	const msgpack_object *a = mp_get(o, key);
	return a && a->type == MSGPACK_OBJECT_MAP ? a : NULL;
}

/* ---- messages -------------------------------------------------------------------------------- */

int proto_msg_parse(struct proto_msg *m, const char *data, size_t len)
{
	memset(m, 0, sizeof(*m));
	msgpack_unpacked_init(&m->u);
	if (!mp_unpack(&m->u, data, len) || m->u.data.type != MSGPACK_OBJECT_MAP ||
	    !mp_str(mp_get(&m->u.data, "type"), m->type_name, sizeof(m->type_name)))
		return -1;
	m->obj = &m->u.data;
	mp_int(mp_get(m->obj, "id"), &m->id);
	for (int t = 1; t < NTYPES; t++)
		if (!strcmp(type_names[t], m->type_name))
			m->type = (enum proto_type)t;
	return 0;
}

void proto_msg_destroy(struct proto_msg *m)
{
	msgpack_unpacked_destroy(&m->u);
}

void proto_buf_init(struct proto_buf *b)
{
	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

void proto_buf_destroy(struct proto_buf *b)
{
	msgpack_sbuffer_destroy(&b->sb);
}

/* ---- agent status ---------------------------------------------------------------------------- */

/* Every numeric field of a status, once: packed and read by name, so a field added to struct
 * agent_status and here travels both ways (a missing one reads as 0: older agents). */
enum status_kind { SF_U64, SF_I64, SF_INT };
#define F(name, kind) {#name, offsetof(struct agent_status, name), kind}
static const struct status_field {
	const char *name;
	size_t off;
	enum status_kind kind;
} status_fields[] = {
	F(rows, SF_U64),
	F(samples, SF_U64),
	F(ring_bytes, SF_U64),
	F(ring_budget, SF_U64),
	F(evicted_rows, SF_U64),
	F(stacks, SF_U64),
	F(oldest_ns, SF_I64),
	F(newest_ns, SF_I64),
	F(hz, SF_INT),
	F(cpus, SF_INT),
	F(bpf_samples, SF_U64),
	F(lost_samples, SF_U64),
	F(truncated_unreadable, SF_U64),
	F(truncated_depth, SF_U64),
	F(truncated_no_info, SF_U64),
	F(fp_fallback_samples, SF_U64),
	F(unwind_files, SF_U64),
	F(unwind_bytes, SF_U64),
	F(unwind_rows, SF_U64),
	F(unwind_rows_cap, SF_U64),
	F(unwind_build_ns, SF_U64),
	F(unwind_cfi_bytes, SF_U64),
	F(py_samples, SF_U64),
	F(py_walk_ns, SF_U64),
	F(py_frames, SF_U64),
	F(py_code_gone, SF_U64),
	F(py_code_failed, SF_U64),
	F(export_cursor_ns, SF_I64),
	F(export_every_ns, SF_I64),
	F(export_intervals, SF_U64),
	F(export_failures, SF_U64),
	F(kube_fetches, SF_U64),
	F(kube_fetch_failures, SF_U64),
	F(kube_pods, SF_U64),
	F(kube_processes, SF_U64),
	F(kube_unnamed, SF_U64),
	F(offcpu_switches, SF_U64),
	F(offcpu_periods, SF_U64),
	F(offcpu_lost, SF_U64),
	F(offcpu_unseen, SF_U64),
	F(offcpu_hook_pct, SF_U64),
	F(offcpu_rows, SF_U64),
	F(offcpu_ring_bytes, SF_U64),
	F(frames_named, SF_U64),
	F(frames_looked_up, SF_U64),
	F(stacks_interned, SF_U64),
	F(stacks_looked_up, SF_U64),
	F(memo_bytes, SF_U64),
};
#undef F
#define NSTATUS_FIELDS (sizeof(status_fields) / sizeof(status_fields[0]))

void proto_pack_status(msgpack_packer *pk, const struct agent_status *st)
{
	const char *base = (const char *)st;
	msgpack_pack_map(pk, NSTATUS_FIELDS + 1); /* and the version */
	for (size_t i = 0; i < NSTATUS_FIELDS; i++) {
		const struct status_field *sf = &status_fields[i];
		switch (sf->kind) {
		case SF_U64: field_uint(pk, sf->name, *(const uint64_t *)(base + sf->off)); break;
		case SF_I64: field_int(pk, sf->name, *(const int64_t *)(base + sf->off)); break;
		case SF_INT: field_int(pk, sf->name, *(const int *)(base + sf->off)); break;
		}
	}
	field_str(pk, "version", st->version[0] ? st->version : WISP_VERSION);
}

void proto_read_status(const msgpack_object *o, struct agent_status *st)
{
	char *base = (char *)st;
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < NSTATUS_FIELDS; i++) {
		const struct status_field *sf = &status_fields[i];
		int64_t v = get_int(o, sf->name, 0);
		switch (sf->kind) {
		case SF_U64: *(uint64_t *)(base + sf->off) = (uint64_t)v; break;
		case SF_I64: *(int64_t *)(base + sf->off) = v; break;
		case SF_INT: *(int *)(base + sf->off) = (int)v; break;
		}
	}
	mp_str(mp_get(o, "version"), st->version, sizeof(st->version));
}

/* ---- session setup --------------------------------------------------------------------------- */

int proto_read_hello(const msgpack_object *o, struct hello *h, char *err, size_t errlen)
{
	char role[16] = "";
	memset(h, 0, sizeof(*h));
	mp_str(mp_get(o, "role"), role, sizeof(role));
	if (!strcmp(role, "client"))
		return 0;
	if (!strcmp(role, "agent") && mp_str(mp_get(o, "node"), h->node, sizeof(h->node)) && h->node[0]) {
		h->agent = true;
		mp_str(mp_get(o, "instance"), h->instance, sizeof(h->instance));
		h->status = get_map(o, "status");
		return 0;
	}
	snprintf(err, errlen, "hello: role must be \"client\" or \"agent\" (agents need a node name)");
	return -1;
}

void proto_pack_hello_agent(msgpack_packer *pk, const char *node, const struct agent_status *st, const char *instance)
{
	begin(pk, PT_HELLO, 4);
	field_str(pk, "role", "agent");
	field_str(pk, "node", node);
	field_str(pk, "instance", instance);
	mp_pack_str(pk, "status");
	proto_pack_status(pk, st);
}

void proto_pack_heartbeat(msgpack_packer *pk, const struct agent_status *st)
{
	begin(pk, PT_HEARTBEAT, 1);
	mp_pack_str(pk, "status");
	proto_pack_status(pk, st);
}

const msgpack_object *proto_heartbeat_status(const msgpack_object *o)
{
	return get_map(o, "status");
}

void proto_pack_welcome(msgpack_packer *pk, const char *coordinator)
{
	begin(pk, PT_WELCOME, 1);
	field_str(pk, "coordinator", coordinator);
}

void proto_pack_error(msgpack_packer *pk, int64_t id, const char *message, const char *log)
{
	begin(pk, PT_ERROR, log ? 3 : 2);
	field_int(pk, "id", id);
	field_str(pk, "message", message);
	if (log)
		field_str(pk, "log", log);
}

/* ---- client requests ------------------------------------------------------------------------- */

static void pack_run(msgpack_packer *pk, enum proto_type type, const struct run_request *r)
{
	bool live = type == PT_SUBSCRIBE;
	begin(pk, type, live ? 9 : 7);
	if (live) {
		field_int(pk, "every_ms", r->every_ms);
		field_int(pk, "window_ms", r->window_ms);
	}
	field_int(pk, "id", r->id);
	field_str(pk, "name", r->name);
	mp_pack_str(pk, "script");
	msgpack_pack_str(pk, r->script_len);
	msgpack_pack_str_body(pk, r->script, r->script_len);
	mp_pack_str(pk, "args");
	pack_strings(pk, (char *const *)r->argv, r->argc);
	field_int(pk, "max_rows", r->max_rows);
	field_int(pk, "mem_limit_mb", r->mem_limit_mb);
	field_int(pk, "timeout_ms", r->timeout_ms);
}

void proto_pack_run(msgpack_packer *pk, const struct run_request *r)
{
	pack_run(pk, PT_RUN, r);
}

void proto_pack_subscribe(msgpack_packer *pk, const struct run_request *r)
{
	pack_run(pk, PT_SUBSCRIBE, r);
}

void proto_pack_unsubscribe(msgpack_packer *pk, int64_t id)
{
	begin(pk, PT_UNSUBSCRIBE, 1);
	field_int(pk, "id", id);
}

int proto_read_run(const msgpack_object *o, int64_t id, struct run_request *r, char *err, size_t errlen)
{
	const msgpack_object *script = mp_get(o, "script");
	memset(r, 0, sizeof(*r));
	r->id = id;
	if (!mp_str(mp_get(o, "name"), r->name_buf, sizeof(r->name_buf)))
		snprintf(r->name_buf, sizeof(r->name_buf), "script.lua");
	r->name = r->name_buf;
	r->max_rows = get_limit(o, "max_rows", QUERY_MAX_ROWS, INT64_MAX);
	r->timeout_ms = get_limit(o, "timeout_ms", QUERY_TIMEOUT_MS, QUERY_MAX_TIMEOUT_MS);
	r->mem_limit_mb = get_limit(o, "mem_limit_mb", QUERY_MEM_MB, QUERY_MAX_MEM_MB);
	r->args = get_array(o, "args");
	r->window_ms = get_limit(o, "window_ms", LIVE_WINDOW_MS, LIVE_MAX_WINDOW_MS);
	r->every_ms = get_limit(o, "every_ms", LIVE_EVERY_MS, r->window_ms);
	if (r->every_ms < LIVE_MIN_EVERY_MS)
		r->every_ms = LIVE_MIN_EVERY_MS;
	if (r->window_ms < r->every_ms)
		r->window_ms = r->every_ms;
	if (!script || script->type != MSGPACK_OBJECT_STR) {
		snprintf(err, errlen, "run: the request has no script");
		return -1;
	}
	r->script = script->via.str.ptr;
	r->script_len = script->via.str.size;
	return 0;
}

char **proto_read_args(const msgpack_object *args, int *argc)
{
	uint32_t n = args && args->via.array.size <= 256 ? args->via.array.size : 0;
	char **argv = calloc(n + 1, sizeof(char *));
	*argc = 0;
	for (uint32_t i = 0; argv && i < n; i++) {
		const msgpack_object *a = &args->via.array.ptr[i];
		if (a->type == MSGPACK_OBJECT_STR && (argv[*argc] = strndup(a->via.str.ptr, a->via.str.size)))
			(*argc)++;
	}
	return argv;
}

void proto_pack_snapshot_request(msgpack_packer *pk, const struct snapshot_request *r)
{
	begin(pk, PT_SNAPSHOT, 4);
	field_int(pk, "id", r->id);
	field_str(pk, "start", r->start);
	field_str(pk, "end", r->end);
	field_int(pk, "timeout_ms", r->timeout_ms);
}

void proto_read_snapshot_request(const msgpack_object *o, int64_t id, struct snapshot_request *r)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->start = mp_str(mp_get(o, "start"), r->start_buf, sizeof(r->start_buf)) ? r->start_buf : SNAPSHOT_START;
	r->end = mp_str(mp_get(o, "end"), r->end_buf, sizeof(r->end_buf)) ? r->end_buf : SNAPSHOT_END;
	r->timeout_ms = get_limit(o, "timeout_ms", SNAPSHOT_TIMEOUT_MS, QUERY_MAX_TIMEOUT_MS);
}

void proto_pack_agents_request(msgpack_packer *pk, int64_t id)
{
	begin(pk, PT_AGENTS, 1);
	field_int(pk, "id", id);
}

/* ---- coordinator <-> agent ------------------------------------------------------------------- */

void proto_pack_exec_ranges(msgpack_packer *pk, uint64_t qid, int64_t timeout_ms, int64_t mem_limit_mb,
			    const struct plan *p, const int64_t (*ranges)[2], int nranges)
{
	begin(pk, PT_EXEC, nranges ? 6 : 5);
	field_uint(pk, "qid", qid);
	field_int(pk, "timeout_ms", timeout_ms);
	field_int(pk, "mem_limit_mb", mem_limit_mb);
	mp_pack_str(pk, "zstd"); /* this coordinator reads tables_zstd */
	msgpack_pack_true(pk);
	mp_pack_str(pk, "plan");
	codec_pack_plan(pk, p);
	if (!nranges)
		return;
	mp_pack_str(pk, "ranges");
	msgpack_pack_array(pk, nranges);
	for (int i = 0; i < nranges; i++) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_int64(pk, ranges[i][0]);
		msgpack_pack_int64(pk, ranges[i][1]);
	}
}

void proto_pack_exec(msgpack_packer *pk, uint64_t qid, int64_t timeout_ms, int64_t mem_limit_mb, const struct plan *p)
{
	proto_pack_exec_ranges(pk, qid, timeout_ms, mem_limit_mb, p, NULL, 0);
}

void proto_pack_snapshot_exec(msgpack_packer *pk, uint64_t qid, int64_t t0, int64_t t1)
{
	begin(pk, PT_SNAPSHOT, 3);
	field_uint(pk, "qid", qid);
	field_int(pk, "t0", t0);
	field_int(pk, "t1", t1);
}

int proto_read_exec(const struct proto_msg *m, struct exec_request *e, char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	e->qid = get_int(m->obj, "qid", 0);
	if (m->type == PT_SNAPSHOT) {
		e->snapshot = true;
		if (!mp_int(mp_get(m->obj, "t0"), &e->t0) || !mp_int(mp_get(m->obj, "t1"), &e->t1) || e->t1 <= e->t0) {
			snprintf(err, errlen, "snapshot: bad time range");
			return -1;
		}
		return 0;
	}
	if (m->type != PT_EXEC) {
		snprintf(err, errlen, "not an exec or snapshot request");
		return -1;
	}
	e->timeout_ms = get_limit(m->obj, "timeout_ms", QUERY_TIMEOUT_MS, QUERY_MAX_TIMEOUT_MS);
	e->mem_limit_mb = get_limit(m->obj, "mem_limit_mb", QUERY_MEM_MB, QUERY_MAX_MEM_MB);
	e->plan = mp_get(m->obj, "plan");
	const msgpack_object *z = mp_get(m->obj, "zstd");
	e->zstd = z && z->type == MSGPACK_OBJECT_BOOLEAN && z->via.boolean;
	const msgpack_object *ranges = mp_get(m->obj, "ranges");
	if (!ranges)
		return 0;
	if (ranges->type != MSGPACK_OBJECT_ARRAY || ranges->via.array.size > EXEC_MAX_RANGES) {
		snprintf(err, errlen, "exec: ranges must be an array of at most %d [t0, t1] pairs", EXEC_MAX_RANGES);
		return -1;
	}
	for (uint32_t i = 0; i < ranges->via.array.size; i++) {
		const msgpack_object *r = &ranges->via.array.ptr[i];
		int64_t *t = e->ranges[e->nranges];
		if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 2 || !mp_int(&r->via.array.ptr[0], &t[0]) ||
		    !mp_int(&r->via.array.ptr[1], &t[1]) || t[1] <= t[0]) {
			snprintf(err, errlen, "exec: range %u is not a time range [t0, t1) with t0 < t1", i);
			return -1;
		}
		e->nranges++;
	}
	return 0;
}

static void pack_tables(msgpack_packer *pk, struct table *const *tables, int n)
{
	msgpack_pack_array(pk, n);
	for (int b = 0; b < n; b++)
		codec_pack_table(pk, tables[b]);
}

/* packed (size bytes: the msgpack array of a result's tables) in zstd: NULL when it is short
 * (PROTO_ZSTD_MIN), does not shrink, or memory runs out (it goes plain). Else malloc'd, *len
 * bytes. */
static void *zstd_of(const char *packed, size_t size, size_t *len)
{
	void *z;
	if (size < PROTO_ZSTD_MIN || !packed || !(z = malloc(ZSTD_compressBound(size))))
		return NULL;
	*len = ZSTD_compress(z, ZSTD_compressBound(size), packed, size, PROTO_ZSTD_LEVEL);
	if (ZSTD_isError(*len) || *len >= size) {
		free(z);
		return NULL;
	}
	return z;
}

void proto_pack_result_tables(msgpack_packer *pk, int64_t qid, const char *node, int64_t exec_us,
			      struct table *const *tables, int n, bool zstd)
{
	if (!zstd) {
		begin(pk, PT_RESULT, 4);
		field_int(pk, "qid", qid);
		field_str(pk, "node", node);
		field_int(pk, "exec_us", exec_us);
		mp_pack_str(pk, "tables");
		pack_tables(pk, tables, n);
		return;
	}
	/* Packed once, then sent compressed or as it is. */
	msgpack_sbuffer sb;
	msgpack_packer tp;
	size_t len = 0;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&tp, &sb, msgpack_sbuffer_write);
	pack_tables(&tp, tables, n);
	void *z = zstd_of(sb.data, sb.size, &len);
	begin(pk, PT_RESULT, z ? 5 : 4);
	field_int(pk, "qid", qid);
	field_str(pk, "node", node);
	field_int(pk, "exec_us", exec_us);
	if (z) {
		field_uint(pk, "tables_size", sb.size);
		mp_pack_str(pk, "tables_zstd");
		mp_pack_bin(pk, z, len);
	} else {
		mp_pack_str(pk, "tables");
		pk->callback(pk->data, sb.data, sb.size);
	}
	free(z);
	msgpack_sbuffer_destroy(&sb);
}

char *proto_result_unzstd(const struct agent_result *r, size_t max, size_t *size, char *err, size_t errlen)
{
	char *buf = NULL;
	if (!r->tables_size || r->tables_size > max) {
		snprintf(err, errlen, "compressed tables of %llu bytes (at most %zu MiB here)",
			 (unsigned long long)r->tables_size, max >> 20);
		return NULL;
	}
	if (!(buf = malloc(r->tables_size))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	size_t n = ZSTD_decompress(buf, r->tables_size, r->tables_zstd, r->tables_zstd_len);
	if (ZSTD_isError(n) || n != r->tables_size) {
		snprintf(err, errlen, "malformed compressed tables (%s)",
			 ZSTD_isError(n) ? ZSTD_getErrorName(n) : "not the size they claim");
		free(buf);
		return NULL;
	}
	*size = n;
	return buf;
}

void proto_pack_result_snapshot(msgpack_packer *pk, int64_t qid, const char *node, const void *buf, size_t len)
{
	begin(pk, PT_RESULT, 3);
	field_int(pk, "qid", qid);
	field_str(pk, "node", node);
	mp_pack_str(pk, "snapshot");
	mp_pack_bin(pk, buf, len);
}

void proto_pack_result_error(msgpack_packer *pk, int64_t qid, const char *node, const char *err)
{
	begin(pk, PT_RESULT, 3);
	field_int(pk, "qid", qid);
	field_str(pk, "node", node);
	field_str(pk, "error", err);
}

void proto_read_agent_result(const msgpack_object *o, struct agent_result *r)
{
	const msgpack_object *snap = mp_get(o, "snapshot");
	memset(r, 0, sizeof(*r));
	r->qid = get_int(o, "qid", 0);
	mp_str(mp_get(o, "node"), r->node, sizeof(r->node));
	if (mp_str(mp_get(o, "error"), r->errbuf, sizeof(r->errbuf)))
		r->error = r->errbuf;
	r->tables = get_array(o, "tables");
	r->exec_us = get_int(o, "exec_us", -1);
	const msgpack_object *z = mp_get(o, "tables_zstd");
	if (z && z->type == MSGPACK_OBJECT_BIN) {
		r->tables_zstd = z->via.bin.ptr;
		r->tables_zstd_len = z->via.bin.size;
		r->tables_size = (uint64_t)get_int(o, "tables_size", 0);
	}
	if (snap && snap->type == MSGPACK_OBJECT_BIN) {
		r->snapshot = snap->via.bin.ptr;
		r->snapshot_len = snap->via.bin.size;
	}
}

/* ---- coordinator -> client ------------------------------------------------------------------- */

static void pack_stats(msgpack_packer *pk, const struct query_stats *st)
{
	msgpack_pack_map(pk, 10);
	mp_pack_str(pk, "agents");
	msgpack_pack_int(pk, st->agents);
	mp_pack_str(pk, "answered");
	msgpack_pack_int(pk, st->answered);
	field_double(pk, "compile_ms", st->compile_ms);
	field_double(pk, "agents_ms", st->agents_ms);
	field_double(pk, "slowest_exec_ms", st->slowest_exec_ms);
	field_str(pk, "slowest_node", st->slowest_node);
	field_uint(pk, "bytes_in", st->bytes_in);
	field_double(pk, "merge_ms", st->merge_ms);
	field_uint(pk, "rows", st->rows);
	field_double(pk, "ms", st->ms);
}

/* The four fields a result and a tick share: tables, warnings, log, stats. */
static void pack_outcome(msgpack_packer *pk, struct table *const *tables, int n, char *const *warnings, int nwarn,
			 const char *log, const struct query_stats *st)
{
	mp_pack_str(pk, "tables");
	msgpack_pack_array(pk, n);
	for (int d = 0; d < n; d++)
		codec_pack_table(pk, tables[d]);
	mp_pack_str(pk, "warnings");
	pack_strings(pk, warnings, nwarn);
	field_str(pk, "log", log);
	mp_pack_str(pk, "stats");
	pack_stats(pk, st);
}

void proto_pack_result(msgpack_packer *pk, int64_t id, struct table *const *tables, int n, char *const *warnings,
		       int nwarn, const char *log, const struct query_stats *st)
{
	begin(pk, PT_RESULT, 5);
	field_int(pk, "id", id);
	pack_outcome(pk, tables, n, warnings, nwarn, log, st);
}

void proto_pack_tick_body(msgpack_packer *pk, const struct live_tick *t, struct table *const *tables, int n,
			  char *const *warnings, int nwarn, const char *log, const struct query_stats *st)
{
	_Static_assert(PROTO_TICK_BODY_FIELDS == 8, "the fields below");
	field_uint(pk, "tick", t->tick);
	field_int(pk, "time", t->time_ns);
	field_int(pk, "window_start", t->window_start_ns);
	field_int(pk, "watchers", t->watchers);
	pack_outcome(pk, tables, n, warnings, nwarn, log, st);
}

void proto_pack_tick_head(msgpack_packer *pk, int64_t id, uint64_t skipped)
{
	msgpack_pack_map(pk, 3 + PROTO_TICK_BODY_FIELDS);
	mp_pack_str(pk, "type");
	mp_pack_str(pk, type_names[PT_TICK]);
	field_int(pk, "id", id);
	field_uint(pk, "skipped", skipped);
}

void proto_read_tick(const msgpack_object *o, struct live_tick *t)
{
	memset(t, 0, sizeof(*t));
	t->tick = (uint64_t)get_int(o, "tick", 0);
	t->time_ns = get_int(o, "time", 0);
	t->window_start_ns = get_int(o, "window_start", 0);
	t->watchers = (int)get_int(o, "watchers", 0);
	t->skipped = (uint64_t)get_int(o, "skipped", 0);
}

void proto_read_stats(const msgpack_object *o, struct query_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->agents = (int)get_int(o, "agents", 0);
	st->answered = (int)get_int(o, "answered", 0);
	st->compile_ms = get_double(o, "compile_ms");
	st->agents_ms = get_double(o, "agents_ms");
	st->slowest_exec_ms = get_double(o, "slowest_exec_ms");
	mp_str(mp_get(o, "slowest_node"), st->slowest_node, sizeof(st->slowest_node));
	st->bytes_in = (uint64_t)get_int(o, "bytes_in", 0);
	st->merge_ms = get_double(o, "merge_ms");
	st->rows = (uint64_t)get_int(o, "rows", 0);
	st->ms = get_double(o, "ms");
}

void proto_pack_agents(msgpack_packer *pk, int64_t id, const char *coordinator, const struct agent_entry *a, int n)
{
	begin(pk, PT_AGENTS, 3);
	field_int(pk, "id", id);
	field_str(pk, "coordinator", coordinator);
	mp_pack_str(pk, "agents");
	msgpack_pack_array(pk, n);
	for (int i = 0; i < n; i++) {
		msgpack_pack_map(pk, 6);
		field_str(pk, "node", a[i].node);
		field_str(pk, "kind", a[i].kind);
		field_str(pk, "address", a[i].address);
		field_double(pk, "connected_s", a[i].connected_s);
		field_double(pk, "last_seen_s", a[i].last_seen_s);
		mp_pack_str(pk, "status");
		if (a[i].status_len)
			msgpack_sbuffer_write(pk->data, a[i].status, a[i].status_len);
		else
			msgpack_pack_map(pk, 0);
	}
}

void proto_pack_snapshots(msgpack_packer *pk, int64_t id, const struct snapshot_file *files, int n,
			  char *const *warnings, int nwarn)
{
	begin(pk, PT_SNAPSHOTS, 3);
	field_int(pk, "id", id);
	mp_pack_str(pk, "files");
	msgpack_pack_array(pk, n);
	for (int i = 0; i < n; i++) {
		msgpack_pack_map(pk, 2);
		field_str(pk, "node", files[i].node);
		mp_pack_str(pk, "data");
		mp_pack_bin(pk, files[i].data, files[i].len);
	}
	mp_pack_str(pk, "warnings");
	pack_strings(pk, warnings, nwarn);
}

/* ---- reading answers ------------------------------------------------------------------------- */

void proto_read_answer(const struct proto_msg *m, struct proto_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->tables = get_array(m->obj, "tables");
	a->warnings = get_array(m->obj, "warnings");
	a->stats = get_map(m->obj, "stats");
	a->agents = get_array(m->obj, "agents");
	a->files = get_array(m->obj, "files");
	mp_str(mp_get(m->obj, "message"), a->message, sizeof(a->message));
	mp_str(mp_get(m->obj, "log"), a->log, sizeof(a->log));
}

void proto_read_agent_info(const msgpack_object *o, struct agent_info *a)
{
	memset(a, 0, sizeof(*a));
	mp_str(mp_get(o, "node"), a->node, sizeof(a->node));
	mp_str(mp_get(o, "kind"), a->kind, sizeof(a->kind));
	mp_str(mp_get(o, "address"), a->address, sizeof(a->address));
	a->connected_s = get_double(o, "connected_s");
	a->last_seen_s = get_double(o, "last_seen_s");
	proto_read_status(mp_get(o, "status"), &a->status);
}

bool proto_read_snapshot_file(const msgpack_object *o, char *node, size_t nodelen, const void **data, size_t *len)
{
	const msgpack_object *d = mp_get(o, "data");
	if (!d || d->type != MSGPACK_OBJECT_BIN)
		return false;
	if (!mp_str(mp_get(o, "node"), node, nodelen))
		snprintf(node, nodelen, "node");
	*data = d->via.bin.ptr;
	*len = d->via.bin.size;
	return true;
}

bool proto_string_at(const msgpack_object *arr, uint32_t i, char *buf, size_t len)
{
	return arr && arr->type == MSGPACK_OBJECT_ARRAY && i < arr->via.array.size && mp_str(&arr->via.array.ptr[i], buf, len);
}
