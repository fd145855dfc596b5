/* TLS mode's certificates (public part: include/snowflake/certs.h): the ACME manager (src/acme)
 * joined to the TLS context (src/tls). Handshakes look certificates up in a table the manager
 * fills (never blocking); a name with no certificate yet starts an issuance on the manager's
 * worker and suspends the handshake until the attempt ends. */
#ifndef SF_CERTS_CERTS_H
#define SF_CERTS_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certs/http01.h"
#include "metrics/expo.h"
#include "snowflake/certs.h"

/* Hooks for the port-80 listener (sf_http01_new). */
void sf_certs_http01_hooks(struct sf_certs *certs, struct sf_http01_hooks *hooks);
/* The ACME part of a metrics snapshot (s->acme, attempts, certificates copied into out[cap]). */
void sf_certs_metrics_snapshot(struct sf_certs *certs, struct sf_metrics_snapshot *s,
			       struct sf_metrics_cert_snap *out, size_t cap);

#endif
