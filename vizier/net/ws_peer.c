/* ws_peer.c - websocket message reassembly and send queue (see ws_peer.h). */
#include "ws_peer.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ws_msg {
	struct ws_msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE headroom, then len bytes */
};

int ws_peer_receive(struct ws_peer *p, const void *in, size_t len, size_t max_bytes)
{
	bool first = lws_is_first_fragment(p->wsi), final = lws_is_final_fragment(p->wsi);
	if (first) {
		p->rx_len = 0;
		p->rx_overflow = false;
	}
	if (!p->rx_overflow && p->rx_len + len > max_bytes) {
		p->rx_overflow = true;
		free(p->rx);
		p->rx = NULL;
		p->rx_cap = p->rx_len = 0;
	}
	if (p->rx_overflow)
		return final ? -1 : 0;
	if (p->rx_len + len > p->rx_cap) {
		size_t ncap = p->rx_cap ? p->rx_cap : 65536;
		while (ncap < p->rx_len + len)
			ncap *= 2;
		char *n = realloc(p->rx, ncap);
		if (!n) {
			p->rx_overflow = true;
			return final ? -1 : 0;
		}
		p->rx = n;
		p->rx_cap = ncap;
	}
	memcpy(p->rx + p->rx_len, in, len);
	p->rx_len += len;
	return final ? 1 : 0;
}

void ws_peer_consume(struct ws_peer *p)
{
	p->rx_len = 0;
	if (p->rx_cap > (1u << 20)) { /* do not keep a huge buffer around */
		free(p->rx);
		p->rx = NULL;
		p->rx_cap = 0;
	}
}

int ws_peer_send(struct ws_peer *p, const void *data, size_t len)
{
	struct ws_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return -1;
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, data, len);
	if (p->tx_tail)
		p->tx_tail->next = m;
	else
		p->tx_head = m;
	p->tx_tail = m;
	p->tx_bytes += len;
	if (p->wsi)
		lws_callback_on_writable(p->wsi);
	return 0;
}

int ws_peer_on_writeable(struct ws_peer *p)
{
	struct ws_msg *m = p->tx_head;
	if (!m)
		return 0;
	/* lws buffers whatever the socket does not take and calls WRITEABLE again once drained. */
	int n = lws_write(p->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_BINARY);
	if (n < (int)m->len)
		return -1;
	p->tx_head = m->next;
	if (!p->tx_head)
		p->tx_tail = NULL;
	p->tx_bytes -= m->len;
	free(m);
	if (p->tx_head)
		lws_callback_on_writable(p->wsi);
	return 0;
}

void ws_peer_clear(struct ws_peer *p)
{
	free(p->rx);
	p->rx = NULL;
	p->rx_len = p->rx_cap = 0;
	while (p->tx_head) {
		struct ws_msg *n = p->tx_head->next;
		free(p->tx_head);
		p->tx_head = n;
	}
	p->tx_tail = NULL;
	p->tx_bytes = 0;
}
