/* ws_client.h - the one way Wisp opens websocket client connections (the agent's link to its
 * coordinator, the CLI, test tools): endpoint addresses, client contexts and connects all go
 * through here, so transport options (TLS, credentials) are set in one place. */
#ifndef WISP_WS_CLIENT_H
#define WISP_WS_CLIENT_H

struct lws;
struct lws_context;
struct lws_protocols;

struct ws_endpoint {
	char host[256];
	char path[256]; /* "/" unless the URL names one */
	int port;
};

/* Splits "ws://HOST:PORT[/PATH]" (the scheme may be omitted). 0, or -1 if malformed. */
int ws_endpoint_parse(const char *url, struct ws_endpoint *ep);

/* A client-only context running `protocols` (NULL-terminated list), with user as its user
 * pointer. NULL on failure. */
struct lws_context *ws_client_context(const struct lws_protocols *protocols, void *user);

/* Starts connecting to ep with the protocol named PROTO_NAME. userdata becomes the connection's
 * user pointer; *pwsi (when pwsi is not NULL) is set as lws sets it, and cleared again when the
 * connection fails. The connection, or NULL when the attempt could not even start. */
struct lws *ws_client_connect(struct lws_context *ctx, const struct ws_endpoint *ep, struct lws **pwsi, void *userdata);

#endif
