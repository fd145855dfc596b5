#include "pt/bindaddr.h"
#include "pt/gostr.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go's net.SplitHostPort on s[0..n). On success host/port are ranges of s; on failure err gets
 * the AddrError text ("address <s>: <why>", the address not quoted). */
static int split_host_port(const char *s, size_t n, size_t *host, size_t *host_len,
			   size_t *port, struct sf_pt_str *err)
{
	const char *why;
	size_t j = 0, k = 0;
	const char *last = n ? memrchr(s, ':', n) : NULL;

	if (!last) {
		why = "missing port in address";
		goto fail;
	}
	size_t i = (size_t)(last - s);
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (!rb) {
			why = "missing ']' in address";
			goto fail;
		}
		size_t end = (size_t)(rb - s);
		if (end + 1 == n) {
			why = "missing port in address";
			goto fail;
		} else if (end + 1 != i) {
			why = s[end + 1] == ':' ? "too many colons in address" : "missing port in address";
			goto fail;
		}
		*host = 1;
		*host_len = end - 1;
		j = 1;
		k = end + 1;
	} else {
		if (memchr(s, ':', i)) {
			why = "too many colons in address";
			goto fail;
		}
		*host = 0;
		*host_len = i;
	}
	if (memchr(s + j, '[', n - j)) {
		why = "unexpected '[' in address";
		goto fail;
	}
	if (memchr(s + k, ']', n - k)) {
		why = "unexpected ']' in address";
		goto fail;
	}
	*port = i + 1;
	return 0;
fail:
	if (n > 0) {
		sf_pt_str_add(err, "address ");
		sf_pt_str_addn(err, s, n);
		sf_pt_str_add(err, ": ");
	}
	sf_pt_str_add(err, why);
	return -1;
}

/* netip parseIPv4: exactly four decimal fields 0-255, no leading zeros. */
static bool parse_ipv4(const char *s, size_t n, uint8_t out[4])
{
	int val = 0, digits = 0, pos = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9') {
			if (digits == 1 && val == 0)
				return false;
			val = val * 10 + (c - '0');
			digits++;
			if (val > 255)
				return false;
		} else if (c == '.') {
			if (i == 0 || i == n - 1 || s[i - 1] == '.' || pos == 3)
				return false;
			out[pos++] = (uint8_t)val;
			val = 0;
			digits = 0;
		} else {
			return false;
		}
	}
	if (pos < 3 || digits == 0)
		return false;
	out[3] = (uint8_t)val;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* netip parseIPv6 without zones (net.ParseIP refuses a zone): up to 8 groups of 1-4 hex digits,
 * one "::" standing for at least one zero group, optional trailing dotted IPv4. */
static bool parse_ipv6(const char *s, size_t n, uint8_t ip[16])
{
	int ellipsis = -1;
	int i = 0;

	memset(ip, 0, 16);
	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		ellipsis = 0;
		s += 2;
		n -= 2;
		if (n == 0)
			return true;
	}
	while (i < 16) {
		size_t off = 0;
		uint32_t acc = 0;
		for (; off < n; off++) {
			int h = hexval(s[off]);
			if (h < 0)
				break;
			if (off > 3)
				return false;
			acc = (acc << 4) | (uint32_t)h;
		}
		if (off == 0)
			return false;
		if (off < n && s[off] == '.') {
			if ((ellipsis < 0 && i != 12) || i + 4 > 16)
				return false;
			if (!parse_ipv4(s, n, ip + i))
				return false;
			i += 4;
			n = 0;
			break;
		}
		ip[i] = (uint8_t)(acc >> 8);
		ip[i + 1] = (uint8_t)acc;
		i += 2;
		s += off;
		n -= off;
		if (n == 0)
			break;
		if (s[0] != ':' || n == 1)
			return false;
		s++;
		n--;
		if (s[0] == ':') {
			if (ellipsis >= 0)
				return false;
			ellipsis = i;
			s++;
			n--;
			if (n == 0)
				break;
		}
	}
	if (n != 0)
		return false;
	if (i < 16) {
		if (ellipsis < 0)
			return false;
		int shift = 16 - i;
		for (int j = i - 1; j >= ellipsis; j--)
			ip[j + shift] = ip[j];
		memset(ip + ellipsis, 0, (size_t)shift);
	} else if (ellipsis >= 0) {
		return false;
	}
	return true;
}

/* Go's net.ParseIP: dispatch on the first '.', ':' or '%'. Returns 4 or 16 (bytes), 0 if bad. */
static int parse_ip(const char *s, size_t n, uint8_t ip[16])
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.')
			return parse_ipv4(s, n, ip) ? 4 : 0;
		if (s[i] == ':')
			return parse_ipv6(s, n, ip) ? 16 : 0;
		if (s[i] == '%')
			return 0;
	}
	return 0;
}

/* strconv.ParseUint(s, 10, 16): the first bad byte decides, in order, between syntax/range. */
static int parse_port(const char *s, size_t n, unsigned *port, struct sf_pt_str *err)
{
	unsigned v = 0;
	const char *why = NULL;

	if (n == 0)
		why = "invalid syntax";
	for (size_t i = 0; i < n && !why; i++) {
		if (s[i] < '0' || s[i] > '9')
			why = "invalid syntax";
		else if ((v = v * 10 + (unsigned)(s[i] - '0')) > 65535)
			why = "value out of range";
	}
	if (why) {
		sf_pt_str_add(err, "strconv.ParseUint: parsing ");
		sf_pt_str_add_quoted(err, s, n);
		sf_pt_str_add(err, ": ");
		sf_pt_str_add(err, why);
		return -1;
	}
	*port = v;
	return 0;
}

static void format_ipv6(const uint8_t ip[16], char *out)
{
	int best = -1, best_len = 0;

	for (int g = 0; g < 8;) {
		int run = 0;
		while (g + run < 8 && ip[2 * (g + run)] == 0 && ip[2 * (g + run) + 1] == 0)
			run++;
		if (run > best_len) {
			best = g;
			best_len = run;
		}
		g += run ? run : 1;
	}
	if (best_len < 2)
		best = -1;
	char *p = out;
	for (int g = 0; g < 8; g++) {
		if (g == best) {
			*p++ = ':';
			*p++ = ':';
			g += best_len - 1;
			continue;
		}
		if (g > 0 && g != best + best_len)
			*p++ = ':';
		p += sprintf(p, "%x", (unsigned)(ip[2 * g] << 8 | ip[2 * g + 1]));
	}
	*p = '\0';
}

void sf_pt_format_addr(const struct sockaddr *sa, char text[SF_PT_ADDR_TEXT_MAX])
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		const uint8_t *b = (const uint8_t *)&in->sin_addr;
		snprintf(text, SF_PT_ADDR_TEXT_MAX, "%u.%u.%u.%u:%u", b[0], b[1], b[2], b[3],
			 ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(b, mapped, 12) == 0) {
			snprintf(text, SF_PT_ADDR_TEXT_MAX, "%u.%u.%u.%u:%u", b[12], b[13], b[14],
				 b[15], ntohs(in6->sin6_port));
			return;
		}
		char host[48];
		format_ipv6(b, host);
		snprintf(text, SF_PT_ADDR_TEXT_MAX, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(text, SF_PT_ADDR_TEXT_MAX, "?");
	}
}

int sf_pt_resolve_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		       char text[SF_PT_ADDR_TEXT_MAX], char **errp)
{
	struct sf_pt_str err = {0}, retry = {0};
	size_t n = strlen(s), host, host_len, port_at;
	const char *hp = s;
	size_t hp_len = n;
	uint8_t ip[16];
	unsigned port;
	int iplen;

	*errp = NULL;
	if (split_host_port(s, n, &host, &host_len, &port_at, &err) < 0) {
		/* tor before #7011 wrote IPv6 without brackets: treat the last ':' as the port
		 * separator and try again with brackets. */
		const char *last = memrchr(s, ':', n);
		const char *first = memchr(s, ':', n);
		if (!last || first == last)
			goto fail;
		sf_pt_str_addc(&retry, '[');
		sf_pt_str_addn(&retry, s, (size_t)(last - s));
		sf_pt_str_add(&retry, "]");
		sf_pt_str_add(&retry, last);
		if (retry.oom)
			goto fail;
		sf_pt_str_free(&err);
		hp = retry.p;
		hp_len = retry.len;
		if (split_host_port(hp, hp_len, &host, &host_len, &port_at, &err) < 0)
			goto fail;
	}
	if (host_len == 0) {
		sf_pt_str_add(&err, "address string ");
		sf_pt_str_add_quoted(&err, s, n);
		sf_pt_str_add(&err, " lacks a host part");
		goto fail;
	}
	if (port_at == hp_len) {
		sf_pt_str_add(&err, "address string ");
		sf_pt_str_add_quoted(&err, s, n);
		sf_pt_str_add(&err, " lacks a port part");
		goto fail;
	}
	iplen = parse_ip(hp + host, host_len, ip);
	if (iplen == 0) {
		sf_pt_str_add(&err, "not an IP string: ");
		sf_pt_str_add_quoted(&err, hp + host, host_len);
		goto fail;
	}
	if (parse_port(hp + port_at, hp_len - port_at, &port, &err) < 0)
		goto fail;

	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	memset(ss, 0, sizeof *ss);
	if (iplen == 16 && memcmp(ip, mapped, 12) == 0) {
		memmove(ip, ip + 12, 4);
		iplen = 4;
	}
	if (iplen == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, ip, 4);
		*len = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		memcpy(in6->sin6_addr.s6_addr, ip, 16);
		*len = sizeof *in6;
	}
	sf_pt_format_addr((const struct sockaddr *)ss, text);
	sf_pt_str_free(&retry);
	return 0;
fail:
	sf_pt_str_free(&retry);
	if (err.oom || err.len == 0) {
		sf_pt_str_free(&err);
		*errp = NULL;
		return -1;
	}
	*errp = sf_pt_str_take(&err);
	return -1;
}
