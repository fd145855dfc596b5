/* A shard driven alone, without the front or a listener (header-only, for test_shard_handover and
 * fuzz_shard_live): WebSockets arrive as the server ends of socket pairs, handed over as the front
 * hands them once a preamble was read. */
#ifndef SF_SHARD_TEST_UTIL_H
#define SF_SHARD_TEST_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "shard/shard.h"
#include "ws/ws.h"

static inline void shard_test_noop_data(void *user, const uint8_t *p, size_t n)
{
	(void)user, (void)p, (void)n;
}

static inline void shard_test_noop_close(void *user, uint16_t code)
{
	(void)user, (void)code;
}

/* The front's WebSocket carries these until the shard sets its own. */
static const struct sf_ws_callbacks shard_test_no_ws_callbacks = {
	.on_data = shard_test_noop_data, .on_output = shard_test_noop_data,
	.on_close = shard_test_noop_close,
};

/* Hands the server end of a new socket pair to sh, as the front does once the preamble of
 * clientid was read; pending: the payload bytes that followed the preamble. Returns the client
 * end, or -1 (nothing was handed over). */
static inline int shard_test_hand_over(struct sf_shard *sh, const uint8_t clientid[8],
				       const uint8_t *pending, size_t pending_len)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	struct sf_handover *h = calloc(1, sizeof *h + pending_len);
	if (h) {
		h->conn = sf_conn_new(NULL, sv[0], NULL, NULL); /* detached, as the front leaves it */
		h->ws = sf_ws_new(&shard_test_no_ws_callbacks, NULL);
	}
	if (!h || !h->conn || !h->ws) {
		if (!h || !h->conn)
			close(sv[0]);
		if (h)
			sf_handover_free(h);
		close(sv[1]);
		return -1;
	}
	memcpy(h->clientid, clientid, 8);
	h->pending_len = pending_len;
	if (pending_len)
		memcpy(h->pending, pending, pending_len);
	sf_shard_post(sh, h);
	return sv[1];
}

#endif
