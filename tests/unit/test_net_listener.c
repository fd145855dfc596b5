/* sf_net_listen: socket options, Go's dual-stack choice and Go's error texts; sf_net_addr_string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/listener.h"

static struct sockaddr_in v4(const char *ip, unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	return sa;
}

static struct sockaddr_in6 v6(const char *ip, unsigned port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
	return sa;
}

static unsigned bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int ipv6_loopback_usable(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in6 sa = v6("::1", 0);
	int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

static void test_listen_options(void **state)
{
	(void)state;
	char err[256] = "";
	struct sockaddr_in sa = v4("127.0.0.1", 0);
	int fd = sf_net_listen((struct sockaddr *)&sa, sizeof sa, err, sizeof err);
	assert_true(fd >= 0);
	assert_string_equal(err, "");
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	int v = 0;
	socklen_t vl = sizeof v;
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &vl), 0);
	assert_int_equal(v, 1);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl), 0);
	assert_int_equal(v, 1);
	assert_true(bound_port(fd) > 0);

	/* It accepts a loopback client. */
	int c = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons((uint16_t)bound_port(fd));
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
	int s = -1;
	for (int i = 0; i < 1000 && s < 0; i++) {
		s = accept(fd, NULL, NULL);
		if (s < 0)
			usleep(1000);
	}
	assert_true(s >= 0);
	close(s);
	close(c);
	close(fd);
}

static void test_address_in_use(void **state)
{
	(void)state;
	char err[256];
	struct sockaddr_in sa = v4("127.0.0.1", 0);
	int fd = sf_net_listen((struct sockaddr *)&sa, sizeof sa, err, sizeof err);
	assert_true(fd >= 0);
	unsigned port = bound_port(fd);
	sa.sin_port = htons((uint16_t)port);
	assert_int_equal(sf_net_listen((struct sockaddr *)&sa, sizeof sa, err, sizeof err), -1);
	char want[128];
	snprintf(want, sizeof want, "listen tcp 127.0.0.1:%u: bind: address already in use", port);
	assert_string_equal(err, want);
	close(fd);
}

static void test_ipv6_address_in_use(void **state)
{
	(void)state;
	if (!ipv6_loopback_usable()) {
		skip();
		return;
	}
	char err[256];
	struct sockaddr_in6 sa = v6("::1", 0);
	int fd = sf_net_listen((struct sockaddr *)&sa, sizeof sa, err, sizeof err);
	assert_true(fd >= 0);
	unsigned port = bound_port(fd);
	sa.sin6_port = htons((uint16_t)port);
	assert_int_equal(sf_net_listen((struct sockaddr *)&sa, sizeof sa, err, sizeof err), -1);
	char want[128];
	snprintf(want, sizeof want, "listen tcp [::1]:%u: bind: address already in use", port);
	assert_string_equal(err, want);
	close(fd);
}

static void test_not_local_address(void **state)
{
	(void)state;
	char err[256];
	struct sockaddr_in sa = v4("192.0.2.1", 443);	/* TEST-NET-1: never ours */
	assert_int_equal(sf_net_listen((struct sockaddr *)&sa, sizeof sa, err, sizeof err), -1);
	assert_string_equal(err, "listen tcp 192.0.2.1:443: bind: cannot assign requested address");
	struct sockaddr_in6 sa6 = v6("2001:db8::7", 80);
	assert_int_equal(sf_net_listen((struct sockaddr *)&sa6, sizeof sa6, err, sizeof err), -1);
	/* The address family may be missing altogether; the address text is Go's either way. */
	assert_true(strncmp(err, "listen tcp [2001:db8::7]:80: ", 29) == 0);
}

static void test_wildcard_is_dual_stack(void **state)
{
	(void)state;
	if (!ipv6_loopback_usable()) {
		skip();
		return;
	}
	/* As Go does for "0.0.0.0" and "[::]": one IPv6 socket, V6ONLY off, bound to [::]. Port 0
	 * and closed right away; no traffic. */
	const struct sockaddr_in sa4 = v4("0.0.0.0", 0);
	const struct sockaddr_in6 sa6 = v6("::", 0);
	const struct sockaddr *addrs[] = { (const struct sockaddr *)&sa4, (const struct sockaddr *)&sa6 };
	socklen_t lens[] = { sizeof sa4, sizeof sa6 };
	for (int i = 0; i < 2; i++) {
		char err[256];
		int fd = sf_net_listen(addrs[i], lens[i], err, sizeof err);
		assert_true(fd >= 0);
		struct sockaddr_in6 got;
		socklen_t len = sizeof got;
		assert_int_equal(getsockname(fd, (struct sockaddr *)&got, &len), 0);
		assert_int_equal(got.sin6_family, AF_INET6);
		assert_true(IN6_IS_ADDR_UNSPECIFIED(&got.sin6_addr));
		int v = 1;
		socklen_t vl = sizeof v;
		assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl), 0);
		assert_int_equal(v, 0);
		close(fd);
	}
}

static void test_mapped_address_binds_ipv4(void **state)
{
	(void)state;
	char err[256];
	struct sockaddr_in6 sa = v6("::ffff:127.0.0.1", 0);
	int fd = sf_net_listen((struct sockaddr *)&sa, sizeof sa, err, sizeof err);
	assert_true(fd >= 0);
	struct sockaddr_storage got;
	socklen_t len = sizeof got;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&got, &len), 0);
	assert_int_equal(got.ss_family, AF_INET);
	close(fd);
}

static void expect_addr(const struct sockaddr *sa, socklen_t len, const char *want)
{
	char out[128];
	size_t n = sf_net_addr_string(sa, len, out, sizeof out);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_addr_string(void **state)
{
	(void)state;
	struct sockaddr_in a = v4("192.0.2.7", 443);
	expect_addr((struct sockaddr *)&a, sizeof a, "192.0.2.7:443");
	a = v4("0.0.0.0", 0);
	expect_addr((struct sockaddr *)&a, sizeof a, "0.0.0.0:0");

	static const struct {
		const char *ip, *want;
	} cases[] = {
		{ "::", "[::]:443" },
		{ "::1", "[::1]:443" },
		{ "2001:db8::1", "[2001:db8::1]:443" },
		{ "2001:DB8:0:1:1:1:1:1", "[2001:db8:0:1:1:1:1:1]:443" },	/* one zero group stays */
		{ "1:0:0:2:0:0:0:3", "[1:0:0:2::3]:443" },			/* the longest run */
		{ "1:0:0:2:0:0:3:4", "[1::2:0:0:3:4]:443" },			/* the first of equals */
		{ "::1.2.3.4", "[::102:304]:443" },				/* no dotted tail */
		{ "::ffff:1.2.3.4", "1.2.3.4:443" },				/* mapped: IPv4 */
		{ "fe80::", "[fe80::]:443" },
		{ "1:2:3:4:5:6:7:8", "[1:2:3:4:5:6:7:8]:443" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_in6 s = v6(cases[i].ip, 443);
		expect_addr((struct sockaddr *)&s, sizeof s, cases[i].want);
	}

	/* A zone prints as the interface name (or its number when unknown). */
	struct sockaddr_in6 z = v6("fe80::1", 80);
	z.sin6_scope_id = if_nametoindex("lo");
	if (z.sin6_scope_id)
		expect_addr((struct sockaddr *)&z, sizeof z, "[fe80::1%lo]:80");
	z.sin6_scope_id = 999999;
	expect_addr((struct sockaddr *)&z, sizeof z, "[fe80::1%999999]:80");

	/* A short buffer is cut, still NUL-terminated. */
	char small[6];
	struct sockaddr_in6 s = v6("2001:db8::1", 443);
	assert_int_equal(sf_net_addr_string((struct sockaddr *)&s, sizeof s, small, sizeof small), 5);
	assert_string_equal(small, "[2001");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_options),
		cmocka_unit_test(test_address_in_use),
		cmocka_unit_test(test_ipv6_address_in_use),
		cmocka_unit_test(test_not_local_address),
		cmocka_unit_test(test_wildcard_is_dual_stack),
		cmocka_unit_test(test_mapped_address_binds_ipv4),
		cmocka_unit_test(test_addr_string),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
