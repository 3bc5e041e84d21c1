/* proto.h - the wire protocol between clients, the coordinator and agents: one websocket
 * subprotocol (PROTO_NAME), binary messages, each one msgpack map whose "type" names it. This
 * module is the only place that knows message and field names; the coordinator, the agent's link
 * and the CLI pack and read messages through it. Payloads inside messages (tables, plans) are
 * the engine's codecs (engine/codec.h). docs/PROTOCOL.md describes every message.
 *
 *   client -> coordinator   run, subscribe, unsubscribe, snapshot, agents, (hello role=client)
 *   coordinator -> client   result, tick, snapshots, agents, error
 *   agent -> coordinator    hello role=agent, heartbeat, result
 *   coordinator -> agent    welcome, exec, snapshot, error
 *
 * Readers never trust their input: a missing or mistyped field gets its default (documented at
 * each struct) or makes the reader fail with a message. Strings a reader returns point into the
 * unpacked message and live as long as it. */
#ifndef WISP_PROTO_H
#define WISP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mpack.h"

struct plan;
struct table;

#define PROTO_NAME "wisp.v1"                /* websocket subprotocol; bumped on incompatible change */
#define PROTO_MAX_MESSAGE (256u << 20)      /* largest message the coordinator takes from an agent */
#define PROTO_CLIENT_MAX_MESSAGE (16u << 20) /* ... and from a client (a script and its arguments) */
#define PROTO_MAX_ANSWER (1u << 30)         /* largest answer a client takes */

/* Query limits: the defaults of fields a request may omit, and their bounds. The CLI's defaults
 * are these too. */
#define QUERY_TIMEOUT_MS 10000              /* run: the query's deadline */
#define QUERY_MAX_TIMEOUT_MS 600000
#define QUERY_MEM_MB 1024                   /* run: memory the query may hold per process */
#define QUERY_MAX_MEM_MB (64 * 1024)
#define QUERY_MAX_ROWS 10000                /* run: rows per displayed table */
#define LIVE_EVERY_MS 1000                /* subscribe: the refresh interval ... */
#define LIVE_MIN_EVERY_MS 100
#define LIVE_WINDOW_MS 30000               /* ... and the sliding window */
#define LIVE_MAX_WINDOW_MS (24 * 3600 * 1000LL)
#define EXEC_MAX_RANGES 256                /* exec: time ranges one request may ask for */
#define SNAPSHOT_TIMEOUT_MS 60000           /* snapshot: at least this long for every agent */
#define SNAPSHOT_START "-1h"                /* snapshot: the range's default start ... */
#define SNAPSHOT_END "now"                  /* ... and end */

enum proto_type {
	PT_UNKNOWN, PT_HELLO, PT_WELCOME, PT_HEARTBEAT, PT_RUN, PT_SNAPSHOT, PT_AGENTS, PT_EXEC, PT_RESULT,
	PT_SNAPSHOTS, PT_ERROR, PT_SUBSCRIBE, PT_UNSUBSCRIBE, PT_TICK,
};

/* One received message. */
struct proto_msg {
	msgpack_unpacked u;
	const msgpack_object *obj; /* the message map */
	enum proto_type type;
	char type_name[32];        /* as sent (for "unknown request type" errors) */
	int64_t id;                /* the client's request id (0 when absent) */
};

/* Unpacks data[0..len) (mp_unpack: hostile input is safe) and reads its type. 0, or -1 when it
 * is not a msgpack map with a string "type" (m needs proto_msg_destroy either way). */
int proto_msg_parse(struct proto_msg *m, const char *data, size_t len);
/* This build's version (the project version in CMakeLists.txt), for --version and statuses. */
const char *proto_wisp_version(void);
void proto_msg_destroy(struct proto_msg *m);

/* A message being packed; the buffer is owned until proto_buf_destroy (or taken: .sb.data). */
struct proto_buf {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};
void proto_buf_init(struct proto_buf *b);
void proto_buf_destroy(struct proto_buf *b);

/* ---- agent status (hello, heartbeat, the agents listing) ------------------------------------- */

struct agent_status {
	uint64_t rows, samples;          /* rows a scan yields; samples held */
	uint64_t ring_bytes, ring_budget;
	uint64_t evicted_rows, stacks;
	int64_t oldest_ns, newest_ns;    /* 0 when the ring is empty */
	int hz, cpus;                    /* sampling rate and CPUs sampled (0 for synthetic/replay) */
	uint64_t bpf_samples;            /* perf events the BPF program saw (0 for other sources) */
	uint64_t lost_samples;           /* samples lost in the kernel or refused by the ring */
	/* bpf source: user stacks whose walk broke, by reason (they end in a "[truncated: ...]"
	 * frame); samples where some frame came from the frame-pointer fallback */
	uint64_t truncated_unreadable, truncated_depth, truncated_no_info, fp_fallback_samples;
	uint64_t unwind_files;           /* unwind tables held (one per executable file) */
	uint64_t unwind_bytes;           /* kernel memory they hold, with the processes' tables */
	uint64_t unwind_rows;            /* rows they use, of unwind_rows_cap (--unwind-mb) */
	uint64_t unwind_rows_cap;
	uint64_t unwind_build_ns;        /* time spent building tables, and from how many bytes */
	uint64_t unwind_cfi_bytes;       /*   of .eh_frame */
	/* Python (bpf source): samples of Python processes and the BPF time their walks took; frames
	 * named; frames whose code object was freed before it was read, or could not be read */
	uint64_t py_samples, py_walk_ns, py_frames, py_code_gone, py_code_failed;
	/* continuous export (agent/exporter.h); all 0 without it */
	int64_t export_cursor_ns;        /* end of the last interval uploaded */
	int64_t export_every_ns;
	uint64_t export_intervals, export_failures;
	/* Kubernetes names (agent/kube/kube.h); all 0 without --kube-pods */
	uint64_t kube_fetches, kube_fetch_failures, kube_pods, kube_processes, kube_unnamed;
	uint64_t offcpu_switches;  /* switches away from user threads the BPF program saw */
	uint64_t offcpu_periods;   /* off-CPU periods recorded (sampled ones; rows appended) */
	uint64_t offcpu_lost;      /* off-CPU periods lost: ring buffer full, unpaired, not held, or
				    * ended unseen while the switch hook was paused */
	uint64_t offcpu_unseen;    /* ... of which ended unseen (storm.h) */
	uint64_t offcpu_hook_pct;  /* percent of the last minute the switch hook was attached (100
				    * outside context-switch storms; 0 without off-CPU capture) */
	uint64_t offcpu_rows, offcpu_ring_bytes; /* the offcpu_samples ring */
	/* bpf source: addresses named (the rest of frames_looked_up were remembered), stacks interned
	 * (the rest of stacks_looked_up were remembered), and what remembering them holds */
	uint64_t frames_named, frames_looked_up, stacks_interned, stacks_looked_up, memo_bytes;
	char version[32];
};
void proto_pack_status(msgpack_packer *pk, const struct agent_status *st);
/* Missing fields read as 0. */
void proto_read_status(const msgpack_object *o, struct agent_status *st);

/* ---- session setup --------------------------------------------------------------------------- */

struct hello {
	bool agent;                   /* role "agent" (with a node name), else role "client" */
	char node[64];                /* agents: their node name, 1 to 63 characters */
	char instance[33];            /* agents: the id an agent process keeps across reconnects, or "" */
	const msgpack_object *status; /* agents: their status map, or NULL */
};
/* 0, or -1 with a message when the role is neither, or an agent has no valid node name. */
int proto_read_hello(const msgpack_object *o, struct hello *h, char *err, size_t errlen);
void proto_pack_hello_agent(msgpack_packer *pk, const char *node, const struct agent_status *st, const char *instance);
void proto_pack_heartbeat(msgpack_packer *pk, const struct agent_status *st);
/* The status map of a heartbeat, or NULL. */
const msgpack_object *proto_heartbeat_status(const msgpack_object *o);
void proto_pack_welcome(msgpack_packer *pk, const char *coordinator);

/* error: {id, message, log?}. log NULL leaves the field out. */
void proto_pack_error(msgpack_packer *pk, int64_t id, const char *message, const char *log);

/* ---- client requests ------------------------------------------------------------------------- */

struct run_request {
	int64_t id;
	const char *name;             /* shown in errors; reading: default "script.lua" (in name_buf) */
	char name_buf[128];
	const char *script;           /* Lua source (not NUL-terminated) */
	size_t script_len;
	const char *const *argv;      /* packing only: script arguments */
	int argc;
	const msgpack_object *args;   /* reading: the argument array, or NULL */
	int64_t max_rows;             /* default QUERY_MAX_ROWS */
	int64_t timeout_ms;           /* default QUERY_TIMEOUT_MS, at most QUERY_MAX_TIMEOUT_MS */
	int64_t mem_limit_mb;         /* default QUERY_MEM_MB, at most QUERY_MAX_MEM_MB */
	int64_t every_ms, window_ms;  /* subscribe only: default LIVE_EVERY_MS, LIVE_WINDOW_MS, clamped
				       * to [LIVE_MIN_EVERY_MS, window] and (every, LIVE_MAX_WINDOW_MS] */
};
void proto_pack_run(msgpack_packer *pk, const struct run_request *r);
/* subscribe: a run request that streams (the same fields, and every_ms and window_ms). */
void proto_pack_subscribe(msgpack_packer *pk, const struct run_request *r);
void proto_pack_unsubscribe(msgpack_packer *pk, int64_t id);
/* 0, or -1 with a message (no script). Out-of-range limits are clamped, not refused. */
int proto_read_run(const msgpack_object *o, int64_t id, struct run_request *r, char *err, size_t errlen);
/* Copies the string arguments (at most 256; others are skipped) into a NULL-terminated malloc'd
 * array; *argc counts them. NULL on out-of-memory. */
char **proto_read_args(const msgpack_object *args, int *argc);

struct snapshot_request {
	int64_t id;
	const char *start, *end;      /* time strings; reading: default SNAPSHOT_START, SNAPSHOT_END */
	char start_buf[64], end_buf[64];
	int64_t timeout_ms;           /* default SNAPSHOT_TIMEOUT_MS, at most QUERY_MAX_TIMEOUT_MS */
};
void proto_pack_snapshot_request(msgpack_packer *pk, const struct snapshot_request *r);
void proto_read_snapshot_request(const msgpack_object *o, int64_t id, struct snapshot_request *r);

void proto_pack_agents_request(msgpack_packer *pk, int64_t id);

/* ---- coordinator <-> agent ------------------------------------------------------------------- */

/* exec {qid, timeout_ms, mem_limit_mb, plan, ranges?} or snapshot {qid, t0, t1}. With ranges
 * (live queries), the plan's scans run once per range [t0, t1) in place of their own, and the
 * result has nranges x nbridges tables, range by range. */
struct exec_request {
	bool snapshot;
	int64_t qid;
	int64_t timeout_ms, mem_limit_mb; /* exec; defaults QUERY_TIMEOUT_MS, QUERY_MEM_MB */
	const msgpack_object *plan;       /* exec (decode with codec_unpack_plan) */
	int64_t t0, t1;                   /* snapshot: [t0, t1) */
	int nranges;                      /* exec: 0 (the plan's own ranges) to EXEC_MAX_RANGES */
	bool zstd;                        /* exec: the coordinator reads compressed tables */
	int64_t ranges[EXEC_MAX_RANGES][2];
};
void proto_pack_exec(msgpack_packer *pk, uint64_t qid, int64_t timeout_ms, int64_t mem_limit_mb, const struct plan *p);
void proto_pack_exec_ranges(msgpack_packer *pk, uint64_t qid, int64_t timeout_ms, int64_t mem_limit_mb,
			    const struct plan *p, const int64_t (*ranges)[2], int nranges);
void proto_pack_snapshot_exec(msgpack_packer *pk, uint64_t qid, int64_t t0, int64_t t1);
/* 0, or -1 with a message (not exec or snapshot, a bad time range). */
int proto_read_exec(const struct proto_msg *m, struct exec_request *e, char *err, size_t errlen);

/* An agent's result: {qid, node} and one of error, tables (with exec_us) or snapshot. */
struct agent_result {
	int64_t qid;
	char node[64];
	const char *error;                /* NUL-terminated copy in errbuf, or NULL */
	char errbuf[600];
	const msgpack_object *tables;     /* an array, or NULL */
	const void *tables_zstd;          /* ... or the array packed and compressed (zstd), or NULL */
	size_t tables_zstd_len;
	uint64_t tables_size;             /* the packed array's size */
	int64_t exec_us;                  /* -1 when absent */
	const void *snapshot;             /* snapshot bytes, or NULL */
	size_t snapshot_len;
};
/* Tables as tables_zstd when zstd is set (the exec said the coordinator reads them) and they pack
 * to PROTO_ZSTD_MIN bytes or more: flame graph answers of 2.4 MB shrink about 9 times, at about
 * 800 MB/s to compress and 2 GB/s to expand (zstd level 1). */
#define PROTO_ZSTD_MIN 65536
#define PROTO_ZSTD_LEVEL 1
void proto_pack_result_tables(msgpack_packer *pk, int64_t qid, const char *node, int64_t exec_us,
			      struct table *const *tables, int n, bool zstd);
/* r's tables_zstd expanded: malloc'd, *size bytes (r->tables_size, at most max), or NULL with
 * the reason in err (too large, malformed, out of memory). */
char *proto_result_unzstd(const struct agent_result *r, size_t max, size_t *size, char *err, size_t errlen);
void proto_pack_result_snapshot(msgpack_packer *pk, int64_t qid, const char *node, const void *buf, size_t len);
void proto_pack_result_error(msgpack_packer *pk, int64_t qid, const char *node, const char *err);
void proto_read_agent_result(const msgpack_object *o, struct agent_result *r);

/* ---- coordinator -> client answers ----------------------------------------------------------- */

/* Where one query's time went (wisp run --stats). */
struct query_stats {
	int agents, answered;
	double compile_ms;            /* script to plan, in a script helper */
	double agents_ms;             /* plan sent out to last answer */
	double slowest_exec_ms;       /* the slowest agent's own execution time (-0.001 when none) */
	char slowest_node[64];
	uint64_t bytes_in;            /* answers received */
	double merge_ms;
	uint64_t rows;                /* rows displayed */
	double ms;                    /* request to reply */
};
/* result {id, tables, warnings, log, stats}. */
void proto_pack_result(msgpack_packer *pk, int64_t id, struct table *const *tables, int n, char *const *warnings,
		       int nwarn, const char *log, const struct query_stats *st);
void proto_read_stats(const msgpack_object *o, struct query_stats *st);

/* One tick of a subscription: the window [window_start, time) as a result, shared by every client
 * watching the same script, arguments, interval and window. */
struct live_tick {
	uint64_t tick;                /* 1, 2, ...; a client that was too slow to take some sees gaps */
	int64_t time_ns, window_start_ns;
	int watchers;                 /* clients sharing this computation */
	uint64_t skipped;             /* ticks this client did not get because it had not read the last */
};
/* tick {id, skipped, tick, time, window_start, watchers, tables, warnings, log, stats}, in two
 * parts: the body, the same for every watcher (proto_pack_tick_body: the last
 * PROTO_TICK_BODY_FIELDS fields of the map, not a message by itself), and per client its
 * envelope (proto_pack_tick_head: the map header, type, id, skipped), sent followed by it. */
#define PROTO_TICK_BODY_FIELDS 8
void proto_pack_tick_body(msgpack_packer *pk, const struct live_tick *t, struct table *const *tables, int n,
			  char *const *warnings, int nwarn, const char *log, const struct query_stats *st);
void proto_pack_tick_head(msgpack_packer *pk, int64_t id, uint64_t skipped);
/* The tick's own fields (the rest reads with proto_read_answer). */
void proto_read_tick(const msgpack_object *o, struct live_tick *t);

/* One agent of the agents answer. status is a packed status map (or NULL for an empty one). */
struct agent_entry {
	const char *node, *kind, *address; /* kind: "local" (in-process) or "remote" */
	double connected_s, last_seen_s;
	const void *status;
	size_t status_len;
};
void proto_pack_agents(msgpack_packer *pk, int64_t id, const char *coordinator, const struct agent_entry *a, int n);

struct snapshot_file {
	const char *node;
	const void *data;
	size_t len;
};
/* snapshots {id, files: [{node, data}], warnings}. */
void proto_pack_snapshots(msgpack_packer *pk, int64_t id, const struct snapshot_file *files, int n,
			  char *const *warnings, int nwarn);

/* ---- reading answers (the CLI) --------------------------------------------------------------- */

/* The fields of an answer to a client; those its type lacks read as NULL or "". */
struct proto_answer {
	const msgpack_object *tables;   /* result: array of tables (codec_unpack_table) */
	const msgpack_object *warnings; /* result, snapshots: array of strings */
	const msgpack_object *stats;    /* result: the stats map (proto_read_stats) */
	const msgpack_object *agents;   /* agents: array (proto_read_agent_info) */
	const msgpack_object *files;    /* snapshots: array (proto_read_snapshot_file) */
	char message[4096];             /* error */
	char log[4096];                 /* result, error: what the script printed */
};
void proto_read_answer(const struct proto_msg *m, struct proto_answer *a);

struct agent_info {
	char node[64], kind[16], address[64];
	double connected_s, last_seen_s;
	struct agent_status status;
};
void proto_read_agent_info(const msgpack_object *o, struct agent_info *a);
/* One file of a snapshots answer: node (copied) and the bytes (borrowed). false if malformed. */
bool proto_read_snapshot_file(const msgpack_object *o, char *node, size_t nodelen, const void **data, size_t *len);
/* Element i of an array of strings, copied into buf; false when it is not a string. */
bool proto_string_at(const msgpack_object *arr, uint32_t i, char *buf, size_t len);

#endif
