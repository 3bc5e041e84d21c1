/* ws_server.h - the coordinator's listening context: the address users give (--listen
 * HOST:PORT) and the lws context serving it, in one place with the client side's options. */
#ifndef WISP_WS_SERVER_H
#define WISP_WS_SERVER_H

#include <stddef.h>

struct lws_context;
struct lws_protocols;

/* A context listening on listen ("HOST:PORT"; 127.0.0.1 and localhost bind the loopback
 * interface only, 0.0.0.0 and * every interface) running protocols, with user as its user
 * pointer; or, when listen is NULL, a context that does not listen (an agent's). NULL with a
 * message in err on failure. */
struct lws_context *ws_server_context(const char *listen, const struct lws_protocols *protocols, void *user, char *err,
				      size_t errlen);

#endif
