/* Hostile or broken input: every case either fails cleanly with -1 (protocol error, sticky) or is
 * discarded without touching memory bounds, as docs/smux.md "Input checks" says. */
#include "smux_harness.h"

#include "lib/bug.h"

static uint8_t big[65535];

static void assert_broken(struct h_app *app)
{
	uint8_t f[8];
	h_frame(f, SF_SMUX_NOP, 0, NULL, 0);
	assert_int_equal(sf_smux_input(app->sess, f, sizeof f, 0), -1);
	assert_int_equal(sf_smux_tick(app->sess, 0), -1);
}

static void test_bad_version(void **state)
{
	(void)state;
	static const uint8_t versions[] = { 0, 1, 3, 0xff };
	for (size_t v = 0; v < sizeof versions; v++) {
		struct h_app app;
		h_app_init(&app, 0);
		uint8_t buf[16];
		h_frame(buf, SF_SMUX_SYN, 3, NULL, 0);
		h_frame(buf + 8, SF_SMUX_NOP, 0, NULL, 0);
		buf[8] = versions[v];
		/* the good frame before it is handled, the error shows on the 8th byte */
		for (size_t i = 0; i < 15; i++)
			assert_int_equal(sf_smux_input(app.sess, buf + i, 1, 0), 0);
		assert_int_equal(app.opens, 1);
		assert_int_equal(sf_smux_input(app.sess, buf + 15, 1, 0), -1);
		assert_broken(&app);
		h_app_free(&app);
	}
}

static void test_bad_cmd(void **state)
{
	(void)state;
	static const uint8_t cmds[] = { 5, 6, 0x80, 0xff };
	for (size_t c = 0; c < sizeof cmds; c++) {
		struct h_app app;
		h_app_init(&app, 0);
		assert_int_equal(h_feed(&app, cmds[c], 3, NULL, 0, 0), -1);
		assert_broken(&app);
		assert_int_equal(app.opens, 0);
		assert_int_equal(app.nframes, 0);
		h_app_free(&app);
	}
}

static void test_bad_lengths(void **state)
{
	(void)state;
	static const uint16_t upd_lens[] = { 0, 4, 7, 9, 16, 65535 };
	for (size_t i = 0; i < sizeof upd_lens / sizeof upd_lens[0]; i++) {
		struct h_app app;
		h_app_init(&app, 0);
		assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
		assert_int_equal(h_feed(&app, SF_SMUX_UPD, 3, big, upd_lens[i], 0), -1);
		assert_broken(&app);
		h_app_free(&app);
	}
	static const uint8_t zero_cmds[] = { SF_SMUX_SYN, SF_SMUX_FIN, SF_SMUX_NOP };
	for (size_t i = 0; i < sizeof zero_cmds; i++) {
		struct h_app app;
		h_app_init(&app, 0);
		assert_int_equal(h_feed(&app, zero_cmds[i], 3, big, 1, 0), -1);
		assert_int_equal(app.opens, 0);
		assert_broken(&app);
		h_app_free(&app);
	}
}

static void feed_window(struct h_app *app, uint32_t sid, size_t total)
{
	while (total > 0) {
		uint16_t n = total > sizeof big ? (uint16_t)sizeof big : (uint16_t)total;
		assert_int_equal(h_feed(app, SF_SMUX_PSH, sid, big, n, 0), 0);
		total -= n;
	}
}

static void test_window_overrun(void **state)
{
	(void)state;
	const size_t limit = SF_SMUX_STREAM_WINDOW + SF_SMUX_RECV_SLACK;

	/* before any UPD of ours: one window plus one frame, not a byte more */
	struct h_app app;
	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	feed_window(&app, 3, limit);
	assert_int_equal(sf_smux_unconsumed(app.sess), limit);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, big, 1, 0), -1);
	assert_broken(&app);
	assert_int_equal(h_app_stream(&app, 3)->len, limit);
	h_app_free(&app);

	/* consuming without an UPD does not move the limit; the UPD does */
	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	feed_window(&app, 3, 1000);
	struct h_stream *hs = h_app_stream(&app, 3);
	sf_smux_stream_consumed(hs->st, 1000);      /* first read: UPD 1000 */
	assert_int_equal(app.nframes, 1);
	h_assert_upd(&app.frames[0], 3, 1000, SF_SMUX_STREAM_WINDOW);
	feed_window(&app, 3, limit - 1000);
	sf_smux_stream_consumed(hs->st, 5000);      /* no UPD: limit unchanged */
	assert_int_equal(app.nframes, 1);
	feed_window(&app, 3, 1000);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, big, 1, 0), -1);
	h_app_free(&app);

	/* the overrun is seen from the header, before any of the payload is delivered */
	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	feed_window(&app, 3, limit - 10);
	hs = h_app_stream(&app, 3);
	size_t before = hs->len;
	uint8_t hdr[8];
	sf_smux_hdr_encode(hdr, SF_SMUX_PSH, 11, 3);
	assert_int_equal(sf_smux_input(app.sess, hdr, sizeof hdr, 0), -1);
	assert_int_equal(hs->len, before);
	h_app_free(&app);

	/* bytes for unknown streams cost nothing and are never an overrun */
	h_app_init(&app, 0);
	feed_window(&app, 99, 20 * limit);
	assert_int_equal(app.nframes, 0);
	assert_int_equal(sf_smux_unconsumed(app.sess), 0);
	h_app_free(&app);
}

static void test_stream_flood(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	for (uint32_t i = 0; i < SF_SMUX_MAX_STREAMS; i++)
		assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3 + 2 * i, NULL, 0, 0), 0);
	assert_int_equal(app.opens, SF_SMUX_MAX_STREAMS);
	assert_int_equal(sf_smux_stream_count(app.sess), SF_SMUX_MAX_STREAMS);
	assert_int_equal(app.nframes, 0);

	/* more are refused with FIN and never reach the application */
	for (uint32_t i = 0; i < 50; i++) {
		uint32_t sid = 100000 + i;
		assert_int_equal(h_feed(&app, SF_SMUX_SYN, sid, NULL, 0, 0), 0);
		assert_int_equal(app.nframes, i + 1);
		h_assert_frame(&app.frames[i], SF_SMUX_FIN, sid, 0);
		assert_int_equal(h_feed(&app, SF_SMUX_PSH, sid, big, 100, 0), 0);
	}
	assert_int_equal(app.opens, SF_SMUX_MAX_STREAMS);
	assert_int_equal(sf_smux_stream_count(app.sess), SF_SMUX_MAX_STREAMS);
	assert_int_equal(sf_smux_unconsumed(app.sess), 0);

	/* each stream is still found by id */
	for (uint32_t i = 0; i < SF_SMUX_MAX_STREAMS; i += 97) {
		assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3 + 2 * i, big, 3, 0), 0);
		assert_int_equal(h_app_stream(&app, 3 + 2 * i)->len, 3);
	}

	/* a closed stream frees a slot */
	struct h_stream *hs = h_app_stream(&app, 3 + 2 * 500);
	sf_smux_stream_close(hs->st);
	hs->st = NULL;
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 200000, NULL, 0, 0), 0);
	assert_int_equal(app.opens, SF_SMUX_MAX_STREAMS + 1);
	assert_int_equal(sf_smux_stream_count(app.sess), SF_SMUX_MAX_STREAMS);
	h_app_free(&app);
}

static void test_consumed_more_than_sent(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	assert_int_equal(h_feed_upd(&app, 3, 0, SF_SMUX_STREAM_WINDOW, 0), 0);
	assert_int_equal(h_feed_upd(&app, 3, 1, SF_SMUX_STREAM_WINDOW, 0), -1);
	assert_broken(&app);
	h_app_free(&app);

	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	struct h_stream *hs = h_app_stream(&app, 3);
	assert_int_equal(sf_smux_stream_write(hs->st, big, 100), 100);
	assert_int_equal(h_feed_upd(&app, 3, 100, SF_SMUX_STREAM_WINDOW, 0), 0);
	assert_int_equal(sf_smux_stream_write_room(hs->st), SF_SMUX_STREAM_WINDOW);
	assert_int_equal(h_feed_upd(&app, 3, 101, SF_SMUX_STREAM_WINDOW, 0), -1);
	h_app_free(&app);

	/* UPD for an unknown stream is ignored */
	h_app_init(&app, 0);
	assert_int_equal(h_feed_upd(&app, 9, 12345, SF_SMUX_STREAM_WINDOW, 0), 0);
	h_app_free(&app);
}

static void test_huge_len_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7);
	static uint8_t buf[2 * (8 + 65535) + 16];
	size_t n = h_frame(buf, SF_SMUX_SYN, 3, NULL, 0);
	n += h_frame(buf + n, SF_SMUX_PSH, 3, big, 65535);
	n += h_frame(buf + n, SF_SMUX_PSH, 77, big, 65535);  /* unknown: discarded */
	size_t syn5 = n;
	n += h_frame(buf + n, SF_SMUX_SYN, 5, NULL, 0);
	assert_true(n <= sizeof buf);

	/* pieces of 1, 2, 3 ... bytes, then a few big ones */
	struct h_app app;
	h_app_init(&app, 0);
	size_t off = 0, piece = 1;
	for (int i = 0; i < 100000 && off < n; i++) {
		size_t k = piece < n - off ? piece : n - off;
		assert_int_equal(sf_smux_input(app.sess, buf + off, k, 0), 0);
		off += k;
		piece = piece < 700 ? piece + 1 : 9000;
		if (off >= 8 && off < syn5 + 8)
			assert_int_equal(app.opens, 1);
	}
	assert_int_equal(off, n);
	assert_int_equal(app.opens, 2);
	struct h_stream *hs = h_app_stream(&app, 3);
	assert_int_equal(hs->len, 65535);
	assert_true(hs->data_calls > 1);
	assert_memory_equal(hs->data, big, 65535);
	assert_int_equal(sf_smux_unconsumed(app.sess), 65535);
	assert_int_equal(app.nframes, 0);
	h_app_free(&app);

	/* a session freed in the middle of a huge frame leaks nothing (ASan build) */
	h_app_init(&app, 0);
	assert_int_equal(sf_smux_input(app.sess, buf, 8 + 8 + 30000, 0), 0);
	h_app_free(&app);
}

static void test_ignored_and_discarded(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	/* PSH for an unknown stream: silent */
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, big, 500, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_FIN, 3, NULL, 0, 0), 0);
	assert_int_equal(app.nframes, 0);
	assert_int_equal(app.opens, 0);
	/* SYN for an existing stream: ignored */
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	assert_int_equal(app.opens, 1);
	assert_int_equal(app.nframes, 0);
	/* PSH len 0: nothing */
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, NULL, 0, 0), 0);
	struct h_stream *hs = h_app_stream(&app, 3);
	assert_int_equal(hs->data_calls, 0);
	/* after the peer's FIN: no more data, writes refused, FIN reported once */
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, big, 10, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_FIN, 3, NULL, 0, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, big, 10, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_FIN, 3, NULL, 0, 0), 0);
	assert_int_equal(hs->len, 10);
	assert_int_equal(hs->fins, 1);
	assert_int_equal(sf_smux_stream_write_room(hs->st), 0);
	assert_int_equal(sf_smux_stream_write(hs->st, big, 10), 0);
	assert_int_equal(app.nframes, 0);
	/* consumed more than delivered is clamped */
	sf_smux_stream_consumed(hs->st, 1000);
	assert_int_equal(sf_smux_unconsumed(app.sess), 0);
	h_assert_upd(&app.frames[0], 3, 10, SF_SMUX_STREAM_WINDOW);
	/* after our close: the id's frames are discarded */
	sf_smux_stream_close(hs->st);
	hs->st = NULL;
	h_assert_frame(&app.frames[1], SF_SMUX_FIN, 3, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, big, 10, 0), 0);
	assert_int_equal(h_feed_upd(&app, 3, 99, 1, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_FIN, 3, NULL, 0, 0), 0);
	assert_int_equal(hs->len, 10);
	assert_int_equal(app.nframes, 2);
	h_app_free(&app);
}

static void test_refused_stream(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	app.refuse = true;
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	assert_int_equal(app.opens, 1);
	assert_int_equal(sf_smux_stream_count(app.sess), 0);
	assert_int_equal(app.nframes, 1);
	h_assert_frame(&app.frames[0], SF_SMUX_FIN, 3, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, big, 10, 0), 0);
	assert_int_equal(app.nframes, 1);
	h_app_free(&app);
}

static void test_close_inside_open(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	app.close_in_open = true;
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	assert_int_equal(app.opens, 1);
	assert_int_equal(sf_smux_stream_count(app.sess), 0);
	assert_int_equal(app.nframes, 2);
	h_assert_frame(&app.frames[0], SF_SMUX_PSH, 3, 5);
	assert_memory_equal(app.frames[0].bytes + 8, "hello", 5);
	h_assert_frame(&app.frames[1], SF_SMUX_FIN, 3, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, big, 10, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_FIN, 3, NULL, 0, 0), 0);
	assert_int_equal(app.nframes, 2);
	h_app_free(&app);
}

/* The application closes the stream in the middle of a frame's delivery. */
static void close_after_first_piece(struct h_app *app, struct h_stream *hs, size_t n)
{
	(void)app;
	(void)n;
	sf_smux_stream_close(hs->st);
	hs->st = NULL;
}

static void test_close_inside_callback(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	app.on_data = close_after_first_piece;
	static uint8_t buf[8 + 8 + 1000 + 8];
	size_t n = h_frame(buf, SF_SMUX_SYN, 3, NULL, 0);
	n += h_frame(buf + n, SF_SMUX_PSH, 3, big, 1000);
	n += h_frame(buf + n, SF_SMUX_SYN, 5, NULL, 0);
	assert_int_equal(sf_smux_input(app.sess, buf, 8 + 8 + 100, 0), 0);
	assert_int_equal(sf_smux_input(app.sess, buf + 116, n - 116, 0), 0);
	struct h_stream *hs = h_app_stream(&app, 3);
	assert_int_equal(hs->len, 100);
	assert_int_equal(hs->data_calls, 1);
	assert_int_equal(app.opens, 2);
	assert_int_equal(sf_smux_stream_count(app.sess), 1);
	/* the 100 delivered bytes are the application's until it releases them; the rest of the
	 * frame, discarded after the close, never counted */
	assert_int_equal(sf_smux_unconsumed(app.sess), 100);
	sf_smux_release(app.sess, 100);
	assert_int_equal(sf_smux_unconsumed(app.sess), 0);
	h_app_free(&app);
}

/* smux.h's contract: no sf_smux_input or sf_smux_session_free from a callback, and output must
 * not call back into a session (its frame is the thread's one buffer). A breach is refused and
 * reported (src/lib/bug.h) instead of corrupting the session. */
static int reentry_input_rc = 1;

static void input_from_callback(struct h_app *app, struct h_stream *hs, size_t n)
{
	(void)hs;
	(void)n;
	uint8_t f[8];
	h_frame(f, SF_SMUX_NOP, 0, NULL, 0);
	reentry_input_rc = sf_smux_input(app->sess, f, sizeof f, 0);
	sf_smux_session_free(app->sess); /* refused: the session is in use */
}

static struct sf_smux_stream *write_target;

static void output_writing_back(void *user, const uint8_t *frame, size_t len)
{
	h_output(user, frame, len);
	if (write_target) {
		struct sf_smux_stream *st = write_target;
		write_target = NULL;
		sf_smux_stream_write(st, (const uint8_t *)"x", 1);
	}
}

static void test_reentry_refused(void **state)
{
	(void)state;
	sf_bug_set_fatal(false);
	unsigned long bugs = sf_bug_count();
	struct h_app app;
	h_app_init(&app, 0);
	app.on_data = input_from_callback;
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, (const uint8_t *)"abc", 3, 0), 0);
	assert_int_equal(reentry_input_rc, -1);
	assert_int_equal(sf_bug_count(), bugs + 2);
	assert_int_equal(h_app_stream(&app, 3)->len, 3); /* the outer input went on */
	h_app_free(&app);

	/* output() writing back: the nested frame is not built, the session is broken */
	h_app_init(&app, 0);
	sf_smux_session_free(app.sess);
	struct sf_smux_callbacks cb = {
		.output = output_writing_back, .stream_open = h_stream_open,
		.stream_data = h_stream_data, .stream_fin = h_stream_fin,
		.stream_writable = h_stream_writable,
	};
	app.sess = sf_smux_session_new(&cb, &app, 0);
	assert_non_null(app.sess);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	struct h_stream *hs = h_app_stream(&app, 3);
	write_target = hs->st;
	assert_int_equal(sf_smux_stream_write(hs->st, (const uint8_t *)"hello", 5), 5);
	assert_int_equal(app.nframes, 1);
	h_assert_frame(&app.frames[0], SF_SMUX_PSH, 3, 5);
	assert_int_equal(memcmp(app.frames[0].bytes + 8, "hello", 5), 0);
	assert_int_equal(sf_bug_count(), bugs + 3);
	assert_broken(&app);
	h_app_free(&app);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_bad_cmd),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_window_overrun),
		cmocka_unit_test(test_stream_flood),
		cmocka_unit_test(test_consumed_more_than_sent),
		cmocka_unit_test(test_huge_len_split),
		cmocka_unit_test(test_ignored_and_discarded),
		cmocka_unit_test(test_refused_stream),
		cmocka_unit_test(test_close_inside_open),
		cmocka_unit_test(test_close_inside_callback),
		cmocka_unit_test(test_reentry_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
