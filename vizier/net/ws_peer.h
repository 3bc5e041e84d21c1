/* ws_peer.h - framing: one websocket connection's message layer on top of libwebsockets.
 * Reassembles fragmented incoming messages (bounded by a maximum size) and queues outgoing
 * messages, writing one per WRITEABLE callback with the LWS_PRE headroom lws needs. Used by
 * both ends of every connection (coordinator, agent link, CLI). Only the lws service thread may
 * touch a peer. */
#ifndef WISP_WS_PEER_H
#define WISP_WS_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws;
struct ws_msg;

struct ws_peer {
	struct lws *wsi;
	char *rx;              /* message being reassembled */
	size_t rx_len, rx_cap;
	bool rx_overflow;      /* current message exceeded max: its fragments are discarded */
	int64_t rx_since_ns;   /* CLOCK_MONOTONIC: when the message being reassembled began, 0 = none */
	struct ws_msg *tx_head, *tx_tail;
	size_t tx_bytes;       /* queued, not yet written */
	uint64_t tx_total;     /* messages' bytes written, ever */
};

/* Feeds one received fragment. Returns 1 when a whole message is in peer->rx[0..rx_len),
 * 0 when more fragments are needed, -1 as soon as the message exceeds max_bytes (it is dropped,
 * and its remaining fragments are ignored: 0). */
int ws_peer_receive(struct ws_peer *p, const void *in, size_t len, size_t max_bytes);
/* Forgets the completed message (call after handling it). A reassembly buffer larger than
 * WS_PEER_KEEP_BYTES is freed with it: a coordinator has one per agent, and buffers kept at the
 * size of each agent's largest answer so far would add up to megabytes per agent at rest. */
#define WS_PEER_KEEP_BYTES 65536
void ws_peer_consume(struct ws_peer *p);
/* The capacity the buffer needs to take `more` bytes beyond what the message holds so far (no
 * more than max_bytes in all), and growing it to that ahead of them: false on out-of-memory. A
 * caller with a memory budget reserves before it reads on, so the next fragments find room. */
size_t ws_peer_rx_next_cap(const struct ws_peer *p, size_t more, size_t max_bytes);
bool ws_peer_rx_reserve(struct ws_peer *p, size_t more, size_t max_bytes);
/* Frees the reassembly buffer and ignores the rest of the message being received (a connection
 * being closed holds no message memory while it lingers). */
void ws_peer_drop_rx(struct ws_peer *p);

/* Queues a copy of data as one binary message and asks lws for a WRITEABLE callback. */
int ws_peer_send(struct ws_peer *p, const void *data, size_t len);

/* A message body many peers send (a live tick to its watchers): held once, counted references,
 * freed with the last. Each peer sends its own head (copied) then the shared body, as two
 * fragments of one message: lws frames each in the LWS_PRE bytes before it, and writes or
 * copies it before the callback returns, so the one buffer serves every peer in turn. */
struct ws_shared;
struct ws_shared *ws_shared_new(const void *data, size_t len); /* a reference; NULL: no memory */
void ws_shared_unref(struct ws_shared *sh);                    /* NULL is fine */
size_t ws_shared_len(const struct ws_shared *sh);
/* Queues head (copied; at least 1 byte) and body (a reference taken) as one binary message. */
int ws_peer_send_shared(struct ws_peer *p, const void *head, size_t hlen, struct ws_shared *body);
/* Writes the next queued message; call from the WRITEABLE callback. -1 = close the connection. */
int ws_peer_on_writeable(struct ws_peer *p);
/* Frees buffers and queued messages (on close). */
void ws_peer_clear(struct ws_peer *p);

#endif
