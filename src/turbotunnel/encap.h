/* Turbotunnel framing over the WebSocket byte stream (docs/turbotunnel.md): the 16-byte
 * token + ClientID preamble, then chunks of "length prefix + bytes". Both readers accept input
 * split at any byte boundary and keep no more than one MTU of packet data per connection. */
#ifndef SF_TURBOTUNNEL_ENCAP_H
#define SF_TURBOTUNNEL_ENCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SF_TT_MTU 1400			/* packets are cut to this many bytes */
#define SF_TT_READ_BUF 2048		/* upstream server's read buffer (see decoder) */
#define SF_TT_PREFIX_MAX 3
#define SF_TT_ENCODED_MAX (SF_TT_MTU + 2)	/* minimal prefix of 1400 is 2 bytes */
#define SF_TT_LEN_MAX 0xFFFFFu		/* largest length a 3-byte prefix can carry */
#define SF_TT_TOKEN_LEN 8
#define SF_TT_CLIENTID_LEN 8
#define SF_TT_PREAMBLE_LEN (SF_TT_TOKEN_LEN + SF_TT_CLIENTID_LEN)

extern const uint8_t sf_tt_token[SF_TT_TOKEN_LEN];

enum sf_tt_status {
	SF_TT_OK = 0,
	SF_TT_STOPPED = 1,		/* the packet callback asked to stop; feed again to go on */
	SF_TT_NEED_MORE = 2,		/* preamble incomplete: more bytes needed */
	SF_TT_ERR_TOO_LONG = -1,	/* a prefix announced a 4th byte: end the WebSocket */
	SF_TT_ERR_UNEXPECTED_EOF = -2,	/* stream ended inside a prefix or a chunk */
	SF_TT_ERR_BAD_TOKEN = -3,	/* first 8 bytes are not the token (legacy one-shot client) */
	SF_TT_ERR_ARG = -4,		/* caller error: length or buffer size out of range */
};

/* Text for logs: "length prefix is too long" (Go ErrTooLong), "unexpected EOF", ... */
const char *sf_tt_strerror(int status);

/* ---- Encoder (always the minimal prefix, like upstream's WriteData). ---- */

/* Writes the data-chunk prefix for len into out; returns its size (1-3), or 0 if len > 0xFFFFF. */
size_t sf_tt_encode_prefix(size_t len, uint8_t out[SF_TT_PREFIX_MAX]);

/* Writes prefix + pkt[0..len) to out; returns the bytes written, or 0 if len is not encodable
 * or cap is too small. pkt and out must not overlap. */
size_t sf_tt_encode_packet(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);

/* Upstream's WritePadding(n): exactly n bytes of zero-filled padding chunks of at most 1024 bytes
 * each. Never sent by client or server; here for tests and completeness. Returns 0, or
 * SF_TT_ERR_ARG if cap < n. */
int sf_tt_encode_padding(size_t n, uint8_t *out, size_t cap);

/* ---- Preamble: token + ClientID. ---- */

struct sf_tt_preamble {
	uint8_t got;			/* bytes collected so far, 0..16 */
	uint8_t bytes[SF_TT_PREAMBLE_LEN];
};

/* Consumes up to the missing preamble bytes from data and stores the count in *used. Returns
 * SF_TT_OK when all 16 bytes are in (then sf_tt_preamble_clientid is valid; data[*used..] belongs
 * to the decoder), SF_TT_NEED_MORE while more bytes are needed, SF_TT_ERR_BAD_TOKEN once 8 bytes
 * are in and differ from the token (upstream compares only the complete token). */
int sf_tt_preamble_feed(struct sf_tt_preamble *p, const uint8_t *data, size_t len, size_t *used);

static inline bool sf_tt_preamble_done(const struct sf_tt_preamble *p)
{
	return p->got == SF_TT_PREAMBLE_LEN;
}

/* Valid once sf_tt_preamble_done. */
static inline const uint8_t *sf_tt_preamble_clientid(const struct sf_tt_preamble *p)
{
	return p->bytes + SF_TT_TOKEN_LEN;
}

/* What upstream logs when the stream ends before the preamble is complete: NULL when nothing is
 * logged (no byte at all: an unused proxy connection), else e.g. "reading ClientID: EOF". */
const char *sf_tt_preamble_eof_message(const struct sf_tt_preamble *p);

/* ---- Decoder: chunks → packets, with the reference server's truncation. ---- */

/* Called once per complete data chunk. pkt is valid only during the call. Return 0 to go on,
 * anything else to make sf_tt_decoder_feed return SF_TT_STOPPED right after this packet. */
typedef int (*sf_tt_packet_fn)(void *arg, const uint8_t *pkt, size_t len);

enum sf_tt_decoder_state {
	SF_TT_DEC_PREFIX,		/* waiting for the first byte of a prefix */
	SF_TT_DEC_PREFIX_MORE,		/* inside a 2- or 3-byte prefix */
	SF_TT_DEC_BODY,			/* inside a chunk's bytes */
	SF_TT_DEC_FAILED,		/* a prefix was too long; nothing more is accepted */
};

struct sf_tt_decoder {
	sf_tt_packet_fn on_packet;
	void *arg;
	uint8_t state;
	uint8_t prefix_bytes;		/* prefix bytes read for the current chunk */
	bool is_data;
	uint32_t remaining;		/* chunk bytes still to read (kept or skipped) */
	uint16_t fill;			/* packet bytes kept in buf */
	uint8_t buf[SF_TT_MTU];
};

void sf_tt_decoder_init(struct sf_tt_decoder *d, sf_tt_packet_fn on_packet, void *arg);

/* Feeds data[0..len). Each data chunk becomes one packet of its first min(len, 1400) bytes
 * (upstream keeps 2048, then cuts to the 1400-byte MTU); the rest of the chunk is read and
 * dropped, so the stream stays in sync. Padding chunks are skipped. Returns SF_TT_OK (all
 * consumed), SF_TT_STOPPED (callback asked; data[*used..] not consumed yet) or
 * SF_TT_ERR_TOO_LONG (sticky; *used counts the offending 3rd prefix byte). used may be NULL. */
int sf_tt_decoder_feed(struct sf_tt_decoder *d, const uint8_t *data, size_t len, size_t *used);

/* End of stream: SF_TT_OK if it ended cleanly between chunks, SF_TT_ERR_UNEXPECTED_EOF inside a
 * chunk, SF_TT_ERR_TOO_LONG if the decoder had failed. */
int sf_tt_decoder_finish(const struct sf_tt_decoder *d);

#endif
