#include "tor/srcaddr.h"

#include "lib/goip.h"

#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void keep_prefix(uint8_t ip[16], unsigned prefix_len)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = prefix_len > 8 * i ? prefix_len - 8 * i : 0;
		if (bits < 8)
			ip[i] &= (uint8_t)(0xff00u >> bits);
	}
}

/* Go's dtoi: decimal digits only (leading zeros allowed), whole string. */
static bool parse_mask_len(const char *s, unsigned max, unsigned *out)
{
	unsigned n = 0;
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		n = n * 10 + (unsigned)(*s - '0');
		if (n > max)
			return false;
	}
	*out = n;
	return true;
}

static bool parse_cidr(const char *s, struct sf_tor_srcaddr *out)
{
	const char *slash = strchr(s, '/');
	uint8_t ip[16];
	unsigned bits, base;

	if (!slash)
		return false;
	size_t len = (size_t)(slash - s);
	/* The address's own text picks the mask width, as in Go: 32 for dotted IPv4, else 128. */
	if (sf_goip_parse4(s, len, ip + 12)) {
		memset(ip, 0, 10);
		ip[10] = ip[11] = 0xff;
		base = 96;
	} else if (sf_goip_parse6(s, len, ip)) {
		base = 0;
	} else {
		return false;
	}
	if (!parse_mask_len(slash + 1, 128 - base, &bits))
		return false;
	out->prefix_len = base + bits;
	keep_prefix(ip, out->prefix_len);
	memcpy(out->net, ip, 16);
	return true;
}

int sf_tor_srcaddr_parse(const char *s, struct sf_tor_srcaddr *out, char *err, size_t errlen)
{
	uint8_t ip[16];

	if (parse_cidr(s, out))
		return 0;
	if (sf_goip_parse(s, strlen(s), ip)) {
		memcpy(out->net, ip, 16);
		out->prefix_len = 128; /* /32 for IPv4, which is ::ffff:a.b.c.d/128 here */
		return 0;
	}
	if (errlen > 0)
		snprintf(err, errlen, "invalid CIDR address: %s", s);
	return -1;
}

socklen_t sf_tor_srcaddr_random(const struct sf_tor_srcaddr *r, struct sockaddr_storage *out)
{
	uint8_t ip[16], rnd[16];

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return 0;
	memcpy(ip, r->net, 16);
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = r->prefix_len > 8 * i ? r->prefix_len - 8 * i : 0;
		uint8_t host_mask = bits >= 8 ? 0 : (uint8_t)(0xffu >> bits);
		ip[i] = (uint8_t)((ip[i] & ~host_mask) | (rnd[i] & host_mask));
	}

	memset(out, 0, sizeof *out);
	if (sf_goip_is_v4(ip)) {
		struct sockaddr_in *in = (struct sockaddr_in *)out;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, ip + 12, 4);
		return sizeof *in;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
	in6->sin6_family = AF_INET6;
	memcpy(&in6->sin6_addr, ip, 16);
	return sizeof *in6;
}
