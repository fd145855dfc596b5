/* The ExtORPort client state machine against goptlib's transcripts (tests/vectors/extorport.json),
 * fed whole, byte by byte and all at once, plus the cases the transcripts do not cover. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tor/extor_handshake.h"
#include "tor_test_util.h"

#define STREAM_MAX 4096

static json_t *vectors;
static uint8_t cookie[32], nonce[32], server_nonce[32], server_hash[32];

static const uint8_t okay[4] = { 0x10, 0x00, 0x00, 0x00 };

static int setup(void **state)
{
	(void)state;
	vectors = vectors_load("extorport.json");
	if (!vectors)
		return -1;
	if (tor_test_unhex(tor_test_str(vectors, "cookie_hex"), cookie, 32) != 32 ||
	    tor_test_unhex(tor_test_str(vectors, "client_nonce_hex"), nonce, 32) != 32 ||
	    tor_test_unhex(tor_test_str(vectors, "server_nonce_hex"), server_nonce, 32) != 32 ||
	    tor_test_unhex(tor_test_str(vectors, "server_hash_hex"), server_hash, 32) != 32)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(vectors);
	return 0;
}

/* Appends the state machine's output to buf and drains it. */
static void collect(struct sf_tor_extor *x, uint8_t *buf, size_t *len)
{
	size_t n;
	const uint8_t *out = sf_tor_extor_output(x, &n);
	assert_true(*len + n <= STREAM_MAX);
	memcpy(buf + *len, out, n);
	*len += n;
	sf_tor_extor_drain(x, n);
}

static void check_outcome(struct sf_tor_extor *x, enum sf_tor_extor_status st, const char *result,
			  const char *name)
{
	if (strcmp(result, "ok") == 0) {
		if (st != SF_TOR_EXTOR_DONE)
			fail_msg("%s: status %d, error %s", name, st, sf_tor_extor_error(x));
		assert_null(sf_tor_extor_error(x));
	} else {
		assert_int_equal(st, SF_TOR_EXTOR_FAILED);
		assert_true(strncmp(result, "error: ", 7) == 0);
		assert_string_equal(sf_tor_extor_error(x), result + 7);
	}
}

/* Feeds tor->pt entries one at a time; after each, the output must be exactly the pt->tor
 * entries that follow it in the transcript. */
static void replay_by_entry(json_t *c, bool lazy_cookie)
{
	const char *name = tor_test_str(c, "name");
	json_t *transcript = json_object_get(c, "transcript");
	struct sf_tor_extor x;
	enum sf_tor_extor_status st = SF_TOR_EXTOR_NEED_MORE;
	size_t n_entries = json_array_size(transcript);

	sf_tor_extor_init(&x, lazy_cookie ? NULL : cookie, nonce, tor_test_str(c, "dialor_addr_arg"),
			  tor_test_str(c, "dialor_method_arg"));
	size_t out_len;
	sf_tor_extor_output(&x, &out_len);
	assert_int_equal(out_len, 0); /* tor speaks first */

	for (size_t i = 0; i < n_entries; i++) {
		json_t *e = json_array_get(transcript, i);
		if (strcmp(tor_test_str(e, "dir"), "tor->pt") != 0)
			continue;
		uint8_t in[STREAM_MAX], expected[STREAM_MAX], got[STREAM_MAX];
		long in_len = tor_test_unhex(tor_test_str(e, "hex"), in, sizeof in);
		assert_true(in_len >= 0);
		size_t used = 0, more = 0;
		st = sf_tor_extor_feed(&x, in, (size_t)in_len, &used);
		if (st == SF_TOR_EXTOR_NEED_COOKIE) {
			assert_true(lazy_cookie);
			sf_tor_extor_set_cookie(&x, cookie);
			st = sf_tor_extor_feed(&x, in + used, (size_t)in_len - used, &more);
			used += more;
		}
		assert_int_equal(used, (size_t)in_len);

		size_t exp_len = 0, got_len = 0;
		bool closed = false;
		for (size_t j = i + 1; j < n_entries; j++) {
			json_t *r = json_array_get(transcript, j);
			if (strcmp(tor_test_str(r, "dir"), "pt->tor") != 0)
				break;
			if (strncmp(tor_test_str(r, "what"), "connection closed", 17) == 0)
				closed = true;
			long n = tor_test_unhex(tor_test_str(r, "hex"), expected + exp_len,
					       sizeof expected - exp_len);
			assert_true(n >= 0);
			exp_len += (size_t)n;
		}
		collect(&x, got, &got_len);
		if (got_len != exp_len || memcmp(got, expected, exp_len) != 0)
			fail_msg("%s: output after entry %zu differs (%zu bytes, want %zu)", name, i, got_len,
				 exp_len);
		if (closed)
			assert_int_equal(st, SF_TOR_EXTOR_FAILED);
	}
	check_outcome(&x, st, tor_test_str(c, "goptlib_result"), name);
}

/* Concatenates one direction of a transcript. */
static size_t transcript_stream(json_t *c, const char *dir, uint8_t *buf)
{
	json_t *transcript = json_object_get(c, "transcript");
	size_t len = 0;
	for (size_t i = 0; i < json_array_size(transcript); i++) {
		json_t *e = json_array_get(transcript, i);
		if (strcmp(tor_test_str(e, "dir"), dir) != 0)
			continue;
		long n = tor_test_unhex(tor_test_str(e, "hex"), buf + len, STREAM_MAX - len);
		assert_true(n >= 0);
		len += (size_t)n;
	}
	return len;
}

/* One byte at a time, draining after each: same bytes out, same outcome. */
static void replay_bytewise(json_t *c)
{
	uint8_t in[STREAM_MAX], expected[STREAM_MAX], got[STREAM_MAX];
	size_t in_len = transcript_stream(c, "tor->pt", in);
	size_t exp_len = transcript_stream(c, "pt->tor", expected);
	size_t got_len = 0;
	struct sf_tor_extor x;
	enum sf_tor_extor_status st = SF_TOR_EXTOR_NEED_MORE;

	sf_tor_extor_init(&x, cookie, nonce, tor_test_str(c, "dialor_addr_arg"),
			  tor_test_str(c, "dialor_method_arg"));
	for (size_t i = 0; i < in_len; i++) {
		size_t used = 0;
		assert_int_not_equal(st, SF_TOR_EXTOR_DONE);
		st = sf_tor_extor_feed(&x, in + i, 1, &used);
		collect(&x, got, &got_len);
		if (st == SF_TOR_EXTOR_FAILED)
			break;
		assert_int_equal(used, 1);
	}
	assert_int_equal(got_len, exp_len);
	assert_memory_equal(got, expected, exp_len);
	check_outcome(&x, st, tor_test_str(c, "goptlib_result"), tor_test_str(c, "name"));
}

/* Everything tor sent in one feed (as if it all arrived early): read as the same fields. */
static void replay_all_at_once(json_t *c)
{
	uint8_t in[STREAM_MAX], expected[STREAM_MAX], got[STREAM_MAX];
	size_t in_len = transcript_stream(c, "tor->pt", in);
	size_t exp_len = transcript_stream(c, "pt->tor", expected);
	size_t got_len = 0, used = 0;
	struct sf_tor_extor x;

	sf_tor_extor_init(&x, cookie, nonce, tor_test_str(c, "dialor_addr_arg"),
			  tor_test_str(c, "dialor_method_arg"));
	enum sf_tor_extor_status st = sf_tor_extor_feed(&x, in, in_len, &used);
	collect(&x, got, &got_len);
	check_outcome(&x, st, tor_test_str(c, "goptlib_result"), tor_test_str(c, "name"));
	if (st == SF_TOR_EXTOR_DONE) {
		assert_int_equal(used, in_len);
		assert_int_equal(got_len, exp_len);
		assert_memory_equal(got, expected, exp_len);
	} else {
		assert_int_equal(got_len, 0); /* a failed handshake sends nothing more */
	}
}

static void test_transcripts(void **state)
{
	(void)state;
	json_t *cases = json_object_get(vectors, "cases");
	assert_true(json_array_size(cases) >= 9);
	for (size_t i = 0; i < json_array_size(cases); i++) {
		json_t *c = json_array_get(cases, i);
		replay_by_entry(c, false);
		replay_by_entry(c, true);
		replay_bytewise(c);
		replay_all_at_once(c);
	}
}

static void test_hashes_match_vectors(void **state)
{
	(void)state;
	uint8_t want_client_hash[32], in[128], got[STREAM_MAX];
	size_t got_len = 0, used;
	struct sf_tor_extor x;

	assert_int_equal(tor_test_unhex(tor_test_str(vectors, "client_hash_hex"), want_client_hash, 32), 32);
	sf_tor_extor_init(&x, cookie, nonce, NULL, NULL);
	in[0] = 1;
	in[1] = 0;
	sf_tor_extor_feed(&x, in, 2, &used);
	collect(&x, got, &got_len);
	assert_int_equal(got_len, 33);
	assert_int_equal(got[0], 1);
	assert_memory_equal(got + 1, nonce, 32);

	memcpy(in, server_hash, 32);
	memcpy(in + 32, server_nonce, 32);
	got_len = 0;
	assert_int_equal(sf_tor_extor_feed(&x, in, 64, &used), SF_TOR_EXTOR_NEED_MORE);
	collect(&x, got, &got_len);
	assert_int_equal(got_len, 32);
	assert_memory_equal(got, want_client_hash, 32);
}

/* Feeds auth types 01 00, the right ServerHash/ServerNonce and status 1; drains the output. */
static void authenticate(struct sf_tor_extor *x, const char *useraddr, const char *transport)
{
	uint8_t in[67], sink[STREAM_MAX];
	size_t used, sink_len = 0;

	sf_tor_extor_init(x, cookie, nonce, useraddr, transport);
	in[0] = 1;
	in[1] = 0;
	memcpy(in + 2, server_hash, 32);
	memcpy(in + 34, server_nonce, 32);
	in[66] = 1;
	assert_int_equal(sf_tor_extor_feed(x, in, sizeof in, &used), SF_TOR_EXTOR_NEED_MORE);
	assert_int_equal(used, sizeof in);
	collect(x, sink, &sink_len);
}

static void test_leftover_after_okay(void **state)
{
	(void)state;
	struct sf_tor_extor x;
	uint8_t in[] = { 0x10, 0x00, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o' };
	size_t used;

	authenticate(&x, "192.0.2.7:1", "snowflake");
	assert_int_equal(sf_tor_extor_want(&x), 4);
	assert_int_equal(sf_tor_extor_feed(&x, in, sizeof in, &used), SF_TOR_EXTOR_DONE);
	assert_int_equal(used, 4);
	assert_int_equal(sf_tor_extor_want(&x), 0);
	/* Done stays done; nothing more is consumed. */
	assert_int_equal(sf_tor_extor_feed(&x, in + 4, 5, &used), SF_TOR_EXTOR_DONE);
	assert_int_equal(used, 0);
}

static void test_reply_body_is_read_then_ignored(void **state)
{
	(void)state;
	struct sf_tor_extor x;
	uint8_t okay_body[] = { 0x10, 0x00, 0x00, 0x03, 'a', 'b', 'c', 'D' };
	uint8_t deny_body[] = { 0x10, 0x01, 0x00, 0x02, 'x', 'y' };
	uint8_t unknown[] = { 0xab, 0xcd, 0x00, 0x01, 'z' };
	size_t used;

	authenticate(&x, NULL, "snowflake");
	assert_int_equal(sf_tor_extor_feed(&x, okay_body, 5, &used), SF_TOR_EXTOR_NEED_MORE);
	assert_int_equal(sf_tor_extor_want(&x), 2);
	assert_int_equal(sf_tor_extor_feed(&x, okay_body + 5, 3, &used), SF_TOR_EXTOR_DONE);
	assert_int_equal(used, 2);

	authenticate(&x, NULL, "snowflake");
	assert_int_equal(sf_tor_extor_feed(&x, deny_body, 5, &used), SF_TOR_EXTOR_NEED_MORE);
	assert_int_equal(sf_tor_extor_feed(&x, deny_body + 5, 1, &used), SF_TOR_EXTOR_FAILED);
	assert_string_equal(sf_tor_extor_error(&x), "server returned DENY after our USERADDR and DONE");

	authenticate(&x, NULL, "snowflake");
	assert_int_equal(sf_tor_extor_feed(&x, unknown, sizeof unknown, &used), SF_TOR_EXTOR_FAILED);
	assert_string_equal(sf_tor_extor_error(&x),
			    "server returned unknown command 0xabcd after our USERADDR and DONE");
}

static void test_auth_type_list(void **state)
{
	(void)state;
	struct sf_tor_extor x;
	uint8_t in[300];
	size_t used, out_len;

	/* 256 types without a terminator: goptlib gives up. */
	memset(in, 1, sizeof in);
	sf_tor_extor_init(&x, cookie, nonce, NULL, "snowflake");
	assert_int_equal(sf_tor_extor_feed(&x, in, sizeof in, &used), SF_TOR_EXTOR_FAILED);
	assert_int_equal(used, 256);
	assert_string_equal(sf_tor_extor_error(&x), "read 256 auth types without seeing \\x00");

	/* 255 types then the terminator is fine. */
	sf_tor_extor_init(&x, cookie, nonce, NULL, "snowflake");
	in[255] = 0;
	assert_int_equal(sf_tor_extor_feed(&x, in, 256, &used), SF_TOR_EXTOR_NEED_MORE);
	assert_int_equal(used, 256);
	sf_tor_extor_output(&x, &out_len);
	assert_int_equal(out_len, 33);

	/* Nothing is sent before the terminator. */
	sf_tor_extor_init(&x, cookie, nonce, NULL, "snowflake");
	assert_int_equal(sf_tor_extor_feed(&x, in, 10, &used), SF_TOR_EXTOR_NEED_MORE);
	sf_tor_extor_output(&x, &out_len);
	assert_int_equal(out_len, 0);
	assert_int_equal(sf_tor_extor_want(&x), 1);
}

static void test_wrong_cookie_and_status(void **state)
{
	(void)state;
	struct sf_tor_extor x;
	uint8_t other[32], in[67];
	size_t used, out_len;

	memset(other, 0x55, sizeof other);
	in[0] = 1;
	in[1] = 0;
	memcpy(in + 2, server_hash, 32);
	memcpy(in + 34, server_nonce, 32);
	in[66] = 1;
	sf_tor_extor_init(&x, other, nonce, NULL, "snowflake");
	assert_int_equal(sf_tor_extor_feed(&x, in, sizeof in, &used), SF_TOR_EXTOR_FAILED);
	assert_int_equal(used, 66);
	assert_string_equal(sf_tor_extor_error(&x), "mismatch in server hash");
	sf_tor_extor_output(&x, &out_len);
	assert_int_equal(out_len, 0); /* no ClientHash for an unverified server */

	in[66] = 2; /* only 1 means success */
	sf_tor_extor_init(&x, cookie, nonce, NULL, "snowflake");
	assert_int_equal(sf_tor_extor_feed(&x, in, sizeof in, &used), SF_TOR_EXTOR_FAILED);
	assert_string_equal(sf_tor_extor_error(&x), "server rejected authentication");
}

static void test_eof_texts(void **state)
{
	(void)state;
	struct sf_tor_extor x;
	uint8_t in[67];
	size_t used;

	in[0] = 1;
	in[1] = 0;
	memcpy(in + 2, server_hash, 32);
	memcpy(in + 34, server_nonce, 32);
	in[66] = 1;

	static const struct {
		size_t fed;
		const char *err;
	} cases[] = {
		{ 0, "EOF" },  { 1, "EOF" },  { 2, "EOF" }, { 12, "unexpected EOF" }, { 34, "EOF" },
		{ 40, "unexpected EOF" }, { 66, "EOF" }, { 67, "EOF" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sf_tor_extor_init(&x, cookie, nonce, NULL, "snowflake");
		sf_tor_extor_feed(&x, in, cases[i].fed, &used);
		sf_tor_extor_eof(&x);
		assert_int_equal(sf_tor_extor_status(&x), SF_TOR_EXTOR_FAILED);
		assert_string_equal(sf_tor_extor_error(&x), cases[i].err);
	}

	authenticate(&x, NULL, "snowflake");
	sf_tor_extor_feed(&x, okay, 2, &used);
	sf_tor_extor_eof(&x);
	assert_string_equal(sf_tor_extor_error(&x), "unexpected EOF");

	/* After OKAY an EOF is the caller's business, not a handshake failure. */
	authenticate(&x, NULL, "snowflake");
	sf_tor_extor_feed(&x, okay, 4, &used);
	sf_tor_extor_eof(&x);
	assert_int_equal(sf_tor_extor_status(&x), SF_TOR_EXTOR_DONE);
}

static void test_want_never_passes_okay(void **state)
{
	(void)state;
	struct sf_tor_extor x;
	uint8_t in[67];
	size_t used;

	in[0] = 1;
	in[1] = 0;
	memcpy(in + 2, server_hash, 32);
	memcpy(in + 34, server_nonce, 32);
	in[66] = 1;
	sf_tor_extor_init(&x, NULL, nonce, NULL, "snowflake");
	assert_int_equal(sf_tor_extor_want(&x), 1);
	sf_tor_extor_feed(&x, in, 2, &used);
	assert_int_equal(sf_tor_extor_want(&x), 64);
	sf_tor_extor_feed(&x, in + 2, 40, &used);
	assert_int_equal(sf_tor_extor_want(&x), 24);
	assert_int_equal(sf_tor_extor_feed(&x, in + 42, 25, &used), SF_TOR_EXTOR_NEED_COOKIE);
	assert_int_equal(used, 24); /* stops before the status byte until the cookie is known */
	assert_int_equal(sf_tor_extor_want(&x), 0);
	sf_tor_extor_set_cookie(&x, cookie);
	assert_int_equal(sf_tor_extor_feed(&x, in + 66, 1, &used), SF_TOR_EXTOR_NEED_MORE);
	assert_int_equal(sf_tor_extor_want(&x), 4);
}

static void test_commands_sent(void **state)
{
	(void)state;
	struct sf_tor_extor x;
	uint8_t in[67], got[STREAM_MAX];
	size_t used, got_len = 0;
	static const uint8_t only_done[] = { 0, 0, 0, 0 };

	in[0] = 1;
	in[1] = 0;
	memcpy(in + 2, server_hash, 32);
	memcpy(in + 34, server_nonce, 32);
	in[66] = 1;

	/* No USERADDR, no TRANSPORT: DONE alone. */
	sf_tor_extor_init(&x, cookie, nonce, "", NULL);
	sf_tor_extor_feed(&x, in, 66, &used);
	collect(&x, got, &got_len);
	got_len = 0;
	sf_tor_extor_feed(&x, in + 66, 1, &used);
	collect(&x, got, &got_len);
	assert_int_equal(got_len, 4);
	assert_memory_equal(got, only_done, 4);

	/* Commands go out only after status 1 arrived, never earlier. */
	sf_tor_extor_init(&x, cookie, nonce, "[2001:db8::1]:1", "snowflake");
	got_len = 0;
	sf_tor_extor_feed(&x, in, 66, &used);
	collect(&x, got, &got_len);
	assert_int_equal(got_len, 33 + 32);

	char longer[SF_TOR_EXTOR_FIELD_MAX + 2];
	memset(longer, 'a', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	sf_tor_extor_init(&x, cookie, nonce, longer, "snowflake");
	assert_int_equal(sf_tor_extor_status(&x), SF_TOR_EXTOR_FAILED);
	assert_int_equal(sf_tor_extor_feed(&x, in, sizeof in, &used), SF_TOR_EXTOR_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transcripts),
		cmocka_unit_test(test_hashes_match_vectors),
		cmocka_unit_test(test_leftover_after_okay),
		cmocka_unit_test(test_reply_body_is_read_then_ignored),
		cmocka_unit_test(test_auth_type_list),
		cmocka_unit_test(test_wrong_cookie_and_status),
		cmocka_unit_test(test_eof_texts),
		cmocka_unit_test(test_want_never_passes_okay),
		cmocka_unit_test(test_commands_sent),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
