/* ws_server.c - the daemon's lws context (see ws_server.h). */
#include "ws_server.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "HOST:PORT" -> lws interface + port. */
static int parse_listen(const char *s, char *iface, size_t ifl, int *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon)
		return -1;
	*port = atoi(colon + 1);
	if (*port <= 0 || *port > 65535)
		return -1;
	snprintf(iface, ifl, "%.*s", (int)(colon - s), s);
	if (!strcmp(iface, "127.0.0.1") || !strcmp(iface, "localhost"))
		snprintf(iface, ifl, "lo");
	else if (!strcmp(iface, "0.0.0.0") || !strcmp(iface, "*"))
		iface[0] = '\0';
	return 0;
}

bool ws_listen_is_loopback(const char *listen)
{
	char iface[128];
	int port;
	return parse_listen(listen, iface, sizeof(iface), &port) == 0 && !strcmp(iface, "lo");
}

static int check_file(const char *flag, const char *path, char *err, size_t errlen)
{
	if (!path || access(path, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
	return -1;
}

struct lws_context *ws_server_context(const char *listen, const struct lws_protocols *protocols, void *user,
				      const struct ws_tls *tls, char *err, size_t errlen)
{
	struct lws_context_creation_info info = {0};
	char iface[128] = "";
	int port = CONTEXT_PORT_NO_LISTEN;
	if (listen && parse_listen(listen, iface, sizeof(iface), &port) < 0) {
		snprintf(err, errlen, "--listen expects HOST:PORT, got '%s'", listen);
		return NULL;
	}
	if (check_file("--tls-cert", tls->cert, err, errlen) < 0 || check_file("--tls-key", tls->key, err, errlen) < 0 ||
	    check_file("--tls-ca", tls->ca, err, errlen) < 0)
		return NULL;
	info.port = port;
	info.iface = iface[0] ? iface : NULL;
	info.protocols = protocols;
	info.user = user;
	/* TLS is set up in every daemon: an agent may be pointed at a wss:// coordinator. */
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (listen && tls->cert) {
		info.ssl_cert_filepath = tls->cert;
		info.ssl_private_key_filepath = tls->key;
		/* HTTP/1.1 only: browsers would pick h2, whose lws code path leaked a buffer per
		 * connection under LeakSanitizer (chromium on the dashboard), and gains nothing here. */
		info.alpn = "http/1.1";
	}
	info.client_ssl_ca_filepath = tls->ca;
	struct lws_context *ctx = lws_create_context(&info);
	if (!ctx && listen && tls->cert)
		snprintf(err, errlen, "cannot listen on %s with TLS (address in use, not a local address, or a "
			 "certificate and key that do not load or match?)", listen);
	else if (!ctx && listen)
		snprintf(err, errlen, "cannot listen on %s (address in use, or not a local address?)", listen);
	else if (!ctx)
		snprintf(err, errlen, "cannot create the websocket context");
	return ctx;
}
