/* wsflood.c - a test tool that abuses a coordinator's connections, for the integration tests.
 *
 *   wsflood hold URL N SECONDS          open N websockets that never say anything; after SECONDS,
 *                                       print "open K of N" (how many the coordinator still keeps)
 *   wsflood stall URL N BYTES SECONDS   N websockets each send BYTES of a message and never the
 *                                       rest; print "closed K of N, the last after MS ms"
 * Exit status: 0 when it ran, 2 on usage errors. */
#include "net/proto.h"
#include "net/ws_client.h"
#include "core/clock.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct flood {
	bool stall;
	size_t bytes;     /* stall: what each connection sends of its message */
	int established, open, closed;
	int64_t closed_ns;
};

/* Per connection: what it has sent of its unfinished message. */
struct conn {
	size_t sent;
};

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct flood *f = lws_context_user(lws_get_context(wsi));
	struct conn *c = user;
	static unsigned char buf[LWS_PRE + 65536];
	(void)in, (void)len;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		f->established++;
		f->open++;
		if (f->stall)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		size_t n = f->bytes - c->sent < 65536 ? f->bytes - c->sent : 65536;
		if (!n)
			break;
		memset(buf + LWS_PRE, 0x81, n);
		lws_write(wsi, buf + LWS_PRE, n, (c->sent ? LWS_WRITE_CONTINUATION : LWS_WRITE_BINARY) | LWS_WRITE_NO_FIN);
		c->sent += n;
		if (c->sent < f->bytes)
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		f->open--;
		/* fall through */
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		f->closed++;
		f->closed_ns = mono_now_ns();
		break;
	default:
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct flood f = {0};
	struct ws_endpoint ep = {0};
	bool hold = argc == 5 && !strcmp(argv[1], "hold");
	f.stall = argc == 6 && !strcmp(argv[1], "stall");
	if ((!hold && !f.stall) || ws_endpoint_parse(argv[2], &ep) < 0) {
		fprintf(stderr, "usage: wsflood hold URL N SECONDS | wsflood stall URL N BYTES SECONDS\n");
		return 2;
	}
	int n = atoi(argv[3]);
	f.bytes = f.stall ? strtoull(argv[4], NULL, 10) : 0;
	double secs = atof(argv[f.stall ? 5 : 4]);
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	static const struct lws_protocols protocols[] = {{PROTO_NAME, cb, sizeof(struct conn), 4096, 0, NULL, 0},
							 {NULL, NULL, 0, 0, 0, NULL, 0}};
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context *ctx = ws_client_context(protocols, &f, &ep);
	if (!ctx)
		return 2;
	for (int i = 0; i < n; i++)
		ws_client_connect(ctx, &ep, NULL, NULL);
	int64_t start = mono_now_ns(), end = start + (int64_t)(secs * 1e9);
	while (mono_now_ns() < end && !(f.stall && f.closed == n))
		lws_service(ctx, 0);
	if (hold)
		printf("open %d of %d (%d were accepted)\n", f.open, n, f.established);
	else
		printf("closed %d of %d, the last after %lld ms\n", f.closed, n,
		       f.closed ? (long long)((f.closed_ns - start) / 1000000) : -1LL);
	lws_context_destroy(ctx);
	return 0;
}
