#include "smux/frame.h"

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void sf_smux_hdr_encode(uint8_t out[SF_SMUX_HDR_LEN], uint8_t cmd, uint16_t len, uint32_t sid)
{
	out[0] = SF_SMUX_VERSION;
	out[1] = cmd;
	put_le16(out + 2, len);
	put_le32(out + 4, sid);
}

void sf_smux_hdr_decode(const uint8_t in[SF_SMUX_HDR_LEN], struct sf_smux_hdr *h)
{
	h->ver = in[0];
	h->cmd = in[1];
	h->len = (uint16_t)(in[2] | in[3] << 8);
	h->sid = get_le32(in + 4);
}

void sf_smux_upd_encode(uint8_t out[SF_SMUX_UPD_LEN], uint32_t consumed, uint32_t window)
{
	put_le32(out, consumed);
	put_le32(out + 4, window);
}

void sf_smux_upd_decode(const uint8_t in[SF_SMUX_UPD_LEN], uint32_t *consumed, uint32_t *window)
{
	*consumed = get_le32(in);
	*window = get_le32(in + 4);
}
