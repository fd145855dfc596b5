/* Hostile or malformed input: clear error returns, kcp-go's partial processing, bounded memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcp_test_util.h"
#include "lib/bug.h"

#define CONV 0xdeadbeefu

struct fixture {
	struct capture cap;
	struct sf_kcp *k;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->k = sf_kcp_new(CONV, capture_out, &f->cap);
	*state = f;
	return f->k ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sf_kcp_free(f->k);
	capture_free(&f->cap);
	free(f);
	return 0;
}

/* Segments of the flush output, all packets concatenated. */
static size_t flushed(struct fixture *f, uint32_t now, struct sf_kcp_hdr *h, size_t max)
{
	capture_clear(&f->cap);
	sf_kcp_flush(f->k, now);
	size_t n = 0;
	for (size_t p = 0; p < f->cap.n; p++)
		n += parse_segments(f->cap.pkt[p], f->cap.len[p], h + n, max - n);
	return n;
}

static void test_short_packets(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64] = { 0 };
	assert_int_equal(sf_kcp_input(f->k, pkt, 0, 1), SF_KCP_ESHORT);
	assert_int_equal(sf_kcp_input(f->k, pkt, 1, 1), SF_KCP_ESHORT);
	make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 0, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, 23, 1), SF_KCP_ESHORT);
	assert_int_equal(sf_kcp_stats(f->k)->in_bad_pkts, 3);
	assert_int_equal(sf_kcp_rmt_wnd(f->k), 32);     /* nothing was looked at */
	assert_false(sf_kcp_flush_wanted(f->k));

	/* Trailing bytes shorter than a header are ignored. */
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 0, 0, "ab", 2);
	assert_int_equal(sf_kcp_input(f->k, pkt, n + 23, 1), 0);
	assert_int_equal(sf_kcp_readable(f->k), 2);
	assert_int_equal(sf_kcp_rmt_wnd(f->k), 100);
}

static void test_wrong_conv(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[128];
	size_t n = make_seg(pkt, CONV + 1, SF_KCP_CMD_PUSH, 100, 1, 0, 0, "ab", 2);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), SF_KCP_ECONV);
	assert_int_equal(sf_kcp_readable(f->k), 0);
	assert_false(sf_kcp_flush_wanted(f->k));
	assert_int_equal(sf_kcp_rmt_wnd(f->k), 32);

	/* Segments before the foreign one stay processed. */
	n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 0, 0, "ab", 2);
	n += make_seg(pkt + n, CONV + 1, SF_KCP_CMD_PUSH, 100, 1, 1, 0, "cd", 2);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), SF_KCP_ECONV);
	assert_int_equal(sf_kcp_readable(f->k), 2);
	struct sf_kcp_hdr h[8];
	assert_int_equal(flushed(f, 1, h, 8), 1);
	assert_int_equal(h[0].cmd, SF_KCP_CMD_ACK);
	assert_int_equal(h[0].sn, 0);
	assert_int_equal(h[0].una, 1);
	assert_int_equal(sf_kcp_peek_conv(pkt), CONV);
}

static void test_bad_cmd(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[128];
	const uint8_t bad[] = { 0, 80, 85, 0xf1, 0xf2, 0xff };
	for (size_t i = 0; i < sizeof bad; i++) {
		size_t n = make_seg(pkt, CONV, bad[i], 100, 1, 0, 0, NULL, 0);
		assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), SF_KCP_ECMD);
	}
	/* kcp-go's FEC marker (bytes 4-5 = f1 00 / f2 00) is a bad cmd here: dropped. */
	assert_int_equal(sf_kcp_stats(f->k)->in_bad_pkts, sizeof bad);
	assert_false(sf_kcp_flush_wanted(f->k));

	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 0, 0, "x", 1);
	n += make_seg(pkt + n, CONV, 0x99, 100, 1, 1, 0, "y", 1);
	n += make_seg(pkt + n, CONV, SF_KCP_CMD_PUSH, 100, 1, 2, 0, "z", 1);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), SF_KCP_ECMD);
	assert_int_equal(sf_kcp_readable(f->k), 1);
}

static void test_len_overrun(void **state)
{
	struct fixture *f = *state;
	uint8_t *pkt = calloc(1, 4000);
	/* len one more than what follows. */
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 0, 0, "abc", 3);
	assert_int_equal(sf_kcp_input(f->k, pkt, n - 1, 1), SF_KCP_ELEN);
	assert_int_equal(sf_kcp_readable(f->k), 0);
	/* A huge len. */
	struct sf_kcp_hdr h = { CONV, SF_KCP_CMD_PUSH, 0, 100, 1, 0, 0, 0xffffffffu };
	sf_kcp_hdr_encode(pkt, &h);
	assert_int_equal(sf_kcp_input(f->k, pkt, 100, 1), SF_KCP_ELEN);
	/* More than the mss, even when the bytes are there (packets never exceed the MTU). */
	n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 0, 0, pkt + 2000, SF_KCP_MSS + 1);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), SF_KCP_ELEN);
	assert_false(sf_kcp_flush_wanted(f->k));
	/* Exactly the mss is fine. */
	n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 0, 0, pkt + 2000, SF_KCP_MSS);
	assert_int_equal(n, SF_KCP_MTU);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), 0);
	assert_int_equal(sf_kcp_readable(f->k), SF_KCP_MSS);
	/* The valid first segment of an overrunning packet is kept (a packet cut at the MTU,
	 * docs/turbotunnel.md). */
	n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 1, 0, "abc", 3);
	n += make_seg(pkt + n, CONV, SF_KCP_CMD_PUSH, 100, 1, 2, 0, pkt + 2000, 1000);
	assert_int_equal(sf_kcp_input(f->k, pkt, n - 10, 1), SF_KCP_ELEN);
	assert_int_equal(sf_kcp_readable(f->k), SF_KCP_MSS + 3);
	free(pkt);
}

/* A stop skips the RTT sample of the packet, as kcp-go's early return does. */
static void test_rejected_packet_gives_no_rtt_sample(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[128];
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_WINS, 1000, 0, 0, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 0), 0);
	assert_int_equal(sf_kcp_send(f->k, (const uint8_t *)"hello", 5), 0);
	sf_kcp_flush(f->k, 1000);
	assert_int_equal(sf_kcp_waitsnd(f->k), 1);
	n = make_seg(pkt, CONV, SF_KCP_CMD_ACK, 1000, 1000, 0, 1, NULL, 0);
	n += make_seg(pkt + n, CONV, 0x42, 1000, 0, 0, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 1900), SF_KCP_ECMD);
	assert_int_equal(sf_kcp_waitsnd(f->k), 0);      /* the ACK itself counted */
	assert_int_equal(sf_kcp_rto(f->k), 200);        /* but no 900 ms sample */

	assert_int_equal(sf_kcp_send(f->k, (const uint8_t *)"hello", 5), 0);
	sf_kcp_flush(f->k, 2000);
	n = make_seg(pkt, CONV, SF_KCP_CMD_ACK, 1000, 2000, 1, 2, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 2900), 0);
	/* srtt 900, rttvar 450: rto = 900 + 4 * 450. */
	assert_int_equal(sf_kcp_rto(f->k), 2700);
}

static void test_sn_beyond_window(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	struct sf_kcp_hdr h[8];
	const uint32_t far[] = { 65535, 65536, 0x7fffffffu, 0x80000000u, 0x80000001u };
	for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
		size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, far[i], 0, "x", 1);
		assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), 0);
	}
	assert_int_equal(sf_kcp_stats(f->k)->in_beyond_wnd, 5);
	assert_false(sf_kcp_flush_wanted(f->k));        /* no ACK for them */
	assert_int_equal(flushed(f, 1, h, 8), 0);
	assert_int_equal(sf_kcp_stats(f->k)->mem_bytes, 0);

	/* sn just below rcv_nxt (wrapped): an old duplicate, ACKed as kcp-go does, not stored. */
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 7, 0xffffffffu, 0, "x", 1);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), 0);
	assert_int_equal(flushed(f, 1, h, 8), 1);
	assert_int_equal(h[0].sn, 0xffffffffu);
	assert_int_equal(h[0].ts, 7);
	assert_int_equal(sf_kcp_stats(f->k)->in_dup_segs, 1);
	assert_int_equal(sf_kcp_stats(f->k)->mem_bytes, 0);

	/* The last sn of the window is accepted and held until the gap fills. */
	n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 65534, 0, "y", 1);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), 0);
	assert_int_equal(flushed(f, 1, h, 8), 1);
	assert_int_equal(h[0].sn, 65534);
	assert_int_equal(h[0].una, 0);
	assert_int_equal(sf_kcp_readable(f->k), 0);
	/* Holding it costs one segment plus a slot ring covering the window: bounded. */
	uint64_t mem = sf_kcp_stats(f->k)->mem_bytes;
	assert_true(mem > 0 && mem <= 65536 * sizeof(void *) + 128);
}

/* Out-of-order segments in the worst order cost a bounded amount of work and memory, and
 * everything is delivered once the gap closes. */
static void test_reverse_order_flood(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[SF_KCP_MTU];
	uint32_t sn = 65534;
	while (sn > 0) {
		size_t n = 0;
		for (int i = 0; i < 50 && sn > 0; i++, sn--) {
			uint8_t b = (uint8_t)sn;
			n += make_seg(pkt + n, CONV, SF_KCP_CMD_PUSH, 100, 1, sn, 0, &b, 1);
		}
		assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), 0);
		sf_kcp_flush(f->k, 1);
		capture_clear(&f->cap);
	}
	assert_int_equal(sf_kcp_readable(f->k), 0);
	uint8_t zero = 0;
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 0, 0, &zero, 1);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), 0);
	assert_int_equal(sf_kcp_readable(f->k), 65535);
	struct sf_kcp_hdr h[4];
	assert_int_equal(flushed(f, 1, h, 4), 1);
	assert_int_equal(h[0].una, 65535);
	assert_int_equal(h[0].wnd, 0);                  /* the queue is full */

	/* Reading frees the window: a WINS is owed (docs/kcp.md) and memory returns to nothing. */
	uint8_t *buf = malloc(70000);
	assert_int_equal(sf_kcp_recv(f->k, buf, 70000), 65535);
	for (uint32_t i = 0; i < 65535; i++)
		assert_int_equal(buf[i], (uint8_t)i);
	free(buf);
	assert_true(sf_kcp_flush_wanted(f->k));
	assert_int_equal(flushed(f, 1, h, 4), 1);
	assert_int_equal(h[0].cmd, SF_KCP_CMD_WINS);
	assert_int_equal(h[0].wnd, 65535);
	assert_int_equal(sf_kcp_stats(f->k)->mem_bytes, 0);
}

/* The thread's receive budget: out-of-order floods from two sessions stop being stored (and
 * ACKed) once the segment memory of the thread reaches it; the in-order segment that completes
 * the data is taken again once memory is back under the budget. */
static void test_thread_receive_budget(void **state)
{
	struct fixture *f = *state;
	struct capture cap2 = { 0 };
	struct sf_kcp *k2 = sf_kcp_new(CONV + 1, capture_out, &cap2);
	assert_non_null(k2);
	uint64_t base = sf_kcp_thread_seg_bytes();
	sf_kcp_set_thread_rx_budget(base + 200000);
	sf_kcp_set_session_rx_share(UINT64_MAX); /* the budget alone here (shares: test_kcp_attack) */
	uint8_t pkt[SF_KCP_MTU], payload[SF_KCP_MSS];
	memset(payload, 0x5a, sizeof payload);
	for (uint32_t sn = 1; sn <= 300; sn++) {
		struct sf_kcp *k = sn % 2 ? f->k : k2;
		size_t n = make_seg(pkt, sf_kcp_conv(k), SF_KCP_CMD_PUSH, 65535, 1, sn, 0, payload,
				    sizeof payload);
		assert_int_equal(sf_kcp_input(k, pkt, n, 1), 0);
	}
	uint64_t held = sf_kcp_thread_seg_bytes() - base;
	assert_true(held <= 200000);
	assert_true(held > 200000 - 2 * (SF_KCP_MSS + 64));
	assert_true(sf_kcp_stats(f->k)->in_over_budget + sf_kcp_stats(k2)->in_over_budget > 100);
	/* Nothing dropped was ACKed: the ACK list of the first session covers only stored sns. */
	struct sf_kcp_hdr h[400];
	size_t nacks = flushed(f, 2, h, 400);
	assert_true(nacks >= 1);
	sf_kcp_free(k2);
	capture_free(&cap2);
	/* Memory back under the budget: sn 0 is stored and everything held becomes readable. */
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 65535, 1, 0, 0, payload, 10);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 3), 0);
	assert_true(sf_kcp_readable(f->k) >= 10 + SF_KCP_MSS);
	sf_kcp_set_thread_rx_budget(SF_KCP_THREAD_RX_BUDGET);
	sf_kcp_set_session_rx_share(0);
}

/* With rcv_queue full (wnd 0), in-window segments are still ACKed and held, and move to the
 * queue only as the application makes room. */
static void test_full_queue_holds_in_window_segments(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[SF_KCP_MTU];
	struct sf_kcp_hdr h[64];
	uint32_t sn = 0;
	while (sn < 65535 + 6) {
		size_t n = 0;
		for (int i = 0; i < 50 && sn < 65535 + 6; i++, sn++) {
			uint8_t b = (uint8_t)sn;
			n += make_seg(pkt + n, CONV, SF_KCP_CMD_PUSH, 100, 1, sn, 0, &b, 1);
		}
		assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), 0);
		flushed(f, 1, h, 64);
	}
	/* The last ACKs: sn 65535..65540 are above una, so each is ACKed; wnd 0. */
	assert_int_equal(h[0].una, 65535);
	assert_int_equal(h[0].wnd, 0);
	assert_int_equal(sf_kcp_readable(f->k), 65535);

	/* Reading 3 segments lets 3 held ones in: the queue is full again, so no WINS yet. */
	uint8_t *buf = malloc(70000);
	assert_int_equal(sf_kcp_recv(f->k, buf, 3), 3);
	assert_int_equal(sf_kcp_readable(f->k), 65535);
	assert_false(sf_kcp_flush_wanted(f->k));
	uint8_t last = (uint8_t)65541;
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 100, 1, 65541, 0, &last, 1);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 2), 0);
	assert_int_equal(flushed(f, 2, h, 64), 1);
	assert_int_equal(h[0].sn, 65541);
	assert_int_equal(h[0].una, 65538);
	assert_int_equal(h[0].wnd, 0);

	/* Reading everything delivers the rest in order and owes a WINS. */
	assert_int_equal(sf_kcp_recv(f->k, buf, 70000), 65535);
	assert_int_equal(sf_kcp_recv(f->k, buf + 65535, 70000 - 65535), 4);
	for (uint32_t i = 0; i < 65539; i++)
		assert_int_equal(buf[i], (uint8_t)(i + 3));
	free(buf);
	assert_int_equal(flushed(f, 3, h, 64), 1);
	assert_int_equal(h[0].cmd, SF_KCP_CMD_WINS);
	assert_int_equal(h[0].una, 65542);
	assert_int_equal(h[0].wnd, 65535);
	assert_int_equal(sf_kcp_stats(f->k)->mem_bytes, 0);
}

/* Thousands of duplicates in one read event: the ACK list is capped. */
static void test_duplicate_flood(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[SF_KCP_MTU];
	for (int p = 0; p < 100; p++) {
		size_t n = 0;
		for (int i = 0; i < 50; i++)
			n += make_seg(pkt + n, CONV, SF_KCP_CMD_PUSH, 100, (uint32_t)i, 5, 0, "d", 1);
		assert_int_equal(sf_kcp_input(f->k, pkt, n, 1), 0);
	}
	assert_true(sf_kcp_stats(f->k)->acks_dropped > 0);
	assert_int_equal(sf_kcp_stats(f->k)->in_dup_segs, 4999);
	static struct sf_kcp_hdr h[2000];
	size_t n = flushed(f, 1, h, 2000);
	assert_true(n > 0 && n <= 1024);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(h[i].sn, 5);
	/* In-order duplicates compact instead: only the newest matters after the filter. */
	for (int p = 0; p < 100; p++) {
		size_t m = 0;
		for (int i = 0; i < 50; i++)
			m += make_seg(pkt + m, CONV, SF_KCP_CMD_PUSH, 100, (uint32_t)i, 0, 0, "d", 1);
		assert_int_equal(sf_kcp_input(f->k, pkt, m, 1), 0);
	}
	uint64_t dropped = sf_kcp_stats(f->k)->acks_dropped;
	n = flushed(f, 1, h, 2000);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].sn, 0);
	assert_int_equal(h[0].ts, 49);
	assert_int_equal(sf_kcp_stats(f->k)->acks_dropped, dropped);
}

/* una beyond snd_nxt drops everything sent (as kcp-go); the session keeps numbering. */
static void test_una_beyond_snd_nxt(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	struct sf_kcp_hdr h[8];
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_WINS, 1000, 0, 0, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 0), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sf_kcp_send(f->k, (const uint8_t *)"data", 4), 0);
		sf_kcp_flush(f->k, 10);
	}
	assert_int_equal(sf_kcp_waitsnd(f->k), 3);

	/* una far behind (wrapped) and ACKs outside [snd_una, snd_nxt) change nothing. */
	n = make_seg(pkt, CONV, SF_KCP_CMD_ACK, 1000, 10, 3, 0x80000000u, NULL, 0);
	n += make_seg(pkt + n, CONV, SF_KCP_CMD_ACK, 1000, 10, 0xffffffffu, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 20), 0);
	assert_int_equal(sf_kcp_waitsnd(f->k), 3);

	n = make_seg(pkt, CONV, SF_KCP_CMD_WINS, 1000, 0, 0, 1000003, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 20), 0);
	assert_int_equal(sf_kcp_waitsnd(f->k), 0);
	assert_int_equal(flushed(f, 20, h, 8), 0);
	assert_int_equal(sf_kcp_next_due(f->k, 20), -1);
	assert_int_equal(sf_kcp_stats(f->k)->mem_bytes, 0);

	assert_int_equal(sf_kcp_send(f->k, (const uint8_t *)"more", 4), 0);
	assert_int_equal(flushed(f, 30, h, 8), 1);
	assert_int_equal(h[0].cmd, SF_KCP_CMD_PUSH);
	assert_int_equal(h[0].sn, 3);
}

/* A peer advertising wnd 0: no new data, WASK after 7 s then 10.5 s, 15.75 s ... capped at
 * 120 s, all driven by next_due; its WINS with room restarts the data. */
static void test_zero_window_peer(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	struct sf_kcp_hdr h[8];
	uint32_t now = 0xfffff000u;
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_WINS, 0, 0, 0, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, now), 0);
	assert_int_equal(sf_kcp_rmt_wnd(f->k), 0);
	assert_int_equal(sf_kcp_send_room(f->k), 0);
	assert_int_equal(sf_kcp_send(f->k, (const uint8_t *)"blocked", 7), 0);
	assert_false(sf_kcp_flush_wanted(f->k));        /* nothing fits the window */
	assert_int_equal(sf_kcp_next_due(f->k, now), 0);
	assert_int_equal(flushed(f, now, h, 8), 0);

	const uint32_t waits[] = { 7000, 10500, 15750, 23625, 35437, 53155, 79732, 119598,
				   120000, 120000 };
	for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
		assert_int_equal(sf_kcp_next_due(f->k, now), waits[i]);
		now += waits[i] - 1;
		assert_int_equal(sf_kcp_next_due(f->k, now), 1);
		now += 1;
		assert_int_equal(flushed(f, now, h, 8), 1);
		assert_int_equal(h[0].cmd, SF_KCP_CMD_WASK);
		assert_int_equal(h[0].sn, 0);
		assert_int_equal(h[0].ts, 0);
	}
	/* The peer opens its window: the queued data goes out at the next flush. */
	n = make_seg(pkt, CONV, SF_KCP_CMD_WINS, 10, 0, 0, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, now), 0);
	assert_true(sf_kcp_flush_wanted(f->k));
	assert_int_equal(flushed(f, now, h, 8), 1);
	assert_int_equal(h[0].cmd, SF_KCP_CMD_PUSH);
	assert_int_equal(h[0].len, 7);
	/* Only the RTO remains as a timer. */
	assert_int_equal(sf_kcp_next_due(f->k, now), 200);
}

/* A peer's WASK is answered by WINS even when nothing else is sent. */
static void test_wask_gets_wins(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	struct sf_kcp_hdr h[8];
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_WASK, 50, 9, 9, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(f->k, pkt, n, 5), 0);
	assert_true(sf_kcp_flush_wanted(f->k));
	assert_int_equal(sf_kcp_next_due(f->k, 5), 0);
	assert_int_equal(flushed(f, 5, h, 8), 1);
	assert_int_equal(h[0].cmd, SF_KCP_CMD_WINS);
	assert_int_equal(h[0].wnd, 65535);
	assert_int_equal(sf_kcp_next_due(f->k, 5), -1);
}

/* Early retransmit marks from arbitrary ACK (sn, ts) sets - more points than the engine keeps
 * between flushes - match kcp-go's per-ACK rule: every unacked segment with a smaller sn and
 * ts <= the ACK's ts is resent at the next flush without new data. */
static void test_early_retransmit_matches_per_ack_rule(void **state)
{
	(void)state;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	for (int round = 0; round < 200; round++) {
		struct capture cap = { 0 };
		struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
		uint8_t pkt[SF_KCP_MTU];
		enum { N = 120 };
		uint32_t ts[N];
		bool acked[N] = { 0 }, marked[N] = { 0 };
		size_t n = make_seg(pkt, CONV, SF_KCP_CMD_WINS, 65535, 0, 0, 0, NULL, 0);
		assert_int_equal(sf_kcp_input(k, pkt, n, 1000), 0);
		uint32_t now = 1000;
		for (int i = 0; i < N; i++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			now += (uint32_t)(rng >> 60) % 3;
			ts[i] = now;
			assert_int_equal(sf_kcp_send(k, (const uint8_t *)"s", 1), 0);
			sf_kcp_flush(k, now);
		}
		capture_clear(&cap);
		/* 4 packets x 50 ACKs with random sn and ts. */
		for (int p = 0; p < 4; p++) {
			n = 0;
			for (int a = 0; a < 50; a++) {
				rng = rng * 6364136223846793005ull + 1442695040888963407ull;
				uint32_t sn = (uint32_t)(rng >> 33) % (N + 5);
				uint32_t ats = 1000 + (uint32_t)(rng >> 20) % (now - 1000 + 3);
				n += make_seg(pkt + n, CONV, SF_KCP_CMD_ACK, 65535, ats, sn, 0, NULL, 0);
				if (sn >= N)
					continue;
				acked[sn] = true;
				for (uint32_t s = 0; s < sn; s++)
					if (ts[s] <= ats)
						marked[s] = true;
			}
			assert_int_equal(sf_kcp_input(k, pkt, n, now + 1), 0);
		}
		sf_kcp_flush(k, now + 1);       /* before any RTO (200 ms) */
		bool resent[N] = { 0 };
		for (size_t p = 0; p < cap.n; p++) {
			struct sf_kcp_hdr h[64];
			size_t ns = parse_segments(cap.pkt[p], cap.len[p], h, 64);
			for (size_t s = 0; s < ns; s++) {
				assert_int_equal(h[s].cmd, SF_KCP_CMD_PUSH);
				assert_false(resent[h[s].sn]);
				resent[h[s].sn] = true;
			}
		}
		uint64_t want = 0;
		for (int s = 0; s < N; s++) {
			assert_int_equal(resent[s], marked[s] && !acked[s]);
			want += resent[s];
		}
		assert_int_equal(sf_kcp_stats(k)->retrans_early, want);
		sf_kcp_free(k);
		capture_free(&cap);
	}
}

/* kcp.h's contract: out() must not call back into a session of its thread, because the packet
 * it was lent is the thread's one scratch buffer. A call that does is refused and reported
 * (src/lib/bug.h), and the packet out() holds is left intact. */
struct reentry {
	struct sf_kcp *k;
	int input_rc, send_rc;
	uint8_t first_byte_before, first_byte_after;
	unsigned calls;
};

static void reentrant_out(const uint8_t *pkt, size_t len, void *user)
{
	struct reentry *r = user;
	assert_true(len >= SF_KCP_OVERHEAD);
	if (r->calls++)
		return;
	r->first_byte_before = pkt[0];
	uint8_t junk[SF_KCP_OVERHEAD] = { 0 };
	r->input_rc = sf_kcp_input(r->k, junk, sizeof junk, 5);
	r->send_rc = sf_kcp_send(r->k, (const uint8_t *)"x", 1);
	sf_kcp_flush(r->k, 5);
	sf_kcp_free(r->k); /* refused too: the session is in use */
	r->first_byte_after = pkt[0];
}

static void test_out_reentry_refused(void **state)
{
	(void)state;
	struct reentry r = { 0 };
	r.k = sf_kcp_new(CONV, reentrant_out, &r);
	assert_non_null(r.k);
	sf_bug_set_fatal(false);
	unsigned long bugs = sf_bug_count();
	assert_int_equal(sf_kcp_send(r.k, (const uint8_t *)"hello", 5), SF_KCP_OK);
	sf_kcp_flush(r.k, 1);
	assert_int_equal(r.input_rc, SF_KCP_EREENTERED);
	assert_int_equal(r.send_rc, SF_KCP_EREENTERED);
	assert_int_equal(sf_bug_count(), bugs + 4);
	assert_int_equal(r.first_byte_before, r.first_byte_after);
	assert_int_equal(r.calls, 1); /* the refused flush sent nothing */
	/* outside out() the session works as before, and frees */
	assert_int_equal(sf_kcp_send(r.k, (const uint8_t *)"again", 5), SF_KCP_OK);
	sf_kcp_flush(r.k, 400);
	assert_true(r.calls >= 2);
	sf_kcp_free(r.k);
	assert_int_equal(sf_bug_count(), bugs + 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_short_packets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_conv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_cmd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_len_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_packet_gives_no_rtt_sample, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sn_beyond_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_order_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_queue_holds_in_window_segments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_receive_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_una_beyond_snd_nxt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_window_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wask_gets_wins, setup, teardown),
		cmocka_unit_test(test_early_retransmit_matches_per_ack_rule),
		cmocka_unit_test(test_out_reentry_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
