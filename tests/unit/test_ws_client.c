/* sf_ws client mode (the load generator's): masked frames out, byte for byte as RFC 6455 shows
 * them; unmasked server frames in; a masked frame from the server refused; and a round trip
 * through the server endpoint in both directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ws/ws.h"

struct end {
	uint8_t data[70000];
	size_t data_len;
	uint8_t out[70100];
	size_t out_len;
	int closes;
	uint16_t close_code;
	uint8_t key[4];
	int masks;
};

static void on_data(void *user, const uint8_t *p, size_t n)
{
	struct end *e = user;
	assert_true(e->data_len + n <= sizeof e->data);
	memcpy(e->data + e->data_len, p, n);
	e->data_len += n;
}

static void on_output(void *user, const uint8_t *p, size_t n)
{
	struct end *e = user;
	assert_true(e->out_len + n <= sizeof e->out);
	memcpy(e->out + e->out_len, p, n);
	e->out_len += n;
}

static void on_close(void *user, uint16_t code)
{
	struct end *e = user;
	e->closes++;
	e->close_code = code;
}

static void on_mask(void *user, uint8_t key[4])
{
	struct end *e = user;
	memcpy(key, e->key, 4);
	e->masks++;
}

static const struct sf_ws_callbacks cbs = {
	.on_data = on_data, .on_output = on_output, .on_close = on_close, .on_mask = on_mask,
};

static struct end *end_new(const uint8_t key[4])
{
	struct end *e = calloc(1, sizeof *e);
	assert_non_null(e);
	if (key)
		memcpy(e->key, key, 4);
	return e;
}

static const uint8_t rfc_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* RFC 6455 section 5.7: "Hello" masked with 37 fa 21 3d (there as Text, here as Binary). */
static void test_masked_hello_bytes(void **state)
{
	(void)state;
	struct end *e = end_new(rfc_key);
	struct sf_ws *ws = sf_ws_new_client(&cbs, e);
	assert_non_null(ws);
	assert_int_equal(sf_ws_send_binary(ws, (const uint8_t *)"Hello", 5), 0);
	static const uint8_t want[] = { 0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d,
					0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	assert_int_equal(e->out_len, sizeof want);
	assert_memory_equal(e->out, want, sizeof want);
	assert_int_equal(e->masks, 1);
	sf_ws_free(ws);
	free(e);
}

/* 300 bytes: the 16-bit length form, mask bit set, payload XORed at the right phase. */
static void test_masked_extended_length(void **state)
{
	(void)state;
	struct end *e = end_new(rfc_key);
	struct sf_ws *ws = sf_ws_new_client(&cbs, e);
	uint8_t p[300];
	for (size_t i = 0; i < sizeof p; i++)
		p[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(sf_ws_send_binary(ws, p, sizeof p), 0);
	assert_int_equal(e->out_len, 2 + 2 + 4 + sizeof p);
	static const uint8_t head[] = { 0x82, 0xfe, 0x01, 0x2c, 0x37, 0xfa, 0x21, 0x3d };
	assert_memory_equal(e->out, head, sizeof head);
	for (size_t i = 0; i < sizeof p; i++)
		assert_int_equal(e->out[8 + i], p[i] ^ rfc_key[i & 3]);
	sf_ws_free(ws);
	free(e);
}

/* Server frames are not masked: a client takes them as they are, split anywhere. */
static void test_reads_unmasked(void **state)
{
	(void)state;
	struct end *e = end_new(rfc_key);
	struct sf_ws *ws = sf_ws_new_client(&cbs, e);
	static const uint8_t in[] = { 0x82, 0x05, 'H', 'e', 'l', 'l', 'o', 0x82, 0x02, 'h', 'i' };
	for (size_t i = 0; i < sizeof in; i++)
		assert_int_equal(sf_ws_feed(ws, in + i, 1), 0);
	assert_int_equal(e->data_len, 7);
	assert_memory_equal(e->data, "Hellohi", 7);
	assert_int_equal(e->out_len, 0);
	sf_ws_free(ws);
	free(e);
}

/* A server Ping is answered with a masked Pong carrying the same payload. */
static void test_ping_answered_masked(void **state)
{
	(void)state;
	struct end *e = end_new(rfc_key);
	struct sf_ws *ws = sf_ws_new_client(&cbs, e);
	static const uint8_t ping[] = { 0x89, 0x02, 'a', 'b' };
	assert_int_equal(sf_ws_feed(ws, ping, sizeof ping), 0);
	static const uint8_t want[] = { 0x8a, 0x82, 0x37, 0xfa, 0x21, 0x3d, 'a' ^ 0x37, 'b' ^ 0xfa };
	assert_int_equal(e->out_len, sizeof want);
	assert_memory_equal(e->out, want, sizeof want);
	sf_ws_free(ws);
	free(e);
}

/* A masked frame from the server is a protocol error: masked Close 1002, nothing delivered. */
static void test_refuses_masked(void **state)
{
	(void)state;
	struct end *e = end_new(rfc_key);
	struct sf_ws *ws = sf_ws_new_client(&cbs, e);
	static const uint8_t in[] = { 0x82, 0x81, 1, 2, 3, 4, 'x' ^ 1 };
	assert_int_equal(sf_ws_feed(ws, in, sizeof in), -1);
	assert_int_equal(e->data_len, 0);
	static const uint8_t want[] = { 0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x03 ^ 0x37, 0xea ^ 0xfa };
	assert_int_equal(e->out_len, sizeof want);
	assert_memory_equal(e->out, want, sizeof want);
	assert_true(sf_ws_close_sent(ws));
	assert_int_equal(sf_ws_send_binary(ws, (const uint8_t *)"x", 1), -1);
	sf_ws_free(ws);
	free(e);
}

/* Without a mask source there is no client. */
static void test_needs_mask_callback(void **state)
{
	(void)state;
	struct sf_ws_callbacks no_mask = cbs;
	no_mask.on_mask = NULL;
	assert_null(sf_ws_new_client(&no_mask, NULL));
	assert_null(sf_ws_new_client(NULL, NULL));
}

/* Client → server endpoint and back, 64 KiB each way (the 64-bit length form), a new key per
 * frame: what one side sends, the other delivers unchanged. */
static void test_round_trip_with_server(void **state)
{
	(void)state;
	struct end *c = end_new(rfc_key), *s = end_new(NULL);
	struct sf_ws *cws = sf_ws_new_client(&cbs, c);
	struct sf_ws *sws = sf_ws_new(&cbs, s);
	static uint8_t p[65536];
	for (size_t i = 0; i < sizeof p; i++)
		p[i] = (uint8_t)(i ^ (i >> 8));
	assert_int_equal(sf_ws_send_binary(cws, p, sizeof p), 0);
	c->key[0] ^= 0x55;
	assert_int_equal(sf_ws_send_binary(cws, p, 10), 0);
	assert_int_equal(c->masks, 2);
	assert_int_equal(c->out[1], 0x80 | 127);
	assert_int_equal(sf_ws_feed(sws, c->out, c->out_len), 0);
	assert_int_equal(s->data_len, sizeof p + 10);
	assert_memory_equal(s->data, p, sizeof p);
	assert_memory_equal(s->data + sizeof p, p, 10);

	assert_int_equal(sf_ws_send_binary(sws, p, sizeof p), 0);
	assert_int_equal(sf_ws_feed(cws, s->out, s->out_len), 0);
	assert_int_equal(c->data_len, sizeof p);
	assert_memory_equal(c->data, p, sizeof p);

	/* the client's Close reaches the server, whose echo closes the client */
	c->out_len = 0;
	sf_ws_close(cws);
	assert_int_equal(sf_ws_feed(sws, c->out, c->out_len), 0);
	assert_int_equal(s->closes, 1);
	assert_int_equal(s->close_code, SF_WS_CLOSE_NO_STATUS);
	sf_ws_free(cws);
	sf_ws_free(sws);
	free(c);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_masked_hello_bytes),
		cmocka_unit_test(test_masked_extended_length),
		cmocka_unit_test(test_reads_unmasked),
		cmocka_unit_test(test_ping_answered_masked),
		cmocka_unit_test(test_refuses_masked),
		cmocka_unit_test(test_needs_mask_callback),
		cmocka_unit_test(test_round_trip_with_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
