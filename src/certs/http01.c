#include "certs/http01.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "net/conn.h"
#include "net/listener.h"

#define REQUEST_DEADLINE_MS 10000
#define CLOSE_FLUSH_MS 2000
#define URL_MAX 2048
#define HOST_MAX 256
#define HEADER_BYTES_MAX 16384
#define KEYAUTH_MAX 512
#define CHALLENGE_PREFIX "/.well-known/acme-challenge/"

struct http01_conn {
	struct http01_conn *next, *prev;
	struct sf_http01 *srv;
	struct sf_conn *conn;
	http_parser parser;
	char url[URL_MAX + 1];
	size_t url_len;
	char host[HOST_MAX + 1];
	size_t host_len;
	bool in_host;			/* the header being read is Host */
	char field[8];			/* start of the current header name */
	size_t field_len;
	size_t header_bytes;
	bool answered, too_big;
};

struct sf_http01 {
	struct event_base *base;
	int fd;
	struct sf_net_acceptor *acceptor;
	struct sf_http01_hooks hooks;
	struct http01_conn *conns;
};

static void conn_release(struct http01_conn *c, bool flush)
{
	struct sf_http01 *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (flush)
		sf_conn_close_flush(c->conn, CLOSE_FLUSH_MS);
	else
		sf_conn_close(c->conn);
	free(c);
}

static void respond(struct http01_conn *c, int status, const char *reason, const char *extra_headers,
		    const char *body, bool head)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	char buf[1024 + 2 * URL_MAX];
	int n = snprintf(buf, sizeof buf,
			 "HTTP/1.1 %d %s\r\n%sDate: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, reason, extra_headers, date, strlen(body));
	if (n > 0 && (size_t)n < sizeof buf) {
		sf_conn_write(c->conn, buf, (size_t)n);
		if (!head)
			sf_conn_write(c->conn, body, strlen(body));
	}
	c->answered = true;
}

static void text_error(struct http01_conn *c, int status, const char *reason, const char *msg)
{
	char body[512];
	snprintf(body, sizeof body, "%s\n", msg);
	respond(c, status, reason,
		"Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n", body,
		false);
}

/* Host without its port, lowercased (autocert compares the bare name); returns whether it had a
 * port. */
static bool bare_host(const char *host, char *out, size_t outlen)
{
	size_t n = strlen(host);
	bool port = false;
	if (host[0] == '[') {
		const char *end = strchr(host, ']');
		port = end && end[1] == ':';
		n = end ? (size_t)(end - host) + 1 : n;
	} else {
		const char *colon = strrchr(host, ':');
		port = colon != NULL;
		if (colon)
			n = (size_t)(colon - host);
	}
	if (n >= outlen)
		n = outlen - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)host[i]);
	out[n] = '\0';
	return port;
}

/* Go's htmlReplacer, which http.Redirect applies to the link in its body. */
static void html_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (; *in; in++) {
		const char *rep = NULL;
		switch (*in) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&#34;"; break;
		case '\'': rep = "&#39;"; break;
		}
		size_t n = rep ? strlen(rep) : 1;
		if (o + n >= outlen)
			break;
		if (rep)
			memcpy(out + o, rep, n);
		else
			out[o] = *in;
		o += n;
	}
	out[o] = '\0';
}

static void answer(struct http01_conn *c)
{
	struct sf_http01 *srv = c->srv;
	bool head = c->parser.method == HTTP_HEAD;
	char host[HOST_MAX + 1];
	bool had_port = bare_host(c->host, host, sizeof host);
	if (strncmp(c->url, CHALLENGE_PREFIX, strlen(CHALLENGE_PREFIX)) == 0) {
		const char *token = c->url + strlen(CHALLENGE_PREFIX);
		char keyauth[KEYAUTH_MAX];
		char msg[HOST_MAX + 80];
		if (!srv->hooks.host_allowed(srv->hooks.arg, host)) {
			snprintf(msg, sizeof msg, "acme/autocert: host \"%s\" not configured in HostWhitelist", host);
			text_error(c, 403, "Forbidden", msg);
		} else if (!srv->hooks.key_authorization(srv->hooks.arg, token, keyauth, sizeof keyauth)) {
			text_error(c, 404, "Not Found", "acme/autocert: certificate cache miss");
		} else {
			respond(c, 200, "OK", "Content-Type: text/plain; charset=utf-8\r\n", keyauth, head);
		}
		return;
	}
	if (c->parser.method != HTTP_GET && !head) {
		text_error(c, 400, "Bad Request", "Use HTTPS");
		return;
	}
	/* autocert: "https://" + JoinHostPort(host, "443") when Host had a port, else Host as is. */
	char target[HOST_MAX + URL_MAX + 32];
	snprintf(target, sizeof target, "https://%s%s%s", had_port ? host : c->host,
		 had_port ? ":443" : "", c->url);
	char headers[sizeof target + 64], link[sizeof target * 5], body[sizeof link + 32];
	snprintf(headers, sizeof headers, "Content-Type: text/html; charset=utf-8\r\nLocation: %s\r\n", target);
	html_escape(target, link, sizeof link);
	snprintf(body, sizeof body, "<a href=\"%s\">Found</a>.\n\n", link);
	respond(c, 302, "Found", headers, body, head);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http01_conn *c = p->data;
	if (c->url_len + len > URL_MAX) {
		c->too_big = true;
		return 1;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return 0;
}

/* A header name, possibly in pieces; only whether it is "Host" matters. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http01_conn *c = p->data;
	c->in_host = false;
	size_t take = len < sizeof c->field - c->field_len ? len : sizeof c->field - c->field_len;
	memcpy(c->field + c->field_len, at, take);
	c->field_len += take;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http01_conn *c = p->data;
	if (c->field_len) {
		c->in_host = c->field_len == 4 && strncasecmp(c->field, "host", 4) == 0;
		c->field_len = 0;
	}
	if (c->in_host) {
		if (c->host_len + len > HOST_MAX) {
			c->too_big = true;
			return 1;
		}
		memcpy(c->host + c->host_len, at, len);
		c->host_len += len;
		c->host[c->host_len] = '\0';
	}
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http01_conn *c = p->data;
	answer(c);
	/* One request per connection: stop here, so that requests pipelined behind this one in the
	 * same read are never parsed or answered (returning 1 alone would only skip the body and
	 * go on with the next request). */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
};

static void conn_on_read(void *user, const uint8_t *p, size_t n)
{
	struct http01_conn *c = user;
	if (c->answered)
		return;
	c->header_bytes += n;
	http_parser_execute(&c->parser, &parser_settings, (const char *)p, n);
	if (!c->answered && (c->too_big || c->header_bytes > HEADER_BYTES_MAX))
		text_error(c, 431, "Request Header Fields Too Large", "431 Request Header Fields Too Large");
	else if (!c->answered && HTTP_PARSER_ERRNO(&c->parser) != HPE_OK)
		text_error(c, 400, "Bad Request", "400 Bad Request");
	if (c->answered)
		conn_release(c, true);
}

static void conn_on_close(void *user, const char *reason)
{
	(void)reason;
	conn_release(user, false);
}

static const struct sf_conn_callbacks conn_callbacks = {
	.on_read = conn_on_read,
	.on_close = conn_on_close,
};

static void on_accept(void *arg, int cfd)
{
	struct sf_http01 *srv = arg;
	struct http01_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(cfd);
		return;
	}
	c->srv = srv;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->conn = sf_conn_new(srv->base, cfd, &conn_callbacks, c);
	if (!c->conn) {
		free(c);
		return;
	}
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	sf_conn_set_deadline(c->conn, REQUEST_DEADLINE_MS);
}

struct sf_http01 *sf_http01_new(struct event_base *base, int listen_fd,
				const struct sf_http01_hooks *hooks)
{
	struct sf_http01 *srv = calloc(1, sizeof *srv);
	if (!srv) {
		close(listen_fd);
		return NULL;
	}
	srv->base = base;
	srv->fd = listen_fd;
	srv->hooks = *hooks;
	srv->acceptor = sf_net_acceptor_new(base, listen_fd, on_accept, srv);
	if (!srv->acceptor) {
		sf_http01_free(srv);
		return NULL;
	}
	return srv;
}

void sf_http01_free(struct sf_http01 *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_release(srv->conns, false);
	sf_net_acceptor_free(srv->acceptor);
	close(srv->fd);
	free(srv);
}
