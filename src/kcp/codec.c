#include "kcp/codec.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void sf_kcp_hdr_encode(uint8_t *p, const struct sf_kcp_hdr *h)
{
	put32(p, h->conv);
	p[4] = h->cmd;
	p[5] = h->frg;
	put16(p + 6, h->wnd);
	put32(p + 8, h->ts);
	put32(p + 12, h->sn);
	put32(p + 16, h->una);
	put32(p + 20, h->len);
}

void sf_kcp_hdr_decode(const uint8_t *p, struct sf_kcp_hdr *h)
{
	h->conv = get32(p);
	h->cmd = p[4];
	h->frg = p[5];
	h->wnd = get16(p + 6);
	h->ts = get32(p + 8);
	h->sn = get32(p + 12);
	h->una = get32(p + 16);
	h->len = get32(p + 20);
}
