/* One issuance, following autocert's verifyRFC + CreateOrderCert: an order per attempt, the next
 * challenge type after each failure (the type index is shared by all orders of the issuance, so
 * a type that failed once is not tried again), finalize, download. */
#include "acme/client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/cert.h"
#include "acme/jws.h"
#include "lib/clock.h"

#define ORDER_MAX_AUTHZ 8
#define ISSUE_MAX_ABANDONED 16
#define TOKEN_MAX 256

struct issue {
	struct sf_acme_client *c;
	const char *name;
	EVP_PKEY *cert_key;
	const struct sf_acme_challenge_ops *ops;
	size_t next_type;
	char failures[1200]; /* "<type>: <error>; ..." for the final message */
	char *abandoned[ISSUE_MAX_ABANDONED]; /* authorization URLs of abandoned orders */
	size_t n_abandoned;
};

static void record_failure(struct issue *is, const char *type)
{
	size_t n = strlen(is->failures);
	snprintf(is->failures + n, sizeof is->failures - n, "%s%s: %s", n ? "; " : "", type,
		 is->c->err.message);
}

static void abandon(struct issue *is, json_t *authzs)
{
	size_t i;
	json_t *u;
	json_array_foreach(authzs, i, u) {
		if (is->n_abandoned == ISSUE_MAX_ABANDONED || !json_is_string(u))
			break;
		char *s = strdup(json_string_value(u));
		if (s)
			is->abandoned[is->n_abandoned++] = s;
	}
}

/* Pending authorizations of abandoned orders count against the CA's limits: give them back. */
static void deactivate_abandoned(struct issue *is)
{
	struct sf_acme_client *c = is->c;
	struct sf_acme_error saved = c->err;
	for (size_t i = 0; i < is->n_abandoned; i++) {
		struct sf_acme_http_response resp = { 0 };
		json_t *z = sf_acme_client_post_json(c, is->abandoned[i], NULL, "authorization", &resp);
		const char *status = json_str(z, "status");
		if (status && strcmp(status, "pending") == 0) {
			sf_acme_http_response_reset(&resp);
			sf_acme_client_post(c, is->abandoned[i], "{\"status\":\"deactivated\"}", false, NULL,
				    "deactivate authorization", &resp);
		}
		json_decref(z);
		sf_acme_http_response_reset(&resp);
		free(is->abandoned[i]);
	}
	is->n_abandoned = 0;
	c->err = saved;
}

static bool token_ok(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	if (n == 0 || n > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
		      (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_'))
			return false;
	return true;
}

static json_t *pick_challenge(struct issue *is, json_t *authz, const char **type)
{
	struct sf_acme_client *c = is->c;
	while (is->next_type < c->n_types) {
		*type = c->types[is->next_type++];
		size_t i;
		json_t *ch;
		json_array_foreach(json_object_get(authz, "challenges"), i, ch) {
			const char *t = json_str(ch, "type");
			if (t && strcmp(t, *type) == 0)
				return ch;
		}
	}
	return NULL;
}

/* 0: authorized; 1: this challenge failed, try a new order; -1: give up. */
static int satisfy(struct issue *is, const char *authz_url)
{
	struct sf_acme_client *c = is->c;
	struct sf_acme_http_response resp = { 0 };
	json_t *z = sf_acme_client_post_json(c, authz_url, NULL, "authorization", &resp);
	sf_acme_http_response_reset(&resp);
	if (!z)
		return -1;
	const char *status = json_str(z, "status");
	if (!status || strcmp(status, "pending")) {
		json_decref(z); /* only pending ones need work */
		return 0;
	}
	const char *type = NULL;
	json_t *ch = pick_challenge(is, z, &type);
	if (!ch) {
		if (is->failures[0]) {
			struct sf_acme_error last = c->err; /* keep the CA's reason machine-readable */
			sf_acme_client_fail(c, "acme: unable to satisfy the authorization for \"%s\": "
				    "no challenge type left (%s)", is->name, is->failures);
			memcpy(c->err.type, last.type, sizeof last.type);
			memcpy(c->err.detail, last.detail, sizeof last.detail);
		} else
			sf_acme_client_fail(c, "acme: unable to satisfy the authorization for \"%s\": "
				    "no viable challenge type found", is->name);
		json_decref(z);
		return -1;
	}
	const char *token = json_str(ch, "token"), *url = json_str(ch, "url");
	if (!token_ok(token) || !url) {
		sf_acme_client_fail(c, "acme: %s challenge for \"%s\" without a valid token or url", type, is->name);
		record_failure(is, type);
		json_decref(z);
		return 1;
	}
	char *ka = sf_acme_key_authorization(c->key, token);
	if (!ka) {
		json_decref(z);
		return sf_acme_client_fail(c, "acme: cannot compute the key authorization");
	}
	struct sf_acme_challenge chal = { .type = type, .name = is->name, .token = token, .key_authorization = ka };
	char err[512] = "";
	char what[400];
	int rc = 1;
	if (is->ops->publish(is->ops->arg, &chal, err, sizeof err)) {
		sf_acme_client_fail(c, "acme: cannot publish the %s response for \"%s\": %s", type, is->name, err);
		record_failure(is, type);
		goto out;
	}
	snprintf(what, sizeof what, "%s challenge for %s", type, is->name);
	if (sf_acme_client_post(c, url, "{}", false, NULL, what, &resp) == 0) {
		json_t *done = sf_acme_client_poll(c, authz_url, "valid", NULL, what);
		rc = done ? 0 : 1;
		json_decref(done);
	}
	sf_acme_http_response_reset(&resp);
	if (is->ops->withdraw)
		is->ops->withdraw(is->ops->arg, &chal);
	if (rc)
		record_failure(is, type);
out:
	free(ka);
	json_decref(z);
	return rc;
}

static json_t *new_order(struct issue *is, char **order_url)
{
	struct sf_acme_client *c = is->c;
	json_t *req = json_pack("{s:[{s:s, s:s}]}", "identifiers", "type", "dns", "value", is->name);
	char *payload = req ? json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(req);
	if (!payload) {
		sf_acme_client_fail(c, "acme: out of memory");
		return NULL;
	}
	char what[300];
	snprintf(what, sizeof what, "newOrder for %s", is->name);
	struct sf_acme_http_response resp = { 0 };
	json_t *o = sf_acme_client_post_json(c, c->new_order_url, payload, what, &resp);
	free(payload);
	if (o && (!resp.location[0] || !json_str(o, "status") || !json_str(o, "finalize"))) {
		sf_acme_client_fail(c, "acme: %s: the answer lacks a Location, status or finalize URL", what);
		json_decref(o);
		o = NULL;
	}
	if (o && !(*order_url = strdup(resp.location))) {
		sf_acme_client_fail(c, "acme: out of memory");
		json_decref(o);
		o = NULL;
	}
	sf_acme_http_response_reset(&resp);
	return o;
}

/* An order whose authorizations are all valid ("ready"), or NULL. */
static json_t *authorized_order(struct issue *is, char **order_url)
{
	struct sf_acme_client *c = is->c;
	/* each retry consumes a challenge type; one more for an order that went wrong otherwise */
	for (size_t attempt = 0; attempt <= c->n_types; attempt++) {
		free(*order_url);
		*order_url = NULL;
		json_t *o = new_order(is, order_url);
		if (!o)
			return NULL;
		const char *status = json_str(o, "status");
		if (strcmp(status, "ready") == 0)
			return o;
		if (strcmp(status, "pending")) {
			sf_acme_client_fail(c, "acme: new order for \"%s\" has status %s", is->name, status);
			json_decref(o);
			return NULL;
		}
		json_t *authzs = json_object_get(o, "authorizations");
		if (!json_is_array(authzs) || json_array_size(authzs) == 0 ||
		    json_array_size(authzs) > ORDER_MAX_AUTHZ) {
			sf_acme_client_fail(c, "acme: order for \"%s\" has no usable authorizations list", is->name);
			json_decref(o);
			return NULL;
		}
		int rc = 0;
		for (size_t i = 0; rc == 0 && i < json_array_size(authzs); i++) {
			const char *u = json_string_value(json_array_get(authzs, i));
			rc = u ? satisfy(is, u) : sf_acme_client_fail(c, "acme: authorization URL is not a string");
		}
		if (rc == 0) {
			char what[300];
			snprintf(what, sizeof what, "order for %s", is->name);
			json_t *ready = sf_acme_client_poll(c, *order_url, "ready", "valid", what);
			if (ready) {
				json_decref(o);
				return ready;
			}
			record_failure(is, "order");
			rc = 1;
		}
		abandon(is, authzs);
		json_decref(o);
		if (rc < 0)
			return NULL;
	}
	sf_acme_client_fail(c, "acme: gave up on \"%s\" after %zu orders (%s)", is->name, c->n_types + 1, is->failures);
	return NULL;
}

static STACK_OF(X509) *finalize(struct issue *is, json_t *order, const char *order_url)
{
	struct sf_acme_client *c = is->c;
	char what[300];
	uint8_t *csr = NULL;
	size_t csr_len;
	if (sf_acme_csr_der(is->cert_key, is->name, &csr, &csr_len)) {
		sf_acme_client_fail(c, "acme: cannot build the CSR for \"%s\"", is->name);
		return NULL;
	}
	char *csr64 = sf_acme_b64url_encode_alloc(csr, csr_len);
	OPENSSL_free(csr);
	json_t *req = csr64 ? json_pack("{s:s}", "csr", csr64) : NULL;
	char *payload = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	free(csr64);
	if (!payload) {
		sf_acme_client_fail(c, "acme: out of memory");
		return NULL;
	}
	snprintf(what, sizeof what, "finalize for %s", is->name);
	struct sf_acme_http_response resp = { 0 };
	json_t *o = sf_acme_client_post_json(c, json_str(order, "finalize"), payload, what, &resp);
	free(payload);
	sf_acme_http_response_reset(&resp);
	const char *status = json_str(o, "status");
	if (o && (!status || strcmp(status, "valid"))) {
		json_decref(o);
		o = sf_acme_client_poll(c, order_url, "valid", NULL, what);
	}
	const char *cert_url = json_str(o, "certificate");
	STACK_OF(X509) *chain = NULL;
	if (o && !cert_url) {
		sf_acme_client_fail(c, "acme: %s: valid order without a certificate URL", what);
	} else if (o) {
		snprintf(what, sizeof what, "certificate download for %s", is->name);
		static const char pem_chain[] = "application/pem-certificate-chain";
		if (sf_acme_client_post(c, cert_url, NULL, false, pem_chain, what, &resp) == 0) {
			chain = sf_acme_parse_pem_chain(resp.body, resp.body_len);
			if (!chain)
				sf_acme_client_fail(c, "acme: %s: not a PEM certificate chain", what);
		}
		sf_acme_http_response_reset(&resp);
	}
	json_decref(o);
	return chain;
}

int sf_acme_client_issue(struct sf_acme_client *c, const char *name, EVP_PKEY *cert_key,
			 const struct sf_acme_challenge_ops *ops, STACK_OF(X509) **chain)
{
	struct issue is = { .c = c, .name = name, .cert_key = cert_key, .ops = ops };
	char *order_url = NULL;
	c->deadline_ms = sf_clock_ms() + c->cfg.issue_timeout_ms;
	*chain = NULL;
	if (sf_acme_client_register(c) == 0) {
		json_t *order = authorized_order(&is, &order_url);
		if (order)
			*chain = finalize(&is, order, order_url);
		json_decref(order);
	}
	free(order_url);
	deactivate_abandoned(&is);
	c->deadline_ms = 0;
	return *chain ? 0 : -1;
}
