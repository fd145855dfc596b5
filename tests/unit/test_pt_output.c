/* PT -> tor stdout lines (docs/pt.md): CString and SMETHOD ARGS encodings, the line
 * writer's sanitizing, and the Go %q quoting used in error texts. Expected strings were checked
 * against goptlib and Go's strconv.Quote. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt/args.h"
#include "pt/gostr.h"
#include "pt/output.h"

struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void capture_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

/* Closes the stream and checks everything written. */
static void capture_expect(struct capture *c, const char *want)
{
	fclose(c->f);
	assert_string_equal(c->buf, want);
	free(c->buf);
}

static void expect_cstring(const char *in, const char *want)
{
	char *enc = sf_pt_encode_cstring(in);
	assert_non_null(enc);
	assert_string_equal(enc, want);
	free(enc);
}

static void test_cstring(void **state)
{
	(void)state;
	expect_cstring("", "\"\"");
	expect_cstring("snowflake-server", "\"snowflake-server\"");
	expect_cstring("2.11.0 (1a2b3c4d*)", "\"2.11.0 (1a2b3c4d*)\"");
	expect_cstring("\"", "\"\\042\"");
	expect_cstring("\\", "\"\\134\"");
	expect_cstring("\n", "\"\\012\"");
	expect_cstring("abc\"def", "\"abc\\042def\"");
	/* Always 3 digits, so a following digit cannot join the escape. */
	expect_cstring("\x01" "23abc", "\"\\00123abc\"");
	expect_cstring("\n\r\t\x7f", "\"\\012\\015\\011\\177\"");
	expect_cstring("\\377", "\"\\134377\"");
	expect_cstring("\xc3\xa9\xff", "\"\\303\\251\\377\"");
	expect_cstring(" !#[]~", "\" !#[]~\"");
}

/* Every byte 1..255: kept iff in 0x20-0x21, 0x23-0x5b, 0x5d-0x7e, else \ooo. */
static void test_cstring_all_bytes(void **state)
{
	(void)state;
	char in[256];
	for (int i = 1; i < 256; i++)
		in[i - 1] = (char)i;
	in[255] = '\0';
	char *enc = sf_pt_encode_cstring(in);
	assert_non_null(enc);
	const char *p = enc;
	assert_int_equal(*p++, '"');
	for (int c = 1; c < 256; c++) {
		bool plain = c == 0x20 || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
			     (c >= 0x5d && c <= 0x7e);
		if (plain) {
			assert_int_equal((unsigned char)*p, c);
			p++;
		} else {
			char want[5];
			snprintf(want, sizeof want, "\\%03o", c);
			assert_memory_equal(p, want, 4);
			p += 4;
		}
	}
	assert_string_equal(p, "\"");
	/* The result is always a safe PT line argument. */
	for (p = enc; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	free(enc);
}

static char *encode(const struct sf_pt_args *args)
{
	char *s = sf_pt_encode_smethod_args(args);
	assert_non_null(s);
	return s;
}

static void expect_args(struct sf_pt_args *args, const char *want)
{
	char *s = encode(args);
	assert_string_equal(s, want);
	free(s);
	sf_pt_args_free(args);
}

static struct sf_pt_args *args_of(const char *const *kv, size_t n)
{
	struct sf_pt_args *a = sf_pt_args_new();
	assert_non_null(a);
	for (size_t i = 0; i + 1 < n; i += 2)
		assert_int_equal(sf_pt_args_add(a, kv[i], kv[i + 1]), 0);
	return a;
}

#define ARGS(...) args_of((const char *[]){ __VA_ARGS__ }, \
			  sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *))

static void test_smethod_args_encoding(void **state)
{
	(void)state;
	char *s = encode(NULL);
	assert_string_equal(s, "");
	free(s);
	expect_args(sf_pt_args_new(), "");
	expect_args(ARGS("secret", "yes"), "secret=yes");
	/* Keys sorted bytewise, values in insertion order. */
	expect_args(ARGS("secret", "nou", "cache", "/tmp/cache"), "cache=/tmp/cache,secret=nou");
	expect_args(ARGS("k", "v1", "j", "v1", "k", "v2", "j", "v2", "k", "v3", "j", "v3"),
		    "j=v1,j=v2,j=v3,k=v1,k=v2,k=v3");
	expect_args(ARGS("b", "1", "a", "2", "B", "3", "\xc3\xa9", "4", "_", "5", "a-b", "6"),
		    "B=3,_=5,a=2,a-b=6,b=1,\xc3\xa9=4");
	/* '\\' '=' ',' escaped in keys and values; ';' and ':' are not. */
	expect_args(ARGS("=,\\", "=", "=,\\", ",", "=,\\", "\\"),
		    "\\=\\,\\\\=\\=,\\=\\,\\\\=\\,,\\=\\,\\\\=\\\\");
	expect_args(ARGS("k", "a;b:c"), "k=a;b:c");
	/* What the reference emits. */
	expect_args(ARGS("tls", "yes", "hostname", "snowflake.example", "hostname", "b.example"),
		    "hostname=snowflake.example,hostname=b.example,tls=yes");
	expect_args(ARGS("tls", "no"), "tls=no");
}

static void test_lines(void **state)
{
	(void)state;
	struct capture c;

	capture_open(&c);
	assert_int_equal(sf_pt_version(c.f), 0);
	assert_int_equal(sf_pt_report_version(c.f, "snowflake-server", "2.11.0"), 0);
	struct sf_pt_args *tls = ARGS("tls", "yes", "hostname", "snowflake.example");
	assert_int_equal(sf_pt_smethod_args(c.f, "snowflake", "0.0.0.0:443", tls), 0);
	sf_pt_args_free(tls);
	struct sf_pt_args *plain = ARGS("tls", "no");
	assert_int_equal(sf_pt_smethod_args(c.f, "snowflake", "[::]:443", plain), 0);
	sf_pt_args_free(plain);
	assert_int_equal(sf_pt_smethod_args(c.f, "x", "1.2.3.4:5", NULL), 0);
	assert_int_equal(sf_pt_smethod_error(c.f, "obfs4", "no such method"), 0);
	assert_int_equal(sf_pt_smethod_error(c.f, "snowflake", "cannot listen on port 0; "
					     "configure a port using ServerTransportListenAddr"), 0);
	assert_int_equal(sf_pt_smethods_done(c.f), 0);
	assert_int_equal(sf_pt_env_error(c.f, "no TOR_PT_SERVER_BINDADDR environment variable"), 0);
	assert_int_equal(sf_pt_version_error(c.f, "no-version"), 0);
	capture_expect(&c,
		"VERSION 1\n"
		"STATUS TYPE=version IMPLEMENTATION=\"snowflake-server\" VERSION=\"2.11.0\"\n"
		"SMETHOD snowflake 0.0.0.0:443 ARGS:hostname=snowflake.example,tls=yes\n"
		"SMETHOD snowflake [::]:443 ARGS:tls=no\n"
		"SMETHOD x 1.2.3.4:5 ARGS:\n"
		"SMETHOD-ERROR obfs4 no such method\n"
		"SMETHOD-ERROR snowflake cannot listen on port 0; configure a port using "
		"ServerTransportListenAddr\n"
		"SMETHODS DONE\n"
		"ENV-ERROR no TOR_PT_SERVER_BINDADDR environment variable\n"
		"VERSION-ERROR no-version\n");
}

static void test_status_version_escaped(void **state)
{
	(void)state;
	struct capture c;
	capture_open(&c);
	assert_int_equal(sf_pt_report_version(c.f, "snowflake-server", "2.11.0 (1a2b3c4d*)"), 0);
	assert_int_equal(sf_pt_report_version(c.f, "a\"b", "\\\n\xff"), 0);
	capture_expect(&c,
		"STATUS TYPE=version IMPLEMENTATION=\"snowflake-server\" "
		"VERSION=\"2.11.0 (1a2b3c4d*)\"\n"
		"STATUS TYPE=version IMPLEMENTATION=\"a\\042b\" VERSION=\"\\134\\012\\377\"\n");
}

/* Bytes goptlib would panic on never reach tor: LF and >= 0x80 become '?'. */
static void test_sanitizing(void **state)
{
	(void)state;
	struct capture c;
	capture_open(&c);
	assert_int_equal(sf_pt_smethod_error(c.f, "snow\nflake", "listen tcp: \xc3\xa9\n\x80x"), 0);
	assert_int_equal(sf_pt_env_error(c.f, "tab\tcr\rdel\x7f ok"), 0);
	const char *args[] = { "", "a b", "\xff" };
	assert_int_equal(sf_pt_line(c.f, "LOG", args, 3), 0);
	assert_int_equal(sf_pt_line(c.f, "X_Y-9", NULL, 0), 0);
	struct sf_pt_args *a = ARGS("k\n", "v\xc3\xa9");
	assert_int_equal(sf_pt_smethod_args(c.f, "snowflake", "1.2.3.4:5", a), 0);
	sf_pt_args_free(a);
	capture_expect(&c,
		"SMETHOD-ERROR snow?flake listen tcp: ????x\n"
		"ENV-ERROR tab\tcr\rdel\x7f ok\n"
		"LOG  a b ?\n"
		"X_Y-9\n"
		"SMETHOD snowflake 1.2.3.4:5 ARGS:k?=v??\n");
}

/* A keyword outside [A-Za-z0-9_-] is a programming error: nothing is written. */
static void test_bad_keyword(void **state)
{
	(void)state;
	struct capture c;
	capture_open(&c);
	const char *args[] = { "x" };
	assert_int_equal(sf_pt_line(c.f, "BAD KEYWORD", args, 1), -1);
	assert_int_equal(sf_pt_line(c.f, "A:B", args, 1), -1);
	assert_int_equal(sf_pt_line(c.f, "\xc3\xa9", args, 1), -1);
	assert_int_equal(sf_pt_line(c.f, "", args, 1), -1);
	capture_expect(&c, "");
}

/* Each line is flushed as soon as it is written (tor reads a pipe). */
static void test_flush_per_line(void **state)
{
	(void)state;
	struct capture c;
	capture_open(&c);
	assert_int_equal(sf_pt_version(c.f), 0);
	/* open_memstream updates buf/len on fflush: seeing the line proves the flush. */
	assert_int_equal(c.len, strlen("VERSION 1\n"));
	assert_memory_equal(c.buf, "VERSION 1\n", c.len);
	assert_int_equal(sf_pt_smethods_done(c.f), 0);
	assert_int_equal(c.len, strlen("VERSION 1\nSMETHODS DONE\n"));
	capture_expect(&c, "VERSION 1\nSMETHODS DONE\n");
}

static void test_write_error(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/full", "w");
	if (!f)
		skip();
	assert_int_equal(sf_pt_version(f), -1);
	fclose(f);
}

static void expect_quoted(const char *in, size_t n, const char *want)
{
	struct sf_strbuf sb = {0};
	sf_pt_str_add_quoted(&sb, in, n);
	assert_false(sb.failed);
	assert_string_equal(sb.data, want);
	sf_strbuf_free(&sb);
}

#define QUOTED(lit, want) expect_quoted(lit, sizeof(lit) - 1, want)

/* Go's strconv.Quote, as used by %q in goptlib's error messages. */
static void test_go_quote(void **state)
{
	(void)state;
	QUOTED("", "\"\"");
	QUOTED("abc", "\"abc\"");
	QUOTED("\"", "\"\\\"\"");
	QUOTED("\\", "\"\\\\\"");
	QUOTED("\a\b\f\n\r\t\v\x00\x01\x1f\x7f", "\"\\a\\b\\f\\n\\r\\t\\v\\x00\\x01\\x1f\\x7f\"");
	QUOTED("\xc3\xa9", "\"\xc3\xa9\"");
	QUOTED("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
	QUOTED("\xef\xbf\xbd", "\"\xef\xbf\xbd\"");
	QUOTED("\xc2\x85", "\"\\u0085\"");
	QUOTED("\xc2\xa0", "\"\\u00a0\"");
	QUOTED("\xc2\xad", "\"\\u00ad\"");
	QUOTED("\xe2\x80\x8b", "\"\\u200b\"");
	QUOTED("\xef\xbb\xbf", "\"\\ufeff\"");
	QUOTED("\xee\x80\x80", "\"\\ue000\"");
	/* Invalid UTF-8 (stray, truncated, overlong, surrogate, > U+10FFFF) byte by byte. */
	QUOTED("\xff\xfe", "\"\\xff\\xfe\"");
	QUOTED("\xc3", "\"\\xc3\"");
	QUOTED("\xe0\x80\x80", "\"\\xe0\\x80\\x80\"");
	QUOTED("\xed\xa0\x80", "\"\\xed\\xa0\\x80\"");
	QUOTED("\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\"");
	QUOTED("\xc0\xaf", "\"\\xc0\\xaf\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cstring),
		cmocka_unit_test(test_cstring_all_bytes),
		cmocka_unit_test(test_smethod_args_encoding),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_status_version_escaped),
		cmocka_unit_test(test_sanitizing),
		cmocka_unit_test(test_bad_keyword),
		cmocka_unit_test(test_flush_per_line),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_go_quote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
