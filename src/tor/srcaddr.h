/* orport-srcaddr: a source address range for ORPort dials. Every dial binds a fresh random
 * address of the range (network bits kept, host bits random), port 0. */
#ifndef SF_TOR_SRCADDR_H
#define SF_TOR_SRCADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sf_tor_srcaddr {
	uint8_t net[16];     /* network address, Go's 16-byte form (IPv4 as ::ffff:a.b.c.d) */
	unsigned prefix_len; /* network bits of net, 0..128 (an IPv4 /24 is 96 + 24) */
};

/* Parses like snowflake: Go net.ParseCIDR first ("192.0.2.0/24", "fd00::/64"), then a plain
 * net.ParseIP address as /32 or /128. Returns 0, or -1 with "invalid CIDR address: <s>" in err. */
int sf_tor_srcaddr_parse(const char *s, struct sf_tor_srcaddr *out, char *err, size_t errlen);

/* Fills out with a random address of the range and port 0: AF_INET when the address is
 * IPv4(-mapped), as Go dials it, else AF_INET6. Returns its length, or 0 if no randomness. */
socklen_t sf_tor_srcaddr_random(const struct sf_tor_srcaddr *r, struct sockaddr_storage *out);

#endif
