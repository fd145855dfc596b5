/* Host names as certificates are kept under: the one normalisation used for the ACME allow-list,
 * for SNI and for the Host header of HTTP-01 requests (autocert's HostWhitelist after
 * idna.Lookup.ToASCII, for ASCII input). */
#ifndef SF_LIB_HOSTNAME_H
#define SF_LIB_HOSTNAME_H

#include <stdbool.h>
#include <stddef.h>

/* Longest host name kept (DNS limit, without the trailing dot), and a buffer that holds it. */
#define SF_HOSTNAME_MAX 253
#define SF_HOSTNAME_BUF (SF_HOSTNAME_MAX + 3)

/* Writes in, lowercased and with one trailing dot dropped, to out (cap bytes; out may be in).
 * It must be a plain ASCII host name: labels of 1..63 letters, digits or inner hyphens, 253
 * bytes at most; with require_dot at least two labels (autocert refuses single-label SNI).
 * Returns 0, or -1 with why not in err (lib/err.h; may be NULL): Go's texts "server name contains
 * invalid character", "server name component count invalid"; out is then unspecified. */
int sf_hostname_normalize(const char *in, char *out, size_t cap, bool require_dot, char *err,
			  size_t errlen);

#endif
