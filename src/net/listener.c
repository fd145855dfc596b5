#include "net/listener.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Go's syscall.Errno texts are glibc's with a lower-case first letter. */
static const char *errno_text(int e, char *buf, size_t cap)
{
	const char *s = strerror_r(e, buf, cap);
	if (s != buf) {
		snprintf(buf, cap, "%s", s);
	}
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

static size_t format_ipv6(const uint8_t ip[16], char *out, size_t cap)
{
	/* Longest run of zero groups (first one on a tie), only if it spans at least two groups. */
	int best = -1, best_len = 0;
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && ip[2 * j] == 0 && ip[2 * j + 1] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = (j > i) ? j : i + 1;
	}
	if (best_len < 2)
		best = -1;

	size_t off = 0;
	for (int i = 0; i < 8 && off < cap; i++) {
		if (i == best) {
			off += (size_t)snprintf(out + off, cap - off, "::");
			i += best_len - 1;
			continue;
		}
		bool sep = i > 0 && i != best + best_len;
		off += (size_t)snprintf(out + off, cap - off, "%s%x", sep ? ":" : "",
					(unsigned)(ip[2 * i] << 8 | ip[2 * i + 1]));
	}
	return off < cap ? off : cap - 1;
}

static bool is_v4_mapped(const uint8_t ip[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(ip, prefix, sizeof prefix) == 0;
}

size_t sf_net_addr_string(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 16];
	unsigned port;
	if (cap == 0)
		return 0;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *ip = in6->sin6_addr.s6_addr;
		port = ntohs(in6->sin6_port);
		if (is_v4_mapped(ip)) {
			inet_ntop(AF_INET, ip + 12, host, sizeof host);
		} else {
			char text[INET6_ADDRSTRLEN], zone[IF_NAMESIZE + 12] = "";
			format_ipv6(ip, text, sizeof text);
			if (in6->sin6_scope_id != 0 && !if_indextoname(in6->sin6_scope_id, zone + 1))
				snprintf(zone + 1, sizeof zone - 1, "%u", (unsigned)in6->sin6_scope_id);
			if (zone[1])
				zone[0] = '%';
			snprintf(host, sizeof host, "[%s%s]", text, zone);
		}
	} else {
		int n = snprintf(out, cap, "<unknown address family %d>", sa->sa_family);
		return (size_t)n < cap ? (size_t)n : cap - 1;
	}
	int n = snprintf(out, cap, "%s:%u", host, port);
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Go listens on [::] for every wildcard address when IPv4-mapped IPv6 works; it finds out by
 * binding a V6ONLY=0 socket to ::ffff:127.0.0.1 once. */
static bool v4_mapped_ok;
static pthread_once_t v4_mapped_once = PTHREAD_ONCE_INIT;

static void probe_v4_mapped(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return;
	int off = 0;
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	sa.sin6_addr.s6_addr[10] = 0xff;
	sa.sin6_addr.s6_addr[11] = 0xff;
	sa.sin6_addr.s6_addr[12] = 127;
	sa.sin6_addr.s6_addr[15] = 1;
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) == 0 &&
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		v4_mapped_ok = true;
	close(fd);
}

static bool is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	const uint8_t *ip = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	static const uint8_t zero[16];
	if (memcmp(ip, zero, 16) == 0)
		return true;
	return is_v4_mapped(ip) && memcmp(ip + 12, zero, 4) == 0;
}

static int fail(int fd, const char *what, int e, const char *addr, char *err, size_t errlen)
{
	char text[128];
	if (fd >= 0)
		close(fd);
	if (err && errlen)
		snprintf(err, errlen, "listen tcp %s: %s: %s", addr, what, errno_text(e, text, sizeof text));
	return -1;
}

int sf_net_listen(const struct sockaddr *sa, socklen_t len, char *err, size_t errlen)
{
	char addr[128];
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} bound;

	if (!(sa->sa_family == AF_INET && len >= (socklen_t)sizeof bound.in) &&
	    !(sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof bound.in6)) {
		if (err && errlen)
			snprintf(err, errlen, "listen tcp: unsupported address family %d", sa->sa_family);
		return -1;
	}
	sf_net_addr_string(sa, len, addr, sizeof addr);

	/* Pick the socket family and address as Go's favoriteAddrFamily and ipToSockaddr do. */
	memset(&bound, 0, sizeof bound);
	pthread_once(&v4_mapped_once, probe_v4_mapped);
	bool dual = is_wildcard(sa) && v4_mapped_ok;
	in_port_t port = sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
						  : ((const struct sockaddr_in6 *)sa)->sin6_port;
	socklen_t blen;
	if (dual) {
		bound.in6.sin6_family = AF_INET6;
		bound.in6.sin6_port = port;
		blen = sizeof bound.in6;
	} else if (sa->sa_family == AF_INET6 &&
		   is_v4_mapped(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr)) {
		bound.in.sin_family = AF_INET;
		bound.in.sin_port = port;
		memcpy(&bound.in.sin_addr, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr + 12, 4);
		blen = sizeof bound.in;
	} else if (sa->sa_family == AF_INET) {
		memcpy(&bound.in, sa, sizeof bound.in);
		blen = sizeof bound.in;
	} else {
		memcpy(&bound.in6, sa, sizeof bound.in6);
		blen = sizeof bound.in6;
	}

	int fd = socket(bound.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return fail(-1, "socket", errno, addr, err, errlen);
	int one = 1, zero = 0;
	/* Go sets V6ONLY=0 on every IPv6 socket and ignores a failure to do so. */
	if (bound.sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		return fail(fd, "setsockopt", errno, addr, err, errlen);
	if (bind(fd, &bound.sa, blen) < 0)
		return fail(fd, "bind", errno, addr, err, errlen);
	if (listen(fd, SF_NET_BACKLOG) < 0)
		return fail(fd, "listen", errno, addr, err, errlen);
	return fd;
}
