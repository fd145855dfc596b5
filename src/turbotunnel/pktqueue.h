/* Downstream packet buffers and per-ClientID outgoing queues (docs/turbotunnel.md "Downstream
 * direction").
 *
 * Ownership is the point of this module (upstream bug #40260 was a buffer reused while still
 * queued). Every buffer has exactly one owner at a time:
 *   pool  --push-->  queue  --pop-->  taker (the WebSocket writer)  --release-->  pool
 * push copies the caller's bytes, so the caller's buffer is never retained; pop hands the buffer
 * over in a struct sf_tt_pkt that must be given back with sf_tt_pkt_release exactly once.
 *
 * A pool belongs to one thread, together with every queue using it; nothing here locks. */
#ifndef SF_TURBOTUNNEL_PKTQUEUE_H
#define SF_TURBOTUNNEL_PKTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "turbotunnel/encap.h"

#define SF_TT_BUF_SIZE SF_TT_ENCODED_MAX	/* 1402: prefix + one MTU packet */
#define SF_TT_QUEUE_CAP 512			/* upstream queueSize */
#define SF_TT_QUEUE_TIMEOUT_MS 60000		/* records idle this long are removed */
#define SF_TT_QUEUE_SWEEP_MS 30000		/* upstream checks every timeout / 2 */
#define SF_TT_POOL_SLAB_BUFS 32			/* buffers allocated at a time */
#define SF_TT_POOL_DEFAULT_MAX 16384		/* ~23 MB of buffers per thread */
/* Fair shares of a pool: every queue may take SF_TT_QUEUE_MIN_SHARE buffers while any are free;
 * beyond that only while more than a reserve of max_bufs / SF_TT_POOL_RESERVE_DIV stays free. A
 * few ClientIDs whose WebSockets never read (32 × 512 = the whole default pool) thus leave the
 * reserve (a quarter of the pool) to the queues below their share. */
#define SF_TT_QUEUE_MIN_SHARE 32
#define SF_TT_POOL_RESERVE_DIV 4

struct sf_tt_pool;
struct sf_tt_buf;	/* private */

/* A buffer taken from a queue: data[0..len) is one encapsulated packet (prefix included), ready
 * to be sent as one WebSocket message. Valid until released. */
struct sf_tt_pkt {
	struct sf_tt_buf *buf;		/* NULL: no packet */
	const uint8_t *data;
	size_t len;
	uint32_t gen;			/* private: which taking of buf this is */
};

struct sf_tt_pool_stats {
	size_t max_bufs;		/* cap given at creation */
	size_t slabs;
	size_t allocated;		/* buffers existing (in slabs) */
	size_t free;			/* owned by the pool */
	size_t queued;			/* owned by a queue */
	size_t taken;			/* owned by a taker, not yet released */
	uint64_t exhausted;		/* pushes dropped because the cap was reached */
	uint64_t over_share;		/* ... because the queue was past its share */
	uint64_t bad_releases;		/* releases of a buffer that was not taken (ignored) */
	uint64_t poison_violations;	/* released buffers found modified before reuse */
};

/* A pool of at most max_bufs buffers (0 = SF_TT_POOL_DEFAULT_MAX), allocated lazily in slabs and
 * kept until sf_tt_pool_free. NULL if out of memory. Poisoning (released buffers filled with
 * 0xdd, checked on reuse, and ASan-poisoned under ASan) is on in sanitizer builds. */
struct sf_tt_pool *sf_tt_pool_new(size_t max_bufs);

/* Frees every slab. Buffers still taken become invalid: release them first. */
void sf_tt_pool_free(struct sf_tt_pool *pool);

void sf_tt_pool_set_poison(struct sf_tt_pool *pool, bool on);
void sf_tt_pool_get_stats(const struct sf_tt_pool *pool, struct sf_tt_pool_stats *st);

/* Gives a taken buffer back to its pool and clears *pkt. Returns 0; -1 (and does nothing) if
 * *pkt holds no buffer or one that is not currently taken (e.g. released twice). */
int sf_tt_pkt_release(struct sf_tt_pkt *pkt);

/* Outgoing queue of one ClientID: a bounded FIFO of pool buffers and its "last seen" time.
 * Embed it where the ClientID's record lives; the fields are private. */
struct sf_tt_queue {
	struct sf_tt_pool *pool;
	struct sf_tt_buf *head, *tail;
	unsigned len, cap;
	uint64_t last_seen_ms;
	uint64_t dropped;
};

enum sf_tt_push_result {
	SF_TT_PUSH_QUEUED = 0,
	SF_TT_PUSH_FULL = 1,		/* queue at its cap: the new packet is dropped */
	SF_TT_PUSH_NOBUF = 2,		/* pool cap reached, or the queue is past its
					 * share while the pool is down to its reserve:
					 * the new packet is dropped */
};

/* cap 0 = SF_TT_QUEUE_CAP. The record counts as seen at now_ms. */
void sf_tt_queue_init(struct sf_tt_queue *q, struct sf_tt_pool *pool, unsigned cap,
		      uint64_t now_ms);

/* Returns every queued buffer to the pool (the queue is empty and reusable afterwards). */
void sf_tt_queue_clear(struct sf_tt_queue *q);

/* A KCP write to this ClientID: copies pkt (cut to SF_TT_MTU bytes) with its encapsulation
 * prefix into a pool buffer and appends it. Refreshes "last seen" even when the packet is
 * dropped, like upstream (which, like the caller should, reports success either way). */
enum sf_tt_push_result sf_tt_queue_push(struct sf_tt_queue *q, const uint8_t *pkt, size_t len,
					uint64_t now_ms);

/* Takes the oldest packet; .buf is NULL when the queue is empty. The caller owns it now. */
struct sf_tt_pkt sf_tt_queue_pop(struct sf_tt_queue *q);

/* A WebSocket writer starts waiting on the queue (on attach and after each packet it sent). */
void sf_tt_queue_touch(struct sf_tt_queue *q, uint64_t now_ms);

/* Milliseconds since last seen; the owner removes the record once it is >= the timeout. */
uint64_t sf_tt_queue_idle_ms(const struct sf_tt_queue *q, uint64_t now_ms);

static inline bool sf_tt_queue_expired(const struct sf_tt_queue *q, uint64_t now_ms)
{
	return sf_tt_queue_idle_ms(q, now_ms) >= SF_TT_QUEUE_TIMEOUT_MS;
}

static inline unsigned sf_tt_queue_len(const struct sf_tt_queue *q)
{
	return q->len;
}

/* Packets dropped by push (full queue or empty pool) since init. */
static inline uint64_t sf_tt_queue_dropped(const struct sf_tt_queue *q)
{
	return q->dropped;
}

#endif
