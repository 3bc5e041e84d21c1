/* ws_client.c - websocket client endpoints, contexts and connects (see ws_client.h). */
#include "ws_client.h"
#include "proto.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ws_endpoint_parse(const char *url, struct ws_endpoint *ep)
{
	const char *p = url;
	ep->tls = false;
	if (!strncmp(p, "ws://", 5)) {
		p += 5;
	} else if (!strncmp(p, "wss://", 6)) {
		p += 6;
		ep->tls = true;
	} else if (strstr(p, "://")) {
		return -1;
	}
	const char *colon = strrchr(p, ':'), *slash = strchr(p, '/');
	if (!colon || (slash && slash < colon) || colon == p)
		return -1;
	snprintf(ep->host, sizeof(ep->host), "%.*s", (int)(colon - p), p);
	ep->port = atoi(colon + 1);
	snprintf(ep->path, sizeof(ep->path), "%s", slash ? slash : "/");
	return ep->port > 0 && ep->port < 65536 ? 0 : -1;
}

struct lws_context *ws_client_context(const struct lws_protocols *protocols, void *user, const struct ws_endpoint *ep)
{
	struct lws_context_creation_info info = {0};
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = user;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | (ep->tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	info.client_ssl_ca_filepath = ep->ca;
	return lws_create_context(&info);
}

struct lws *ws_client_connect(struct lws_context *ctx, const struct ws_endpoint *ep, struct lws **pwsi, void *userdata)
{
	struct lws_client_connect_info ci = {0};
	ci.context = ctx;
	ci.address = ep->host;
	ci.port = ep->port;
	ci.path = ep->path;
	ci.host = ep->host;
	ci.origin = ep->host;
	ci.protocol = PROTO_NAME;
	ci.ssl_connection = ep->tls ? LCCSCF_USE_SSL : 0;
	ci.pwsi = pwsi;
	ci.userdata = userdata;
	return lws_client_connect_via_info(&ci);
}

int ws_client_add_headers(struct lws *wsi, const struct ws_endpoint *ep, void *in, size_t len)
{
	unsigned char **p = in, *end = *p + len;
	char value[TOKEN_MAX + 8];
	if (!ep->token[0])
		return 0;
	int n = snprintf(value, sizeof(value), "Bearer %s", ep->token);
	return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)value, n, p, end) ? -1
														    : 0;
}

static char last_log[256]; /* the last line lws logged (ws_client_log) */

void ws_client_log(int level, const char *line)
{
	(void)level;
	const char *p = strstr(line, "] E: "); /* "[time] E: what" */
	snprintf(last_log, sizeof(last_log), "%.*s", (int)strcspn(p ? p + 5 : line, "\n"), p ? p + 5 : line);
}

void ws_daemon_log(int level, const char *line)
{
	char before[sizeof(last_log)];
	memcpy(before, last_log, sizeof(before));
	ws_client_log(level, line);
	if (strcmp(before, last_log))
		fputs(line, stderr);
}

const char *ws_client_failure(const char *in, const struct ws_endpoint *ep)
{
	static char buf[768];
	if (!in)
		return "connection failed";
	if (strstr(in, "unauthorized"))
		return ep->token[0] ? "the coordinator does not know this token (HTTP 401)"
				    : "the coordinator needs a token (HTTP 401): give one with --token-file or WISP_TOKEN";
	if (!ep->tls && (strstr(in, "read failed") || strstr(in, "closed before"))) {
		snprintf(buf, sizeof(buf), "%s (a server that speaks TLS? then use wss://)", in);
		return buf;
	}
	if (ep->tls && (strstr(in, "SSL") || strstr(in, "cert"))) { /* lws words it either way */
		snprintf(buf, sizeof(buf), "the TLS handshake failed (%.*s): a server that does not speak TLS (then use "
			 "ws://), or a certificate that does not verify against the CA given (wisp --ca or WISP_CA, "
			 "wispd --tls-ca) or the system's", (int)strcspn(last_log[0] ? last_log : in, "\n"),
			 last_log[0] ? last_log : in);
		return buf;
	}
	return in;
}
