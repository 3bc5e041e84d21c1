/* link.h - an agent's websocket link to its coordinator: hello with its status on every
 * (re)connection, a heartbeat every 2 s, requests handed to worker threads and their answers
 * sent back on the same connection, and reconnection with backoff (250 ms doubling to 2 s, jittered). */
#ifndef WISP_LINK_H
#define WISP_LINK_H

#include <stddef.h>

struct agent;
struct agent_link;
struct lws_protocols;
struct service;

/* A link to the coordinator at url ("ws://HOST:PORT" or "wss://HOST:PORT"), not yet connected,
 * registering with the agent token of token_file (net/tokens.h; NULL: none). The lws context
 * verifies a wss:// coordinator (ws_server.h: struct ws_tls's ca). NULL with a message in err. */
struct agent_link *agent_link_new(struct service *svc, const char *url, const char *token_file, char *err,
				  size_t errlen);
/* The link's protocol, for the lws context (protocol user pointer = the link). */
void agent_link_protocol(struct agent_link *l, struct lws_protocols *out);
/* Connects for agent a (svc->ctx must exist by now) and starts the heartbeat. */
void agent_link_start(struct agent_link *l, struct agent *a);
/* Shutting down, before the context is destroyed: no more timers. The link still takes the
 * closing connection's callbacks. */
void agent_link_stop(struct agent_link *l);
/* After the context is destroyed. */
void agent_link_free(struct agent_link *l);

#endif
