/* The front: every accepted connection lives on the main event loop until its HTTP upgrade is
 * done and the turbotunnel preamble (token + ClientID) is read; then it is handed to the shard
 * that owns its ClientID and the front forgets it. */
#ifndef SF_SERVER_FRONT_H
#define SF_SERVER_FRONT_H

#include <stdint.h>

#include "shard/shard.h"
#include "snowflake/server.h"
#include "tor/dial.h"
#include "tor/srcaddr.h"
#include "turbotunnel/shardmap.h"

struct listener;
struct sf_front_conn;

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
	struct sf_shard_counters counters;
	struct sf_tls_ctx *tls;			/* NULL: plain ws:// */
	/* Connections not yet handed over (TLS handshake, HTTP upgrade, preamble), newest first:
	 * what a client holds before it has proven to be a Snowflake proxy. At most max_front;
	 * past it the oldest is closed (a slow-loris flood pushes out its own connections first,
	 * and a proxy's handshake lasts a few round trips). */
	struct sf_front_conn *front_conns, *front_oldest;
	size_t nfront, max_front;
	uint64_t front_evicted;			/* closed to make room */
	uint64_t front_evict_logged_ms;		/* one log line per minute at most */
};

/* A connection was accepted on a listener: the front owns fd now. */
void sf_front_accept(struct sf_server *srv, int fd);

/* Shutdown: closes every connection still in the front. */
void sf_front_close_all(struct sf_server *srv);

#endif
