/* IP address text exactly as Go's net package reads and writes it (net.ParseIP, net.IP.String,
 * net.JoinHostPort, TCPAddr.String), shared by pt (bindaddrs), net (listen errors) and tor
 * (USERADDR, orport-srcaddr, dial errors). Addresses are kept in Go's 16-byte form: IPv4 is
 * ::ffff:a.b.c.d. */
#ifndef SF_LIB_GOIP_H
#define SF_LIB_GOIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text of sf_goip_format_hostport: "[" + 39 + "]:" + 5 digits, plus NUL. */
#define SF_GOIP_HOSTPORT_MAX 48

/* Longest text of sf_goip_format_sockaddr with a zone: the above plus "%" and a 15-byte zone. */
#define SF_GOIP_SOCKADDR_MAX 64

/* Dotted IPv4, no leading zeros ("01" is refused as by Go >= 1.17). */
bool sf_goip_parse4(const char *s, size_t len, uint8_t out[4]);

/* IPv6 text with optional "::" and trailing dotted IPv4; no zone; at most 4 hex digits a group. */
bool sf_goip_parse6(const char *s, size_t len, uint8_t out[16]);

/* net.ParseIP: the first '.' or ':' decides IPv4 or IPv6; a zone ('%') is refused. */
bool sf_goip_parse(const char *s, size_t len, uint8_t out[16]);

/* net.IP.IsUnspecified: 0.0.0.0 (any form) or ::. */
bool sf_goip_is_unspecified(const uint8_t ip[16]);

/* True when ip is ::ffff:a.b.c.d, which Go prints and dials as IPv4. */
bool sf_goip_is_v4(const uint8_t ip[16]);

/* net.IP.String(): dotted for IPv4-mapped, else RFC 5952. Returns the length (0 if cap too small). */
size_t sf_goip_format(const uint8_t ip[16], char *out, size_t cap);

/* net.JoinHostPort(ip.String(), port): "a.b.c.d:p" or "[v6]:p". Returns the length (0 if no room). */
size_t sf_goip_format_hostport(const uint8_t ip[16], unsigned port, char *out, size_t cap);

/* Same for an AF_INET / AF_INET6 socket address ("?" for anything else). With with_zone, a
 * non-mapped IPv6 address with a scope id gets Go's zone: "[fe80::1%eth0]:80" (the interface
 * number when it has no name); without, the scope id is ignored. */
size_t sf_goip_format_sockaddr(const struct sockaddr *sa, bool with_zone, char *out, size_t cap);

#endif
