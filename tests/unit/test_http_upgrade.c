/* sf_http_upgrade: the WebSocket opening request, answered as Go net/http + gorilla v1.5.3 do.
 * Expected responses were captured from a Go (1.19) server using gorilla/websocket v1.5.3 with
 * CheckOrigin always true; only the Date value differs from run to run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http/upgrade.h"

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_101 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
#define WS_HEADERS "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" \
		   "Sec-WebSocket-Key: " RFC_KEY "\r\n"

/* What gorilla's Dialer (via Go's http.Request.Write) sends for a snowflake proxy. */
static const char gorilla_request[] =
	"GET /?client_ip=2001%3Adb8%3A%3A1 HTTP/1.1\r\n"
	"Host: snowflake.torproject.net\r\n"
	"User-Agent: Go-http-client/1.1\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: " RFC_KEY "\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Upgrade: websocket\r\n"
	"\r\n";

struct result {
	enum sf_http_upgrade_status status;
	size_t consumed;
	char response[1024];
	size_t response_len;
	char client_ip[256];
	size_t client_ip_len;
	int has_client_ip;
	char error[256];
};

static void collect(struct sf_http_upgrade *u, enum sf_http_upgrade_status st, size_t consumed,
		    struct result *r)
{
	r->status = st;
	r->consumed = consumed;
	size_t len;
	const uint8_t *resp = sf_http_upgrade_response(u, &len);
	assert_true(len < sizeof r->response);
	r->response_len = len;
	if (resp)
		memcpy(r->response, resp, len);
	r->response[len] = '\0';
	const char *ip = sf_http_upgrade_client_ip(u, &len);
	r->has_client_ip = ip != NULL;
	r->client_ip_len = ip ? len : 0;
	if (ip) {
		assert_true(len < sizeof r->client_ip);
		memcpy(r->client_ip, ip, len + 1);
	}
	const char *err = sf_http_upgrade_error(u);
	snprintf(r->error, sizeof r->error, "%s", err ? err : "");
}

/* Feeds the whole request at once. */
static struct result run_n(const char *req, size_t n)
{
	struct result r;
	memset(&r, 0, sizeof r);
	struct sf_http_upgrade *u = sf_http_upgrade_new();
	assert_non_null(u);
	size_t used = 0;
	enum sf_http_upgrade_status st = sf_http_upgrade_feed(u, (const uint8_t *)req, n, &used);
	collect(u, st, used, &r);
	/* A final outcome stays put and consumes nothing more. */
	if (st != SF_HTTP_UPGRADE_MORE) {
		size_t again = 99;
		assert_int_equal(sf_http_upgrade_feed(u, (const uint8_t *)"GET", 3, &again), st);
		assert_int_equal(again, 0);
	}
	sf_http_upgrade_free(u);
	return r;
}

static struct result run(const char *req)
{
	return run_n(req, strlen(req));
}

static void expect_accept(const char *req, const char *response)
{
	struct result r = run(req);
	assert_int_equal(r.status, SF_HTTP_UPGRADE_ACCEPT);
	assert_int_equal(r.consumed, strlen(req));
	assert_string_equal(r.response, response);
	assert_string_equal(r.error, "");
}

/* gorilla's http.Error response; the Date value is taken from the response after checking its
 * shape ("Wed, 25 Nov 2026 12:38:31 GMT"). */
static void expect_upgrader_error(const char *req, const char *status_line, const char *body,
				  const char *connection, int head, const char *error)
{
	struct result r = run(req);
	assert_int_equal(r.status, SF_HTTP_UPGRADE_REJECT);
	assert_int_equal(r.consumed, strlen(req));
	assert_false(r.has_client_ip);
	assert_string_equal(r.error, error);

	const char *d = strstr(r.response, "\r\nDate: ");
	assert_non_null(d);
	char date[30];
	memcpy(date, d + 8, 29);
	date[29] = '\0';
	assert_int_equal(date[3], ',');
	assert_memory_equal(date + 25, " GMT", 4);
	assert_int_equal(date[19], ':');

	char want[1024];
	snprintf(want, sizeof want,
		 "%s\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\n"
		 "X-Content-Type-Options: nosniff\r\nDate: %s\r\nContent-Length: %zu\r\n%s\r\n%s",
		 status_line, date, strlen(body), connection, head ? "" : body);
	assert_string_equal(r.response, want);
}

/* What net/http writes itself before any handler runs. */
static void expect_server_error(const char *req, const char *status)
{
	struct result r = run(req);
	assert_int_equal(r.status, SF_HTTP_UPGRADE_REJECT);
	char want[512];
	snprintf(want, sizeof want,
		 "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%s",
		 status, status);
	assert_string_equal(r.response, want);
	assert_string_equal(r.error, "");
}

#define NOT_WS "websocket: the client is not using the websocket protocol: "
#define NO_CONN NOT_WS "'upgrade' token not found in 'Connection' header"
#define NO_UPGRADE NOT_WS "'websocket' token not found in 'Upgrade' header"
#define NOT_GET NOT_WS "request method is not GET"
#define NO_13 "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header"
#define BAD_KEY "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 " \
		"encoded value of 16-byte in length"

static void test_gorilla_request_accepted(void **state)
{
	(void)state;
	struct result r = run(gorilla_request);
	assert_int_equal(r.status, SF_HTTP_UPGRADE_ACCEPT);
	assert_int_equal(r.consumed, strlen(gorilla_request));
	assert_string_equal(r.response, RFC_101);
	assert_int_equal(r.response_len, strlen(RFC_101));
	assert_true(r.has_client_ip);
	assert_string_equal(r.client_ip, "2001:db8::1");
	assert_int_equal(r.client_ip_len, 11);
}

/* The start-up fetch of SHA-1 (sf_server_new calls it) succeeds, may run again, and the accept
 * key stays RFC 6455's. */
static void test_init_then_accept(void **state)
{
	(void)state;
	assert_int_equal(sf_http_upgrade_init(), 0);
	assert_int_equal(sf_http_upgrade_init(), 0);
	struct result r = run(gorilla_request);
	assert_int_equal(r.status, SF_HTTP_UPGRADE_ACCEPT);
	assert_string_equal(r.response, RFC_101);
}

static void test_split_at_every_byte(void **state)
{
	(void)state;
	size_t n = strlen(gorilla_request);
	const uint8_t *p = (const uint8_t *)gorilla_request;
	for (size_t cut = 0; cut <= n; cut++) {
		struct sf_http_upgrade *u = sf_http_upgrade_new();
		size_t a = 0, b = 0;
		enum sf_http_upgrade_status st = sf_http_upgrade_feed(u, p, cut, &a);
		if (cut < n) {
			assert_int_equal(st, SF_HTTP_UPGRADE_MORE);
			assert_int_equal(a, cut);
			st = sf_http_upgrade_feed(u, p + cut, n - cut, &b);
		}
		assert_int_equal(st, SF_HTTP_UPGRADE_ACCEPT);
		assert_int_equal(a + b, n);
		struct result r;
		collect(u, st, a + b, &r);
		assert_string_equal(r.response, RFC_101);
		assert_string_equal(r.client_ip, "2001:db8::1");
		sf_http_upgrade_free(u);
	}
	/* Byte by byte. */
	struct sf_http_upgrade *u = sf_http_upgrade_new();
	enum sf_http_upgrade_status st = SF_HTTP_UPGRADE_MORE;
	for (size_t i = 0; i < n; i++) {
		size_t used = 0;
		assert_int_equal(st, SF_HTTP_UPGRADE_MORE);
		st = sf_http_upgrade_feed(u, p + i, 1, &used);
		assert_int_equal(used, 1);
	}
	assert_int_equal(st, SF_HTTP_UPGRADE_ACCEPT);
	sf_http_upgrade_free(u);
}

static void test_lenient_accepts(void **state)
{
	(void)state;
	/* Any path, Host, Origin; protocols and extensions offered are ignored; token lists. */
	expect_accept("GET /some/path?x=1 HTTP/1.1\r\nHost: anything.example:8443\r\n"
		      "Origin: https://evil.example\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
		      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
		      WS_HEADERS "\r\n", RFC_101);
	expect_accept("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive,  Upgrade \r\n"
		      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
		      "Sec-WebSocket-Key: " RFC_KEY "\r\n\r\n", RFC_101);
	expect_accept("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: upgrade\r\n"
		      "Upgrade: WebSocket\r\nSec-WebSocket-Version: 12, 13\r\n"
		      "Sec-WebSocket-Key: " RFC_KEY "\r\n\r\n", RFC_101);
	/* Header names in any case, bare LF line ends, an empty Host. */
	expect_accept("GET / HTTP/1.1\nhost:\nCONNECTION: upgrade\nupgrade: websocket\n"
		      "sec-websocket-version: 13\nsec-websocket-key: " RFC_KEY "\n\n", RFC_101);
	/* HTTP/1.0 needs no Host; the 101 is HTTP/1.1 regardless. */
	expect_accept("GET / HTTP/1.0\r\n" WS_HEADERS "\r\n", RFC_101);
	/* Go's non-strict base64 ignores the unused low bits of the last symbol. */
	expect_accept("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
		      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n\r\n",
		      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		      "Sec-WebSocket-Accept: Zgw8jYXtqX5qJr7MJ1Q/MqzeSRI=\r\n\r\n");
	/* A folded key line; the first of two keys counts. */
	expect_accept("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
		      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key:\r\n  " RFC_KEY "\r\n\r\n", RFC_101);
	expect_accept("GET / HTTP/1.1\r\nHost: x\r\n" WS_HEADERS "Sec-WebSocket-Key: zzz\r\n\r\n",
		      RFC_101);
	/* A declared body is not read: the request ends with its header block. */
	expect_accept("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n" WS_HEADERS "\r\n", RFC_101);
	expect_accept("GET * HTTP/1.1\r\nHost: x\r\n" WS_HEADERS "\r\n", RFC_101);
}

static void test_upgrader_failures(void **state)
{
	(void)state;
	const char *h11 = "HTTP/1.1 400 Bad Request", *bad = "Bad Request\n";
	/* 1. Connection must list "upgrade". */
	expect_upgrader_error("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
			      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
			      h11, bad, "", 0, NO_CONN);
	expect_upgrader_error("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade foo\r\n"
			      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
			      "Sec-WebSocket-Key: " RFC_KEY "\r\n\r\n", h11, bad, "", 0, NO_CONN);
	/* 2. Upgrade must list "websocket" (checked before the method). */
	expect_upgrader_error("POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
			      h11, bad, "", 0, NO_UPGRADE);
	/* 3. GET only. */
	expect_upgrader_error("POST / HTTP/1.1\r\nHost: x\r\n" WS_HEADERS "\r\n",
			      "HTTP/1.1 405 Method Not Allowed", "Method Not Allowed\n", "", 0, NOT_GET);
	expect_upgrader_error("HEAD / HTTP/1.1\r\nHost: x\r\n" WS_HEADERS "\r\n",
			      "HTTP/1.1 405 Method Not Allowed", "Method Not Allowed\n", "", 1, NOT_GET);
	/* 4. Version 13. */
	expect_upgrader_error("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
			      "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " RFC_KEY "\r\n\r\n",
			      h11, bad, "", 0, NO_13);
	expect_upgrader_error("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
			      "Sec-WebSocket-Key: " RFC_KEY "\r\n\r\n", h11, bad, "", 0, NO_13);
	/* 6. A key that is base64 of exactly 16 bytes. */
	static const char *bad_keys[] = {
		"", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===",
		"dGhlIHNhbXBsZSBub25jZQAA", "dGhlIHNhbXBsZSBub25jZ!==", "dGhlIHNhbXBsZSBub25jZXh4eHg=",
		"zzz",
	};
	for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
		char req[512];
		snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
			 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
			 bad_keys[i]);
		expect_upgrader_error(req, h11, bad, "", 0, BAD_KEY);
	}
	expect_upgrader_error("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
			      "Sec-WebSocket-Version: 13\r\n\r\n", h11, bad, "", 0, BAD_KEY);
	/* The response writer's Connection header follows the request's wishes. */
	expect_upgrader_error("GET / HTTP/1.1\r\nHost: x\r\nConnection: close, Upgrade\r\n"
			      "Upgrade: websocket\r\n\r\n", h11, bad, "Connection: close\r\n", 0, NO_13);
	expect_upgrader_error("GET / HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
			      "Sec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.0 400 Bad Request", bad, "", 0,
			      BAD_KEY);
	expect_upgrader_error("GET / HTTP/1.0\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
			      "HTTP/1.0 400 Bad Request", bad, "Connection: keep-alive\r\n", 0, NO_13);
}

static void test_server_failures(void **state)
{
	(void)state;
	expect_server_error("garbage\r\n\r\n", "400 Bad Request");
	expect_server_error("\r\nGET / HTTP/1.1\r\nHost: x\r\n" WS_HEADERS "\r\n", "400 Bad Request");
	expect_server_error("GET / HTTP/1.1\r\nHost: x\r\nX y: z\r\n\r\n",
			    "400 Bad Request: invalid header name");
	/* Go 1.19 said "invalid header value" here; Go >= 1.20's textproto refuses the line. */
	expect_server_error("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01z\r\n\r\n", "400 Bad Request");
	expect_server_error("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n" WS_HEADERS "\r\n",
			    "400 Bad Request");
	expect_server_error("GET /%zz HTTP/1.1\r\nHost: x\r\n" WS_HEADERS "\r\n", "400 Bad Request");
	expect_server_error("GET / HTTP/1.1\r\n" WS_HEADERS "\r\n",
			    "400 Bad Request: missing required Host header");
	expect_server_error("GET / HTTP/1.1\r\nHost: x y\r\n" WS_HEADERS "\r\n",
			    "400 Bad Request: malformed Host header");
	expect_server_error("GET / HTTP/2.0\r\nHost: x\r\n\r\n",
			    "505 HTTP Version Not Supported: unsupported protocol version");
	/* Garbage of any shape never crashes and never accepts. */
	static const char *junk[] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "GET\r\n\r\n", "GET / FOO/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"\x00\x00\x00\x00", "G\xc3\xa9T / HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		size_t n = i == 4 ? 4 : strlen(junk[i]);
		struct result r = run_n(junk[i], n);
		assert_int_equal(r.status, SF_HTTP_UPGRADE_REJECT);
		assert_string_equal(r.response, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; "
				    "charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request");
	}
}

static void test_data_before_handshake(void **state)
{
	(void)state;
	char req[1024];
	snprintf(req, sizeof req, "%s\x81\x85", gorilla_request);
	struct result r = run(req);
	assert_int_equal(r.status, SF_HTTP_UPGRADE_CLOSE);
	assert_int_equal(r.consumed, strlen(gorilla_request));
	assert_int_equal(r.response_len, 0);
	assert_false(r.has_client_ip);
	assert_string_equal(r.error, "websocket: client sent data before handshake is complete");
	/* A body that arrived with the headers counts as early data too. */
	r = run("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n" WS_HEADERS "\r\nabc");
	assert_int_equal(r.status, SF_HTTP_UPGRADE_CLOSE);
}

/* Builds a request padded with an X-Pad header to exactly total bytes. */
static char *padded_request(size_t total, int complete)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: x\r\n" WS_HEADERS "X-Pad: ";
	char *req = malloc(total + 1);
	assert_non_null(req);
	size_t tail = complete ? 4 : 0;
	assert_true(total > sizeof head + tail);
	memcpy(req, head, sizeof head - 1);
	memset(req + sizeof head - 1, 'a', total - (sizeof head - 1) - tail);
	if (complete)
		memcpy(req + total - 4, "\r\n\r\n", 4);
	req[total] = '\0';
	return req;
}

static void test_oversize_headers(void **state)
{
	(void)state;
	char *req = padded_request(SF_HTTP_MAX_REQUEST, 1);
	expect_accept(req, RFC_101);
	free(req);

	req = padded_request(SF_HTTP_MAX_REQUEST + 1, 1);
	struct result r = run(req);
	assert_int_equal(r.status, SF_HTTP_UPGRADE_REJECT);
	assert_string_equal(r.response, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: "
			    "text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
			    "431 Request Header Fields Too Large");
	free(req);

	/* Fed in small pieces, the cap still holds. */
	req = padded_request(3 * SF_HTTP_MAX_REQUEST, 0);
	struct sf_http_upgrade *u = sf_http_upgrade_new();
	enum sf_http_upgrade_status st = SF_HTTP_UPGRADE_MORE;
	size_t fed = 0;
	for (size_t i = 0; i < 3 * SF_HTTP_MAX_REQUEST && st == SF_HTTP_UPGRADE_MORE; i += 1000) {
		size_t used = 0;
		st = sf_http_upgrade_feed(u, (const uint8_t *)req + i, 1000, &used);
		fed += used;
	}
	assert_int_equal(st, SF_HTTP_UPGRADE_REJECT);
	assert_int_equal(fed, SF_HTTP_MAX_REQUEST);
	sf_http_upgrade_free(u);
	free(req);
}

static struct result with_query(const char *target)
{
	char req[1024];
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n" WS_HEADERS "\r\n", target);
	struct result r = run(req);
	assert_int_equal(r.status, SF_HTTP_UPGRADE_ACCEPT);
	return r;
}

static void expect_ip(const char *target, const char *ip)
{
	struct result r = with_query(target);
	if (!ip) {
		assert_false(r.has_client_ip);
		return;
	}
	assert_true(r.has_client_ip);
	assert_string_equal(r.client_ip, ip);
	assert_int_equal(r.client_ip_len, strlen(ip));
}

static void test_client_ip(void **state)
{
	(void)state;
	expect_ip("/", NULL);
	expect_ip("/?", NULL);
	expect_ip("/?other=1", NULL);
	expect_ip("/?client_ip=", "");
	expect_ip("/?client_ip", "");
	expect_ip("/?client_ip=192.0.2.7", "192.0.2.7");
	expect_ip("/?client_ip=2001%3Adb8%3A%3A1", "2001:db8::1");
	expect_ip("/?client_ip=2001%3adb8%3a%3a1", "2001:db8::1");
	expect_ip("/?client_ip=1.1.1.1&client_ip=2.2.2.2", "1.1.1.1");
	expect_ip("/?a=b&client_ip=3.3.3.3&a=c", "3.3.3.3");
	expect_ip("/?client_ip=a+b%20c", "a b c");
	/* Segments with a bad escape or a ';' are skipped; keys are unescaped too. */
	expect_ip("/?client_ip=%zz&client_ip=1.2.3.4&client%5Fip=5.6.7.8", "1.2.3.4");
	expect_ip("/?a=1;b=2&client_ip=1.2.3.4", "1.2.3.4");
	expect_ip("/?client_ip=1.2.3.4;x&client_ip=5.6.7.8", "5.6.7.8");
	expect_ip("/?client%5Fip=a+b&client_ip=5.6.7.8", "a b");
	expect_ip("/?client_ip=%", NULL);
	expect_ip("/?client_ip=1.2.3.4%", NULL);
	/* Request URIs keep '#' in the query; the first '?' starts it. */
	expect_ip("http://h/p?client_ip=9.9.9.9#frag", "9.9.9.9#frag");
	expect_ip("/#x?client_ip=9.9.9.9", "9.9.9.9");
	expect_ip("/?x=?&client_ip=8.8.8.8", "8.8.8.8");

	/* A decoded NUL stays visible through the length. */
	struct result r = with_query("/?client_ip=1.2.3.4%00junk");
	assert_true(r.has_client_ip);
	assert_int_equal(r.client_ip_len, 12);
	assert_memory_equal(r.client_ip, "1.2.3.4\0junk", 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gorilla_request_accepted),
		cmocka_unit_test(test_init_then_accept),
		cmocka_unit_test(test_split_at_every_byte),
		cmocka_unit_test(test_lenient_accepts),
		cmocka_unit_test(test_upgrader_failures),
		cmocka_unit_test(test_server_failures),
		cmocka_unit_test(test_data_before_handshake),
		cmocka_unit_test(test_oversize_headers),
		cmocka_unit_test(test_client_ip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
