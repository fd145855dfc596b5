/* The per-client ORPort dial bucket: a burst, then a steady rate, never more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "shard/dialrate.h"

static unsigned take_all(struct sf_dial_rate *r, uint64_t now)
{
	unsigned n = 0;
	while (sf_dial_rate_take(r, now))
		assert_true(++n <= SF_DIAL_BURST);
	return n;
}

static void test_burst_then_rate(void **state)
{
	(void)state;
	struct sf_dial_rate r = { 0 };
	const uint64_t t0 = 5000000;
	assert_int_equal(take_all(&r, t0), SF_DIAL_BURST);
	/* Less than one token's time: nothing. */
	assert_false(sf_dial_rate_take(&r, t0 + 1000 / SF_DIAL_RATE - 1));
	/* One token per 1000 / SF_DIAL_RATE ms, the remainder kept across calls. */
	assert_true(sf_dial_rate_take(&r, t0 + 1000 / SF_DIAL_RATE));
	assert_false(sf_dial_rate_take(&r, t0 + 1000 / SF_DIAL_RATE));
	assert_int_equal(take_all(&r, t0 + 1000 + 1000 / SF_DIAL_RATE), SF_DIAL_RATE);
	/* A long pause refills to the burst, not beyond. */
	assert_int_equal(take_all(&r, t0 + 3600000), SF_DIAL_BURST);
}

static void test_flood_over_time(void **state)
{
	(void)state;
	/* An attacker asking every millisecond for 10 s gets the burst plus 10 s of rate. */
	struct sf_dial_rate r = { 0 };
	unsigned got = 0;
	for (uint64_t t = 0; t < 10000; t++)
		got += sf_dial_rate_take(&r, 1000 + t) ? 1 : 0;
	assert_true(got <= SF_DIAL_BURST + 10 * SF_DIAL_RATE);
	assert_true(got >= SF_DIAL_BURST + 10 * SF_DIAL_RATE - 1);
	/* A clock that goes back earns nothing. */
	assert_false(sf_dial_rate_take(&r, 500));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_flood_over_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
