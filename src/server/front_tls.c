/* TLS handshake failures by reason, for the metrics: the TLS layer's error texts (tls.h,
 * sf_tls_done_fn) sorted into a few fixed labels, so that no text a client chose (an SNI name)
 * ever becomes a label value. */
#include "server/server_int.h"

#include <string.h>

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void sf_front_count_tls_failure(struct sf_front_metrics *m, const char *error)
{
	enum sf_metrics_tls_reason r;
	if (strcmp(error, "tls: acme-tls/1 challenge answered") == 0)
		return; /* a TLS-ALPN-01 validation that got its certificate: no failure */
	if (strcmp(error, "handshake timeout") == 0)
		r = SF_METRICS_TLS_TIMEOUT;
	else if (strcmp(error, "EOF") == 0)
		r = SF_METRICS_TLS_EOF;
	else if (starts(error, "read: ") || starts(error, "write: "))
		r = SF_METRICS_TLS_IO;
	else if (starts(error, "client sent an HTTP request"))
		r = SF_METRICS_TLS_HTTP;
	else if (starts(error, "tls: no certificate") || starts(error, "tls: no challenge certificate") ||
		 starts(error, "tls: cannot use the certificate") ||
		 starts(error, "tls: missing server name") || starts(error, "tls: host \"") ||
		 starts(error, "tls: too many handshakes waiting"))
		r = SF_METRICS_TLS_CERTIFICATE;
	else
		r = SF_METRICS_TLS_PROTOCOL;
	m->tls_failures[r]++;
}
