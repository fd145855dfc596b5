#include "smux/internal.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

struct sf_smux_session *sf_smux_session_new(const struct sf_smux_callbacks *cb, void *sess_user,
					    uint64_t now)
{
	struct sf_smux_session *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->cb = *cb;
	s->user = sess_user;
	s->state = SF_SMUX_WANT_HDR;
	s->next_sid = 1;
	/* the reference's tickers start with the session */
	s->nop_interval = SF_SMUX_KEEPALIVE_INTERVAL_MS;
	s->next_nop = now + s->nop_interval;
	s->idle_timeout = SF_SMUX_KEEPALIVE_TIMEOUT_MS;
	s->next_check = now + s->idle_timeout;
	return s;
}

void sf_smux_set_idle_timeout(struct sf_smux_session *s, uint64_t timeout_ms, uint64_t now)
{
	if (timeout_ms == 0)
		timeout_ms = SF_SMUX_KEEPALIVE_TIMEOUT_MS;
	s->idle_timeout = timeout_ms;
	s->next_check = now + timeout_ms;
}

void sf_smux_set_keepalive(struct sf_smux_session *s, uint64_t interval_ms, bool ride,
			   uint64_t now)
{
	if (interval_ms == 0)
		interval_ms = SF_SMUX_KEEPALIVE_INTERVAL_MS;
	s->nop_interval = interval_ms;
	s->ride = ride;
	s->next_nop = now + interval_ms;
}

void sf_smux_session_free(struct sf_smux_session *s)
{
	if (!s)
		return;
	/* freed under a running callback, the session would be used after the callback returns:
	 * leaking it is the safe way out */
	if (SF_BUG(s->in_callback))
		return;
	for (size_t i = 0; i < s->nstreams; i++)
		free(s->streams[i]);
	free(s->streams);
	free(s);
}

/* One frame is built here and lent to output(); per thread rather than per session, so that an
 * idle session does not carry 32 KiB (output must not call back into any session). */
static _Thread_local uint8_t frame_out[SF_SMUX_HDR_LEN + SF_SMUX_MAX_FRAME];
static _Thread_local bool emitting; /* inside output() */

void sf_smux_send(struct sf_smux_session *s, uint8_t cmd, uint32_t sid, const uint8_t *payload,
		  uint16_t len)
{
	/* A frame built now would overwrite the one output() is reading. Dropping it would
	 * desynchronise the stream: the session is broken instead, and its owner closes it. */
	if (SF_BUG(emitting)) {
		s->broken = true;
		return;
	}
	sf_smux_hdr_encode(frame_out, cmd, len, sid);
	if (len)
		memcpy(frame_out + SF_SMUX_HDR_LEN, payload, len);
	if (s->cb.output) {
		emitting = true;
		s->cb.output(s->user, frame_out, SF_SMUX_HDR_LEN + (size_t)len);
		emitting = false;
	}
}

size_t sf_smux_unconsumed(const struct sf_smux_session *s)
{
	return s->unconsumed;
}

void sf_smux_release(struct sf_smux_session *s, size_t n)
{
	if (n > s->held)
		n = s->held;
	s->held -= n;
	s->unconsumed -= n;
}

size_t sf_smux_stream_count(const struct sf_smux_session *s)
{
	return s->nstreams;
}

static void refuse_stream(struct sf_smux_session *s, uint32_t sid)
{
	sf_smux_send(s, SF_SMUX_FIN, sid, NULL, 0);
}

static void open_stream(struct sf_smux_session *s, uint32_t sid)
{
	if (s->nstreams >= SF_SMUX_MAX_STREAMS) {
		/* once per session: a flooding peer must not flood the log as well */
		if (!s->limit_logged) {
			sf_logf("smux: stream limit (%d) reached, refusing new streams",
				SF_SMUX_MAX_STREAMS);
			s->limit_logged = true;
		}
		refuse_stream(s, sid);
		return;
	}
	struct sf_smux_stream *st = calloc(1, sizeof *st);
	if (!st) {
		refuse_stream(s, sid);
		return;
	}
	st->sess = s;
	st->id = sid;
	st->peer_window = SF_SMUX_INITIAL_PEER_WINDOW;
	if (sf_smux_table_insert(s, st) < 0) {
		free(st);
		refuse_stream(s, sid);
		return;
	}
	/* inserted first so that the application may already write from stream_open */
	s->opening = st;
	void *user = NULL;
	if (s->cb.stream_open) {
		s->in_callback++;
		user = s->cb.stream_open(s->user, st);
		s->in_callback--;
	}
	if (!s->opening)
		return;         /* the application closed it from the callback */
	s->opening = NULL;
	if (!user) {
		sf_smux_stream_close(st);
		return;
	}
	st->user = user;
}

struct sf_smux_stream *sf_smux_stream_open(struct sf_smux_session *s, void *user)
{
	if (s->broken || s->nstreams >= SF_SMUX_MAX_STREAMS || s->next_sid > UINT32_MAX)
		return NULL;
	struct sf_smux_stream *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->sess = s;
	st->id = (uint32_t)s->next_sid;
	st->user = user;
	st->peer_window = SF_SMUX_INITIAL_PEER_WINDOW;
	if (sf_smux_table_insert(s, st) < 0) {
		free(st);
		return NULL;
	}
	s->next_sid += 2;
	sf_smux_send(s, SF_SMUX_SYN, st->id, NULL, 0);
	return st;
}

static void peer_fin(struct sf_smux_session *s, uint32_t sid)
{
	struct sf_smux_stream *st = sf_smux_table_find(s, sid);
	if (!st || st->fin_received)
		return;
	st->fin_received = true;
	st->write_blocked = false;
	if (s->cb.stream_fin) {
		s->in_callback++;
		s->cb.stream_fin(st->user);
		s->in_callback--;
	}
}

/* A complete header: check it and set up what follows. -1 on protocol error. */
static int handle_header(struct sf_smux_session *s)
{
	const struct sf_smux_hdr *h = &s->hdr;
	if (h->ver != SF_SMUX_VERSION)
		return -1;
	switch (h->cmd) {
	case SF_SMUX_NOP:
	case SF_SMUX_SYN:
	case SF_SMUX_FIN:
		/* v1.5.35 would ignore len here and misparse what follows; >= v1.5.56 rejects it */
		if (h->len != 0)
			return -1;
		if (h->cmd == SF_SMUX_SYN && !sf_smux_table_find(s, h->sid))
			open_stream(s, h->sid);
		else if (h->cmd == SF_SMUX_FIN)
			peer_fin(s, h->sid);
		return 0;
	case SF_SMUX_PSH: {
		if (h->len == 0)
			return 0;
		struct sf_smux_stream *st = sf_smux_table_find(s, h->sid);
		if (st && st->fin_received)
			st = NULL;
		/* the peer may have at most one window of bytes beyond our last UPD in flight */
		if (st && (uint32_t)(st->num_recv - st->upd_consumed) + h->len >
			  SF_SMUX_STREAM_WINDOW + SF_SMUX_RECV_SLACK)
			return -1;
		s->psh_stream = st;
		s->payload_left = h->len;
		s->state = SF_SMUX_IN_PSH;
		return 0;
	}
	case SF_SMUX_UPD:
		if (h->len != SF_SMUX_UPD_LEN)
			return -1;
		s->upd_have = 0;
		s->state = SF_SMUX_IN_UPD;
		return 0;
	default:
		return -1;
	}
}

static int handle_upd(struct sf_smux_session *s)
{
	struct sf_smux_stream *st = sf_smux_table_find(s, s->hdr.sid);
	if (!st)
		return 0;
	uint32_t consumed, window;
	sf_smux_upd_decode(s->upd_buf, &consumed, &window);
	return sf_smux_stream_peer_update(st, consumed, window);
}

static void deliver(struct sf_smux_session *s, const uint8_t *data, size_t n)
{
	struct sf_smux_stream *st = s->psh_stream;
	s->payload_left -= n;
	if (s->payload_left == 0)
		s->state = SF_SMUX_WANT_HDR;
	if (!st)
		return;
	st->num_recv += (uint32_t)n;
	st->unconsumed += n;
	s->unconsumed += n;
	/* the callback may close st: psh_stream is then cleared and the rest discarded */
	if (s->cb.stream_data) {
		s->in_callback++;
		s->cb.stream_data(st->user, data, n);
		s->in_callback--;
	}
}

/* Appends input to a fixed-size field (header or UPD payload) split across calls; true once the
 * field is complete. */
static bool collect(uint8_t *field, size_t *have, size_t want, const uint8_t **data, size_t *len)
{
	size_t n = want - *have < *len ? want - *have : *len;
	memcpy(field + *have, *data, n);
	*have += n;
	*data += n;
	*len -= n;
	return *have == want;
}

/* How long before ours is due a peer's NOP brings it forward: half our period, so that a peer
 * sending NOPs fast gets at most one of ours per half period and a step; at most the peers' own
 * period (the reference's), so that with a longer one of ours some NOP of theirs always falls in
 * the window, whatever the phase of their ticker. */
static uint64_t early_window(const struct sf_smux_session *s)
{
	uint64_t half = s->nop_interval / 2;
	return half < SF_SMUX_KEEPALIVE_INTERVAL_MS ? half : SF_SMUX_KEEPALIVE_INTERVAL_MS;
}

int sf_smux_input(struct sf_smux_session *s, const uint8_t *data, size_t len, uint64_t now)
{
	if (SF_BUG(s->in_callback))
		return -1;
	if (s->broken)
		return -1;
	bool peer_nop = false;
	while (len > 0) {
		size_t n;
		switch (s->state) {
		case SF_SMUX_WANT_HDR:
			if (!collect(s->hdr_buf, &s->hdr_have, SF_SMUX_HDR_LEN, &data, &len))
				break;
			s->hdr_have = 0;
			s->header_seen = true;
			sf_smux_hdr_decode(s->hdr_buf, &s->hdr);
			if (handle_header(s) < 0)
				goto fail;
			peer_nop |= s->hdr.cmd == SF_SMUX_NOP;
			break;
		case SF_SMUX_IN_PSH:
			n = s->payload_left < len ? s->payload_left : len;
			deliver(s, data, n);
			data += n;
			len -= n;
			break;
		case SF_SMUX_IN_UPD:
			if (!collect(s->upd_buf, &s->upd_have, SF_SMUX_UPD_LEN, &data, &len))
				break;
			s->state = SF_SMUX_WANT_HDR;
			if (handle_upd(s) < 0)
				goto fail;
			break;
		}
	}
	/* Riding on the peer's keepalive: ours, if due within the early window anyway, leaves now,
	 * in the same KCP packet as our acknowledgement of theirs (one packet, one record and one
	 * send instead of two). Ours is then due a period plus a step later, so that the peer's NOP,
	 * on its own ticker, comes first and brings it again. If ours has just left on its own (the
	 * two tickers a few milliseconds apart), the same step puts us behind the peer's ticker. */
	if (s->ride && peer_nop) {
		if (s->next_nop <= now + early_window(s)) {
			s->next_nop = now + s->nop_interval + SF_SMUX_KEEPALIVE_STEP_MS;
			s->last_nop = now;
			sf_smux_send(s, SF_SMUX_NOP, 0, NULL, 0);
		} else if (s->last_nop && now - s->last_nop <= SF_SMUX_KEEPALIVE_STEP_MS) {
			s->next_nop = now + s->nop_interval + SF_SMUX_KEEPALIVE_STEP_MS;
		}
	}
	return 0;
fail:
	s->broken = true;
	return -1;
}

/* The first multiple of period after now, counted from next (tickers keep their phase). */
static uint64_t advance(uint64_t next, uint64_t now, uint64_t period)
{
	return next + ((now - next) / period + 1) * period;
}

int64_t sf_smux_next_due(const struct sf_smux_session *s, uint64_t now)
{
	uint64_t due = s->next_nop < s->next_check ? s->next_nop : s->next_check;
	return due > now ? (int64_t)(due - now) : 0;
}

int sf_smux_tick(struct sf_smux_session *s, uint64_t now)
{
	if (s->broken)
		return -1;
	if (now >= s->next_check) {
		s->next_check = advance(s->next_check, now, s->idle_timeout);
		/* a full bucket means we stopped reading, not that the peer went quiet */
		if (!s->header_seen && s->unconsumed < SF_SMUX_SESSION_BUFFER) {
			s->broken = true;
			return -1;
		}
		s->header_seen = false;
	}
	if (now >= s->next_nop) {
		s->next_nop = advance(s->next_nop, now, s->nop_interval);
		s->last_nop = now;
		sf_smux_send(s, SF_SMUX_NOP, 0, NULL, 0);
	}
	return 0;
}
