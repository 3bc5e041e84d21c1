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
	if (!strncmp(p, "ws://", 5))
		p += 5;
	else if (strstr(p, "://"))
		return -1;
	const char *colon = strrchr(p, ':'), *slash = strchr(p, '/');
	if (!colon || (slash && slash < colon) || colon == p)
		return -1;
	snprintf(ep->host, sizeof(ep->host), "%.*s", (int)(colon - p), p);
	ep->port = atoi(colon + 1);
	snprintf(ep->path, sizeof(ep->path), "%s", slash ? slash : "/");
	return ep->port > 0 && ep->port < 65536 ? 0 : -1;
}

struct lws_context *ws_client_context(const struct lws_protocols *protocols, void *user)
{
	struct lws_context_creation_info info = {0};
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = user;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
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
	ci.pwsi = pwsi;
	ci.userdata = userdata;
	return lws_client_connect_via_info(&ci);
}
