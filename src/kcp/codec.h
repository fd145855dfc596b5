/* KCP segment header: 24 bytes, little-endian (docs/kcp.md). */
#ifndef SF_KCP_CODEC_H
#define SF_KCP_CODEC_H

#include <stdbool.h>
#include <stdint.h>

enum sf_kcp_cmd {
	SF_KCP_CMD_PUSH = 81,
	SF_KCP_CMD_ACK = 82,
	SF_KCP_CMD_WASK = 83,
	SF_KCP_CMD_WINS = 84,
};

struct sf_kcp_hdr {
	uint32_t conv;
	uint8_t cmd;
	uint8_t frg;
	uint16_t wnd;
	uint32_t ts;
	uint32_t sn;
	uint32_t una;
	uint32_t len;           /* payload bytes following the header */
};

/* Writes the 24 header bytes at p. */
void sf_kcp_hdr_encode(uint8_t *p, const struct sf_kcp_hdr *h);
/* Reads 24 header bytes from p (no validation). */
void sf_kcp_hdr_decode(const uint8_t *p, struct sf_kcp_hdr *h);

static inline bool sf_kcp_cmd_valid(uint8_t cmd)
{
	return cmd >= SF_KCP_CMD_PUSH && cmd <= SF_KCP_CMD_WINS;
}

#endif
