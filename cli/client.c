/* client.c - talking to the coordinator (see cli.h): one request and its one answer
 * (cli_exchange), or one request and the stream of answers that follows (cli_stream, for live
 * queries). Either connects, sends the request when the websocket is up, hands whole answers to
 * the command and closes when it is done. */
#include "cli.h"
#include "net/ws_peer.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>

struct exchange {
	const struct cli *o;
	const struct proto_buf *request;
	enum proto_type want;
	int (*handle)(const struct cli *o, const struct proto_msg *m);
	const struct cli_stream *stream; /* cli_stream: every answer goes to it */
	lws_sorted_usec_list_t poll;
	struct lws_context *ctx;
	bool answered;                   /* an answer arrived (the deadline is for the first) */
	struct ws_peer peer;
	lws_sorted_usec_list_t deadline; /* wakes the service loop when the answer is late */
	double timeout_s;
	bool done;
	int exit_code;
};

static void finish(struct exchange *x, int exit_code)
{
	x->done = true;
	x->exit_code = exit_code;
}

static void deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct exchange *x = lws_container_of(sul, struct exchange, deadline);
	if (!x->done && !x->answered) {
		fprintf(stderr, "wisp: no answer from %s within %.0f s\n", x->o->url, x->timeout_s);
		finish(x, 2);
	}
}

void cli_print_warnings(const msgpack_object *warnings)
{
	char buf[4096];
	for (uint32_t i = 0; warnings && i < warnings->via.array.size; i++)
		if (proto_string_at(warnings, i, buf, sizeof(buf)))
			fprintf(stderr, "wisp: warning: %s\n", buf);
}

/* An error answer on stderr: what the script printed, then the message. */
static void print_error(const struct proto_msg *m)
{
	struct proto_answer a;
	proto_read_answer(m, &a);
	if (a.log[0])
		fputs(a.log, stderr);
	fprintf(stderr, "wisp: error: %s\n", a.message);
}

/* A stream's answer: errors end it, the rest go to the command. Whether it goes on. */
static bool on_stream_answer(struct exchange *x, const char *data, size_t len)
{
	struct proto_msg m;
	int rc = 1;
	if (proto_msg_parse(&m, data, len) < 0) {
		fprintf(stderr, "wisp: malformed answer from the coordinator\n");
	} else if (m.type == PT_ERROR) {
		print_error(&m);
	} else {
		rc = x->stream->on_answer(x->stream->arg, &m);
	}
	proto_msg_destroy(&m);
	if (rc >= 0)
		finish(x, rc);
	return rc < 0;
}

static void poll_cb(lws_sorted_usec_list_t *sul)
{
	struct exchange *x = lws_container_of(sul, struct exchange, poll);
	int rc = x->done ? -1 : x->stream->on_poll(x->stream->arg);
	if (rc >= 0)
		finish(x, rc);
	else
		lws_sul_schedule(x->ctx, 0, &x->poll, poll_cb, x->stream->poll_ms * LWS_US_PER_MS);
}

static void on_answer(struct exchange *x, const char *data, size_t len)
{
	struct proto_msg m;
	finish(x, 1);
	if (proto_msg_parse(&m, data, len) < 0) {
		fprintf(stderr, "wisp: malformed answer from the coordinator\n");
	} else if (m.type == PT_ERROR) {
		print_error(&m);
	} else if (m.type == x->want) {
		x->exit_code = x->handle(x->o, &m);
	} else {
		fprintf(stderr, "wisp: unexpected answer '%s' from the coordinator\n", m.type_name);
	}
	proto_msg_destroy(&m);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct exchange *x = lws_context_user(lws_get_context(wsi));
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		x->peer.wsi = wsi;
		ws_peer_send(&x->peer, x->request->sb.data, x->request->sb.size);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		int r = ws_peer_receive(&x->peer, in, len, PROTO_MAX_ANSWER);
		if (r < 0) {
			fprintf(stderr, "wisp: answer too large\n");
			finish(x, 1);
			return -1;
		}
		if (r == 1 && x->stream) {
			x->answered = true;
			bool more = on_stream_answer(x, x->peer.rx, x->peer.rx_len);
			ws_peer_consume(&x->peer);
			return more ? 0 : -1;
		}
		if (r == 1) {
			on_answer(x, x->peer.rx, x->peer.rx_len);
			ws_peer_consume(&x->peer);
			return -1; /* one request, one answer: close */
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return ws_client_add_headers(wsi, &x->o->ep, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return ws_peer_on_writeable(&x->peer);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "wisp: cannot connect to the coordinator at %s: %s\n", x->o->url,
			ws_client_failure(in, &x->o->ep));
		finish(x, 2);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!x->done) {
			fprintf(stderr, "wisp: the coordinator at %s closed the connection\n", x->o->url);
			finish(x, 2);
		}
		break;
	default:
		break;
	}
	return 0;
}

/* The exchange's loop: connect, serve until done, tear down. */
static int run(struct exchange *x)
{
	static const struct lws_protocols protocols[] = {{PROTO_NAME, callback, 0, 65536, 0, NULL, 0},
							 {NULL, NULL, 0, 0, 0, NULL, 0}};
	lws_set_log_level(LLL_ERR, ws_client_log); /* failures are told by the callback, in our words */
	struct lws_context *ctx = x->ctx = ws_client_context(protocols, x, &x->o->ep);
	if (!ctx) {
		fprintf(stderr, "wisp: cannot start the websocket client\n");
		return 2;
	}
	if (!ws_client_connect(ctx, &x->o->ep, NULL, NULL) && !x->done) {
		fprintf(stderr, "wisp: cannot connect to the coordinator at %s\n", x->o->url);
		finish(x, 2);
	}
	lws_sul_schedule(ctx, 0, &x->deadline, deadline_cb, (lws_usec_t)(x->timeout_s * LWS_US_PER_SEC));
	if (x->stream)
		lws_sul_schedule(ctx, 0, &x->poll, poll_cb, x->stream->poll_ms * LWS_US_PER_MS);
	while (!x->done)
		if (lws_service(ctx, 0) < 0)
			break;
	lws_sul_cancel(&x->deadline);
	lws_sul_cancel(&x->poll);
	lws_context_destroy(ctx);
	ws_peer_clear(&x->peer);
	return x->exit_code;
}

int cli_exchange(const struct cli *o, const struct proto_buf *request, double timeout_s, enum proto_type want,
		 int (*handle)(const struct cli *o, const struct proto_msg *m))
{
	struct exchange x = {.o = o, .request = request, .want = want, .handle = handle, .exit_code = 1,
			     .timeout_s = timeout_s};
	return run(&x);
}

int cli_stream(const struct cli *o, const struct proto_buf *request, double timeout_s, const struct cli_stream *s)
{
	struct exchange x = {.o = o, .request = request, .stream = s, .exit_code = 1, .timeout_s = timeout_s};
	return run(&x);
}
