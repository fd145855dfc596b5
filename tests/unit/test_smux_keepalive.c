/* Keepalive (docs/smux.md "Behaviour"): NOP every 10 s from session creation (every minute for
 * the server's sessions, riding with the peer's NOPs); every 4 min the session is dead unless a
 * frame header arrived since the previous check or the receive bucket is full. */
#include "smux_harness.h"

static const uint8_t nop_bytes[] = { 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };

/* The peer's NOP, whole, arriving at now. */
static int peer_nop(struct h_app *app, uint64_t now)
{
	return sf_smux_input(app->sess, nop_bytes, sizeof nop_bytes, now);
}

/* Ticks whenever next_due says, up to until; returns the time of the first -1, or 0. */
static uint64_t run_until(struct h_app *app, uint64_t *now, uint64_t until)
{
	for (int i = 0; i < 1000 && *now < until; i++) {
		int64_t due = sf_smux_next_due(app->sess, *now);
		assert_true(due >= 0);
		assert_true(due <= SF_SMUX_KEEPALIVE_INTERVAL_MS + SF_SMUX_KEEPALIVE_STEP_MS);
		*now += due > 0 ? (uint64_t)due : 0;
		if (*now > until)
			*now = until;
		if (sf_smux_tick(app->sess, *now) < 0)
			return *now;
	}
	return 0;
}

static void test_nop_every_10s(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 1000);
	assert_int_equal(sf_smux_next_due(app.sess, 1000), 10000);
	assert_int_equal(sf_smux_next_due(app.sess, 5000), 6000);
	assert_int_equal(sf_smux_tick(app.sess, 10999), 0);
	assert_int_equal(app.nframes, 0);
	assert_int_equal(sf_smux_tick(app.sess, 11000), 0);
	assert_int_equal(app.nframes, 1);
	assert_int_equal(app.frames[0].len, sizeof nop_bytes);
	assert_memory_equal(app.frames[0].bytes, nop_bytes, sizeof nop_bytes);
	assert_int_equal(sf_smux_next_due(app.sess, 11000), 10000);
	/* a second tick at the same time sends nothing */
	assert_int_equal(sf_smux_tick(app.sess, 11000), 0);
	assert_int_equal(app.nframes, 1);

	/* a late tick sends one NOP and keeps the 10 s phase */
	assert_int_equal(sf_smux_tick(app.sess, 35000), 0);
	assert_int_equal(app.nframes, 2);
	assert_int_equal(sf_smux_next_due(app.sess, 35000), 6000);

	/* driven by next_due: one NOP per 10 s */
	uint64_t now = 35000;
	uint8_t client_nop[8];
	for (int i = 0; i < 30; i++) {
		size_t before = app.nframes;
		int64_t due = sf_smux_next_due(app.sess, now);
		now += (uint64_t)due;
		assert_int_equal(sf_smux_tick(app.sess, now), 0);
		if (now % SF_SMUX_KEEPALIVE_INTERVAL_MS == 1000) {
			assert_int_equal(app.nframes, before + 1);
			assert_memory_equal(app.frames[before].bytes, nop_bytes, 8);
		}
		/* the client keeps the session alive (an empty PSH: a NOP would move a riding
		 * ticker, test_peer_nop_brings_ours_forward) */
		size_t n = h_frame(client_nop, SF_SMUX_PSH, 0, NULL, 0);
		assert_int_equal(sf_smux_input(app.sess, client_nop, n, now), 0);
	}
	assert_true(now > 241000);
	/* the 4-min check at 241000 falls on a NOP tick: 30 ticks, 30 NOPs, still alive */
	assert_int_equal(app.nframes, 2 + 30);
	h_app_free(&app);
}

/* Riding (sf_smux_set_keepalive), the peer's NOP brings ours forward when it is due within 5 s:
 * idle sessions then exchange their keepalives in step (ours rides with the KCP acknowledgement
 * of theirs). */
static void test_peer_nop_brings_ours_forward(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	sf_smux_set_keepalive(app.sess, 0, true, 0);
	/* ours is due at 10000: a NOP at 4000 is too early to answer */
	assert_int_equal(peer_nop(&app, 4000), 0);
	assert_int_equal(app.nframes, 0);
	/* at 6000 it is within 5 s: ours leaves now, the next one a period and a step later */
	assert_int_equal(peer_nop(&app, 6000), 0);
	assert_int_equal(app.nframes, 1);
	assert_memory_equal(app.frames[0].bytes, nop_bytes, sizeof nop_bytes);
	assert_int_equal(sf_smux_next_due(app.sess, 6000), 11000);
	/* a peer sending NOPs fast gets no more than one of ours per 6 s (and those within a second
	 * of ours put ours a step later: 7000 + 11000) */
	for (uint64_t t = 6100; t < 13000; t += 100)
		assert_int_equal(peer_nop(&app, t), 0);
	assert_int_equal(app.nframes, 1);
	assert_int_equal(sf_smux_next_due(app.sess, 13000), 5000);
	assert_int_equal(peer_nop(&app, 13000), 0);
	assert_int_equal(app.nframes, 2);
	/* steady state, a peer NOP every 10 s: one of ours with each, none from the timer */
	uint64_t now = 13000;
	for (int i = 0; i < 20; i++) {
		for (uint64_t t = now + 1000; t < now + 10000; t += 1000)
			assert_int_equal(sf_smux_tick(app.sess, t), 0);
		now += 10000;
		assert_int_equal(app.nframes, 2 + (size_t)i);
		assert_int_equal(peer_nop(&app, now), 0);
		assert_int_equal(app.nframes, 3 + (size_t)i);
	}
	/* the peer stops: ours goes on every 10 s, the first at most a period and a step after the
	 * last */
	size_t before = app.nframes;
	assert_int_equal(sf_smux_tick(app.sess, now + 10999), 0);
	assert_int_equal(app.nframes, before);
	assert_int_equal(sf_smux_tick(app.sess, now + 11000), 0);
	assert_int_equal(app.nframes, before + 1);
	assert_int_equal(sf_smux_tick(app.sess, now + 21000), 0);
	assert_int_equal(app.nframes, before + 2);
	h_app_free(&app);

	/* other frames do not count as the peer's keepalive */
	h_app_init(&app, 0);
	sf_smux_set_keepalive(app.sess, 0, true, 0);
	uint8_t syn[8];
	h_frame(syn, SF_SMUX_SYN, 3, NULL, 0);
	assert_int_equal(sf_smux_input(app.sess, syn, sizeof syn, 9000), 0);
	for (size_t i = 0; i < app.nframes; i++)
		assert_true(memcmp(app.frames[i].bytes, nop_bytes, 8) != 0);
	h_app_free(&app);
}

/* A new session keeps the reference's plain ticker (the load generator, like the Go clients): the
 * peer's NOPs move nothing. */
static void test_plain_ticker_ignores_peer_nops(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	for (uint64_t t = 6000; t < 60000; t += 10000) {
		size_t before = app.nframes;
		assert_int_equal(peer_nop(&app, t), 0);
		assert_int_equal(app.nframes, before);	/* nothing rides on theirs */
		assert_int_equal(sf_smux_next_due(app.sess, t), 4000);	/* still due at 10 s steps */
		assert_int_equal(sf_smux_tick(app.sess, t + 4000), 0);
		assert_int_equal(app.nframes, before + 1);
	}
	/* a NOP right after ours moves nothing either */
	assert_int_equal(peer_nop(&app, 60003), 0);
	assert_int_equal(sf_smux_next_due(app.sess, 60003), 9997);
	h_app_free(&app);
}

/* Our ticker a few milliseconds ahead of the peer's: ours leaves alone once, then the peer's NOP
 * right after it puts ours a step behind, and from the next period on they travel together. */
static void test_ours_steps_behind_the_peer(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	sf_smux_set_keepalive(app.sess, 0, true, 0);
	assert_int_equal(sf_smux_tick(app.sess, 10000), 0);	/* ours, alone */
	assert_int_equal(app.nframes, 1);
	assert_int_equal(peer_nop(&app, 10003), 0);	/* theirs, just after */
	assert_int_equal(app.nframes, 1);
	assert_int_equal(sf_smux_next_due(app.sess, 10003), 11000);
	for (uint64_t t = 11000; t < 20003; t += 1000)
		assert_int_equal(sf_smux_tick(app.sess, t), 0);
	assert_int_equal(app.nframes, 1);
	assert_int_equal(peer_nop(&app, 20003), 0);	/* together now */
	assert_int_equal(app.nframes, 2);
	h_app_free(&app);
}

/* The server's period (SF_SMUX_SERVER_KEEPALIVE_MS) with a peer on the clients' 10 s ticker:
 * events in time order for 10 minutes; returns our NOPs, counting in *alone those that left on
 * our own timer rather than with the acknowledgement of a peer NOP, and the longest gap between
 * two of ours (from session start for the first) in *max_gap. peer_period 0: a silent peer. */
static size_t server_nops(uint64_t phase, uint64_t peer_period, size_t *alone, uint64_t *max_gap)
{
	struct h_app app;
	h_app_init(&app, 0);
	sf_smux_set_keepalive(app.sess, SF_SMUX_SERVER_KEEPALIVE_MS, true, 0);
	sf_smux_set_idle_timeout(app.sess, 3600000, 0);	/* beside the point here */
	uint64_t now = 0, peer_next = phase, last = 0;
	*alone = 0;
	*max_gap = 0;
	for (int i = 0; i < 10000 && now < 600000; i++) {
		uint64_t due = now + (uint64_t)sf_smux_next_due(app.sess, now);
		size_t before = app.nframes;
		if (peer_period && peer_next <= due) {
			now = peer_next;
			peer_next += peer_period;
			assert_int_equal(peer_nop(&app, now), 0);
		} else {
			now = due;
			assert_int_equal(sf_smux_tick(app.sess, now), 0);
			*alone += app.nframes - before;
		}
		assert_true(app.nframes - before <= 1);
		if (app.nframes > before) {
			assert_memory_equal(app.frames[before].bytes, nop_bytes, sizeof nop_bytes);
			if (now - last > *max_gap)
				*max_gap = now - last;
			last = now;
		}
	}
	assert_true(now >= 600000);
	size_t n = app.nframes;
	h_app_free(&app);
	return n;
}

/* Alone, the server's NOP goes every minute (a silent peer is dead at 4 min, before the 4th). */
static void test_server_period_alone(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	sf_smux_set_keepalive(app.sess, SF_SMUX_SERVER_KEEPALIVE_MS, true, 0);
	assert_int_equal(sf_smux_next_due(app.sess, 0), SF_SMUX_SERVER_KEEPALIVE_MS);
	assert_int_equal(sf_smux_tick(app.sess, 59999), 0);
	assert_int_equal(app.nframes, 0);
	assert_int_equal(sf_smux_tick(app.sess, 60000), 0);
	assert_int_equal(app.nframes, 1);
	assert_int_equal(sf_smux_tick(app.sess, 180000), 0);	/* late: one, phase kept */
	assert_int_equal(app.nframes, 2);
	assert_int_equal(sf_smux_next_due(app.sess, 180000), 60000);
	assert_int_equal(sf_smux_tick(app.sess, SF_SMUX_KEEPALIVE_TIMEOUT_MS), -1);
	h_app_free(&app);

	/* 0 restores the reference's 10 s */
	h_app_init(&app, 0);
	sf_smux_set_keepalive(app.sess, 0, false, 500);
	assert_int_equal(sf_smux_next_due(app.sess, 500), SF_SMUX_KEEPALIVE_INTERVAL_MS);
	h_app_free(&app);
}

/* A client's NOPs every 10 s, whatever the phase of its ticker and with its clock a little fast
 * or slow: every one of ours (one a minute) rides with the acknowledgement of one of theirs, so
 * an idle session costs the client one acknowledgement of ours a minute instead of six. The client
 * never waits longer than a minute and a step for a frame (its smux gives up after 10 min). */
static void test_server_period_rides_with_peer(void **state)
{
	(void)state;
	static const uint64_t phases[] = { 1, 2500, 5000, 7500, 9999 };
	static const uint64_t periods[] = { 9950, 10000, 10050 };
	for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
		for (size_t j = 0; j < sizeof periods / sizeof periods[0]; j++) {
			size_t alone = 0;
			uint64_t gap = 0;
			size_t n = server_nops(phases[i], periods[j], &alone, &gap);
			print_message("phase %llu period %llu: %zu NOPs, %zu alone, longest gap %llu ms\n",
				      (unsigned long long)phases[i], (unsigned long long)periods[j], n,
				      alone, (unsigned long long)gap);
			assert_true(n >= 9 && n <= 11);
			assert_int_equal(alone, 0);
			assert_true(gap <= SF_SMUX_SERVER_KEEPALIVE_MS + SF_SMUX_KEEPALIVE_STEP_MS);
		}
	}
	/* a silent peer (dead at 4 min in real life): ours on the timer, every minute */
	size_t alone = 0;
	uint64_t gap = 0;
	assert_int_equal(server_nops(0, 0, &alone, &gap), 10);
	assert_int_equal(alone, 10);
	assert_int_equal(gap, SF_SMUX_SERVER_KEEPALIVE_MS);
}

/* A peer flooding NOPs gets one of ours per 52 s: the period and a step less the early window,
 * plus the step its NOPs within a second of ours add. */
static void test_server_period_nop_flood(void **state)
{
	(void)state;
	size_t alone = 0;
	uint64_t gap = 0;
	size_t n = server_nops(0, 100, &alone, &gap);
	assert_int_equal(alone, 0);
	assert_int_equal(n, 11);	/* 50 s, 102 s, ..., 570 s */
	assert_int_equal(gap, 52000);
}

static void test_dead_after_silent_period(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	uint64_t now = 0;
	uint64_t dead = run_until(&app, &now, 10 * 60 * 1000);
	assert_int_equal(dead, SF_SMUX_KEEPALIVE_TIMEOUT_MS);
	assert_int_equal(app.nframes, 23);  /* NOPs at 10 s .. 230 s */
	for (size_t i = 0; i < app.nframes; i++)
		assert_memory_equal(app.frames[i].bytes, nop_bytes, 8);
	/* dead stays dead */
	assert_int_equal(sf_smux_tick(app.sess, now + 1), -1);
	h_app_free(&app);
}

static void test_alive_while_frames_arrive(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	uint64_t now = 0;
	/* one header somewhere in each 4-min period keeps it alive */
	static const uint64_t arrivals[] = { 239999, 240000, 470000, 720000 - 1 };
	for (size_t i = 0; i < sizeof arrivals / sizeof arrivals[0]; i++) {
		assert_int_equal(run_until(&app, &now, arrivals[i]), 0);
		assert_int_equal(peer_nop(&app, now), 0);
	}
	/* the period 720000..960000 stays silent: dead at its end, 4-8 min after the last frame */
	assert_int_equal(run_until(&app, &now, 2000000), 960000);
	h_app_free(&app);
}

static void test_shorter_idle_timeout(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	sf_smux_set_idle_timeout(app.sess, 3000, 500); /* checks at 3500, 6500, ... */
	uint64_t now = 500;
	assert_int_equal(sf_smux_next_due(app.sess, now), 3000);
	assert_int_equal(run_until(&app, &now, 3000), 0);
	assert_int_equal(peer_nop(&app, now), 0);
	/* the frame at 3000 covers the check at 3500; the period 3500..6500 stays silent */
	assert_int_equal(run_until(&app, &now, 100000), 6500);
	assert_int_equal(app.nframes, 0); /* no NOP was due yet (10 s) */
	h_app_free(&app);

	/* 0 restores upstream's period */
	h_app_init(&app, 0);
	sf_smux_set_idle_timeout(app.sess, 0, 0);
	now = 0;
	assert_int_equal(run_until(&app, &now, 10 * 60 * 1000), SF_SMUX_KEEPALIVE_TIMEOUT_MS);
	h_app_free(&app);
}

static void test_partial_header_is_not_traffic(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	assert_int_equal(sf_smux_input(app.sess, nop_bytes, 7, 1000), 0);
	uint64_t now = 1000;
	assert_int_equal(run_until(&app, &now, 1000000), SF_SMUX_KEEPALIVE_TIMEOUT_MS);
	h_app_free(&app);
}

static void test_full_bucket_is_not_idle(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	/* four streams with a whole window each, nothing consumed: the bucket is empty, the
	 * reference stops reading and must not call the silence that follows idleness */
	uint8_t *chunk = calloc(1, SF_SMUX_MAX_FRAME);
	assert_non_null(chunk);
	for (uint32_t sid = 1; sid <= 4; sid++) {
		assert_int_equal(h_feed(&app, SF_SMUX_SYN, sid, NULL, 0, 0), 0);
		for (int k = 0; k < SF_SMUX_STREAM_WINDOW / SF_SMUX_MAX_FRAME; k++)
			assert_int_equal(h_feed(&app, SF_SMUX_PSH, sid, chunk, SF_SMUX_MAX_FRAME, 0), 0);
	}
	free(chunk);
	assert_int_equal(sf_smux_unconsumed(app.sess), SF_SMUX_SESSION_BUFFER);
	uint64_t now = 0;
	/* first check at 240000 sees the frames above; the next ones see a full bucket */
	assert_int_equal(run_until(&app, &now, 3 * SF_SMUX_KEEPALIVE_TIMEOUT_MS), 0);
	/* the app catches up a little: the bucket has room again, silence now counts */
	struct h_stream *hs = h_app_stream(&app, 1);
	sf_smux_stream_consumed(hs->st, 1);
	assert_int_equal(sf_smux_unconsumed(app.sess), SF_SMUX_SESSION_BUFFER - 1);
	assert_int_equal(run_until(&app, &now, 10 * SF_SMUX_KEEPALIVE_TIMEOUT_MS),
			 4 * SF_SMUX_KEEPALIVE_TIMEOUT_MS);
	h_app_free(&app);
}

static void test_release_after_close_returns_bucket(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	uint8_t data[100] = { 0 };
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 5, NULL, 0, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 3, data, 100, 0), 0);
	assert_int_equal(h_feed(&app, SF_SMUX_PSH, 5, data, 60, 0), 0);
	assert_int_equal(sf_smux_unconsumed(app.sess), 160);
	struct h_stream *hs = h_app_stream(&app, 3);
	sf_smux_stream_close(hs->st);
	hs->st = NULL;
	/* the application still holds stream 3's 100 bytes: they count until it releases them */
	assert_int_equal(sf_smux_unconsumed(app.sess), 160);
	sf_smux_release(app.sess, 100);
	assert_int_equal(sf_smux_unconsumed(app.sess), 60);
	h_app_free(&app);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nop_every_10s),
		cmocka_unit_test(test_peer_nop_brings_ours_forward),
		cmocka_unit_test(test_ours_steps_behind_the_peer),
		cmocka_unit_test(test_plain_ticker_ignores_peer_nops),
		cmocka_unit_test(test_server_period_alone),
		cmocka_unit_test(test_server_period_rides_with_peer),
		cmocka_unit_test(test_server_period_nop_flood),
		cmocka_unit_test(test_dead_after_silent_period),
		cmocka_unit_test(test_alive_while_frames_arrive),
		cmocka_unit_test(test_shorter_idle_timeout),
		cmocka_unit_test(test_partial_header_is_not_traffic),
		cmocka_unit_test(test_full_bucket_is_not_idle),
		cmocka_unit_test(test_release_after_close_returns_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
