/* web.c - serves the embedded dashboard files (see web.h): headers first, then the body in
 * pieces of WEB_PIECE bytes, one lws_write per writeable callback. */
#include "web.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WEB_PIECE 16384

const struct web_asset *web_find(const char *path)
{
	char clean[256];
	size_t n = strcspn(path, "?#");
	if (n >= sizeof(clean))
		return NULL;
	memcpy(clean, path, n);
	clean[n] = '\0';
	if (!strcmp(clean, "/index.html") || !clean[0])
		strcpy(clean, "/");
	for (size_t i = 0; i < web_nassets; i++)
		if (!strcmp(web_assets[i].path, clean))
			return &web_assets[i];
	return NULL;
}

int web_status(struct lws *wsi, int status, const char *text)
{
	if (lws_return_http_status(wsi, (unsigned)status, text))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Headers of a reply of len bytes of type, then the body on writeable callbacks. */
static int start_reply(struct lws *wsi, struct web_reply *r, const char *type)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	static const char nocache[] = "no-cache";
	if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, type, r->len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)nocache,
					 (int)sizeof(nocache) - 1, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	r->active = true;
	lws_callback_on_writable(wsi);
	return 0;
}

int web_request(struct lws *wsi, struct web_reply *r, const char *path)
{
	const struct web_asset *a = web_find(path);
	web_reply_clear(r);
	if (!a)
		return web_status(wsi, HTTP_STATUS_NOT_FOUND, "no such file in the Wisp dashboard");
	r->data = a->data;
	r->len = *a->len;
	return start_reply(wsi, r, a->type);
}

int web_respond(struct lws *wsi, struct web_reply *r, const char *type, char *body, size_t len)
{
	web_reply_clear(r);
	if (!body)
		return web_status(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
	r->owned = body;
	r->data = body;
	r->len = len;
	return start_reply(wsi, r, type);
}

int web_writeable(struct lws *wsi, struct web_reply *r)
{
	if (!r->active)
		return 0;
	unsigned char buf[LWS_PRE + WEB_PIECE];
	size_t n = r->len - r->off;
	if (n > WEB_PIECE)
		n = WEB_PIECE;
	bool last = r->off + n == r->len;
	memcpy(buf + LWS_PRE, r->data + r->off, n);
	if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
		return -1;
	r->off += n;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	web_reply_clear(r);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void web_reply_clear(struct web_reply *r)
{
	free(r->owned);
	*r = (struct web_reply){0};
}
