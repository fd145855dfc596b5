/* client_ip -> USERADDR: the Go-computed table of tests/vectors/extorport.json, plus parser corners
 * checked against Go's net.ParseIP / TCPAddr.String (see docs/tor.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tor/useraddr.h"
#include "tor_test_util.h"

static void expect(const char *client_ip, const char *want)
{
	char out[SF_TOR_USERADDR_MAX];
	bool ok = sf_tor_useraddr_from_client_ip(client_ip, out, sizeof out);
	if (ok != (want[0] != '\0') || strcmp(out, want) != 0)
		fail_msg("client_ip \"%s\": got %d \"%s\", want \"%s\"", client_ip ? client_ip : "(null)",
			 ok, out, want);
}

static void test_vector_table(void **state)
{
	(void)state;
	json_t *v = vectors_load("extorport.json");
	assert_non_null(v);
	json_t *table = json_object_get(v, "useraddr_from_client_ip");
	assert_true(json_array_size(table) >= 20);
	for (size_t i = 0; i < json_array_size(table); i++) {
		json_t *row = json_array_get(table, i);
		expect(tor_test_str(row, "client_ip_decoded"), tor_test_str(row, "useraddr"));
	}
	json_decref(v);
}

static void test_go_corners(void **state)
{
	(void)state;
	/* { input, what Go's net.ParseIP + TCPAddr{Port: 1}.String() give ("" = none) } */
	static const char *cases[][2] = {
		{ "255.255.255.255", "255.255.255.255:1" },
		{ "00.0.0.0", "" },
		{ "256.1.1.1", "" },
		{ "1.2.3", "" },
		{ "1.2.3.4.5", "" },
		{ "1.2.3.", "" },
		{ ".1.2.3", "" },
		{ "1..2.3", "" },
		{ "192.0.2.7 ", "" },
		{ "2001:DB8::1", "[2001:db8::1]:1" },
		{ "::0", "" },
		{ "::0.0.0.0", "" },
		{ "::ffff:0:0", "" },
		{ "::ffff:192.0.2.07", "" },
		{ "::FFFF:c000:0207", "192.0.2.7:1" },
		{ "0:0:0:0:0:ffff:c000:0207", "192.0.2.7:1" },
		{ "::192.0.2.7", "[::c000:207]:1" },
		{ "1::192.0.2.7", "[1::c000:207]:1" },
		{ "1:2:3:4:5:6:192.0.2.7", "[1:2:3:4:5:6:c000:207]:1" },
		{ "1:2:3:4:5:192.0.2.7", "" },
		{ "1:2:3:4:5:6:7:192.0.2.7", "" },
		{ "::1.2.3.4:5", "" },
		{ "::ffff:1.2.3", "" },
		{ "1:2:3:4:5:6:7:8", "[1:2:3:4:5:6:7:8]:1" },
		{ "1:2:3:4:5:6:7:8:9", "" },
		{ "1:2:3:4:5:6:7::", "[1:2:3:4:5:6:7:0]:1" },
		{ "::1:2:3:4:5:6:7", "[0:1:2:3:4:5:6:7]:1" },
		{ "1::2:3:4:5:6:7", "[1:0:2:3:4:5:6:7]:1" },
		{ "1:2:3:4::5:6:7:8", "" },
		{ "1:2:3:4:5:6:7:8::", "" },
		{ "::1:2:3:4:5:6:7:8", "" },
		{ "1::2::3", "" },
		{ "1:::2", "" },
		{ ":1::2", "" },
		{ "1::2:", "" },
		{ "1::", "[1::]:1" },
		{ "fe80::1%", "" },
		{ "%eth0", "" },
		{ "2001:0:0:1:0:0:0:1", "[2001:0:0:1::1]:1" },
		{ "1:0:0:2:0:0:0:3", "[1:0:0:2::3]:1" },
		{ "1:0:0:2:0:0:3:4", "[1::2:0:0:3:4]:1" },
		{ "0:0:1:0:0:0:0:0", "[0:0:1::]:1" },
		{ "1:0:1:0:1:0:1:0", "[1:0:1:0:1:0:1:0]:1" },
		{ "abcd:EF01:2345:6789:abcd:ef01:2345:6789", "[abcd:ef01:2345:6789:abcd:ef01:2345:6789]:1" },
		{ "[::1]", "" },
		{ "::g", "" },
		{ "0x1.2.3.4", "" },
		{ "1.2.3.4/24", "" },
		/* Go >= 1.22 (netip) and glibc refuse more than 4 hex digits; Go 1.19 took them. */
		{ "02001:db8::1", "" },
		{ "12345::", "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect(cases[i][0], cases[i][1]);
	expect(NULL, "");
}

static void test_small_output(void **state)
{
	(void)state;
	char out[16];
	assert_true(sf_tor_useraddr_from_client_ip("192.0.2.7", out, 12));
	assert_string_equal(out, "192.0.2.7:1");
	assert_false(sf_tor_useraddr_from_client_ip("192.0.2.7", out, 11));
	assert_true(sf_tor_useraddr_from_client_ip("2001:db8::1", out, 16));
	assert_string_equal(out, "[2001:db8::1]:1");
	assert_false(sf_tor_useraddr_from_client_ip("2001:db8::1", out, 15));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_table),
		cmocka_unit_test(test_go_corners),
		cmocka_unit_test(test_small_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
