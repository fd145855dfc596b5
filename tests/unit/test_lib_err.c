/* The error convention's one helper (src/lib/err.h): sf_err fills the caller's buffer, always
 * NUL-ended and truncated to fit, accepts no buffer at all, and returns -1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/err.h"

static void test_fills_and_returns_minus_one(void **state)
{
	(void)state;
	char err[SF_ERR_MAX] = "";
	assert_int_equal(sf_err(err, sizeof err, "mkdir %s: %s", "/x", "permission denied"), -1);
	assert_string_equal(err, "mkdir /x: permission denied");
}

static void test_truncates_and_stays_nul_ended(void **state)
{
	(void)state;
	char err[8];
	memset(err, 'z', sizeof err);
	assert_int_equal(sf_err(err, sizeof err, "%s", "0123456789"), -1);
	assert_string_equal(err, "0123456");
}

static void test_no_buffer(void **state)
{
	(void)state;
	assert_int_equal(sf_err(NULL, 0, "ignored %d", 1), -1);
	char err[4] = "abc";
	assert_int_equal(sf_err(err, 0, "ignored"), -1);
	assert_string_equal(err, "abc"); /* errlen 0: not one byte written */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fills_and_returns_minus_one),
		cmocka_unit_test(test_truncates_and_stays_nul_ended),
		cmocka_unit_test(test_no_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
