/* sf_smux_stream_open, the client side the load generator uses: odd ids from 1 as xtaci/smux's
 * client, a SYN byte for byte, and a client session talking to a server session. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smux/smux.h"

struct side {
	uint8_t out[1 << 16];
	size_t out_len;
	uint8_t data[1 << 16];
	size_t data_len;
	uint32_t opened[8];
	size_t nopened;
	struct sf_smux_stream *last_opened;
	int fins;
};

static void output(void *user, const uint8_t *frame, size_t len)
{
	struct side *sd = user;
	assert_true(sd->out_len + len <= sizeof sd->out);
	memcpy(sd->out + sd->out_len, frame, len);
	sd->out_len += len;
}

static void *stream_open(void *user, struct sf_smux_stream *st)
{
	struct side *sd = user;
	assert_true(sd->nopened < 8);
	sd->opened[sd->nopened++] = sf_smux_stream_id(st);
	sd->last_opened = st;
	return sd;
}

static void stream_data(void *user, const uint8_t *p, size_t n)
{
	struct side *sd = user;
	assert_true(sd->data_len + n <= sizeof sd->data);
	memcpy(sd->data + sd->data_len, p, n);
	sd->data_len += n;
}

static void stream_fin(void *user)
{
	struct side *sd = user;
	sd->fins++;
}

static const struct sf_smux_callbacks cbs = {
	.output = output, .stream_open = stream_open, .stream_data = stream_data,
	.stream_fin = stream_fin,
};

/* Hands what one side wrote to the other. */
static void pass(struct side *from, struct sf_smux_session *to)
{
	assert_int_equal(sf_smux_input(to, from->out, from->out_len, 0), 0);
	from->out_len = 0;
}

static void test_open_sends_odd_syn(void **state)
{
	(void)state;
	struct side *c = calloc(1, sizeof *c);
	struct sf_smux_session *cs = sf_smux_session_new(&cbs, c, 0);
	struct sf_smux_stream *a = sf_smux_stream_open(cs, c);
	struct sf_smux_stream *b = sf_smux_stream_open(cs, c);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(sf_smux_stream_id(a), 1);
	assert_int_equal(sf_smux_stream_id(b), 3);
	assert_ptr_equal(sf_smux_stream_user(a), c);
	assert_int_equal(sf_smux_stream_count(cs), 2);
	/* ver 2, cmd SYN, len 0, sid little-endian */
	static const uint8_t want[] = { 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0 };
	assert_int_equal(c->out_len, sizeof want);
	assert_memory_equal(c->out, want, sizeof want);
	/* before any UPD the peer's window is smux's initial one */
	assert_int_equal(sf_smux_stream_write_room(a), SF_SMUX_INITIAL_PEER_WINDOW);
	sf_smux_session_free(cs);
	free(c);
}

static void test_client_to_server_echo(void **state)
{
	(void)state;
	struct side *c = calloc(1, sizeof *c), *sv = calloc(1, sizeof *sv);
	struct sf_smux_session *cs = sf_smux_session_new(&cbs, c, 0);
	struct sf_smux_session *ss = sf_smux_session_new(&cbs, sv, 0);
	struct sf_smux_stream *a = sf_smux_stream_open(cs, c);
	struct sf_smux_stream *b = sf_smux_stream_open(cs, c);
	assert_int_equal(sf_smux_stream_write(a, (const uint8_t *)"ping", 4), 4);
	pass(c, ss);
	assert_int_equal(sv->nopened, 2);
	assert_int_equal(sv->opened[0], 1);
	assert_int_equal(sv->opened[1], 3);
	assert_int_equal(sv->data_len, 4);
	assert_memory_equal(sv->data, "ping", 4);

	/* the server answers on stream 3 and consumes: its UPD reaches the client's stream 1 */
	struct sf_smux_stream *s3 = sv->last_opened;
	assert_int_equal(sf_smux_stream_id(s3), 3);
	assert_int_equal(sf_smux_stream_write(s3, (const uint8_t *)"pong", 4), 4);
	pass(sv, cs);
	assert_int_equal(c->data_len, 4);
	assert_memory_equal(c->data, "pong", 4);
	assert_int_equal(sf_smux_unconsumed(cs), 4);
	sf_smux_stream_consumed(b, 4);
	assert_int_equal(sf_smux_unconsumed(cs), 0);
	/* the client's first consumption sends UPD(4, window) on stream 3 */
	static const uint8_t upd[] = { 2, 4, 8, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0x10, 0 };
	assert_int_equal(c->out_len, sizeof upd);
	assert_memory_equal(c->out, upd, sizeof upd);
	pass(c, ss);

	/* closing from the client: the server sees FIN */
	sf_smux_stream_close(a);
	pass(c, ss);
	assert_int_equal(sv->fins, 1);
	assert_int_equal(sf_smux_stream_count(cs), 1);
	/* a new stream after a close still takes the next odd id */
	struct sf_smux_stream *d = sf_smux_stream_open(cs, c);
	assert_int_equal(sf_smux_stream_id(d), 5);
	sf_smux_session_free(cs);
	sf_smux_session_free(ss);
	free(c);
	free(sv);
}

static void test_open_refused_at_limit(void **state)
{
	(void)state;
	struct side *c = calloc(1, sizeof *c);
	struct sf_smux_callbacks quiet = cbs;
	quiet.output = NULL;
	struct sf_smux_session *cs = sf_smux_session_new(&quiet, c, 0);
	for (int i = 0; i < SF_SMUX_MAX_STREAMS; i++)
		assert_non_null(sf_smux_stream_open(cs, c));
	assert_null(sf_smux_stream_open(cs, c));
	assert_int_equal(sf_smux_stream_count(cs), SF_SMUX_MAX_STREAMS);
	sf_smux_session_free(cs);
	free(c);
}

/* A broken session opens nothing. */
static void test_open_refused_when_broken(void **state)
{
	(void)state;
	struct side *c = calloc(1, sizeof *c);
	struct sf_smux_session *cs = sf_smux_session_new(&cbs, c, 0);
	static const uint8_t bad[] = { 9, 0, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(sf_smux_input(cs, bad, sizeof bad, 0), -1);
	assert_null(sf_smux_stream_open(cs, c));
	assert_int_equal(c->out_len, 0);
	sf_smux_session_free(cs);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_sends_odd_syn),
		cmocka_unit_test(test_client_to_server_echo),
		cmocka_unit_test(test_open_refused_at_limit),
		cmocka_unit_test(test_open_refused_when_broken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
