/* One smux stream relayed to one tor connection, as upstream's proxy() does:
 *  - client → tor: stream bytes are appended to to_tor and written when tor's socket takes them;
 *    only then does smux hear they were consumed (so its window, not our memory, absorbs a slow
 *    tor). The client's FIN half-closes toward tor and is answered with our FIN at once.
 *  - tor → client: read only while both the stream's window and KCP's send window have room (a
 *    slow client stops us reading tor). Tor's EOF or error sends FIN and ends the stream. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "shard/client.h"

static void on_tor_read(evutil_socket_t fd, short what, void *arg);
static void on_tor_write(evutil_socket_t fd, short what, void *arg);

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

/* Client bytes left to_tor (written or dropped): the shard's and the client's memory count. */
static void stream_to_tor_gone(struct sf_stream *st, size_t n)
{
	st->client->sh->mem_use.to_tor -= n;
	st->client->to_tor -= n;
}

/* Our FIN went out while the client's bytes still wait in to_tor: smux keeps counting them in
 * the session bucket until we say they left (written to tor) or were dropped. */
static void stream_forget_held(struct sf_stream *st, size_t n)
{
	if (n > st->held)
		n = st->held;
	st->held -= n;
	if (n > 0 && st->client->smux)
		sf_smux_release(st->client->smux, n);
}

/* Closes the smux side (sends FIN); the unwritten bytes become held. */
static void stream_close_smux(struct sf_stream *st)
{
	if (!st->smux)
		return;
	sf_smux_stream_close(st->smux);
	st->smux = NULL;
	st->held = evbuffer_get_length(st->to_tor);
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
	if (st->ev_read)
		event_free(st->ev_read);
	if (st->ev_write)
		event_free(st->ev_write);
	if (st->ev_flush)
		event_free(st->ev_flush);
	if (st->fd >= 0)
		close(st->fd);
	stream_to_tor_gone(st, evbuffer_get_length(st->to_tor));
	evbuffer_free(st->to_tor);
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

/* Writes what tor's socket takes. Returns -1 when the connection to tor failed. */
static int write_to_tor(struct sf_stream *st)
{
	size_t pending = evbuffer_get_length(st->to_tor);
	if (pending > 0) {
		int n = evbuffer_write(st->to_tor, st->fd);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (n > 0) {
			sf_counter_add(&st->client->sh->metrics->bytes_to_tor, (uint64_t)n);
			stream_to_tor_gone(st, (size_t)n);
			st->client->progress_ms = st->client->sh->now_ms;
		}
		if (n > 0 && st->smux)
			sf_smux_stream_consumed(st->smux, (size_t)n);
		else if (n > 0)
			stream_forget_held(st, (size_t)n);
	}
	if (evbuffer_get_length(st->to_tor) > 0) {
		event_add(st->ev_write, NULL);
	} else {
		event_del(st->ev_write);
		if (st->client_fin && !st->tor_shut) {
			/* Everything the client sent is out: half-close toward tor, and from now on
			 * anything tor says (or its EOF) ends the connection. */
			shutdown(st->fd, SHUT_WR);
			st->tor_shut = true;
			event_add(st->ev_read, NULL);
		}
	}
	return 0;
}

static void on_dialed(int fd, const uint8_t *leftover, size_t leftover_len, const char *err, void *arg);

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

static void on_dialed(int fd, const uint8_t *leftover, size_t leftover_len, const char *err, void *arg)
{
	struct sf_stream *st = arg;
	struct sf_client *c = st->client;
	struct sf_shard_state *sh = c->sh;
	enum sf_tor_dial_outcome why = sf_tor_dial_outcome(st->dial);
	st->dial = NULL;
	sh->now_ms = sf_clock_ms();
	if (fd >= 0 && st->extorport >= 0)
		sf_tor_balance_succeeded(&sh->extor_balance, st->extorport);
	if (fd < 0) /* every failed dial counts for its backend, redialed elsewhere or not */
		sf_counter_add(&sh->metrics->dial_errors[st->extorport >= 0 ? (size_t)st->extorport
									 : SF_SHARD_BACKEND_PRIMARY],
			       1);
	if (fd < 0 && st->extorport >= 0 && stream_redial(st, why, err))
		return;
	if (fd < 0) {
		sf_logf("handleConn: failed to connect to ORPort: %s", err);
		stream_end(st);
		sf_client_reschedule(c);
		return;
	}
	st->fd = fd;
	/* As Go's Dial does: small relayed writes must not wait for Nagle. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	st->ev_read = event_new(sh->base, fd, EV_READ | EV_PERSIST, on_tor_read, st);
	st->ev_write = event_new(sh->base, fd, EV_WRITE | EV_PERSIST, on_tor_write, st);
	st->ev_flush = event_new(sh->base, -1, 0, on_tor_write, st);
	if (!st->ev_read || !st->ev_write || !st->ev_flush) {
		stream_end(st);
		sf_client_reschedule(c);
		return;
	}
	if (leftover_len > 0 && st->smux)
		sf_smux_stream_write(st->smux, leftover, leftover_len);
	if (write_to_tor(st) < 0) {
		stream_end(st);
	} else {
		event_add(st->ev_read, NULL);
		if (c->kcp)
			sf_client_flush(c);
	}
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
	st->to_tor = evbuffer_new();
	if (!st->to_tor) {
		free(st);
		return NULL;
	}
	st->client = c;
	st->smux = s;
	st->fd = -1;
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
	if (evbuffer_add(st->to_tor, data, len) < 0) {
		st->client->session_dead = true; /* out of memory: give up on this client */
		return;
	}
	st->client->sh->mem_use.to_tor += len;
	st->client->to_tor += len;
	/* While dialing, smux's window bounds what can pile up in to_tor. */
	/* Written once the callbacks of this loop iteration are done, so that everything the client
	 * sent in one read leaves in one write (a failed socket is found there, outside smux). */
	if (st->fd >= 0 && !event_pending(st->ev_write, EV_WRITE, NULL))
		event_active(st->ev_flush, EV_WRITE, 1);
}

void sf_stream_fin(void *stream)
{
	struct sf_stream *st = stream;
	st->client_fin = true;
	/* Upstream answers the client's FIN with its own at once; tor's later bytes are dropped.
	 * What is still in to_tor stays counted in the session bucket until tor takes it. */
	stream_close_smux(st);
	if (st->fd >= 0 && !event_pending(st->ev_write, EV_WRITE, NULL))
		event_active(st->ev_flush, EV_WRITE, 1); /* half-closes once to_tor is out */
}

void sf_stream_writable(void *stream)
{
	sf_stream_resume_tor(stream);
}

void sf_stream_resume_tor(struct sf_stream *st)
{
	if (!st->tor_paused || st->fd < 0)
		return;
	st->tor_paused = false;
	event_add(st->ev_read, NULL);
}

static void on_tor_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_stream *st = arg;
	struct sf_client *c = st->client;
	c->sh->now_ms = sf_clock_ms();
	if (write_to_tor(st) < 0) {
		stream_end(st);
		sf_client_reschedule(c);
		return;
	}
	/* Consuming may have opened smux's session buffer: let more client bytes in. */
	if (c->kcp && sf_kcp_readable(c->kcp) > 0)
		sf_client_pump(c);
	else if (c->kcp)
		sf_client_flush(c);
}

static void on_tor_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct sf_stream *st = arg;
	struct sf_client *c = st->client;
	struct sf_shard_state *sh = c->sh;
	sh->now_ms = sf_clock_ms();

	if (!st->smux) {
		/* We already sent FIN: anything more from tor, or its EOF, ends the connection, but
		 * only once the client's last bytes have been written to tor (upstream's copy loop
		 * writes everything it read before it sees the FIN). */
		if (!st->tor_shut) {
			event_del(st->ev_read);
			return;
		}
		sf_stream_free(st);
		return;
	}
	size_t room = sf_smux_stream_write_room(st->smux);
	if (room == 0 || !c->kcp || sf_kcp_send_room(c->kcp) == 0) {
		event_del(st->ev_read);
		st->tor_paused = true;
		c->tor_paused_any = true;
		return;
	}
	if (room > sizeof sh->scratch)
		room = sizeof sh->scratch;
	ssize_t n = recv(fd, sh->scratch, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		stream_end(st);
		sf_client_reschedule(c);
		return;
	}
	sf_counter_add(&sh->metrics->bytes_from_tor, (uint64_t)n);
	c->progress_ms = sh->now_ms;
	sf_smux_stream_write(st->smux, sh->scratch, (size_t)n);
	if (c->session_dead)
		sf_client_pump(c); /* ends the session */
	else
		sf_client_flush(c);
	sf_client_reschedule(c);
}
