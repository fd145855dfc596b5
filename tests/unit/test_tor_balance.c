/* The choice of ExtORPort (src/tor/balance.c), with a clock we move by hand: least loaded with
 * round-robin ties, exponential backoff, one probe when a backoff ends, all-down fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tor/balance.h"

/* Picks for a fresh stream and counts the dial, as the shard does. */
static int open_stream(struct sf_tor_balance *b, uint64_t now)
{
	int i = sf_tor_balance_pick(b, now, 0);
	assert_true(i >= 0);
	sf_tor_balance_add(b, i);
	return i;
}

static void test_least_loaded(void **state)
{
	(void)state;
	struct sf_tor_balance b;
	sf_tor_balance_init(&b, 3);
	int count[3] = { 0 };

	/* Equal loads: round-robin, so 30 streams make 10 each. */
	for (int k = 0; k < 30; k++)
		count[open_stream(&b, 1000)]++;
	assert_int_equal(count[0], 10);
	assert_int_equal(count[1], 10);
	assert_int_equal(count[2], 10);

	/* Backend 1 loses 6 streams: the next 6 all go there, then round-robin again. */
	for (int k = 0; k < 6; k++)
		sf_tor_balance_remove(&b, 1);
	for (int k = 0; k < 6; k++)
		assert_int_equal(open_stream(&b, 1000), 1);
	assert_int_equal(b.slot[0].load, 10);
	assert_int_equal(b.slot[1].load, 10);
	assert_int_equal(b.slot[2].load, 10);

	/* Backend 2 has the fewest. */
	sf_tor_balance_remove(&b, 2);
	assert_int_equal(open_stream(&b, 1000), 2);

	/* Removing from an empty backend does not wrap around. */
	struct sf_tor_balance one;
	sf_tor_balance_init(&one, 1);
	sf_tor_balance_remove(&one, 0);
	assert_int_equal(one.slot[0].load, 0);
	assert_int_equal(open_stream(&one, 0), 0);
}

static void test_tried_are_skipped(void **state)
{
	(void)state;
	struct sf_tor_balance b;
	sf_tor_balance_init(&b, 3);
	sf_tor_balance_add(&b, 1); /* loads 0, 2, 1 */
	sf_tor_balance_add(&b, 1);
	sf_tor_balance_add(&b, 2);
	assert_int_equal(sf_tor_balance_pick(&b, 0, 0x1), 2);
	assert_int_equal(sf_tor_balance_pick(&b, 0, 0x5), 1);
	assert_int_equal(sf_tor_balance_pick(&b, 0, 0x7), -1);
}

static void test_backoff_doubles(void **state)
{
	(void)state;
	struct sf_tor_balance b;
	sf_tor_balance_init(&b, 2);
	uint64_t now = 10000;

	sf_tor_balance_failed(&b, 0, now);
	assert_true(sf_tor_balance_backing_off(&b, 0, now));
	assert_true(sf_tor_balance_backing_off(&b, 0, now + SF_TOR_BACKOFF_FIRST_MS - 1));
	assert_false(sf_tor_balance_backing_off(&b, 0, now + SF_TOR_BACKOFF_FIRST_MS));
	/* While 0 backs off every stream goes to 1, however loaded. */
	for (int k = 0; k < 5; k++)
		assert_int_equal(open_stream(&b, now + 10), 1);

	/* Dials that were in flight fail during the backoff: same outage, no longer backoff. */
	sf_tor_balance_failed(&b, 0, now + 500);
	assert_int_equal(b.slot[0].retry_ms, now + SF_TOR_BACKOFF_FIRST_MS);

	/* Each failure after a backoff ended doubles it, up to the maximum. */
	uint64_t expect = SF_TOR_BACKOFF_FIRST_MS;
	for (int k = 0; k < 12; k++) {
		now = b.slot[0].retry_ms;
		assert_int_equal(sf_tor_balance_pick(&b, now, 0), 0); /* the probe */
		sf_tor_balance_failed(&b, 0, now);
		expect = expect * 2 > SF_TOR_BACKOFF_MAX_MS ? SF_TOR_BACKOFF_MAX_MS : expect * 2;
		assert_int_equal(b.slot[0].retry_ms - now, expect);
	}
	assert_int_equal(expect, SF_TOR_BACKOFF_MAX_MS);

	/* One success clears it all. */
	sf_tor_balance_succeeded(&b, 0);
	assert_false(sf_tor_balance_backing_off(&b, 0, now));
	assert_int_equal(b.slot[0].failures, 0);
	sf_tor_balance_failed(&b, 0, now);
	assert_int_equal(b.slot[0].retry_ms - now, SF_TOR_BACKOFF_FIRST_MS);
}

/* When a backoff ends, one stream probes; the others stay away until it succeeds or
 * SF_TOR_PROBE_MS passes. */
static void test_one_probe(void **state)
{
	(void)state;
	struct sf_tor_balance b;
	sf_tor_balance_init(&b, 2);
	uint64_t now = 50000;
	sf_tor_balance_failed(&b, 0, now);
	for (int k = 0; k < 4; k++)
		open_stream(&b, now); /* all on 1 */
	now += SF_TOR_BACKOFF_FIRST_MS;
	assert_int_equal(open_stream(&b, now), 0); /* the probe: least loaded, backoff over */
	assert_int_equal(open_stream(&b, now + 1), 1);
	assert_int_equal(open_stream(&b, now + SF_TOR_PROBE_MS - 1), 1);
	/* The probe never answered: another one is allowed. */
	assert_int_equal(open_stream(&b, now + SF_TOR_PROBE_MS), 0);
	/* It succeeded: back to least loaded (0 has 2, 1 has 6). */
	sf_tor_balance_succeeded(&b, 0);
	assert_int_equal(open_stream(&b, now + SF_TOR_PROBE_MS + 1), 0);
	assert_int_equal(open_stream(&b, now + SF_TOR_PROBE_MS + 1), 0);
}

/* Every backend down: the one that comes back first is tried, never none. */
static void test_all_down(void **state)
{
	(void)state;
	struct sf_tor_balance b;
	sf_tor_balance_init(&b, 3);
	uint64_t now = 1000;
	sf_tor_balance_failed(&b, 0, now);	    /* back at 2000 */
	sf_tor_balance_failed(&b, 1, now - 600); /* back at 1400 */
	sf_tor_balance_failed(&b, 2, now - 300); /* back at 1700 */
	assert_int_equal(sf_tor_balance_pick(&b, now, 0), 1);
	assert_int_equal(sf_tor_balance_pick(&b, now, 0x2), 2);
	assert_int_equal(sf_tor_balance_pick(&b, now, 0x6), 0);
	assert_int_equal(sf_tor_balance_pick(&b, now, 0x7), -1);

	/* A single backend is always tried, in backoff or not. */
	struct sf_tor_balance one;
	sf_tor_balance_init(&one, 1);
	sf_tor_balance_failed(&one, 0, now);
	assert_int_equal(sf_tor_balance_pick(&one, now, 0), 0);
	assert_int_equal(sf_tor_balance_pick(&one, now + 1, 0), 0);
}

static void test_limits(void **state)
{
	(void)state;
	struct sf_tor_balance b;
	sf_tor_balance_init(&b, 100);
	assert_int_equal(b.n, SF_TOR_BACKENDS_MAX);
	/* The last backend is reachable through the 32-bit tried mask. */
	assert_int_equal(sf_tor_balance_pick(&b, 0, UINT32_MAX >> 1), SF_TOR_BACKENDS_MAX - 1);
	assert_int_equal(sf_tor_balance_pick(&b, 0, UINT32_MAX), -1);
	struct sf_tor_balance none;
	sf_tor_balance_init(&none, 0);
	assert_int_equal(sf_tor_balance_pick(&none, 0, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_least_loaded),
		cmocka_unit_test(test_tried_are_skipped),
		cmocka_unit_test(test_backoff_doubles),
		cmocka_unit_test(test_one_probe),
		cmocka_unit_test(test_all_down),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
