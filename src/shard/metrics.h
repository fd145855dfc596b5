/* A shard's counters for the metrics endpoint (docs/metrics.md). Each shard owns one struct,
 * aligned to its own cache lines, and is its only writer; the scraper (another thread) only
 * loads. So an update is a relaxed load and a relaxed store of the sum — a plain add, no lock
 * prefix, no cache line shared with another writer. Gauges are kept as two counters (opened,
 * closed) so that they too are single-writer adds; the reader subtracts. */
#ifndef SF_SHARD_METRICS_H
#define SF_SHARD_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#define SF_SHARD_CACHE_LINE 64
/* Tor backends a dial error is counted for: the stream's ExtORPort (its index in the server's
 * list, src/tor/balance.c), or SF_SHARD_BACKEND_PRIMARY for the plain ORPort. */
#define SF_SHARD_BACKENDS_MAX 32
#define SF_SHARD_BACKEND_PRIMARY 0
/* Upper bounds (ms) of the KCP RTT histogram's buckets; one more bucket holds the rest. */
#define SF_SHARD_RTT_BOUNDS 11
extern const uint32_t sf_shard_rtt_bounds_ms[SF_SHARD_RTT_BOUNDS];

typedef atomic_uint_fast64_t sf_counter;

struct sf_shard_metrics {
	_Alignas(SF_SHARD_CACHE_LINE) sf_counter websockets_opened;
	sf_counter websockets_closed;
	sf_counter clients_created, clients_freed;	/* ClientID records */
	sf_counter sessions_opened, sessions_closed;	/* KCP + smux sessions */
	sf_counter streams_opened, streams_closed;	/* relay streams handed to the dialer */
	sf_counter streams_with_addr;			/* ... of which with a client address */
	sf_counter bytes_to_tor, bytes_from_tor;	/* stream payload */
	sf_counter kcp_retrans_rto, kcp_retrans_early;
	sf_counter kcp_dup_segs;			/* PUSHes received again (client resends) */
	sf_counter queue_drops;				/* downstream packets dropped by a queue */
	sf_counter mem_budget, mem_used;		/* gauges (bytes), set by sf_counter_set */
	sf_counter mem_refused;				/* WebSockets of new ClientIDs refused */
	sf_counter mem_evicted;				/* clients closed to free memory */
	sf_counter rtt_sum_ms;
	sf_counter rtt_buckets[SF_SHARD_RTT_BOUNDS + 1];	/* not cumulative; last: beyond */
	sf_counter dial_errors[SF_SHARD_BACKENDS_MAX];
};

/* Only from the shard that owns c. */
static inline void sf_counter_add(sf_counter *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* A gauge: only from the shard that owns c. */
static inline void sf_counter_set(sf_counter *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

/* Any thread. */
static inline uint64_t sf_counter_get(const sf_counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* One KCP RTT sample (ms), from the owning shard. */
void sf_shard_metrics_rtt(struct sf_shard_metrics *m, uint32_t rtt_ms);

#endif
