/* The front (src/server/front.c) driven through socket pairs on one event loop: the cap on
 * connections still in their handshake (the oldest goes first), the hand-over of a finished
 * WebSocket to its shard, and shutdown with connections in every state. Bounded loops only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server_int.h"
#include "snowflake/server.h"
#include "server_test_util.h"
#include "turbotunnel/encap.h"

#define ROUNDS 200

struct fixture {
	struct event_base *base;
	struct sf_server *srv;
};

static void fixture_init(struct fixture *f, size_t max_handshakes)
{
	f->base = event_base_new();
	assert_non_null(f->base);
	/* tor is never dialled here: no smux stream is opened */
	struct sf_server_config cfg = { .num_shards = 1, .max_handshakes = max_handshakes };
	f->srv = test_server_new(f->base, &cfg);
}

static void fixture_free(struct fixture *f)
{
	if (f->srv)
		sf_server_free(f->srv);
	event_base_free(f->base);
}

/* A connected pair; the server end goes to the front as if accepted. Returns the client end. */
static int accept_pair(struct fixture *f)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	sf_front_accept(f->srv, sv[0]);
	return sv[1];
}

static void spin(struct fixture *f, int rounds)
{
	for (int i = 0; i < rounds; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
}

/* 1: the peer closed (EOF or reset), 0: open with nothing to read. */
static int peer_closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
		return 1;
	assert_true(n < 0); /* nothing was sent to these clients */
	return 0;
}

static void test_oldest_handshake_closed_first(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, 4);
	int c[6];
	for (int i = 0; i < 6; i++) {
		c[i] = accept_pair(&f);
		spin(&f, 2);
	}
	assert_int_equal(f.srv->front.n, 4);
	assert_int_equal(f.srv->front.evicted, 2);
	assert_int_equal(peer_closed(c[0]), 1);
	assert_int_equal(peer_closed(c[1]), 1);
	for (int i = 2; i < 6; i++)
		assert_int_equal(peer_closed(c[i]), 0);
	/* a connection that leaves the front makes room without evicting anyone */
	close(c[2]);
	for (int i = 0; i < ROUNDS && f.srv->front.n != 3; i++)
		spin(&f, 1);
	assert_int_equal(f.srv->front.n, 3);
	int late = accept_pair(&f);
	spin(&f, 2);
	assert_int_equal(f.srv->front.evicted, 2);
	assert_int_equal(peer_closed(c[3]), 0);
	/* shutdown closes every connection still in the front */
	sf_server_free(f.srv);
	f.srv = NULL;
	for (int i = 3; i < 6; i++)
		assert_int_equal(peer_closed(c[i]), 1);
	assert_int_equal(peer_closed(late), 1);
	for (int i = 0; i < 6; i++)
		if (i != 2)
			close(c[i]);
	close(late);
	fixture_free(&f);
}

static void send_all(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static const char upgrade_request[] = "GET / HTTP/1.1\r\n"
				      "Host: bridge.example\r\n"
				      "Upgrade: websocket\r\n"
				      "Connection: Upgrade\r\n"
				      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				      "Sec-WebSocket-Version: 13\r\n\r\n";

/* Reads until the 101 response's blank line; returns 1 when it came. */
static int read_101(struct fixture *f, int fd)
{
	char resp[512];
	size_t got = 0;
	for (int i = 0; i < ROUNDS && got < sizeof resp - 1; i++) {
		spin(f, 1);
		ssize_t n = recv(fd, resp + got, sizeof resp - 1 - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		resp[got] = '\0';
		if (strstr(resp, "\r\n\r\n"))
			return strncmp(resp, "HTTP/1.1 101 ", 13) == 0;
		if (n == 0)
			return 0;
		poll(NULL, 0, 1);
	}
	return 0;
}

/* One masked binary frame (zero mask key: the payload goes as is). */
static size_t ws_frame(uint8_t *out, const uint8_t *payload, uint8_t len)
{
	out[0] = 0x82;
	out[1] = 0x80 | len;
	memset(out + 2, 0, 4);
	memcpy(out + 6, payload, len);
	return 6 + (size_t)len;
}

static void test_handover_and_shutdown_with_live_client(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, 0);
	assert_int_equal(f.srv->front.max, SF_MAX_HANDSHAKES_DEFAULT);
	int idle = accept_pair(&f);		/* sends nothing */
	int half = accept_pair(&f);		/* half a request */
	int ws = accept_pair(&f);		/* upgraded, no preamble yet */
	int client = accept_pair(&f);		/* a whole Snowflake preamble: handed over */
	send_all(half, upgrade_request, 20);
	send_all(ws, upgrade_request, sizeof upgrade_request - 1);
	assert_true(read_101(&f, ws));
	send_all(client, upgrade_request, sizeof upgrade_request - 1);
	assert_true(read_101(&f, client));
	assert_int_equal(f.srv->front.n, 4);

	uint8_t preamble[SF_TT_PREAMBLE_LEN], frame[64];
	memcpy(preamble, sf_tt_token, SF_TT_TOKEN_LEN);
	memcpy(preamble + SF_TT_TOKEN_LEN, "clientid", SF_TT_CLIENTID_LEN);
	send_all(client, frame, ws_frame(frame, preamble, sizeof preamble));
	for (int i = 0; i < ROUNDS && f.srv->front.n != 3; i++) {
		spin(&f, 1);
		poll(NULL, 0, 1);
	}
	/* the front forgot it without closing it: the shard has it now */
	assert_int_equal(f.srv->front.n, 3);
	assert_int_equal(peer_closed(client), 0);

	/* shutdown: the shard closes its client, the front its three connections */
	sf_server_free(f.srv);
	f.srv = NULL;
	int fds[] = { idle, half, ws, client };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		char buf[64];
		ssize_t n;
		/* what was already sent (101, a Close frame) may come first, then EOF */
		while ((n = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT)) > 0)
			;
		assert_true(n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK));
		close(fds[i]);
	}
	fixture_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oldest_handshake_closed_first),
		cmocka_unit_test(test_handover_and_shutdown_with_live_client),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
