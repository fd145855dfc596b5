/* The turbotunnel byte stream a client sends inside the WebSocket (src/turbotunnel/encap.c): the
 * token + ClientID preamble, then length-prefixed chunks, split at fuzzed points.
 * Input: one byte giving the segment size (1..128) and whether the packet callback asks to stop
 * (bit 7: stop after every packet whose first byte is odd), then the stream. */
#include <stddef.h>
#include <stdint.h>

#include "turbotunnel/encap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	int stop_on_odd;
	size_t packets;
	unsigned sum;
};

static int on_packet(void *arg, const uint8_t *pkt, size_t len)
{
	struct sink *s = arg;
	if (len > SF_TT_MTU)
		__builtin_trap();
	for (size_t i = 0; i < len; i++)
		s->sum += pkt[i];
	s->packets++;
	return s->stop_on_odd && len > 0 && (pkt[0] & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t seg = (size_t)(data[0] & 0x7f) + 1;
	struct sink sink = {.stop_on_odd = data[0] >> 7};
	data++;
	size--;

	struct sf_tt_preamble pre = {0};
	struct sf_tt_decoder dec;
	sf_tt_decoder_init(&dec, on_packet, &sink);
	int failed = 0;
	for (size_t off = 0; off < size && !failed;) {
		size_t n = size - off < seg ? size - off : seg;
		size_t used = 0;
		if (!sf_tt_preamble_done(&pre)) {
			int rc = sf_tt_preamble_feed(&pre, data + off, n, &used);
			if (used > n)
				__builtin_trap();
			if (rc == SF_TT_ERR_BAD_TOKEN)
				break;
			if (used == 0) /* no progress: the loop would never end */
				__builtin_trap();
			off += used;
			continue;
		}
		int rc = sf_tt_decoder_feed(&dec, data + off, n, &used);
		if (used > n || (rc == SF_TT_OK && used != n))
			__builtin_trap();
		if (rc == SF_TT_ERR_TOO_LONG)
			failed = 1;
		else if (rc == SF_TT_STOPPED && used == 0)
			__builtin_trap(); /* a packet always ends on a byte of this segment */
		off += used;
	}
	if (sf_tt_preamble_done(&pre))
		(void)sf_tt_preamble_clientid(&pre)[SF_TT_CLIENTID_LEN - 1];
	else
		(void)sf_tt_preamble_eof_message(&pre);
	int end = sf_tt_decoder_finish(&dec);
	if (sf_tt_strerror(end) == NULL)
		__builtin_trap();
	return 0;
}
