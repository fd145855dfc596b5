/* Per-connection work on the main loop: HTTP upgrade (10 s deadline, as upstream's ReadTimeout),
 * WebSocket framing, the 16-byte turbotunnel preamble, then hand-over to the ClientID's shard. */
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/upgrade.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "net/conn.h"
#include "tls/tls.h"
#include "tor/useraddr.h"
#include "turbotunnel/encap.h"
#include "ws/ws.h"

#define REQUEST_DEADLINE_MS 10000
/* Upstream waits for the preamble forever; a proxy sends it at once, so a minute is generous. */
#define PREAMBLE_DEADLINE_MS 60000
#define CLOSE_FLUSH_MS 1000
/* Output above which a WebSocket not yet handed over is not read. */
#define FRONT_READ_LIMIT (128 * 1024)
/* Payload that followed the preamble in the same read; at most one read's worth. */
#define PENDING_MAX SF_CONN_READ_CHUNK

struct sf_front_conn {
	struct sf_front_conn *next, *prev;
	struct sf_server *srv;
	struct sf_conn *conn;
	struct sf_tls_handshake *tls_hs;	/* while the TLS handshake runs */
	struct sf_http_upgrade *http;
	struct sf_ws *ws;
	struct sf_tt_preamble preamble;
	char useraddr[SF_TOR_USERADDR_MAX];
	size_t pending_len;
	bool bad_token;
	bool overflow;
	bool write_failed;			/* a frame did not fit the output: close, never split */
	uint8_t *pending;			/* allocated only when payload follows the preamble */
};

static void front_unlink(struct sf_front_conn *fc)
{
	struct sf_server *srv = fc->srv;
	if (fc->prev)
		fc->prev->next = fc->next;
	else
		srv->front.conns = fc->next;
	if (fc->next)
		fc->next->prev = fc->prev;
	else
		srv->front.oldest = fc->prev;
	srv->front.n--;
}

static void front_link(struct sf_server *srv, struct sf_front_conn *fc)
{
	fc->next = srv->front.conns;
	if (fc->next)
		fc->next->prev = fc;
	else
		srv->front.oldest = fc;
	srv->front.conns = fc;
	srv->front.n++;
}

/* Forgets fc; the connection itself is closed (flushing what was queued) unless handed over. */
static void front_release(struct sf_front_conn *fc, bool flush)
{
	front_unlink(fc);
	if (fc->tls_hs)
		sf_tls_handshake_cancel(fc->tls_hs);
	if (fc->conn) {
		if (flush)
			sf_conn_close_flush(fc->conn, CLOSE_FLUSH_MS);
		else
			sf_conn_close(fc->conn);
	}
	if (fc->ws)
		sf_ws_free(fc->ws);
	if (fc->http)
		sf_http_upgrade_free(fc->http);
	free(fc->pending);
	free(fc);
}

static void ws_on_data(void *user, const uint8_t *p, size_t n)
{
	struct sf_front_conn *fc = user;
	if (fc->bad_token)
		return;
	if (!sf_tt_preamble_done(&fc->preamble)) {
		size_t used = 0;
		int rc = sf_tt_preamble_feed(&fc->preamble, p, n, &used);
		if (rc == SF_TT_ERR_BAD_TOKEN) {
			fc->bad_token = true;
			return;
		}
		p += used;
		n -= used;
	}
	if (n == 0)
		return;
	if (fc->pending_len + n > PENDING_MAX) {
		fc->overflow = true;
		return;
	}
	if (!fc->pending && !(fc->pending = malloc(PENDING_MAX))) {
		fc->overflow = true;
		return;
	}
	memcpy(fc->pending + fc->pending_len, p, n);
	fc->pending_len += n;
}

static void ws_on_output(void *user, const uint8_t *p, size_t n)
{
	struct sf_front_conn *fc = user;
	if (!fc->write_failed && sf_conn_write(fc->conn, p, n) < 0)
		fc->write_failed = true;
}

static void ws_on_close(void *user, uint16_t code)
{
	(void)user;
	(void)code;
}

static const struct sf_ws_callbacks front_ws_callbacks = {
	.on_data = ws_on_data,
	.on_output = ws_on_output,
	.on_close = ws_on_close,
};

static void hand_over(struct sf_front_conn *fc)
{
	struct sf_server *srv = fc->srv;
	struct sf_handover *h = malloc(sizeof *h + fc->pending_len);
	if (!h) {
		front_release(fc, false);
		return;
	}
	const uint8_t *id = sf_tt_preamble_clientid(&fc->preamble);
	sf_conn_set_deadline(fc->conn, 0);
	sf_conn_detach(fc->conn);
	h->next = NULL;
	h->conn = fc->conn;
	h->ws = fc->ws;
	memcpy(h->clientid, id, sizeof h->clientid);
	snprintf(h->useraddr, sizeof h->useraddr, "%s", fc->useraddr);
	h->pending_len = fc->pending_len;
	if (fc->pending_len)
		memcpy(h->pending, fc->pending, fc->pending_len);
	fc->conn = NULL;
	fc->ws = NULL;
	unsigned shard = sf_tt_shard_of(srv->shard_key, id, srv->nshards);
	front_release(fc, false);
	sf_shard_post(srv->shards[shard], h);
}

static void on_websocket_bytes(struct sf_front_conn *fc, const uint8_t *p, size_t n)
{
	if (sf_ws_feed(fc->ws, p, n) < 0) {
		front_release(fc, true); /* the ws layer queued its Close 1002 */
		return;
	}
	if (fc->write_failed) {
		front_release(fc, false);
		return;
	}
	if (fc->bad_token) {
		sf_logf("Received unsupported oneshot connection");
		sf_ws_close(fc->ws);
		front_release(fc, true);
		return;
	}
	if (fc->overflow) {
		front_release(fc, false);
		return;
	}
	if (sf_tt_preamble_done(&fc->preamble))
		hand_over(fc);
}

static void on_http_bytes(struct sf_front_conn *fc, const uint8_t *p, size_t n)
{
	size_t used = 0, len;
	const uint8_t *resp;
	switch (sf_http_upgrade_feed(fc->http, p, n, &used)) {
	case SF_HTTP_UPGRADE_MORE:
		return;
	case SF_HTTP_UPGRADE_REJECT:
		if (sf_http_upgrade_error(fc->http))
			sf_logf("%s", sf_http_upgrade_error(fc->http));
		resp = sf_http_upgrade_response(fc->http, &len);
		if (resp)
			sf_conn_write(fc->conn, resp, len);
		front_release(fc, true);
		return;
	case SF_HTTP_UPGRADE_CLOSE:
		if (sf_http_upgrade_error(fc->http))
			sf_logf("%s", sf_http_upgrade_error(fc->http));
		front_release(fc, false);
		return;
	case SF_HTTP_UPGRADE_ACCEPT:
		break;
	}
	resp = sf_http_upgrade_response(fc->http, &len);
	size_t iplen = 0;
	const char *ip = sf_http_upgrade_client_ip(fc->http, &iplen);
	/* A decoded NUL inside client_ip makes it invalid, as Go's ParseIP would say. */
	if (ip && strlen(ip) == iplen)
		sf_tor_useraddr_from_client_ip(ip, fc->useraddr, sizeof fc->useraddr);
	fc->ws = sf_ws_new(&front_ws_callbacks, fc);
	if (!fc->ws || sf_conn_write(fc->conn, resp, len) < 0) {
		front_release(fc, false);
		return;
	}
	sf_http_upgrade_free(fc->http);
	fc->http = NULL;
	sf_conn_set_deadline(fc->conn, PREAMBLE_DEADLINE_MS);
	/* Pongs are written for what is read: stop reading a client that does not read them. */
	sf_conn_set_read_limit(fc->conn, FRONT_READ_LIMIT);
	if (used < n)
		on_websocket_bytes(fc, p + used, n - used);
}

static void conn_on_read(void *user, const uint8_t *p, size_t n)
{
	struct sf_front_conn *fc = user;
	if (fc->ws) {
		on_websocket_bytes(fc, p, n);
		return;
	}
	/* The request parser (16 KiB) only once request bytes arrive: a connection that sends
	 * nothing, or is still in its TLS handshake, costs no more than its socket. */
	if (!fc->http && !(fc->http = sf_http_upgrade_new())) {
		front_release(fc, false);
		return;
	}
	on_http_bytes(fc, p, n);
}

static void conn_on_close(void *user, const char *reason)
{
	struct sf_front_conn *fc = user;
	if (fc->ws && !sf_tt_preamble_done(&fc->preamble)) {
		const char *msg = sf_tt_preamble_eof_message(&fc->preamble);
		if (msg)
			sf_logf("%s", msg);
	}
	(void)reason;
	front_release(fc, false);
}

static const struct sf_conn_callbacks front_conn_callbacks = {
	.on_read = conn_on_read,
	.on_close = conn_on_close,
};

/* The TLS handshake ended (the TLS layer has logged a failure, as Go's net/http does). */
static void on_tls_done(void *arg, SSL *ssl, int fd, const char *error)
{
	struct sf_front_conn *fc = arg;
	fc->tls_hs = NULL;
	if (error) {
		sf_front_count_tls_failure(&fc->srv->front.metrics, error);
		front_release(fc, false);
		return;
	}
	const struct sf_conn_transport *tr;
	void *tr_ctx;
	sf_tls_transport_for(fc->srv->tls, ssl, &tr, &tr_ctx);
	fc->conn = sf_conn_new_transport(fc->srv->base, fd, tr, tr_ctx, &front_conn_callbacks, fc);
	if (!fc->conn) {
		front_release(fc, false);
		return;
	}
	sf_conn_set_deadline(fc->conn, REQUEST_DEADLINE_MS);
}

/* Room for one more connection in the front: the oldest goes first. */
static void make_room(struct sf_server *srv)
{
	uint64_t evicted = 0;
	while (srv->front.n >= srv->front.max && srv->front.oldest) {
		front_release(srv->front.oldest, false);
		evicted++;
	}
	if (!evicted)
		return;
	srv->front.evicted += evicted;
	uint64_t now = sf_clock_ms();
	if (!srv->front.evict_logged_ms || now - srv->front.evict_logged_ms >= 60000) {
		srv->front.evict_logged_ms = now;
		sf_logf("%zu connections in handshake: closing the oldest (%llu so far)",
			srv->front.max, (unsigned long long)srv->front.evicted);
	}
}

void sf_front_accept(struct sf_server *srv, int fd)
{
	make_room(srv);
	srv->front.metrics.connections_accepted++;
	struct sf_front_conn *fc = calloc(1, sizeof *fc);
	if (!fc) {
		close(fd);
		return;
	}
	fc->srv = srv;
	front_link(srv, fc);
	if (srv->tls) {
		fc->tls_hs = sf_tls_accept(srv->base, fd, srv->tls, SF_TLS_HANDSHAKE_TIMEOUT_MS,
					   on_tls_done, fc);
		if (!fc->tls_hs)
			front_release(fc, false); /* sf_tls_accept closed fd */
		return;
	}
	fc->conn = sf_conn_new(srv->base, fd, &front_conn_callbacks, fc);
	if (!fc->conn) {
		front_release(fc, false);
		return;
	}
	sf_conn_set_deadline(fc->conn, REQUEST_DEADLINE_MS);
}

void sf_front_close_all(struct sf_server *srv)
{
	while (srv->front.conns)
		front_release(srv->front.conns, false);
}
