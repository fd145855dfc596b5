/* Segment header codec and the captured exchange of docs/kcp.md "A captured exchange", byte for
 * byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcp_test_util.h"

#define CONV 0x11223344u

static void assert_hex(const uint8_t *got, size_t got_len, const char *hex)
{
	size_t len;
	uint8_t *want = vectors_unhex(hex, &len);
	assert_non_null(want);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, want, len);
	free(want);
}

static void test_header_layout(void **state)
{
	(void)state;
	struct sf_kcp_hdr h = {
		.conv = 0x04030201, .cmd = SF_KCP_CMD_PUSH, .frg = 0x06, .wnd = 0x0807,
		.ts = 0x0c0b0a09, .sn = 0x100f0e0d, .una = 0x14131211, .len = 0x18171615,
	};
	uint8_t buf[SF_KCP_OVERHEAD];
	sf_kcp_hdr_encode(buf, &h);
	assert_hex(buf, sizeof buf, "0102030451060708090a0b0c0d0e0f101112131415161718");

	struct sf_kcp_hdr d;
	sf_kcp_hdr_decode(buf, &d);
	assert_int_equal(d.conv, h.conv);
	assert_int_equal(d.cmd, h.cmd);
	assert_int_equal(d.frg, h.frg);
	assert_int_equal(d.wnd, h.wnd);
	assert_int_equal(d.ts, h.ts);
	assert_int_equal(d.sn, h.sn);
	assert_int_equal(d.una, h.una);
	assert_int_equal(d.len, h.len);

	assert_int_equal(sf_kcp_peek_conv(buf), 0x04030201);
	assert_int_equal(sf_kcp_peek_sn(buf), 0x100f0e0d);
	assert_true(sf_kcp_cmd_valid(81) && sf_kcp_cmd_valid(84));
	assert_false(sf_kcp_cmd_valid(80) || sf_kcp_cmd_valid(85) || sf_kcp_cmd_valid(0xf1));
}

static void test_decode_capture_packets(void **state)
{
	(void)state;
	size_t len = 0;
	uint8_t *p = vectors_unhex("443322115100ffff0000000000000000000000000800000002000000"
				"03000000", &len);
	struct sf_kcp_hdr h;
	sf_kcp_hdr_decode(p, &h);
	assert_int_equal(len, 32);
	assert_int_equal(h.conv, CONV);
	assert_int_equal(h.cmd, SF_KCP_CMD_PUSH);
	assert_int_equal(h.frg, 0);
	assert_int_equal(h.wnd, 65535);
	assert_int_equal(h.ts, 0);
	assert_int_equal(h.sn, 0);
	assert_int_equal(h.una, 0);
	assert_int_equal(h.len, 8);
	free(p);

	assert_null(vectors_unhex("443", &len));        /* the helper refuses odd lengths */
	p = vectors_unhex("443322115200fdff00000000010000000200000000000000", &len);
	sf_kcp_hdr_decode(p, &h);
	assert_int_equal(h.cmd, SF_KCP_CMD_ACK);
	assert_int_equal(h.wnd, 65533);
	assert_int_equal(h.sn, 1);
	assert_int_equal(h.una, 2);
	assert_int_equal(h.len, 0);
	free(p);
}

static void feed_hex(struct sf_kcp *k, const char *hex, uint32_t now)
{
	size_t len;
	uint8_t *p = vectors_unhex(hex, &len);
	assert_non_null(p);
	assert_int_equal(sf_kcp_input(k, p, len, now), 0);
	free(p);
}

/* The server side of docs/kcp.md "A captured exchange", with the server's clock at 0 like the
 * capture's. */
static void test_captured_exchange(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
	assert_non_null(k);
	assert_int_equal(sf_kcp_conv(k), CONV);

	/* C->S PUSH sn0 (smux SYN sid 3) and PUSH sn1 (smux PSH "hi"), one read event. */
	feed_hex(k, "443322115100ffff000000000000000000000000080000000200000003000000", 0);
	feed_hex(k, "443322115100ffff0000000001000000000000000a0000000202020003000000"
		    "6869", 0);
	assert_true(sf_kcp_flush_wanted(k));
	assert_int_equal(sf_kcp_next_due(k, 0), 0);
	sf_kcp_flush(k, 0);
	/* One ACK: sn1 una2 wnd 65533; sn0's ACK is implied by una (docs/kcp.md filter). */
	assert_int_equal(cap.n, 1);
	assert_hex(cap.pkt[0], cap.len[0], "443322115200fdff00000000010000000200000000000000");
	capture_clear(&cap);
	assert_int_equal(sf_kcp_next_due(k, 0), -1);

	/* The smux layer reads both frames. */
	uint8_t buf[64];
	assert_int_equal(sf_kcp_readable(k), 18);
	assert_int_equal(sf_kcp_recv(k, buf, sizeof buf), 18);
	size_t want_len;
	uint8_t *want = vectors_unhex("020000000300000002020200030000006869", &want_len);
	assert_memory_equal(buf, want, want_len);
	free(want);
	assert_int_equal(sf_kcp_recv(k, buf, sizeof buf), 0);

	/* S->C PUSH sn0 (smux UPD), then PUSH sn1 ("ok"), each write flushed at once. */
	assert_true(sf_kcp_send_room(k) > 0);
	const uint8_t upd[] = { 0x02, 0x04, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00,
				0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00 };
	assert_int_equal(sf_kcp_send(k, upd, sizeof upd), 0);
	sf_kcp_flush(k, 0);
	const uint8_t ok[] = { 0x02, 0x02, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 'o', 'k' };
	assert_int_equal(sf_kcp_send(k, ok, sizeof ok), 0);
	sf_kcp_flush(k, 0);
	assert_int_equal(cap.n, 2);
	assert_hex(cap.pkt[0], cap.len[0],
		   "443322115100ffff00000000000000000200000010000000"
		   "02040800030000000200000000001000");
	assert_hex(cap.pkt[1], cap.len[1],
		   "443322115100ffff0000000001000000020000000a000000"
		   "02020200030000006f6b");
	capture_clear(&cap);
	/* Unacknowledged data: the RTO timer (initial rto 200) is armed. */
	assert_int_equal(sf_kcp_next_due(k, 0), 200);
	assert_int_equal(sf_kcp_waitsnd(k), 2);

	/* C->S 64 bytes: ACK(sn1 una2) + PUSH(sn2 una2, smux UPD). */
	uint8_t pkt[64];
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_ACK, 65535, 0, 1, 2, NULL, 0);
	n += make_seg(pkt + n, CONV, SF_KCP_CMD_PUSH, 65535, 0, 2, 2, upd, sizeof upd);
	assert_int_equal(n, 64);
	assert_int_equal(sf_kcp_input(k, pkt, n, 0), 0);
	assert_int_equal(sf_kcp_waitsnd(k), 0);
	sf_kcp_flush(k, 0);
	assert_int_equal(cap.n, 1);
	assert_hex(cap.pkt[0], cap.len[0], "443322115200feff00000000020000000300000000000000");
	/* Everything is acknowledged and nothing is owed: no timer. */
	assert_int_equal(sf_kcp_next_due(k, 0), -1);
	assert_false(sf_kcp_flush_wanted(k));

	sf_kcp_free(k);
	capture_free(&cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_decode_capture_packets),
		cmocka_unit_test(test_captured_exchange),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
