/* What a ClientHello says about the certificate it needs (docs/acme.md "Behaviour", docs/tls.md
 * "Certificate selection"), as pure
 * functions over the raw extension bytes OpenSSL's client hello callback exposes. */
#ifndef SF_TLS_HELLO_H
#define SF_TLS_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/hostname.h"

/* Longest host name kept and a buffer that holds it (lib/hostname.h). */
#define SF_TLS_NAME_MAX SF_HOSTNAME_MAX
#define SF_TLS_NAME_BUF SF_HOSTNAME_BUF

/* server_name extension body (RFC 6066). Copies the host_name entry, as sent, into name
 * (NUL-terminated). Returns 1 if there was one, 0 if there was none, -1 if the extension is
 * malformed, holds two host names (as Go refuses) or a name that does not fit in cap-1 bytes. */
int sf_tls_hello_sni(const uint8_t *ext, size_t len, char *name, size_t cap);

/* ALPN protocol list as OpenSSL's select callback gets it (the extension body without its 2-byte
 * length). 1 if it is exactly ["acme-tls/1"] (autocert's test for a TLS-ALPN-01 validation),
 * 0 if not, -1 if malformed. */
int sf_tls_alpn_acme_only(const uint8_t *list, size_t len);

/* autocert's supportsECDSA, inverted: 1 when the client must get the RSA certificate, 0 for
 * ECDSA P-256, -1 if a list is malformed. sigalgs and groups are the signature_algorithms and
 * supported_groups extension bodies (with their 2-byte list length), NULL when absent; ciphers
 * is the raw list of 2-byte cipher suites. */
int sf_tls_hello_wants_rsa(const uint8_t *sigalgs, size_t sigalgs_len, const uint8_t *groups,
			   size_t groups_len, const uint8_t *ciphers, size_t ciphers_len);

#endif
