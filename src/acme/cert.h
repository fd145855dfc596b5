/* A certificate as the ACME layer hands it around: private key + chain (leaf first), plus the
 * checks autocert applies before it trusts one (validCert), the CSR it sends and key creation. */
#ifndef SF_ACME_CERT_H
#define SF_ACME_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* What a cache entry holds, and so which file name it has (autocert's certKey). */
enum sf_acme_cert_kind {
	SF_ACME_CERT_EC,    /* "<domain>": ECDSA P-256 */
	SF_ACME_CERT_RSA,   /* "<domain>+rsa": RSA-2048 */
	SF_ACME_CERT_TOKEN, /* "<domain>+token": tls-alpn-01 challenge cert, any key type */
};

/* Its key type as the logs say it: "RSA" or "ECDSA". */
static inline const char *sf_acme_cert_kind_text(enum sf_acme_cert_kind k)
{
	return k == SF_ACME_CERT_RSA ? "RSA" : "ECDSA";
}

/* Immutable once built; share it with sf_acme_cert_dup (OpenSSL reference counts). */
struct sf_acme_cert {
	EVP_PKEY *key;
	STACK_OF(X509) *chain; /* leaf first, then intermediates; never empty */
	time_t not_before;     /* of the leaf */
	time_t not_after;
};

/* Takes ownership of key and chain (NULL on failure, and then frees neither). */
struct sf_acme_cert *sf_acme_cert_new(EVP_PKEY *key, STACK_OF(X509) *chain);
struct sf_acme_cert *sf_acme_cert_dup(const struct sf_acme_cert *c);
void sf_acme_cert_free(struct sf_acme_cert *c);
static inline X509 *sf_acme_cert_leaf(const struct sf_acme_cert *c)
{
	return sk_X509_value(c->chain, 0);
}

/* autocert's validCert: now within [NotBefore, NotAfter], the leaf is for name (SAN, as Go's
 * VerifyHostname), not a Let's Encrypt cert from before 2022-01-26 00:48 UTC, the leaf key is
 * the private key, and the key type fits the kind (EC for "<domain>", RSA for "+rsa", either for
 * "+token"). Returns 0, or -1 with the reason in err. */
int sf_acme_cert_check(const struct sf_acme_cert *c, const char *name, enum sf_acme_cert_kind kind,
		       time_t now, char *err, size_t errlen);

/* A fresh certificate key: ECDSA P-256, or RSA-2048 for SF_ACME_CERT_RSA. NULL on failure. */
EVP_PKEY *sf_acme_cert_key_new(enum sf_acme_cert_kind kind);

/* DER CSR as autocert's certRequest: subject CN = name, SAN dNSName = name, signed by key
 * (SHA-256). *der is malloc'd. Returns 0 or -1. */
int sf_acme_csr_der(EVP_PKEY *key, const char *name, uint8_t **der, size_t *der_len);

/* id-pe-acmeIdentifier, the critical extension of a tls-alpn-01 certificate (RFC 8737). */
#define SF_ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31"

/* The tls-alpn-01 challenge certificate of RFC 8737 as autocert builds it: self-signed ECDSA
 * P-256, serial 1, valid now..now+24 h, CN = SAN dNSName = name, KeyUsage digitalSignature +
 * keyEncipherment, EKU serverAuth, critical id-pe-acmeIdentifier = OCTET STRING(SHA-256(key
 * authorization)). A ready-made sf_acme_tlsalpn01_cert_fn for the TLS layer. */
int sf_acme_tlsalpn01_cert(void *arg, const char *name, const char *key_authorization,
			   struct sf_acme_cert **out, char *err, size_t errlen);

/* Builds the certificate the TLS layer serves for a tls-alpn-01 challenge of name (what
 * sf_acme_tlsalpn01_cert does). Called on the ACME worker thread. Returns 0, or -1 + err. */
typedef int (*sf_acme_tlsalpn01_cert_fn)(void *arg, const char *name, const char *key_authorization,
					 struct sf_acme_cert **out, char *err, size_t errlen);

/* ASN1_TIME → seconds since the epoch; -1 if unreadable. */
time_t sf_acme_asn1_time(const ASN1_TIME *t);

#endif
