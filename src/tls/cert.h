/* Certificates as the TLS layer serves them, and a small name → certificate table.
 *
 * A struct sf_tls_cert is immutable once built and reference-counted (atomically), so the thread
 * that publishes a certificate (the ACME worker) and the threads doing handshakes never share
 * anything but the count: a handshake takes a reference, installs the chain into its SSL* (which
 * keeps its own references) and drops it; a replaced certificate is freed when its last user is
 * done with it. */
#ifndef SF_TLS_CERT_H
#define SF_TLS_CERT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct sf_tls_cert;

/* Takes its own references to key, leaf and the intermediates (leaf's issuer first; NULL for
 * none). Returns NULL if key does not match leaf or on allocation failure. Count starts at 1. */
struct sf_tls_cert *sf_tls_cert_new(EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *intermediates);
struct sf_tls_cert *sf_tls_cert_ref(struct sf_tls_cert *cert);
/* NULL is fine. */
void sf_tls_cert_unref(struct sf_tls_cert *cert);

/* Borrowed; valid while the caller holds a reference. */
X509 *sf_tls_cert_leaf(const struct sf_tls_cert *cert);
EVP_PKEY *sf_tls_cert_key(const struct sf_tls_cert *cert);
STACK_OF(X509) *sf_tls_cert_chain(const struct sf_tls_cert *cert);
bool sf_tls_cert_is_rsa(const struct sf_tls_cert *cert);

/* ---- table: key → certificate, shared between threads ----
 * A mutex guards the table itself, held only for the copy of one pointer and one reference count
 * change: a handshake touches it once, never per record. */
struct sf_tls_table;

/* At most cap entries (bounded memory); NULL on allocation failure. */
struct sf_tls_table *sf_tls_table_new(size_t cap);
/* Drops every entry's reference. */
void sf_tls_table_free(struct sf_tls_table *table);

/* Publishes cert under key (its own reference; the previous one is released), or removes the
 * entry when cert is NULL. Returns 0, or -1 if the table is full or key longer than
 * SF_TLS_NAME_MAX + 4 bytes. */
int sf_tls_table_put(struct sf_tls_table *table, const char *key, struct sf_tls_cert *cert);
/* A new reference to the entry's certificate, or NULL. */
struct sf_tls_cert *sf_tls_table_get(struct sf_tls_table *table, const char *key);

/* A ready-made certificate store (an sf_tls_lookup_fn, see tls/tls.h) over a table: the ECDSA
 * certificate is kept under "<name>", the RSA one under "<name>+rsa" (autocert's DirCache names).
 * Never pending. */
struct sf_tls_cert *sf_tls_table_lookup(void *table, const char *name, bool want_rsa,
					bool *pending);

#endif
