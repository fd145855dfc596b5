/* --memory-budget's size syntax (lib/size.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/size.h"

static uint64_t ok(const char *text)
{
	uint64_t v = 12345;
	char err[128] = "";
	assert_int_equal(sf_parse_size(text, &v, err, sizeof err), 0);
	assert_string_equal(err, "");
	return v;
}

static void bad(const char *text, const char *why)
{
	uint64_t v = 777;
	char err[256] = "";
	assert_int_equal(sf_parse_size(text, &v, err, sizeof err), -1);
	assert_int_equal(v, 777);
	assert_non_null(strstr(err, why));
}

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(ok("0"), 0);
	assert_int_equal(ok("67108864"), 67108864);
	assert_int_equal(ok("512B"), 512);
	assert_int_equal(ok("64KiB"), 64 << 10);
	assert_int_equal(ok("64MiB"), 64ull << 20);
	assert_int_equal(ok("64 mib"), 64ull << 20);
	assert_int_equal(ok("2GiB"), 2ull << 30);
	assert_int_equal(ok("2G"), 2ull << 30);
	assert_int_equal(ok("1TiB"), 1ull << 40);
	assert_int_equal(ok("18446744073709551615"), UINT64_MAX);
}

static void test_refusals(void **state)
{
	(void)state;
	bad("", "not a size");
	bad("MiB", "not a size");
	bad("-1", "not a size");
	bad("64MB", "unknown unit \"MB\"");
	bad("64 MiB x", "unknown unit");
	bad("1.5GiB", "unknown unit \".5GiB\"");
	bad("18446744073709551616", "too large");
	bad("16777216TiB", "too large");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
