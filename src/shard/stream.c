/* One smux stream relayed to one tor connection (an sf_conn, the dialer's until it is up), as
 * upstream's proxy() does:
 *  - client → tor: stream bytes are written to the connection (kept in `early` while the dial
 *    runs); only when its on_sent says tor's socket took them does smux hear they were consumed
 *    (so its window, not our memory, absorbs a slow tor). The client's FIN half-closes toward tor
 *    once they are all written (sf_conn_close_write) and is answered with our FIN at once.
 *  - tor → client: read only while both the stream's window and KCP's send window have room (the
 *    connection's read_room asks; a slow client stops us reading tor). Tor's EOF or error sends
 *    FIN and ends the stream.
 *  - bytes smux still counts after our FIN ("held") are given back exactly once: as they are
 *    written, or all that is left when the stream is freed. */
#include <event2/buffer.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "net/conn.h"
#include "shard/client.h"

static void stream_unlink(struct sf_stream *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		st->client->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->next = st->prev = NULL;
}

/* Our FIN went out while the client's bytes are still unwritten: smux keeps counting them in
 * the session bucket until we say they left (written to tor) or were dropped. */
static void stream_forget_held(struct sf_stream *st, size_t n)
{
	if (n > st->held)
		n = st->held;
	st->held -= n;
	if (n > 0 && st->client->smux)
		sf_smux_release(st->client->smux, n);
}

/* Client bytes not yet written to tor. */
static size_t unwritten(const struct sf_stream *st)
{
	size_t n = st->early ? evbuffer_get_length(st->early) : 0;
	return n + (st->tor ? sf_conn_output_len(st->tor) : 0);
}

/* Client bytes left us for tor (written or dropped): the shard's and the client's memory count
 * (shard/membudget.h). */
static void stream_to_tor_gone(struct sf_stream *st, size_t n)
{
	st->client->sh->mem_use.to_tor -= n;
	st->client->to_tor -= n;
}

/* Closes the smux side (sends FIN); the unwritten bytes become held. */
static void stream_close_smux(struct sf_stream *st)
{
	if (!st->smux)
		return;
	sf_smux_stream_close(st->smux);
	st->smux = NULL;
	st->held = unwritten(st);
}

void sf_stream_free(struct sf_stream *st)
{
	struct sf_client *c = st->client;
	stream_forget_held(st, st->held);
	sf_counter_add(&c->sh->metrics->streams_closed, 1);
	c->nstreams--;
	c->sh->nstreams--;
	if (st->extorport >= 0)
		sf_tor_balance_remove(&c->sh->extor_balance, st->extorport);
	if (st->dial)
		sf_tor_dial_cancel(st->dial);
	stream_to_tor_gone(st, unwritten(st));
	if (st->tor)
		sf_conn_close(st->tor);
	if (st->early)
		evbuffer_free(st->early);
	stream_unlink(st);
	free(st);
}

/* Our FIN to the client, then forget the stream entirely. */
static void stream_end(struct sf_stream *st)
{
	struct sf_client *c = st->client;
	stream_close_smux(st);
	sf_stream_free(st);
	if (c->kcp)
		sf_client_flush(c);
}

/* After our FIN, tor is read again once the client's last bytes are out and our write side is
 * shut: from then on anything tor says, or its EOF, ends the connection. */
static void resume_if_shut(struct sf_stream *st)
{
	if (!st->smux && st->tor && sf_conn_write_closed(st->tor)) {
		st->tor_paused = false;
		sf_conn_resume_read(st->tor);
	}
}

/* ---- the tor connection's callbacks ---- */

static size_t tor_read_room(void *arg)
{
	struct sf_stream *st = arg;
	struct sf_client *c = st->client;
	if (!st->smux) /* we already sent FIN (resume_if_shut) */
		return sf_conn_write_closed(st->tor) ? SF_CONN_READ_CHUNK : 0;
	size_t room = sf_smux_stream_write_room(st->smux);
	if (room == 0 || !c->kcp || sf_kcp_send_room(c->kcp) == 0) {
		st->tor_paused = true;
		c->tor_paused_any = true;
		return 0;
	}
	return room;
}

static void tor_on_read(void *arg, const uint8_t *p, size_t n)
{
	struct sf_stream *st = arg;
	struct sf_client *c = st->client;
	struct sf_shard_state *sh = c->sh;
	sh->now_ms = sf_clock_ms();
	if (!st->smux) {
		/* Upstream's copy loop wrote everything the client sent before it saw the FIN; tor's
		 * bytes after that end the connection. */
		sf_stream_free(st);
		return;
	}
	sf_counter_add(&sh->metrics->bytes_from_tor, (uint64_t)n);
	c->progress_ms = sh->now_ms;
	sf_smux_stream_write(st->smux, p, n); /* n <= tor_read_room(): all of it is taken */
	if (c->session_dead)
		sf_client_pump(c); /* ends the session */
	else
		sf_client_flush(c);
	sf_client_reschedule(c);
}

static void tor_on_sent(void *arg, size_t n)
{
	struct sf_stream *st = arg;
	struct sf_client *c = st->client;
	c->sh->now_ms = sf_clock_ms();
	sf_counter_add(&c->sh->metrics->bytes_to_tor, (uint64_t)n);
	stream_to_tor_gone(st, n);
	c->progress_ms = c->sh->now_ms;
	if (st->smux)
		sf_smux_stream_consumed(st->smux, n);
	else
		stream_forget_held(st, n);
	resume_if_shut(st);
	/* Consuming may have opened smux's session buffer: let more client bytes in. */
	if (c->kcp && sf_kcp_readable(c->kcp) > 0)
		sf_client_pump(c);
	else if (c->kcp)
		sf_client_flush(c);
}

static void tor_on_close(void *arg, const char *reason)
{
	struct sf_stream *st = arg;
	struct sf_client *c = st->client;
	(void)reason;
	c->sh->now_ms = sf_clock_ms();
	stream_end(st);
	sf_client_reschedule(c);
}

static const struct sf_conn_callbacks tor_callbacks = {
	.on_read = tor_on_read,
	.on_close = tor_on_close,
	.on_sent = tor_on_sent,
	.read_room = tor_read_room,
};

/* The dial is done: what the client sent meanwhile goes first. Returns -1 out of memory. */
static int write_early(struct sf_stream *st)
{
	struct evbuffer *b = st->early;
	for (size_t left = evbuffer_get_length(b); left > 0; left = evbuffer_get_length(b)) {
		size_t chunk = evbuffer_get_contiguous_space(b);
		if (sf_conn_write(st->tor, evbuffer_pullup(b, (ev_ssize_t)chunk), chunk) < 0)
			return -1;
		evbuffer_drain(b, chunk);
	}
	evbuffer_free(b);
	st->early = NULL;
	return 0;
}

static void on_dialed(struct sf_conn *conn, const char *err, void *arg);

/* Starts the stream's dial: to ExtORPort `only` if >= 0, else to the least loaded ExtORPort it
 * has not tried yet when there are several (a stream is never moved once its dial succeeded),
 * else as params->tor says. */
static bool stream_dial(struct sf_stream *st, int only)
{
	struct sf_shard_state *sh = st->client->sh;
	const struct sf_shard_params *p = sh->params;
	const char *useraddr = st->client->useraddr[0] ? st->client->useraddr : NULL;
	if (p->n_extorports == 0) {
		st->dial = sf_tor_dial_start(sh->base, p->tor, useraddr, on_dialed, st);
		return st->dial != NULL;
	}
	int i = only >= 0 ? only : sf_tor_balance_pick(&sh->extor_balance, sh->now_ms, st->extorports_tried);
	if (i < 0)
		return false;
	struct sf_tor_extorport *e = &p->extorports[i];
	struct sf_tor_target t = *p->tor;
	t.has_extor = true;
	t.extor = e->addr;
	t.extor_len = e->addr_len;
	t.cookie = &e->cookie;
	st->dial = sf_tor_dial_start(sh->base, &t, useraddr, on_dialed, st);
	if (!st->dial)
		return false;
	st->extorport = i;
	st->extorports_tried |= UINT32_C(1) << i;
	sf_tor_balance_add(&sh->extor_balance, i);
	return true;
}

/* A dial to an ExtORPort failed: note it for the choice of later streams, and try another
 * ExtORPort if the failure was the backend's. Returns true when a new dial is under way. */
static bool stream_redial(struct sf_stream *st, enum sf_tor_dial_outcome why, const char *err)
{
	struct sf_shard_state *sh = st->client->sh;
	int i = st->extorport;
	sf_tor_balance_remove(&sh->extor_balance, i);
	st->extorport = -1;
	if (why == SF_TOR_DIAL_UNREACHABLE || why == SF_TOR_DIAL_AUTH_FAILED)
		sf_tor_balance_failed(&sh->extor_balance, i, sh->now_ms);
	int only = -1;
	if (why == SF_TOR_DIAL_AUTH_RETRY && !st->auth_retried) {
		/* tor restarted and wrote a new cookie, now in memory: this backend again, once. */
		sf_logf("ExtORPort %d: authentication failed; its auth cookie file has a new cookie", i);
		st->auth_retried = true;
		only = i;
	}
	if (why == SF_TOR_DIAL_OTHER || !stream_dial(st, only))
		return false;
	sf_logf("handleConn: failed to connect to ExtORPort %d: %s; trying ExtORPort %d", i, err,
		st->extorport);
	return true;
}

static void on_dialed(struct sf_conn *conn, const char *err, void *arg)
{
	struct sf_stream *st = arg;
	struct sf_client *c = st->client;
	struct sf_shard_state *sh = c->sh;
	enum sf_tor_dial_outcome why = sf_tor_dial_outcome(st->dial);
	st->dial = NULL;
	sh->now_ms = sf_clock_ms();
	if (conn && st->extorport >= 0)
		sf_tor_balance_succeeded(&sh->extor_balance, st->extorport);
	if (!conn) /* every failed dial counts for its backend, redialed elsewhere or not */
		sf_counter_add(&sh->metrics->dial_errors[st->extorport >= 0 ? (size_t)st->extorport
									 : SF_SHARD_BACKEND_PRIMARY],
			       1);
	if (!conn && st->extorport >= 0 && stream_redial(st, why, err))
		return;
	if (!conn) {
		sf_logf("handleConn: failed to connect to ORPort: %s", err);
		stream_end(st);
		sf_client_reschedule(c);
		return;
	}
	/* The connection is ours now (the dialer's callbacks are gone); it reads on our terms. */
	st->tor = conn;
	sf_conn_set_callbacks(conn, &tor_callbacks, st);
	if (write_early(st) < 0) {
		stream_end(st);
		sf_client_reschedule(c);
		return;
	}
	if (st->client_fin)
		sf_conn_close_write(conn); /* after what the client sent, once it is written */
	if (c->kcp)
		sf_client_flush(c);
	sf_client_reschedule(c);
}

/* Whether c may have one more stream (and tor connection) now; logs a refusal once per client. */
static bool stream_allowed(struct sf_client *c)
{
	struct sf_shard_state *sh = c->sh;
	const char *why = NULL;
	if (c->nstreams >= SF_CLIENT_STREAMS_MAX)
		why = "streams alive (open, dialing or closing) for one client";
	else if (sh->nstreams >= SF_SHARD_STREAMS_MAX)
		why = "streams alive in one shard";
	else if (!sf_dial_rate_take(&c->dial_rate, sh->now_ms))
		why = "ORPort dials per client in a burst";
	if (!why)
		return true;
	if (!c->stream_limit_logged) {
		/* once per client: a flooding peer must not flood the log as well */
		sf_logf("relay: limit of %s reached; refusing new streams", why);
		c->stream_limit_logged = true;
	}
	return false;
}

void *sf_stream_open(void *client, struct sf_smux_stream *s)
{
	struct sf_client *c = client;
	struct sf_shard_state *sh = c->sh;
	if (!stream_allowed(c))
		return NULL; /* smux answers a refused stream with FIN itself */
	struct sf_stream *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->early = evbuffer_new();
	if (!st->early) {
		free(st);
		return NULL;
	}
	st->client = c;
	st->smux = s;
	st->extorport = -1;
	c->nstreams++;
	sh->nstreams++;
	st->next = c->streams;
	if (c->streams)
		c->streams->prev = st;
	c->streams = st;

	sf_counter_add(&sh->metrics->streams_opened, 1);
	if (c->useraddr[0])
		sf_counter_add(&sh->metrics->streams_with_addr, 1);

	if (!stream_dial(st, -1)) {
		st->smux = NULL; /* smux answers a refused stream with FIN itself */
		sf_stream_free(st);
		return NULL;
	}
	return st;
}

void sf_stream_data(void *stream, const uint8_t *data, size_t len)
{
	struct sf_stream *st = stream;
	/* smux's window bounds what can pile up, in early while dialing or in the connection's
	 * output; the connection writes it once the callbacks of this loop iteration are done, so
	 * that everything the client sent in one read leaves in one write (a failed socket is found
	 * there, outside smux). */
	int r = st->tor ? sf_conn_write(st->tor, data, len) : evbuffer_add(st->early, data, len);
	if (r < 0) {
		st->client->session_dead = true; /* out of memory: give up on this client */
		return;
	}
	st->client->sh->mem_use.to_tor += len;
	st->client->to_tor += len;
}

void sf_stream_fin(void *stream)
{
	struct sf_stream *st = stream;
	st->client_fin = true;
	/* Upstream answers the client's FIN with its own at once; tor's later bytes are dropped.
	 * What is still unwritten stays counted in the session bucket until tor takes it. */
	stream_close_smux(st);
	if (st->tor) {
		sf_conn_close_write(st->tor); /* half-closes once the output is out */
		resume_if_shut(st);
	}
}

void sf_stream_writable(void *stream)
{
	sf_stream_resume_tor(stream);
}

void sf_stream_resume_tor(struct sf_stream *st)
{
	if (!st->tor_paused || !st->tor)
		return;
	st->tor_paused = false;
	sf_conn_resume_read(st->tor);
}
