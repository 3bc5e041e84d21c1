/* ws_peer.c - websocket message reassembly and send queue (see ws_peer.h). */
#include "ws_peer.h"
#include "core/clock.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ws_shared {
	int refs;
	size_t len;
	unsigned char buf[]; /* LWS_PRE headroom, then len bytes */
};

/* A queued message: len bytes in buf, then, when shared is set, its body as a second fragment
 * (head_sent: the first is written). */
struct ws_msg {
	struct ws_msg *next;
	size_t len;
	struct ws_shared *shared;
	bool head_sent;
	unsigned char buf[]; /* LWS_PRE headroom, then len bytes */
};

struct ws_shared *ws_shared_new(const void *data, size_t len)
{
	struct ws_shared *sh = malloc(sizeof(*sh) + LWS_PRE + len);
	if (!sh)
		return NULL;
	sh->refs = 1;
	sh->len = len;
	memcpy(sh->buf + LWS_PRE, data, len);
	return sh;
}

void ws_shared_unref(struct ws_shared *sh)
{
	if (sh && --sh->refs == 0)
		free(sh);
}

size_t ws_shared_len(const struct ws_shared *sh)
{
	return sh ? sh->len : 0;
}

static void msg_free(struct ws_msg *m)
{
	ws_shared_unref(m->shared);
	free(m);
}

/* The capacity that holds `need` bytes: rx_cap, or the first power-of-two multiple of it (of
 * 64 KiB when there is none) that is large enough. */
static size_t capacity_for(const struct ws_peer *p, size_t need)
{
	size_t ncap = p->rx_cap ? p->rx_cap : 65536;
	while (ncap < need)
		ncap *= 2;
	return ncap;
}

/* Room for `need` bytes of the message. false on out-of-memory. */
static bool grow(struct ws_peer *p, size_t need)
{
	size_t ncap = capacity_for(p, need);
	char *n = realloc(p->rx, ncap);
	if (!n)
		return false;
	p->rx = n;
	p->rx_cap = ncap;
	return true;
}

/* The bytes the message may still take: more, or what is left of max_bytes. */
static size_t rx_more(const struct ws_peer *p, size_t more, size_t max_bytes)
{
	size_t left = p->rx_len < max_bytes ? max_bytes - p->rx_len : 0;
	return more < left ? more : left;
}

size_t ws_peer_rx_next_cap(const struct ws_peer *p, size_t more, size_t max_bytes)
{
	if (p->rx_overflow)
		return p->rx_cap;
	size_t need = p->rx_len + rx_more(p, more, max_bytes);
	return need > p->rx_cap ? capacity_for(p, need) : p->rx_cap;
}

bool ws_peer_rx_reserve(struct ws_peer *p, size_t more, size_t max_bytes)
{
	size_t need = p->rx_len + rx_more(p, more, max_bytes);
	return p->rx_overflow || need <= p->rx_cap || grow(p, need);
}

int ws_peer_receive(struct ws_peer *p, const void *in, size_t len, size_t max_bytes)
{
	bool first = lws_is_first_fragment(p->wsi), final = lws_is_final_fragment(p->wsi);
	if (first) {
		p->rx_len = 0;
		p->rx_overflow = false;
		p->rx_since_ns = mono_now_ns();
	}
	if (p->rx_overflow) {
		if (final)
			p->rx_since_ns = 0;
		return 0;
	}
	if (p->rx_len + len > max_bytes || (p->rx_len + len > p->rx_cap && !grow(p, p->rx_len + len))) {
		ws_peer_drop_rx(p);
		if (final)
			p->rx_since_ns = 0;
		return -1;
	}
	memcpy(p->rx + p->rx_len, in, len);
	p->rx_len += len;
	if (final)
		p->rx_since_ns = 0;
	return final ? 1 : 0;
}

void ws_peer_consume(struct ws_peer *p)
{
	p->rx_len = 0;
	if (p->rx_cap > WS_PEER_KEEP_BYTES) { /* do not keep a large buffer around */
		free(p->rx);
		p->rx = NULL;
		p->rx_cap = 0;
	}
}

void ws_peer_drop_rx(struct ws_peer *p)
{
	p->rx_overflow = true;
	free(p->rx);
	p->rx = NULL;
	p->rx_cap = p->rx_len = 0;
}

static int queue(struct ws_peer *p, const void *data, size_t len, struct ws_shared *shared)
{
	struct ws_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return -1;
	m->next = NULL;
	m->len = len;
	m->shared = shared;
	m->head_sent = false;
	memcpy(m->buf + LWS_PRE, data, len);
	if (shared)
		shared->refs++;
	if (p->tx_tail)
		p->tx_tail->next = m;
	else
		p->tx_head = m;
	p->tx_tail = m;
	p->tx_bytes += len + ws_shared_len(shared);
	if (p->wsi)
		lws_callback_on_writable(p->wsi);
	return 0;
}

int ws_peer_send(struct ws_peer *p, const void *data, size_t len)
{
	return queue(p, data, len, NULL);
}

int ws_peer_send_shared(struct ws_peer *p, const void *head, size_t hlen, struct ws_shared *body)
{
	return queue(p, head, hlen, body);
}

int ws_peer_on_writeable(struct ws_peer *p)
{
	struct ws_msg *m = p->tx_head;
	if (!m)
		return 0;
	/* lws buffers whatever the socket does not take and calls WRITEABLE again once drained. */
	if (!m->shared || !m->head_sent) {
		int flags = m->shared ? LWS_WRITE_BINARY | LWS_WRITE_NO_FIN : LWS_WRITE_BINARY;
		if (lws_write(p->wsi, m->buf + LWS_PRE, m->len, flags) < (int)m->len)
			return -1;
		if (m->shared) { /* the body goes in the next callback: one write per WRITEABLE */
			m->head_sent = true;
			lws_callback_on_writable(p->wsi);
			return 0;
		}
	} else if (lws_write(p->wsi, m->shared->buf + LWS_PRE, m->shared->len, LWS_WRITE_CONTINUATION) <
		   (int)m->shared->len) {
		return -1;
	}
	p->tx_head = m->next;
	if (!p->tx_head)
		p->tx_tail = NULL;
	p->tx_bytes -= m->len + ws_shared_len(m->shared);
	p->tx_total += m->len + ws_shared_len(m->shared);
	msg_free(m);
	if (p->tx_head)
		lws_callback_on_writable(p->wsi);
	return 0;
}

void ws_peer_clear(struct ws_peer *p)
{
	free(p->rx);
	p->rx = NULL;
	p->rx_len = p->rx_cap = 0;
	p->rx_since_ns = 0;
	while (p->tx_head) {
		struct ws_msg *n = p->tx_head->next;
		msg_free(p->tx_head);
		p->tx_head = n;
	}
	p->tx_tail = NULL;
	p->tx_bytes = 0;
}
