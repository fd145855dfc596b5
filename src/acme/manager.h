/* autocert's Manager in C: an allow-list of host names, certificates obtained on first need and
 * renewed before expiry, an autocert-compatible DirCache, HTTP-01 and TLS-ALPN-01 responses.
 *
 * Threads. All ACME work (network, key generation, cache writes) runs on one worker thread the
 * manager owns, one job at a time, so a name is never issued twice at once. The functions below
 * may be called from any thread; they take the manager's mutex only to read or update its small
 * tables (never across I/O), so a TLS handshake callback can call them without blocking:
 *   - sf_acme_manager_lookup(): current certificate, or "pending" (issuance queued/running), or
 *     the failure remembered for failure_memory_ms, or "refused" (not on the allow-list);
 *   - sf_acme_manager_tlsalpn01_cert(): the challenge cert for a ClientHello offering only
 *     acme-tls/1;
 *   - sf_acme_manager_http01(): the HTTP-01 answer (reads the cache file on a memory miss).
 * New and renewed certificates are also pushed to the publish callback (on the worker thread;
 * on the caller's thread for certificates found in the cache by sf_acme_manager_start()), and
 * attempt_done reports the end of every attempt, failures included.
 *
 * Renewal: timer at NotAfter − renew_before − U[0, renew_jitter); the cache is re-read first (a
 * certificate written there by another instance is adopted when its own renewal point is more
 * than renew_before + renew_jitter away), else a new certificate is obtained with the same key.
 * A failed renewal keeps the old certificate in service and is retried after retry_base +
 * U[0, retry_jitter) (or the CA's Retry-After, if longer). A failed first issuance is remembered
 * for failure_memory_ms (or the Retry-After, if longer): lookups fail fast, then try again. */
#ifndef SF_ACME_MANAGER_H
#define SF_ACME_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acme/cert.h"
#include "acme/client.h"

#define SF_ACME_MAX_HOSTS 256
#define SF_ACME_RENEW_BEFORE_MS (720ull * 3600 * 1000) /* autocert: 30 days */
#define SF_ACME_RENEW_JITTER_MS (3600ull * 1000)       /* autocert: 1 h */
#define SF_ACME_FAILURE_MEMORY_MS (60ull * 1000)       /* autocert: createCertRetryAfter */
#define SF_ACME_RETRY_BASE_MS (30ull * 60 * 1000)      /* autocert: renewJitter / 2 */
#define SF_ACME_RETRY_JITTER_MS (30ull * 60 * 1000)

enum sf_acme_status {
	SF_ACME_READY,   /* *out holds the certificate */
	SF_ACME_PENDING, /* being obtained; ask again later (or sf_acme_manager_wait) */
	SF_ACME_FAILED,  /* the last attempt failed recently; err says why */
	SF_ACME_REFUSED, /* bad server name or not on the allow-list; err says why */
};

/* A new or renewed certificate for name (kind SF_ACME_CERT_EC or _RSA). cert is lent for the
 * call: sf_acme_cert_dup() it to keep it. */
typedef void (*sf_acme_publish_fn)(void *arg, const char *name, enum sf_acme_cert_kind kind,
				   const struct sf_acme_cert *cert);

struct sf_acme_manager_config {
	const char *cache_dir;              /* NULL: no cache (every start re-issues) */
	const char *const *hostnames;       /* --acme-hostnames entries; invalid ones are dropped */
	size_t n_hostnames;
	struct sf_acme_client_config client; /* directory, CA file, email, timeouts...; its
					      * challenge_types NULL: derived from the two below
					      * (tls-alpn-01 first, as autocert); sleep_ms,
					      * cancelled and hook_arg are the manager's own */
	bool http01;                        /* an HTTP-01 responder serves sf_acme_manager_http01() */
	sf_acme_tlsalpn01_cert_fn tlsalpn01_cert; /* NULL: no tls-alpn-01 (e.g. sf_acme_tlsalpn01_cert) */
	void *tlsalpn01_arg;
	uint64_t renew_before_ms;   /* 0: SF_ACME_RENEW_BEFORE_MS */
	uint64_t renew_jitter_ms;   /* 0: SF_ACME_RENEW_JITTER_MS; UINT64_MAX: none */
	uint64_t failure_memory_ms; /* 0: SF_ACME_FAILURE_MEMORY_MS */
	uint64_t retry_base_ms;     /* 0: SF_ACME_RETRY_BASE_MS */
	uint64_t retry_jitter_ms;   /* 0: SF_ACME_RETRY_JITTER_MS; UINT64_MAX: none */
	sf_acme_publish_fn publish; /* may be NULL */
	void *publish_arg;
	/* After every attempt of the worker (first issuance or renewal), successful or not, once
	 * lookups already see its outcome: the TLS layer's cue to wake handshakes suspended on
	 * "pending" (sf_tls_resume). On the worker thread; may be NULL. */
	void (*attempt_done)(void *arg, const char *name, enum sf_acme_cert_kind kind, bool ok);
	void *attempt_done_arg;
};

struct sf_acme_manager;

/* Copies the configuration. NULL + err when nothing usable remains (no valid host name, no
 * challenge type). */
struct sf_acme_manager *sf_acme_manager_new(const struct sf_acme_manager_config *cfg, char *err,
					    size_t errlen);
/* Loads the cached certificates of every allowed name (both key types; no network), publishes
 * them, starts their renewal timers and the worker thread. 0 or -1 + err. */
int sf_acme_manager_start(struct sf_acme_manager *m, char *err, size_t errlen);
/* Asks the worker to re-read the cache (SIGHUP): a cached certificate that differs from the one
 * in service (renewed by another process, restored from a backup) replaces it and is published.
 * Returns at once; the files are read on the worker thread, between ACME jobs. */
void sf_acme_manager_reload(struct sf_acme_manager *m);
/* Stops the worker (an ACME request in flight is aborted) and frees everything. */
void sf_acme_manager_free(struct sf_acme_manager *m);

/* The allowed names after normalisation (lowercase, no trailing dot), for logging. */
size_t sf_acme_manager_hosts(const struct sf_acme_manager *m, const char *const **hosts);
bool sf_acme_manager_host_allowed(const struct sf_acme_manager *m, const char *name);

/* For a ClientHello with this SNI: never blocks. READY: *out is a new reference (free it with
 * sf_acme_cert_free). PENDING starts an issuance if none is running or remembered as failed.
 * err (may be NULL) gets autocert's texts, e.g. "acme/autocert: missing server name". */
enum sf_acme_status sf_acme_manager_lookup(struct sf_acme_manager *m, const char *server_name,
					   bool want_rsa, struct sf_acme_cert **out, char *err,
					   size_t errlen);
/* lookup, then waits up to timeout_ms while PENDING. For threads that may block. */
enum sf_acme_status sf_acme_manager_wait(struct sf_acme_manager *m, const char *server_name,
					 bool want_rsa, uint64_t timeout_ms, struct sf_acme_cert **out,
					 char *err, size_t errlen);

/* tls-alpn-01: the challenge cert for name (memory, then the cache's "<name>+token"), or NULL.
 * A new reference. */
struct sf_acme_cert *sf_acme_manager_tlsalpn01_cert(struct sf_acme_manager *m, const char *name);

/* HTTP-01 (docs/acme.md "Behaviour") for GET /.well-known/acme-challenge/<token> with this Host
 * header (a ":port" is ignored): returns 403 when the host is not allowed, 404 when the token
 * is unknown, 200 with the key authorization in out (no newline). */
int sf_acme_manager_http01(struct sf_acme_manager *m, const char *host, const char *token, char *out,
			   size_t cap);



#endif
