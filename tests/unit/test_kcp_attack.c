/* Attacks on the receive side's memory (docs/security.md, "KCP"): a far out-of-order PUSH must
 * not cost more than what it carries, and one session must not be able to take the whole thread
 * budget from the others. Only the public API is used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcp_test_util.h"

#define CONV 0x0badf00du
/* A stored segment costs its header (< 64 bytes) and payload; its index entry costs a few
 * pointers. Anything near the old 512 KiB ring for one segment fails these bounds. */
#define PER_SEG_LIMIT(len) (128u + (len))
#define FIXED_LIMIT 256u

static struct sf_kcp *session(uint32_t conv, struct capture *cap)
{
	struct sf_kcp *k = sf_kcp_new(conv, capture_out, cap);
	assert_non_null(k);
	return k;
}

static void push(struct sf_kcp *k, uint32_t sn, const void *data, uint32_t len, uint32_t now)
{
	uint8_t pkt[SF_KCP_MTU];
	size_t n = make_seg(pkt, sf_kcp_conv(k), SF_KCP_CMD_PUSH, 65535, now, sn, 0, data, len);
	assert_int_equal(sf_kcp_input(k, pkt, n, now), 0);
}

/* The segments one flush sends, all packets concatenated. */
static size_t flushed(struct sf_kcp *k, struct capture *cap, uint32_t now, struct sf_kcp_hdr *h,
		      size_t max)
{
	capture_clear(cap);
	sf_kcp_flush(k, now);
	size_t n = 0;
	for (size_t p = 0; p < cap->n; p++)
		n += parse_segments(cap->pkt[p], cap->len[p], h + n, max - n);
	return n;
}

static uint32_t next_random(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Defect 1: one 24-byte PUSH at rcv_nxt + 65534 used to allocate a 65536-slot ring. It is
 * still stored and ACKed (kcp-go keeps it), but costs about what it carries, and every byte of
 * it is counted in the thread's memory. */
static void test_far_push_costs_what_it_carries(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *k = session(CONV, &cap);
	size_t idle = sf_kcp_footprint(k);
	uint64_t thread0 = sf_kcp_thread_seg_bytes();

	push(k, 65534, NULL, 0, 1);
	size_t held = sf_kcp_footprint(k) - idle;
	assert_true(held <= FIXED_LIMIT + PER_SEG_LIMIT(0));
	assert_int_equal(sf_kcp_thread_seg_bytes() - thread0, sf_kcp_stats(k)->mem_bytes);

	struct sf_kcp_hdr h[8];
	assert_int_equal(flushed(k, &cap, 2, h, 8), 1);
	assert_int_equal(h[0].cmd, SF_KCP_CMD_ACK);
	assert_int_equal(h[0].sn, 65534);

	sf_kcp_free(k);
	capture_free(&cap);
	assert_int_equal(sf_kcp_thread_seg_bytes(), thread0);
}

/* Scattered out-of-order segments: memory grows with their number, not with their spread, and
 * the thread counts all of it (index included). */
static void test_scattered_pushes_cost_in_proportion(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *k = session(CONV, &cap);
	size_t idle = sf_kcp_footprint(k);
	uint64_t thread0 = sf_kcp_thread_seg_bytes();
	uint32_t x = 12345;
	const unsigned n = 500;
	for (unsigned i = 0; i < n; i++)
		push(k, 1 + next_random(&x) % 65533, "z", 1, 1);
	size_t held = sf_kcp_footprint(k) - idle;
	assert_true(held <= FIXED_LIMIT + n * PER_SEG_LIMIT(1));
	assert_int_equal(sf_kcp_thread_seg_bytes() - thread0, sf_kcp_stats(k)->mem_bytes);
	sf_kcp_free(k);
	capture_free(&cap);
}

/* Many sessions each sending one far PUSH (the 2000-session PoC, scaled down): the thread's
 * memory grows by about their number times one small segment. */
static void test_many_sessions_far_push(void **state)
{
	(void)state;
	enum { N = 200 };
	static struct capture cap[N];
	struct sf_kcp *k[N];
	uint64_t thread0 = sf_kcp_thread_seg_bytes();
	size_t held = 0;
	for (unsigned i = 0; i < N; i++) {
		k[i] = session(CONV + i, &cap[i]);
		size_t idle = sf_kcp_footprint(k[i]);
		push(k[i], 65534, NULL, 0, 1);
		held += sf_kcp_footprint(k[i]) - idle;
	}
	assert_true(held <= N * (FIXED_LIMIT + PER_SEG_LIMIT(0)));
	assert_int_equal(sf_kcp_thread_seg_bytes() - thread0, held);
	for (unsigned i = 0; i < N; i++) {
		sf_kcp_free(k[i]);
		capture_free(&cap[i]);
	}
}

/* Whatever order segments arrive in, the stream comes out whole and in order, and a session
 * that delivered everything is back to its idle footprint. */
static void test_any_order_reassembles(void **state)
{
	(void)state;
	enum { N = 3000, LEN = 37 };
	struct capture cap = { 0 };
	struct sf_kcp *k = session(CONV, &cap);
	size_t idle = sf_kcp_footprint(k);
	uint32_t *order = malloc(N * sizeof *order);
	assert_non_null(order);
	for (uint32_t i = 0; i < N; i++)
		order[i] = i;
	uint32_t x = 777;
	for (uint32_t i = N - 1; i > 0; i--) {
		uint32_t j = next_random(&x) % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	uint8_t data[LEN];
	for (uint32_t i = 0; i < N; i++) {
		memset(data, (int)(order[i] & 0xff), LEN);
		push(k, order[i], data, LEN, 1);
		if (i % 7 == 0) /* and some duplicates */
			push(k, order[i / 2], data, LEN, 1);
	}
	assert_int_equal(sf_kcp_readable(k), (size_t)N * LEN);
	uint8_t *buf = malloc((size_t)N * LEN);
	assert_non_null(buf);
	assert_int_equal(sf_kcp_recv(k, buf, (size_t)N * LEN), (size_t)N * LEN);
	for (uint32_t sn = 0; sn < N; sn++)
		assert_int_equal(buf[(size_t)sn * LEN], sn & 0xff);
	sf_kcp_flush(k, 2); /* the ACK list lives until the next flush */
	assert_int_equal(sf_kcp_footprint(k), idle);
	free(buf);
	free(order);
	sf_kcp_free(k);
	capture_free(&cap);
}

/* Fills one session with out-of-order full segments (sn 0 never sent) until nsegs were sent. */
static void hoard(struct sf_kcp *k, uint32_t nsegs, uint32_t now)
{
	static uint8_t payload[SF_KCP_MSS];
	memset(payload, 0x41, sizeof payload);
	for (uint32_t sn = 1; sn <= nsegs; sn++)
		push(k, sn, payload, sizeof payload, now);
}

/* Defect 4: three sessions hoarding out-of-order data used to fill the thread budget, after
 * which an innocent session lost every PUSH. Each session now gets only a share of the budget,
 * so the innocent one keeps going; and a hoarder's own missing segment is still taken, so it
 * can make progress too. */
static void test_hoarders_cannot_starve_an_innocent_session(void **state)
{
	(void)state;
	const uint64_t budget = 8u << 20;
	uint64_t base = sf_kcp_thread_seg_bytes();
	sf_kcp_set_thread_rx_budget(base + budget);
	struct capture cap[4] = { 0 };
	struct sf_kcp *hoarder[3];
	for (int i = 0; i < 3; i++) {
		hoarder[i] = session(CONV + 1 + (uint32_t)i, &cap[i]);
		hoard(hoarder[i], (uint32_t)(budget / SF_KCP_MSS), 1);
	}
	struct sf_kcp *innocent = session(CONV + 9, &cap[3]);
	static uint8_t data[SF_KCP_MSS];
	for (uint32_t sn = 0; sn < 20; sn++)
		push(innocent, sn, data, sizeof data, 2);
	assert_int_equal(sf_kcp_stats(innocent)->in_over_budget, 0);
	assert_int_equal(sf_kcp_readable(innocent), 20 * sizeof data);

	/* None of them holds more than half the budget, and together they leave room. */
	for (int i = 0; i < 3; i++)
		assert_true(sf_kcp_footprint(hoarder[i]) <= budget / 2);
	assert_true(sf_kcp_thread_seg_bytes() - base < budget - 64 * 1024);

	/* The hole of a hoarder is filled: what it held becomes readable. */
	push(hoarder[0], 0, data, 10, 3);
	assert_true(sf_kcp_readable(hoarder[0]) > 10);

	for (int i = 0; i < 3; i++) {
		sf_kcp_free(hoarder[i]);
		capture_free(&cap[i]);
	}
	sf_kcp_free(innocent);
	capture_free(&cap[3]);
	sf_kcp_set_thread_rx_budget(SF_KCP_THREAD_RX_BUDGET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_far_push_costs_what_it_carries),
		cmocka_unit_test(test_scattered_pushes_cost_in_proportion),
		cmocka_unit_test(test_many_sessions_far_push),
		cmocka_unit_test(test_any_order_reassembles),
		cmocka_unit_test(test_hoarders_cannot_starve_an_innocent_session),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	sf_kcp_thread_cache_free();
	return rc;
}
