/* wispd.h - the state of one wispd process. Mode agent: ring + collector + a link to the
 * coordinator. Mode coordinator: the websocket server that agents and clients connect to.
 * Mode standalone: both, with the local agent answering queries in-process (no socket). */
#ifndef WISP_WISPD_H
#define WISP_WISPD_H

#include <msgpack.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WISP_PROTOCOL "wisp.v1"
#define WISP_VERSION "0.1.0"
#define WISP_MAX_MESSAGE (256u << 20) /* largest websocket message accepted */
#define WISP_CLIENT_MAX_MESSAGE (16u << 20) /* largest client request (a script + args) */

struct lws_context;
struct ring;
struct collector;
struct jobs;
struct inbox;
struct coordinator;
struct agent_link;

struct wispd {
	char mode[16];             /* "agent", "coordinator", "standalone" */
	char node[64];             /* this node's name */
	struct lws_context *ctx;
	struct jobs *jobs;
	struct inbox *inbox;
	struct ring *ring;         /* agent/standalone */
	struct collector *collector;
	struct coordinator *coord; /* coordinator/standalone */
	struct agent_link *link;   /* agent */
	volatile sig_atomic_t stop;
	int64_t started_ns;
};

/* ---- agent side (agent.c) ---- */

/* Executes an "exec" request (a plan) or a "snapshot" request over this process's ring and
 * packs the "result" reply into out (errors are replied too, as {"error": ...}). Runs on a
 * worker thread. */
void agent_execute(struct wispd *d, const msgpack_object *exec, msgpack_sbuffer *out);
/* Packs this agent's status (ring, collector) as a msgpack map. */
void agent_pack_status(struct wispd *d, msgpack_packer *pk);

struct agent_link *agent_link_start(struct wispd *d, const char *url, char *err, size_t errlen);
void agent_link_free(struct agent_link *l);
extern const struct lws_protocols agent_link_protocol;

/* ---- coordinator side (coordinator.c) ---- */

struct coordinator *coordinator_new(struct wispd *d);
void coordinator_free(struct coordinator *c);
extern const struct lws_protocols coordinator_protocol;

#endif
