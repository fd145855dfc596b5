/* autocert's DirCache, file for file (docs/acme.md "Behaviour"), so that a cache written by the Go
 * server is used as is and vice versa:
 *   acme_account+key   EC PRIVATE KEY (SEC1); acme_account.key is the legacy name, read only
 *   <domain>           EC PRIVATE KEY, then CERTIFICATE blocks (leaf first)
 *   <domain>+rsa       RSA PRIVATE KEY (PKCS#1), then CERTIFICATE blocks
 *   <domain>+token     tls-alpn-01 challenge cert (key + cert), while a challenge is pending
 *   <token>+http-01    the key authorization, while a challenge is pending
 * The directory is created 0700 (with its parents), files are 0600 and replaced atomically
 * (temporary file in the same directory + rename). Plain blocking file I/O: call it from the ACME
 * worker or at start-up, not from an event loop. */
#ifndef SF_ACME_CACHE_H
#define SF_ACME_CACHE_H

#include <stddef.h>
#include <time.h>

#include "acme/cert.h"

#define SF_ACME_CACHE_MISS 1
#define SF_ACME_CACHE_FILE_MAX (256 * 1024) /* larger files are treated as corrupt */
#define SF_ACME_CACHE_KEY_MAX 300

/* "<name>", "<name>+rsa" or "<name>+token" into out; returns out, or NULL if it does not fit. */
const char *sf_acme_cache_key(const char *name, enum sf_acme_cert_kind kind, char *out, size_t cap);

/* Raw access. Keys are file names: no '/', NUL or control characters, not "." or "..".
 * get: 0 with *data (malloc'd, NUL-ended) and *len; SF_ACME_CACHE_MISS when absent; -1 + err. */
int sf_acme_cache_get(const char *dir, const char *key, char **data, size_t *len, char *err,
		      size_t errlen);
int sf_acme_cache_put(const char *dir, const char *key, const void *data, size_t len, char *err,
		      size_t errlen);
/* Absent is not an error. */
int sf_acme_cache_delete(const char *dir, const char *key, char *err, size_t errlen);

/* The account key: acme_account+key, else acme_account.key. 0, MISS, or -1 + err (present but
 * not a private key: autocert refuses to go on rather than make a new account). */
int sf_acme_cache_read_account_key(const char *dir, EVP_PKEY **key, char *err, size_t errlen);
int sf_acme_cache_write_account_key(const char *dir, EVP_PKEY *key, char *err, size_t errlen);

/* Go's PEM text of a cert entry: the key block (EC PRIVATE KEY or RSA PRIVATE KEY), then one
 * CERTIFICATE block per chain element. *out is malloc'd. */
int sf_acme_cert_to_pem(const struct sf_acme_cert *c, char **out, size_t *len);
/* autocert's cacheGet parsing: the first block's type must contain "PRIVATE"; the key is read
 * as PKCS#1, PKCS#8 (RSA or ECDSA) or SEC1; every following block is a certificate; any
 * leftover bytes make the entry corrupt. 0, or -1 + err. */
int sf_acme_cert_from_pem(const char *data, size_t len, struct sf_acme_cert **out, char *err,
			  size_t errlen);

/* Reads <name>[+rsa|+token] and keeps it only if sf_acme_cert_check(now) accepts it (for the
 * token entry either key type, as autocert). 0 with *out; MISS when absent, corrupt or not valid
 * (err says why); -1 + err on an I/O error. */
int sf_acme_cache_read_cert(const char *dir, const char *name, enum sf_acme_cert_kind kind,
			    time_t now, struct sf_acme_cert **out, char *err, size_t errlen);
int sf_acme_cache_write_cert(const char *dir, const char *name, enum sf_acme_cert_kind kind,
			     const struct sf_acme_cert *c, char *err, size_t errlen);

#endif
