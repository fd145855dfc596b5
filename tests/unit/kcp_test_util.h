/* Helpers shared by the test_kcp_*.c files: packet capture, hex, segment parsing. */
#ifndef KCP_TEST_UTIL_H
#define KCP_TEST_UTIL_H

#include "kcp/codec.h"
#include "kcp/kcp.h"
#include "vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every packet an engine's out() produced, copied (out() only lends the buffer). */
struct capture {
	uint8_t **pkt;
	size_t *len;
	size_t n;
	size_t cap;
};

static inline void capture_out(const uint8_t *pkt, size_t len, void *user)
{
	struct capture *c = user;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->pkt = realloc(c->pkt, c->cap * sizeof *c->pkt);
		c->len = realloc(c->len, c->cap * sizeof *c->len);
		if (!c->pkt || !c->len)
			abort();
	}
	c->pkt[c->n] = malloc(len ? len : 1);
	if (!c->pkt[c->n])
		abort();
	memcpy(c->pkt[c->n], pkt, len);
	c->len[c->n] = len;
	c->n++;
}

static inline void capture_clear(struct capture *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->pkt[i]);
	c->n = 0;
}

static inline void capture_free(struct capture *c)
{
	capture_clear(c);
	free(c->pkt);
	free(c->len);
	memset(c, 0, sizeof *c);
}

/* Splits a packet into headers; returns the count (stops at anything malformed). */
static inline size_t parse_segments(const uint8_t *pkt, size_t len, struct sf_kcp_hdr *h,
				    size_t max)
{
	size_t n = 0;
	while (len >= SF_KCP_OVERHEAD && n < max) {
		sf_kcp_hdr_decode(pkt, &h[n]);
		if (h[n].len > len - SF_KCP_OVERHEAD)
			break;
		pkt += SF_KCP_OVERHEAD + h[n].len;
		len -= SF_KCP_OVERHEAD + h[n].len;
		n++;
	}
	return n;
}

/* Builds one segment into buf; returns its size. */
static inline size_t make_seg(uint8_t *buf, uint32_t conv, uint8_t cmd, uint16_t wnd, uint32_t ts,
			      uint32_t sn, uint32_t una, const void *data, uint32_t len)
{
	struct sf_kcp_hdr h = { conv, cmd, 0, wnd, ts, sn, una, len };
	sf_kcp_hdr_encode(buf, &h);
	if (len)
		memcpy(buf + SF_KCP_OVERHEAD, data, len);
	return SF_KCP_OVERHEAD + len;
}

#endif
