/* The one growable string (src/lib/strbuf.h): text and binary appends, the cap, the sticky
 * failure, take() on an empty and a failed buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"

static void test_appends_stay_nul_ended(void **state)
{
	(void)state;
	struct sf_strbuf b = { 0 };
	assert_int_equal(sf_strbuf_add(&b, "VERSION"), 0);
	assert_int_equal(sf_strbuf_addc(&b, ' '), 0);
	assert_int_equal(sf_strbuf_append(&b, "1xyz", 1), 0);
	assert_int_equal(b.len, 9);
	assert_string_equal(b.data, "VERSION 1");
	/* past the first allocation: growth keeps every byte */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(sf_strbuf_addc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 1009);
	assert_int_equal(b.data[1009], '\0');
	assert_int_equal(b.data[9 + 27], 'b');
	char *s = sf_strbuf_take(&b);
	assert_non_null(s);
	assert_int_equal(strlen(s), 1009);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(s);
}

static void test_binary_bytes_kept(void **state)
{
	(void)state;
	struct sf_strbuf b = { 0 };
	const uint8_t bytes[] = { 0, 255, 0, 7 };
	assert_int_equal(sf_strbuf_append(&b, bytes, sizeof bytes), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, bytes, 4);
	sf_strbuf_free(&b);
	assert_null(b.data);
}

static void test_cap_refuses_and_failure_sticks(void **state)
{
	(void)state;
	struct sf_strbuf b;
	sf_strbuf_init(&b, 8);
	assert_int_equal(sf_strbuf_add(&b, "12345678"), 0); /* exactly the cap */
	assert_int_equal(sf_strbuf_addc(&b, '9'), -1);
	assert_true(b.failed);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	sf_strbuf_free(&b);
	sf_strbuf_init(&b, 8);
	assert_int_equal(sf_strbuf_append(&b, "123456789", 9), -1); /* one append past the cap */
	assert_true(b.failed);
	/* sticky: a small append after a failed one fails too, and take() gives NULL */
	assert_int_equal(sf_strbuf_addc(&b, 'x'), -1);
	assert_null(sf_strbuf_take(&b));
	assert_null(b.data);
	assert_false(b.failed); /* take() freed and reset it */
}

static void test_take_of_empty_is_empty_string(void **state)
{
	(void)state;
	struct sf_strbuf b = { 0 };
	char *s = sf_strbuf_take(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
}

static void test_size_overflow_refused(void **state)
{
	(void)state;
	struct sf_strbuf b = { 0 };
	assert_int_equal(sf_strbuf_add(&b, "x"), 0);
	assert_int_equal(sf_strbuf_append(&b, "y", SIZE_MAX), -1); /* never wraps */
	assert_true(b.failed);
	sf_strbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appends_stay_nul_ended),
		cmocka_unit_test(test_binary_bytes_kept),
		cmocka_unit_test(test_cap_refuses_and_failure_sticks),
		cmocka_unit_test(test_take_of_empty_is_empty_string),
		cmocka_unit_test(test_size_overflow_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
