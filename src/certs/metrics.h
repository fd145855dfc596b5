/* What the metrics say about ACME (docs/metrics.md): per certificate (allowed host name and key
 * type) its expiry and whether the last attempt succeeded, and attempts by result. Written by the
 * ACME worker (and at start-up), read by the scrape on the main thread: a mutex, never taken on
 * the data path. */
#ifndef SF_CERTS_METRICS_H
#define SF_CERTS_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "acme/manager.h"
#include "metrics/expo.h"

#define SF_CERTS_METRICS_MAX (2 * SF_ACME_MAX_HOSTS)

struct sf_certs_metrics {
	pthread_mutex_t lock;
	struct sf_metrics_cert_snap certs[SF_CERTS_METRICS_MAX];
	size_t ncerts;
	uint64_t attempts_ok, attempts_failed;
};

void sf_certs_metrics_init(struct sf_certs_metrics *m);
void sf_certs_metrics_destroy(struct sf_certs_metrics *m);
/* A certificate for (name, rsa) is in service now. */
void sf_certs_metrics_cert(struct sf_certs_metrics *m, const char *name, bool rsa, time_t not_after);
/* An ACME attempt for (name, rsa) ended. */
void sf_certs_metrics_attempt(struct sf_certs_metrics *m, const char *name, bool rsa, bool ok);
/* Copies the state into s (acme, attempts) and out (at most cap certificates, s->certs = out). */
void sf_certs_metrics_read(struct sf_certs_metrics *m, struct sf_metrics_snapshot *s,
			   struct sf_metrics_cert_snap *out, size_t cap);

#endif
