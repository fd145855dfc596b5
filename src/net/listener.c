#include "net/listener.h"

#include "lib/goip.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
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

size_t sf_net_addr_string(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
	char text[SF_GOIP_SOCKADDR_MAX];
	int n;

	if (cap == 0)
		return 0;
	if ((sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) ||
	    (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))) {
		/* TCPAddr.String prints a scope id as its zone, unlike goptlib's parsed addresses. */
		sf_goip_format_sockaddr(sa, true, text, sizeof text);
		n = snprintf(out, cap, "%s", text);
	} else {
		n = snprintf(out, cap, "<unknown address family %d>", sa->sa_family);
	}
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
	return sf_goip_is_unspecified(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
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
		   sf_goip_is_v4(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr)) {
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
