/* The server's state (the embedding API's struct sf_server, opaque outside src/server): its
 * listeners, shards, tor targets and front, shared by the files of src/server only. */
#ifndef SF_SERVER_SERVER_INT_H
#define SF_SERVER_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "server/front.h"
#include "shard/shard.h"
#include "snowflake/server.h"
#include "tor/dial.h"
#include "tor/srcaddr.h"
#include "turbotunnel/shardmap.h"

struct listener;
struct sf_certs;
struct sf_metrics_endpoint;
struct sf_tls_ctx;

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
	/* What sf_server_take_stats reported last (the shards' counters only grow). */
	uint64_t stats_streams_taken, stats_with_addr_taken;
	struct sf_certs *certs;			/* for the ACME metrics; NULL: none */
	struct sf_metrics_endpoint *metrics;	/* --metrics-addr, or NULL */
	struct sf_tls_ctx *tls;			/* NULL: plain ws:// */
	struct sf_front front;			/* connections before their hand-over */
};

#endif
