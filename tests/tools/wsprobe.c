/* wsprobe.c - a test tool that speaks raw websocket to a coordinator, for the integration tests.
 *
 *   wsprobe free-port                 print a TCP port free on 127.0.0.1
 *   wsprobe send URL HEX|@FILE|big:N  send one binary message (hex bytes, a file, or N bytes of
 *                                     garbage) and print the reply's "type" and "message"
 * big:N is one frame whose header announces N bytes, its payload streamed 1 MiB per writeable
 * callback (mask key zero, so the bytes go as they are): the probe keeps reading while it sends,
 * so the coordinator's refusal is seen however long the sending would take.
 * Exit status: 0 when a reply arrived, 1 when the connection closed without one, 2 on errors. */
#include "net/proto.h"
#include "net/ws_client.h"
#include "net/ws_peer.h"
#include "core/clock.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct probe {
	struct ws_peer peer;
	char *msg;
	size_t len;
	size_t big;      /* big:N: the announced payload length, else 0 */
	size_t big_sent; /* bytes of the big frame written so far, its header included */
	bool done;
	int rc;
};

enum { BIG_HEADER = 14, BIG_CHUNK = 1 << 20 };

/* One step of the big frame: its header (FIN, binary, 64-bit length, a zero mask key) first,
 * then the payload a chunk at a time; each write waits for the socket to drain. */
static int big_step(struct probe *p, struct lws *wsi)
{
	static unsigned char buf[LWS_PRE + BIG_CHUNK];
	unsigned char *b = buf + LWS_PRE;
	size_t n;
	if (!p->big_sent) {
		b[0] = 0x82, b[1] = 0xff;
		for (int i = 0; i < 8; i++)
			b[2 + i] = (unsigned char)(p->big >> (56 - 8 * i));
		memset(b + 10, 0, 4);
		n = BIG_HEADER;
	} else {
		size_t left = BIG_HEADER + p->big - p->big_sent;
		n = left < BIG_CHUNK ? left : BIG_CHUNK;
		if (!n)
			return 0;
		memset(b, 0xc1, n); /* 0xc1: never valid msgpack */
	}
	if (lws_write(wsi, b, n, LWS_WRITE_RAW) < (int)n)
		return -1;
	p->big_sent += n;
	lws_callback_on_writable(wsi);
	return 0;
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct probe *p = lws_context_user(lws_get_context(wsi));
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		p->peer.wsi = wsi;
		if (p->big)
			lws_callback_on_writable(wsi);
		else
			ws_peer_send(&p->peer, p->msg, p->len);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return p->big ? big_step(p, wsi) : ws_peer_on_writeable(&p->peer);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (ws_peer_receive(&p->peer, in, len, PROTO_MAX_ANSWER) == 1) {
			msgpack_unpacked u;
			char type[64] = "?", msg[2048] = "";
			msgpack_unpacked_init(&u);
			if (mp_unpack(&u, p->peer.rx, p->peer.rx_len)) {
				mp_str(mp_get(&u.data, "type"), type, sizeof(type));
				mp_str(mp_get(&u.data, "message"), msg, sizeof(msg));
			}
			printf("%s: %s\n", type, msg);
			msgpack_unpacked_destroy(&u);
			p->done = true;
			p->rc = 0;
			return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		p->done = true;
		break;
	default:
		break;
	}
	return 0;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		return 2;
	printf("%d\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int main(int argc, char **argv)
{
	struct probe p = {.rc = 1};
	if (argc >= 2 && !strcmp(argv[1], "free-port"))
		return free_port();
	if (argc != 4 || strcmp(argv[1], "send")) {
		fprintf(stderr, "usage: wsprobe free-port | wsprobe send ws://HOST:PORT HEX|@FILE|big:N\n");
		return 2;
	}
	const char *data = argv[3];
	if (!strncmp(data, "big:", 4)) {
		p.big = strtoull(data + 4, NULL, 10);
		if (!p.big)
			return 2;
	} else if (data[0] == '@') {
		FILE *f = fopen(data + 1, "rb");
		if (!f)
			return 2;
		p.msg = malloc(1 << 24);
		p.len = fread(p.msg, 1, 1 << 24, f);
		fclose(f);
	} else {
		size_t n = strlen(data) / 2;
		p.msg = malloc(n ? n : 1);
		for (size_t i = 0; i < n; i++)
			p.msg[i] = (char)(hexval(data[2 * i]) << 4 | hexval(data[2 * i + 1]));
		p.len = n;
	}
	struct ws_endpoint ep = {0};
	if (ws_endpoint_parse(argv[2], &ep) < 0)
		return 2;
	static const struct lws_protocols protocols[] = {{PROTO_NAME, cb, 0, 65536, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context *ctx = ws_client_context(protocols, &p, &ep);
	if (!ctx)
		return 2;
	ws_client_connect(ctx, &ep, NULL, NULL);
	int64_t deadline = mono_now_ns() + 10000000000LL;
	while (!p.done && mono_now_ns() < deadline)
		lws_service(ctx, 0);
	lws_context_destroy(ctx);
	ws_peer_clear(&p.peer);
	free(p.msg);
	if (!p.done)
		printf("timeout\n");
	else if (p.rc)
		printf("closed\n");
	return p.rc;
}
