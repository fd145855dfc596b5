/* A client's WebSocket on its shard: socket bytes → WebSocket frames → turbotunnel decoder →
 * KCP packets, and batches of encapsulated downstream packets → one Binary message each.
 * Closing a link never ends the client's KCP session: the client comes back through another
 * proxy. */
#include <stdio.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "net/conn.h"
#include "shard/client.h"
#include "ws/ws.h"

#define CLOSE_FLUSH_MS 1000

static void link_drop(struct sf_link *l, const char *why, bool socket_gone);

static int on_packet(void *arg, const uint8_t *pkt, size_t len)
{
	struct sf_link *l = arg;
	if (l->closing || l->bad_packet != SF_PACKET_OK)
		return 1;
	l->bad_packet = sf_client_packet_in(l->client, pkt, len);
	return l->bad_packet != SF_PACKET_OK ? 1 : 0; /* stop decoding this WebSocket */
}

static void ws_on_data(void *user, const uint8_t *p, size_t n)
{
	struct sf_link *l = user;
	if (l->closing || l->bad_stream || l->bad_packet != SF_PACKET_OK)
		return;
	if (sf_tt_decoder_feed(&l->dec, p, n, NULL) == SF_TT_ERR_TOO_LONG)
		l->bad_stream = true;
}

static void ws_on_output(void *user, const uint8_t *p, size_t n)
{
	struct sf_link *l = user;
	/* A frame that does not fit would desync the stream: the link is closed instead. */
	if (l->conn && !l->write_failed && sf_conn_write(l->conn, p, n) < 0)
		l->write_failed = true;
}

static void ws_on_close(void *user, uint16_t code)
{
	struct sf_link *l = user;
	(void)code;
	l->peer_closed = true;
}

static const struct sf_ws_callbacks link_ws_callbacks = {
	.on_data = ws_on_data,
	.on_output = ws_on_output,
	.on_close = ws_on_close,
};

static void close_bad_packet(struct sf_link *l)
{
	char why[128];
	snprintf(why, sizeof why, "malformed KCP packet: %s", sf_packet_result_text(l->bad_packet));
	sf_link_close(l, why);
}

static void conn_on_read(void *user, const uint8_t *p, size_t n)
{
	struct sf_link *l = user;
	struct sf_client *c = l->client;
	struct sf_shard_state *sh = c->sh;
	sh->now_ms = sf_clock_ms();
	int rc = sf_ws_feed(l->ws, p, n);
	if (l->write_failed)
		link_drop(l, "output full", true);
	else if (rc < 0)
		sf_link_close(l, "WebSocket protocol error");
	else if (l->bad_stream)
		sf_link_close(l, "encapsulation: length prefix too long");
	else if (l->bad_packet != SF_PACKET_OK)
		close_bad_packet(l);
	else if (l->peer_closed)
		sf_link_close(l, NULL);
	sf_client_pump(c);
	sf_link_free_dead(sh);
}

static void conn_on_drained(void *user)
{
	struct sf_link *l = user;
	l->client->sh->now_ms = sf_clock_ms();
	l->client->progress_ms = l->client->sh->now_ms; /* the client reads what we send */
	sf_client_output_ready(l->client);
}

static void conn_on_close(void *user, const char *reason)
{
	struct sf_link *l = user;
	struct sf_shard_state *sh = l->client->sh;
	(void)reason;
	sh->now_ms = sf_clock_ms();
	link_drop(l, NULL, true);
	sf_link_free_dead(sh);
}

static const struct sf_conn_callbacks link_conn_callbacks = {
	.on_read = conn_on_read,
	.on_drained = conn_on_drained,
	.on_close = conn_on_close,
};

/* The client's share of the memory budget also bounds its WebSockets: a proxy change leaves the
 * old one behind, and a client opening many would hold a TLS connection each. The oldest go
 * first; the newest (l) stays. */
static void links_within_share(struct sf_client *c, struct sf_link *l)
{
	uint64_t share = c->sh->mem.client_share;
	for (unsigned guard = 0; share && guard < 1024 && c->links && c->links->next &&
				 sf_client_mem_held(c) > share; guard++) {
		struct sf_link *oldest = c->links;
		while (oldest->next)
			oldest = oldest->next;
		if (oldest == l)
			break;
		sf_link_close(oldest, "the client's memory share is spent: closing its oldest WebSocket");
	}
}

static void turned_away_ws_output(void *user, const uint8_t *p, size_t n)
{
	(void)sf_conn_write(user, p, n); /* if the connection has ended, no Close goes out */
}

static const struct sf_ws_callbacks turned_away_ws_callbacks = {
	.on_output = turned_away_ws_output,
};

/* Closes a handed-over WebSocket without adopting it: a Close frame (with code, or upstream's
 * empty one for 0), flushed for at most CLOSE_FLUSH_MS on the shard's loop. */
static void turn_away(struct sf_shard_state *sh, struct sf_handover *h, uint16_t code)
{
	if (sf_conn_attach(h->conn, sh->base) == 0) {
		sf_ws_set_callbacks(h->ws, &turned_away_ws_callbacks, h->conn);
		if (code)
			sf_ws_close_code(h->ws, code);
		else
			sf_ws_close(h->ws);
		sf_conn_close_flush(h->conn, CLOSE_FLUSH_MS);
		h->conn = NULL;
	}
	sf_handover_free(h);
}

/* A WebSocket the shard cannot take still gets a Close, 1013 (Try Again Later): its proxy sees
 * an overloaded bridge rather than a broken connection. */
static void refuse(struct sf_shard_state *sh, struct sf_handover *h)
{
	turn_away(sh, h, SF_WS_CLOSE_TRY_AGAIN_LATER);
}

void sf_link_close_unadopted(struct sf_shard_state *sh, struct sf_handover *h)
{
	turn_away(sh, h, 0);
}

void sf_link_adopt(struct sf_shard_state *sh, struct sf_handover *h)
{
	/* Under memory pressure, only ClientIDs the shard knows come in (their session goes on). */
	if (!sf_client_find(sh, h->clientid) && !sf_shard_mem_admit(sh)) {
		refuse(sh, h);
		return;
	}
	struct sf_client *c = sf_client_get(sh, h->clientid);
	struct sf_link *l = c ? calloc(1, sizeof *l) : NULL;
	if (!l) {
		sf_logf("shard full or out of memory: refusing a WebSocket");
		refuse(sh, h);
		return;
	}
	/* Upstream records the address for every WebSocket; the newest wins for its ClientID. */
	sf_tt_clientmap_put(sh->clientmap, h->clientid, h->useraddr);
	l->client = c;
	l->conn = h->conn;
	l->ws = h->ws;
	sf_tt_decoder_init(&l->dec, on_packet, l);
	sf_conn_set_callbacks(l->conn, &link_conn_callbacks, l);
	sf_ws_set_callbacks(l->ws, &link_ws_callbacks, l);
	sf_conn_set_drained(l->conn, SF_LINK_OUTPUT_HIGH / 2);
	/* Pongs are written for what is read: stop reading a client that does not read them. */
	sf_conn_set_read_limit(l->conn, SF_LINK_READ_LIMIT);
	l->next = c->links;
	c->links = l;
	sh->mem_use.links++;
	sf_counter_add(&sh->metrics->websockets_opened, 1);
	if (sf_conn_attach(l->conn, sh->base) < 0) {
		sf_link_close(l, "cannot attach to the shard's event loop");
	} else {
		sf_conn_set_account(l->conn, &sh->mem_use.link_output);
		links_within_share(c, l);
		sf_tt_queue_touch(&c->queue, sh->now_ms);
		if (h->pending_len > 0)
			ws_on_data(l, h->pending, h->pending_len);
		if (l->bad_stream)
			sf_link_close(l, "encapsulation: length prefix too long");
		else if (l->bad_packet != SF_PACKET_OK)
			close_bad_packet(l);
	}
	free(h);
	sf_client_pump(c);
	sf_client_output_ready(c);
}

bool sf_link_has_room(const struct sf_link *l)
{
	return !l->closing && sf_conn_output_len(l->conn) < SF_LINK_OUTPUT_HIGH;
}

int sf_link_send(struct sf_link *l, const uint8_t *msg, size_t len)
{
	if (l->closing)
		return -1;
	return sf_ws_send_binary(l->ws, msg, len);
}

/* Unlinks l from its client and closes its socket (flushing what is queued, e.g. a Close frame,
 * unless the socket is already gone); the memory goes to the dead list, freed outside of any
 * callback of l. */
static void link_drop(struct sf_link *l, const char *why, bool socket_gone)
{
	if (l->closing)
		return;
	l->closing = true;
	struct sf_client *c = l->client;
	c->sh->mem_use.links--;
	sf_counter_add(&c->sh->metrics->websockets_closed, 1);
	sf_client_batch_cancel(c->sh, l);
	struct sf_link **pp = &c->links;
	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (*pp)
		*pp = l->next;
	if (why)
		sf_logf("closing a WebSocket: %s", why);
	if (socket_gone) {
		sf_conn_close(l->conn);
	} else {
		if (!l->peer_closed)
			sf_ws_close(l->ws); /* upstream's empty Close frame */
		sf_conn_close_flush(l->conn, CLOSE_FLUSH_MS);
	}
	l->conn = NULL;
	l->next = c->sh->dead_links;
	c->sh->dead_links = l;
	sf_client_reschedule(c);
}

void sf_link_close(struct sf_link *l, const char *why)
{
	link_drop(l, why, false);
}

void sf_link_abort(struct sf_link *l, const char *why)
{
	link_drop(l, why, true);
}

void sf_link_free_dead(struct sf_shard_state *sh)
{
	while (sh->dead_links) {
		struct sf_link *l = sh->dead_links;
		sh->dead_links = l->next;
		sf_ws_free(l->ws);
		free(l);
	}
}
