/* The shard's data path without its I/O (a harness mirroring src/shard/client.c, not the shard
 * code itself, which needs libevent, sockets and tor): a client's WebSocket bytes go through
 * sf_ws -> turbotunnel preamble + decoder -> KCP (session made and replaced by conv as
 * sf_client_packet_in does) -> smux (fed from KCP while under the session buffer, as
 * sf_client_pump) -> streams that echo what they get, as an ORPort echo would; downstream, smux
 * frames go into KCP and KCP packets back out as encapsulated WebSocket messages. A malformed
 * packet or stream ends the link (the input), as the shard closes it.
 * Input: [segment size byte][ms per read byte], then the client's WebSocket bytes (a zero mask
 * key leaves the payload readable, which is how the seeds are written). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kcp/kcp.h"
#include "smux/smux.h"
#include "turbotunnel/encap.h"
#include "ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct pipe {
	struct sf_ws *ws;
	struct sf_tt_preamble pre;
	struct sf_tt_decoder dec;
	struct sf_kcp *kcp;
	struct sf_smux_session *smux;
	uint64_t now;
	bool bad;        /* the link would be closed */
	bool dead;       /* the session would be ended */
	size_t out_bytes;
	uint8_t scratch[2 * SF_SMUX_MAX_FRAME];
};

static struct pipe *the_pipe; /* for the stream callbacks */

static void ws_output(void *user, const uint8_t *p, size_t n)
{
	struct pipe *pp = user;
	(void)p;
	pp->out_bytes += n;
}

static void kcp_output(const uint8_t *pkt, size_t len, void *user)
{
	struct pipe *pp = user;
	uint8_t enc[SF_TT_ENCODED_MAX];
	size_t n = sf_tt_encode_packet(pkt, len, enc, sizeof enc);
	if (n == 0) /* KCP never emits more than the MTU */
		__builtin_trap();
	(void)sf_ws_send_binary(pp->ws, enc, n);
}

static void smux_output(void *user, const uint8_t *frame, size_t len)
{
	struct pipe *pp = user;
	if (pp->kcp && sf_kcp_send(pp->kcp, frame, len) < 0)
		pp->dead = true;
}

static void *stream_open(void *user, struct sf_smux_stream *st)
{
	(void)user;
	return st;
}

static void stream_data(void *user, const uint8_t *p, size_t n)
{
	struct sf_smux_stream *st = user;
	size_t put = sf_smux_stream_write(st, p, n); /* echo what fits the peer's window */
	sf_smux_stream_consumed(st, n);
	(void)put;
}

static void stream_fin(void *user)
{
	struct sf_smux_stream *st = user;
	sf_smux_stream_close(st); /* the relay answers FIN with FIN */
	sf_smux_release(the_pipe->smux, SIZE_MAX);
}

static void stream_writable(void *user)
{
	(void)user;
}

static const struct sf_smux_callbacks smux_callbacks = {
	.output = smux_output,
	.stream_open = stream_open,
	.stream_data = stream_data,
	.stream_fin = stream_fin,
	.stream_writable = stream_writable,
};

static void session_end(struct pipe *pp)
{
	sf_smux_session_free(pp->smux);
	sf_kcp_free(pp->kcp);
	pp->smux = NULL;
	pp->kcp = NULL;
	pp->dead = false;
}

static int on_packet(void *arg, const uint8_t *pkt, size_t len)
{
	struct pipe *pp = arg;
	if (len == 0)
		return 0;
	if (len < SF_KCP_OVERHEAD) {
		pp->bad = true;
		return 1;
	}
	uint32_t conv = sf_kcp_peek_conv(pkt);
	if (pp->kcp && sf_kcp_conv(pp->kcp) != conv) {
		if (sf_kcp_peek_sn(pkt) != 0) {
			pp->bad = true;
			return 1;
		}
		session_end(pp);
	}
	if (!pp->kcp) {
		pp->kcp = sf_kcp_new(conv, kcp_output, pp);
		pp->smux = sf_smux_session_new(&smux_callbacks, pp, pp->now);
		if (!pp->kcp || !pp->smux)
			__builtin_trap();
	}
	int rc = sf_kcp_input(pp->kcp, pkt, len, (uint32_t)pp->now);
	if (rc == -3 || rc == -4) {
		pp->bad = true;
		return 1;
	}
	return 0;
}

static void ws_data(void *user, const uint8_t *p, size_t n)
{
	struct pipe *pp = user;
	while (n > 0 && !pp->bad) {
		size_t used = 0;
		if (!sf_tt_preamble_done(&pp->pre)) {
			if (sf_tt_preamble_feed(&pp->pre, p, n, &used) == SF_TT_ERR_BAD_TOKEN)
				pp->bad = true;
		} else {
			int rc = sf_tt_decoder_feed(&pp->dec, p, n, &used);
			if (rc == SF_TT_ERR_TOO_LONG)
				pp->bad = true;
		}
		p += used;
		n -= used;
	}
}

static void ws_close(void *user, uint16_t code)
{
	struct pipe *pp = user;
	(void)code;
	pp->bad = true;
}

static const struct sf_ws_callbacks ws_callbacks = {
	.on_data = ws_data,
	.on_output = ws_output,
	.on_close = ws_close,
};

/* sf_client_pump, then the flush and the timers that would be due. */
static void pump(struct pipe *pp)
{
	while (pp->kcp && !pp->dead && sf_smux_unconsumed(pp->smux) < SF_SMUX_SESSION_BUFFER) {
		size_t n = sf_kcp_recv(pp->kcp, pp->scratch, sizeof pp->scratch);
		if (n == 0)
			break;
		if (sf_smux_input(pp->smux, pp->scratch, n, pp->now) < 0)
			pp->dead = true;
	}
	if (pp->kcp && !pp->dead && sf_smux_next_due(pp->smux, pp->now) <= 0 &&
	    sf_smux_tick(pp->smux, pp->now) < 0)
		pp->dead = true;
	if (pp->dead)
		session_end(pp);
	else if (pp->kcp)
		sf_kcp_flush(pp->kcp, (uint32_t)pp->now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t seg = (size_t)data[0] * 8 + 1;
	uint64_t step = data[1];
	data += 2;
	size -= 2;
	static struct pipe pipe;
	struct pipe *pp = &pipe;
	*pp = (struct pipe){.now = 5000};
	the_pipe = pp;
	pp->ws = sf_ws_new(&ws_callbacks, pp);
	if (!pp->ws)
		return 0;
	sf_tt_decoder_init(&pp->dec, on_packet, pp);
	for (size_t off = 0; off < size && !pp->bad; off += seg) {
		size_t n = size - off < seg ? size - off : seg;
		pp->now += step;
		if (sf_ws_feed(pp->ws, data + off, n) < 0)
			pp->bad = true;
		pump(pp);
	}
	/* The timer keeps the session going a little after the last read. */
	for (int i = 0; i < 3 && pp->kcp; i++) {
		int32_t due = sf_kcp_next_due(pp->kcp, (uint32_t)pp->now);
		if (due < 0)
			break;
		pp->now += (uint64_t)due;
		pump(pp);
	}
	if (pp->kcp)
		session_end(pp);
	sf_ws_free(pp->ws);
	the_pipe = NULL;
	if (sf_kcp_thread_seg_bytes() != 0)
		__builtin_trap();
	sf_kcp_thread_cache_free();
	return 0;
}
