/* sf_tls_transport under sf_conn: 1 MB each way through an echo, with the connection (and so its
 * SSL*) detached from one thread's event base and attached to another's in the middle of the
 * stream; a server-side flush-then-close; the transport's own read/pending/EOF mapping.
 *
 * sf_conn lives in sf_net, which test_tls_* executables are not linked against: its source is
 * compiled into this test instead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <signal.h>

#include "net/conn.h"
#include "tls_test_util.h"

#define NAME "example.com"
#define TOTAL (1u << 20)
#define MOVE_AT (TOTAL / 3)

static uint8_t pattern_at(size_t i)
{
	return (uint8_t)(i * 131u + (i >> 11));
}

TLS_TEST_SERVER_GROUP(F, NAME)

/* ---- client side of the transfers (on the client thread: no cmocka asserts there) ---- */

struct transfer {
	size_t sent, got;
	bool data_ok;
	bool eof;
	char error[160];
	atomic_bool finished;
};

static void client_error(struct transfer *t, const char *what)
{
	unsigned long e = ERR_get_error();
	snprintf(t->error, sizeof t->error, "%s: %s", what, e ? ERR_reason_error_string(e) : strerror(errno));
}

static bool client_read_exactly(SSL *ssl, struct transfer *t, size_t total)
{
	uint8_t buf[10007];
	t->data_ok = true;
	for (int guard = 0; guard < 100000 && t->got < total; guard++) {
		size_t n = 0;
		if (SSL_read_ex(ssl, buf, sizeof buf, &n) != 1) {
			client_error(t, "SSL_read");
			return false;
		}
		for (size_t i = 0; i < n && t->got + i < total; i++)
			if (buf[i] != pattern_at(t->got + i))
				t->data_ok = false;
		t->got += n;
	}
	return t->got == total;
}

/* Writes TOTAL bytes, then reads the echo back, then closes with close_notify. */
static void client_echo(struct tls_client *c, SSL *ssl)
{
	struct transfer *t = c->user;
	uint8_t buf[7919];
	while (t->sent < TOTAL) {
		size_t len = TOTAL - t->sent < sizeof buf ? TOTAL - t->sent : sizeof buf;
		for (size_t i = 0; i < len; i++)
			buf[i] = pattern_at(t->sent + i);
		size_t n = 0;
		if (SSL_write_ex(ssl, buf, len, &n) != 1) {
			client_error(t, "SSL_write");
			return;
		}
		t->sent += n;
	}
	client_read_exactly(ssl, t, TOTAL);
}

/* Reads TOTAL bytes, then expects the end of the stream. */
static void client_sink(struct tls_client *c, SSL *ssl)
{
	struct transfer *t = c->user;
	if (!client_read_exactly(ssl, t, TOTAL)) {
		atomic_store(&t->finished, true);
		return;
	}
	uint8_t b;
	size_t n;
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	t->eof = SSL_read_ex(ssl, &b, 1, &n) != 1 && SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN;
	ERR_clear_error();
	atomic_store(&t->finished, true);
}

/* ---- server side: an echo that moves to another thread ---- */

struct echo {
	struct sf_conn *conn;
	size_t received;
	bool data_ok;
	bool write_failed;
	pthread_t first_thread;
	int reads_first, reads_second;
	_Atomic(struct sf_conn *) handoff;	/* set when detached for the other thread */
	bool moved;
	atomic_int closes;
	char reason[64];
};

static void echo_read(void *user, const uint8_t *p, size_t n)
{
	struct echo *e = user;
	if (pthread_equal(pthread_self(), e->first_thread))
		e->reads_first++;
	else
		e->reads_second++;
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern_at(e->received + i))
			e->data_ok = false;
	e->received += n;
	if (sf_conn_write(e->conn, p, n) < 0)
		e->write_failed = true;
	if (!e->moved && e->received >= MOVE_AT) {
		e->moved = true;
		sf_conn_detach(e->conn);
		atomic_store(&e->handoff, e->conn);	/* not touched on this thread any more */
	}
}

static void echo_close(void *user, const char *reason)
{
	struct echo *e = user;
	snprintf(e->reason, sizeof e->reason, "%s", reason);
	atomic_fetch_add(&e->closes, 1);
}

static const struct sf_conn_callbacks echo_callbacks = {
	.on_read = echo_read,
	.on_close = echo_close,
};

/* The second thread: its own event base; attaches the connection once handed over, runs it
 * until the client has closed, then releases it. */
struct second {
	pthread_t thread;
	struct echo *echo;
	atomic_bool attached, finished;
};

static void *second_main(void *arg)
{
	struct second *s = arg;
	struct test_loop loop;
	test_loop_init(&loop);
	struct sf_conn *conn = NULL;
	for (int round = 0; round < TLS_TEST_MAX_ROUNDS; round++) {
		if (!conn && (conn = atomic_load(&s->echo->handoff))) {
			if (sf_conn_attach(conn, loop.base) == 0)
				atomic_store(&s->attached, true);
		}
		if (atomic_load(&s->echo->closes) > 0)
			break;
		event_base_loop(loop.base, EVLOOP_ONCE);
	}
	if (conn)
		sf_conn_close(conn);
	test_loop_free(&loop);
	atomic_store(&s->finished, true);
	return NULL;
}

static void test_echo_1mb_moving_threads(void **state)
{
	(void)state;
	struct transfer t = { 0 };
	struct tls_client c = { .after = client_echo, .user = &t };
	struct tls_test_outcome o;
	tls_test_server_handshake(&F, &c, &o);

	struct echo e = { .data_ok = true, .first_thread = pthread_self() };
	atomic_init(&e.handoff, NULL);
	e.conn = sf_conn_new_transport(F.loop.base, o.fd, &sf_tls_transport, o.ssl, &echo_callbacks, &e);
	assert_non_null(e.conn);
	struct second s = { .echo = &e };
	assert_int_equal(pthread_create(&s.thread, NULL, second_main, &s), 0);

	TEST_RUN_UNTIL(&F.loop, atomic_load(&e.handoff) != NULL);
	pthread_join(s.thread, NULL);
	tls_client_join(&c);

	if (t.error[0])
		fprintf(stderr, "client: %s\n", t.error);
	assert_true(atomic_load(&s.attached));
	assert_int_equal(t.sent, TOTAL);
	assert_int_equal(t.got, TOTAL);
	assert_true(t.data_ok);
	assert_int_equal(e.received, TOTAL);
	assert_true(e.data_ok);
	assert_false(e.write_failed);
	assert_true(e.reads_first > 0);
	assert_true(e.reads_second > 0);
	assert_int_equal(atomic_load(&e.closes), 1);
	assert_string_equal(e.reason, "EOF");	/* the client's close_notify */
	tls_client_free(&c);
}

static void test_send_1mb_then_close_flush(void **state)
{
	(void)state;
	struct transfer t = { 0 };
	struct tls_client c = { .after = client_sink, .user = &t };
	struct tls_test_outcome o;
	tls_test_server_handshake(&F, &c, &o);
	struct sf_conn *conn = sf_conn_new_transport(F.loop.base, o.fd, &sf_tls_transport, o.ssl, NULL, NULL);
	assert_non_null(conn);
	uint8_t *data = malloc(TOTAL);
	assert_non_null(data);
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = pattern_at(i);
	/* in uneven pieces, so that writes retried after WANT_WRITE see the buffer grow */
	for (size_t off = 0; off < TOTAL;) {
		size_t len = TOTAL - off < 3001 ? TOTAL - off : 3001;
		assert_int_equal(sf_conn_write(conn, data + off, len), 0);
		off += len;
		if (off % (30 * 3001) == 0)
			event_base_loop(F.loop.base, EVLOOP_NONBLOCK);
	}
	free(data);
	sf_conn_close_flush(conn, 20000);
	for (int i = 0; i < TLS_TEST_MAX_ROUNDS && !atomic_load(&t.finished); i++)
		event_base_loop(F.loop.base, EVLOOP_ONCE);
	tls_client_join(&c);
	/* let the flushing connection notice it is done and free itself */
	for (int i = 0; i < 20; i++)
		event_base_loop(F.loop.base, EVLOOP_NONBLOCK);
	if (t.error[0])
		fprintf(stderr, "client: %s\n", t.error);
	assert_int_equal(t.got, TOTAL);
	assert_true(t.data_ok);
	assert_true(t.eof);
	tls_client_free(&c);
}

/* ---- the transport's functions on their own ---- */

/* One 5000-byte record, then reads 8 bytes back (into t->error, as text). */
static void client_send_then_read(struct tls_client *c, SSL *ssl)
{
	struct transfer *t = c->user;
	uint8_t record[5000];
	for (size_t i = 0; i < sizeof record; i++)
		record[i] = pattern_at(i);
	size_t n;
	if (SSL_write_ex(ssl, record, sizeof record, &n) != 1)
		return;
	for (int i = 0; i < 10 && t->got < 8; i++) {
		if (SSL_read_ex(ssl, t->error + t->got, 8 - t->got, &n) != 1)
			break;
		t->got += n;
	}
}

static void test_transport_read_pending_eof(void **state)
{
	(void)state;
	atomic_bool release = false;
	struct transfer t = { 0 };
	struct tls_client c = { .after = client_send_then_read, .user = &t, .release = &release };
	struct tls_test_outcome o;
	tls_test_server_handshake(&F, &c, &o);
	const struct sf_conn_transport *tr = &sf_tls_transport;
	uint8_t buf[100];
	ssize_t n = SF_CONN_WANT_READ;
	/* non-blocking: wait for the record to arrive (bounded) */
	for (int i = 0; i < 2000 && n == SF_CONN_WANT_READ; i++) {
		n = tr->read(o.ssl, o.fd, buf, sizeof buf);
		if (n == SF_CONN_WANT_READ)
			usleep(2000);
	}
	assert_int_equal(n, 100);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(buf[i], pattern_at(i));
	/* the rest of the 5000-byte record is decrypted already: no socket event would say so */
	assert_int_equal(tr->pending(o.ssl), 4900);
	uint8_t rest[5000];
	assert_int_equal(tr->read(o.ssl, o.fd, rest, sizeof rest), 4900);
	assert_int_equal(tr->pending(o.ssl), 0);
	assert_int_equal(tr->read(o.ssl, o.fd, rest, sizeof rest), SF_CONN_WANT_READ);

	struct iovec iov[3] = {
		{ .iov_base = "abc", .iov_len = 3 },
		{ .iov_base = "defg", .iov_len = 4 },
		{ .iov_base = "h", .iov_len = 1 },
	};
	assert_int_equal(tr->writev(o.ssl, o.fd, iov, 3), 8);	/* coalesced into one record */

	atomic_store(&release, true);	/* the client shuts down with close_notify */
	tls_client_join(&c);
	assert_int_equal(t.got, 8);
	assert_memory_equal(t.error, "abcdefgh", 8);
	n = SF_CONN_WANT_READ;
	for (int i = 0; i < 2000 && n == SF_CONN_WANT_READ; i++) {
		n = tr->read(o.ssl, o.fd, rest, sizeof rest);
		if (n == SF_CONN_WANT_READ)
			usleep(2000);
	}
	assert_int_equal(n, 0);
	close(o.fd);
	tr->free(o.ssl);
	tls_client_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_1mb_moving_threads),
		cmocka_unit_test(test_send_1mb_then_close_flush),
		cmocka_unit_test(test_transport_read_pending_eof),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
