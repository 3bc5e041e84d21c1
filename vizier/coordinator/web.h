/* web.h - the dashboard's files, served over HTTP on the coordinator's port (the same listener
 * as the websocket protocol: lws hands a plain GET to the protocol's HTTP callbacks and an
 * upgrade to the websocket ones).
 *
 * The files are compiled into wispd (vizier/web/, embedded by vizier/CMakeLists.txt): the
 * dashboard works offline and is always the one its coordinator speaks to. */
#ifndef WISP_WEB_H
#define WISP_WEB_H

#include <stddef.h>

struct lws;

/* One embedded file (generated table: web_assets[], web_nassets). */
struct web_asset {
	const char *path; /* "/", "/app.js", "/scripts/index.json", ... */
	const char *type; /* its Content-Type */
	const char *data;
	const size_t *len; /* defined with the bytes, in another file: not a constant here */
};
extern const struct web_asset web_assets[];
extern const size_t web_nassets;

/* A reply in progress on one HTTP connection: the file and how much of it is written. Zeroed by
 * lws with the connection's per-session data; it owns nothing. */
struct web_reply {
	const struct web_asset *asset;
	size_t off;
};

const struct web_asset *web_find(const char *path);
/* LWS_CALLBACK_HTTP: starts the reply to path (404 when there is no such file). LWS_CALLBACK_HTTP_
 * WRITEABLE: writes its next piece. Both return what the callback must return (nonzero closes). */
int web_request(struct lws *wsi, struct web_reply *r, const char *path);
int web_writeable(struct lws *wsi, struct web_reply *r);

#endif
