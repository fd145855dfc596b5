/* A shard: one thread with its own event loop that owns every client whose ClientID maps to it —
 * the client's WebSockets, its downstream queue, its KCP and smux sessions, its streams and their
 * tor connections. Nothing on the data path is shared with another thread; the only way in is
 * sf_shard_post, which hands over a WebSocket whose turbotunnel preamble was read elsewhere. */
#ifndef SF_SHARD_SHARD_H
#define SF_SHARD_SHARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shard/metrics.h"
#include "tor/dial.h"

struct sf_conn;
struct sf_ws;
struct sf_shard;

struct sf_shard_params {
	const struct sf_tor_target *tor;	/* read-only, shared by all shards */
	/* ExtORPorts to spread streams over (0: dial tor as `tor` says); shared, their cookies
	 * are thread-safe (tor/cookie.h). Each shard balances its own streams (docs/tor.md). */
	struct sf_tor_extorport *extorports;
	size_t n_extorports;
	size_t clientmap_capacity;		/* ClientID → address records kept by this shard */
	size_t max_clients;			/* ClientID records this shard accepts */
	/* 0 for upstream's values; shorter only where nobody can wait minutes (tests): */
	uint64_t session_idle_ms;	/* smux idle check (SF_SMUX_KEEPALIVE_TIMEOUT_MS) */
	uint64_t record_idle_ms;	/* ClientID record without a session (SF_TT_QUEUE_TIMEOUT_MS) */
	/* Memory budget slice of this shard (docs/security.md, "Memory budget"); 0: none (the
	 * fixed defaults of each layer). link_cost: what a WebSocket holds beyond its buffers. */
	uint64_t mem_slice;
	uint64_t link_cost;
};

/* A WebSocket whose preamble (token + ClientID) has been read: everything the shard needs to
 * take it over. The front fills it, the shard owns it from sf_shard_post on. */
struct sf_handover {
	struct sf_handover *next;
	struct sf_conn *conn;			/* detached from the front's event loop */
	struct sf_ws *ws;
	uint8_t clientid[8];
	char useraddr[48];			/* USERADDR text from client_ip, or "" */
	size_t pending_len;			/* payload bytes that followed the preamble */
	uint8_t pending[];
};

/* Starts the thread. NULL with a message in err on failure. */
struct sf_shard *sf_shard_start(const struct sf_shard_params *p, unsigned index, char *err,
				size_t errlen);

/* Thread-safe: queues h for the shard's thread, which attaches it to its client. */
void sf_shard_post(struct sf_shard *sh, struct sf_handover *h);

/* Stops the thread, closes every connection of the shard and frees it. */
void sf_shard_stop(struct sf_shard *sh);

/* The shard's counters (written by its thread only; any thread may read them until
 * sf_shard_stop). */
const struct sf_shard_metrics *sf_shard_metrics(const struct sf_shard *sh);
/* CPU time the shard's thread has used, in ns (0 if the clock cannot be read). */
uint64_t sf_shard_cpu_ns(const struct sf_shard *sh);

/* Frees a handover that never reached a shard (closes its connection). */
void sf_handover_free(struct sf_handover *h);

#endif
