/* coordinator.h - the coordinator: a websocket server for agents and clients. It compiles
 * clients' scripts, fans plans out to every agent, merges their answers and replies; it gathers
 * snapshots the same way. Agents that fail, vanish or miss the deadline become warnings; a query
 * fails only if no agent answered. In standalone mode an in-process agent answers too. */
#ifndef WISP_COORDINATOR_H
#define WISP_COORDINATOR_H

#include <stddef.h>

struct agent;
struct coordinator;
struct lws_protocols;
struct service;
struct tokens;

/* A coordinator named node; connections idle for idle_timeout_s are closed (0: the default,
 * IDLE_TIMEOUT_S). Scripts compile in helper processes running helper_exe --script-helper
 * (wispd: "/proc/self/exe"), or in this process when it is NULL (fuzzers). NULL on failure. */
struct coordinator *coordinator_new(struct service *svc, const char *node, int idle_timeout_s,
				    const char *helper_exe);
/* Once the context exists: starts the timer that enforces the connection limits. */
void coordinator_start(struct coordinator *c);
/* Who may do what (net/tokens.h; borrowed, and reloaded when its file changes): peers without a
 * known token are refused at the websocket upgrade, and each request needs its grant. NULL (the
 * default): every peer may do everything. */
void coordinator_set_tokens(struct coordinator *c, struct tokens *tokens);
/* Memory for agents' messages being received at once (default RX_BUDGET, 256 MiB): an agent whose
 * answer would pass it waits, unread, for room (rx_budget.c). */
void coordinator_set_receive_budget(struct coordinator *c, size_t bytes);
/* Standalone: the in-process agent, answering every query with the connected agents. */
void coordinator_set_local(struct coordinator *c, struct agent *local);
/* The coordinator's protocol, for the lws context (protocol user pointer = the coordinator). */
void coordinator_protocol(struct coordinator *c, struct lws_protocols *out);
/* Shutting down, once no worker owns a query and before the context is destroyed: drops every
 * query (and its timer). Sessions stay for the closing connections' callbacks. */
void coordinator_stop(struct coordinator *c);
/* After the context is destroyed (sessions closed). */
void coordinator_free(struct coordinator *c);

#endif
