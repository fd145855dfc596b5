/* sf_server_add_listener: any number of listeners (an embedder, or tor with several bindaddrs),
 * each one really served. Real sockets on 127.0.0.1, one event loop, bounded loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/listener.h"
#include "snowflake/server.h"
#include "server_test_util.h"

#define NLISTENERS 12

/* A plain GET (no upgrade) gets an HTTP 4xx from the front: proof that the port is served. */
static bool answers_plain_get(struct event_base *base, const struct sockaddr_in *addr)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(connect(s, (const struct sockaddr *)addr, sizeof *addr), 0);
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(send(s, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
	char resp[16] = { 0 };
	ssize_t got = 0;
	for (int i = 0; i < 400 && got < 10; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		if (poll(&pfd, 1, 5) <= 0)
			continue;
		ssize_t n = recv(s, resp + got, sizeof resp - 1 - (size_t)got, 0);
		if (n <= 0)
			break;
		got += n;
	}
	close(s);
	return strncmp(resp, "HTTP/1.1 4", 10) == 0;
}

static void test_many_listeners_all_served(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct sf_server_config cfg = { .num_shards = 1 };
	struct sf_server *srv = test_server_new(base, &cfg);
	char err[256];

	struct sockaddr_in addrs[NLISTENERS];
	for (int i = 0; i < NLISTENERS; i++) {
		memset(&addrs[i], 0, sizeof addrs[i]);
		addrs[i].sin_family = AF_INET;
		addrs[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int fd = sf_net_listen((struct sockaddr *)&addrs[i], sizeof addrs[i], err, sizeof err);
		assert_true(fd >= 0);
		socklen_t len = sizeof addrs[i];
		getsockname(fd, (struct sockaddr *)&addrs[i], &len);
		assert_int_equal(sf_server_add_listener(srv, fd), 0);
	}
	for (int i = 0; i < NLISTENERS; i++)
		assert_true(answers_plain_get(base, &addrs[i]));
	sf_server_free(srv);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_listeners_all_served),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
