/* TLS-ALPN-01 (RFC 8737) challenge certificates, as autocert builds them (protocols.md §7.4). */
#ifndef SF_TLS_CHALLENGE_H
#define SF_TLS_CHALLENGE_H

#include <stddef.h>

#include "tls/cert.h"

/* id-pe-acmeIdentifier */
#define SF_TLS_ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31"

/* Builds the certificate a TLS-ALPN-01 validation of name must see: self-signed with a new ECDSA
 * P-256 key, serial 1, valid from now for 24 h, CN = SAN dNSName = name, basicConstraints CA:FALSE,
 * keyUsage digitalSignature|keyEncipherment, extKeyUsage serverAuth, and the critical
 * acmeIdentifier extension = DER OCTET STRING(SHA-256(key_auth)), key_auth being
 * "<token>.<account key thumbprint>". name must be a valid host name (it is normalized as SNI
 * names are). Returns NULL with a reason in err on failure. Blocks for a key generation: call it
 * on the ACME worker, not on an event loop. */
struct sf_tls_cert *sf_tls_challenge_cert(const char *name, const char *key_auth, char *err,
					  size_t errlen);

#endif
