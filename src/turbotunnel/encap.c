#include "turbotunnel/encap.h"

#include <string.h>

const uint8_t sf_tt_token[SF_TT_TOKEN_LEN] = { 0x12, 0x93, 0x60, 0x5d, 0x27, 0x81, 0x75, 0xf5 };

#define PREFIX_DATA 0x80
#define PREFIX_MORE 0x40
#define PADDING_CHUNK_MAX 1024	/* upstream's padding buffer size */

_Static_assert(SF_TT_MTU <= SF_TT_READ_BUF, "MTU cut must follow the read-buffer cut");
_Static_assert(SF_TT_MTU < UINT16_MAX, "fill is a uint16_t");

const char *sf_tt_strerror(int status)
{
	switch (status) {
	case SF_TT_OK:
		return "ok";
	case SF_TT_STOPPED:
		return "stopped";
	case SF_TT_NEED_MORE:
		return "need more";
	case SF_TT_ERR_TOO_LONG:
		return "length prefix is too long";
	case SF_TT_ERR_UNEXPECTED_EOF:
		return "unexpected EOF";
	case SF_TT_ERR_BAD_TOKEN:
		return "bad token";
	case SF_TT_ERR_ARG:
		return "invalid argument";
	}
	return "unknown error";
}

size_t sf_tt_encode_prefix(size_t len, uint8_t out[SF_TT_PREFIX_MAX])
{
	if (len < (1u << 6)) {
		out[0] = PREFIX_DATA | (uint8_t)len;
		return 1;
	}
	if (len < (1u << 13)) {
		out[0] = PREFIX_DATA | PREFIX_MORE | (uint8_t)(len >> 7);
		out[1] = (uint8_t)(len & 0x7f);
		return 2;
	}
	if (len <= SF_TT_LEN_MAX) {
		out[0] = PREFIX_DATA | PREFIX_MORE | (uint8_t)(len >> 14);
		out[1] = 0x80 | (uint8_t)((len >> 7) & 0x7f);
		out[2] = (uint8_t)(len & 0x7f);
		return 3;
	}
	return 0;
}

size_t sf_tt_encode_packet(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	uint8_t prefix[SF_TT_PREFIX_MAX];
	size_t plen = sf_tt_encode_prefix(len, prefix);
	if (plen == 0 || cap < plen || cap - plen < len)
		return 0;
	memcpy(out, prefix, plen);
	if (len > 0)
		memcpy(out + plen, pkt, len);
	return plen + len;
}

int sf_tt_encode_padding(size_t n, uint8_t *out, size_t cap)
{
	if (cap < n)
		return SF_TT_ERR_ARG;
	memset(out, 0, n);
	/* Each chunk covers p total bytes (prefix included), p <= 1024, so a 1- or 2-byte prefix
	 * always suffices; the zero fill already is the padding. */
	while (n > 0) {
		size_t p = n < PADDING_CHUNK_MAX ? n : PADDING_CHUNK_MAX;
		n -= p;
		if (p - 1 < (1u << 6)) {
			out[0] = (uint8_t)(p - 1);
		} else {
			out[0] = PREFIX_MORE | (uint8_t)((p - 2) >> 7);
			out[1] = (uint8_t)((p - 2) & 0x7f);
		}
		out += p;
	}
	return SF_TT_OK;
}

static bool token_ok(const struct sf_tt_preamble *p)
{
	return memcmp(p->bytes, sf_tt_token, SF_TT_TOKEN_LEN) == 0;
}

int sf_tt_preamble_feed(struct sf_tt_preamble *p, const uint8_t *data, size_t len, size_t *used)
{
	size_t i = 0;
	while (i < len && p->got < SF_TT_PREAMBLE_LEN) {
		/* A wrong token ends the preamble: nothing after it is consumed. */
		if (p->got == SF_TT_TOKEN_LEN && !token_ok(p))
			break;
		p->bytes[p->got++] = data[i++];
	}
	if (used)
		*used = i;
	if (p->got >= SF_TT_TOKEN_LEN && !token_ok(p))
		return SF_TT_ERR_BAD_TOKEN;
	return p->got == SF_TT_PREAMBLE_LEN ? SF_TT_OK : SF_TT_NEED_MORE;
}

const char *sf_tt_preamble_eof_message(const struct sf_tt_preamble *p)
{
	/* Mirrors io.ReadFull: EOF when nothing of that field was read, else unexpected EOF. */
	if (p->got == 0)
		return NULL;
	if (p->got < SF_TT_TOKEN_LEN)
		return "reading token: unexpected EOF";
	if (p->got == SF_TT_TOKEN_LEN)
		return "reading ClientID: EOF";
	if (p->got < SF_TT_PREAMBLE_LEN)
		return "reading ClientID: unexpected EOF";
	return NULL;
}

void sf_tt_decoder_init(struct sf_tt_decoder *d, sf_tt_packet_fn on_packet, void *arg)
{
	memset(d, 0, sizeof *d);
	d->on_packet = on_packet;
	d->arg = arg;
	d->state = SF_TT_DEC_PREFIX;
}

/* The chunk's length is known: set up the body, or finish an empty chunk at once. Returns true
 * when a packet was just delivered and the callback asked to stop. */
static bool decoder_start_body(struct sf_tt_decoder *d)
{
	d->fill = 0;
	if (d->remaining > 0) {
		d->state = SF_TT_DEC_BODY;
		return false;
	}
	d->state = SF_TT_DEC_PREFIX;
	return d->is_data && d->on_packet(d->arg, d->buf, 0) != 0;
}

int sf_tt_decoder_feed(struct sf_tt_decoder *d, const uint8_t *data, size_t len, size_t *used)
{
	size_t i = 0;
	int rc = SF_TT_OK;

	while (i < len) {
		if (d->state == SF_TT_DEC_FAILED) {
			rc = SF_TT_ERR_TOO_LONG;
			break;
		}
		if (d->state == SF_TT_DEC_PREFIX) {
			uint8_t b = data[i++];
			d->is_data = (b & PREFIX_DATA) != 0;
			d->remaining = b & 0x3f;
			d->prefix_bytes = 1;
			if (b & PREFIX_MORE) {
				d->state = SF_TT_DEC_PREFIX_MORE;
			} else if (decoder_start_body(d)) {
				rc = SF_TT_STOPPED;
				break;
			}
			continue;
		}
		if (d->state == SF_TT_DEC_PREFIX_MORE) {
			uint8_t b = data[i++];
			d->remaining = (d->remaining << 7) | (b & 0x7f);
			d->prefix_bytes++;
			if (b & 0x80) {
				/* Upstream gives up after its third prefix byte, without reading a 4th. */
				if (d->prefix_bytes >= SF_TT_PREFIX_MAX) {
					d->state = SF_TT_DEC_FAILED;
					rc = SF_TT_ERR_TOO_LONG;
					break;
				}
			} else if (decoder_start_body(d)) {
				rc = SF_TT_STOPPED;
				break;
			}
			continue;
		}

		/* SF_TT_DEC_BODY: keep what fits in one MTU, stream the rest away. */
		size_t n = len - i;
		if (n > d->remaining)
			n = d->remaining;
		if (d->is_data && d->fill < SF_TT_MTU) {
			size_t keep = SF_TT_MTU - d->fill;
			if (keep > n)
				keep = n;
			memcpy(d->buf + d->fill, data + i, keep);
			d->fill += (uint16_t)keep;
		}
		i += n;
		d->remaining -= (uint32_t)n;
		if (d->remaining == 0) {
			d->state = SF_TT_DEC_PREFIX;
			if (d->is_data && d->on_packet(d->arg, d->buf, d->fill) != 0) {
				rc = SF_TT_STOPPED;
				break;
			}
		}
	}
	if (rc == SF_TT_OK && d->state == SF_TT_DEC_FAILED)
		rc = SF_TT_ERR_TOO_LONG;
	if (used)
		*used = i;
	return rc;
}

int sf_tt_decoder_finish(const struct sf_tt_decoder *d)
{
	switch (d->state) {
	case SF_TT_DEC_PREFIX:
		return SF_TT_OK;
	case SF_TT_DEC_FAILED:
		return SF_TT_ERR_TOO_LONG;
	default:
		return SF_TT_ERR_UNEXPECTED_EOF;
	}
}
