/* sf_ws: client frames in (masked, fragmented, control, invalid), server frames out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ws/ws.h"

struct sink {
	uint8_t *data;
	size_t data_len, data_cap;
	uint8_t *out;
	size_t out_len, out_cap;
	int closes;
	uint16_t close_code;
};

static void grow_append(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *p, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 256;
		while (c < *len + n)
			c *= 2;
		*buf = realloc(*buf, c);
		assert_non_null(*buf);
		*cap = c;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
}

static void on_data(void *user, const uint8_t *p, size_t n)
{
	struct sink *s = user;
	assert_true(n > 0);
	grow_append(&s->data, &s->data_len, &s->data_cap, p, n);
}

static void on_output(void *user, const uint8_t *p, size_t n)
{
	struct sink *s = user;
	grow_append(&s->out, &s->out_len, &s->out_cap, p, n);
}

static void on_close(void *user, uint16_t code)
{
	struct sink *s = user;
	s->closes++;
	s->close_code = code;
}

static const struct sf_ws_callbacks callbacks = {
	.on_data = on_data,
	.on_output = on_output,
	.on_close = on_close,
};

static void sink_free(struct sink *s)
{
	free(s->data);
	free(s->out);
	memset(s, 0, sizeof *s);
}

/* A client frame: header, optional mask, payload masked with key 37 fa 21 3d. */
struct frame {
	uint8_t b[70000];
	size_t len;
};

static void put_frame(struct frame *f, int fin, int rsv, int opcode, int masked, const void *payload,
		      size_t n)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t *o = f->b + f->len;
	size_t i = 0;
	o[i++] = (uint8_t)((fin ? 0x80 : 0) | (rsv << 4) | opcode);
	uint8_t m = masked ? 0x80 : 0;
	if (n < 126) {
		o[i++] = (uint8_t)(m | n);
	} else if (n < 65536) {
		o[i++] = m | 126;
		o[i++] = (uint8_t)(n >> 8);
		o[i++] = (uint8_t)n;
	} else {
		o[i++] = m | 127;
		for (int k = 7; k >= 0; k--)
			o[i++] = (uint8_t)((uint64_t)n >> (8 * k));
	}
	if (masked) {
		memcpy(o + i, key, 4);
		i += 4;
	}
	const uint8_t *p = payload;
	for (size_t k = 0; k < n; k++)
		o[i + k] = masked ? p[k] ^ key[k % 4] : p[k];
	f->len += i + n;
	assert_true(f->len <= sizeof f->b);
}

static void expect_bytes(const uint8_t *got, size_t got_len, const void *want, size_t want_len)
{
	assert_int_equal(got_len, want_len);
	if (want_len)
		assert_memory_equal(got, want, want_len);
}

static struct sf_ws *new_ws(struct sink *s)
{
	memset(s, 0, sizeof *s);
	struct sf_ws *ws = sf_ws_new(&callbacks, s);
	assert_non_null(ws);
	return ws;
}

static void test_masked_binary_and_text(void **state)
{
	(void)state;
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	static struct frame f;
	f.len = 0;
	put_frame(&f, 1, 0, 2, 1, "hello", 5);
	/* Text that is not UTF-8 still flows: Text is treated exactly like Binary. */
	put_frame(&f, 1, 0, 1, 1, "\xff\xfe-", 3);
	put_frame(&f, 1, 0, 2, 1, "", 0);
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	expect_bytes(s.data, s.data_len, "hello\xff\xfe-", 8);
	assert_int_equal(s.out_len, 0);
	assert_int_equal(s.closes, 0);
	sf_ws_free(ws);
	sink_free(&s);
}

static void test_fragmented_with_ping(void **state)
{
	(void)state;
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	static struct frame f;
	f.len = 0;
	put_frame(&f, 0, 0, 1, 1, "Hel", 3);
	put_frame(&f, 1, 0, 9, 1, "p1", 2);
	put_frame(&f, 0, 0, 0, 1, "lo ", 3);
	put_frame(&f, 1, 0, 10, 1, "ignored pong", 12);
	put_frame(&f, 1, 0, 0, 1, "world", 5);
	put_frame(&f, 1, 0, 2, 1, "!", 1);
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	expect_bytes(s.data, s.data_len, "Hello world!", 12);
	expect_bytes(s.out, s.out_len, "\x8a\x02p1", 4);
	sf_ws_free(ws);
	sink_free(&s);
}

static void test_big_frame_streams(void **state)
{
	(void)state;
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	static struct frame f;
	static uint8_t payload[65536 + 3];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 7);
	f.len = 0;
	put_frame(&f, 1, 0, 2, 1, payload, sizeof payload);
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	expect_bytes(s.data, s.data_len, payload, sizeof payload);
	sf_ws_free(ws);
	sink_free(&s);
}

static void test_close_echo(void **state)
{
	(void)state;
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	static struct frame f;
	f.len = 0;
	put_frame(&f, 1, 0, 8, 1, "\x03\xe8" "bye", 5);
	put_frame(&f, 1, 0, 2, 1, "after", 5);
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	/* The peer's code, no reason; nothing after the Close is read. */
	expect_bytes(s.out, s.out_len, "\x88\x02\x03\xe8", 4);
	assert_int_equal(s.closes, 1);
	assert_int_equal(s.close_code, 1000);
	assert_int_equal(s.data_len, 0);
	assert_true(sf_ws_close_sent(ws));
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	assert_int_equal(s.out_len, 4);
	assert_int_equal(sf_ws_send_binary(ws, (const uint8_t *)"x", 1), -1);
	sf_ws_close(ws);
	assert_int_equal(s.out_len, 4);
	sf_ws_free(ws);
	sink_free(&s);
}

static void test_close_without_code(void **state)
{
	(void)state;
	static const char *payloads[] = { "", "\x03" };	/* empty, and 1 byte: both mean 1005 */
	for (size_t i = 0; i < 2; i++) {
		struct sink s;
		struct sf_ws *ws = new_ws(&s);
		static struct frame f;
		f.len = 0;
		put_frame(&f, 1, 0, 8, 1, payloads[i], i);
		assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
		expect_bytes(s.out, s.out_len, "\x88\x00", 2);
		assert_int_equal(s.closes, 1);
		assert_int_equal(s.close_code, SF_WS_CLOSE_NO_STATUS);
		sf_ws_free(ws);
		sink_free(&s);
	}
}

static void test_close_4000_echo(void **state)
{
	(void)state;
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	static struct frame f;
	f.len = 0;
	put_frame(&f, 1, 0, 8, 1, "\x0f\xa0" "\xc3\xa9t\xc3\xa9", 7);
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	expect_bytes(s.out, s.out_len, "\x88\x02\x0f\xa0", 4);
	assert_int_equal(s.close_code, 4000);
	sf_ws_free(ws);
	sink_free(&s);
}

/* Feeds one frame sequence; expects -1, a Close with `code` as the only output, no close callback,
 * and -1 with no new output afterwards. */
static void expect_error(const struct frame *f, uint16_t code, const char *data_before, size_t data_len)
{
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	assert_int_equal(sf_ws_feed(ws, f->b, f->len), -1);
	uint8_t want[4] = { 0x88, 0x02, (uint8_t)(code >> 8), (uint8_t)code };
	expect_bytes(s.out, s.out_len, want, 4);
	assert_int_equal(s.closes, 0);
	expect_bytes(s.data, s.data_len, data_before, data_len);
	assert_int_equal(sf_ws_feed(ws, f->b, f->len), -1);
	assert_int_equal(s.out_len, 4);
	assert_int_equal(sf_ws_send_binary(ws, (const uint8_t *)"x", 1), -1);
	sf_ws_free(ws);
	sink_free(&s);
}

static void test_unmasked_is_error(void **state)
{
	(void)state;
	static struct frame f;
	f.len = 0;
	put_frame(&f, 1, 0, 2, 1, "ok", 2);
	put_frame(&f, 1, 0, 2, 0, "hello", 5);
	expect_error(&f, 1002, "ok", 2);
	f.len = 0;
	put_frame(&f, 1, 0, 9, 0, "", 0);	/* unmasked control frame too */
	expect_error(&f, 1002, "", 0);
}

static void test_rsv_bits(void **state)
{
	(void)state;
	for (int rsv = 1; rsv < 8; rsv <<= 1) {
		static struct frame f;
		f.len = 0;
		put_frame(&f, 1, rsv, 2, 1, "hello", 5);
		expect_error(&f, 1002, "", 0);
	}
}

static void test_bad_opcodes(void **state)
{
	(void)state;
	static const int bad[] = { 3, 4, 5, 6, 7, 11, 12, 13, 14, 15 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		static struct frame f;
		f.len = 0;
		put_frame(&f, 1, 0, bad[i], 1, "x", 1);
		expect_error(&f, 1002, "", 0);
	}
}

static void test_bad_control_frames(void **state)
{
	(void)state;
	static uint8_t big[126];
	static struct frame f;
	f.len = 0;
	put_frame(&f, 1, 0, 9, 1, big, 126);	/* ping > 125 */
	expect_error(&f, 1002, "", 0);
	f.len = 0;
	put_frame(&f, 1, 0, 8, 1, big, 126);	/* close > 125 */
	expect_error(&f, 1002, "", 0);
	f.len = 0;
	put_frame(&f, 0, 0, 9, 1, "p", 1);	/* fragmented ping */
	expect_error(&f, 1002, "", 0);
	f.len = 0;
	put_frame(&f, 1, 0, 8, 1, "\x03\xed", 2);	/* 1005 may not be sent */
	expect_error(&f, 1002, "", 0);
	f.len = 0;
	put_frame(&f, 1, 0, 8, 1, "\x03\xe8\xff", 3);	/* reason not UTF-8 */
	expect_error(&f, 1002, "", 0);
	f.len = 0;
	put_frame(&f, 1, 0, 8, 1, "\x03\xe8\xed\xa0\x80", 5);	/* surrogate */
	expect_error(&f, 1002, "", 0);
}

static void test_bad_continuations(void **state)
{
	(void)state;
	static struct frame f;
	f.len = 0;
	put_frame(&f, 1, 0, 0, 1, "x", 1);	/* continuation with nothing to continue */
	expect_error(&f, 1002, "", 0);
	f.len = 0;
	put_frame(&f, 1, 0, 2, 1, "a", 1);
	put_frame(&f, 0, 0, 0, 1, "b", 1);	/* continuation after FIN */
	expect_error(&f, 1002, "a", 1);
	f.len = 0;
	put_frame(&f, 0, 0, 2, 1, "a", 1);
	put_frame(&f, 1, 0, 1, 1, "b", 1);	/* new message before FIN */
	expect_error(&f, 1002, "a", 1);
}

/* A 64-bit WebSocket payload length, big-endian. */
static void put_len64(uint8_t *p, uint64_t len)
{
	for (int i = 7; i >= 0; i--, len >>= 8)
		p[i] = (uint8_t)len;
}

/* Feeds n zero bytes (a payload under mask key 0) in pieces of 64 KiB. */
static void feed_zeros(struct sf_ws *ws, size_t n)
{
	static const uint8_t zeros[65536];
	while (n > 0) {
		size_t k = n < sizeof zeros ? n : sizeof zeros;
		assert_int_equal(sf_ws_feed(ws, zeros, k), 0);
		n -= k;
	}
}

static void test_bad_lengths(void **state)
{
	(void)state;
	static struct frame f;
	/* 64-bit length with the most significant bit set. */
	static const uint8_t msb[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4 };
	memcpy(f.b, msb, sizeof msb);
	f.len = sizeof msb;
	expect_error(&f, 1002, "", 0);

	/* Over the per-frame cap: Message Too Big, announced before any payload arrives. */
	uint8_t huge[15] = { 0x82, 0xff };
	put_len64(huge + 2, (uint64_t)SF_WS_MAX_FRAME + 1);
	memcpy(huge + 10, "\x01\x02\x03\x04x", 5);
	memcpy(f.b, huge, sizeof huge);
	f.len = sizeof huge;
	expect_error(&f, 1009, "", 0);

	/* A non-minimal length encoding is accepted, as gorilla does (it does not check). */
	static const uint8_t loose[] = { 0x82, 0xfe, 0, 5, 0, 0, 0, 0, 'a', 'b', 'c', 'd', 'e' };
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	assert_int_equal(sf_ws_feed(ws, loose, sizeof loose), 0);
	expect_bytes(s.data, s.data_len, "abcde", 5);
	assert_int_equal(s.out_len, 0);
	sf_ws_free(ws);
	sink_free(&s);
}

static void test_cap_is_per_frame(void **state)
{
	(void)state;
	/* Two frames of exactly the cap in one fragmented message are fine. */
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	for (int i = 0; i < 2; i++) {
		uint8_t hdr[14] = { (uint8_t)(i ? 0x80 : 0x02), 0xff };
		put_len64(hdr + 2, SF_WS_MAX_FRAME);
		assert_int_equal(sf_ws_feed(ws, hdr, sizeof hdr), 0);	/* mask key 0 */
		feed_zeros(ws, SF_WS_MAX_FRAME);
	}
	assert_int_equal(s.data_len, 2 * (size_t)SF_WS_MAX_FRAME);
	assert_int_equal(s.out_len, 0);
	sf_ws_free(ws);
	sink_free(&s);
}

/* The largest turbotunnel data record (3-byte prefix + 1048575 bytes) in one Binary frame, as a
 * client may send it and gorilla (no read limit on upstream's server) accepts it. */
static void test_largest_record_in_one_frame(void **state)
{
	(void)state;
	const size_t len = 3 + 0xFFFFF;
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	uint8_t hdr[14] = { 0x82, 0xff };
	put_len64(hdr + 2, len);
	assert_int_equal(sf_ws_feed(ws, hdr, sizeof hdr), 0);	/* mask key 0 */
	feed_zeros(ws, len);
	assert_int_equal(s.data_len, len);
	assert_int_equal(s.out_len, 0);	/* no Close */
	sf_ws_free(ws);
	sink_free(&s);
}

/* A session's worth of frames fed whole, split in two at every byte, and byte by byte. */
static void test_split_everywhere(void **state)
{
	(void)state;
	static struct frame f;
	static uint8_t mid[300];
	for (size_t i = 0; i < sizeof mid; i++)
		mid[i] = (uint8_t)i;
	f.len = 0;
	put_frame(&f, 1, 0, 2, 1, "\x12\x93\x60\x5d\x27\x81\x75\xf5", 8);
	put_frame(&f, 0, 0, 1, 1, "frag-", 5);
	put_frame(&f, 1, 0, 9, 1, "ping!", 5);
	put_frame(&f, 1, 0, 0, 1, mid, sizeof mid);
	put_frame(&f, 1, 0, 2, 1, "", 0);
	put_frame(&f, 1, 0, 10, 1, "pong", 4);
	put_frame(&f, 1, 0, 2, 1, "tail", 4);
	put_frame(&f, 1, 0, 8, 1, "\x03\xe9", 2);

	struct sink whole;
	struct sf_ws *ws = new_ws(&whole);
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	sf_ws_free(ws);
	assert_int_equal(whole.data_len, 8 + 5 + sizeof mid + 4);
	expect_bytes(whole.out, whole.out_len, "\x8a\x05ping!\x88\x02\x03\xe9", 11);
	assert_int_equal(whole.close_code, 1001);

	for (size_t cut = 0; cut <= f.len; cut++) {
		struct sink s;
		ws = new_ws(&s);
		assert_int_equal(sf_ws_feed(ws, f.b, cut), 0);
		assert_int_equal(sf_ws_feed(ws, f.b + cut, f.len - cut), 0);
		expect_bytes(s.data, s.data_len, whole.data, whole.data_len);
		expect_bytes(s.out, s.out_len, whole.out, whole.out_len);
		assert_int_equal(s.closes, 1);
		sf_ws_free(ws);
		sink_free(&s);
	}

	struct sink s;
	ws = new_ws(&s);
	for (size_t i = 0; i < f.len; i++)
		assert_int_equal(sf_ws_feed(ws, f.b + i, 1), 0);
	expect_bytes(s.data, s.data_len, whole.data, whole.data_len);
	expect_bytes(s.out, s.out_len, whole.out, whole.out_len);
	assert_int_equal(s.close_code, 1001);
	sf_ws_free(ws);
	sink_free(&s);
	sink_free(&whole);
}

static void test_output_frames(void **state)
{
	(void)state;
	static const struct {
		size_t len;
		uint8_t hdr[10];
		size_t hdr_len;
	} cases[] = {
		{ 0, { 0x82, 0x00 }, 2 },
		{ 125, { 0x82, 0x7d }, 2 },
		{ 126, { 0x82, 0x7e, 0x00, 0x7e }, 4 },
		{ 1402, { 0x82, 0x7e, 0x05, 0x7a }, 4 },
		{ 65535, { 0x82, 0x7e, 0xff, 0xff }, 4 },
		{ 65536, { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 }, 10 },
	};
	static uint8_t payload[65536], want[65536 + 10];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sink s;
		struct sf_ws *ws = new_ws(&s);
		assert_int_equal(sf_ws_send_binary(ws, payload, cases[i].len), 0);
		memcpy(want, cases[i].hdr, cases[i].hdr_len);
		memcpy(want + cases[i].hdr_len, payload, cases[i].len);
		expect_bytes(s.out, s.out_len, want, cases[i].hdr_len + cases[i].len);
		sf_ws_free(ws);
		sink_free(&s);
	}
}

static void test_server_close(void **state)
{
	(void)state;
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	assert_int_equal(sf_ws_send_binary(ws, (const uint8_t *)"ab", 2), 0);
	sf_ws_close(ws);
	sf_ws_close(ws);
	expect_bytes(s.out, s.out_len, "\x82\x02" "ab\x88\x00", 6);
	assert_int_equal(sf_ws_send_binary(ws, (const uint8_t *)"x", 1), -1);
	/* Input after our Close is not read (the server drops the TCP connection at once). */
	static struct frame f;
	f.len = 0;
	put_frame(&f, 1, 0, 9, 1, "p", 1);
	put_frame(&f, 1, 0, 2, 1, "data", 4);
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	assert_int_equal(s.out_len, 6);
	assert_int_equal(s.data_len, 0);
	sf_ws_free(ws);
	sink_free(&s);
}

/* A Close with a status code (a refused WebSocket: 1013, Try Again Later), sent once; a status
 * no one may send (1005) goes out as the empty Close. */
static void test_server_close_code(void **state)
{
	(void)state;
	struct sink s;
	struct sf_ws *ws = new_ws(&s);
	sf_ws_close_code(ws, SF_WS_CLOSE_TRY_AGAIN_LATER);
	sf_ws_close_code(ws, 1000);
	sf_ws_close(ws);
	expect_bytes(s.out, s.out_len, "\x88\x02\x03\xf5", 4);
	assert_true(sf_ws_close_sent(ws));
	assert_int_equal(sf_ws_send_binary(ws, (const uint8_t *)"x", 1), -1);
	sf_ws_free(ws);
	sink_free(&s);

	ws = new_ws(&s);
	sf_ws_close_code(ws, SF_WS_CLOSE_NO_STATUS);
	expect_bytes(s.out, s.out_len, "\x88\x00", 2);
	sf_ws_free(ws);
	sink_free(&s);
}

/* Callbacks may send; a ping answered while data keeps flowing through a moved object. */
static void test_set_callbacks_moves_owner(void **state)
{
	(void)state;
	struct sink a, b;
	struct sf_ws *ws = new_ws(&a);
	memset(&b, 0, sizeof b);
	static struct frame f;
	f.len = 0;
	put_frame(&f, 0, 0, 2, 1, "one", 3);
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	sf_ws_set_callbacks(ws, &callbacks, &b);
	f.len = 0;
	put_frame(&f, 1, 0, 9, 1, "", 0);
	put_frame(&f, 1, 0, 0, 1, "two", 3);
	assert_int_equal(sf_ws_feed(ws, f.b, f.len), 0);
	expect_bytes(a.data, a.data_len, "one", 3);
	expect_bytes(b.data, b.data_len, "two", 3);
	expect_bytes(b.out, b.out_len, "\x8a\x00", 2);
	sf_ws_free(ws);
	sink_free(&a);
	sink_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_masked_binary_and_text),
		cmocka_unit_test(test_fragmented_with_ping),
		cmocka_unit_test(test_big_frame_streams),
		cmocka_unit_test(test_close_echo),
		cmocka_unit_test(test_close_without_code),
		cmocka_unit_test(test_close_4000_echo),
		cmocka_unit_test(test_unmasked_is_error),
		cmocka_unit_test(test_rsv_bits),
		cmocka_unit_test(test_bad_opcodes),
		cmocka_unit_test(test_bad_control_frames),
		cmocka_unit_test(test_bad_continuations),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_cap_is_per_frame),
		cmocka_unit_test(test_largest_record_in_one_frame),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_output_frames),
		cmocka_unit_test(test_server_close),
		cmocka_unit_test(test_server_close_code),
		cmocka_unit_test(test_set_callbacks_moves_owner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
