/* Sans-I/O WebSocket endpoint (RFC 6455, as gorilla/websocket enforces it on reads), built on
 * wslay's frame codec: the server's (sf_ws_new) and, for the load generator, a client's
 * (sf_ws_new_client: masked frames out, unmasked frames in). Data frames stream through as they arrive; Text is treated exactly like
 * Binary (no UTF-8 check); message boundaries carry no meaning. Pure memory: the object may move
 * between threads with its connection. */
#ifndef SF_WS_WS_H
#define SF_WS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest data frame accepted from the peer (gorilla has no limit; a frame's payload is never
 * buffered here, the cap only stops absurd announcements). Well above 1 MiB: one frame may carry
 * the largest turbotunnel record (1048578 bytes with its prefix) and more. */
#define SF_WS_MAX_FRAME (1u << 24)

#define SF_WS_CLOSE_NO_STATUS 1005
#define SF_WS_CLOSE_TRY_AGAIN_LATER 1013	/* IANA close code registry: overloaded, retry */

/* Callbacks may send (sf_ws_send_binary, sf_ws_close) but must not free the object. */
struct sf_ws_callbacks {
	/* Payload bytes of Binary/Text/continuation frames, lent for the call. */
	void (*on_data)(void *user, const uint8_t *p, size_t n);
	/* Bytes to write to the socket, lent for the call (a frame may come in several pieces). */
	void (*on_output)(void *user, const uint8_t *p, size_t n);
	/* The peer's Close arrived and was echoed (its code, no reason; empty if it had none, then
	 * code is 1005). Nothing more will be read: flush the output and close the connection. */
	void (*on_close)(void *user, uint16_t code);
	/* Client only: the masking key of the next frame (RFC 6455 wants it unpredictable; the
	 * caller owns the randomness). Required by sf_ws_new_client. */
	void (*on_mask)(void *user, uint8_t key[4]);
};

struct sf_ws;

struct sf_ws *sf_ws_new(const struct sf_ws_callbacks *cb, void *user);
/* The client side of the same protocol: every frame sent is masked with a key from on_mask,
 * and a masked frame from the peer is a protocol error (Close 1002). NULL without on_mask. */
struct sf_ws *sf_ws_new_client(const struct sf_ws_callbacks *cb, void *user);
void sf_ws_free(struct sf_ws *ws);
/* New owner (e.g. after the connection moved to a shard). */
void sf_ws_set_callbacks(struct sf_ws *ws, const struct sf_ws_callbacks *cb, void *user);

/* Consumes bytes read from the socket. Returns 0, or -1 on a protocol error (unmasked frame, RSV
 * bit, unknown opcode, bad control frame or continuation, bad length, bad Close payload): a Close
 * with code 1002 (1009 for a data frame over SF_WS_MAX_FRAME) has then been emitted through
 * on_output for the caller to flush before closing. Once a Close was sent (echo, sf_ws_close or
 * error) the rest of the input is ignored: 0, or -1 again after an error. */
int sf_ws_feed(struct sf_ws *ws, const uint8_t *p, size_t n);

/* Emits one unfragmented Binary message (masked by a client). -1 once a Close has been sent. */
int sf_ws_send_binary(struct sf_ws *ws, const uint8_t *p, size_t n);

/* Emits a Close with empty payload (88 00) unless a Close was already sent. */
void sf_ws_close(struct sf_ws *ws);
/* The same with a status code and no reason (SF_WS_CLOSE_NO_STATUS: the empty Close). */
void sf_ws_close_code(struct sf_ws *ws, uint16_t code);

bool sf_ws_close_sent(const struct sf_ws *ws);

#endif
