/* The protocol stack of one session, as snowflake's client/lib builds it, from the project's
 * sans-I/O layers: WebSocket client frames ← turbotunnel encapsulation ← KCP ← smux client.
 * No timer per session: a session with KCP timer work sits on the dirty list the 10 ms tick
 * walks, and the smux keepalive (a NOP every --keepalive ms, 10 s by default) runs from one
 * FIFO: every session has the same period, so the order they came up is the order they are due. */
#include "lg.h"

#include <stdlib.h>
#include <string.h>

#include "kcp/kcp.h"
#include "smux/smux.h"
#include "ws/ws.h"

static void ws_on_data(void *user, const uint8_t *p, size_t n)
{
	struct lg_session *s = user;
	if (s->state == LG_S_FAILED)
		return;
	s->lg->c.bytes_in += n;
	int r = sf_tt_decoder_feed(s->dec, p, n, NULL);
	if (r < 0)
		lg_session_fail(s, &s->lg->c.err_tt);
}

static void ws_on_output(void *user, const uint8_t *p, size_t n)
{
	struct lg_session *s = user;
	s->lg->c.bytes_out += n;
	lg_conn_write(s, p, n);
}

static void ws_on_close(void *user, uint16_t code)
{
	(void)code;
	struct lg_session *s = user;
	if (s->state == LG_S_OPEN)
		lg_session_fail(s, &s->lg->c.err_ws);
}

static void ws_on_mask(void *user, uint8_t key[4])
{
	struct lg_session *s = user;
	uint32_t r = (uint32_t)lg_rand(s->lg);
	memcpy(key, &r, 4);
}

static const struct sf_ws_callbacks ws_cbs = {
	.on_data = ws_on_data, .on_output = ws_on_output, .on_close = ws_on_close,
	.on_mask = ws_on_mask,
};

static int tt_on_packet(void *arg, const uint8_t *pkt, size_t len)
{
	struct lg_session *s = arg;
	struct lg *lg = s->lg;
	lg->c.msgs_in++;
	lg->c.pkts_in++;
	if (!lg_live(s))
		return 0;
	if (sf_kcp_input(s->kcp, pkt, len, (uint32_t)lg_now_ms()) != SF_KCP_OK)
		lg->c.kcp_in_errors++;
	return 0;
}

/* One KCP packet → one encapsulated chunk → one WebSocket message (the Go client's way). */
static void kcp_out(const uint8_t *pkt, size_t len, void *user)
{
	struct lg_session *s = user;
	uint8_t buf[SF_TT_PREFIX_MAX + SF_KCP_MTU + 8];
	size_t n = sf_tt_encode_packet(pkt, len, buf, sizeof buf);
	if (!n || !s->ws)
		return;
	s->lg->c.pkts_out++;
	s->lg->c.msgs_out++;
	sf_ws_send_binary(s->ws, buf, n);
}

static void smux_output(void *sess_user, const uint8_t *frame, size_t len)
{
	struct lg_session *s = sess_user;
	if (sf_kcp_send(s->kcp, frame, len) != SF_KCP_OK) {
		lg_session_fail(s, &s->lg->c.err_alloc);
		return;
	}
	s->kcp_dirty = true;
}

/* The server never opens streams toward a client. */
static void *smux_stream_open(void *sess_user, struct sf_smux_stream *st)
{
	(void)sess_user;
	(void)st;
	return NULL;
}

static void smux_stream_data(void *user, const uint8_t *data, size_t len)
{
	lg_work_data(user, data, len);
}

static void smux_stream_fin(void *user)
{
	struct lg_stream *ls = user;
	if (ls->done)
		return;
	/* the echo ended before every byte came back */
	ls->sess->lg->c.err_stream_fin++;
	ls->failed = true;
	ls->done = true;
	if (ls->st) {
		sf_smux_stream_close(ls->st);
		ls->st = NULL;
	}
	lg_stream_settle(ls);
	lg_session_stream_done(ls->sess);
}

static void smux_stream_writable(void *user)
{
	lg_work_writable(user);
}

static const struct sf_smux_callbacks smux_cbs = {
	.output = smux_output, .stream_open = smux_stream_open, .stream_data = smux_stream_data,
	.stream_fin = smux_stream_fin, .stream_writable = smux_stream_writable,
};

static void ka_push(struct lg *lg, struct lg_session *s)
{
	s->ka_next = NULL;
	if (lg->ka_tail)
		lg->ka_tail->ka_next = s;
	else
		lg->ka_head = s;
	lg->ka_tail = s;
}

int lg_stack_open(struct lg_session *s)
{
	struct lg *lg = s->lg;
	uint64_t now = lg_now_ms();
	s->ws = sf_ws_new_client(&ws_cbs, s);
	s->dec = malloc(sizeof *s->dec);
	uint32_t conv = (uint32_t)lg_rand(lg);
	s->kcp = sf_kcp_new(conv, kcp_out, s);
	s->smux = sf_smux_session_new(&smux_cbs, s, now);
	if (s->smux)
		sf_smux_set_keepalive(s->smux, lg->o.keepalive_ms, false, now);
	s->streams = calloc(lg->o.streams, sizeof *s->streams);
	if (!s->ws || !s->dec || !s->kcp || !s->smux || !s->streams) {
		lg_session_fail(s, &lg->c.err_alloc);
		return -1;
	}
	sf_tt_decoder_init(s->dec, tt_on_packet, s);
	/* token, then ClientID, as two messages (client/lib's dialContext) */
	uint64_t id = lg_rand(lg);
	memcpy(s->client_id, &id, sizeof s->client_id);
	sf_ws_send_binary(s->ws, sf_tt_token, SF_TT_TOKEN_LEN);
	sf_ws_send_binary(s->ws, s->client_id, SF_TT_CLIENTID_LEN);
	lg->c.msgs_out += 2;
	s->nstreams = lg->o.streams;
	for (uint32_t i = 0; i < s->nstreams; i++) {
		struct lg_stream *ls = &s->streams[i];
		ls->sess = s;
		ls->seed = (uint32_t)lg_rand(lg);
		ls->st = sf_smux_stream_open(s->smux, ls);
		if (!ls->st) {
			lg_session_fail(s, &lg->c.err_smux);
			return -1;
		}
	}
	s->ka_due = now + lg->o.keepalive_ms;
	ka_push(lg, s);
	for (uint32_t i = 0; i < s->nstreams && lg_live(s); i++)
		lg_work_stream_opened(&s->streams[i]);
	lg_stack_pump(s);
	return lg_live(s) ? 0 : -1;
}

void lg_stack_input(struct lg_session *s, const uint8_t *p, size_t n)
{
	if (!lg_live(s))
		return;
	if (sf_ws_feed(s->ws, p, n) < 0)
		lg_session_fail(s, &s->lg->c.err_ws);
}

static void dirty_add(struct lg *lg, struct lg_session *s)
{
	if (s->in_dirty)
		return;
	s->in_dirty = true;
	s->dirty_prev = NULL;
	s->dirty_next = lg->dirty;
	if (lg->dirty)
		lg->dirty->dirty_prev = s;
	lg->dirty = s;
}

static void dirty_remove(struct lg *lg, struct lg_session *s)
{
	if (!s->in_dirty)
		return;
	s->in_dirty = false;
	if (s->dirty_prev)
		s->dirty_prev->dirty_next = s->dirty_next;
	else
		lg->dirty = s->dirty_next;
	if (s->dirty_next)
		s->dirty_next->dirty_prev = s->dirty_prev;
	s->dirty_prev = s->dirty_next = NULL;
}

void lg_stack_pump(struct lg_session *s)
{
	if (!lg_live(s) || s->in_pump)
		return;
	s->in_pump = true;
	static uint8_t buf[65536];
	uint64_t now = lg_now_ms();
	sf_kcp_flush(s->kcp, (uint32_t)now);	/* ACK what just arrived */
	for (;;) {
		size_t n = sf_kcp_recv(s->kcp, buf, sizeof buf);
		if (!n)
			break;
		if (sf_smux_input(s->smux, buf, n, now) < 0)
			lg_session_fail(s, &s->lg->c.err_smux);
		if (!lg_live(s))
			goto out;
	}
	lg_work_fill(s);
	if (!lg_live(s))
		goto out;
	if (s->kcp_dirty || sf_kcp_flush_wanted(s->kcp)) {
		s->kcp_dirty = false;
		sf_kcp_flush(s->kcp, (uint32_t)now);
	}
	if (sf_kcp_next_due(s->kcp, (uint32_t)now) >= 0)
		dirty_add(s->lg, s);
out:
	s->in_pump = false;
}

void lg_dirty_tick(struct lg *lg, uint64_t now_ms)
{
	struct lg_session *s = lg->dirty, *next;
	for (; s; s = next) {
		next = s->dirty_next;
		if (!lg_live(s)) {
			dirty_remove(lg, s);
			continue;
		}
		int32_t due = sf_kcp_next_due(s->kcp, (uint32_t)now_ms);
		if (due < 0)
			dirty_remove(lg, s);
		else if (due == 0)
			lg_stack_pump(s);	/* retransmissions; may take more from the windows */
	}
}

void lg_keepalive_tick(struct lg *lg, uint64_t now_ms)
{
	while (lg->ka_head && lg->ka_head->ka_due <= now_ms) {
		struct lg_session *s = lg->ka_head;
		lg->ka_head = s->ka_next;
		if (!lg->ka_head)
			lg->ka_tail = NULL;
		if (!lg_live(s))
			continue;
		if (sf_smux_tick(s->smux, now_ms) < 0) {
			lg_session_fail(s, &lg->c.err_smux);
			continue;
		}
		lg_stack_pump(s);
		s->ka_due += lg->o.keepalive_ms;
		ka_push(lg, s);
	}
}

void lg_session_stream_done(struct lg_session *s)
{
	if (++s->streams_done < s->nstreams || s->state != LG_S_OPEN)
		return;
	s->state = LG_S_DONE;	/* stays connected (ACKs, FINs) until the run ends */
	s->lg->finished++;
}

void lg_session_fail(struct lg_session *s, uint64_t *err_counter)
{
	struct lg *lg = s->lg;
	if (s->state == LG_S_FAILED || s->state == LG_S_DONE)
		return;
	(*err_counter)++;
	if (s->state != LG_S_WAITING)
		lg->finished++;
	s->state = LG_S_FAILED;
	for (uint32_t i = 0; i < s->nstreams; i++) {
		struct lg_stream *ls = &s->streams[i];
		lg_stream_settle(ls);
		if (!ls->done)
			ls->failed = ls->done = true;
	}
	if (!s->streams)
		lg->c.streams_settled += lg->o.streams;
	dirty_remove(lg, s);
	/* the stack is freed at the end of the run: this may run inside its own callbacks */
	lg_conn_close(s);
}

void lg_stack_free(struct lg_session *s)
{
	lg_conn_close(s);
	sf_smux_session_free(s->smux);
	sf_kcp_free(s->kcp);
	sf_ws_free(s->ws);
	free(s->dec);
	free(s->streams);
	s->smux = NULL;
	s->kcp = NULL;
	s->ws = NULL;
	s->dec = NULL;
	s->streams = NULL;
}
