/* sf_kcp_free gives back to the thread every byte the session counted on it. Found by
 * tests/fuzz/fuzz_kcp_session: the send ring's slot array and an unflushed ACK list were freed
 * but stayed counted in sf_kcp_thread_seg_bytes, so each session closed with unACKed data
 * shrank the shard's receive budget for good (until every PUSH was dropped as over budget). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcp_test_util.h"

#define CONV 0x11223344u

/* The fuzzer's crashing input, 23 ff ff ff: write 388 bytes, flush, then free the session. */
static void test_free_with_unacked_data(void **state)
{
	(void)state;
	static const uint8_t data[388];
	struct capture cap = {0};
	uint64_t before = sf_kcp_thread_seg_bytes();
	struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
	assert_non_null(k);
	assert_int_equal(sf_kcp_send(k, data, sizeof data), 0);
	sf_kcp_flush(k, 1000);
	assert_true(cap.n > 0);                 /* the segment went out and waits for its ACK */
	assert_int_equal(sf_kcp_waitsnd(k), 1);
	assert_true(sf_kcp_thread_seg_bytes() > before);
	sf_kcp_free(k);
	assert_int_equal(sf_kcp_thread_seg_bytes(), before);
	capture_free(&cap);
	sf_kcp_thread_cache_free();
}

/* A PUSH received and not yet ACKed (no flush since): the ACK list is freed with the session. */
static void test_free_with_pending_acks(void **state)
{
	(void)state;
	struct capture cap = {0};
	uint64_t before = sf_kcp_thread_seg_bytes();
	struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
	assert_non_null(k);
	uint8_t pkt[SF_KCP_OVERHEAD + 4];
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 65535, 1, 0, 0, "abcd", 4);
	assert_int_equal(sf_kcp_input(k, pkt, n, 1000), 0);
	assert_true(sf_kcp_flush_wanted(k)); /* the ACK is owed */
	sf_kcp_free(k);
	assert_int_equal(sf_kcp_thread_seg_bytes(), before);
	assert_int_equal(cap.n, 0);
	capture_free(&cap);
	sf_kcp_thread_cache_free();
}

/* Many sessions that end mid-transfer leave the thread's count where it was. */
static void test_many_sessions_leave_no_count(void **state)
{
	(void)state;
	static const uint8_t data[40 * SF_KCP_MSS];
	struct capture cap = {0};
	uint64_t before = sf_kcp_thread_seg_bytes();
	for (int i = 0; i < 100; i++) {
		struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
		assert_non_null(k);
		assert_int_equal(sf_kcp_send(k, data, sizeof data), 0);
		sf_kcp_flush(k, 1000);
		capture_clear(&cap);
		sf_kcp_free(k);
	}
	assert_int_equal(sf_kcp_thread_seg_bytes(), before);
	capture_free(&cap);
	sf_kcp_thread_cache_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_with_unacked_data),
		cmocka_unit_test(test_free_with_pending_acks),
		cmocka_unit_test(test_many_sessions_leave_no_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
