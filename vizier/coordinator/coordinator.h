/* coordinator.h - the coordinator: a websocket server for agents and clients. It compiles
 * clients' scripts, fans plans out to every agent, merges their answers and replies; it gathers
 * snapshots the same way. Agents that fail, vanish or miss the deadline become warnings; a query
 * fails only if no agent answered. In standalone mode an in-process agent answers too. */
#ifndef WISP_COORDINATOR_H
#define WISP_COORDINATOR_H

struct agent;
struct coordinator;
struct lws_protocols;
struct service;

/* A coordinator named node; local (may be NULL) is the in-process agent. NULL on failure. */
struct coordinator *coordinator_new(struct service *svc, const char *node, struct agent *local);
/* The coordinator's protocol, for the lws context (protocol user pointer = the coordinator). */
void coordinator_protocol(struct coordinator *c, struct lws_protocols *out);
/* After the context is destroyed (sessions closed). */
void coordinator_free(struct coordinator *c);

#endif
