/* Challenge responses while an issuance runs: in memory for this process, and in the cache
 * (<token>+http-01, <domain>+token) as autocert keeps them, so that another instance sharing the
 * directory can answer too. */
#include "acme/manager_int.h"
#include "lib/hostname.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/cache.h"
#include "lib/log.h"

static bool is_http01(const struct sf_acme_challenge *ch)
{
	return strcmp(ch->type, "http-01") == 0;
}

static bool token_chars_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n >= sizeof ((struct http_token *)0)->token)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
		      (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_'))
			return false;
	return true;
}

static void http_token_key(const char *token, char *out, size_t cap)
{
	snprintf(out, cap, "%s+http-01", token);
}

static int publish_http01(struct sf_acme_manager *m, const struct sf_acme_challenge *ch, char *err,
			  size_t errlen)
{
	if (!token_chars_ok(ch->token)) {
		snprintf(err, errlen, "bad token");
		return -1;
	}
	char *ka = strdup(ch->key_authorization);
	struct http_token *slot = NULL;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; ka && i < MANAGER_MAX_CHALLENGES && !slot; i++)
		if (!m->tokens[i].key_authorization || strcmp(m->tokens[i].token, ch->token) == 0)
			slot = &m->tokens[i];
	if (slot) {
		free(slot->key_authorization);
		snprintf(slot->token, sizeof slot->token, "%s", ch->token);
		slot->key_authorization = ka;
	}
	pthread_mutex_unlock(&m->lock);
	if (!slot) {
		free(ka);
		snprintf(err, errlen, "no room for another HTTP-01 token");
		return -1;
	}
	char key[300], why[300];
	http_token_key(ch->token, key, sizeof key);
	if (m->cache_dir && sf_acme_cache_put(m->cache_dir, key, ch->key_authorization,
					      strlen(ch->key_authorization), why, sizeof why))
		sf_logf("acme: caching the HTTP-01 token: %s", why); /* autocert ignores it too */
	return 0;
}

static int publish_tlsalpn01(struct sf_acme_manager *m, const struct sf_acme_challenge *ch, char *err,
			     size_t errlen)
{
	struct sf_acme_cert *cert = NULL;
	if (!m->cfg.tlsalpn01_cert) {
		snprintf(err, errlen, "TLS-ALPN-01 is not enabled");
		return -1;
	}
	if (m->cfg.tlsalpn01_cert(m->cfg.tlsalpn01_arg, ch->name, ch->key_authorization, &cert, err, errlen))
		return -1;
	struct token_cert *slot = NULL;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < MANAGER_MAX_CHALLENGES && !slot; i++)
		if (!m->token_certs[i].cert || strcmp(m->token_certs[i].name, ch->name) == 0)
			slot = &m->token_certs[i];
	if (slot) {
		sf_acme_cert_free(slot->cert);
		snprintf(slot->name, sizeof slot->name, "%s", ch->name);
		slot->cert = cert;
	}
	pthread_mutex_unlock(&m->lock);
	if (!slot) {
		snprintf(err, errlen, "no room for another TLS-ALPN-01 certificate");
		sf_acme_cert_free(cert);
		return -1;
	}
	char why[300];
	if (m->cache_dir && sf_acme_cache_write_cert(m->cache_dir, ch->name, SF_ACME_CERT_TOKEN, cert, why, sizeof why))
		sf_logf("acme: caching the TLS-ALPN-01 certificate: %s", why);
	return 0;
}

static int publish(void *arg, const struct sf_acme_challenge *ch, char *err, size_t errlen)
{
	struct sf_acme_manager *m = arg;
	return is_http01(ch) ? publish_http01(m, ch, err, errlen) : publish_tlsalpn01(m, ch, err, errlen);
}

static void withdraw(void *arg, const struct sf_acme_challenge *ch)
{
	struct sf_acme_manager *m = arg;
	char key[SF_ACME_CACHE_KEY_MAX + 16], why[300];
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < MANAGER_MAX_CHALLENGES; i++) {
		if (is_http01(ch) && m->tokens[i].key_authorization && strcmp(m->tokens[i].token, ch->token) == 0) {
			free(m->tokens[i].key_authorization);
			memset(&m->tokens[i], 0, sizeof m->tokens[i]);
		}
		if (!is_http01(ch) && m->token_certs[i].cert && strcmp(m->token_certs[i].name, ch->name) == 0) {
			sf_acme_cert_free(m->token_certs[i].cert);
			memset(&m->token_certs[i], 0, sizeof m->token_certs[i]);
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (!m->cache_dir)
		return;
	if (is_http01(ch))
		http_token_key(ch->token, key, sizeof key);
	else if (!sf_acme_cache_key(ch->name, SF_ACME_CERT_TOKEN, key, sizeof key))
		return;
	sf_acme_cache_delete(m->cache_dir, key, why, sizeof why);
}

const struct sf_acme_challenge_ops sf_acme_manager_challenge_ops = { publish, withdraw, NULL };

void sf_acme_manager_challenges_clear(struct sf_acme_manager *m)
{
	for (size_t i = 0; i < MANAGER_MAX_CHALLENGES; i++) {
		free(m->tokens[i].key_authorization);
		sf_acme_cert_free(m->token_certs[i].cert);
	}
	memset(m->tokens, 0, sizeof m->tokens);
	memset(m->token_certs, 0, sizeof m->token_certs);
}

int sf_acme_manager_http01(struct sf_acme_manager *m, const char *host, const char *token, char *out,
			   size_t cap)
{
	char h[MANAGER_NAME_MAX + 8];
	snprintf(h, sizeof h, "%s", host ? host : "");
	char *colon = strrchr(h, ':');
	if (colon && h[0] != '[' && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
		*colon = '\0';
	if (!sf_acme_manager_host_allowed(m, h))
		return 403;
	if (!token || !token_chars_ok(token))
		return 404;
	bool found = false;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < MANAGER_MAX_CHALLENGES && !found; i++)
		if (m->tokens[i].key_authorization && strcmp(m->tokens[i].token, token) == 0) {
			snprintf(out, cap, "%s", m->tokens[i].key_authorization);
			found = true;
		}
	pthread_mutex_unlock(&m->lock);
	if (found)
		return 200;
	char key[300], why[300], *data = NULL;
	size_t len;
	http_token_key(token, key, sizeof key);
	if (!m->cache_dir || sf_acme_cache_get(m->cache_dir, key, &data, &len, why, sizeof why))
		return 404;
	snprintf(out, cap, "%s", data);
	free(data);
	return 200;
}

struct sf_acme_cert *sf_acme_manager_tlsalpn01_cert(struct sf_acme_manager *m, const char *server_name)
{
	char name[MANAGER_NAME_MAX];
	if (sf_hostname_normalize(server_name, name, sizeof name, false, NULL, 0))
		return NULL;
	struct sf_acme_cert *c = NULL;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < MANAGER_MAX_CHALLENGES && !c; i++)
		if (m->token_certs[i].cert && strcmp(m->token_certs[i].name, name) == 0)
			c = sf_acme_cert_dup(m->token_certs[i].cert);
	pthread_mutex_unlock(&m->lock);
	char why[300];
	if (!c && m->cache_dir)
		sf_acme_cache_read_cert(m->cache_dir, name, SF_ACME_CERT_TOKEN, time(NULL), &c, why, sizeof why);
	return c;
}
