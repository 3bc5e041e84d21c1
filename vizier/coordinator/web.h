/* web.h - the dashboard's files, served over HTTP on the coordinator's port (the same listener
 * as the websocket protocol: lws hands a plain GET to the protocol's HTTP callbacks and an
 * upgrade to the websocket ones).
 *
 * The files are compiled into wispd (vizier/web/, embedded by vizier/CMakeLists.txt): the
 * dashboard works offline and is always the one its coordinator speaks to. */
#ifndef WISP_WEB_H
#define WISP_WEB_H

#include <stdbool.h>
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

/* A reply in progress on one HTTP connection: its body and how much of it is written. Zeroed by
 * lws with the connection's per-session data. It owns `owned` (a generated body, /metrics) until
 * the body is written or web_reply_clear runs on the connection's close. */
struct web_reply {
	const char *data;
	size_t len, off;
	char *owned;
	bool active;
};

const struct web_asset *web_find(const char *path);
/* LWS_CALLBACK_HTTP: starts the reply to path (404 when there is no such file). LWS_CALLBACK_HTTP_
 * WRITEABLE: writes its next piece. Both return what the callback must return (nonzero closes). */
int web_request(struct lws *wsi, struct web_reply *r, const char *path);
/* Starts a reply of a generated body (malloc'd; owned by r from here, NULL: 500) of type. */
int web_respond(struct lws *wsi, struct web_reply *r, const char *type, char *body, size_t len);
/* An error status with a short text (401, 404...). */
int web_status(struct lws *wsi, int status, const char *text);
int web_writeable(struct lws *wsi, struct web_reply *r);
void web_reply_clear(struct web_reply *r);

#endif
