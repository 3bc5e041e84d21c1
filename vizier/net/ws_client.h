/* ws_client.h - the one way Wisp opens websocket client connections (the agent's link to its
 * coordinator, the CLI, test tools): endpoint addresses, client contexts and connects all go
 * through here, so transport options (TLS, credentials) are set in one place. */
#ifndef WISP_WS_CLIENT_H
#define WISP_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "tokens.h"

struct lws;
struct lws_context;
struct lws_protocols;

/* Where to connect, and as whom. */
struct ws_endpoint {
	char host[256];
	char path[256];   /* "/" unless the URL names one */
	int port;
	bool tls;         /* wss:// */
	const char *ca;   /* wss://: the CA certificates (PEM file) it is verified against; NULL: the
			   * system's */
	char token[TOKEN_MAX + 1]; /* sent as Authorization: Bearer ...; "" sends none */
};

/* Splits "ws://HOST:PORT[/PATH]" or "wss://..." (the scheme may be omitted: ws). ca and token
 * are left as they were. 0, or -1 if malformed. */
int ws_endpoint_parse(const char *url, struct ws_endpoint *ep);

/* A client-only context for connecting to ep, running `protocols` (NULL-terminated list), with
 * user as its user pointer. NULL on failure. */
struct lws_context *ws_client_context(const struct lws_protocols *protocols, void *user, const struct ws_endpoint *ep);

/* Starts connecting to ep with the protocol named PROTO_NAME. userdata becomes the connection's
 * user pointer; *pwsi (when pwsi is not NULL) is set as lws sets it, and cleared again when the
 * connection fails. The connection, or NULL when the attempt could not even start. */
struct lws *ws_client_connect(struct lws_context *ctx, const struct ws_endpoint *ep, struct lws **pwsi, void *userdata);

/* Every client callback calls this on LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER (in, len as
 * the callback got them): adds ep's credentials to the upgrade request. 0, or -1 (no room). */
int ws_client_add_headers(struct lws *wsi, const struct ws_endpoint *ep, void *in, size_t len);

/* A log emitter for lws (lws_set_log_level(LLL_ERR, ws_client_log)) that prints nothing and keeps
 * the last line, for ws_client_failure: a program whose failures are told in its own words. */
void ws_client_log(int level, const char *line);
/* The same for a daemon: kept, and printed to stderr unless it says what the last line said (an
 * agent retrying a coordinator whose certificate does not verify logs it once, not every 2 s). */
void ws_daemon_log(int level, const char *line);

/* A clear sentence for why a connection failed, from what lws said (in may be NULL): an
 * unknown token, a certificate that does not verify, a TLS port spoken to in plain text. */
const char *ws_client_failure(const char *in, const struct ws_endpoint *ep);

#endif
