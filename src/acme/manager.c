#include "acme/manager_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/cache.h"
#include "lib/clock.h"
#include "lib/hostname.h"
#include "lib/log.h"

static int copy_config(struct sf_acme_manager *m, const struct sf_acme_manager_config *cfg, char *err,
		       size_t errlen)
{
	m->cfg = *cfg;
	m->cfg.hostnames = NULL;
	m->cfg.n_hostnames = 0;
	m->cache_dir = cfg->cache_dir && *cfg->cache_dir ? strdup(cfg->cache_dir) : NULL;
	m->cfg.cache_dir = m->cache_dir;
	if (cfg->cache_dir && *cfg->cache_dir && !m->cache_dir)
		goto oom;
	struct sf_acme_manager_config *c = &m->cfg;
	c->renew_before_ms = c->renew_before_ms ? c->renew_before_ms : SF_ACME_RENEW_BEFORE_MS;
	c->renew_jitter_ms = c->renew_jitter_ms == UINT64_MAX ? 0
			     : c->renew_jitter_ms ? c->renew_jitter_ms : SF_ACME_RENEW_JITTER_MS;
	c->failure_memory_ms = c->failure_memory_ms ? c->failure_memory_ms : SF_ACME_FAILURE_MEMORY_MS;
	c->retry_base_ms = c->retry_base_ms ? c->retry_base_ms : SF_ACME_RETRY_BASE_MS;
	c->retry_jitter_ms = c->retry_jitter_ms == UINT64_MAX ? 0
			     : c->retry_jitter_ms ? c->retry_jitter_ms : SF_ACME_RETRY_JITTER_MS;
	/* The client is created later, on the worker: keep the type list in m, as literals. */
	size_t n = 0;
	if (c->client.challenge_types) {
		for (size_t i = 0; c->client.challenge_types[i] && n < 2; i++) {
			const char *t = c->client.challenge_types[i];
			if (strcmp(t, "http-01") && strcmp(t, "tls-alpn-01")) {
				snprintf(err, errlen, "acme: unsupported challenge type %s", t);
				return -1;
			}
			m->types[n++] = strcmp(t, "http-01") ? "tls-alpn-01" : "http-01";
		}
	} else {
		if (c->tlsalpn01_cert)
			m->types[n++] = "tls-alpn-01";
		if (c->http01)
			m->types[n++] = "http-01";
	}
	m->types[n] = NULL;
	if (n == 0) {
		snprintf(err, errlen, "acme: neither HTTP-01 nor TLS-ALPN-01 can be answered");
		return -1;
	}
	c->client.challenge_types = m->types;
	/* the worker creates the client later: the caller's strings must not be needed by then */
	struct sf_acme_client_config *cc = &c->client;
	char **copies[] = { &m->directory_url, &m->ca_file, &m->email, &m->user_agent };
	const char **fields[] = { &cc->directory_url, &cc->ca_file, &cc->email, &cc->user_agent };
	for (size_t i = 0; i < 4; i++) {
		if (!*fields[i])
			continue;
		if (!(*copies[i] = strdup(*fields[i])))
			goto oom;
		*fields[i] = *copies[i];
	}
	return 0;
oom:
	snprintf(err, errlen, "acme: out of memory");
	return -1;
}

static bool host_listed(const struct sf_acme_manager *m, const char *name, size_t *index)
{
	for (size_t i = 0; i < m->n_hosts; i++)
		if (strcmp(m->hosts[i], name) == 0) {
			if (index)
				*index = i;
			return true;
		}
	return false;
}

struct sf_acme_manager *sf_acme_manager_new(const struct sf_acme_manager_config *cfg, char *err,
					    size_t errlen)
{
	struct sf_acme_manager *m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(err, errlen, "acme: out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->wake, &ca);
	pthread_cond_init(&m->done, &ca);
	pthread_condattr_destroy(&ca);
	if (copy_config(m, cfg, err, errlen))
		goto fail;
	for (size_t i = 0; i < cfg->n_hostnames && m->n_hosts < SF_ACME_MAX_HOSTS; i++) {
		char name[MANAGER_NAME_MAX];
		if (sf_hostname_normalize(cfg->hostnames[i], name, sizeof name, false, NULL, 0) ||
		    host_listed(m, name, NULL))
			continue; /* HostWhitelist drops what idna rejects */
		if (!(m->hosts[m->n_hosts] = strdup(name)))
			goto oom;
		m->n_hosts++;
	}
	if (m->n_hosts == 0) {
		snprintf(err, errlen, "acme: no valid host name in the ACME host list");
		goto fail;
	}
	m->n_entries = 2 * m->n_hosts;
	m->entries = calloc(m->n_entries, sizeof *m->entries);
	m->queue = calloc(m->n_entries, sizeof *m->queue);
	if (!m->entries || !m->queue)
		goto oom;
	for (size_t i = 0; i < m->n_entries; i++) {
		snprintf(m->entries[i].name, sizeof m->entries[i].name, "%s", m->hosts[i / 2]);
		m->entries[i].kind = i % 2 ? SF_ACME_CERT_RSA : SF_ACME_CERT_EC;
	}
	return m;
oom:
	snprintf(err, errlen, "acme: out of memory");
fail:
	sf_acme_manager_free(m);
	return NULL;
}

/* The cached certificates: at start every one found goes into service; on a reload only one
 * whose leaf differs from the one in service (renewed or restored by someone else). */
static unsigned load_cache(struct sf_acme_manager *m, bool reload)
{
	time_t now = time(NULL);
	unsigned replaced = 0;
	for (size_t i = 0; m->cache_dir && i < m->n_entries; i++) {
		struct entry *e = &m->entries[i];
		struct sf_acme_cert *c = NULL;
		char why[300];
		int rc = sf_acme_cache_read_cert(m->cache_dir, e->name, e->kind, now, &c, why, sizeof why);
		if (rc == -1)
			sf_logf("acme: reading the cached %s certificate of %s: %s", sf_acme_cert_kind_text(e->kind), e->name, why);
		if (rc)
			continue;
		pthread_mutex_lock(&m->lock);
		if (e->cert && X509_cmp(sf_acme_cert_leaf(e->cert), sf_acme_cert_leaf(c)) == 0) {
			pthread_mutex_unlock(&m->lock);
			sf_acme_cert_free(c); /* the one in service */
			continue;
		}
		struct sf_acme_cert *old = e->cert;
		e->cert = c;
		e->renew_at_ms = sf_clock_ms() + sf_acme_manager_renew_delay_ms(m, c->not_after);
		e->fail_until_ms = 0;
		pthread_cond_broadcast(&m->done);
		pthread_mutex_unlock(&m->lock);
		sf_logf("acme: %s the cached %s certificate of %s", reload ? "now serving" : "using",
			sf_acme_cert_kind_text(e->kind), e->name);
		if (m->cfg.publish)
			m->cfg.publish(m->cfg.publish_arg, e->name, e->kind, c);
		sf_acme_cert_free(old);
		replaced++;
	}
	return replaced;
}

unsigned sf_acme_manager_reload_cache(struct sf_acme_manager *m)
{
	return load_cache(m, true);
}

void sf_acme_manager_reload(struct sf_acme_manager *m)
{
	pthread_mutex_lock(&m->lock);
	atomic_store(&m->reload, true);
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
}

int sf_acme_manager_start(struct sf_acme_manager *m, char *err, size_t errlen)
{
	load_cache(m, false);
	if (pthread_create(&m->worker, NULL, sf_acme_manager_worker, m)) {
		snprintf(err, errlen, "acme: cannot start the worker thread");
		return -1;
	}
	m->started = true;
	return 0;
}

void sf_acme_manager_free(struct sf_acme_manager *m)
{
	if (!m)
		return;
	if (m->started) {
		pthread_mutex_lock(&m->lock);
		atomic_store(&m->stop, true);
		pthread_cond_broadcast(&m->wake);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->worker, NULL);
	}
	sf_acme_client_free(m->client);
	EVP_PKEY_free(m->account_key);
	sf_acme_manager_challenges_clear(m);
	for (size_t i = 0; m->entries && i < m->n_entries; i++)
		sf_acme_cert_free(m->entries[i].cert);
	for (size_t i = 0; i < m->n_hosts; i++)
		free(m->hosts[i]);
	free(m->entries);
	free(m->queue);
	free(m->cache_dir);
	free(m->directory_url);
	free(m->ca_file);
	free(m->email);
	free(m->user_agent);
	pthread_cond_destroy(&m->wake);
	pthread_cond_destroy(&m->done);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

size_t sf_acme_manager_hosts(const struct sf_acme_manager *m, const char *const **hosts)
{
	*hosts = (const char *const *)m->hosts;
	return m->n_hosts;
}

bool sf_acme_manager_host_allowed(const struct sf_acme_manager *m, const char *name)
{
	char n[MANAGER_NAME_MAX];
	return sf_hostname_normalize(name, n, sizeof n, false, NULL, 0) == 0 &&
	       host_listed(m, n, NULL);
}

static void __attribute__((format(printf, 3, 4))) set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* SNI → entry, with GetCertificate's checks and texts; NULL = refused. */
static struct entry *find_entry(struct sf_acme_manager *m, const char *server_name, bool want_rsa,
				char *err, size_t errlen)
{
	if (!server_name || !*server_name) {
		set_err(err, errlen, "acme/autocert: missing server name");
		return NULL;
	}
	size_t len = strlen(server_name), b = 0;
	while (b < len && server_name[b] == '.')
		b++;
	while (len > b && server_name[len - 1] == '.')
		len--;
	if (!memchr(server_name + b, '.', len - b)) {
		set_err(err, errlen, "acme/autocert: server name component count invalid");
		return NULL;
	}
	char name[MANAGER_NAME_MAX];
	if (sf_hostname_normalize(server_name, name, sizeof name, false, NULL, 0)) {
		set_err(err, errlen, "acme/autocert: server name contains invalid character");
		return NULL;
	}
	size_t i;
	if (!host_listed(m, name, &i)) {
		set_err(err, errlen, "acme/autocert: host \"%s\" not configured in HostWhitelist", name);
		return NULL;
	}
	return &m->entries[2 * i + (want_rsa ? 1 : 0)];
}

static void queue_push(struct sf_acme_manager *m, struct entry *e)
{
	if (e->queued || e->busy || m->q_len == m->n_entries)
		return;
	m->queue[(m->q_head + m->q_len++) % m->n_entries] = (size_t)(e - m->entries);
	e->queued = true;
	pthread_cond_signal(&m->wake);
}

/* Called with the lock held. */
static enum sf_acme_status entry_status(struct sf_acme_manager *m, struct entry *e, bool start,
					struct sf_acme_cert **out, char *err, size_t errlen)
{
	if (e->cert) {
		*out = sf_acme_cert_dup(e->cert);
		if (*out)
			return SF_ACME_READY;
		set_err(err, errlen, "acme: out of memory");
		return SF_ACME_FAILED;
	}
	if (e->fail_until_ms && sf_clock_ms() < e->fail_until_ms && !e->queued && !e->busy) {
		set_err(err, errlen, "%s", e->error);
		return SF_ACME_FAILED;
	}
	if (start && !e->queued && !e->busy) {
		e->fail_until_ms = 0;
		queue_push(m, e);
	}
	set_err(err, errlen, "acme: certificate for %s is being obtained", e->name);
	return SF_ACME_PENDING;
}

enum sf_acme_status sf_acme_manager_lookup(struct sf_acme_manager *m, const char *server_name,
					   bool want_rsa, struct sf_acme_cert **out, char *err,
					   size_t errlen)
{
	*out = NULL;
	struct entry *e = find_entry(m, server_name, want_rsa, err, errlen);
	if (!e)
		return SF_ACME_REFUSED;
	pthread_mutex_lock(&m->lock);
	enum sf_acme_status st = entry_status(m, e, true, out, err, errlen);
	pthread_mutex_unlock(&m->lock);
	return st;
}

enum sf_acme_status sf_acme_manager_wait(struct sf_acme_manager *m, const char *server_name,
					 bool want_rsa, uint64_t timeout_ms, struct sf_acme_cert **out,
					 char *err, size_t errlen)
{
	*out = NULL;
	struct entry *e = find_entry(m, server_name, want_rsa, err, errlen);
	if (!e)
		return SF_ACME_REFUSED;
	uint64_t deadline = sf_clock_ms() + timeout_ms;
	pthread_mutex_lock(&m->lock);
	enum sf_acme_status st = entry_status(m, e, true, out, err, errlen);
	while (st == SF_ACME_PENDING && sf_clock_ms() < deadline && !atomic_load(&m->stop)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t left = deadline - sf_clock_ms();
		if (left > 1000)
			left = 1000; /* re-check now and then, whatever wakes us */
		ts.tv_sec += (time_t)(left / 1000);
		ts.tv_nsec += (long)(left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&m->done, &m->lock, &ts);
		/* do not start another attempt: report the failure of this one */
		st = entry_status(m, e, false, out, err, errlen);
	}
	pthread_mutex_unlock(&m->lock);
	return st;
}
