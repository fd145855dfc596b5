#include "certs/certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/manager.h"
#include "lib/log.h"
#include "certs/metrics.h"
#include "tls/cert.h"
#include "tls/tls.h"

#define TABLE_CAP (2 * SF_ACME_MAX_HOSTS + 8)

struct sf_certs {
	struct sf_acme_manager *acme;
	struct sf_tls_ctx *tls;
	struct sf_tls_table *table;	/* "<name>" and "<name>+rsa", as the manager publishes them */
	struct sf_certs_metrics metrics;
};

static struct sf_tls_cert *tls_cert_of(const struct sf_acme_cert *ac)
{
	STACK_OF(X509) *rest = sk_X509_dup(ac->chain);
	if (!rest)
		return NULL;
	(void)sk_X509_shift(rest); /* the leaf */
	struct sf_tls_cert *c = sf_tls_cert_new(ac->key, sf_acme_cert_leaf(ac), rest);
	sk_X509_free(rest);
	return c;
}

static void table_key(char *out, size_t cap, const char *name, bool rsa)
{
	snprintf(out, cap, "%s%s", name, rsa ? "+rsa" : "");
}

/* Manager → table: a new or renewed certificate (worker thread, or start-up for the cache). */
static void on_publish(void *arg, const char *name, enum sf_acme_cert_kind kind,
		       const struct sf_acme_cert *ac)
{
	struct sf_certs *certs = arg;
	if (kind == SF_ACME_CERT_TOKEN)
		return;
	sf_certs_metrics_cert(&certs->metrics, name, kind == SF_ACME_CERT_RSA, ac->not_after);
	struct sf_tls_cert *c = tls_cert_of(ac);
	if (!c)
		return;
	char key[300];
	table_key(key, sizeof key, name, kind == SF_ACME_CERT_RSA);
	sf_tls_table_put(certs->table, key, c);
	sf_tls_cert_unref(c);
}

/* An attempt ended, well or not: handshakes waiting on this name look again. */
static void on_attempt_done(void *arg, const char *name, enum sf_acme_cert_kind kind, bool ok)
{
	struct sf_certs *certs = arg;
	/* the worker has logged what the CA said */
	if (kind != SF_ACME_CERT_TOKEN)
		sf_certs_metrics_attempt(&certs->metrics, name, kind == SF_ACME_CERT_RSA, ok);
	if (certs->tls)
		sf_tls_resume(certs->tls, name);
}

/* A handshake needs a certificate: the table, else ask the manager (which may start issuing). */
static struct sf_tls_cert *lookup(void *store, const char *name, bool want_rsa, bool *pending)
{
	struct sf_certs *certs = store;
	char key[300];
	table_key(key, sizeof key, name, want_rsa);
	struct sf_tls_cert *c = sf_tls_table_get(certs->table, key);
	if (c)
		return c;
	struct sf_acme_cert *ac = NULL;
	char err[256];
	switch (sf_acme_manager_lookup(certs->acme, name, want_rsa, &ac, err, sizeof err)) {
	case SF_ACME_READY:
		c = tls_cert_of(ac);
		sf_acme_cert_free(ac);
		if (c)
			sf_tls_table_put(certs->table, key, c);
		return c;
	case SF_ACME_PENDING:
		*pending = true;
		return NULL;
	case SF_ACME_FAILED:
	case SF_ACME_REFUSED:
		break;
	}
	return NULL;
}

static struct sf_tls_cert *challenge(void *store, const char *name)
{
	struct sf_certs *certs = store;
	struct sf_acme_cert *ac = sf_acme_manager_tlsalpn01_cert(certs->acme, name);
	if (!ac)
		return NULL;
	struct sf_tls_cert *c = tls_cert_of(ac);
	sf_acme_cert_free(ac);
	return c;
}

static bool http01_host_allowed(void *arg, const char *host)
{
	struct sf_certs *certs = arg;
	return sf_acme_manager_host_allowed(certs->acme, host);
}

static bool http01_key_authorization(void *arg, const char *token, char *out, size_t outlen)
{
	struct sf_certs *certs = arg;
	/* host was checked already; the manager wants a Host, any allowed one does */
	const char *const *hosts;
	if (sf_acme_manager_hosts(certs->acme, &hosts) == 0)
		return false;
	return sf_acme_manager_http01(certs->acme, hosts[0], token, out, outlen) == 200;
}

void sf_certs_http01_hooks(struct sf_certs *certs, struct sf_http01_hooks *hooks)
{
	hooks->host_allowed = http01_host_allowed;
	hooks->key_authorization = http01_key_authorization;
	hooks->arg = certs;
}

static uint64_t renew_jitter(uint64_t renew_before_ms)
{
	uint64_t quarter = (renew_before_ms ? renew_before_ms : SF_ACME_RENEW_BEFORE_MS) / 4;
	if (quarter == 0)
		return UINT64_MAX; /* "none" for the manager */
	return quarter < SF_ACME_RENEW_JITTER_MS ? quarter : SF_ACME_RENEW_JITTER_MS;
}

struct sf_certs *sf_certs_new(const struct sf_certs_config *cfg, char *err, size_t errlen)
{
	struct sf_certs *certs = calloc(1, sizeof *certs);
	if (!certs || !(certs->table = sf_tls_table_new(TABLE_CAP))) {
		free(certs);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sf_certs_metrics_init(&certs->metrics);
	struct sf_acme_manager_config mc = {
		.cache_dir = cfg->cache_dir,
		.hostnames = cfg->hostnames,
		.n_hostnames = cfg->n_hostnames,
		.client = {
			.directory_url = cfg->directory_url,
			.ca_file = cfg->ca_file,
			.email = cfg->email,
		},
		.http01 = cfg->http01,
		.tlsalpn01_cert = sf_acme_tlsalpn01_cert,
		.renew_before_ms = cfg->renew_before_ms,
		/* autocert's 1 h of jitter, but never more than a quarter of a short renew-before
		 * (tests, or CAs issuing short-lived certificates). */
		.renew_jitter_ms = renew_jitter(cfg->renew_before_ms),
		.publish = on_publish,
		.publish_arg = certs,
		.attempt_done = on_attempt_done,
		.attempt_done_arg = certs,
	};
	certs->acme = sf_acme_manager_new(&mc, err, errlen);
	if (!certs->acme)
		goto fail;
	struct sf_tls_config tc = {
		.hostnames = cfg->hostnames,
		.n_hostnames = cfg->n_hostnames,
		.lookup = lookup,
		.challenge = challenge,
		.store = certs,
	};
	certs->tls = sf_tls_ctx_new(&tc, err, errlen);
	if (!certs->tls || sf_acme_manager_start(certs->acme, err, errlen) < 0)
		goto fail;
	return certs;
fail:
	sf_certs_free(certs);
	return NULL;
}

struct sf_tls_ctx *sf_certs_tls(struct sf_certs *certs)
{
	return certs->tls;
}

struct sf_http01 *sf_certs_http01_new(struct sf_certs *certs, struct event_base *base, int listen_fd)
{
	struct sf_http01_hooks hooks;
	sf_certs_http01_hooks(certs, &hooks);
	return sf_http01_new(base, listen_fd, &hooks);
}

void sf_certs_reload(struct sf_certs *certs)
{
	sf_acme_manager_reload(certs->acme);
}

void sf_certs_free(struct sf_certs *certs)
{
	if (!certs)
		return;
	/* The worker first: it may still publish or resume. */
	sf_acme_manager_free(certs->acme);
	sf_tls_ctx_free(certs->tls);
	sf_tls_table_free(certs->table);
	sf_certs_metrics_destroy(&certs->metrics);
	free(certs);
}

void sf_certs_metrics_snapshot(struct sf_certs *certs, struct sf_metrics_snapshot *s,
			       struct sf_metrics_cert_snap *out, size_t cap)
{
	sf_certs_metrics_read(&certs->metrics, s, out, cap);
}
