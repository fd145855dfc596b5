#include "acme/client_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "acme/jws.h"
#include "lib/clock.h"

static const char *const default_types[] = { "tls-alpn-01", "http-01", NULL };

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

struct sf_acme_client *sf_acme_client_new(const struct sf_acme_client_config *cfg, EVP_PKEY *account_key,
					  char *err, size_t errlen)
{
	if (!account_key) {
		snprintf(err, errlen, "acme: no account key");
		return NULL;
	}
	struct sf_acme_client *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "acme: out of memory");
		return NULL;
	}
	c->cfg = *cfg;
	c->directory_url = strdup(cfg->directory_url && *cfg->directory_url ? cfg->directory_url
									 : SF_ACME_DEFAULT_DIRECTORY);
	c->ca_file = dup_or_null(cfg->ca_file);
	c->user_agent = strdup(cfg->user_agent && *cfg->user_agent ? cfg->user_agent : "autocert");
	c->email = dup_or_null(cfg->email);
	c->cfg.directory_url = c->directory_url;
	c->cfg.ca_file = c->ca_file;
	c->cfg.user_agent = c->user_agent;
	c->cfg.email = c->email;
	c->cfg.challenge_types = NULL;
	if (!c->cfg.issue_timeout_ms)
		c->cfg.issue_timeout_ms = 5 * 60 * 1000;
	if (!c->cfg.poll_interval_ms)
		c->cfg.poll_interval_ms = 1000;
	if (!c->cfg.max_retry_after_ms)
		c->cfg.max_retry_after_ms = 60 * 1000;
	if (c->cfg.nonce_retries <= 0)
		c->cfg.nonce_retries = 15;
	const char *const *types = cfg->challenge_types ? cfg->challenge_types : default_types;
	for (size_t i = 0; types[i]; i++) {
		if (strcmp(types[i], "http-01") && strcmp(types[i], "tls-alpn-01")) {
			snprintf(err, errlen, "acme: unsupported challenge type %s", types[i]);
			goto fail;
		}
		if (c->n_types == CLIENT_MAX_TYPES)
			break;
		c->types[c->n_types++] = strdup(types[i]);
	}
	if (!c->n_types) {
		snprintf(err, errlen, "acme: no challenge type enabled");
		goto fail;
	}
	if (!c->directory_url || !c->user_agent) {
		snprintf(err, errlen, "acme: out of memory");
		goto fail;
	}
	if (!c->cfg.http) {
		struct sf_acme_curl_options o = {
			.ca_file = c->ca_file,
			.user_agent = c->user_agent,
			.connect_timeout_ms = cfg->connect_timeout_ms,
			.request_timeout_ms = cfg->request_timeout_ms,
			.cancelled = cfg->cancelled,
			.cancelled_arg = cfg->hook_arg,
		};
		c->curl = sf_acme_curl_new(&o, err, errlen);
		if (!c->curl)
			goto fail;
		c->cfg.http = sf_acme_curl_request;
		c->cfg.http_arg = c->curl;
	}
	if (!EVP_PKEY_up_ref(account_key)) {
		snprintf(err, errlen, "acme: bad account key");
		goto fail;
	}
	c->key = account_key;
	c->err.retry_after_s = -1;
	return c;
fail:
	sf_acme_client_free(c);
	return NULL;
}

void sf_acme_client_free(struct sf_acme_client *c)
{
	if (!c)
		return;
	sf_acme_curl_free(c->curl);
	EVP_PKEY_free(c->key);
	for (size_t i = 0; i < c->n_types; i++)
		free(c->types[i]);
	free(c->directory_url);
	free(c->ca_file);
	free(c->user_agent);
	free(c->email);
	free(c->new_nonce_url);
	free(c->new_account_url);
	free(c->new_order_url);
	free(c->kid);
	free(c);
}

const struct sf_acme_error *sf_acme_client_error(const struct sf_acme_client *c)
{
	return &c->err;
}

const char *sf_acme_client_account_url(const struct sf_acme_client *c)
{
	return c->kid;
}

bool sf_acme_error_is(const struct sf_acme_error *e, const char *short_type)
{
	size_t n = strlen(SF_ACME_PROBLEM_PREFIX);
	return strncmp(e->type, SF_ACME_PROBLEM_PREFIX, n) == 0 && strcmp(e->type + n, short_type) == 0;
}

int sf_acme_client_fail(struct sf_acme_client *c, const char *fmt, ...)
{
	memset(&c->err, 0, sizeof c->err);
	c->err.retry_after_s = -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err.message, sizeof c->err.message, fmt, ap);
	va_end(ap);
	return -1;
}

/* Problem details are CA text: keep them printable and on one line. */
static void copy_clean(char *out, size_t cap, const char *in)
{
	size_t o = 0;
	for (; in && *in && o + 1 < cap; in++)
		out[o++] = (unsigned char)*in < 0x20 || *in == 0x7f ? ' ' : *in;
	out[o] = '\0';
}

void sf_acme_client_problem(struct sf_acme_client *c, long status, json_t *problem, long retry_after,
		    const char *what)
{
	struct sf_acme_error *e = &c->err;
	memset(e, 0, sizeof *e);
	e->http_status = status;
	e->retry_after_s = retry_after;
	copy_clean(e->type, sizeof e->type, json_str(problem, "type"));
	copy_clean(e->detail, sizeof e->detail, json_str(problem, "detail"));
	/* a compound error names the real cause in its first subproblem */
	json_t *sub = json_array_get(json_object_get(problem, "subproblems"), 0);
	char subtext[340] = "";
	if (sub) {
		char st[128], sd[200];
		copy_clean(st, sizeof st, json_str(sub, "type"));
		copy_clean(sd, sizeof sd, json_str(sub, "detail"));
		snprintf(subtext, sizeof subtext, " [%s: %s]", st, sd);
	}
	char status_text[24] = "";
	if (status)
		snprintf(status_text, sizeof status_text, "%ld ", status);
	char retry_text[48] = "";
	if (retry_after >= 0)
		snprintf(retry_text, sizeof retry_text, "; retry after %ld s", retry_after);
	snprintf(e->message, sizeof e->message, "acme: %s: %s%s: %s%s%s", what, status_text,
		 e->type[0] ? e->type : "error", e->detail[0] ? e->detail : "(no detail)", subtext, retry_text);
}

int sf_acme_client_wait(struct sf_acme_client *c, unsigned ms, const char *what)
{
	if (c->deadline_ms && sf_clock_ms() + ms > c->deadline_ms)
		return sf_acme_client_fail(c, "acme: %s: gave up, the %u ms budget of this issuance is spent", what,
				   c->cfg.issue_timeout_ms);
	if (c->cfg.sleep_ms) {
		if (c->cfg.sleep_ms(c->cfg.hook_arg, ms))
			return sf_acme_client_fail(c, "acme: %s: cancelled", what);
		return 0;
	}
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	if (c->cfg.cancelled && c->cfg.cancelled(c->cfg.hook_arg))
		return sf_acme_client_fail(c, "acme: %s: cancelled", what);
	return 0;
}

static int http(struct sf_acme_client *c, const struct sf_acme_http_request *req,
		struct sf_acme_http_response *resp, const char *what)
{
	char err[600];
	if (c->cfg.cancelled && c->cfg.cancelled(c->cfg.hook_arg))
		return sf_acme_client_fail(c, "acme: %s: cancelled", what);
	if (c->cfg.http(c->cfg.http_arg, req, resp, err, sizeof err))
		return sf_acme_client_fail(c, "acme: %s: %s", what, err);
	return 0;
}

static json_t *parse_object(const struct sf_acme_http_response *resp)
{
	if (!resp->body)
		return NULL;
	json_t *j = json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* A non-2xx/3xx answer → c->err. */
static void answer_error(struct sf_acme_client *c, const struct sf_acme_http_response *resp, const char *what)
{
	json_t *problem = parse_object(resp);
	if (problem) {
		sf_acme_client_problem(c, resp->status, problem, sf_acme_retry_after_seconds(resp->retry_after), what);
		json_decref(problem);
		return;
	}
	sf_acme_client_fail(c, "acme: %s: HTTP %ld without a problem document", what, resp->status);
	c->err.http_status = resp->status;
	c->err.retry_after_s = sf_acme_retry_after_seconds(resp->retry_after);
}

static void take_nonce(struct sf_acme_client *c, const struct sf_acme_http_response *resp)
{
	if (resp->replay_nonce[0])
		snprintf(c->nonce, sizeof c->nonce, "%s", resp->replay_nonce);
}

static int fetch_directory(struct sf_acme_client *c)
{
	if (c->have_directory)
		return 0;
	struct sf_acme_http_request req = { .method = "GET", .url = c->directory_url };
	struct sf_acme_http_response resp = { 0 };
	int rc = -1;
	if (http(c, &req, &resp, "directory"))
		goto out;
	if (resp.status != 200) {
		answer_error(c, &resp, "directory");
		goto out;
	}
	json_t *dir = parse_object(&resp);
	const char *nonce = json_str(dir, "newNonce"), *account = json_str(dir, "newAccount"),
		   *order = json_str(dir, "newOrder");
	if (!nonce || !account || !order) {
		sf_acme_client_fail(c, "acme: directory %s is not an RFC 8555 directory", c->directory_url);
	} else {
		c->new_nonce_url = strdup(nonce);
		c->new_account_url = strdup(account);
		c->new_order_url = strdup(order);
		if (c->new_nonce_url && c->new_account_url && c->new_order_url) {
			c->have_directory = true;
			rc = 0;
		} else {
			sf_acme_client_fail(c, "acme: out of memory");
		}
	}
	json_decref(dir);
out:
	sf_acme_http_response_reset(&resp);
	return rc;
}

static int fetch_nonce(struct sf_acme_client *c)
{
	struct sf_acme_http_request req = { .method = "HEAD", .url = c->new_nonce_url };
	struct sf_acme_http_response resp = { 0 };
	int rc = http(c, &req, &resp, "newNonce");
	if (rc == 0 && !resp.replay_nonce[0])
		rc = sf_acme_client_fail(c, "acme: newNonce: HTTP %ld without a Replay-Nonce", resp.status);
	take_nonce(c, &resp);
	sf_acme_http_response_reset(&resp);
	return rc;
}

int sf_acme_client_post(struct sf_acme_client *c, const char *url, const char *payload_json, bool use_jwk,
		const char *accept, const char *what, struct sf_acme_http_response *resp)
{
	int bad_nonces = 0, server_errors = 0;
	for (;;) {
		if (!c->nonce[0] && fetch_nonce(c))
			return -1;
		char *jws = sf_acme_jws(c->key, use_jwk ? NULL : c->kid, c->nonce, url, payload_json);
		c->nonce[0] = '\0'; /* single use, whatever happens next */
		if (!jws)
			return sf_acme_client_fail(c, "acme: %s: cannot sign the request", what);
		struct sf_acme_http_request req = {
			.method = "POST", .url = url, .body = jws, .body_len = strlen(jws), .accept = accept,
		};
		int rc = http(c, &req, resp, what);
		free(jws);
		if (rc)
			return -1;
		take_nonce(c, resp);
		if (resp->status >= 200 && resp->status < 400)
			return 0;
		answer_error(c, resp, what);
		/* Go's isBadNonce: any problem type ending in ":badnonce", whatever the status */
		size_t tl = strlen(c->err.type);
		bool bad_nonce = tl >= 9 && strcasecmp(c->err.type + tl - 9, ":badnonce") == 0;
		if (bad_nonce && bad_nonces++ < c->cfg.nonce_retries)
			continue;
		if (resp->status >= 500 && server_errors++ < CLIENT_SERVER_ERROR_RETRIES) {
			long ra = c->err.retry_after_s;
			unsigned delay = ra >= 0 ? (unsigned)(ra > 60 ? 60000 : ra * 1000) : 1000u << server_errors;
			if (delay > c->cfg.max_retry_after_ms)
				delay = c->cfg.max_retry_after_ms;
			struct sf_acme_error saved = c->err;
			if (sf_acme_client_wait(c, delay, what)) {
				c->err = saved; /* the CA's answer says more than "budget spent" */
				return -1;
			}
			continue;
		}
		if (bad_nonce) {
			size_t n = strlen(c->err.message);
			snprintf(c->err.message + n, sizeof c->err.message - n,
				 " (after %d badNonce retries)", c->cfg.nonce_retries);
		}
		return -1;
	}
}

json_t *sf_acme_client_post_json(struct sf_acme_client *c, const char *url, const char *payload_json,
			 const char *what, struct sf_acme_http_response *resp)
{
	if (sf_acme_client_post(c, url, payload_json, false, NULL, what, resp))
		return NULL;
	json_t *j = parse_object(resp);
	if (!j)
		sf_acme_client_fail(c, "acme: %s: the answer is not a JSON object", what);
	return j;
}

int sf_acme_client_register(struct sf_acme_client *c)
{
	if (c->kid)
		return 0;
	if (fetch_directory(c))
		return -1;
	json_t *acct = json_object();
	json_object_set_new(acct, "termsOfServiceAgreed", json_true());
	if (c->email) {
		char contact[600];
		snprintf(contact, sizeof contact, "mailto:%s", c->email);
		json_object_set_new(acct, "contact", json_pack("[s]", contact));
	}
	char *payload = json_dumps(acct, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(acct);
	if (!payload)
		return sf_acme_client_fail(c, "acme: out of memory");
	struct sf_acme_http_response resp = { 0 };
	int rc = sf_acme_client_post(c, c->new_account_url, payload, true, NULL, "newAccount", &resp);
	free(payload);
	if (rc == 0 && (resp.status == 200 || resp.status == 201) && resp.location[0]) {
		c->kid = strdup(resp.location);
		rc = c->kid ? 0 : sf_acme_client_fail(c, "acme: out of memory");
	} else if (rc == 0) {
		rc = sf_acme_client_fail(c, "acme: newAccount: unexpected HTTP %ld (Location %s)", resp.status,
				 resp.location[0] ? "present" : "missing");
	}
	sf_acme_http_response_reset(&resp);
	return rc;
}

json_t *sf_acme_client_poll(struct sf_acme_client *c, const char *url, const char *done1, const char *done2,
		    const char *what)
{
	unsigned delay = c->cfg.poll_interval_ms;
	for (;;) {
		struct sf_acme_http_response resp = { 0 };
		json_t *obj = sf_acme_client_post_json(c, url, NULL, what, &resp);
		long retry_after = sf_acme_retry_after_seconds(resp.retry_after);
		sf_acme_http_response_reset(&resp);
		if (!obj)
			return NULL;
		const char *status = json_str(obj, "status");
		if (status && (strcmp(status, done1) == 0 || (done2 && strcmp(status, done2) == 0)))
			return obj;
		if (!status || (strcmp(status, "pending") && strcmp(status, "processing"))) {
			/* an invalid authorization carries the cause in its failed challenge */
			json_t *problem = json_object_get(obj, "error"), *ch;
			size_t i;
			json_array_foreach(json_object_get(obj, "challenges"), i, ch)
				if (!problem)
					problem = json_object_get(ch, "error");
			if (problem) {
				sf_acme_client_problem(c, 0, problem, -1, what);
			} else {
				sf_acme_client_fail(c, "acme: %s: status %s", what, status ? status : "(missing)");
			}
			json_decref(obj);
			return NULL;
		}
		json_decref(obj);
		unsigned wait = delay;
		if (retry_after >= 0)
			wait = (unsigned long)retry_after * 1000 > c->cfg.max_retry_after_ms
				       ? c->cfg.max_retry_after_ms
				       : (unsigned)retry_after * 1000;
		else if (delay < CLIENT_POLL_MAX_MS)
			delay = delay * 2 > CLIENT_POLL_MAX_MS ? CLIENT_POLL_MAX_MS : delay * 2;
		if (sf_acme_client_wait(c, wait, what))
			return NULL;
	}
}

STACK_OF(X509) *sf_acme_parse_pem_chain(const char *pem, size_t len)
{
	if (!pem || len == 0 || len > SF_ACME_HTTP_BODY_MAX)
		return NULL;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *x;
	while (bio && chain && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(chain, x)) {
			X509_free(x);
			break;
		}
	ERR_clear_error(); /* the read that ends the loop leaves "no start line" behind */
	BIO_free(bio);
	if (chain && sk_X509_num(chain) == 0) {
		sk_X509_free(chain);
		chain = NULL;
	}
	return chain;
}
