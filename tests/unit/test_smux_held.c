/* Bytes the application still holds stay counted in the session bucket after the stream closes.
 *
 * The relay answers a client's FIN with its own at once (docs/smux.md) but still has to write the bytes it
 * was given to tor. If closing returned them to the bucket, SYN + 1 MiB PSH + FIN, repeated,
 * would let a client park any amount of memory in the relay while the bucket reads 0. */
#include "smux_harness.h"

static uint8_t chunk[32768];

/* SYN, then `total` payload bytes on sid in frames of at most 32 KiB, then FIN. */
static void syn_psh_fin(struct h_app *app, uint32_t sid, size_t total)
{
	assert_int_equal(h_feed(app, SF_SMUX_SYN, sid, NULL, 0, 0), 0);
	while (total > 0) {
		uint16_t n = total > sizeof chunk ? (uint16_t)sizeof chunk : (uint16_t)total;
		assert_int_equal(h_feed(app, SF_SMUX_PSH, sid, chunk, n, 0), 0);
		total -= n;
	}
	assert_int_equal(h_feed(app, SF_SMUX_FIN, sid, NULL, 0, 0), 0);
}

/* The attack: streams closed on FIN while their bytes are still held keep the bucket full. */
static void test_fin_keeps_held_bytes_counted(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	app.close_on_fin = true; /* the relay's policy: FIN answers FIN, bytes still to write */
	size_t per_stream = SF_SMUX_STREAM_WINDOW - 4096;
	size_t streams = 0;
	while (sf_smux_unconsumed(app.sess) < SF_SMUX_SESSION_BUFFER) {
		syn_psh_fin(&app, 3 + 2 * (uint32_t)streams, per_stream);
		streams++;
		assert_true(streams <= 8); /* the bucket must fill after 4 streams */
	}
	assert_int_equal(streams, 5);
	assert_int_equal(sf_smux_stream_count(app.sess), 0);
	assert_int_equal(sf_smux_unconsumed(app.sess), streams * per_stream);

	/* The application writes the held bytes out (or drops them) and says so. */
	sf_smux_release(app.sess, per_stream);
	assert_int_equal(sf_smux_unconsumed(app.sess), (streams - 1) * per_stream);
	/* More than is held is clamped: the bucket never goes below what open streams hold. */
	sf_smux_release(app.sess, 100 * per_stream);
	assert_int_equal(sf_smux_unconsumed(app.sess), 0);
	h_app_free(&app);
}

/* Bytes of an open stream are not "held" until it closes: release cannot touch them. */
static void test_release_spares_open_streams(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, chunk, 1000, 0), 0);
	sf_smux_release(app.sess, 1000);
	assert_int_equal(sf_smux_unconsumed(app.sess), 1000);

	/* Closed with 600 consumed: 400 held. */
	struct h_stream *hs = h_app_stream(&app, 3);
	sf_smux_stream_consumed(hs->st, 600);
	sf_smux_stream_close(hs->st);
	hs->st = NULL;
	assert_int_equal(sf_smux_unconsumed(app.sess), 400);
	/* PSH for the closed id is discarded and not counted. */
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, chunk, 500, 0), 0);
	assert_int_equal(sf_smux_unconsumed(app.sess), 400);
	sf_smux_release(app.sess, 400);
	assert_int_equal(sf_smux_unconsumed(app.sess), 0);
	h_app_free(&app);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fin_keeps_held_bytes_counted),
		cmocka_unit_test(test_release_spares_open_streams),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
