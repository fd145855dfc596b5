/* The port-80 listener of TLS mode (autocert's HTTPHandler): challenge responses, host policy,
 * redirects, refusals, bad requests. Real sockets on 127.0.0.1, one event loop, bounded loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/listener.h"
#include "certs/http01.h"

static bool host_allowed(void *arg, const char *host)
{
	(void)arg;
	return strcmp(host, "snowflake.test") == 0;
}

static bool key_authorization(void *arg, const char *token, char *out, size_t outlen)
{
	(void)arg;
	if (strcmp(token, "tok123") != 0)
		return false;
	snprintf(out, outlen, "tok123.thumbprint");
	return true;
}

struct fixture {
	struct event_base *base;
	struct sf_http01 *srv;
	struct sockaddr_in addr;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof f);
	f.base = event_base_new();
	f.addr.sin_family = AF_INET;
	f.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char err[256];
	int fd = sf_net_listen((struct sockaddr *)&f.addr, sizeof f.addr, err, sizeof err);
	if (fd < 0)
		return -1;
	socklen_t len = sizeof f.addr;
	getsockname(fd, (struct sockaddr *)&f.addr, &len);
	struct sf_http01_hooks hooks = { host_allowed, key_authorization, NULL };
	f.srv = sf_http01_new(f.base, fd, &hooks);
	*state = &f;
	return f.srv ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sf_http01_free(f->srv);
	event_base_free(f->base);
	return 0;
}

/* Sends req, runs the loop until the server closes; returns the whole response. */
static char *exchange(struct fixture *f, const char *req, size_t reqlen)
{
	static char resp[8192];
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(connect(s, (struct sockaddr *)&f->addr, sizeof f->addr), 0);
	assert_int_equal(send(s, req, reqlen, 0), (ssize_t)reqlen);
	size_t got = 0;
	for (int i = 0; i < 2000; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		if (poll(&pfd, 1, 5) <= 0)
			continue;
		ssize_t n = recv(s, resp + got, sizeof resp - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(s);
	resp[got] = '\0';
	return resp;
}

static char *get(struct fixture *f, const char *method, const char *path, const char *host)
{
	char req[1024];
	int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: test\r\n\r\n", method,
			 path, host);
	return exchange(f, req, (size_t)n);
}

static void test_challenge_answered(void **state)
{
	char *r = get(*state, "GET", "/.well-known/acme-challenge/tok123", "snowflake.test");
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r, "Content-Type: text/plain; charset=utf-8\r\n"));
	assert_non_null(strstr(r, "Content-Length: 17\r\n"));
	assert_non_null(strstr(r, "\r\n\r\ntok123.thumbprint"));
	/* pebble's VA sends the port in Host when it is not 80: the bare name is what counts */
	r = get(*state, "GET", "/.well-known/acme-challenge/tok123", "SnowFlake.test:5002");
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
}

static void test_challenge_refused(void **state)
{
	char *r = get(*state, "GET", "/.well-known/acme-challenge/tok123", "other.test");
	assert_non_null(strstr(r, "HTTP/1.1 403 Forbidden\r\n"));
	assert_non_null(strstr(r, "acme/autocert: host \"other.test\" not configured in HostWhitelist\n"));
	r = get(*state, "GET", "/.well-known/acme-challenge/nope", "snowflake.test");
	assert_non_null(strstr(r, "HTTP/1.1 404 Not Found\r\n"));
	assert_non_null(strstr(r, "acme/autocert: certificate cache miss\n"));
}

static void test_redirect_and_use_https(void **state)
{
	char *r = get(*state, "GET", "/some/path?q=1", "snowflake.test");
	assert_non_null(strstr(r, "HTTP/1.1 302 Found\r\n"));
	assert_non_null(strstr(r, "Location: https://snowflake.test/some/path?q=1\r\n"));
	r = get(*state, "GET", "/a?x=1&y=\"<'>\"", "snowflake.test");
	assert_non_null(strstr(r, "\r\n\r\n<a href=\"https://snowflake.test/a?x=1&amp;y=&#34;&lt;&#39;&gt;&#34;\">Found</a>.\n\n"));
	r = get(*state, "HEAD", "/x", "snowflake.test:8080");
	assert_non_null(strstr(r, "Location: https://snowflake.test:443/x\r\n"));
	assert_null(strstr(r, "<a href"));	/* no body for HEAD */
	r = get(*state, "POST", "/x", "snowflake.test");
	assert_non_null(strstr(r, "HTTP/1.1 400 Bad Request\r\n"));
	assert_non_null(strstr(r, "\r\n\r\nUse HTTPS\n"));
}

static void test_bad_requests(void **state)
{
	static const char garbage[] = "\x16\x03\x01garbage\r\n\r\n";
	char *r = exchange(*state, garbage, sizeof garbage - 1);
	assert_non_null(strstr(r, "HTTP/1.1 400 Bad Request\r\n"));
	static char big[20000];
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', sizeof big - 19);
	r = exchange(*state, big, sizeof big);
	assert_non_null(strstr(r, "HTTP/1.1 431 "));
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *at = strstr(hay, needle); at; at = strstr(at + 1, needle))
		n++;
	return n;
}

/* Pipelined requests: the first is answered, the connection closes, the rest are never read as
 * requests (a flood of them in one segment must not multiply the work or the responses). */
static void test_one_request_per_connection(void **state)
{
	static const char one[] = "GET /.well-known/acme-challenge/tok123 HTTP/1.1\r\nHost: snowflake.test\r\n\r\n";
	char req[40 * sizeof one];
	size_t len = 0;
	for (int i = 0; i < 40; i++) {
		memcpy(req + len, one, sizeof one - 1);
		len += sizeof one - 1;
	}
	char *r = exchange(*state, req, len);
	assert_int_equal(count(r, "HTTP/1.1 "), 1);
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r, "Connection: close\r\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_challenge_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_challenge_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_and_use_https, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_request_per_connection, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
