/* TLS mode's certificates: the ACME manager (src/acme) joined to the TLS context (src/tls).
 * Handshakes look certificates up in a table the manager fills (never blocking); a name with no
 * certificate yet starts an issuance on the manager's worker and suspends the handshake until
 * the attempt ends. */
#ifndef SF_SERVER_CERTS_H
#define SF_SERVER_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/expo.h"
#include "server/http01.h"

struct sf_certs;
struct sf_tls_ctx;

struct sf_certs_config {
	const char *const *hostnames;	/* --acme-hostnames, split on ',' */
	size_t n_hostnames;
	const char *email;		/* --acme-email, may be "" */
	const char *directory_url;	/* --acme-directory */
	const char *ca_file;		/* --acme-ca-file, may be NULL */
	const char *cache_dir;		/* NULL: no cache */
	uint64_t renew_before_ms;	/* --acme-renew-before */
	bool http01;			/* an HTTP-01 listener is up */
};

/* Starts the manager (loads the cache, no network) and builds the TLS context. NULL + err. */
struct sf_certs *sf_certs_new(const struct sf_certs_config *cfg, char *err, size_t errlen);
struct sf_tls_ctx *sf_certs_tls(struct sf_certs *certs);
/* Hooks for the port-80 listener (sf_http01_new). */
void sf_certs_http01_hooks(struct sf_certs *certs, struct sf_http01_hooks *hooks);
/* SIGHUP: the cache is re-read (off this thread); a certificate someone else put there replaces
 * the one in service, and new handshakes get it. */
void sf_certs_reload(struct sf_certs *certs);
void sf_certs_free(struct sf_certs *certs);
/* The ACME part of a metrics snapshot (s->acme, attempts, certificates copied into out[cap]). */
void sf_certs_metrics_snapshot(struct sf_certs *certs, struct sf_metrics_snapshot *s,
			       struct sf_metrics_cert_snap *out, size_t cap);

#endif
