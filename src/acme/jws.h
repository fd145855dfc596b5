/* What RFC 8555 asks of the account key: base64url (RFC 4648 §5, no padding), the JWK and its
 * RFC 7638 thumbprint, flattened JWS (ES256, or RS256 for an RSA key found in an old cache)
 * with a `jwk` or a `kid`, and the key authorization `<token>.<thumbprint>`. */
#ifndef SF_ACME_JWS_H
#define SF_ACME_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* base64url of 32 bytes (a SHA-256 thumbprint): 43 characters + NUL */
#define SF_ACME_THUMBPRINT_LEN 44

/* Encodes without padding. Returns the length written (NUL not counted), or -1 when out
 * (cap bytes, NUL included) is too small. */
long sf_acme_b64url_encode(const void *in, size_t len, char *out, size_t cap);
/* malloc'd NUL-terminated encoding, or NULL */
char *sf_acme_b64url_encode_alloc(const void *in, size_t len);
/* Decodes unpadded base64url (a trailing '=' padding is refused, as Go's RawURLEncoding does).
 * Returns the byte count, or -1 on a bad character/length or when out is too small. */
long sf_acme_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* A new account key: ECDSA P-256 (what autocert generates). */
EVP_PKEY *sf_acme_account_key_new(void);

/* The public JWK with exactly the RFC 7638 members in lexicographic order and no whitespace
 * ({"crv","kty","x","y"} or {"e","kty","n"}), as Go's jwkEncode writes it. Returns the length,
 * or -1 for an unsupported key or a small buffer. */
long sf_acme_jwk(EVP_PKEY *key, char *out, size_t cap);

/* base64url(SHA-256(JWK)); out has SF_ACME_THUMBPRINT_LEN bytes. Returns 0 or -1. */
int sf_acme_thumbprint(EVP_PKEY *key, char *out);

/* "<token>.<thumbprint>" (malloc'd), or NULL. */
char *sf_acme_key_authorization(EVP_PKEY *key, const char *token);

/* The flattened JWS JSON to POST to url: protected header {alg, jwk|kid, nonce, url}, payload
 * base64url(payload_json), or "" for POST-as-GET when payload_json is NULL. kid NULL → jwk.
 * nonce NULL → no nonce member. malloc'd, or NULL on failure. */
char *sf_acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
		  const char *payload_json);

#endif
