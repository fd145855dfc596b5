#include "turbotunnel/pktqueue.h"

#include <stdlib.h>
#include <string.h>

#include "lib/bug.h"
#include "lib/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define TT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TT_ASAN 1
#endif
#endif

#ifdef TT_ASAN
#include <sanitizer/asan_interface.h>
#define POISON_DEFAULT true
#define asan_poison(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define asan_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#if defined(SF_SANITIZE)
#define POISON_DEFAULT true
#else
#define POISON_DEFAULT false
#endif
#define asan_poison(p, n) ((void)(p), (void)(n))
#define asan_unpoison(p, n) ((void)(p), (void)(n))
#endif

#define POISON_BYTE 0xdd
/* Whole 8-byte granules, so ASan can poison the last bytes of a buffer too. */
#define BUF_DATA_CAP ((SF_TT_BUF_SIZE + 7) & ~(size_t)7)

enum buf_owner { OWNER_POOL = 1, OWNER_QUEUE, OWNER_TAKER };

struct sf_tt_buf {
	struct sf_tt_buf *next;		/* free list or queue link */
	struct sf_tt_pool *pool;
	uint32_t gen;			/* bumped at every pop: stale sf_tt_pkt copies mismatch */
	uint16_t len;
	uint8_t owner;
	bool poisoned;			/* data was filled with POISON_BYTE when it came back */
	_Alignas(8) uint8_t data[BUF_DATA_CAP];
};

struct slab {
	struct slab *next;
	size_t nbufs;
	struct sf_tt_buf bufs[];
};

struct sf_tt_pool {
	struct slab *slabs;
	struct sf_tt_buf *free_list;
	bool poison;
	struct sf_tt_pool_stats st;
};

struct sf_tt_pool *sf_tt_pool_new(size_t max_bufs)
{
	struct sf_tt_pool *pool = calloc(1, sizeof *pool);
	if (!pool)
		return NULL;
	pool->st.max_bufs = max_bufs ? max_bufs : SF_TT_POOL_DEFAULT_MAX;
	pool->poison = POISON_DEFAULT;
	return pool;
}

void sf_tt_pool_free(struct sf_tt_pool *pool)
{
	if (!pool)
		return;
	struct slab *s = pool->slabs;
	while (s) {
		struct slab *next = s->next;
		/* Hand poisoned regions back to ASan before free() touches them. */
		asan_unpoison(s, sizeof *s + s->nbufs * sizeof s->bufs[0]);
		free(s);
		s = next;
	}
	free(pool);
}

void sf_tt_pool_set_poison(struct sf_tt_pool *pool, bool on)
{
	pool->poison = on;
}

void sf_tt_pool_get_stats(const struct sf_tt_pool *pool, struct sf_tt_pool_stats *st)
{
	*st = pool->st;
}

static void buf_to_pool(struct sf_tt_pool *pool, struct sf_tt_buf *b)
{
	b->owner = OWNER_POOL;
	b->len = 0;
	b->next = pool->free_list;
	pool->free_list = b;
	pool->st.free++;
	b->poisoned = pool->poison;
	if (b->poisoned) {
		memset(b->data, POISON_BYTE, sizeof b->data);
		asan_poison(b->data, sizeof b->data);
	}
}

static bool pool_grow(struct sf_tt_pool *pool)
{
	size_t n = pool->st.max_bufs - pool->st.allocated;
	if (n > SF_TT_POOL_SLAB_BUFS)
		n = SF_TT_POOL_SLAB_BUFS;
	if (n == 0)
		return false;
	struct slab *s = malloc(sizeof *s + n * sizeof s->bufs[0]);
	if (!s)
		return false;
	s->nbufs = n;
	s->next = pool->slabs;
	pool->slabs = s;
	pool->st.slabs++;
	pool->st.allocated += n;
	for (size_t i = n; i-- > 0;) {
		s->bufs[i].pool = pool;
		s->bufs[i].gen = 0;
		buf_to_pool(pool, &s->bufs[i]);
	}
	return true;
}

/* A buffer owned by nobody yet, or NULL when the pool is at its cap. */
static struct sf_tt_buf *buf_from_pool(struct sf_tt_pool *pool)
{
	if (!pool->free_list && !pool_grow(pool))
		return NULL;
	struct sf_tt_buf *b = pool->free_list;
	pool->free_list = b->next;
	pool->st.free--;
	b->next = NULL;
	if (b->poisoned) {
		asan_unpoison(b->data, sizeof b->data);
		/* Anything but 0xdd here was written through a stale pointer after release. */
		for (size_t i = 0; i < sizeof b->data; i++) {
			if (SF_BUG(b->data[i] != POISON_BYTE)) {
				pool->st.poison_violations++;
				sf_logf("turbotunnel: packet buffer written after release");
				break;
			}
		}
	}
	return b;
}

int sf_tt_pkt_release(struct sf_tt_pkt *pkt)
{
	struct sf_tt_buf *b = pkt->buf;
	if (!b)
		return -1;
	struct sf_tt_pool *pool = b->pool;
	/* A second release (through a copy of the struct) finds the buffer back in the pool, or
	 * taken again under a newer generation: giving it back would hand it to two owners. */
	if (SF_BUG(b->owner != OWNER_TAKER || pkt->gen != b->gen)) {
		pool->st.bad_releases++;
		return -1;
	}
	pool->st.taken--;
	buf_to_pool(pool, b);
	memset(pkt, 0, sizeof *pkt);
	return 0;
}

void sf_tt_queue_init(struct sf_tt_queue *q, struct sf_tt_pool *pool, unsigned cap,
		      uint64_t now_ms)
{
	memset(q, 0, sizeof *q);
	q->pool = pool;
	q->cap = cap ? cap : SF_TT_QUEUE_CAP;
	q->last_seen_ms = now_ms;
}

void sf_tt_queue_clear(struct sf_tt_queue *q)
{
	while (q->head) {
		struct sf_tt_buf *b = q->head;
		q->head = b->next;
		q->pool->st.queued--;
		buf_to_pool(q->pool, b);
	}
	q->tail = NULL;
	q->len = 0;
}

enum sf_tt_push_result sf_tt_queue_push(struct sf_tt_queue *q, const uint8_t *pkt, size_t len,
					uint64_t now_ms)
{
	q->last_seen_ms = now_ms;
	if (q->len >= q->cap) {
		q->dropped++;
		return SF_TT_PUSH_FULL;
	}
	struct sf_tt_pool *pool = q->pool;
	size_t available = pool->st.max_bufs - pool->st.queued - pool->st.taken;
	if (q->len >= SF_TT_QUEUE_MIN_SHARE && available <= pool->st.max_bufs / SF_TT_POOL_RESERVE_DIV) {
		/* the reserve is for queues still below their share: a client whose WebSocket does
		 * not read must not take the buffers its shard's other clients need */
		q->dropped++;
		pool->st.over_share++;
		return SF_TT_PUSH_NOBUF;
	}
	struct sf_tt_buf *b = buf_from_pool(q->pool);
	if (!b) {
		q->dropped++;
		q->pool->st.exhausted++;
		return SF_TT_PUSH_NOBUF;
	}
	if (len > SF_TT_MTU)
		len = SF_TT_MTU;
	b->len = (uint16_t)sf_tt_encode_packet(pkt, len, b->data, sizeof b->data);
	b->owner = OWNER_QUEUE;
	q->pool->st.queued++;
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->len++;
	return SF_TT_PUSH_QUEUED;
}

struct sf_tt_pkt sf_tt_queue_pop(struct sf_tt_queue *q)
{
	struct sf_tt_pkt pkt = { 0 };
	struct sf_tt_buf *b = q->head;
	if (!b)
		return pkt;
	q->head = b->next;
	if (!q->head)
		q->tail = NULL;
	q->len--;
	b->next = NULL;
	b->owner = OWNER_TAKER;
	b->gen++;
	q->pool->st.queued--;
	q->pool->st.taken++;
	pkt.buf = b;
	pkt.data = b->data;
	pkt.len = b->len;
	pkt.gen = b->gen;
	return pkt;
}

void sf_tt_queue_touch(struct sf_tt_queue *q, uint64_t now_ms)
{
	q->last_seen_ms = now_ms;
}

uint64_t sf_tt_queue_idle_ms(const struct sf_tt_queue *q, uint64_t now_ms)
{
	return now_ms > q->last_seen_ms ? now_ms - q->last_seen_ms : 0;
}
