/* sf_conn over loopback TCP: reads and writes, output length and the drained callback, pause,
 * deadline, EOF, closing from callbacks, flush-then-close, and a hand-over between two threads'
 * event bases. Every loop is bounded; a 10 ms ticker keeps event_base_loop(EVLOOP_ONCE) returning. */
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
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/bug.h"
#include "loop_test_util.h"
#include "net/conn.h"
#include "net/listener.h"


/* ---- loopback plumbing ---- */

static void tcp_pair(int *server, int *client)
{
	char err[256];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int lfd = sf_net_listen((struct sockaddr *)&sa, sizeof sa, err, sizeof err);
	assert_true(lfd >= 0);
	socklen_t len = sizeof sa;
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&sa, sizeof sa), 0);
	*server = -1;
	for (int i = 0; i < 1000 && *server < 0; i++) {
		*server = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (*server < 0)
			usleep(1000);
	}
	assert_true(*server >= 0);
	close(lfd);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(*client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(*client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* ---- a recording owner ---- */

struct owner {
	struct sf_conn *conn;
	uint8_t *in;
	size_t in_len, in_cap;
	int drained;
	int closes;
	char reason[128];
	int reads;
	int close_on_read;	/* sf_conn_write() then sf_conn_close() from inside on_read */
	int close_on_close;	/* sf_conn_close() from inside on_close */
};

static void owner_on_read(void *user, const uint8_t *p, size_t n)
{
	struct owner *o = user;
	o->reads++;
	assert_true(n > 0 && n <= SF_CONN_READ_CHUNK);
	if (o->in_len + n > o->in_cap) {
		o->in_cap = (o->in_len + n) * 2;
		o->in = realloc(o->in, o->in_cap);
		assert_non_null(o->in);
	}
	memcpy(o->in + o->in_len, p, n);
	o->in_len += n;
	if (o->close_on_read) {
		assert_int_equal(sf_conn_write(o->conn, "dropped", 7), 0);
		sf_conn_close(o->conn);
		o->conn = NULL;
	}
}

static void owner_on_drained(void *user)
{
	struct owner *o = user;
	o->drained++;
}

static void owner_on_close(void *user, const char *reason)
{
	struct owner *o = user;
	o->closes++;
	snprintf(o->reason, sizeof o->reason, "%s", reason);
	if (o->close_on_close) {
		sf_conn_close(o->conn);
		o->conn = NULL;
	}
}

static const struct sf_conn_callbacks owner_callbacks = {
	.on_read = owner_on_read,
	.on_drained = owner_on_drained,
	.on_close = owner_on_close,
};

static void owner_done(struct owner *o)
{
	if (o->conn)
		sf_conn_close(o->conn);
	free(o->in);
	memset(o, 0, sizeof *o);
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131 + seed) ^ (i >> 9));
}

/* ---- tests ---- */

static void test_write_read_both_ways(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	struct owner a = { 0 }, b = { 0 };
	a.conn = sf_conn_new(l.base, sfd, &owner_callbacks, &a);
	b.conn = sf_conn_new(l.base, cfd, &owner_callbacks, &b);
	assert_non_null(a.conn);
	assert_non_null(b.conn);
	assert_true(sf_conn_is_open(a.conn));
	assert_ptr_equal(sf_conn_base(a.conn), l.base);
	assert_int_equal(sf_conn_fd(a.conn), sfd);

	assert_int_equal(sf_conn_write(a.conn, "hello", 5), 0);
	assert_int_equal(sf_conn_write(a.conn, "", 0), 0);
	TEST_RUN_UNTIL(&l, b.in_len == 5);
	assert_memory_equal(b.in, "hello", 5);

	/* 1 MiB the other way arrives whole and in order, in reads of at most 16 KiB. */
	size_t big = 1 << 20;
	uint8_t *data = malloc(big);
	fill_pattern(data, big, 7);
	for (size_t off = 0; off < big; off += 100000)
		assert_int_equal(sf_conn_write(b.conn, data + off, off + 100000 > big ? big - off : 100000), 0);
	TEST_RUN_UNTIL(&l, a.in_len == big);
	assert_memory_equal(a.in, data, big);
	assert_true(a.reads >= (int)(big / SF_CONN_READ_CHUNK));
	assert_int_equal(sf_conn_output_len(b.conn), 0);
	assert_int_equal(a.closes + b.closes, 0);

	/* The peer's EOF ends the connection; writes fail afterwards. */
	sf_conn_close(b.conn);
	b.conn = NULL;
	TEST_RUN_UNTIL(&l, a.closes == 1);
	assert_string_equal(a.reason, "EOF");
	assert_false(sf_conn_is_open(a.conn));
	assert_int_equal(sf_conn_write(a.conn, "x", 1), -1);
	owner_done(&a);
	owner_done(&b);
	free(data);
	test_loop_free(&l);
}

static void test_output_len_and_drained(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	int small = 65536;
	setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct owner a = { 0 };
	a.conn = sf_conn_new(l.base, sfd, &owner_callbacks, &a);

	/* The cap refuses what would not fit, and keeps nothing of it. */
	sf_conn_set_output_cap(a.conn, 3 << 20);
	size_t total = 2 << 20;
	uint8_t *data = malloc(total);
	fill_pattern(data, total, 3);
	assert_int_equal(sf_conn_write(a.conn, data, total), 0);
	assert_int_equal(sf_conn_output_len(a.conn), total);
	assert_int_equal(sf_conn_write(a.conn, data, (1 << 20) + 1), -1);
	assert_int_equal(sf_conn_output_len(a.conn), total);
	sf_conn_set_drained(a.conn, 64 * 1024);

	/* Nobody reads: the kernel takes a little and the rest stays queued. */
	for (int i = 0; i < 20; i++)
		event_base_loop(l.base, EVLOOP_ONCE);
	size_t queued = sf_conn_output_len(a.conn);
	assert_true(queued > 64 * 1024 && queued < total);
	assert_int_equal(a.drained, 0);

	/* The reader catches up; drained fires once when the output falls to 64 KiB. */
	uint8_t *got = malloc(total);
	size_t got_len = 0;
	for (int round = 0; round < 100000 && got_len < total; round++) {
		event_base_loop(l.base, EVLOOP_NONBLOCK);
		ssize_t n = recv(cfd, got + got_len, total - got_len, MSG_DONTWAIT);
		if (n > 0)
			got_len += (size_t)n;
		else
			usleep(100);
	}
	assert_int_equal(got_len, total);
	assert_memory_equal(got, data, total);
	TEST_RUN_UNTIL(&l, sf_conn_output_len(a.conn) == 0);
	assert_int_equal(a.drained, 1);
	assert_int_equal(a.closes, 0);
	close(cfd);
	owner_done(&a);
	free(data);
	free(got);
	test_loop_free(&l);
}

static void test_pause_resume(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	struct owner a = { 0 };
	a.conn = sf_conn_new(l.base, sfd, &owner_callbacks, &a);
	sf_conn_pause_read(a.conn);
	assert_int_equal(send(cfd, "abc", 3, 0), 3);
	for (int i = 0; i < 10; i++)
		event_base_loop(l.base, EVLOOP_ONCE);
	assert_int_equal(a.in_len, 0);
	sf_conn_resume_read(a.conn);
	TEST_RUN_UNTIL(&l, a.in_len == 3);
	assert_memory_equal(a.in, "abc", 3);
	close(cfd);
	owner_done(&a);
	test_loop_free(&l);
}

static void test_deadline(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	struct owner a = { 0 };
	a.conn = sf_conn_new(l.base, sfd, &owner_callbacks, &a);

	/* A cleared deadline never fires, even long after it would have. */
	sf_conn_set_deadline(a.conn, 20);
	sf_conn_set_deadline(a.conn, 0);
	for (int i = 0; i < 10; i++)
		event_base_loop(l.base, EVLOOP_ONCE);
	assert_int_equal(a.closes, 0);

	/* Traffic does not postpone it; expiry closes the socket and says why. */
	sf_conn_set_deadline(a.conn, 30);
	assert_int_equal(send(cfd, "x", 1, 0), 1);
	a.close_on_close = 1;
	TEST_RUN_UNTIL(&l, a.closes == 1);
	assert_string_equal(a.reason, "timeout");
	assert_null(a.conn);
	char c;
	assert_true(recv(cfd, &c, 1, 0) <= 0);	/* the peer sees the end (EOF or reset) */
	close(cfd);
	owner_done(&a);
	test_loop_free(&l);
}

static void test_close_inside_read(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	struct owner a = { .close_on_read = 1 };
	a.conn = sf_conn_new(l.base, sfd, &owner_callbacks, &a);
	assert_int_equal(send(cfd, "bye", 3, 0), 3);
	TEST_RUN_UNTIL(&l, a.in_len == 3);
	assert_null(a.conn);
	assert_int_equal(a.closes, 0);
	/* Closed at once: the queued output was dropped. */
	char buf[16];
	assert_int_equal(recv(cfd, buf, sizeof buf, 0), 0);
	close(cfd);
	owner_done(&a);
	test_loop_free(&l);
}

static void test_close_flush(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	int small = 65536;	/* keep most of the output queued in user space */
	setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct owner a = { 0 };
	a.conn = sf_conn_new(l.base, sfd, &owner_callbacks, &a);
	size_t total = 3 << 20;
	uint8_t *data = malloc(total);
	fill_pattern(data, total, 11);
	assert_int_equal(sf_conn_write(a.conn, data, total), 0);
	sf_conn_close_flush(a.conn, 20000);
	a.conn = NULL;
	/* The peer is done sending; that must not cut the flush short. */
	assert_int_equal(shutdown(cfd, SHUT_WR), 0);
	for (int i = 0; i < 5; i++)
		event_base_loop(l.base, EVLOOP_ONCE);
	/* Everything arrives, then EOF; no callback fires any more. */
	uint8_t *got = malloc(total + 1);
	size_t got_len = 0;
	int eof = 0;
	for (int round = 0; round < 100000 && !eof; round++) {
		event_base_loop(l.base, EVLOOP_NONBLOCK);
		ssize_t n = recv(cfd, got + got_len, total + 1 - got_len, MSG_DONTWAIT);
		if (n > 0)
			got_len += (size_t)n;
		else if (n == 0)
			eof = 1;
		else
			usleep(100);
	}
	assert_true(eof);
	assert_int_equal(got_len, total);
	assert_memory_equal(got, data, total);
	assert_int_equal(a.closes, 0);
	close(cfd);
	owner_done(&a);
	free(data);
	free(got);
	test_loop_free(&l);
}

static void test_close_flush_bound(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	int small = 4096;
	setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct sf_conn *conn = sf_conn_new(l.base, sfd, NULL, NULL);
	uint8_t *data = calloc(1, 1 << 20);
	assert_int_equal(sf_conn_write(conn, data, 1 << 20), 0);
	sf_conn_close_flush(conn, 30);
	/* The reader never reads: after the bound the socket is closed anyway (seen as EOF or reset
	 * once the few bytes the kernel took are drained). */
	int ended = 0;
	uint8_t buf[65536];
	for (int round = 0; round < 3000 && !ended; round++) {
		event_base_loop(l.base, EVLOOP_ONCE);
		if (round < 20)
			continue;	/* stay silent for a while */
		ssize_t n = recv(cfd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			ended = 1;
	}
	assert_true(ended);
	close(cfd);
	free(data);
	test_loop_free(&l);	/* LeakSanitizer checks the conn was released */
}

/* ---- hand-over between two threads ---- */

struct side {
	struct test_loop loop;
	struct sf_conn *conn;
	const char *tag;
	char line[64];
	size_t line_len;
	_Atomic int stop;
};

struct handover {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sf_conn *conn;	/* posted by A, taken by B */
	struct side a, b;
};

static struct handover H;

/* Echoes each line back as "<tag>:<line>"; on "switch" (side A only) queues "bye-A\n" and hands
 * the connection over to B from inside the callback. */
static void side_on_read(void *user, const uint8_t *p, size_t n)
{
	struct side *s = user;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (s->line_len < sizeof s->line - 1)
				s->line[s->line_len++] = (char)p[i];
			continue;
		}
		s->line[s->line_len] = '\0';
		s->line_len = 0;
		if (s == &H.a && strcmp(s->line, "switch") == 0) {
			sf_conn_write(s->conn, "bye-A\n", 6);
			sf_conn_set_deadline(s->conn, 600000);	/* travels along */
			sf_conn_detach(s->conn);
			pthread_mutex_lock(&H.lock);
			H.conn = s->conn;
			pthread_cond_signal(&H.cond);
			pthread_mutex_unlock(&H.lock);
			s->conn = NULL;
			atomic_store(&s->stop, 1);
			return;	/* the rest of this read belongs to nobody: the client waits */
		}
		char out[80];
		int len = snprintf(out, sizeof out, "%s:%s\n", s->tag, s->line);
		sf_conn_write(s->conn, out, (size_t)len);
	}
}

static void side_on_close(void *user, const char *reason)
{
	struct side *s = user;
	(void)reason;
	sf_conn_close(s->conn);
	s->conn = NULL;
	atomic_store(&s->stop, 1);
}

static const struct sf_conn_callbacks side_callbacks = {
	.on_read = side_on_read,
	.on_close = side_on_close,
};

static void *thread_a(void *arg)
{
	(void)arg;
	for (int i = 0; i < TEST_LOOP_MAX_ROUNDS && !atomic_load(&H.a.stop); i++)
		event_base_loop(H.a.loop.base, EVLOOP_ONCE);
	return NULL;
}

static void *thread_b(void *arg)
{
	(void)arg;
	struct sf_conn *conn = NULL;
	pthread_mutex_lock(&H.lock);
	for (int i = 0; i < 300 && !H.conn; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&H.cond, &H.lock, &ts);
	}
	conn = H.conn;
	pthread_mutex_unlock(&H.lock);
	if (!conn)
		return NULL;
	H.b.conn = conn;
	sf_conn_set_callbacks(conn, &side_callbacks, &H.b);
	if (sf_conn_attach(conn, H.b.loop.base) < 0)
		return NULL;
	for (int i = 0; i < TEST_LOOP_MAX_ROUNDS && !atomic_load(&H.b.stop); i++)
		event_base_loop(H.b.loop.base, EVLOOP_ONCE);
	return NULL;
}

static void expect_line(int fd, const char *want)
{
	char buf[64];
	size_t len = 0, n = strlen(want);
	while (len < n) {
		ssize_t r = recv(fd, buf + len, n - len, 0);
		assert_true(r > 0);
		len += (size_t)r;
	}
	assert_memory_equal(buf, want, n);
}

static void test_detach_attach_across_threads(void **state)
{
	(void)state;
	memset(&H, 0, sizeof H);
	pthread_mutex_init(&H.lock, NULL);
	pthread_cond_init(&H.cond, NULL);
	test_loop_init(&H.a.loop);
	test_loop_init(&H.b.loop);
	H.a.tag = "A";
	H.b.tag = "B";
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	H.a.conn = sf_conn_new(H.a.loop.base, sfd, &side_callbacks, &H.a);
	assert_non_null(H.a.conn);

	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, thread_a, NULL), 0);
	assert_int_equal(pthread_create(&tb, NULL, thread_b, NULL), 0);

	assert_int_equal(send(cfd, "hello\n", 6, 0), 6);
	expect_line(cfd, "A:hello\n");
	assert_int_equal(send(cfd, "switch\n", 7, 0), 7);
	expect_line(cfd, "bye-A\n");	/* queued on A, written from B's base */
	assert_int_equal(send(cfd, "ping\n", 5, 0), 5);
	expect_line(cfd, "B:ping\n");
	assert_int_equal(send(cfd, "more\n", 5, 0), 5);
	expect_line(cfd, "B:more\n");
	close(cfd);	/* B sees EOF, closes and stops */

	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_null(H.a.conn);
	assert_null(H.b.conn);
	assert_true(atomic_load(&H.b.stop));
	test_loop_free(&H.a.loop);
	test_loop_free(&H.b.loop);
	pthread_mutex_destroy(&H.lock);
	pthread_cond_destroy(&H.cond);
}

static void test_detached_conn_buffers(void **state)
{
	(void)state;
	struct test_loop l1, l2;
	test_loop_init(&l1);
	test_loop_init(&l2);
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	struct owner a = { 0 };
	/* Born detached; writes queue up and go out once attached. */
	a.conn = sf_conn_new(NULL, sfd, &owner_callbacks, &a);
	assert_null(sf_conn_base(a.conn));
	assert_int_equal(sf_conn_write(a.conn, "queued", 6), 0);
	assert_int_equal(sf_conn_attach(a.conn, l1.base), 0);
	assert_int_equal(sf_conn_attach(a.conn, l2.base), -1);	/* still on l1 */
	TEST_RUN_UNTIL(&l1, sf_conn_output_len(a.conn) == 0);
	expect_line(cfd, "queued");
	for (int i = 0; i < 5; i++)
		event_base_loop(l1.base, EVLOOP_ONCE);
	/* Moved to another base: input is read there, not on the first. */
	sf_conn_detach(a.conn);
	assert_int_equal(send(cfd, "x", 1, 0), 1);
	for (int i = 0; i < 5; i++)
		event_base_loop(l1.base, EVLOOP_ONCE);
	assert_int_equal(a.in_len, 0);
	assert_int_equal(sf_conn_attach(a.conn, l2.base), 0);
	TEST_RUN_UNTIL(&l2, a.in_len == 1);
	close(cfd);
	owner_done(&a);
	test_loop_free(&l1);
	test_loop_free(&l2);
}

/* conn.h's thread rule: a call from a thread other than the one that runs the connection's loop
 * is refused and reported (src/lib/bug.h) instead of racing with the loop. */
struct foreign_call {
	struct sf_conn *conn;
	int write_rc;
};

static void *call_from_foreign_thread(void *arg)
{
	struct foreign_call *fc = arg;
	fc->write_rc = sf_conn_write(fc->conn, "x", 1);
	sf_conn_pause_read(fc->conn);
	sf_conn_close(fc->conn);
	return NULL;
}

static void test_foreign_thread_refused(void **state)
{
	(void)state;
	struct test_loop l;
	test_loop_init(&l);
	int sfd, cfd;
	tcp_pair(&sfd, &cfd);
	struct sf_conn *conn = sf_conn_new(l.base, sfd, NULL, NULL);
	assert_non_null(conn);
	sf_bug_set_fatal(false);
	unsigned long bugs = sf_bug_count();
	struct foreign_call fc = { .conn = conn, .write_rc = 0 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, call_from_foreign_thread, &fc), 0);
	pthread_join(t, NULL);
	assert_int_equal(fc.write_rc, -1);
	assert_int_equal(sf_bug_count(), bugs + 3);
	/* the owner's calls still work: nothing was queued, paused or freed by the foreign ones */
	assert_int_equal(sf_conn_output_len(conn), 0);
	assert_int_equal(sf_conn_write(conn, "ok", 2), 0);
	TEST_RUN_UNTIL(&l, sf_conn_output_len(conn) == 0);
	char buf[2];
	assert_int_equal(recv(cfd, buf, 2, MSG_WAITALL), 2);
	assert_memory_equal(buf, "ok", 2);
	/* detached, it belongs to whoever holds it: any thread may close it */
	sf_conn_detach(conn);
	fc.write_rc = 0;
	assert_int_equal(pthread_create(&t, NULL, call_from_foreign_thread, &fc), 0);
	pthread_join(t, NULL);
	assert_int_equal(sf_bug_count(), bugs + 3);
	assert_int_equal(recv(cfd, buf, 1, 0), 0); /* closed: EOF */
	close(cfd);
	test_loop_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read_both_ways),
		cmocka_unit_test(test_output_len_and_drained),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_close_inside_read),
		cmocka_unit_test(test_close_flush),
		cmocka_unit_test(test_close_flush_bound),
		cmocka_unit_test(test_detach_attach_across_threads),
		cmocka_unit_test(test_detached_conn_buffers),
		cmocka_unit_test(test_foreign_thread_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
