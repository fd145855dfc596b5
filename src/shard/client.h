/* Inside a shard: one record per ClientID, its WebSocket links and its smux streams. Everything
 * here belongs to the shard's thread. */
#ifndef SF_SHARD_CLIENT_H
#define SF_SHARD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "kcp/kcp.h"
#include "smux/smux.h"
#include "turbotunnel/encap.h"
#include "turbotunnel/clientmap.h"
#include "turbotunnel/pktqueue.h"
#include "shard/dialrate.h"
#include "shard/membudget.h"
#include "shard/shard.h"
#include "tor/balance.h"

struct event;
struct event_base;
struct evbuffer;
struct sf_tt_clientmap;
struct sf_conn;

/* Downstream packets go into a WebSocket only while its socket's output buffer holds less than
 * this (else they wait in the ClientID's queue). Upstream reads are never paused for KCP: a full
 * KCP receive window drops segments unACKed instead (docs/kcp.md). */
#define SF_LINK_OUTPUT_HIGH (128 * 1024)
/* Output above which a link's socket is not read (downstream stops at SF_LINK_OUTPUT_HIGH). */
#define SF_LINK_READ_LIMIT (2 * SF_LINK_OUTPUT_HIGH)
/* Downstream packets of one KCP flush leave as one WebSocket message of at most this size. */
#define SF_BATCH_MAX (32 * 1024)
/* Relay streams alive: open, dialing, or half-closed and waiting for tor. smux's own cap counts
 * only the streams it has open, and a SYN+FIN pair closes the smux stream at once while the relay
 * stream, its dial and its tor connection live on; these caps bound tor connections. A client has
 * one session at a time (a new one ends the old one's streams), so per client is per session. */
#define SF_CLIENT_STREAMS_MAX 64
#define SF_SHARD_STREAMS_MAX 16384
/* KCP → smux copies: up to two full smux frames at a time (tor → client reads take up to
 * SF_CONN_READ_CHUNK, the same size, in sf_conn's own scratch). */
#define SF_RELAY_READ_MAX (2 * SF_SMUX_MAX_FRAME)

struct sf_shard_state {
	struct event_base *base;
	const struct sf_shard_params *params;
	struct sf_shard_metrics *metrics;	/* written by this thread only */
	struct sf_tt_pool *pool;
	struct sf_tt_clientmap *clientmap;
	struct sf_client **table;		/* ClientID hash table, chained */
	size_t table_mask;
	size_t nclients;
	uint64_t hash_k0, hash_k1;		/* random key of the table's hash */
	struct sf_link *dead_links;		/* closed links to free outside callbacks */
	uint64_t now_ms;			/* clock of the current callback */
	size_t nstreams;			/* relay streams alive in the shard */
	struct sf_tor_balance extor_balance;	/* this shard's streams per ExtORPort */
	/* KCP budget enforcement: the thread's over-budget drop count last seen, and when
	 * stalled sessions were last looked for (sf_client_pump, the sweep timer). */
	uint64_t kcp_over_budget_seen;
	uint64_t kcp_sweep_ms;
	struct event *kcp_sweep_timer;		/* sweeps again while the pressure lasts */
	/* Memory budget (shard/membudget.h): this shard's slice, what its clients hold, the
	 * periodic check, and the refusals/evictions not logged yet (one line per period). */
	struct sf_mem_slice mem;
	struct sf_mem_usage mem_use;
	struct event *mem_tick;
	uint64_t mem_refused_unlogged, mem_evicted_unlogged, mem_evicted_bytes_unlogged;
	uint64_t mem_refuse_logged_ms, mem_evict_logged_ms;
	uint8_t scratch[SF_RELAY_READ_MAX];	/* KCP → smux copies */
	/* The open downstream batch: encapsulated packets of one client, for batch_link. It is
	 * opened and sent within one call (sf_client_flush, sf_client_output_ready); the bytes are
	 * copied into the socket's buffer when sent, so nothing here outlives that call. */
	struct sf_link *batch_link;
	size_t batch_len;
	uint8_t batch[SF_BATCH_MAX];
};

/* What a client's packet was: malformed ones close the WebSocket they came on. */
enum sf_packet_result {
	SF_PACKET_OK = 0,
	SF_PACKET_SHORT,	/* shorter than a KCP header */
	SF_PACKET_OTHER_CONV,	/* another conversation in an open session, not at sn 0 */
	SF_PACKET_BAD_LENGTH,	/* a segment longer than the packet or the MSS */
	SF_PACKET_BAD_CMD,	/* an unknown KCP command */
};

/* One WebSocket of a client. A client usually has one; it gets another when its proxy changes. */
struct sf_link {
	struct sf_link *next;			/* in client->links, or in dead_links */
	struct sf_client *client;
	struct sf_conn *conn;
	struct sf_ws *ws;
	struct sf_tt_decoder dec;
	bool closing;
	bool bad_stream;			/* the decoder failed: close after this read */
	enum sf_packet_result bad_packet;	/* not OK: close after this read */
	bool peer_closed;			/* the peer sent a Close frame */
	bool write_failed;			/* a frame did not fit the output: close now */
};

/* One smux stream and its connection to tor. */
struct sf_stream {
	struct sf_stream *next, *prev;
	struct sf_client *client;
	struct sf_smux_stream *smux;		/* NULL once our side sent FIN */
	struct sf_tor_dial *dial;		/* while connecting */
	int extorport;				/* index in params->extorports, or -1 */
	uint32_t extorports_tried;		/* by this stream's dials (bit = index) */
	bool auth_retried;			/* redialed once after the cookie changed */
	struct sf_conn *tor;			/* the connection to tor once dialed, else NULL */
	struct evbuffer *early;			/* client bytes that came while dialing, else NULL */
	bool client_fin;			/* half-close toward tor once its output is written */
	bool tor_paused;			/* tor reads wait for smux or KCP room */
	size_t held;				/* unwritten bytes smux still counts after our FIN */
};

struct sf_client {
	struct sf_client *hnext;
	struct sf_shard_state *sh;
	uint8_t id[8];
	struct sf_link *links;
	struct sf_tt_queue queue;		/* downstream packets waiting for a WebSocket */
	struct sf_kcp *kcp;			/* NULL until the first packet, and after the session ends */
	struct sf_smux_session *smux;
	struct sf_stream *streams;
	char useraddr[SF_TT_ADDR_MAX + 1];	/* looked up once, when the KCP session starts */
	struct event *timer;
	uint64_t timer_due;			/* 0 = not armed */
	bool session_dead;			/* end the session when the current callback is done */
	bool tor_paused_any;			/* some stream waits for KCP send room */
	bool pumping;				/* inside sf_client_pump: no re-entry */
	size_t nstreams;			/* relay streams alive (not only smux's open ones) */
	struct sf_dial_rate dial_rate;		/* kept across sessions of the ClientID */
	bool stream_limit_logged;
	uint64_t to_tor;			/* client bytes of its streams waiting for tor */
	uint64_t progress_ms;			/* last byte to or from tor, from KCP, or read by
						 * the client's WebSocket (the eviction's "stalled") */
	/* The KCP session's counters already added to the shard's metrics. */
	uint64_t kcp_rtt_seen, kcp_rto_seen, kcp_early_seen, kcp_dup_seen;
};

/* client.c */
struct sf_client *sf_client_find(struct sf_shard_state *sh, const uint8_t id[8]);
struct sf_client *sf_client_get(struct sf_shard_state *sh, const uint8_t id[8]);
void sf_client_free(struct sf_client *c);
const char *sf_packet_result_text(enum sf_packet_result r);
/* Feeds one decapsulated packet to the client's KCP session (creating it if needed). */
enum sf_packet_result sf_client_packet_in(struct sf_client *c, const uint8_t *pkt, size_t len);
void sf_client_pump(struct sf_client *c);
void sf_client_output_ready(struct sf_client *c);
/* Flushes the client's KCP session; its output leaves in batches. */
void sf_client_flush(struct sf_client *c);
/* Forgets the open batch if it is meant for l (l is closing; KCP will retransmit). */
void sf_client_batch_cancel(struct sf_shard_state *sh, const struct sf_link *l);
void sf_client_reschedule(struct sf_client *c);
/* Frees the shard's KCP sweep timer (at stop: a pending timer would hold the drain loop). */
void sf_client_sweep_stop(struct sf_shard_state *sh);
/* What c holds (KCP, bytes for tor, queued packets, its links), for the memory budget. */
uint64_t sf_client_mem_held(const struct sf_client *c);

/* membudget_shard.c: the memory budget on the shard's thread. */
uint64_t sf_shard_mem_used(struct sf_shard_state *sh);
/* Whether a WebSocket of a ClientID the shard does not know may come in (else it is counted
 * and, once per period, logged). */
bool sf_shard_mem_admit(struct sf_shard_state *sh);
/* Starts the periodic check (eviction, the used-bytes gauge). Returns 0 or -1. */
int sf_shard_mem_start(struct sf_shard_state *sh);
void sf_shard_mem_stop(struct sf_shard_state *sh);

/* link.c */
void sf_link_adopt(struct sf_shard_state *sh, struct sf_handover *h);
/* A hand-over that came as the shard stops: an empty Close frame, as live WebSockets get. */
void sf_link_close_unadopted(struct sf_shard_state *sh, struct sf_handover *h);
int sf_link_send(struct sf_link *l, const uint8_t *msg, size_t len);
bool sf_link_has_room(const struct sf_link *l);
void sf_link_close(struct sf_link *l, const char *why);
void sf_link_free_dead(struct sf_shard_state *sh);
/* Closes l at once, dropping its unsent output (an evicted client's links). */
void sf_link_abort(struct sf_link *l, const char *why);

/* stream.c */
void *sf_stream_open(void *client, struct sf_smux_stream *s);
void sf_stream_data(void *stream, const uint8_t *data, size_t len);
void sf_stream_fin(void *stream);
void sf_stream_writable(void *stream);
void sf_stream_free(struct sf_stream *st);
void sf_stream_resume_tor(struct sf_stream *st);

#endif
