/* Turbotunnel encapsulation against tests/vectors/encapsulation.json (real snowflake output), fed
 * whole, one byte at a time and at random split points; plus the preamble and docs/turbotunnel.md
 * "Worked example"'s stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "turbotunnel/encap.h"
#include "vectors.h"

#define MAX_PKTS 16
#define RANDOM_ROUNDS 25

static json_t *vectors;

struct capture {
	size_t n;
	size_t lens[MAX_PKTS];
	uint8_t data[MAX_PKTS][SF_TT_MTU];
	int stop_after;		/* callback returns nonzero after this many packets (0 = never) */
};

static int capture_packet(void *arg, const uint8_t *pkt, size_t len)
{
	struct capture *c = arg;
	assert_true(len <= SF_TT_MTU);
	/* Counts every packet, keeps the first MAX_PKTS. */
	if (c->n < MAX_PKTS) {
		c->lens[c->n] = len;
		memcpy(c->data[c->n], pkt, len);
	}
	c->n++;
	return c->stop_after && (int)c->n == c->stop_after;
}

static uint64_t rng_state;

static uint32_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static size_t unhex(const char *hex, uint8_t **out)
{
	size_t n;
	*out = vectors_unhex(hex, &n);
	assert_non_null(*out);
	return n;
}

static void tohex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

static void assert_sha256(const uint8_t *p, size_t n, const char *want)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];
	SHA256(p, n, md);
	tohex(md, sizeof md, hex);
	assert_string_equal(hex, want);
}

static void assert_bytes_hex(const uint8_t *p, size_t n, const char *want)
{
	char *hex = malloc(2 * n + 1);
	assert_non_null(hex);
	tohex(p, n, hex);
	assert_string_equal(hex, want);
	free(hex);
}

static int load_vectors(void **state)
{
	(void)state;
	vectors = vectors_load("encapsulation.json");
	return vectors ? 0 : -1;
}

static int free_vectors(void **state)
{
	(void)state;
	json_decref(vectors);
	return 0;
}

static void test_encode_data_vectors(void **state)
{
	(void)state;
	json_t *cases = json_object_get(vectors, "encode_data");
	assert_true(json_array_size(cases) >= 20);
	size_t i;
	json_t *c;
	json_array_foreach(cases, i, c) {
		size_t len = (size_t)json_integer_value(json_object_get(c, "length"));
		uint8_t *payload = malloc(len + 1);
		assert_non_null(payload);
		for (size_t k = 0; k < len; k++)
			payload[k] = (uint8_t)k;
		uint8_t prefix[SF_TT_PREFIX_MAX];
		size_t plen = sf_tt_encode_prefix(len, prefix);

		if (json_object_get(c, "error")) {
			assert_string_equal(json_string_value(json_object_get(c, "error")), "too_long");
			assert_int_equal(plen, 0);
			uint8_t *out = malloc(len + 8);
			assert_non_null(out);
			assert_int_equal(sf_tt_encode_packet(payload, len, out, len + 8), 0);
			free(out);
			free(payload);
			continue;
		}
		assert_bytes_hex(prefix, plen, json_string_value(json_object_get(c, "prefix_hex")));

		size_t want_len = (size_t)json_integer_value(json_object_get(c, "encoded_len"));
		uint8_t *out = malloc(want_len);
		assert_non_null(out);
		/* One byte too little room is refused, exact room works. */
		assert_int_equal(sf_tt_encode_packet(payload, len, out, want_len - 1), 0);
		assert_int_equal(sf_tt_encode_packet(payload, len, out, want_len), want_len);
		assert_sha256(out, want_len, json_string_value(json_object_get(c, "encoded_sha256")));
		json_t *bytes = json_object_get(c, "bytes_hex");
		if (bytes)
			assert_bytes_hex(out, want_len, json_string_value(bytes));
		free(out);
		free(payload);
	}
}

static void test_encode_prefix_table(void **state)
{
	(void)state;
	/* the prefix examples of docs/turbotunnel.md "Worked example", plus the boundaries of each prefix
	 * size. */
	static const struct {
		size_t len;
		const char *hex;
	} rows[] = {
		{ 0, "80" }, { 1, "81" }, { 63, "bf" }, { 64, "c040" }, { 127, "c07f" },
		{ 128, "c100" }, { 1400, "ca78" }, { 8191, "ff7f" }, { 8192, "c0c000" },
		{ 16383, "c0ff7f" }, { 16384, "c18000" }, { 1048575, "ffff7f" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		uint8_t prefix[SF_TT_PREFIX_MAX];
		size_t n = sf_tt_encode_prefix(rows[i].len, prefix);
		assert_int_equal(n, strlen(rows[i].hex) / 2);
		assert_bytes_hex(prefix, n, rows[i].hex);
	}
	uint8_t prefix[SF_TT_PREFIX_MAX];
	assert_int_equal(sf_tt_encode_prefix(1048576, prefix), 0);
	assert_int_equal(sf_tt_encode_prefix(SIZE_MAX, prefix), 0);
}

static void test_encode_padding_vectors(void **state)
{
	(void)state;
	json_t *cases = json_object_get(vectors, "encode_padding");
	assert_true(json_array_size(cases) >= 15);
	size_t i;
	json_t *c;
	json_array_foreach(cases, i, c) {
		size_t size = (size_t)json_integer_value(json_object_get(c, "size"));
		uint8_t *out = malloc(size + 1);
		assert_non_null(out);
		if (size > 0)
			assert_int_equal(sf_tt_encode_padding(size, out, size - 1), SF_TT_ERR_ARG);
		assert_int_equal(sf_tt_encode_padding(size, out, size), SF_TT_OK);
		assert_sha256(out, size, json_string_value(json_object_get(c, "encoded_sha256")));
		json_t *bytes = json_object_get(c, "bytes_hex");
		if (bytes)
			assert_bytes_hex(out, size, json_string_value(bytes));

		/* Walk the chunks: each prefix and zero run as listed. */
		size_t off = 0, k;
		json_t *chunk;
		json_array_foreach(json_object_get(c, "chunks"), k, chunk) {
			const char *phex = json_string_value(json_object_get(chunk, "prefix_hex"));
			size_t plen = strlen(phex) / 2;
			size_t pad = (size_t)json_integer_value(json_object_get(chunk, "padding_len"));
			assert_true(off + plen + pad <= size);
			assert_bytes_hex(out + off, plen, phex);
			for (size_t z = 0; z < pad; z++)
				assert_int_equal(out[off + plen + z], 0);
			off += plen + pad;
		}
		assert_int_equal(off, size);

		/* Padding alone decodes to nothing and ends cleanly. */
		struct capture cap = { 0 };
		struct sf_tt_decoder d;
		sf_tt_decoder_init(&d, capture_packet, &cap);
		assert_int_equal(sf_tt_decoder_feed(&d, out, size, NULL), SF_TT_OK);
		assert_int_equal(sf_tt_decoder_finish(&d), SF_TT_OK);
		assert_int_equal(cap.n, 0);
		free(out);
	}
}

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };

/* Feeds input in the given mode; returns the feed status that ended it, bytes consumed in *used. */
static int feed_all(struct sf_tt_decoder *d, const uint8_t *in, size_t len, enum feed_mode mode,
		    size_t *used)
{
	size_t off = 0;
	int rc = SF_TT_OK;
	/* Every call consumes at least one byte unless it fails, so len + 1 calls bound the loop. */
	for (size_t calls = 0; calls <= len + 1; calls++) {
		size_t n = len - off;
		if (mode == FEED_BYTES && n > 1)
			n = 1;
		if (mode == FEED_RANDOM && n > 1) {
			/* Half the cuts small (inside prefixes), half anywhere. */
			size_t span = rng_next() % 2 && n > 8 ? 8 : n;
			n = 1 + rng_next() % span;
		}
		size_t u = 0;
		rc = sf_tt_decoder_feed(d, in + off, n, &u);
		assert_true(u <= n);
		off += u;
		if (rc != SF_TT_OK) {
			break;
		}
		assert_int_equal(u, n);
		if (off == len)
			break;
	}
	*used = off;
	return rc;
}

static void check_decode_case(json_t *c, enum feed_mode mode)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	uint8_t *in;
	size_t len = unhex(json_string_value(json_object_get(c, "input_hex")), &in);
	const char *end = json_string_value(json_object_get(c, "end"));
	size_t want_used = (size_t)json_integer_value(json_object_get(c, "input_bytes_consumed_at_end"));
	json_t *want_lens = json_object_get(c, "server_packet_lens");
	json_t *records = json_object_get(c, "records_hex");

	struct capture *cap = calloc(1, sizeof *cap);
	assert_non_null(cap);
	struct sf_tt_decoder d;
	sf_tt_decoder_init(&d, capture_packet, cap);
	size_t used = 0;
	int rc = feed_all(&d, in, len, mode, &used);

	if (strcmp(end, "too_long") == 0) {
		assert_int_equal(rc, SF_TT_ERR_TOO_LONG);
		assert_int_equal(sf_tt_decoder_finish(&d), SF_TT_ERR_TOO_LONG);
		/* The error is sticky: nothing more is taken. */
		size_t more = 1;
		uint8_t zero = 0x80;
		assert_int_equal(sf_tt_decoder_feed(&d, &zero, 1, &more), SF_TT_ERR_TOO_LONG);
		assert_int_equal(more, 0);
	} else {
		if (rc != SF_TT_OK)
			fail_msg("%s: feed returned %d", name, rc);
		assert_int_equal(sf_tt_decoder_finish(&d),
				 strcmp(end, "eof") == 0 ? SF_TT_OK : SF_TT_ERR_UNEXPECTED_EOF);
	}
	assert_int_equal(used, want_used);

	assert_int_equal(cap->n, json_array_size(want_lens));
	assert_true(cap->n <= MAX_PKTS);
	for (size_t i = 0; i < cap->n; i++) {
		size_t want = (size_t)json_integer_value(json_array_get(want_lens, i));
		assert_int_equal(cap->lens[i], want);
		/* The packet is the head of the record as Go returned it. */
		uint8_t *rec;
		size_t rlen = unhex(json_string_value(json_array_get(records, i)), &rec);
		assert_true(rlen >= want);
		assert_memory_equal(cap->data[i], rec, want);
		free(rec);
	}
	free(cap);
	free(in);
}

static void test_decode_vectors(void **state)
{
	(void)state;
	json_t *cases = json_object_get(vectors, "decode");
	assert_true(json_array_size(cases) >= 20);
	size_t i;
	json_t *c;
	json_array_foreach(cases, i, c) {
		check_decode_case(c, FEED_WHOLE);
		check_decode_case(c, FEED_BYTES);
		rng_state = 0x9e3779b97f4a7c15ull + i;
		for (int r = 0; r < RANDOM_ROUNDS; r++)
			check_decode_case(c, FEED_RANDOM);
	}
}

/* Token + ClientID + chunks, fed in the given mode through preamble then decoder. */
static void feed_upstream(const uint8_t *in, size_t len, enum feed_mode mode,
			  struct sf_tt_preamble *p, struct sf_tt_decoder *d)
{
	size_t off = 0;
	for (size_t calls = 0; calls <= len && off < len; calls++) {
		size_t n = len - off;
		if (mode == FEED_BYTES)
			n = 1;
		if (mode == FEED_RANDOM && n > 1)
			n = 1 + rng_next() % (n < 40 ? n : 40);
		size_t u = 0;
		if (!sf_tt_preamble_done(p)) {
			int rc = sf_tt_preamble_feed(p, in + off, n, &u);
			assert_true(rc == SF_TT_OK || rc == SF_TT_NEED_MORE);
			off += u;
			n -= u;
			if (n == 0)
				continue;
			assert_int_equal(rc, SF_TT_OK);
		}
		assert_int_equal(sf_tt_decoder_feed(d, in + off, n, &u), SF_TT_OK);
		assert_int_equal(u, n);
		off += n;
	}
	assert_int_equal(off, len);
}

static void test_upstream_example(void **state)
{
	(void)state;
	json_t *ex = json_object_get(vectors, "turbotunnel_upstream_example");
	uint8_t *stream, *token, *cid;
	size_t len = unhex(json_string_value(json_object_get(ex, "stream_hex")), &stream);
	assert_int_equal(unhex(json_string_value(json_object_get(ex, "token_hex")), &token), 8);
	assert_int_equal(unhex(json_string_value(json_object_get(ex, "client_id_hex")), &cid), 8);
	assert_memory_equal(token, sf_tt_token, 8);
	json_t *records = json_object_get(ex, "records_hex");

	rng_state = 42;
	for (int mode = FEED_WHOLE; mode <= FEED_RANDOM; mode++) {
		for (int r = 0; r < (mode == FEED_RANDOM ? RANDOM_ROUNDS : 1); r++) {
			struct sf_tt_preamble p = { 0 };
			struct capture cap = { 0 };
			struct sf_tt_decoder d;
			sf_tt_decoder_init(&d, capture_packet, &cap);
			feed_upstream(stream, len, mode, &p, &d);
			assert_true(sf_tt_preamble_done(&p));
			assert_memory_equal(sf_tt_preamble_clientid(&p), cid, 8);
			assert_int_equal(sf_tt_decoder_finish(&d), SF_TT_OK);
			assert_int_equal(cap.n, json_array_size(records));
			for (size_t i = 0; i < cap.n; i++)
				assert_bytes_hex(cap.data[i], cap.lens[i],
						 json_string_value(json_array_get(records, i)));
		}
	}
	free(stream);
	free(token);
	free(cid);
}

static void test_worked_stream_4_3(void **state)
{
	(void)state;
	/* docs/turbotunnel.md "Worked example", typed from the document: upstream stream and the
	 * downstream ACK. */
	static const char up[] =
		"1293605d278175f50102030405060708"
		"a0443322115100ffff00000000000000"
		"00000000000800000002000000030000"
		"00a2443322115100ffff000000000100"
		"0000000000000a000000020202000300"
		"00006869";
	uint8_t *in;
	size_t len = unhex(up, &in);
	struct sf_tt_preamble p = { 0 };
	struct capture cap = { 0 };
	struct sf_tt_decoder d;
	sf_tt_decoder_init(&d, capture_packet, &cap);
	feed_upstream(in, len, FEED_BYTES, &p, &d);
	static const uint8_t want_id[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	assert_memory_equal(sf_tt_preamble_clientid(&p), want_id, 8);
	assert_int_equal(cap.n, 2);
	assert_int_equal(cap.lens[0], 32);
	assert_int_equal(cap.lens[1], 34);
	assert_memory_equal(cap.data[1] + 32, "hi", 2);
	free(in);

	uint8_t *ack;
	size_t alen = unhex("443322115200fdff00000000010000000200000000000000", &ack);
	uint8_t out[SF_TT_ENCODED_MAX];
	size_t n = sf_tt_encode_packet(ack, alen, out, sizeof out);
	assert_int_equal(n, 25);	/* the frame's 0x19 payload length */
	assert_int_equal(out[0], 0x98);
	assert_memory_equal(out + 1, ack, alen);
	free(ack);
}

static void test_preamble(void **state)
{
	(void)state;
	uint8_t good[20];
	memcpy(good, sf_tt_token, 8);
	for (int i = 0; i < 12; i++)
		good[8 + i] = (uint8_t)(0xa0 + i);

	/* Whole, with 4 extra bytes left for the decoder. */
	struct sf_tt_preamble p = { 0 };
	size_t used = 0;
	assert_int_equal(sf_tt_preamble_feed(&p, good, sizeof good, &used), SF_TT_OK);
	assert_int_equal(used, 16);
	assert_memory_equal(sf_tt_preamble_clientid(&p), good + 8, 8);
	/* Done: takes nothing more. */
	assert_int_equal(sf_tt_preamble_feed(&p, good, 4, &used), SF_TT_OK);
	assert_int_equal(used, 0);

	/* Split 3 + 9 + 8. */
	memset(&p, 0, sizeof p);
	assert_int_equal(sf_tt_preamble_feed(&p, good, 3, &used), SF_TT_NEED_MORE);
	assert_int_equal(used, 3);
	assert_string_equal(sf_tt_preamble_eof_message(&p), "reading token: unexpected EOF");
	assert_int_equal(sf_tt_preamble_feed(&p, good + 3, 5, &used), SF_TT_NEED_MORE);
	assert_string_equal(sf_tt_preamble_eof_message(&p), "reading ClientID: EOF");
	assert_int_equal(sf_tt_preamble_feed(&p, good + 8, 4, &used), SF_TT_NEED_MORE);
	assert_string_equal(sf_tt_preamble_eof_message(&p), "reading ClientID: unexpected EOF");
	assert_int_equal(sf_tt_preamble_feed(&p, good + 12, 8, &used), SF_TT_OK);
	assert_int_equal(used, 4);
	assert_memory_equal(sf_tt_preamble_clientid(&p), good + 8, 8);
	assert_null(sf_tt_preamble_eof_message(&p));

	memset(&p, 0, sizeof p);
	assert_null(sf_tt_preamble_eof_message(&p));	/* unused proxy connection: not logged */

	/* Bad token: judged only once all 8 bytes are in, then nothing more is consumed. */
	uint8_t bad[16];
	memcpy(bad, good, 16);
	bad[7] ^= 1;
	memset(&p, 0, sizeof p);
	assert_int_equal(sf_tt_preamble_feed(&p, bad, 7, &used), SF_TT_NEED_MORE);
	assert_int_equal(sf_tt_preamble_feed(&p, bad + 7, 9, &used), SF_TT_ERR_BAD_TOKEN);
	assert_int_equal(used, 1);
	assert_int_equal(sf_tt_preamble_feed(&p, bad + 8, 8, &used), SF_TT_ERR_BAD_TOKEN);
	assert_int_equal(used, 0);

	bad[7] ^= 1;
	bad[0] = 'G';	/* e.g. someone speaking HTTP inside the WebSocket */
	memset(&p, 0, sizeof p);
	assert_int_equal(sf_tt_preamble_feed(&p, bad, 16, &used), SF_TT_ERR_BAD_TOKEN);
	assert_int_equal(used, 8);
}

static void test_stream_stays_in_sync(void **state)
{
	(void)state;
	/* A 3000-byte data chunk, padding, an empty data chunk, then a 2-byte chunk. */
	size_t len = 2 + 3000 + 3 + 1 + 3;
	uint8_t *in = malloc(len);
	assert_non_null(in);
	size_t off = 0;
	in[off++] = 0xd7;
	in[off++] = 0x38;
	for (int i = 0; i < 3000; i++)
		in[off++] = (uint8_t)(i * 7);
	in[off++] = 0x02;
	in[off++] = 0xee;
	in[off++] = 0xee;
	in[off++] = 0x80;
	in[off++] = 0x82;
	in[off++] = 'o';
	in[off++] = 'k';
	assert_int_equal(off, len);

	rng_state = 7;
	for (int mode = FEED_WHOLE; mode <= FEED_RANDOM; mode++) {
		struct capture *cap = calloc(1, sizeof *cap);
		assert_non_null(cap);
		struct sf_tt_decoder d;
		sf_tt_decoder_init(&d, capture_packet, cap);
		size_t used;
		assert_int_equal(feed_all(&d, in, len, mode, &used), SF_TT_OK);
		assert_int_equal(used, len);
		assert_int_equal(cap->n, 3);
		assert_int_equal(cap->lens[0], SF_TT_MTU);
		assert_memory_equal(cap->data[0], in + 2, SF_TT_MTU);
		assert_int_equal(cap->lens[1], 0);
		assert_int_equal(cap->lens[2], 2);
		assert_memory_equal(cap->data[2], "ok", 2);
		free(cap);
	}
	free(in);

	/* The decoder holds one MTU of packet data, not the 2048-byte read buffer. */
	assert_true(sizeof(struct sf_tt_decoder) < SF_TT_MTU + 64);
}

/* The largest encodable data record (0xFFFFF bytes, 3-byte prefix, ReadData's "longer than the
 * caller's buffer" case): one packet of its first MTU bytes, the rest skipped, and the record
 * after it is read in sync, as upstream's ReadData + io.ErrShortBuffer + QueueIncoming do. */
static void test_largest_record_truncated(void **state)
{
	(void)state;
	size_t body = SF_TT_LEN_MAX;
	size_t len = SF_TT_PREFIX_MAX + body + 3;
	uint8_t *in = malloc(len);
	assert_non_null(in);
	assert_int_equal(sf_tt_encode_prefix(body, in), SF_TT_PREFIX_MAX);
	for (size_t i = 0; i < body; i++)
		in[SF_TT_PREFIX_MAX + i] = (uint8_t)(i * 13 + 1);
	memcpy(in + SF_TT_PREFIX_MAX + body, "\x82ok", 3);

	struct capture *cap = calloc(1, sizeof *cap);
	assert_non_null(cap);
	struct sf_tt_decoder d;
	sf_tt_decoder_init(&d, capture_packet, cap);
	size_t used = 0;
	assert_int_equal(feed_all(&d, in, len, FEED_RANDOM, &used), SF_TT_OK);
	assert_int_equal(used, len);
	assert_int_equal(cap->n, 2);
	assert_int_equal(cap->lens[0], SF_TT_MTU);
	assert_memory_equal(cap->data[0], in + SF_TT_PREFIX_MAX, SF_TT_MTU);
	assert_int_equal(cap->lens[1], 2);
	assert_memory_equal(cap->data[1], "ok", 2);
	assert_int_equal(sf_tt_decoder_finish(&d), SF_TT_OK);
	free(cap);
	free(in);
}

static void test_callback_stop(void **state)
{
	(void)state;
	static const uint8_t in[] = { 0x81, 'a', 0x81, 'b', 0x81, 'c' };
	struct capture cap = { .stop_after = 1 };
	struct sf_tt_decoder d;
	sf_tt_decoder_init(&d, capture_packet, &cap);
	size_t used = 0;
	assert_int_equal(sf_tt_decoder_feed(&d, in, sizeof in, &used), SF_TT_STOPPED);
	assert_int_equal(used, 2);
	assert_int_equal(cap.n, 1);
	cap.stop_after = 0;
	assert_int_equal(sf_tt_decoder_feed(&d, in + used, sizeof in - used, &used), SF_TT_OK);
	assert_int_equal(used, 4);
	assert_int_equal(cap.n, 3);
	assert_int_equal(cap.data[2][0], 'c');

	/* Stopping on an empty data chunk, right after its prefix. */
	static const uint8_t empty[] = { 0x80, 0x81, 'z' };
	struct capture cap2 = { .stop_after = 1 };
	sf_tt_decoder_init(&d, capture_packet, &cap2);
	assert_int_equal(sf_tt_decoder_feed(&d, empty, sizeof empty, &used), SF_TT_STOPPED);
	assert_int_equal(used, 1);
	assert_int_equal(cap2.lens[0], 0);
}

/* Arbitrary bytes: however the input is split, the packets, status, bytes consumed and end
 * state are the same as when it is fed whole. */
static void test_split_invariance_random_input(void **state)
{
	(void)state;
	enum { STREAMS = 300, MAX_LEN = 3000 };
	static uint8_t in[MAX_LEN];
	rng_state = 0xdeadbeefcafef00dull;
	for (int s = 0; s < STREAMS; s++) {
		/* Mostly small chunks with real prefixes, sometimes raw noise. */
		size_t len = 0;
		while (len < MAX_LEN - 8) {
			uint32_t r = rng_next();
			if (r % 10 == 0) {
				in[len++] = (uint8_t)rng_next();
				continue;
			}
			size_t body = r % 5 == 0 ? rng_next() % 1600 : rng_next() % 40;
			uint8_t prefix[SF_TT_PREFIX_MAX];
			size_t plen = sf_tt_encode_prefix(body, prefix);
			if (r % 3 == 0)
				prefix[0] &= 0x7f;	/* padding */
			if (len + plen + body > MAX_LEN)
				break;
			memcpy(in + len, prefix, plen);
			len += plen;
			for (size_t k = 0; k < body; k++)
				in[len++] = (uint8_t)rng_next();
		}
		if (s % 2)
			len = rng_next() % (len + 1);	/* cut anywhere */

		struct capture *ref = calloc(1, sizeof *ref);
		struct capture *got = calloc(1, sizeof *got);
		assert_non_null(ref);
		assert_non_null(got);
		struct sf_tt_decoder d;
		size_t ref_used, used;
		sf_tt_decoder_init(&d, capture_packet, ref);
		int ref_rc = feed_all(&d, in, len, FEED_WHOLE, &ref_used);
		int ref_end = sf_tt_decoder_finish(&d);
		for (int mode = FEED_BYTES; mode <= FEED_RANDOM; mode++) {
			memset(got, 0, sizeof *got);
			sf_tt_decoder_init(&d, capture_packet, got);
			assert_int_equal(feed_all(&d, in, len, mode, &used), ref_rc);
			assert_int_equal(used, ref_used);
			assert_int_equal(sf_tt_decoder_finish(&d), ref_end);
			assert_int_equal(got->n, ref->n);
			for (size_t i = 0; i < ref->n && i < MAX_PKTS; i++) {
				assert_int_equal(got->lens[i], ref->lens[i]);
				assert_memory_equal(got->data[i], ref->data[i], ref->lens[i]);
			}
		}
		free(ref);
		free(got);
	}
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(sf_tt_strerror(SF_TT_ERR_TOO_LONG), "length prefix is too long");
	assert_string_equal(sf_tt_strerror(SF_TT_ERR_UNEXPECTED_EOF), "unexpected EOF");
	assert_string_equal(sf_tt_strerror(12345), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_data_vectors),
		cmocka_unit_test(test_encode_prefix_table),
		cmocka_unit_test(test_encode_padding_vectors),
		cmocka_unit_test(test_decode_vectors),
		cmocka_unit_test(test_upstream_example),
		cmocka_unit_test(test_worked_stream_4_3),
		cmocka_unit_test(test_preamble),
		cmocka_unit_test(test_stream_stays_in_sync),
		cmocka_unit_test(test_largest_record_truncated),
		cmocka_unit_test(test_callback_stop),
		cmocka_unit_test(test_split_invariance_random_input),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
