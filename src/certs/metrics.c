/* ACME state for the metrics (certs_metrics.h). */
#include "certs/metrics.h"

#include <stdio.h>
#include <string.h>

void sf_certs_metrics_init(struct sf_certs_metrics *m)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->lock, NULL);
}

void sf_certs_metrics_destroy(struct sf_certs_metrics *m)
{
	pthread_mutex_destroy(&m->lock);
}

/* The entry of (name, rsa), made if new; NULL when the table is full. Under the lock. */
static struct sf_metrics_cert_snap *entry(struct sf_certs_metrics *m, const char *name, bool rsa)
{
	const char *type = rsa ? "rsa" : "ecdsa";
	for (size_t i = 0; i < m->ncerts; i++)
		if (m->certs[i].key_type == type && strcmp(m->certs[i].hostname, name) == 0)
			return &m->certs[i];
	if (m->ncerts == SF_CERTS_METRICS_MAX)
		return NULL;
	struct sf_metrics_cert_snap *e = &m->certs[m->ncerts++];
	memset(e, 0, sizeof *e);
	snprintf(e->hostname, sizeof e->hostname, "%s", name);
	e->key_type = type;
	return e;
}

void sf_certs_metrics_cert(struct sf_certs_metrics *m, const char *name, bool rsa, time_t not_after)
{
	pthread_mutex_lock(&m->lock);
	struct sf_metrics_cert_snap *e = entry(m, name, rsa);
	if (e) {
		e->has_cert = true;
		e->not_after = (int64_t)not_after;
	}
	pthread_mutex_unlock(&m->lock);
}

void sf_certs_metrics_attempt(struct sf_certs_metrics *m, const char *name, bool rsa, bool ok)
{
	pthread_mutex_lock(&m->lock);
	if (ok)
		m->attempts_ok++;
	else
		m->attempts_failed++;
	struct sf_metrics_cert_snap *e = entry(m, name, rsa);
	if (e) {
		e->attempted = true;
		e->last_ok = ok;
	}
	pthread_mutex_unlock(&m->lock);
}

void sf_certs_metrics_read(struct sf_certs_metrics *m, struct sf_metrics_snapshot *s,
			   struct sf_metrics_cert_snap *out, size_t cap)
{
	pthread_mutex_lock(&m->lock);
	s->acme = true;
	s->acme_attempts_ok = m->attempts_ok;
	s->acme_attempts_failed = m->attempts_failed;
	s->ncerts = m->ncerts < cap ? m->ncerts : cap;
	memcpy(out, m->certs, s->ncerts * sizeof *out);
	s->certs = out;
	pthread_mutex_unlock(&m->lock);
}
