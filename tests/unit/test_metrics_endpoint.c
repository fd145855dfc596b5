/* The metrics endpoint on a real loopback socket: GET /metrics gets the page, anything else 404,
 * an oversized request 431; requests in pieces; connections beyond the cap are closed at once and
 * silent ones at the deadline, after which the endpoint serves again. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics/endpoint.h"
#include "net/listener.h"

#define PAGE "# TYPE fake_total counter\nfake_total 7\n"

struct fixture {
	struct event_base *base;
	struct sf_metrics_endpoint *ep;
	struct sockaddr_in addr;
	unsigned renders;
};

static void render(void *arg, struct sf_expo *out)
{
	struct fixture *f = arg;
	f->renders++;
	sf_expo_printf(out, "%s", PAGE);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->base = event_base_new();
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char err[256];
	int fd = sf_net_listen((struct sockaddr *)&a, sizeof a, err, sizeof err);
	assert_true(fd >= 0);
	socklen_t len = sizeof f->addr;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&f->addr, &len), 0);
	f->ep = sf_metrics_endpoint_new(f->base, fd, render, f);
	assert_non_null(f->ep);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sf_metrics_endpoint_free(f->ep);
	event_base_free(f->base);
	free(f);
	return 0;
}

static int dial(struct fixture *f)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&f->addr, sizeof f->addr), 0);
	return fd;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop and reads fd until EOF (true) or limit_ms passed (false); out gets the bytes. */
static bool read_to_eof(struct fixture *f, int fd, char *out, size_t cap, size_t *len,
			unsigned limit_ms)
{
	uint64_t end = now_ms() + limit_ms;
	*len = 0;
	while (now_ms() < end) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		ssize_t n = recv(fd, out + *len, cap - 1 - *len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			out[*len] = '\0';
			return true;
		}
		if (n > 0) {
			*len += (size_t)n;
			assert_true(*len < cap - 1);
			continue;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, 2);
	}
	out[*len] = '\0';
	return false;
}

static void exchange(struct fixture *f, const char *req, char *out, size_t cap)
{
	int fd = dial(f);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	size_t len;
	assert_true(read_to_eof(f, fd, out, cap, &len, 10000));
	close(fd);
}

static void test_get_metrics(void **state)
{
	struct fixture *f = *state;
	char out[4096];
	exchange(f, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n", out, sizeof out);
	char want[512];
	snprintf(want, sizeof want,
		 "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(PAGE), PAGE);
	assert_string_equal(out, want);
	/* A query string (Prometheus may add one) is the same request. */
	exchange(f, "GET /metrics?x=1 HTTP/1.0\n\n", out, sizeof out);
	assert_string_equal(out, want);
	assert_int_equal(f->renders, 2);
}

static void test_everything_else_is_404(void **state)
{
	struct fixture *f = *state;
	static const char *const reqs[] = {
		"GET / HTTP/1.1\r\n\r\n",
		"GET /metricsx HTTP/1.1\r\n\r\n",
		"GET /metrics/ HTTP/1.1\r\n\r\n",
		"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		"HEAD /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics\r\n\r\n",
		"\x16\x03\x01\x02\x01\n\n",
	};
	char out[4096];
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		exchange(f, reqs[i], out, sizeof out);
		assert_true(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
		assert_null(strstr(out, "fake_total"));
	}
	assert_int_equal(f->renders, 0);
}

static void test_request_in_pieces(void **state)
{
	struct fixture *f = *state;
	const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = dial(f);
	for (size_t i = 0; req[i]; i++) {
		assert_int_equal(send(fd, req + i, 1, 0), 1);
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
	char out[4096];
	size_t len;
	assert_true(read_to_eof(f, fd, out, sizeof out, &len, 10000));
	assert_non_null(strstr(out, "\r\n\r\n" PAGE));
	close(fd);
}

static void test_oversized_request(void **state)
{
	struct fixture *f = *state;
	char req[SF_METRICS_REQUEST_MAX + 100];
	memset(req, 'a', sizeof req - 1);
	req[sizeof req - 1] = '\0';
	memcpy(req, "GET /metrics HTTP/1.1\r\nX: ", 26);
	char out[4096];
	exchange(f, req, out, sizeof out);
	assert_true(strncmp(out, "HTTP/1.1 431 ", 13) == 0);
	assert_int_equal(f->renders, 0);
}

/* SF_METRICS_MAX_CONNS silent clients: one more is closed at once; the silent ones are closed at
 * the deadline; then a scrape works again. */
static void test_connection_cap_and_deadline(void **state)
{
	struct fixture *f = *state;
	int silent[SF_METRICS_MAX_CONNS];
	for (int i = 0; i < SF_METRICS_MAX_CONNS; i++)
		silent[i] = dial(f);
	char out[4096];
	size_t len;
	for (int i = 0; i < 100 && sf_metrics_endpoint_conns(f->ep) < SF_METRICS_MAX_CONNS; i++)
		read_to_eof(f, silent[0], out, sizeof out, &len, 10);
	assert_int_equal(sf_metrics_endpoint_conns(f->ep), SF_METRICS_MAX_CONNS);
	int extra = dial(f);
	assert_true(send(extra, "GET /metrics HTTP/1.1\r\n\r\n", 25, MSG_NOSIGNAL) >= 0);
	/* Closed without an answer (EOF, or a reset if the request arrived first). */
	bool eof = read_to_eof(f, extra, out, sizeof out, &len, 2000);
	assert_int_equal(len, 0);
	(void)eof;
	close(extra);
	assert_int_equal(sf_metrics_endpoint_conns(f->ep), SF_METRICS_MAX_CONNS);
	/* The deadline closes the silent ones; bounded wait, generous for a loaded machine. */
	for (int i = 0; i < SF_METRICS_MAX_CONNS; i++) {
		assert_true(read_to_eof(f, silent[i], out, sizeof out, &len,
					SF_METRICS_DEADLINE_MS + 15000));
		assert_int_equal(len, 0);
		close(silent[i]);
	}
	assert_int_equal(sf_metrics_endpoint_conns(f->ep), 0);
	exchange(f, "GET /metrics HTTP/1.1\r\n\r\n", out, sizeof out);
	assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_everything_else_is_404, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_in_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_cap_and_deadline, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
