/* ws_server.h - the daemon's lws context: the address users give (--listen HOST:PORT), TLS, and
 * the lws context serving it, in one place with the client side's options. */
#ifndef WISP_WS_SERVER_H
#define WISP_WS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct lws_context;
struct lws_protocols;

/* TLS of a daemon's context (all NULL: none). */
struct ws_tls {
	const char *cert, *key; /* PEM files: the listener serves wss:// and https:// */
	const char *ca;         /* PEM file: the CA an agent verifies its wss:// coordinator with
				 * (NULL: the system's) */
};

/* A context listening on listen ("HOST:PORT"; 127.0.0.1 and localhost bind the loopback
 * interface only, 0.0.0.0 and * every interface) running protocols, with user as its user
 * pointer; or, when listen is NULL, a context that does not listen (an agent's). NULL with a
 * message in err on failure (a file of tls that cannot be read among them). */
struct lws_context *ws_server_context(const char *listen, const struct lws_protocols *protocols, void *user,
				      const struct ws_tls *tls, char *err, size_t errlen);

/* Whether listen ("HOST:PORT", as above) binds the loopback interface alone. */
bool ws_listen_is_loopback(const char *listen);

#endif
