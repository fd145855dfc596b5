/* The ACME worker thread: first issuances queued by lookups, renewals when their timer is due,
 * one at a time. The manager's lock is never held across I/O. */
#include "acme/manager_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "acme/cache.h"
#include "lib/clock.h"
#include "lib/log.h"

#define WORKER_IDLE_MS (3600ull * 1000) /* nothing due: look again anyway */

uint64_t sf_acme_random_below(uint64_t n)
{
	uint64_t r = 0;
	if (n == 0)
		return 0;
	if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
		r = (uint64_t)sf_clock_ms() * 2654435761u;
	return r % n;
}

uint64_t sf_acme_manager_renew_delay_ms(const struct sf_acme_manager *m, time_t not_after)
{
	int64_t left_ms = ((int64_t)not_after - (int64_t)time(NULL)) * 1000;
	int64_t d = left_ms - (int64_t)m->cfg.renew_before_ms -
		    (int64_t)sf_acme_random_below(m->cfg.renew_jitter_ms);
	return d > 0 ? (uint64_t)d : 0;
}

/* Waits on the worker's condition until ms passed or stop; the lock is held by the caller. */
static void timed_wait_locked(struct sf_acme_manager *m, uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&m->wake, &m->lock, &ts);
}

/* The client's sleep hook: polls and backoffs end early on stop. */
static int worker_sleep(void *arg, unsigned ms)
{
	struct sf_acme_manager *m = arg;
	uint64_t until = sf_clock_ms() + ms;
	pthread_mutex_lock(&m->lock);
	while (!atomic_load(&m->stop) && sf_clock_ms() < until)
		timed_wait_locked(m, until - sf_clock_ms());
	pthread_mutex_unlock(&m->lock);
	return atomic_load(&m->stop) ? -1 : 0;
}

static bool worker_cancelled(void *arg)
{
	struct sf_acme_manager *m = arg;
	return atomic_load(&m->stop);
}

/* autocert's accountKey + acmeClient: the cached key, else a new one written to the cache. */
static int ensure_client(struct sf_acme_manager *m, char *err, size_t errlen)
{
	if (m->client)
		return 0;
	if (!m->account_key) {
		int rc = m->cache_dir ? sf_acme_cache_read_account_key(m->cache_dir, &m->account_key, err, errlen)
				      : SF_ACME_CACHE_MISS;
		if (rc == -1)
			return -1;
		if (rc == SF_ACME_CACHE_MISS) {
			EVP_PKEY *key = EVP_EC_gen("P-256");
			if (!key) {
				snprintf(err, errlen, "acme: cannot generate the account key");
				return -1;
			}
			if (m->cache_dir && sf_acme_cache_write_account_key(m->cache_dir, key, err, errlen)) {
				EVP_PKEY_free(key);
				return -1;
			}
			m->account_key = key;
		}
	}
	struct sf_acme_client_config cc = m->cfg.client;
	cc.sleep_ms = worker_sleep;
	cc.cancelled = worker_cancelled;
	cc.hook_arg = m;
	m->client = sf_acme_client_new(&cc, m->account_key, err, errlen);
	return m->client ? 0 : -1;
}

struct job {
	struct entry *entry; /* only name and kind are read without the lock */
	bool renewal;
	EVP_PKEY *key;       /* renewal: the key in service (a reference) */
	/* result */
	struct sf_acme_cert *cert;
	bool adopted;        /* taken from the cache, not issued */
	long retry_after_s;
	char error[1400];
};

/* A certificate another instance (or an earlier run) left in the cache. */
static struct sf_acme_cert *from_cache(struct sf_acme_manager *m, struct job *j)
{
	if (!m->cache_dir)
		return NULL;
	struct sf_acme_cert *c = NULL;
	char why[300];
	int rc = sf_acme_cache_read_cert(m->cache_dir, j->entry->name, j->entry->kind, time(NULL), &c, why,
					 sizeof why);
	if (rc == -1)
		sf_logf("acme: reading the cached %s certificate of %s: %s", sf_acme_cert_kind_text(j->entry->kind),
			j->entry->name, why);
	if (rc || !j->renewal)
		return c;
	/* renewal: adopt only what is far from its own renewal, as autocert's domainRenewal.do */
	if (sf_acme_manager_renew_delay_ms(m, c->not_after) > m->cfg.renew_before_ms + m->cfg.renew_jitter_ms)
		return c;
	sf_acme_cert_free(c);
	return NULL;
}

static void run_job(struct sf_acme_manager *m, struct job *j)
{
	const char *name = j->entry->name;
	enum sf_acme_cert_kind kind = j->entry->kind;
	j->retry_after_s = -1;
	if ((j->cert = from_cache(m, j))) {
		j->adopted = true;
		return;
	}
	if (ensure_client(m, j->error, sizeof j->error))
		return;
	EVP_PKEY *key = j->key;
	if (!key && !(key = sf_acme_cert_key_new(kind))) {
		snprintf(j->error, sizeof j->error, "acme: cannot generate a %s key", sf_acme_cert_kind_text(kind));
		return;
	}
	STACK_OF(X509) *chain = NULL;
	struct sf_acme_challenge_ops ops = sf_acme_manager_challenge_ops;
	ops.arg = m;
	if (sf_acme_client_issue(m->client, name, key, &ops, &chain)) {
		const struct sf_acme_error *e = sf_acme_client_error(m->client);
		snprintf(j->error, sizeof j->error, "%s", e->message);
		j->retry_after_s = e->retry_after_s;
		goto out;
	}
	if (EVP_PKEY_up_ref(key) && !(j->cert = sf_acme_cert_new(key, chain)))
		EVP_PKEY_free(key);
	if (!j->cert) {
		sk_X509_pop_free(chain, X509_free);
		snprintf(j->error, sizeof j->error, "acme: unusable certificate for %s", name);
		goto out;
	}
	char why[300];
	if (sf_acme_cert_check(j->cert, name, kind, time(NULL), why, sizeof why)) {
		snprintf(j->error, sizeof j->error, "acme: the CA's certificate for %s is not usable: %s", name, why);
		sf_acme_cert_free(j->cert);
		j->cert = NULL;
		goto out;
	}
	if (m->cache_dir && sf_acme_cache_write_cert(m->cache_dir, name, kind, j->cert, why, sizeof why))
		sf_logf("acme: caching the certificate of %s: %s", name, why);
out:
	if (key != j->key)
		EVP_PKEY_free(key);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Applies a finished job; called with the lock held. */
static void finish_job(struct sf_acme_manager *m, struct job *j)
{
	struct entry *e = j->entry;
	uint64_t now = sf_clock_ms();
	uint64_t ra_ms = j->retry_after_s > 0 ? (uint64_t)j->retry_after_s * 1000 : 0;
	e->busy = false;
	if (j->cert) {
		sf_acme_cert_free(e->cert);
		e->cert = sf_acme_cert_dup(j->cert);
		e->fail_until_ms = 0;
		e->error[0] = '\0';
		e->renew_at_ms = now + sf_acme_manager_renew_delay_ms(m, j->cert->not_after);
	} else if (j->renewal && e->cert) {
		uint64_t backoff = m->cfg.retry_base_ms + sf_acme_random_below(m->cfg.retry_jitter_ms);
		e->renew_at_ms = now + max_u64(backoff, ra_ms);
	} else {
		snprintf(e->error, sizeof e->error, "%s", j->error);
		e->fail_until_ms = now + max_u64(m->cfg.failure_memory_ms, ra_ms);
	}
	pthread_cond_broadcast(&m->done);
}

static void log_job(const struct job *j)
{
	const struct entry *e = j->entry;
	char until[32] = "?";
	if (j->cert) {
		struct tm tm;
		time_t na = j->cert->not_after;
		if (gmtime_r(&na, &tm))
			strftime(until, sizeof until, "%Y-%m-%d %H:%M:%S UTC", &tm);
	}
	if (j->cert && j->adopted)
		sf_logf("acme: using the cached %s certificate of %s (valid until %s)", sf_acme_cert_kind_text(e->kind),
			e->name, until);
	else if (j->cert)
		sf_logf("acme: %s the %s certificate of %s (valid until %s)", j->renewal ? "renewed" : "obtained",
			sf_acme_cert_kind_text(e->kind), e->name, until);
	else if (j->renewal)
		sf_logf("acme: renewing the %s certificate of %s failed, keeping the current one: %s",
			sf_acme_cert_kind_text(e->kind), e->name, j->error);
	else
		sf_logf("acme: obtaining a %s certificate for %s failed: %s", sf_acme_cert_kind_text(e->kind), e->name, j->error);
}

/* The next job, with the lock held: queued lookups first, then due renewals. NULL: none. */
static struct entry *next_job(struct sf_acme_manager *m, bool *renewal, uint64_t *sleep_ms)
{
	if (m->q_len) {
		struct entry *e = &m->entries[m->queue[m->q_head]];
		m->q_head = (m->q_head + 1) % m->n_entries;
		m->q_len--;
		e->queued = false;
		*renewal = false;
		return e;
	}
	uint64_t now = sf_clock_ms(), next = now + WORKER_IDLE_MS;
	for (size_t i = 0; i < m->n_entries; i++) {
		struct entry *e = &m->entries[i];
		if (!e->renew_at_ms || !e->cert)
			continue;
		if (e->renew_at_ms <= now) {
			e->renew_at_ms = 0;
			*renewal = true;
			return e;
		}
		if (e->renew_at_ms < next)
			next = e->renew_at_ms;
	}
	*sleep_ms = next - now;
	return NULL;
}

void *sf_acme_manager_worker(void *arg)
{
	struct sf_acme_manager *m = arg;
	pthread_mutex_lock(&m->lock);
	while (!atomic_load(&m->stop)) {
		if (atomic_exchange(&m->reload, false)) {
			pthread_mutex_unlock(&m->lock);
			unsigned n = sf_acme_manager_reload_cache(m);
			sf_logf("acme: certificate cache re-read: %u certificate%s replaced", n,
				n == 1 ? "" : "s");
			pthread_mutex_lock(&m->lock);
			continue;
		}
		struct job j = { 0 };
		uint64_t sleep_ms = 0;
		j.entry = next_job(m, &j.renewal, &sleep_ms);
		if (!j.entry) {
			timed_wait_locked(m, sleep_ms);
			continue;
		}
		j.entry->busy = true;
		if (j.renewal && j.entry->cert && EVP_PKEY_up_ref(j.entry->cert->key))
			j.key = j.entry->cert->key;
		pthread_mutex_unlock(&m->lock);

		run_job(m, &j);
		pthread_mutex_lock(&m->lock);
		finish_job(m, &j);
		pthread_mutex_unlock(&m->lock);
		/* told after the tables changed, so that whoever reacts finds the new state */
		if (!atomic_load(&m->stop)) {
			log_job(&j);
			if (j.cert && m->cfg.publish)
				m->cfg.publish(m->cfg.publish_arg, j.entry->name, j.entry->kind, j.cert);
			if (m->cfg.attempt_done)
				m->cfg.attempt_done(m->cfg.attempt_done_arg, j.entry->name, j.entry->kind,
						    j.cert != NULL);
		}
		sf_acme_cert_free(j.cert);
		EVP_PKEY_free(j.key);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}
