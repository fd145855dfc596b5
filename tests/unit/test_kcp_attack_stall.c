/* What a shard needs to close the sessions that hold memory without progress first: how much a
 * session holds, how long it has made no progress, an explicit per-session share, and a thread
 * counter of PUSHes dropped for the budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcp_test_util.h"

#define CONV 0x5eed0001u

static void push(struct sf_kcp *k, uint32_t sn, uint32_t len, uint32_t now)
{
	static uint8_t data[SF_KCP_MSS];
	uint8_t pkt[SF_KCP_MTU];
	size_t n = make_seg(pkt, sf_kcp_conv(k), SF_KCP_CMD_PUSH, 65535, now, sn, 0, data, len);
	assert_int_equal(sf_kcp_input(k, pkt, n, now), 0);
}

static void test_stall_clock(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *hoarder = sf_kcp_new(CONV, capture_out, &cap);
	struct sf_kcp *innocent = sf_kcp_new(CONV + 1, capture_out, &cap);
	uint8_t buf[SF_KCP_MSS * 4];

	push(hoarder, 5, 100, 1000);
	push(innocent, 0, 100, 1000);
	assert_true(sf_kcp_rx_held(hoarder) >= 100);
	assert_int_equal(sf_kcp_rx_stalled_ms(hoarder, 1000), 0);
	assert_int_equal(sf_kcp_rx_stalled_ms(hoarder, 6000), 5000);
	/* The innocent one read what it got: it holds nothing, so it is never stalled. */
	assert_int_equal(sf_kcp_recv(innocent, buf, sizeof buf), 100);
	assert_int_equal(sf_kcp_rx_held(innocent), 0);
	assert_int_equal(sf_kcp_rx_stalled_ms(innocent, 9000), 0);

	/* More out-of-order data is no progress; the missing segment is. */
	push(hoarder, 6, 100, 7000);
	assert_int_equal(sf_kcp_rx_stalled_ms(hoarder, 7000), 6000);
	for (uint32_t sn = 0; sn < 5; sn++)
		push(hoarder, sn, 100, 8000);
	assert_int_equal(sf_kcp_rx_stalled_ms(hoarder, 8500), 500);
	/* Unread data ages too, until the application reads. */
	assert_int_equal(sf_kcp_recv(hoarder, buf, 50), 50);
	assert_int_equal(sf_kcp_rx_stalled_ms(hoarder, 9000), 0);
	assert_int_equal(sf_kcp_rx_stalled_ms(hoarder, 9400), 400);
	assert_int_equal(sf_kcp_recv(hoarder, buf, sizeof buf), 650);
	assert_int_equal(sf_kcp_rx_held(hoarder), 0);

	sf_kcp_free(hoarder);
	sf_kcp_free(innocent);
	capture_free(&cap);
}

/* An explicit share: out-of-order data stops at it (unACKed), the in-order segment that lets
 * the session deliver still goes in. */
static void test_explicit_share(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
	sf_kcp_set_session_rx_share(100000);
	for (uint32_t sn = 1; sn <= 200; sn++)
		push(k, sn, SF_KCP_MSS, 1);
	assert_true(sf_kcp_rx_held(k) <= 100000);
	assert_true(sf_kcp_rx_held(k) > 100000 - 2 * (SF_KCP_MSS + 64) - 4096);
	assert_true(sf_kcp_stats(k)->in_over_share > 100);
	assert_int_equal(sf_kcp_stats(k)->in_over_budget, 0);
	push(k, 0, 10, 2);
	assert_true(sf_kcp_readable(k) > 10);
	sf_kcp_set_session_rx_share(0);
	sf_kcp_free(k);
	capture_free(&cap);
}

static void test_thread_over_budget_counter(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
	uint64_t drops = sf_kcp_thread_over_budget();
	sf_kcp_set_thread_rx_budget(sf_kcp_thread_seg_bytes() + 50000);
	sf_kcp_set_session_rx_share(UINT64_MAX);
	for (uint32_t sn = 1; sn <= 100; sn++)
		push(k, sn, SF_KCP_MSS, 1);
	assert_true(sf_kcp_thread_over_budget() - drops > 50);
	assert_int_equal(sf_kcp_thread_over_budget() - drops, sf_kcp_stats(k)->in_over_budget);
	sf_kcp_set_thread_rx_budget(SF_KCP_THREAD_RX_BUDGET);
	sf_kcp_set_session_rx_share(0);
	sf_kcp_free(k);
	capture_free(&cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stall_clock),
		cmocka_unit_test(test_explicit_share),
		cmocka_unit_test(test_thread_over_budget_counter),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	sf_kcp_thread_cache_free();
	return rc;
}
