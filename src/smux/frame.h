/* smux v2 frame layout (docs/smux.md "Frame"): an 8-byte little-endian header, then len payload
 * bytes. UPD carries exactly 8 payload bytes: consumed u32, window u32. */
#ifndef SF_SMUX_FRAME_H
#define SF_SMUX_FRAME_H

#include <stdint.h>

#define SF_SMUX_VERSION 2
#define SF_SMUX_HDR_LEN 8
#define SF_SMUX_UPD_LEN 8

enum sf_smux_cmd {
	SF_SMUX_SYN = 0,
	SF_SMUX_FIN = 1,
	SF_SMUX_PSH = 2,
	SF_SMUX_NOP = 3,
	SF_SMUX_UPD = 4,
};

struct sf_smux_hdr {
	uint8_t ver;
	uint8_t cmd;
	uint16_t len;
	uint32_t sid;
};

/* Writes a version-2 header. */
void sf_smux_hdr_encode(uint8_t out[SF_SMUX_HDR_LEN], uint8_t cmd, uint16_t len, uint32_t sid);
/* Reads any header as is; checking it is the session's job. */
void sf_smux_hdr_decode(const uint8_t in[SF_SMUX_HDR_LEN], struct sf_smux_hdr *h);

void sf_smux_upd_encode(uint8_t out[SF_SMUX_UPD_LEN], uint32_t consumed, uint32_t window);
void sf_smux_upd_decode(const uint8_t in[SF_SMUX_UPD_LEN], uint32_t *consumed, uint32_t *window);

#endif
