#include "lib/goip.h"

#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lib/hex.h"

static const uint8_t v4_in_v6_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool sf_goip_parse4(const char *s, size_t len, uint8_t out[4])
{
	unsigned val = 0, digits = 0, pos = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9') {
			if (digits == 1 && val == 0)
				return false; /* leading zero: "01" could mean octal elsewhere */
			val = val * 10 + (unsigned)(c - '0');
			digits++;
			if (val > 255)
				return false;
		} else if (c == '.') {
			if (i == 0 || i == len - 1 || s[i - 1] == '.')
				return false;
			if (pos == 3)
				return false;
			out[pos++] = (uint8_t)val;
			val = 0;
			digits = 0;
		} else {
			return false;
		}
	}
	if (pos < 3)
		return false;
	out[3] = (uint8_t)val;
	return true;
}

bool sf_goip_parse6(const char *s, size_t len, uint8_t out[16])
{
	uint8_t ip[16] = { 0 };
	int ellipsis = -1;
	int i = 0;

	if (memchr(s, '%', len))
		return false; /* a zone: net.ParseIP refuses it */
	if (len >= 2 && s[0] == ':' && s[1] == ':') {
		ellipsis = 0;
		s += 2;
		len -= 2;
		if (len == 0) {
			memset(out, 0, 16);
			return true;
		}
	}

	while (i < 16) {
		size_t off = 0;
		unsigned acc = 0;
		for (; off < len; off++) {
			int v = sf_hex_digit(s[off]);
			if (v < 0)
				break;
			if (off > 3)
				return false; /* more than 4 digits (modern Go, glibc) */
			acc = (acc << 4) | (unsigned)v;
		}
		if (off == 0)
			return false;

		if (off < len && s[off] == '.') {
			if (ellipsis < 0 && i != 12)
				return false;
			if (i + 4 > 16)
				return false;
			if (!sf_goip_parse4(s, len, ip + i))
				return false;
			len = 0;
			i += 4;
			break;
		}

		ip[i] = (uint8_t)(acc >> 8);
		ip[i + 1] = (uint8_t)acc;
		i += 2;

		s += off;
		len -= off;
		if (len == 0)
			break;
		if (s[0] != ':' || len == 1)
			return false;
		s++;
		len--;
		if (s[0] == ':') {
			if (ellipsis >= 0)
				return false;
			ellipsis = i;
			s++;
			len--;
			if (len == 0)
				break;
		}
	}
	if (len != 0)
		return false;

	if (i < 16) {
		if (ellipsis < 0)
			return false;
		int n = 16 - i;
		memmove(ip + ellipsis + n, ip + ellipsis, (size_t)(i - ellipsis));
		memset(ip + ellipsis, 0, (size_t)n);
	} else if (ellipsis >= 0) {
		return false; /* "::" must stand for at least one group */
	}
	memcpy(out, ip, 16);
	return true;
}

bool sf_goip_parse(const char *s, size_t len, uint8_t out[16])
{
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '.':
			memcpy(out, v4_in_v6_prefix, 12);
			return sf_goip_parse4(s, len, out + 12);
		case ':':
			return sf_goip_parse6(s, len, out);
		case '%':
			return false;
		}
	}
	return false;
}

bool sf_goip_is_v4(const uint8_t ip[16])
{
	return memcmp(ip, v4_in_v6_prefix, 12) == 0;
}

bool sf_goip_is_unspecified(const uint8_t ip[16])
{
	static const uint8_t zero[16];
	if (memcmp(ip, zero, 16) == 0)
		return true;
	return sf_goip_is_v4(ip) && memcmp(ip + 12, zero, 4) == 0;
}

size_t sf_goip_format(const uint8_t ip[16], char *out, size_t cap)
{
	char buf[40];
	size_t n = 0;

	if (sf_goip_is_v4(ip)) {
		n = (size_t)snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip[12], ip[13], ip[14], ip[15]);
	} else {
		/* RFC 5952: "::" replaces the first longest run of two or more zero groups. */
		int e0 = -1, e1 = -1;
		for (int i = 0; i < 16; i += 2) {
			int j = i;
			while (j < 16 && ip[j] == 0 && ip[j + 1] == 0)
				j += 2;
			if (j > i && j - i > e1 - e0) {
				e0 = i;
				e1 = j;
				i = j;
			}
		}
		if (e1 - e0 <= 2)
			e0 = e1 = -1;
		for (int i = 0; i < 16; i += 2) {
			if (i == e0) {
				buf[n++] = ':';
				buf[n++] = ':';
				i = e1;
				if (i >= 16)
					break;
			} else if (i > 0) {
				buf[n++] = ':';
			}
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%x", (unsigned)(ip[i] << 8 | ip[i + 1]));
		}
	}
	if (n + 1 > cap)
		return 0;
	memcpy(out, buf, n);
	out[n] = '\0';
	return n;
}

/* JoinHostPort(ip.String() + "%" + zone, port); no zone when zone is NULL. */
static size_t format_hostport_zone(const uint8_t ip[16], const char *zone, unsigned port,
				   char *out, size_t cap)
{
	char host[40];
	char buf[SF_GOIP_SOCKADDR_MAX];
	int n;

	sf_goip_format(ip, host, sizeof host);
	if (zone)
		n = snprintf(buf, sizeof buf, "[%s%%%s]:%u", host, zone, port);
	else if (strchr(host, ':'))
		n = snprintf(buf, sizeof buf, "[%s]:%u", host, port);
	else
		n = snprintf(buf, sizeof buf, "%s:%u", host, port);
	if (n < 0 || (size_t)n >= sizeof buf || (size_t)n + 1 > cap)
		return 0;
	memcpy(out, buf, (size_t)n + 1);
	return (size_t)n;
}

size_t sf_goip_format_hostport(const uint8_t ip[16], unsigned port, char *out, size_t cap)
{
	return format_hostport_zone(ip, NULL, port, out, cap);
}

size_t sf_goip_format_sockaddr(const struct sockaddr *sa, bool with_zone, char *out, size_t cap)
{
	uint8_t ip[16];
	unsigned port;
	char zone[IF_NAMESIZE];
	const char *zp = NULL;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(ip, v4_in_v6_prefix, 12);
		memcpy(ip + 12, &in->sin_addr, 4);
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		memcpy(ip, &in6->sin6_addr, 16);
		port = ntohs(in6->sin6_port);
		/* Go names the zone after the interface, or gives its number when it has no name. */
		if (with_zone && in6->sin6_scope_id != 0 && !sf_goip_is_v4(ip)) {
			if (!if_indextoname(in6->sin6_scope_id, zone))
				snprintf(zone, sizeof zone, "%u", (unsigned)in6->sin6_scope_id);
			zp = zone;
		}
	} else {
		if (cap < 2)
			return 0;
		out[0] = '?';
		out[1] = '\0';
		return 1;
	}
	return format_hostport_zone(ip, zp, port, out, cap);
}
