/* orport-srcaddr: parsing as snowflake does with Go's net package (cases checked against Go),
 * and random addresses that keep the network bits and vary every host bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "tor/srcaddr.h"

/* The network as text ("" when invalid) and its length in Go's terms (/24 of 32, /64 of 128). */
static void expect_parse(const char *s, const char *want_net, unsigned want_ones, unsigned want_bits)
{
	struct sf_tor_srcaddr r;
	char err[128] = "", text[64], want_err[128];
	int rc = sf_tor_srcaddr_parse(s, &r, err, sizeof err);

	if (!want_net[0]) {
		assert_int_equal(rc, -1);
		snprintf(want_err, sizeof want_err, "invalid CIDR address: %s", s);
		assert_string_equal(err, want_err);
		return;
	}
	if (rc != 0)
		fail_msg("\"%s\": %s", s, err);
	if (want_bits == 32) {
		assert_int_equal(r.prefix_len, 96 + want_ones);
		assert_non_null(inet_ntop(AF_INET, r.net + 12, text, sizeof text));
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		assert_memory_equal(r.net, mapped, 12);
	} else {
		assert_int_equal(r.prefix_len, want_ones);
		assert_non_null(inet_ntop(AF_INET6, r.net, text, sizeof text));
	}
	if (strcmp(text, want_net) != 0)
		fail_msg("\"%s\": network %s, want %s", s, text, want_net);
}

static void test_parse(void **state)
{
	(void)state;
	expect_parse("192.0.2.0/24", "192.0.2.0", 24, 32);
	expect_parse("192.0.2.1/24", "192.0.2.0", 24, 32);
	expect_parse("10.1.2.3/13", "10.0.0.0", 13, 32);
	expect_parse("192.0.2.0/024", "192.0.2.0", 24, 32);
	expect_parse("1.2.3.4/0", "0.0.0.0", 0, 32);
	expect_parse("fd00::/64", "fd00::", 64, 128);
	expect_parse("fd00::1:2:3/64", "fd00::", 64, 128);
	expect_parse("::/0", "::", 0, 128);
	expect_parse("192.0.2.1", "192.0.2.1", 32, 32);
	expect_parse("::ffff:192.0.2.1", "192.0.2.1", 32, 32);
	expect_parse("2001:db8::1", "2001:db8::1", 128, 128);
	/* A mapped IPv4 CIDR keeps Go's 128-bit mask, and still dials as IPv4. */
	expect_parse("::ffff:192.0.2.0/120", "192.0.2.0", 24, 32);
	expect_parse("192.0.2.0/33", "", 0, 0);
	expect_parse("192.0.2.0/", "", 0, 0);
	expect_parse("192.0.2.0/+24", "", 0, 0);
	expect_parse("2001:db8::/129", "", 0, 0);
	expect_parse("fe80::1%eth0/64", "", 0, 0);
	expect_parse("fe80::1%eth0", "", 0, 0);
	expect_parse("foo", "", 0, 0);
	expect_parse("", "", 0, 0);
	expect_parse("192.0.2.07", "", 0, 0);
}

/* Draws many addresses: all inside the range, and every host bit seen both 0 and 1. */
static void check_random(const char *range, int want_family, unsigned host_bits)
{
	struct sf_tor_srcaddr r;
	char err[128];
	uint8_t seen_one[16] = { 0 }, seen_zero[16] = { 0 };
	const int draws = 2000;

	assert_int_equal(sf_tor_srcaddr_parse(range, &r, err, sizeof err), 0);
	for (int i = 0; i < draws; i++) {
		struct sockaddr_storage ss;
		uint8_t ip[16];
		socklen_t len = sf_tor_srcaddr_random(&r, &ss);
		assert_int_equal(ss.ss_family, want_family);
		if (want_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			assert_int_equal(len, sizeof *in);
			assert_int_equal(in->sin_port, 0);
			memcpy(ip, r.net, 12);
			memcpy(ip + 12, &in->sin_addr, 4);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			assert_int_equal(len, sizeof *in6);
			assert_int_equal(in6->sin6_port, 0);
			memcpy(ip, &in6->sin6_addr, 16);
		}
		for (unsigned b = 0; b < 128; b++) {
			unsigned bit = (ip[b / 8] >> (7 - b % 8)) & 1;
			unsigned net_bit = (r.net[b / 8] >> (7 - b % 8)) & 1;
			if (b < r.prefix_len)
				assert_int_equal(bit, net_bit);
			else if (bit)
				seen_one[b / 8] |= (uint8_t)(0x80 >> (b % 8));
			else
				seen_zero[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		}
	}
	unsigned varied = 0;
	for (unsigned b = r.prefix_len; b < 128; b++) {
		uint8_t m = (uint8_t)(0x80 >> (b % 8));
		if ((seen_one[b / 8] & m) && (seen_zero[b / 8] & m))
			varied++;
	}
	assert_int_equal(varied, host_bits);
	assert_int_equal(128 - r.prefix_len, host_bits);
}

static void test_random(void **state)
{
	(void)state;
	check_random("192.0.2.0/24", AF_INET, 8);
	check_random("10.0.0.0/13", AF_INET, 19);
	check_random("0.0.0.0/0", AF_INET, 32);
	check_random("2001:db8:1:2::/64", AF_INET6, 64);
	check_random("2001:db8::/29", AF_INET6, 99);
	check_random("::ffff:192.0.2.0/120", AF_INET, 8);
	check_random("192.0.2.9", AF_INET, 0);
	check_random("2001:db8::9", AF_INET6, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
