/* What sf_conn offers for the tor side of the relay (src/tor/dial.c, src/shard/stream.c), over
 * loopback TCP: the outgoing connect (up, refused at once or later, bound to a source address, its
 * deadline), on_sent accounting (bytes count as sent only once the socket took them), the
 * half-close after the output is flushed, and read_room (reads never larger than the owner takes;
 * 0 pauses until resumed). Every loop is bounded; a 10 ms ticker keeps EVLOOP_ONCE returning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop_test_util.h"
#include "net/conn.h"
#include "net/listener.h"


/* A loopback listener on a free port; its address in *sa. */
static int listener(struct sockaddr_in *sa)
{
	char err[256];
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int lfd = sf_net_listen((struct sockaddr *)sa, sizeof *sa, err, sizeof err);
	assert_true(lfd >= 0);
	socklen_t len = sizeof *sa;
	assert_int_equal(getsockname(lfd, (struct sockaddr *)sa, &len), 0);
	return lfd;
}

static int accept_one(int lfd)
{
	int fd = -1;
	for (int i = 0; i < 1000 && fd < 0; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			usleep(1000);
	}
	assert_true(fd >= 0);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

/* ---- a recording owner ---- */

struct owner {
	struct sf_conn *conn;
	int connected;
	int closes;
	char reason[128];
	uint8_t in[4096];
	size_t in_len;
	size_t max_read;	/* largest single read seen */
	size_t sent;		/* sum of on_sent */
	int sent_calls;
	size_t room;		/* what read_room answers */
	int room_asked;
};

static void on_read(void *user, const uint8_t *p, size_t n)
{
	struct owner *o = user;
	assert_true(o->in_len + n <= sizeof o->in);
	memcpy(o->in + o->in_len, p, n);
	o->in_len += n;
	if (n > o->max_read)
		o->max_read = n;
}

static void on_close(void *user, const char *reason)
{
	struct owner *o = user;
	o->closes++;
	snprintf(o->reason, sizeof o->reason, "%s", reason);
}

static void on_connected(void *user)
{
	struct owner *o = user;
	o->connected++;
}

static void on_sent(void *user, size_t n)
{
	struct owner *o = user;
	assert_true(n > 0);
	o->sent += n;
	o->sent_calls++;
}

static size_t read_room(void *user)
{
	struct owner *o = user;
	o->room_asked++;
	return o->room;
}

static const struct sf_conn_callbacks plain_cb = {
	.on_read = on_read,
	.on_close = on_close,
	.on_connected = on_connected,
	.on_sent = on_sent,
};

static const struct sf_conn_callbacks room_cb = {
	.on_read = on_read,
	.on_close = on_close,
	.on_connected = on_connected,
	.on_sent = on_sent,
	.read_room = read_room,
};

static struct sf_conn *connect_to(struct test_loop *l, const struct sockaddr_in *sa, struct owner *o,
				  const struct sf_conn_callbacks *cb)
{
	char err[256] = "";
	struct sf_conn *c = sf_conn_connect(l->base, (const struct sockaddr *)sa, sizeof *sa, NULL, 0, cb,
					    o, err, sizeof err);
	if (!c)
		fail_msg("sf_conn_connect: %s", err);
	o->conn = c;
	return c;
}

/* ---- connect ---- */

static void test_connect_up(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	struct sockaddr_in sa;
	int lfd = listener(&sa);
	struct owner o = { 0 };
	connect_to(&l, &sa, &o, &plain_cb);
	assert_int_equal(o.connected, 0); /* never from inside sf_conn_connect */

	/* Written before the connect finished: kept, and sent once it is up. */
	assert_int_equal(sf_conn_write(o.conn, "early", 5), 0);
	TEST_RUN_UNTIL(&l, o.connected == 1);
	int peer = accept_one(lfd);
	char buf[16];
	assert_int_equal(recv(peer, buf, sizeof buf, 0), 5);
	assert_memory_equal(buf, "early", 5);
	TEST_RUN_UNTIL(&l, o.sent == 5);

	/* Reading runs once connected. */
	assert_int_equal(send(peer, "back", 4, 0), 4);
	TEST_RUN_UNTIL(&l, o.in_len == 4);
	assert_memory_equal(o.in, "back", 4);
	assert_int_equal(o.closes, 0);
	assert_int_equal(o.connected, 1);
	sf_conn_close(o.conn);
	close(peer);
	close(lfd);
	test_loop_free(&l);
}

static void test_connect_refused(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	struct sockaddr_in sa;
	close(listener(&sa)); /* the port is now (very likely) closed */
	struct owner o = { 0 };
	connect_to(&l, &sa, &o, &plain_cb);
	assert_int_equal(o.closes, 0);
	TEST_RUN_UNTIL(&l, o.closes == 1);
	assert_string_equal(o.reason, "connect: connection refused");
	assert_int_equal(o.connected, 0);
	assert_false(sf_conn_is_open(o.conn));
	sf_conn_close(o.conn);

	/* connect() failing at once (Linux refuses TCP to a multicast address: ENETUNREACH) is
	 * also reported from the loop, never inside sf_conn_connect. */
	struct sockaddr_in mc = { .sin_family = AF_INET, .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(0xe0000001) };
	struct owner m = { 0 };
	connect_to(&l, &mc, &m, &plain_cb);
	assert_int_equal(m.closes, 0);
	TEST_RUN_UNTIL(&l, m.closes == 1);
	assert_true(strncmp(m.reason, "connect: ", 9) == 0);
	assert_int_equal(m.connected, 0);
	sf_conn_close(m.conn);
	test_loop_free(&l);
}

static void test_connect_source_and_deadline(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	struct sockaddr_in sa;
	int lfd = listener(&sa);

	/* Bound to a source address: the peer sees it. */
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002) };
	struct owner o = { 0 };
	char err[256] = "";
	o.conn = sf_conn_connect(l.base, (struct sockaddr *)&sa, sizeof sa, (struct sockaddr *)&src,
				 sizeof src, &plain_cb, &o, err, sizeof err);
	assert_non_null(o.conn);
	TEST_RUN_UNTIL(&l, o.connected == 1);
	struct sockaddr_in peer_addr;
	socklen_t len = sizeof peer_addr;
	int peer = accept4(lfd, (struct sockaddr *)&peer_addr, &len, SOCK_CLOEXEC);
	assert_true(peer >= 0);
	assert_int_equal(peer_addr.sin_addr.s_addr, htonl(0x7f000002));
	sf_conn_close(o.conn);
	close(peer);

	/* A source address this host does not have: no connection, and the reason in Go's form. */
	struct sockaddr_in bad = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc0000207) };
	assert_null(sf_conn_connect(l.base, (struct sockaddr *)&sa, sizeof sa, (struct sockaddr *)&bad,
				    sizeof bad, &plain_cb, &o, err, sizeof err));
	assert_string_equal(err, "bind: cannot assign requested address");
	close(lfd);

	/* A connect that hangs (the listener's queue is full, SYNs are dropped) meets its deadline. */
	lfd = listener(&sa);
	assert_int_equal(listen(lfd, 0), 0);
	int fillers[4];
	for (int i = 0; i < 4; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int rc = connect(fillers[i], (struct sockaddr *)&sa, sizeof sa);
		assert_true(rc == 0 || errno == EINPROGRESS);
	}
	usleep(100 * 1000);
	struct owner h = { 0 };
	connect_to(&l, &sa, &h, &plain_cb);
	sf_conn_set_deadline(h.conn, 200);
	TEST_RUN_UNTIL(&l, h.closes == 1);
	assert_string_equal(h.reason, "timeout");
	assert_int_equal(h.connected, 0);
	sf_conn_close(h.conn);
	for (int i = 0; i < 4; i++)
		close(fillers[i]);
	close(lfd);
	test_loop_free(&l);
}

/* ---- on_sent ---- */

static void test_on_sent_counts_only_taken_bytes(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	struct sockaddr_in sa;
	int lfd = listener(&sa);
	struct owner o = { 0 };
	connect_to(&l, &sa, &o, &plain_cb);
	int small = 16384;
	setsockopt(sf_conn_fd(o.conn), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	TEST_RUN_UNTIL(&l, o.connected == 1);
	int peer = accept_one(lfd);
	setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);

	/* Nobody reads: what the socket did not take is not reported sent. */
	size_t total = 2u << 20;
	uint8_t *data = malloc(total);
	assert_non_null(data);
	for (size_t i = 0; i < total; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	assert_int_equal(sf_conn_write(o.conn, data, total), 0);
	for (int i = 0; i < 20; i++)
		event_base_loop(l.base, EVLOOP_ONCE);
	assert_true(o.sent > 0 && o.sent < total);
	assert_int_equal(o.sent + sf_conn_output_len(o.conn), total);

	/* The reader catches up: every byte is reported exactly once, and arrived. */
	uint8_t *got = malloc(total);
	size_t got_len = 0;
	for (int round = 0; round < 100000 && got_len < total; round++) {
		event_base_loop(l.base, EVLOOP_NONBLOCK);
		ssize_t n = recv(peer, got + got_len, total - got_len, MSG_DONTWAIT);
		if (n > 0)
			got_len += (size_t)n;
		else
			usleep(100);
	}
	assert_int_equal(got_len, total);
	assert_memory_equal(got, data, total);
	TEST_RUN_UNTIL(&l, sf_conn_output_len(o.conn) == 0);
	assert_int_equal(o.sent, total);
	assert_true(o.sent_calls > 1);
	sf_conn_close(o.conn);
	close(peer);
	close(lfd);
	free(data);
	free(got);
	test_loop_free(&l);
}

/* ---- half-close ---- */

static void test_close_write_after_flush(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	struct sockaddr_in sa;
	int lfd = listener(&sa);
	struct owner o = { 0 };
	connect_to(&l, &sa, &o, &plain_cb);
	int small = 16384;
	setsockopt(sf_conn_fd(o.conn), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	TEST_RUN_UNTIL(&l, o.connected == 1);
	int peer = accept_one(lfd);
	setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);

	/* More than the sockets hold, then the half-close: it waits for the output. */
	size_t total = 1u << 20;
	uint8_t *data = malloc(total);
	for (size_t i = 0; i < total; i++)
		data[i] = (uint8_t)(i * 13 + (i >> 10));
	assert_int_equal(sf_conn_write(o.conn, data, total), 0);
	sf_conn_close_write(o.conn);
	assert_int_equal(sf_conn_write(o.conn, "late", 4), -1); /* refused after close_write */
	for (int i = 0; i < 10; i++)
		event_base_loop(l.base, EVLOOP_ONCE);
	assert_false(sf_conn_write_closed(o.conn));
	assert_true(sf_conn_output_len(o.conn) > 0);

	/* The peer reads everything, then EOF: nothing was cut. */
	uint8_t *got = malloc(total + 1);
	size_t got_len = 0;
	bool eof = false;
	for (int round = 0; round < 100000 && !eof; round++) {
		event_base_loop(l.base, EVLOOP_NONBLOCK);
		ssize_t n = recv(peer, got + got_len, total + 1 - got_len, MSG_DONTWAIT);
		if (n > 0)
			got_len += (size_t)n;
		else if (n == 0)
			eof = true;
		else
			usleep(100);
	}
	assert_true(eof);
	assert_int_equal(got_len, total);
	assert_memory_equal(got, data, total);
	assert_true(sf_conn_write_closed(o.conn));
	assert_int_equal(o.sent, total);

	/* Our read side is still open: the peer's answer after our EOF arrives, then its EOF. */
	assert_int_equal(o.closes, 0);
	assert_int_equal(send(peer, "reply", 5, 0), 5);
	TEST_RUN_UNTIL(&l, o.in_len == 5);
	assert_memory_equal(o.in, "reply", 5);
	shutdown(peer, SHUT_WR);
	TEST_RUN_UNTIL(&l, o.closes == 1);
	assert_string_equal(o.reason, "EOF");
	sf_conn_close(o.conn);

	/* With nothing queued the shutdown is at once. */
	struct owner e = { 0 };
	connect_to(&l, &sa, &e, &plain_cb);
	TEST_RUN_UNTIL(&l, e.connected == 1);
	int peer2 = accept_one(lfd);
	sf_conn_close_write(e.conn);
	assert_true(sf_conn_write_closed(e.conn));
	char c;
	assert_int_equal(recv(peer2, &c, 1, 0), 0);
	sf_conn_close(e.conn);

	close(peer);
	close(peer2);
	close(lfd);
	free(data);
	free(got);
	test_loop_free(&l);
}

/* ---- read_room ---- */

static void test_read_room(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	struct sockaddr_in sa;
	int lfd = listener(&sa);
	struct owner o = { .room = 3 };
	connect_to(&l, &sa, &o, &room_cb);
	TEST_RUN_UNTIL(&l, o.connected == 1);
	int peer = accept_one(lfd);

	/* Reads never exceed the room the owner gives. */
	assert_int_equal(send(peer, "abcdefghij", 10, 0), 10);
	TEST_RUN_UNTIL(&l, o.in_len == 10);
	assert_memory_equal(o.in, "abcdefghij", 10);
	assert_int_equal(o.max_read, 3);

	/* No room: nothing is read, the bytes stay in the socket, and reading stays paused (no
	 * busy polling) until the owner resumes it. */
	o.room = 0;
	int before = o.room_asked;
	assert_int_equal(send(peer, "klmno", 5, 0), 5);
	TEST_RUN_UNTIL(&l, o.room_asked > before);
	int asked = o.room_asked;
	for (int i = 0; i < 10; i++)
		event_base_loop(l.base, EVLOOP_ONCE);
	assert_int_equal(o.room_asked, asked);
	assert_int_equal(o.in_len, 10);
	o.room = 100;
	sf_conn_resume_read(o.conn);
	TEST_RUN_UNTIL(&l, o.in_len == 15);
	assert_memory_equal(o.in + 10, "klmno", 5);
	assert_int_equal(o.closes, 0);
	sf_conn_close(o.conn);
	close(peer);
	close(lfd);
	test_loop_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_up),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_connect_source_and_deadline),
		cmocka_unit_test(test_on_sent_counts_only_taken_bytes),
		cmocka_unit_test(test_close_write_after_flush),
		cmocka_unit_test(test_read_room),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
