/* One record per ClientID: where KCP meets the WebSockets below it and smux above it.
 *
 * Upstream packets: link → decoder → sf_client_packet_in → KCP; then sf_client_pump moves the
 * in-order KCP bytes into smux, which calls the stream callbacks (stream.c).
 * Downstream packets: smux frames → KCP → kcp_output → straight into a WebSocket with room, or
 * into the ClientID's queue (cap 512) until one has room or attaches. */
#include "shard/client.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "net/conn.h"
#include "turbotunnel/clientmap.h"

static void client_timer_cb(evutil_socket_t fd, short what, void *arg);

/* ---- Table of clients (chained hash, keyed so peers cannot aim for one chain). ---- */

static size_t client_slot(const struct sf_shard_state *sh, const uint8_t id[8])
{
	uint64_t x;
	memcpy(&x, id, 8);
	x ^= sh->hash_k0;
	x *= sh->hash_k1;
	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return (size_t)x & sh->table_mask;
}

struct sf_client *sf_client_find(struct sf_shard_state *sh, const uint8_t id[8])
{
	for (struct sf_client *c = sh->table[client_slot(sh, id)]; c; c = c->hnext)
		if (memcmp(c->id, id, 8) == 0)
			return c;
	return NULL;
}

static void table_grow(struct sf_shard_state *sh)
{
	size_t nslots = (sh->table_mask + 1) * 2;
	struct sf_client **t = calloc(nslots, sizeof *t);
	if (!t)
		return; /* keep the longer chains */
	struct sf_client **old = sh->table;
	size_t oldslots = sh->table_mask + 1;
	sh->table = t;
	sh->table_mask = nslots - 1;
	for (size_t i = 0; i < oldslots; i++) {
		struct sf_client *c = old[i];
		while (c) {
			struct sf_client *next = c->hnext;
			size_t slot = client_slot(sh, c->id);
			c->hnext = t[slot];
			t[slot] = c;
			c = next;
		}
	}
	free(old);
}

struct sf_client *sf_client_get(struct sf_shard_state *sh, const uint8_t id[8])
{
	struct sf_client *c = sf_client_find(sh, id);
	if (c)
		return c;
	if (sh->nclients >= sh->params->max_clients)
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->timer = evtimer_new(sh->base, client_timer_cb, c);
	if (!c->timer) {
		free(c);
		return NULL;
	}
	c->sh = sh;
	memcpy(c->id, id, 8);
	sf_tt_queue_init(&c->queue, sh->pool, SF_TT_QUEUE_CAP, sh->now_ms);
	if (sh->nclients + 1 > sh->table_mask + 1)
		table_grow(sh);
	size_t slot = client_slot(sh, id);
	c->hnext = sh->table[slot];
	sh->table[slot] = c;
	sh->nclients++;
	c->progress_ms = sh->now_ms;
	sf_counter_add(&sh->metrics->clients_created, 1);
	return c;
}

/* ---- KCP and smux session of a client. ---- */

/* ---- Downstream batches: the packets of one flush leave as one WebSocket message. ---- */

static void batch_send(struct sf_shard_state *sh)
{
	if (sh->batch_link && sh->batch_len > 0)
		sf_link_send(sh->batch_link, sh->batch, sh->batch_len);
	sh->batch_link = NULL;
	sh->batch_len = 0;
}

void sf_client_batch_cancel(struct sf_shard_state *sh, const struct sf_link *l)
{
	if (sh->batch_link == l) {
		sh->batch_link = NULL;
		sh->batch_len = 0;
	}
}

/* Where the next encapsulated packet of c goes: the open batch (after sending it if it is full
 * or another client's), or a new one toward a WebSocket with room; NULL if none has room. */
static uint8_t *batch_room(struct sf_client *c)
{
	struct sf_shard_state *sh = c->sh;
	if (sh->batch_link &&
	    (sh->batch_link->client != c || sh->batch_len + SF_TT_ENCODED_MAX > SF_BATCH_MAX))
		batch_send(sh);
	if (!sh->batch_link) {
		struct sf_link *l = c->links;
		while (l && !sf_link_has_room(l))
			l = l->next;
		if (!l)
			return NULL;
		sh->batch_link = l;
	}
	return sh->batch + sh->batch_len;
}

static void kcp_output(const uint8_t *pkt, size_t len, void *arg)
{
	struct sf_client *c = arg;
	struct sf_shard_state *sh = c->sh;
	if (len > SF_TT_MTU)
		len = SF_TT_MTU;
	/* Nothing queued before it: the packet is encoded straight into the batch. KCP's scratch
	 * buffer is never retained. */
	if (sf_tt_queue_len(&c->queue) == 0) {
		uint8_t *dst = batch_room(c);
		size_t n = dst ? sf_tt_encode_packet(pkt, len, dst, SF_TT_ENCODED_MAX) : 0;
		if (n > 0) {
			sh->batch_len += n;
			sf_tt_queue_touch(&c->queue, sh->now_ms);
			return;
		}
	}
	/* A full queue drops the packet, as upstream; KCP retransmits it. */
	if (sf_tt_queue_push(&c->queue, pkt, len, sh->now_ms) != SF_TT_PUSH_QUEUED)
		sf_counter_add(&sh->metrics->queue_drops, 1);
}

/* Adds to a shard counter what a session's own counter gained since *seen. */
static void fold_counter(sf_counter *shard, uint64_t now, uint64_t *seen)
{
	if (now != *seen) {
		sf_counter_add(shard, now - *seen);
		*seen = now;
	}
}

/* Adds what the KCP session counted since the last call to the shard's metrics: a few loads
 * and compares, after each input packet and each flush. */
static void kcp_metrics_fold(struct sf_client *c)
{
	struct sf_shard_metrics *m = c->sh->metrics;
	const struct sf_kcp_stats *ks = sf_kcp_stats(c->kcp);
	if (ks->rtt_samples != c->kcp_rtt_seen) {
		c->kcp_rtt_seen = ks->rtt_samples;
		sf_shard_metrics_rtt(m, ks->rtt_last);
	}
	fold_counter(&m->kcp_retrans_rto, ks->retrans_rto, &c->kcp_rto_seen);
	fold_counter(&m->kcp_retrans_early, ks->retrans_early, &c->kcp_early_seen);
	fold_counter(&m->kcp_dup_segs, ks->in_dup_segs, &c->kcp_dup_seen);
}

void sf_client_flush(struct sf_client *c)
{
	if (!c->kcp)
		return;
	sf_kcp_flush(c->kcp, (uint32_t)c->sh->now_ms);
	kcp_metrics_fold(c);
	sf_client_output_ready(c); /* queued packets, if any, then the open batch leaves */
}

static void smux_output(void *arg, const uint8_t *frame, size_t len)
{
	struct sf_client *c = arg;
	if (c->kcp && sf_kcp_send(c->kcp, frame, len) < 0)
		c->session_dead = true;
}

static const struct sf_smux_callbacks smux_callbacks = {
	.output = smux_output,
	.stream_open = sf_stream_open,
	.stream_data = sf_stream_data,
	.stream_fin = sf_stream_fin,
	.stream_writable = sf_stream_writable,
};

static int session_start(struct sf_client *c, uint32_t conv)
{
	struct sf_shard_state *sh = c->sh;
	c->kcp = sf_kcp_new(conv, kcp_output, c);
	c->smux = sf_smux_session_new(&smux_callbacks, c, sh->now_ms);
	if (!c->kcp || !c->smux) {
		sf_kcp_free(c->kcp);
		sf_smux_session_free(c->smux);
		c->kcp = NULL;
		c->smux = NULL;
		return -1;
	}
	sf_smux_set_idle_timeout(c->smux, sh->params->session_idle_ms, sh->now_ms);
	sf_smux_set_keepalive(c->smux, SF_SMUX_SERVER_KEEPALIVE_MS, true, sh->now_ms);
	/* Looked up once per session, as upstream: every stream of it gets this address. */
	char addr[SF_TT_ADDR_MAX + 1];
	if (sf_tt_clientmap_get(sh->clientmap, c->id, addr))
		snprintf(c->useraddr, sizeof c->useraddr, "%s", addr);
	else
		c->useraddr[0] = '\0';
	c->session_dead = false;
	c->kcp_rtt_seen = c->kcp_rto_seen = c->kcp_early_seen = 0;
	c->progress_ms = sh->now_ms;
	sh->mem_use.sessions++;
	sf_counter_add(&sh->metrics->sessions_opened, 1);
	return 0;
}

static void session_end(struct sf_client *c)
{
	if (c->kcp) {
		kcp_metrics_fold(c);
		sf_counter_add(&c->sh->metrics->sessions_closed, 1);
		c->sh->mem_use.sessions--;
	}
	while (c->streams)
		sf_stream_free(c->streams);
	sf_smux_session_free(c->smux);
	sf_kcp_free(c->kcp);
	c->smux = NULL;
	c->kcp = NULL;
	c->session_dead = false;
	c->tor_paused_any = false;
}

void sf_client_free(struct sf_client *c)
{
	struct sf_shard_state *sh = c->sh;
	while (c->links)
		sf_link_close(c->links, NULL);
	if (c->kcp)
		session_end(c);
	sf_tt_queue_clear(&c->queue);
	event_free(c->timer);
	struct sf_client **pp = &sh->table[client_slot(sh, c->id)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	sh->nclients--;
	sf_counter_add(&sh->metrics->clients_freed, 1);
	free(c);
}

const char *sf_packet_result_text(enum sf_packet_result r)
{
	switch (r) {
	case SF_PACKET_OK:
		return "ok";
	case SF_PACKET_SHORT:
		return "shorter than a KCP header";
	case SF_PACKET_OTHER_CONV:
		return "another conversation id in an open session";
	case SF_PACKET_BAD_LENGTH:
		return "segment length beyond the packet or the MSS";
	case SF_PACKET_BAD_CMD:
		return "unknown KCP command";
	}
	return "?";
}

enum sf_packet_result sf_client_packet_in(struct sf_client *c, const uint8_t *pkt, size_t len)
{
	if (len == 0)
		return SF_PACKET_OK; /* an empty data chunk is valid and means nothing */
	if (len < SF_KCP_OVERHEAD)
		return SF_PACKET_SHORT;
	uint32_t conv = sf_kcp_peek_conv(pkt);
	if (c->kcp && sf_kcp_conv(c->kcp) != conv) {
		/* A new conversation replaces the session only if it starts at sn 0 (docs/kcp.md "Sessions"). */
		if (sf_kcp_peek_sn(pkt) != 0)
			return SF_PACKET_OTHER_CONV;
		session_end(c);
	}
	if (!c->kcp && session_start(c, conv) < 0) {
		sf_logf("out of memory for a new KCP session");
		return SF_PACKET_OK; /* the packet is dropped, as a lost one; the link stays */
	}
	int rc = sf_kcp_input(c->kcp, pkt, len, (uint32_t)c->sh->now_ms);
	kcp_metrics_fold(c);
	switch (rc) {
	case SF_KCP_ELEN:
		return SF_PACKET_BAD_LENGTH;
	case SF_KCP_ECMD:
		return SF_PACKET_BAD_CMD;
	default:
		return SF_PACKET_OK;
	}
}

/* Streams stop reading tor while smux's or KCP's send window is full; input (UPD frames, ACKs)
 * is what opens them again. A client has few streams (the Go client opens one). */
static void resume_paused_streams(struct sf_client *c)
{
	if (!c->tor_paused_any || sf_kcp_send_room(c->kcp) == 0)
		return;
	c->tor_paused_any = false;
	for (struct sf_stream *st = c->streams; st; st = st->next) {
		if (!st->tor_paused)
			continue;
		if (st->smux && sf_smux_stream_write_room(st->smux) > 0)
			sf_stream_resume_tor(st);
		else
			c->tor_paused_any = true;
	}
}

/* The thread's KCP budget was hit (a PUSH was dropped for it): close the sessions that hold
 * received memory without progress, the likely hoarders, so that the others get room again.
 * Drops happen only on input, and every input ends in sf_client_pump, which calls this; while
 * the pressure lasts, the shard's sweep timer calls it again. At most once per
 * KCP_SWEEP_GAP_MS; a session stalled for less than KCP_STALL_CLOSE_MS is left alone (a lost
 * segment is normally resent well within it). */
#define KCP_SWEEP_GAP_MS 500
#define KCP_STALL_CLOSE_MS 2000

struct stalled {
	struct sf_client *c;
	size_t held;
};

static int by_held_desc(const void *a, const void *b)
{
	size_t x = ((const struct stalled *)a)->held, y = ((const struct stalled *)b)->held;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void kcp_budget_sweep(struct sf_shard_state *sh);

static void sweep_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_shard_state *sh = arg;
	sh->now_ms = sf_clock_ms();
	kcp_budget_sweep(sh);
	sf_link_free_dead(sh);
}

/* One timer per shard, made the first time a sweep leaves the pressure unresolved. */
static void arm_sweep_timer(struct sf_shard_state *sh, uint64_t delay_ms)
{
	if (!sh->kcp_sweep_timer)
		sh->kcp_sweep_timer = evtimer_new(sh->base, sweep_timer_cb, sh);
	if (!sh->kcp_sweep_timer || evtimer_pending(sh->kcp_sweep_timer, NULL))
		return;
	struct timeval tv = { 0, (suseconds_t)(delay_ms + 1) * 1000 };
	evtimer_add(sh->kcp_sweep_timer, &tv);
}

void sf_client_sweep_stop(struct sf_shard_state *sh)
{
	if (sh->kcp_sweep_timer)
		event_free(sh->kcp_sweep_timer);
	sh->kcp_sweep_timer = NULL;
}

static void kcp_budget_sweep(struct sf_shard_state *sh)
{
	uint64_t drops = sf_kcp_thread_over_budget();
	if (drops == sh->kcp_over_budget_seen)
		return;
	if (sh->now_ms - sh->kcp_sweep_ms < KCP_SWEEP_GAP_MS) {
		arm_sweep_timer(sh, KCP_SWEEP_GAP_MS - (sh->now_ms - sh->kcp_sweep_ms));
		return;
	}
	sh->kcp_sweep_ms = sh->now_ms;
	/* The sessions stalled long enough, the biggest holders first, and only until memory is
	 * back under 7/8 of the budget: an innocent session whose packets were dropped while the
	 * budget was spent looks stalled too, but holds little, and is left alone once the
	 * hoarders are gone. */
	struct stalled *v = sh->nclients ? malloc(sh->nclients * sizeof *v) : NULL;
	size_t n = 0;
	for (size_t i = 0; v && i <= sh->table_mask; i++) {
		for (struct sf_client *c = sh->table[i]; c && n < sh->nclients; c = c->hnext) {
			if (!c->kcp || sf_kcp_rx_stalled_ms(c->kcp, (uint32_t)sh->now_ms) < KCP_STALL_CLOSE_MS)
				continue;
			v[n].c = c;
			v[n].held = sf_kcp_rx_held(c->kcp);
			n++;
		}
	}
	if (n > 1)
		qsort(v, n, sizeof *v, by_held_desc);
	uint64_t target = sf_kcp_thread_rx_budget() / 8 * 7;
	unsigned closed = 0;
	uint64_t freed = 0;
	for (size_t k = 0; k < n && sf_kcp_thread_seg_bytes() >= target; k++) {
		freed += v[k].held;
		session_end(v[k].c);
		sf_client_reschedule(v[k].c);
		closed++;
	}
	free(v);
	/* The pressure is over once something was closed or memory went well below the budget;
	 * until then, sweep again: the hoarders may not have been stalled long enough yet. Input
	 * would sweep again, but hoarders that filled the budget and went quiet send none, and
	 * nor need anyone else: the timer looks again without it. */
	if (closed || sf_kcp_thread_seg_bytes() < target)
		sh->kcp_over_budget_seen = drops;
	else
		arm_sweep_timer(sh, KCP_SWEEP_GAP_MS);
	if (closed)
		sf_logf("KCP memory over budget: closed %u sessions holding %llu bytes without "
			"progress for %u ms or more", closed, (unsigned long long)freed,
			KCP_STALL_CLOSE_MS);
}

/* Moves in-order KCP bytes into smux (bounded by smux's session buffer, as upstream's token
 * bucket), sends what that produced, and re-arms the timer. */
void sf_client_pump(struct sf_client *c)
{
	struct sf_shard_state *sh = c->sh;
	if (c->pumping)
		return;
	c->pumping = true;
	/* smux's bucket, or the client's memory share if that is smaller. */
	size_t bucket = SF_SMUX_SESSION_BUFFER;
	if (sh->mem.client_share && sh->mem.client_share < bucket)
		bucket = (size_t)sh->mem.client_share;
	while (c->kcp && !c->session_dead && sf_smux_unconsumed(c->smux) < bucket) {
		size_t n = sf_kcp_recv(c->kcp, sh->scratch, sizeof sh->scratch);
		if (n == 0)
			break;
		c->progress_ms = sh->now_ms;
		if (sf_smux_input(c->smux, sh->scratch, n, sh->now_ms) < 0) {
			sf_logf("smux: protocol error from a client; closing its session");
			c->session_dead = true;
		}
	}
	c->pumping = false;
	if (c->session_dead) {
		session_end(c);
	} else if (c->kcp) {
		resume_paused_streams(c);
		sf_client_flush(c);
	}
	sf_client_reschedule(c);
	kcp_budget_sweep(sh);
}

/* A WebSocket has room again, or a new one attached: move queued packets into it. */
void sf_client_output_ready(struct sf_client *c)
{
	struct sf_shard_state *sh = c->sh;
	while (sf_tt_queue_len(&c->queue) > 0) {
		uint8_t *dst = batch_room(c);
		if (!dst)
			break;
		struct sf_tt_pkt pkt = sf_tt_queue_pop(&c->queue);
		memcpy(dst, pkt.data, pkt.len);
		sh->batch_len += pkt.len;
		sf_tt_pkt_release(&pkt);
		sf_tt_queue_touch(&c->queue, sh->now_ms);
	}
	batch_send(sh);
}

static uint64_t record_idle_ms(const struct sf_shard_state *sh)
{
	return sh->params->record_idle_ms ? sh->params->record_idle_ms : SF_TT_QUEUE_TIMEOUT_MS;
}

uint64_t sf_client_mem_held(const struct sf_client *c)
{
	uint64_t held = c->to_tor + SF_MEM_CLIENT_COST +
			(uint64_t)sf_tt_queue_len(&c->queue) * SF_MEM_POOL_BUF_COST;
	if (c->kcp)
		held += sf_kcp_footprint(c->kcp) + SF_MEM_SESSION_COST;
	held += (uint64_t)c->nstreams * SF_MEM_STREAM_COST;
	for (const struct sf_link *l = c->links; l; l = l->next)
		held += c->sh->params->link_cost + (l->conn ? sf_conn_output_len(l->conn) : 0);
	return held;
}

void sf_client_reschedule(struct sf_client *c)
{
	struct sf_shard_state *sh = c->sh;
	uint64_t now = sh->now_ms, due;
	if (c->kcp) {
		int64_t d = sf_smux_next_due(c->smux, now);
		int32_t k = sf_kcp_next_due(c->kcp, (uint32_t)now);
		if (k >= 0 && k < d)
			d = k;
		due = now + (uint64_t)(d < 0 ? 0 : d);
	} else {
		/* No session: the record lives until its queue has been idle for a minute. */
		due = c->queue.last_seen_ms + record_idle_ms(sh);
		if (due < now)
			due = now;
	}
	if (due == c->timer_due)
		return;
	uint64_t delay = due - now;
	struct timeval tv = { .tv_sec = (time_t)(delay / 1000), .tv_usec = (suseconds_t)(delay % 1000) * 1000 };
	evtimer_add(c->timer, &tv);
	c->timer_due = due;
}

static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_client *c = arg;
	struct sf_shard_state *sh = c->sh;
	sh->now_ms = sf_clock_ms();
	c->timer_due = 0;
	if (c->kcp) {
		if (sf_smux_tick(c->smux, sh->now_ms) < 0)
			c->session_dead = true;
		if (c->session_dead)
			session_end(c);
		else
			sf_client_flush(c);
	}
	if (!c->kcp && sf_tt_queue_idle_ms(&c->queue, sh->now_ms) >= record_idle_ms(sh)) {
		/* Upstream closes the queue, and with it every WebSocket waiting on it. */
		sf_client_free(c);
		sf_link_free_dead(sh);
		return;
	}
	sf_client_reschedule(c);
}
