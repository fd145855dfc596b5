/* The TLS data path in batches: many small writes leave as a few full records in one send(2);
 * many small records arriving are read with one recv(2) and handed over in one callback; a reader
 * that does not read for a while makes the socket refuse part of a batch, which is queued and
 * still arrives byte-exact, before a flush-then-close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <signal.h>

#include "net/conn.h"
#include "tls/internal.h"
#include "tls_test_util.h"

#define NAME "example.com"
#define SMALL 100
#define SMALL_COUNT 1000			/* 100 000 bytes: 7 full-or-last records */
#define SMALL_TOTAL (SMALL * SMALL_COUNT)
#define RECORDS_FOR(n) (((n) + 16383) / 16384)
#define IN_COUNT 500				/* 500 records of 100 bytes: 61 000 bytes on the wire */
#define SLOW_TOTAL 4000000

static uint8_t pattern_at(size_t i)
{
	return (uint8_t)(i * 131u + (i >> 11));
}

TLS_TEST_SERVER_GROUP(F, NAME)

/* Every test runs twice: over our TLS 1.3 record layer (what sf_tls_transport_for() picks) and
 * over OpenSSL's (sf_tls_transport, as TLS 1.2 connections stay). */
static const struct sf_conn_transport *tr;
static void *tr_ctx;

static struct sf_conn *wrap_conn(struct tls_test_outcome *o, const struct sf_conn_callbacks *cb,
				 void *user)
{
	struct sf_conn *conn = tls_test_server_conn(&F, o, cb, user, &tr, &tr_ctx);
	assert_ptr_equal(tr, F.ctx->openssl_records ? &sf_tls_transport : &sf_tls_record_transport);
	return conn;
}

static int group_setup_openssl(void **state)
{
	int r = group_setup(state);
	if (r == 0)
		F.ctx->openssl_records = true;
	return r;
}


/* ---- the client (its own thread: no cmocka asserts there) ---- */

struct peer {
	size_t want;			/* bytes to read and check */
	atomic_bool *hold;		/* NULL, or: read only once set (bounded wait) */
	size_t got;
	bool data_ok, eof;
	int app_records;		/* application-data records received */
	atomic_bool written, finished;
};

static void count_records(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
			  void *arg)
{
	(void)version;
	(void)ssl;
	struct peer *p = arg;
	if (!write_p && type == SSL3_RT_INNER_CONTENT_TYPE && len == 1 &&
	    ((const uint8_t *)buf)[0] == SSL3_RT_APPLICATION_DATA)
		p->app_records++;
}

static void read_and_check(SSL *ssl, struct peer *p)
{
	uint8_t buf[4096];
	p->data_ok = true;
	for (int guard = 0; guard < 100000 && p->got < p->want; guard++) {
		size_t n = 0;
		if (SSL_read_ex(ssl, buf, sizeof buf, &n) != 1)
			break;
		for (size_t i = 0; i < n; i++)
			if (buf[i] != pattern_at(p->got + i))
				p->data_ok = false;
		p->got += n;
	}
	uint8_t b;
	size_t n;
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	p->eof = SSL_read_ex(ssl, &b, 1, &n) != 1 && SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN;
	ERR_clear_error();
}

static void client_reader(struct tls_client *c, SSL *ssl)
{
	struct peer *p = c->user;
	SSL_set_msg_callback(ssl, count_records);
	SSL_set_msg_callback_arg(ssl, p);
	/* Held until the server side has seen its socket full: a sleep would race with a loaded
	 * machine that runs the server's loop late. */
	for (int i = 0; p->hold && i < 10000 && !atomic_load(p->hold); i++)
		usleep(2000);
	read_and_check(ssl, p);
	atomic_store(&p->finished, true);
}

/* IN_COUNT records of SMALL bytes each, then waits to be released. */
static void client_small_writer(struct tls_client *c, SSL *ssl)
{
	struct peer *p = c->user;
	uint8_t rec[SMALL];
	for (size_t r = 0; r < IN_COUNT; r++) {
		for (size_t i = 0; i < SMALL; i++)
			rec[i] = pattern_at(r * SMALL + i);
		size_t n;
		if (SSL_write_ex(ssl, rec, sizeof rec, &n) != 1)
			break;
	}
	atomic_store(&p->written, true);
}

/* ---- server side ---- */

struct sink {
	size_t received;
	int reads;
	bool data_ok;
	char reason[64];
};

static void sink_read(void *user, const uint8_t *p, size_t n)
{
	struct sink *s = user;
	s->reads++;
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern_at(s->received + i))
			s->data_ok = false;
	s->received += n;
}

static void sink_close(void *user, const char *reason)
{
	struct sink *s = user;
	snprintf(s->reason, sizeof s->reason, "%s", reason);
}

static const struct sf_conn_callbacks sink_callbacks = {
	.on_read = sink_read,
	.on_close = sink_close,
};

static void run_until_finished(struct peer *p)
{
	for (int i = 0; i < TLS_TEST_MAX_ROUNDS && !atomic_load(&p->finished); i++)
		event_base_loop(F.loop.base, EVLOOP_ONCE);
	for (int i = 0; i < 20; i++)	/* a flushing connection frees itself */
		event_base_loop(F.loop.base, EVLOOP_NONBLOCK);
}

static void test_small_writes_leave_as_full_records_in_one_send(void **state)
{
	(void)state;
	struct peer p = { .want = SMALL_TOTAL };
	struct tls_client c = { .after = client_reader, .user = &p };
	struct tls_test_outcome o;
	tls_test_server_handshake(&F, &c, &o);
	int big = 1 << 20;	/* room for the whole batch: the count below is then exact */
	setsockopt(o.fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	struct sf_conn *conn = wrap_conn(&o, NULL, NULL);
	assert_non_null(conn);
	struct sf_tls_io *io = sf_tls_transport_io(tr, tr_ctx);
	assert_non_null(io);
	unsigned long sends_before = io->sends;
	/* as WebSocket messages are queued: many small writes in one loop iteration */
	uint8_t msg[SMALL];
	for (size_t m = 0; m < SMALL_COUNT; m++) {
		for (size_t i = 0; i < SMALL; i++)
			msg[i] = pattern_at(m * SMALL + i);
		assert_int_equal(sf_conn_write(conn, msg, sizeof msg), 0);
	}
	for (int i = 0; i < 50 && sf_conn_output_len(conn) > 0; i++)
		event_base_loop(F.loop.base, EVLOOP_ONCE);
	assert_int_equal(sf_conn_output_len(conn), 0);
	unsigned long sends = io->sends - sends_before;
	sf_conn_close_flush(conn, 5000);
	run_until_finished(&p);
	tls_client_join(&c);
	if (c.error[0])
		fprintf(stderr, "client: %s\n", c.error);
	assert_int_equal(p.got, SMALL_TOTAL);
	assert_true(p.data_ok);
	assert_int_equal(p.app_records, RECORDS_FOR(SMALL_TOTAL));
	assert_int_equal(sends, 1);
	tls_client_free(&c);
}

static void test_small_records_arrive_in_one_read(void **state)
{
	(void)state;
	atomic_bool release = false;
	struct peer p = { 0 };
	struct tls_client c = { .after = client_small_writer, .user = &p, .release = &release };
	struct tls_test_outcome o;
	tls_test_server_handshake(&F, &c, &o);
	for (int i = 0; i < 2000 && !atomic_load(&p.written); i++)
		usleep(2000);
	assert_true(atomic_load(&p.written));
	usleep(20000);	/* the last segments reach the socket */
	struct sink s = { .data_ok = true };
	struct sf_conn *conn = wrap_conn(&o, &sink_callbacks, &s);
	assert_non_null(conn);
	struct sf_tls_io *io = sf_tls_transport_io(tr, tr_ctx);
	assert_non_null(io);
	unsigned long recvs_before = io->recvs;
	TEST_RUN_UNTIL(&F.loop, s.received >= IN_COUNT * SMALL);
	assert_int_equal(s.received, IN_COUNT * SMALL);
	assert_true(s.data_ok);
	/* 500 records before: one recv(2) for each header and body, one callback for each record */
	assert_true(s.reads <= 2);
	assert_true(io->recvs - recvs_before <= 4);
	atomic_store(&release, true);
	TEST_RUN_UNTIL(&F.loop, s.reason[0] != '\0');
	/* the client's close may send RST instead of FIN if it left bytes unread */
	assert_true(strcmp(s.reason, "EOF") == 0 || strcmp(s.reason, "read: connection reset by peer") == 0);
	sf_conn_close(conn);
	tls_client_join(&c);
	tls_client_free(&c);
}

static void test_slow_reader_gets_every_byte_then_close(void **state)
{
	(void)state;
	atomic_bool hold = false;
	struct peer p = { .want = SLOW_TOTAL, .hold = &hold };
	struct tls_client c = { .after = client_reader, .user = &p };
	struct tls_test_outcome o;
	tls_test_server_handshake(&F, &c, &o);
	/* Fixed, small buffers on both ends: autotuned ones (or a machine with large tcp_rmem/wmem
	 * defaults) could take the whole 4 MB and never refuse anything. */
	int small = 64 * 1024;
	setsockopt(o.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct sf_conn *conn = wrap_conn(&o, NULL, NULL);
	assert_non_null(conn);
	uint8_t *data = malloc(SLOW_TOTAL);
	assert_non_null(data);
	for (size_t i = 0; i < SLOW_TOTAL; i++)
		data[i] = pattern_at(i);
	for (size_t off = 0; off < SLOW_TOTAL;) {
		size_t len = SLOW_TOTAL - off < 3001 ? SLOW_TOTAL - off : 3001;
		assert_int_equal(sf_conn_write(conn, data + off, len), 0);
		off += len;
	}
	free(data);
	/* the client does not read yet: the socket fills and refuses part of a sealed batch */
	bool refused = false;
	for (int i = 0; i < 2000 && !refused; i++) {
		event_base_loop(F.loop.base, EVLOOP_NONBLOCK);
		refused = tr->unsent(tr_ctx) > 0;
		if (!refused)
			usleep(1000);	/* a loaded machine: give the kernel time, bounded (2 s) */
	}
	bool covered = sf_conn_output_len(conn) >= tr->unsent(tr_ctx);
	atomic_store(&hold, true); /* before any assert: a failed one must not leave it waiting */
	assert_true(refused);
	assert_true(covered);
	sf_conn_close_flush(conn, 20000);
	run_until_finished(&p);
	tls_client_join(&c);
	if (c.error[0])
		fprintf(stderr, "client: %s\n", c.error);
	assert_int_equal(p.got, SLOW_TOTAL);
	assert_true(p.data_ok);
	assert_true(p.eof);
	tls_client_free(&c);
}

/* Closed at once with sealed records still queued: nothing leaks, nothing more is sent. */
static void test_close_with_queued_records(void **state)
{
	(void)state;
	atomic_bool release = false;
	struct tls_client c = { .release = &release };
	struct tls_test_outcome o;
	tls_test_server_handshake(&F, &c, &o);
	struct sf_conn *conn = wrap_conn(&o, NULL, NULL);
	assert_non_null(conn);
	uint8_t chunk[60000];
	memset(chunk, 'x', sizeof chunk);
	bool refused = false;
	for (int i = 0; i < 400 && !refused; i++) {
		if (sf_conn_output_len(conn) < (1u << 20))
			assert_int_equal(sf_conn_write(conn, chunk, sizeof chunk), 0);
		event_base_loop(F.loop.base, EVLOOP_NONBLOCK);
		refused = tr->unsent(tr_ctx) > 0;
	}
	assert_true(refused);
	sf_conn_close(conn);
	atomic_store(&release, true);
	tls_client_join(&c);
	tls_client_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_writes_leave_as_full_records_in_one_send),
		cmocka_unit_test(test_small_records_arrive_in_one_read),
		cmocka_unit_test(test_slow_reader_gets_every_byte_then_close),
		cmocka_unit_test(test_close_with_queued_records),
	};
	int failed = cmocka_run_group_tests_name("our record layer", tests, group_setup, group_teardown);
	failed += cmocka_run_group_tests_name("OpenSSL's record layer", tests, group_setup_openssl,
					      group_teardown);
	return failed;
}
