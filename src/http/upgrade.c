#include "http/upgrade.h"

#include <ctype.h>
#include <http_parser.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/hex.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define KEY_LEN 24	/* base64 of 16 bytes */

#define NOT_WEBSOCKET "websocket: the client is not using the websocket protocol: "

struct sf_http_upgrade {
	http_parser parser;
	enum sf_http_upgrade_status status;
	size_t total;		/* request bytes parsed so far */
	bool headers_done;

	/* The URL, then the header being read (name, then value right after it). */
	char arena[SF_HTTP_MAX_REQUEST + 1];	/* + the NUL after a decoded client_ip */
	size_t url_len, field_len, value_len;
	bool in_value, overflow;

	/* What the headers said. */
	bool conn_upgrade, conn_close, conn_keep_alive, upgrade_websocket, version_13;
	int hosts;
	bool host_valid;
	bool bad_name;		/* http_parser lets a space into a header name; Go refuses it */
	bool key_seen, key_valid;
	char key[KEY_LEN + 1];

	char response[512];
	size_t response_len;
	const char *client_ip;
	size_t client_ip_len;
	const char *error;
};

/* ---- header value grammar, as gorilla (util.go) and Go's httpguts read it ---- */

static bool is_token_octet(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_host_byte(unsigned char c)
{
	return isalnum(c) || (c && strchr("!$%&'()*+,-.:;=[]_~", c));
}

static size_t skip_space(const char *s, size_t i, size_t n)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* gorilla's tokenListContainsValue for one header value: a comma list of tokens; anything else
 * after a token abandons the value. */
static bool token_list_contains(const char *s, size_t n, const char *want)
{
	size_t i = 0, wl = strlen(want);
	for (;;) {
		i = skip_space(s, i, n);
		size_t start = i;
		while (i < n && is_token_octet((unsigned char)s[i]))
			i++;
		size_t tl = i - start;
		if (tl == 0)
			return false;
		i = skip_space(s, i, n);
		if (i < n && s[i] != ',')
			return false;
		if (tl == wl && strncasecmp(s + start, want, wl) == 0)
			return true;
		if (i == n)
			return false;
		i++;
	}
}

/* httpguts.HeaderValuesContainsToken for one value: comma-separated, trimmed, case-insensitive. */
static bool has_token(const char *s, size_t n, const char *want)
{
	size_t wl = strlen(want), i = 0;
	while (i <= n) {
		size_t end = i;
		while (end < n && s[end] != ',')
			end++;
		size_t a = skip_space(s, i, end), b = end;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		if (b - a == wl && strncasecmp(s + a, want, wl) == 0)
			return true;
		i = end + 1;
	}
	return false;
}

/* Go's base64.StdEncoding decoding to exactly 16 bytes: 22 symbols then "==" (the unused low bits
 * of the last symbol are not checked, as in Go's non-strict decoder). */
static bool valid_key(const char *k, size_t n)
{
	if (n != KEY_LEN || k[22] != '=' || k[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++) {
		unsigned char c = (unsigned char)k[i];
		if (!isalnum(c) && c != '+' && c != '/')
			return false;
	}
	return true;
}

static bool name_is(const char *name, size_t n, const char *want)
{
	return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

static void header_done(struct sf_http_upgrade *u)
{
	const char *name = u->arena + u->url_len;
	const char *v = name + u->field_len;
	size_t n = u->value_len;

	/* net/textproto trims the value; http_parser keeps trailing blanks. */
	size_t a = skip_space(v, 0, n);
	while (n > a && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	v += a;
	n -= a;

	if (memchr(name, ' ', u->field_len))
		u->bad_name = true;
	if (name_is(name, u->field_len, "connection")) {
		u->conn_upgrade |= token_list_contains(v, n, "upgrade");
		u->conn_close |= has_token(v, n, "close");
		u->conn_keep_alive |= has_token(v, n, "keep-alive");
	} else if (name_is(name, u->field_len, "upgrade")) {
		u->upgrade_websocket |= token_list_contains(v, n, "websocket");
	} else if (name_is(name, u->field_len, "sec-websocket-version")) {
		u->version_13 |= token_list_contains(v, n, "13");
	} else if (name_is(name, u->field_len, "sec-websocket-key")) {
		if (!u->key_seen) {	/* Header.Get: the first one counts */
			u->key_seen = true;
			u->key_valid = valid_key(v, n);
			if (u->key_valid)
				memcpy(u->key, v, KEY_LEN);
		}
	} else if (name_is(name, u->field_len, "host")) {
		u->hosts++;
		u->host_valid = true;
		for (size_t i = 0; i < n; i++)
			u->host_valid &= is_host_byte((unsigned char)v[i]);
	}
	u->field_len = u->value_len = 0;
	u->in_value = false;
}

/* ---- http_parser callbacks ---- */

static bool append(struct sf_http_upgrade *u, size_t *len, size_t off, const char *at, size_t n)
{
	if (off + *len + n > SF_HTTP_MAX_REQUEST) {
		u->overflow = true;
		return false;
	}
	memcpy(u->arena + off + *len, at, n);
	*len += n;
	return true;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct sf_http_upgrade *u = p->data;
	return append(u, &u->url_len, 0, at, n) ? 0 : -1;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct sf_http_upgrade *u = p->data;
	if (u->in_value)
		header_done(u);
	return append(u, &u->field_len, u->url_len, at, n) ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct sf_http_upgrade *u = p->data;
	u->in_value = true;
	return append(u, &u->value_len, u->url_len + u->field_len, at, n) ? 0 : -1;
}

static int on_headers_complete(http_parser *p)
{
	struct sf_http_upgrade *u = p->data;
	if (u->in_value)
		header_done(u);
	u->headers_done = true;
	return 2;	/* the request ends here: no body, whatever follows is another protocol */
}

static const http_parser_settings parser_settings = {
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
};

/* ---- responses ---- */

static const char *status_text(int code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static void set_response(struct sf_http_upgrade *u, int n)
{
	u->response_len = (n > 0 && (size_t)n < sizeof u->response) ? (size_t)n : 0;
}

/* What net/http writes itself when it cannot hand the request to a handler. */
static enum sf_http_upgrade_status server_error(struct sf_http_upgrade *u, int code, const char *detail)
{
	static const char hdrs[] = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n";
	const char *text = status_text(code);
	int n;
	if (detail)
		n = snprintf(u->response, sizeof u->response, "HTTP/1.1 %d %s: %s%s%d %s: %s", code, text,
			     detail, hdrs, code, text, detail);
	else
		n = snprintf(u->response, sizeof u->response, "HTTP/1.1 %d %s%s%d %s", code, text, hdrs,
			     code, text);
	set_response(u, n);
	u->status = SF_HTTP_UPGRADE_REJECT;
	return u->status;
}

static size_t http_date(char *out, size_t cap)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int n = snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
			 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n > 0 ? (size_t)n : 0;
}

/* gorilla's returnError: http.Error(w, StatusText(code), code) with Sec-Websocket-Version: 13, as
 * the net/http response writer serialises it for this request. */
static enum sf_http_upgrade_status upgrader_error(struct sf_http_upgrade *u, int code, const char *why)
{
	const char *text = status_text(code);
	const http_parser *p = &u->parser;
	bool is11 = p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1);
	const char *conn = "";
	if (is11 && u->conn_close)
		conn = "Connection: close\r\n";
	else if (!is11 && u->conn_keep_alive)
		conn = "Connection: keep-alive\r\n";
	char date[40];
	http_date(date, sizeof date);
	int n = snprintf(u->response, sizeof u->response,
			 "HTTP/1.%d %d %s\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Sec-Websocket-Version: 13\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "Date: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "%s\r\n"
			 "%s%s",
			 is11 ? 1 : 0, code, text, date, strlen(text) + 1, conn,
			 p->method == HTTP_HEAD ? "" : text, p->method == HTTP_HEAD ? "" : "\n");
	set_response(u, n);
	u->error = why;
	u->status = SF_HTTP_UPGRADE_REJECT;
	return u->status;
}

/* Fetched once: EVP_sha1() makes every EVP_Digest look the algorithm up by name, and the very
 * first lookup also loads OpenSSL's configuration file (milliseconds, on a client's time). */
static EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void fetch_sha1(void)
{
	sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

int sf_http_upgrade_init(void)
{
	pthread_once(&sha1_once, fetch_sha1);
	return sha1_md ? 0 : -1;
}

static void accept_response(struct sf_http_upgrade *u)
{
	char in[KEY_LEN + sizeof WS_GUID];
	unsigned char md[EVP_MAX_MD_SIZE], b64[64];
	unsigned int mdlen = 0;
	memcpy(in, u->key, KEY_LEN);
	memcpy(in + KEY_LEN, WS_GUID, sizeof WS_GUID - 1);
	EVP_Digest(in, KEY_LEN + sizeof WS_GUID - 1, md, &mdlen, sha1_md ? sha1_md : EVP_sha1(), NULL);
	EVP_EncodeBlock(b64, md, (int)mdlen);
	int n = snprintf(u->response, sizeof u->response,
			 "HTTP/1.1 101 Switching Protocols\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n"
			 "\r\n", b64);
	set_response(u, n);
}

/* ---- query ---- */

/* Go's QueryUnescape of s[0..n) into out (which may be s itself). Returns the length, or -1 on a
 * bad %-escape. */
static long query_unescape(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = sf_hex_digit(s[i + 1]);
			int lo = sf_hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	return (long)o;
}

/* r.URL.Query().Get("client_ip"): the raw query is everything after the first '?' (no fragment
 * split for request URIs); segments holding ';' or a bad escape are skipped. Decodes the value in
 * place, inside the URL. */
static void find_client_ip(struct sf_http_upgrade *u)
{
	char *url = u->arena;
	char *q = memchr(url, '?', u->url_len);
	if (!q)
		return;
	char *end = url + u->url_len;
	for (char *seg = q + 1; seg < end;) {
		char *amp = memchr(seg, '&', (size_t)(end - seg));
		char *seg_end = amp ? amp : end;
		size_t seg_len = (size_t)(seg_end - seg);
		char *eq = memchr(seg, '=', seg_len);
		char *key_end = eq ? eq : seg_end;
		char raw[48];	/* enough for "client_ip" written with every byte escaped */
		if (seg_len > 0 && !memchr(seg, ';', seg_len) && (size_t)(key_end - seg) <= sizeof raw) {
			size_t klen = (size_t)(key_end - seg);
			memcpy(raw, seg, klen);
			long kn = query_unescape(raw, klen, raw);
			if (kn == 9 && memcmp(raw, "client_ip", 9) == 0) {
				char *val = eq ? eq + 1 : seg_end;
				long vn = query_unescape(val, (size_t)(seg_end - val), val);
				if (vn >= 0) {
					val[vn] = '\0';	/* seg_end is '&', the URL end or the spare arena byte */
					u->client_ip = val;
					u->client_ip_len = (size_t)vn;
					return;
				}
			}
		}
		seg = seg_end + 1;
	}
}

/* ParseRequestURI rejects a bad %-escape before the query. */
static bool url_escapes_ok(const struct sf_http_upgrade *u)
{
	const char *url = u->arena;
	const char *q = memchr(url, '?', u->url_len);
	size_t n = q ? (size_t)(q - url) : u->url_len;
	for (size_t i = 0; i < n; i++) {
		if (url[i] != '%')
			continue;
		if (i + 2 >= n)
			return false;
		if (sf_hex_digit(url[i + 1]) < 0 || sf_hex_digit(url[i + 2]) < 0)
			return false;
		i += 2;
	}
	return true;
}

/* ---- decision ---- */

static enum sf_http_upgrade_status decide(struct sf_http_upgrade *u)
{
	const http_parser *p = &u->parser;

	/* net/http, in the order server.go / request.go check things. */
	if (u->overflow)
		return server_error(u, 431, NULL);
	if (!url_escapes_ok(u) || u->hosts > 1)
		return server_error(u, 400, NULL);
	if (p->http_major != 1)
		return server_error(u, 505, "unsupported protocol version");
	if (p->http_minor >= 1 && u->hosts == 0 && p->method != HTTP_CONNECT)
		return server_error(u, 400, "missing required Host header");
	if (u->hosts == 1 && !u->host_valid)
		return server_error(u, 400, "malformed Host header");
	if (u->bad_name)
		return server_error(u, 400, "invalid header name");

	/* gorilla Upgrader.Upgrade (v1.5.3), CheckOrigin always true. */
	if (!u->conn_upgrade)
		return upgrader_error(u, 400, NOT_WEBSOCKET "'upgrade' token not found in 'Connection' header");
	if (!u->upgrade_websocket)
		return upgrader_error(u, 400, NOT_WEBSOCKET "'websocket' token not found in 'Upgrade' header");
	if (p->method != HTTP_GET)
		return upgrader_error(u, 405, NOT_WEBSOCKET "request method is not GET");
	if (!u->version_13)
		return upgrader_error(u, 400,
				      "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header");
	if (!u->key_valid)
		return upgrader_error(u, 400,
				      "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length");

	accept_response(u);
	find_client_ip(u);
	u->status = SF_HTTP_UPGRADE_ACCEPT;
	return u->status;
}

/* ---- public ---- */

struct sf_http_upgrade *sf_http_upgrade_new(void)
{
	struct sf_http_upgrade *u = calloc(1, sizeof *u);
	if (!u)
		return NULL;
	http_parser_init(&u->parser, HTTP_REQUEST);
	u->parser.data = u;
	u->status = SF_HTTP_UPGRADE_MORE;
	return u;
}

void sf_http_upgrade_free(struct sf_http_upgrade *u)
{
	free(u);
}

enum sf_http_upgrade_status sf_http_upgrade_feed(struct sf_http_upgrade *u, const uint8_t *p,
						 size_t n, size_t *consumed)
{
	*consumed = 0;
	if (u->status != SF_HTTP_UPGRADE_MORE || n == 0)
		return u->status;

	/* Go reads the request line first and does not skip blank lines before it. */
	if (u->total == 0 && (p[0] == '\r' || p[0] == '\n'))
		return server_error(u, 400, NULL);

	size_t take = n < SF_HTTP_MAX_REQUEST - u->total ? n : SF_HTTP_MAX_REQUEST - u->total;
	size_t used = http_parser_execute(&u->parser, &parser_settings, (const char *)p, take);
	u->total += used;
	*consumed = used;

	if (u->headers_done && HTTP_PARSER_ERRNO(&u->parser) == HPE_OK) {
		if (decide(u) == SF_HTTP_UPGRADE_ACCEPT && used < n) {
			u->status = SF_HTTP_UPGRADE_CLOSE;
			u->response_len = 0;
			u->client_ip = NULL;
			u->error = "websocket: client sent data before handshake is complete";
		}
		return u->status;
	}
	if (u->overflow)
		return server_error(u, 431, NULL);
	if (HTTP_PARSER_ERRNO(&u->parser) != HPE_OK)
		return server_error(u, 400, NULL);
	if (u->total >= SF_HTTP_MAX_REQUEST)
		return server_error(u, 431, NULL);
	return u->status;
}

const uint8_t *sf_http_upgrade_response(const struct sf_http_upgrade *u, size_t *len)
{
	if (u->response_len == 0) {
		*len = 0;
		return NULL;
	}
	*len = u->response_len;
	return (const uint8_t *)u->response;
}

const char *sf_http_upgrade_client_ip(const struct sf_http_upgrade *u, size_t *len)
{
	if (len)
		*len = u->client_ip ? u->client_ip_len : 0;
	return u->client_ip;
}

const char *sf_http_upgrade_error(const struct sf_http_upgrade *u)
{
	return u->error;
}
