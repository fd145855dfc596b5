/* The front: every accepted connection lives on the main event loop until its HTTP upgrade is
 * done and the turbotunnel preamble (token + ClientID) is read; then it is handed to the shard
 * that owns its ClientID and the front forgets it. */
#ifndef SF_SERVER_FRONT_H
#define SF_SERVER_FRONT_H

#include <stdint.h>

#include "metrics/expo.h"
#include "shard/shard.h"
#include "snowflake/server.h"
#include "tor/dial.h"
#include "tor/srcaddr.h"
#include "turbotunnel/shardmap.h"

struct listener;
struct sf_front_conn;
struct sf_certs;
struct sf_metrics_endpoint;

/* The main thread's counters (the front and the listeners run there, and so does the scrape). */
struct sf_front_metrics {
	uint64_t connections_accepted;
	uint64_t tls_failures[SF_METRICS_TLS_REASONS];
};

struct sf_server {
	struct event_base *base;
	struct listener *listeners;
	size_t nlisteners;
	struct sf_tor_target tor;
	struct sf_tor_srcaddr srcaddr;
	struct sf_tor_extorport *extorports;	/* with their cookies in memory */
	size_t n_extorports;
	uint8_t shard_key[SF_TT_SHARD_KEY_LEN];
	unsigned nshards;
	struct sf_shard **shards;
	struct sf_front_metrics front_metrics;
	/* What sf_server_take_stats reported last (the shards' counters only grow). */
	uint64_t stats_streams_taken, stats_with_addr_taken;
	struct sf_certs *certs;			/* for the ACME metrics; NULL: none */
	struct sf_metrics_endpoint *metrics;	/* --metrics-addr, or NULL */
	struct sf_tls_ctx *tls;			/* NULL: plain ws:// */
	/* Connections not yet handed over (TLS handshake, HTTP upgrade, preamble), newest first:
	 * what a client holds before it has proven to be a Snowflake proxy. At most max_front;
	 * past it the oldest is closed (a slow-loris flood pushes out its own connections first,
	 * and a proxy's handshake lasts a few round trips). */
	struct sf_front_conn *front_conns, *front_oldest;
	size_t nfront, max_front;
	uint64_t memory_budget;			/* the whole budget, front and shards */
	uint64_t front_evicted;			/* closed to make room */
	uint64_t front_evict_logged_ms;		/* one log line per minute at most */
};

/* A connection was accepted on a listener: the front owns fd now. */
void sf_front_accept(struct sf_server *srv, int fd);

/* Counts a failed TLS handshake by the reason the TLS layer gave (front_tls.c). */
void sf_front_count_tls_failure(struct sf_front_metrics *m, const char *error);

/* Shutdown: closes every connection still in the front. */
void sf_front_close_all(struct sf_server *srv);

#endif
