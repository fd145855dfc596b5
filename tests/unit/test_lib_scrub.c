/* sf_scrub against upstream safelog: every example of docs/logging.md, every case of upstream's
 * common/safelog/log_test.go, and edge cases whose expected output was produced by running the
 * real safelog.Scrub (snowflake 2.5.1, Go 1.19). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

struct scrub_case {
	const char *in;
	const char *want;
};

static void check_cases(const struct scrub_case *cases, size_t n)
{
	char out[8192];
	for (size_t i = 0; i < n; i++) {
		size_t len = sf_scrub(cases[i].in, strlen(cases[i].in), out, sizeof out);
		if (strcmp(out, cases[i].want) != 0)
			print_error("input %zu: \"%s\"\n", i, cases[i].in);
		assert_string_equal(out, cases[i].want);
		assert_int_equal(len, strlen(cases[i].want));
	}
}

#define CHECK(cases) check_cases(cases, sizeof cases / sizeof cases[0])

/* The examples of docs/logging.md. */
static void test_protocols_examples(void **state)
{
	(void)state;
	static const struct scrub_case cases[] = {
		{ "dial tcp 127.0.0.1:9001: connect", "dial tcp [scrubbed]: connect" },
		{ "[2001:db8::1]:1 and 192.0.2.7:1", "[scrubbed] and [scrubbed]" },
		{ "client_ip=2001%3Adb8%3A%3A1 ok", "client_ip=[scrubbed] ok" },
		{ "x1.2.3.4 1.2.3.4x 1.2.3.4, (1.2.3.4)", "x1.2.3.4 1.2.3.4x [scrubbed], ([scrubbed])" },
		{ "fe80::1%eth0", "[scrubbed]%eth0" },
		{ "mac 00:11:22:33:44:55", "mac [scrubbed]" },
		{ "2019/05/08 15:37:31 starting", "2019/05/08 15:37:31 starting" },
		{ "12:34:56", "12:34:56" },
		{ "999.999.999.999", "[scrubbed]" },
	};
	CHECK(cases);
}

/* log_test.go TestLogScrubberMessages: Go's log.Print appends the "\n" seen in the expectations. */
static void test_upstream_messages(void **state)
{
	(void)state;
	static const struct scrub_case cases[] = {
		{ "http: TLS handshake error from 129.97.208.23:38310: \n",
		  "http: TLS handshake error from [scrubbed]: \n" },
		{ "http2: panic serving [2620:101:f000:780:9097:75b1:519f:dbb8]:58344: interface conversion: "
		  "*http2.responseWriter is not http.Hijacker: missing method Hijack\n",
		  "http2: panic serving [scrubbed]: interface conversion: *http2.responseWriter is not "
		  "http.Hijacker: missing method Hijack\n" },
		{ "a=fingerprint:sha-256 33:B6:FA:F6:94:CA:74:61:45:4A:D2:1F:2C:2F:75:8A:D9:EB:23:34:B2:30:"
		  "E9:1B:2A:A6:A9:E0:44:72:CC:74\n",
		  "a=fingerprint:sha-256 33:B6:FA:F6:94:CA:74:61:45:4A:D2:1F:2C:2F:75:8A:D9:EB:23:34:B2:30:"
		  "E9:1B:2A:A6:A9:E0:44:72:CC:74\n" },
		{ "(1:2:3:4:c:d:e:f) {1:2:3:4:c:d:e:f}\n", "([scrubbed]) {[scrubbed]}\n" },
		{ "2019/05/08 15:37:31 starting\n", "2019/05/08 15:37:31 starting\n" },
		{ "error dialing relay: wss://snowflake.torproject.net/?client_ip=6201%3ac8%3A3004%3A%3A1234\n",
		  "error dialing relay: wss://snowflake.torproject.net/?client_ip=[scrubbed]\n" },
		{ "http2: panic serving [fd00%3a111%3af000%3a777%3a9999%3abbbb%3affff%3adddd]:58344: xxx\n",
		  "http2: panic serving [scrubbed]: xxx\n" },
		{ "error dialing relay: wss://snowflake.torproject.net/?client_ip="
		  "fd00%3A8888%3Abbbb%3Acccc%3Adddd%3Aeeee%3A2222%3A123 = dial tcp xxx\n",
		  "error dialing relay: wss://snowflake.torproject.net/?client_ip=[scrubbed] = dial tcp xxx\n" },
		{ "http2: panic serving [1%3A2%3A3%3A%3Ad%3Ae%3Af]:55: xxx\n",
		  "http2: panic serving [scrubbed]: xxx\n" },
		{ "error dialing relay: wss://snowflake.torproject.net/?client_ip=1%3A2%3A3%3A%3Ad%3Ae%3Af = dial tcp xxx\n",
		  "error dialing relay: wss://snowflake.torproject.net/?client_ip=[scrubbed] = dial tcp xxx\n" },
	};
	CHECK(cases);
}

/* log_test.go TestLogScrubberGoodFormats: each address alone on a line becomes "[scrubbed]\n". */
static void test_upstream_good_formats(void **state)
{
	(void)state;
	static const char *const addrs[] = {
		"1.2.3.4", "255.255.255.255",
		"1.2.3.4:55", "255.255.255.255:65535",
		"1:2:3:4:c:d:e:f", "1111:2222:3333:4444:CCCC:DDDD:EEEE:FFFF",
		"[1:2:3:4:c:d:e:f]", "[1111:2222:3333:4444:CCCC:DDDD:EEEE:FFFF]",
		"[1:2:3:4:c:d:e:f]:55", "[1111:2222:3333:4444:CCCC:DDDD:EEEE:FFFF]:65535",
		"::f", "::d:e:f", "1:2:3::", "1:2:3::d:e:f", "1:2:3:d:e:f::", "::1:2:3:d:e:f",
		"1111:2222:3333::DDDD:EEEE:FFFF",
		"[::d:e:f]", "[1:2:3::]", "[1:2:3::d:e:f]", "[1111:2222:3333::DDDD:EEEE:FFFF]",
		"[1:2:3:4:5:6::8]", "[1::7:8]",
		"[1::]:58344", "[::d:e:f]:55", "[1:2:3::]:55", "[1:2:3::d:e:f]:55",
		"[1111:2222:3333::DDDD:EEEE:FFFF]:65535",
		"::255.255.255.255", "::ffff:255.255.255.255", "[::255.255.255.255]",
		"[::ffff:255.255.255.255]", "[::255.255.255.255]:65535", "[::ffff:255.255.255.255]:65535",
		"[::ffff:0:255.255.255.255]", "[2001:db8:3:4::192.0.2.33]",
	};
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		char in[128], out[128];
		int n = snprintf(in, sizeof in, "%s\n", addrs[i]);
		sf_scrub(in, (size_t)n, out, sizeof out);
		if (strcmp(out, "[scrubbed]\n") != 0)
			print_error("address %s\n", addrs[i]);
		assert_string_equal(out, "[scrubbed]\n");
	}
}

/* log_test.go TestLogScrubberSplit: the writer there buffers until "\n"; our log entries are
 * always whole, so the whole text is scrubbed at once and must give the same final output. */
static void test_upstream_split_text(void **state)
{
	(void)state;
	static const struct scrub_case cases[] = {
		{ "test\nhttp2: panic serving [2620:101:f000:780:9097:75b1:519f:dbb8]:58344: interface "
		  "conversion: *http2.responseWriter is not http.Hijacker: missing method Hijack\n",
		  "test\nhttp2: panic serving [scrubbed]: interface conversion: *http2.responseWriter is "
		  "not http.Hijacker: missing method Hijack\n" },
	};
	CHECK(cases);
}

/* Expected outputs produced by the real safelog.Scrub; they pin Go's exact match choices. */
static void test_go_edge_cases(void **state)
{
	(void)state;
	static const struct scrub_case cases[] = {
		/* The trailing delimiter is consumed: a single space does not start the next match. */
		{ "1.2.3.4 5.6.7.8", "[scrubbed] 5.6.7.8" },
		{ "1.2.3.4  5.6.7.8", "[scrubbed]  [scrubbed]" },
		{ "1.2.3.4\t5.6.7.8", "[scrubbed]\t5.6.7.8" },
		{ "10.0.0.1:443,10.0.0.2:443", "[scrubbed],10.0.0.2:443" },
		{ "tcp 127.0.0.1:9001->127.0.0.1:443", "tcp [scrubbed]->[scrubbed]" },
		/* Ports and trailers. */
		{ "1.2.3.4:123456", "1.2.3.4:123456" },
		{ "1.2.3.4.5", "[scrubbed].5" },
		{ "1111.2.3.4", "1111.2.3.4" },
		{ "1.2.3.4:", "1.2.3.4:" },
		{ "1.2.3.4:x", "1.2.3.4:x" },
		{ "1.2.3.4: x", "[scrubbed]: x" },
		{ "1.2.3.4:80: x", "[scrubbed]: x" },
		{ "1.2.3.4_", "1.2.3.4_" },
		{ "1.2.3.4\v", "[scrubbed]\v" },	/* \v is not \s in Go but is [^\w:] */
		{ "x\n1.2.3.4\n", "x\n[scrubbed]\n" },
		/* Runes: a multi-byte delimiter is consumed whole, an invalid byte counts as one rune. */
		{ "\xc3\xa9" "1.2.3.4" "\xc3\xa9" "5.6.7.8", "\xc3\xa9[scrubbed]\xc3\xa9" "5.6.7.8" },
		{ "\xff" "1.2.3.4" "\xff" "5.6.7.8", "\xff[scrubbed]\xff" "5.6.7.8" },
		{ "\xc3", "\xc3" },
		/* IPv6 shapes. */
		{ "::", "[scrubbed]" },
		{ " :: :: ", " [scrubbed] :: " },
		{ "1:2:3:4:5:6:7:8:9", "[scrubbed]" },
		{ "1:2:3:4:5:6", "[scrubbed]" },
		{ "1:2:3:4:5", "1:2:3:4:5" },
		{ "a:b:c:d:e", "a:b:c:d:e" },
		{ "12345::1", "12345::1" },
		{ "deadbeef::1", "deadbeef::1" },
		{ "1::2::3", "[scrubbed]" },
		{ "%3a%3a1", "[scrubbed]" },
		{ "fe80::1%25eth0", "[scrubbed]%25eth0" },
		{ "2001:db8::1:443", "[scrubbed]" },
		{ "::ffff:1.2.3.4:80", "[scrubbed]" },
		{ "[::ffff:1.2.3.4]:80", "[scrubbed]" },
		/* Brackets. */
		{ "[::1]x", "[scrubbed]x" },
		{ "a[::1]", "a[scrubbed]" },
		{ "[1::2", "[[scrubbed]" },
		{ "1::2]", "[scrubbed]]" },
		{ "[1.2.3.4]", "[[scrubbed]]" },
		{ "[1.2.3.4]:80", "[[scrubbed]]:80" },
		{ "addr=[2001:db8::1]:443;", "addr=[scrubbed];" },
		{ "http://[::1]:8080/path", "http://[scrubbed]/path" },
		{ "", "" },
	};
	CHECK(cases);
}

static char *repeat(const char *unit, size_t times)
{
	size_t ul = strlen(unit);
	char *s = malloc(ul * times + 1);
	assert_non_null(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * times] = '\0';
	return s;
}

static void check_repeat(const char *unit_in, size_t n_in, const char *unit_out, size_t n_out)
{
	char *in = repeat(unit_in, n_in);
	char *want = repeat(unit_out, n_out);
	size_t cap = 5 * strlen(in) + 1;
	char *out = malloc(cap);
	assert_non_null(out);
	size_t len = sf_scrub(in, strlen(in), out, cap);
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
	free(in);
	free(want);
	free(out);
}

/* Long lines built to provoke the most backtracking; expected results from safelog.Scrub. */
static void test_long_lines(void **state)
{
	(void)state;
	check_repeat(":", 4096, ":", 4096);
	check_repeat("1:", 2048, "1:", 2048);
	check_repeat("ffff:", 800, "ffff:", 800);
	check_repeat("1.2.3.4 ", 512, "[scrubbed] 1.2.3.4 ", 256);
	check_repeat(" :: ", 1000, " [scrubbed] ", 1000);
	check_repeat("(::)", 1000, "([scrubbed])", 1000);
}

static void test_cap(void **state)
{
	(void)state;
	const char *in = "from 1.2.3.4 and 5.6.7.8:9 done";
	const char *full = "from [scrubbed] and [scrubbed] done";
	char out[64];

	assert_int_equal(sf_scrub(in, strlen(in), out, 0), 0);

	memset(out, 'Z', sizeof out);
	assert_int_equal(sf_scrub(in, strlen(in), out, 1), 0);
	assert_int_equal(out[0], '\0');

	/* Every cap: a prefix of the full output, NUL-terminated, and not one byte past cap. */
	for (size_t cap = 1; cap <= strlen(full) + 1; cap++) {
		memset(out, 'Z', sizeof out);
		size_t len = sf_scrub(in, strlen(in), out, cap);
		assert_int_equal(len, cap - 1);
		assert_int_equal(out[len], '\0');
		assert_memory_equal(out, full, len);
		assert_int_equal(out[cap], 'Z');
	}
	assert_int_equal(sf_scrub(in, strlen(in), out, sizeof out), strlen(full));

	/* The worst expansion is 5x ("::" -> "[scrubbed]"). */
	assert_int_equal(sf_scrub("::", 2, out, sizeof out), 10);
	assert_string_equal(out, "[scrubbed]");
}

/* Only len bytes are read: the text need not be NUL-terminated. */
static void test_length_bounded(void **state)
{
	(void)state;
	const char text[] = "ip 1.2.3.45";
	char out[64];
	/* "ip 1.2.3.4" then end of text: the address is whole there. */
	assert_int_equal(sf_scrub(text, 10, out, sizeof out), strlen("ip [scrubbed]"));
	assert_string_equal(out, "ip [scrubbed]");
	assert_int_equal(sf_scrub(text, 4, out, sizeof out), 4);
	assert_string_equal(out, "ip 1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocols_examples),
		cmocka_unit_test(test_upstream_messages),
		cmocka_unit_test(test_upstream_good_formats),
		cmocka_unit_test(test_upstream_split_text),
		cmocka_unit_test(test_go_edge_cases),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_length_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
