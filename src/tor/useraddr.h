/* USERADDR text for a proxy's client_ip, as snowflake's clientAddr computes it with Go's net
 * package: parse strictly, ignore unspecified addresses, print canonically with the stub port 1. */
#ifndef SF_TOR_USERADDR_H
#define SF_TOR_USERADDR_H

#include <stdbool.h>
#include <stddef.h>

/* "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1" plus NUL fits. */
#define SF_TOR_USERADDR_MAX 48

/* client_ip is the already percent-decoded query value (may be NULL). Writes "a.b.c.d:1" or
 * "[v6]:1" to out and returns true; returns false (out = "") when there is no USERADDR to send:
 * empty, unparsable, with a zone, unspecified, or outlen too small. */
bool sf_tor_useraddr_from_client_ip(const char *client_ip, char *out, size_t outlen);

#endif
