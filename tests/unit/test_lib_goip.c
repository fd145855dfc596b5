/* lib/goip: Go's net.ParseIP, IP.String, JoinHostPort and TCPAddr.String. The expected texts are
 * what Go >= 1.22 gives (the same cases as test_tor_useraddr.c, test_net_listener.c and
 * test_pt_env.c check through their callers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "lib/goip.h"

/* The 16 bytes of an address in Go's form, built with the C library's parser. */
static void go_bytes(const char *text, uint8_t out[16])
{
	struct in_addr v4;

	if (inet_pton(AF_INET, text, &v4) == 1) {
		static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		memcpy(out, prefix, 12);
		memcpy(out + 12, &v4, 4);
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, text, out), 1);
}

static void test_parse4(void **state)
{
	(void)state;
	static const char *good[] = { "0.0.0.0", "1.2.3.4", "255.255.255.255", "10.0.100.9" };
	static const char *bad[] = {
		"", "1.2.3", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2.3", "256.1.1.1", "00.0.0.0",
		"1.2.3.04", "0x1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4%lo", "1.2.3.4/24", "1:2",
	};
	uint8_t out[4];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct in_addr want;
		assert_int_equal(inet_pton(AF_INET, good[i], &want), 1);
		assert_true(sf_goip_parse4(good[i], strlen(good[i]), out));
		assert_memory_equal(out, &want, 4);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (sf_goip_parse4(bad[i], strlen(bad[i]), out))
			fail_msg("\"%s\" parsed as IPv4", bad[i]);
	}
	/* The length bounds the text: no NUL is needed. */
	assert_true(sf_goip_parse4("1.2.3.4x", 7, out));
	assert_int_equal(out[3], 4);
}

static void test_parse6(void **state)
{
	(void)state;
	static const char *good[] = {
		"::", "::1", "1::", "2001:DB8::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::",
		"::1:2:3:4:5:6:7", "1::2:3:4:5:6:7", "0001:0db8::", "::ffff:192.0.2.7",
		"::192.0.2.7", "1:2:3:4:5:6:192.0.2.7", "abcd:EF01:2345:6789:abcd:ef01:2345:6789",
	};
	static const char *bad[] = {
		"", ":", ":::", "1:::2", ":1::2", "1::2:", "1::2::3", "1:2:3:4:5:6:7",
		"1:2:3:4:5:6:7:8:9", "1:2:3:4::5:6:7:8", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
		"fe80::1%lo", "fe80::1%", "::g", "[::1]", "12345::", "02001:db8::1",
		"::ffff:192.0.2.07", "::ffff:1.2.3", "::1.2.3.4:5", "1:2:3:4:5:192.0.2.7",
		"1:2:3:4:5:6:7:192.0.2.7", "1.2.3.4",
	};
	uint8_t out[16], want[16];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		go_bytes(good[i], want);
		if (!sf_goip_parse6(good[i], strlen(good[i]), out))
			fail_msg("\"%s\" refused", good[i]);
		assert_memory_equal(out, want, 16);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (sf_goip_parse6(bad[i], strlen(bad[i]), out))
			fail_msg("\"%s\" parsed as IPv6", bad[i]);
	}
}

static void test_parse(void **state)
{
	(void)state;
	uint8_t out[16], want[16];

	/* IPv4 becomes ::ffff:a.b.c.d, as Go's 16-byte net.IP. */
	go_bytes("192.0.2.7", want);
	assert_true(sf_goip_parse("192.0.2.7", 9, out));
	assert_memory_equal(out, want, 16);
	assert_true(sf_goip_parse("::ffff:192.0.2.7", 16, out));
	assert_memory_equal(out, want, 16);
	go_bytes("2001:db8::1", want);
	assert_true(sf_goip_parse("2001:db8::1", 11, out));
	assert_memory_equal(out, want, 16);

	/* The first '.', ':' or '%' decides; none of them is no address. */
	static const char *bad[] = {
		"", "1", "abc", "%eth0", "%1.2.3.4", "1.2.3.4%eth0", "fe80::1%eth0", "1.2::3", "[::1]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (sf_goip_parse(bad[i], strlen(bad[i]), out))
			fail_msg("\"%s\" parsed", bad[i]);
	}
}

static void test_classify(void **state)
{
	(void)state;
	static const struct {
		const char *ip;
		bool unspecified, v4;
	} cases[] = {
		{ "0.0.0.0", true, true },	{ "::", true, false },
		{ "::0.0.0.0", true, false },	{ "::ffff:0.0.0.0", true, true },
		{ "0.0.0.1", false, true },	{ "::1", false, false },
		{ "::ffff:0:1", false, true },	{ "::fffe:0:0", false, false },
		{ "1::ffff:0:0", false, false },
	};
	uint8_t ip[16];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		go_bytes(cases[i].ip, ip);
		if (sf_goip_is_unspecified(ip) != cases[i].unspecified || sf_goip_is_v4(ip) != cases[i].v4)
			fail_msg("%s: unspecified %d, v4 %d", cases[i].ip, sf_goip_is_unspecified(ip),
				 sf_goip_is_v4(ip));
	}
}

static void test_format(void **state)
{
	(void)state;
	static const char *cases[][2] = {
		{ "192.0.2.7", "192.0.2.7" },
		{ "0.0.0.0", "0.0.0.0" },
		{ "::ffff:1.2.3.4", "1.2.3.4" },		/* mapped: IPv4 */
		{ "::1.2.3.4", "::102:304" },			/* no dotted tail otherwise */
		{ "::", "::" },
		{ "::1", "::1" },
		{ "1::", "1::" },
		{ "2001:DB8::1", "2001:db8::1" },
		{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },	/* one zero group stays */
		{ "1:0:0:2:0:0:0:3", "1:0:0:2::3" },			/* the longest run */
		{ "1:0:0:2:0:0:3:4", "1::2:0:0:3:4" },			/* the first of equals */
		{ "0:0:1:0:0:0:0:0", "0:0:1::" },
		{ "1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0" },
		{ "0001:0db8::", "1:db8::" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe" },
	};
	uint8_t ip[16];
	char out[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		go_bytes(cases[i][0], ip);
		size_t n = sf_goip_format(ip, out, sizeof out);
		assert_string_equal(out, cases[i][1]);
		assert_int_equal(n, strlen(cases[i][1]));
	}

	/* Exactly enough room (text + NUL), then one byte less: 0 and nothing written. */
	go_bytes("2001:db8::1", ip);
	assert_int_equal(sf_goip_format(ip, out, 12), 11);
	assert_string_equal(out, "2001:db8::1");
	memset(out, 'x', sizeof out);
	assert_int_equal(sf_goip_format(ip, out, 11), 0);
	assert_int_equal(out[0], 'x');
}

static void test_format_hostport(void **state)
{
	(void)state;
	uint8_t ip[16];
	char out[SF_GOIP_HOSTPORT_MAX];

	go_bytes("192.0.2.7", ip);
	assert_int_equal(sf_goip_format_hostport(ip, 1, out, sizeof out), 11);
	assert_string_equal(out, "192.0.2.7:1");
	assert_int_equal(sf_goip_format_hostport(ip, 1, out, 11), 0);

	go_bytes("2001:db8::1", ip);
	assert_int_equal(sf_goip_format_hostport(ip, 443, out, 18), 17);
	assert_string_equal(out, "[2001:db8::1]:443");
	assert_int_equal(sf_goip_format_hostport(ip, 443, out, 17), 0);

	/* The longest text fits SF_GOIP_HOSTPORT_MAX exactly. */
	memset(ip, 0xff, 16);
	ip[15] = 0xfe;
	assert_int_equal(sf_goip_format_hostport(ip, 65535, out, sizeof out),
			 SF_GOIP_HOSTPORT_MAX - 1);
	assert_string_equal(out, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535");
}

static struct sockaddr_in6 v6(const char *text, unsigned port, uint32_t scope)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	sa.sin6_scope_id = scope;
	assert_int_equal(inet_pton(AF_INET6, text, &sa.sin6_addr), 1);
	return sa;
}

static void expect_sockaddr(const void *sa, bool with_zone, const char *want)
{
	char out[SF_GOIP_SOCKADDR_MAX];
	size_t n = sf_goip_format_sockaddr(sa, with_zone, out, sizeof out);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_format_sockaddr(void **state)
{
	(void)state;
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(9001) };
	in.sin_addr.s_addr = htonl(0x7f000001);
	expect_sockaddr(&in, false, "127.0.0.1:9001");
	expect_sockaddr(&in, true, "127.0.0.1:9001");

	struct sockaddr_in6 s = v6("::", 443, 0);
	expect_sockaddr(&s, false, "[::]:443");
	s = v6("::ffff:192.0.2.7", 80, 0);
	expect_sockaddr(&s, false, "192.0.2.7:80");

	/* The zone: only when asked for, only for a scope id, never on a mapped address. */
	s = v6("fe80::1", 80, 999999);
	expect_sockaddr(&s, false, "[fe80::1]:80");
	expect_sockaddr(&s, true, "[fe80::1%999999]:80");
	s.sin6_scope_id = if_nametoindex("lo");
	if (s.sin6_scope_id)
		expect_sockaddr(&s, true, "[fe80::1%lo]:80");
	s = v6("fe80::1", 80, 0);
	expect_sockaddr(&s, true, "[fe80::1]:80");
	s = v6("::ffff:192.0.2.7", 80, 999999);
	expect_sockaddr(&s, true, "192.0.2.7:80");

	/* The longest numeric zone still fits SF_GOIP_SOCKADDR_MAX. */
	s = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535, UINT32_MAX);
	expect_sockaddr(&s, true, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe%4294967295]:65535");

	struct sockaddr_un un = { .sun_family = AF_UNIX };
	expect_sockaddr(&un, true, "?");
	char tiny[2];
	assert_int_equal(sf_goip_format_sockaddr((struct sockaddr *)&un, false, tiny, 1), 0);
	assert_int_equal(sf_goip_format_sockaddr((struct sockaddr *)&in, false, tiny, sizeof tiny), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse4),
		cmocka_unit_test(test_parse6),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_hostport),
		cmocka_unit_test(test_format_sockaddr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
