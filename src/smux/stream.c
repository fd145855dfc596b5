#include "smux/internal.h"

#include <stdlib.h>
#include <string.h>

/* Index of the first stream whose id is >= sid. */
static size_t table_lower_bound(const struct sf_smux_session *s, uint32_t sid)
{
	size_t lo = 0, hi = s->nstreams;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->streams[mid]->id < sid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct sf_smux_stream *sf_smux_table_find(const struct sf_smux_session *s, uint32_t sid)
{
	size_t i = table_lower_bound(s, sid);
	if (i < s->nstreams && s->streams[i]->id == sid)
		return s->streams[i];
	return NULL;
}

int sf_smux_table_insert(struct sf_smux_session *s, struct sf_smux_stream *st)
{
	if (s->nstreams == s->cap_streams) {
		size_t cap = s->cap_streams ? s->cap_streams * 2 : 4;
		if (cap > SF_SMUX_MAX_STREAMS)
			cap = SF_SMUX_MAX_STREAMS;
		if (cap <= s->nstreams)
			return -1;
		struct sf_smux_stream **grown = realloc(s->streams, cap * sizeof *grown);
		if (!grown)
			return -1;
		s->streams = grown;
		s->cap_streams = cap;
	}
	size_t i = table_lower_bound(s, st->id);
	memmove(s->streams + i + 1, s->streams + i, (s->nstreams - i) * sizeof *s->streams);
	s->streams[i] = st;
	s->nstreams++;
	return 0;
}

void sf_smux_table_remove(struct sf_smux_session *s, struct sf_smux_stream *st)
{
	size_t i = table_lower_bound(s, st->id);
	if (i >= s->nstreams || s->streams[i] != st)
		return;
	memmove(s->streams + i, s->streams + i + 1, (s->nstreams - i - 1) * sizeof *s->streams);
	s->nstreams--;
}

void sf_smux_stream_destroy(struct sf_smux_stream *st)
{
	struct sf_smux_session *s = st->sess;
	sf_smux_table_remove(s, st);
	/* The reference's recycleTokens returns bytes still sitting in smux's own buffer. We have
	 * none: every delivered byte is already the application's, which may still be writing it
	 * out (the relay after a FIN). They stay counted until sf_smux_release says they are gone,
	 * or a closing stream would be a way around the bucket. */
	s->held += st->unconsumed;
	if (s->psh_stream == st)
		s->psh_stream = NULL;
	if (s->opening == st)
		s->opening = NULL;
	free(st);
}

uint32_t sf_smux_stream_id(const struct sf_smux_stream *st)
{
	return st->id;
}

void *sf_smux_stream_user(const struct sf_smux_stream *st)
{
	return st->user;
}

size_t sf_smux_stream_write_room(const struct sf_smux_stream *st)
{
	if (st->fin_received)
		return 0;
	/* the reference's int32 arithmetic: a window >= 2^31 reads as negative and blocks */
	int32_t inflight = (int32_t)(st->num_written - st->peer_consumed);
	if (inflight < 0)
		return 0;
	int64_t win = (int64_t)(int32_t)st->peer_window - inflight;
	return win > 0 ? (size_t)win : 0;
}

size_t sf_smux_stream_write(struct sf_smux_stream *st, const uint8_t *data, size_t len)
{
	size_t room = sf_smux_stream_write_room(st);
	size_t n = len < room ? len : room;
	size_t off = 0;
	while (off < n) {
		size_t chunk = n - off;
		if (chunk > SF_SMUX_MAX_FRAME)
			chunk = SF_SMUX_MAX_FRAME;
		sf_smux_send(st->sess, SF_SMUX_PSH, st->id, data + off, (uint16_t)chunk);
		off += chunk;
	}
	st->num_written += (uint32_t)n;
	if (n < len && !st->fin_received)
		st->write_blocked = true;
	return n;
}

void sf_smux_stream_consumed(struct sf_smux_stream *st, size_t n)
{
	if (n > st->unconsumed)
		n = st->unconsumed;
	if (n == 0)
		return;
	st->unconsumed -= n;
	st->sess->unconsumed -= n;
	st->num_read += (uint32_t)n;
	st->incr += (uint32_t)n;
	/* numRead == n: the first bytes ever consumed (reference tryReadv2/writeTov2) */
	if (st->incr >= SF_SMUX_STREAM_WINDOW / 2 || st->num_read == (uint32_t)n) {
		uint8_t upd[SF_SMUX_UPD_LEN];
		sf_smux_upd_encode(upd, st->num_read, SF_SMUX_STREAM_WINDOW);
		sf_smux_send(st->sess, SF_SMUX_UPD, st->id, upd, sizeof upd);
		st->upd_consumed = st->num_read;
		st->incr = 0;
	}
}

void sf_smux_stream_close(struct sf_smux_stream *st)
{
	sf_smux_send(st->sess, SF_SMUX_FIN, st->id, NULL, 0);
	sf_smux_stream_destroy(st);
}

int sf_smux_stream_peer_update(struct sf_smux_stream *st, uint32_t consumed, uint32_t window)
{
	if ((int32_t)(st->num_written - consumed) < 0)
		return -1;
	st->peer_consumed = consumed;
	st->peer_window = window;
	if (st->write_blocked && sf_smux_stream_write_room(st) > 0) {
		st->write_blocked = false;
		struct sf_smux_session *s = st->sess; /* st may be closed by the callback */
		if (s->cb.stream_writable) {
			s->in_callback++;
			s->cb.stream_writable(st->user);
			s->in_callback--;
		}
	}
	return 0;
}
