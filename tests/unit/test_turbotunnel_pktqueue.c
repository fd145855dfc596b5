/* Downstream queues and their buffer pool: FIFO order, the 512 cap, buffer ownership and
 * poisoning, the pool cap, expiry bookkeeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/bug.h"
#include "turbotunnel/pktqueue.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

static struct sf_tt_pool_stats stats(const struct sf_tt_pool *pool)
{
	struct sf_tt_pool_stats st;
	sf_tt_pool_get_stats(pool, &st);
	return st;
}

/* A 4-byte packet carrying n, so order can be checked. */
static void push_n(struct sf_tt_queue *q, uint32_t n, enum sf_tt_push_result want)
{
	uint8_t p[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
	assert_int_equal(sf_tt_queue_push(q, p, sizeof p, 0), want);
}

static uint32_t pop_n(struct sf_tt_queue *q)
{
	struct sf_tt_pkt pkt = sf_tt_queue_pop(q);
	assert_non_null(pkt.buf);
	assert_int_equal(pkt.len, 5);
	assert_int_equal(pkt.data[0], 0x84);
	uint32_t n = pkt.data[1] | (uint32_t)pkt.data[2] << 8 | (uint32_t)pkt.data[3] << 16 |
		     (uint32_t)pkt.data[4] << 24;
	assert_int_equal(sf_tt_pkt_release(&pkt), 0);
	return n;
}

static void test_fifo_and_encapsulation(void **state)
{
	(void)state;
	struct sf_tt_pool *pool = sf_tt_pool_new(0);
	assert_non_null(pool);
	assert_int_equal(stats(pool).slabs, 0);		/* nothing allocated before use */
	struct sf_tt_queue q;
	sf_tt_queue_init(&q, pool, 0, 0);

	struct sf_tt_pkt none = sf_tt_queue_pop(&q);
	assert_null(none.buf);
	assert_int_equal(sf_tt_pkt_release(&none), -1);

	for (uint32_t n = 0; n < 100; n++)
		push_n(&q, n, SF_TT_PUSH_QUEUED);
	assert_int_equal(sf_tt_queue_len(&q), 100);
	for (uint32_t n = 0; n < 50; n++)
		assert_int_equal(pop_n(&q), n);
	for (uint32_t n = 100; n < 120; n++)
		push_n(&q, n, SF_TT_PUSH_QUEUED);
	for (uint32_t n = 50; n < 120; n++)
		assert_int_equal(pop_n(&q), n);
	assert_int_equal(sf_tt_queue_len(&q), 0);
	assert_null(sf_tt_queue_pop(&q).buf);

	/* Empty packet, an MTU packet, and a longer one cut to the MTU. */
	static uint8_t big[2000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)i;
	assert_int_equal(sf_tt_queue_push(&q, big, 0, 0), SF_TT_PUSH_QUEUED);
	assert_int_equal(sf_tt_queue_push(&q, big, SF_TT_MTU, 0), SF_TT_PUSH_QUEUED);
	assert_int_equal(sf_tt_queue_push(&q, big, sizeof big, 0), SF_TT_PUSH_QUEUED);
	struct sf_tt_pkt p = sf_tt_queue_pop(&q);
	assert_int_equal(p.len, 1);
	assert_int_equal(p.data[0], 0x80);
	assert_int_equal(sf_tt_pkt_release(&p), 0);
	for (int k = 0; k < 2; k++) {
		p = sf_tt_queue_pop(&q);
		assert_int_equal(p.len, SF_TT_BUF_SIZE);
		assert_int_equal(p.data[0], 0xca);
		assert_int_equal(p.data[1], 0x78);
		assert_memory_equal(p.data + 2, big, SF_TT_MTU);
		assert_int_equal(sf_tt_pkt_release(&p), 0);
	}

	struct sf_tt_pool_stats st = stats(pool);
	assert_int_equal(st.taken, 0);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.free, st.allocated);
	sf_tt_pool_free(pool);
}

static void test_cap_512_drops_newest(void **state)
{
	(void)state;
	struct sf_tt_pool *pool = sf_tt_pool_new(4096);
	assert_non_null(pool);
	struct sf_tt_queue q;
	sf_tt_queue_init(&q, pool, 0, 0);
	for (uint32_t n = 0; n < SF_TT_QUEUE_CAP; n++)
		push_n(&q, n, SF_TT_PUSH_QUEUED);
	for (uint32_t n = 0; n < 88; n++)
		push_n(&q, 10000 + n, SF_TT_PUSH_FULL);
	assert_int_equal(sf_tt_queue_len(&q), SF_TT_QUEUE_CAP);
	assert_int_equal(sf_tt_queue_dropped(&q), 88);
	assert_int_equal(stats(pool).queued, SF_TT_QUEUE_CAP);
	/* The queued ones are the first 512, in order; the dropped never show up. */
	for (uint32_t n = 0; n < SF_TT_QUEUE_CAP; n++)
		assert_int_equal(pop_n(&q), n);
	assert_null(sf_tt_queue_pop(&q).buf);
	/* Room again after draining. */
	push_n(&q, 7, SF_TT_PUSH_QUEUED);
	assert_int_equal(pop_n(&q), 7);

	/* A smaller cap given at init is honoured too. */
	struct sf_tt_queue small;
	sf_tt_queue_init(&small, pool, 3, 0);
	for (uint32_t n = 0; n < 3; n++)
		push_n(&small, n, SF_TT_PUSH_QUEUED);
	push_n(&small, 3, SF_TT_PUSH_FULL);
	sf_tt_queue_clear(&small);
	assert_int_equal(sf_tt_queue_len(&small), 0);
	assert_int_equal(stats(pool).queued, 0);
	sf_tt_pool_free(pool);
}

static void test_ownership(void **state)
{
	(void)state;
	struct sf_tt_pool *pool = sf_tt_pool_new(0);
	assert_non_null(pool);
	struct sf_tt_queue q;
	sf_tt_queue_init(&q, pool, 0, 0);

	/* push copies: changing the caller's bytes afterwards changes nothing queued. */
	uint8_t src[3] = { 'a', 'b', 'c' };
	assert_int_equal(sf_tt_queue_push(&q, src, sizeof src, 0), SF_TT_PUSH_QUEUED);
	memset(src, 'X', sizeof src);
	struct sf_tt_pkt p = sf_tt_queue_pop(&q);
	assert_memory_equal(p.data, "\x83" "abc", 4);
	assert_int_equal(stats(pool).taken, 1);

	/* Release clears the holder's struct; a saved copy cannot release it again: the contract
	 * breach is refused and reported (fatal in debug builds, so switched off here). */
	sf_bug_set_fatal(false);
	unsigned long bugs = sf_bug_count();
	struct sf_tt_pkt copy = p;
	assert_int_equal(sf_tt_pkt_release(&p), 0);
	assert_null(p.buf);
	assert_null(p.data);
	assert_int_equal(sf_tt_pkt_release(&p), -1);
	assert_int_equal(sf_tt_pkt_release(&copy), -1);
	assert_int_equal(stats(pool).bad_releases, 1);
	assert_int_equal(stats(pool).taken, 0);

	/* The buffer is reused and taken again: the stale copy still cannot release it. */
	assert_int_equal(sf_tt_queue_push(&q, (const uint8_t *)"d", 1, 0), SF_TT_PUSH_QUEUED);
	struct sf_tt_pkt p2 = sf_tt_queue_pop(&q);
	assert_ptr_equal(p2.buf, copy.buf);
	assert_int_equal(sf_tt_pkt_release(&copy), -1);
	assert_int_equal(stats(pool).taken, 1);
	/* A copy of a queued (not taken) buffer cannot be released either. */
	assert_int_equal(sf_tt_queue_push(&q, (const uint8_t *)"e", 1, 0), SF_TT_PUSH_QUEUED);
	assert_int_equal(stats(pool).queued, 1);
	assert_int_equal(sf_tt_pkt_release(&p2), 0);
	assert_int_equal(sf_tt_pkt_release(&copy), -1);
	assert_int_equal(stats(pool).bad_releases, 3);
	assert_int_equal(sf_bug_count(), bugs + 3);

	struct sf_tt_pool_stats st = stats(pool);
	assert_int_equal(st.free + st.queued + st.taken, st.allocated);
	sf_tt_queue_clear(&q);
	sf_tt_pool_free(pool);
}

static void test_poisoning(void **state)
{
	(void)state;
	struct sf_tt_pool *pool = sf_tt_pool_new(0);
	assert_non_null(pool);
	sf_tt_pool_set_poison(pool, true);
	struct sf_tt_queue q;
	sf_tt_queue_init(&q, pool, 0, 0);

	assert_int_equal(sf_tt_queue_push(&q, (const uint8_t *)"secret", 6, 0), SF_TT_PUSH_QUEUED);
	struct sf_tt_pkt p = sf_tt_queue_pop(&q);
	uint8_t *stale = (uint8_t *)(uintptr_t)p.data;
	assert_memory_equal(stale, "\x86" "secret", 7);
	assert_int_equal(sf_tt_pkt_release(&p), 0);

#ifdef TEST_ASAN
	/* Under ASan a released buffer is poisoned: any use through a stale pointer is reported. */
	assert_non_null(__asan_region_is_poisoned(stale, SF_TT_BUF_SIZE));
	assert_int_equal(__asan_address_is_poisoned(stale), 1);
	assert_int_equal(__asan_address_is_poisoned(stale + SF_TT_BUF_SIZE - 1), 1);
	assert_int_equal(sf_tt_queue_push(&q, (const uint8_t *)"x", 1, 0), SF_TT_PUSH_QUEUED);
	assert_int_equal(__asan_address_is_poisoned(stale), 0);	/* reused: live again */
	assert_int_equal(stats(pool).poison_violations, 0);
#else
	/* The released bytes read back as 0xdd, not as the old packet. */
	for (size_t i = 0; i < SF_TT_BUF_SIZE; i++)
		assert_int_equal(stale[i], 0xdd);
	/* A write through the stale pointer is noticed when the buffer is reused, and reported as
	 * a bug (fatal in debug builds, so switched off here). */
	sf_bug_set_fatal(false);
	stale[100] = 0;
	assert_int_equal(sf_tt_queue_push(&q, (const uint8_t *)"x", 1, 0), SF_TT_PUSH_QUEUED);
	assert_int_equal(stats(pool).poison_violations, 1);
	assert_memory_equal(stale, "\x81x", 2);
#endif
	sf_tt_queue_clear(&q);

	/* Turned off: released buffers keep their bytes and nothing is counted. */
	uint64_t violations = stats(pool).poison_violations;
	sf_tt_pool_set_poison(pool, false);
	assert_int_equal(sf_tt_queue_push(&q, (const uint8_t *)"y", 1, 0), SF_TT_PUSH_QUEUED);
	p = sf_tt_queue_pop(&q);
	stale = (uint8_t *)(uintptr_t)p.data;
	assert_int_equal(sf_tt_pkt_release(&p), 0);
	assert_memory_equal(stale, "\x81y", 2);
	assert_int_equal(sf_tt_queue_push(&q, (const uint8_t *)"z", 1, 0), SF_TT_PUSH_QUEUED);
	assert_int_equal(stats(pool).poison_violations, violations);
	sf_tt_queue_clear(&q);
	sf_tt_pool_free(pool);
}

static void test_pool_cap(void **state)
{
	(void)state;
	/* 40 buffers: one full slab and one of 8, allocated only as needed. */
	struct sf_tt_pool *pool = sf_tt_pool_new(40);
	assert_non_null(pool);
	struct sf_tt_queue a, b;
	sf_tt_queue_init(&a, pool, 0, 0);
	sf_tt_queue_init(&b, pool, 0, 0);
	for (uint32_t n = 0; n < 30; n++)
		push_n(&a, n, SF_TT_PUSH_QUEUED);
	assert_int_equal(stats(pool).slabs, 1);
	assert_int_equal(stats(pool).allocated, SF_TT_POOL_SLAB_BUFS);
	for (uint32_t n = 0; n < 10; n++)
		push_n(&b, n, SF_TT_PUSH_QUEUED);
	assert_int_equal(stats(pool).slabs, 2);
	assert_int_equal(stats(pool).allocated, 40);

	/* The cap holds across queues: both now drop. */
	push_n(&a, 99, SF_TT_PUSH_NOBUF);
	push_n(&b, 99, SF_TT_PUSH_NOBUF);
	assert_int_equal(stats(pool).exhausted, 2);
	assert_int_equal(sf_tt_queue_dropped(&a), 1);
	assert_int_equal(stats(pool).allocated, 40);

	/* A taken buffer still counts against the cap until it is released. */
	struct sf_tt_pkt p = sf_tt_queue_pop(&b);
	push_n(&a, 99, SF_TT_PUSH_NOBUF);
	assert_int_equal(sf_tt_pkt_release(&p), 0);
	push_n(&a, 30, SF_TT_PUSH_QUEUED);

	/* Clearing a queue gives its buffers back to the pool. */
	sf_tt_queue_clear(&a);
	struct sf_tt_pool_stats st = stats(pool);
	assert_int_equal(st.queued, 9);
	assert_int_equal(st.free, 31);
	for (uint32_t n = 0; n < 31; n++)
		push_n(&a, n, SF_TT_PUSH_QUEUED);
	push_n(&a, 31, SF_TT_PUSH_NOBUF);
	sf_tt_queue_clear(&a);
	sf_tt_queue_clear(&b);
	assert_int_equal(stats(pool).free, 40);
	sf_tt_pool_free(pool);
}

static void test_expiry(void **state)
{
	(void)state;
	struct sf_tt_pool *pool = sf_tt_pool_new(0);
	assert_non_null(pool);
	struct sf_tt_queue q;
	const uint64_t t0 = 1000000;
	sf_tt_queue_init(&q, pool, 0, t0);
	assert_int_equal(sf_tt_queue_idle_ms(&q, t0), 0);
	assert_int_equal(sf_tt_queue_idle_ms(&q, t0 - 5), 0);	/* clock before last seen */
	assert_false(sf_tt_queue_expired(&q, t0 + SF_TT_QUEUE_TIMEOUT_MS - 1));
	assert_true(sf_tt_queue_expired(&q, t0 + SF_TT_QUEUE_TIMEOUT_MS));

	/* A KCP write refreshes, even one that is dropped because the queue is full. */
	uint8_t b = 1;
	assert_int_equal(sf_tt_queue_push(&q, &b, 1, t0 + 30000), SF_TT_PUSH_QUEUED);
	assert_int_equal(sf_tt_queue_idle_ms(&q, t0 + 45000), 15000);
	assert_false(sf_tt_queue_expired(&q, t0 + 60000));
	assert_true(sf_tt_queue_expired(&q, t0 + 90000));

	struct sf_tt_queue one;
	sf_tt_queue_init(&one, pool, 1, t0);
	assert_int_equal(sf_tt_queue_push(&one, &b, 1, t0), SF_TT_PUSH_QUEUED);
	assert_int_equal(sf_tt_queue_push(&one, &b, 1, t0 + 50000), SF_TT_PUSH_FULL);
	assert_int_equal(sf_tt_queue_idle_ms(&one, t0 + 50000), 0);

	/* Popping alone does not refresh; a writer starting to wait does. */
	struct sf_tt_pkt p = sf_tt_queue_pop(&q);
	assert_int_equal(sf_tt_queue_idle_ms(&q, t0 + 70000), 40000);
	assert_int_equal(sf_tt_pkt_release(&p), 0);
	sf_tt_queue_touch(&q, t0 + 70000);
	assert_int_equal(sf_tt_queue_idle_ms(&q, t0 + 70000), 0);
	assert_false(sf_tt_queue_expired(&q, t0 + 129999));
	assert_true(sf_tt_queue_expired(&q, t0 + 130000));

	sf_tt_queue_clear(&one);
	sf_tt_queue_clear(&q);
	sf_tt_pool_free(pool);
}

/* The attack on a shared pool: ClientIDs whose WebSockets never read fill their queues to the
 * 512 cap; 32 of them would hold all 16384 buffers of a shard and every other client of the
 * shard would lose its packets. Each client gets a guaranteed share instead. */
static void test_hogs_leave_others_their_share(void **state)
{
	(void)state;
	enum { HOGS = 32, INNOCENTS = 100, NEED = SF_TT_QUEUE_MIN_SHARE };
	struct sf_tt_pool *pool = sf_tt_pool_new(0);
	assert_non_null(pool);
	static struct sf_tt_queue hogs[HOGS], innocents[INNOCENTS];
	for (unsigned i = 0; i < HOGS; i++) {
		sf_tt_queue_init(&hogs[i], pool, 0, 0);
		for (uint32_t n = 0; n < SF_TT_QUEUE_CAP; n++)
			(void)sf_tt_queue_push(&hogs[i], (const uint8_t *)&n, sizeof n, 0);
	}
	/* Every innocent client still gets its packets queued, up to its share. */
	for (unsigned i = 0; i < INNOCENTS; i++) {
		sf_tt_queue_init(&innocents[i], pool, 0, 0);
		for (uint32_t n = 0; n < NEED; n++)
			push_n(&innocents[i], n, SF_TT_PUSH_QUEUED);
	}
	/* ... and once the hogs let go, their buffers serve everybody again. */
	for (unsigned i = 0; i < HOGS; i++)
		sf_tt_queue_clear(&hogs[i]);
	for (uint32_t n = NEED; n < SF_TT_QUEUE_CAP; n++)
		push_n(&innocents[0], n, SF_TT_PUSH_QUEUED);
	for (unsigned i = 0; i < INNOCENTS; i++)
		sf_tt_queue_clear(&innocents[i]);
	assert_int_equal(stats(pool).queued, 0);
	sf_tt_pool_free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_and_encapsulation),
		cmocka_unit_test(test_cap_512_drops_newest),
		cmocka_unit_test(test_ownership),
		cmocka_unit_test(test_poisoning),
		cmocka_unit_test(test_pool_cap),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_hogs_leave_others_their_share),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
