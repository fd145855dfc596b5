/* An in-process RFC 8555 CA behind the client's transport hook, for tests that need answers
 * pebble cannot give (rate limits, Retry-After, failing tls-alpn-01, 5xx...). It is strict where
 * a real CA is: every POST must carry a fresh nonce it issued (single use), the JWS url must be
 * the request URL, the signature must verify with the account key (jwk only on newAccount, kid
 * afterwards), the challenge must be published with the right key authorization before it is
 * POSTed, and the CSR must name the order's identifier. Header-only (each test is a program). */
#ifndef SF_ACME_FAKE_CA_H
#define SF_ACME_FAKE_CA_H

#include <jansson.h>
#include <pthread.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "acme/http.h"
#include "acme/jws.h"
#include "acme_test_util.h"

#define FAKE_BASE "https://ca.test"
#define FAKE_MAX 16

struct fake_published {
	char type[16], name[256], token[64], key_authorization[200];
	bool live;
};

struct fake_ca {
	/* knobs */
	int bad_nonce_first;          /* the first N POSTs get badNonce */
	bool bad_nonce_always;
	bool offer_tlsalpn, offer_http;
	bool fail_tlsalpn, fail_http; /* validation of that type fails (unauthorized) */
	long order_status;            /* newOrder answers this status with order_problem... */
	const char *order_problem;    /* ...of this type (NULL: success) */
	const char *order_retry_after;
	int order_5xx;                /* the first N newOrders get 500 */
	bool order_ready;             /* authorization reused: order "ready" at once */
	int authz_pending_polls;      /* polls answering "pending" after a challenge POST */
	const char *poll_retry_after; /* Retry-After on those polls */
	bool bad_token;               /* challenges carry a token with a '/' */
	bool cert_not_pem;
	long validity_s;              /* leaf lifetime; 0: 90 days */
	const char *block_name;       /* newOrder for this name: 400 rejectedIdentifier */
	/* how the CA checks a challenge; NULL: against what fake_publish recorded */
	bool (*validate)(void *arg, const char *type, const char *name, const char *token, const char *ka);
	void *validate_arg;
	pthread_mutex_t lock;         /* fake_http runs on the ACME worker; tests tune knobs under it */

	/* state */
	struct acme_test_ca ca;
	EVP_PKEY *account;            /* from the newAccount JWK */
	char nonces[64][32];          /* issued and unused */
	unsigned nonce_counter;
	int orders, accounts_created, accounts_found;
	int bad_nonce_sent, posts, deactivated, challenge_posts[2]; /* [0] http-01, [1] tls-alpn-01 */
	int authz_polls_left[FAKE_MAX];
	char authz_status[FAKE_MAX][16], order_status_text[FAKE_MAX][16];
	char names[FAKE_MAX][256];
	char *chain_pem[FAKE_MAX];
	char contact[256];
	struct fake_published published[8];
	unsigned sleeps[64];
	int n_sleeps;
	char log[4096];               /* "METHOD path\n" lines */
};

static inline const char *fake_str(json_t *j)
{
	const char *s = json_string_value(j);
	return s ? s : "";
}

static inline void fake_init(struct fake_ca *f)
{
	memset(f, 0, sizeof *f);
	f->offer_tlsalpn = f->offer_http = true;
	pthread_mutex_init(&f->lock, NULL);
	acme_test_ca_init(&f->ca, "Fake CA");
}

static inline void fake_free(struct fake_ca *f)
{
	EVP_PKEY_free(f->account);
	for (int i = 0; i < FAKE_MAX; i++)
		free(f->chain_pem[i]);
	acme_test_ca_free(&f->ca);
	pthread_mutex_destroy(&f->lock);
}

/* ----------------------------------------------------------------- challenge ops for the client */
static inline int fake_publish(void *arg, const struct sf_acme_challenge *ch, char *err, size_t errlen)
{
	struct fake_ca *f = arg;
	for (int i = 0; i < 8; i++)
		if (!f->published[i].live) {
			struct fake_published *p = &f->published[i];
			snprintf(p->type, sizeof p->type, "%s", ch->type);
			snprintf(p->name, sizeof p->name, "%s", ch->name);
			snprintf(p->token, sizeof p->token, "%s", ch->token);
			snprintf(p->key_authorization, sizeof p->key_authorization, "%s", ch->key_authorization);
			p->live = true;
			return 0;
		}
	snprintf(err, errlen, "full");
	return -1;
}

static inline void fake_withdraw(void *arg, const struct sf_acme_challenge *ch)
{
	struct fake_ca *f = arg;
	for (int i = 0; i < 8; i++)
		if (f->published[i].live && !strcmp(f->published[i].token, ch->token))
			f->published[i].live = false;
}

static inline int fake_sleep(void *arg, unsigned ms)
{
	struct fake_ca *f = arg;
	if (f->n_sleeps == 64)
		return -1; /* bounded: a runaway poll loop ends here */
	f->sleeps[f->n_sleeps++] = ms;
	return 0;
}

/* ----------------------------------------------------------------- transport */
static inline void fake_reply(struct sf_acme_http_response *r, long status, json_t *body)
{
	r->status = status;
	if (body) {
		r->body = json_dumps(body, JSON_COMPACT);
		r->body_len = strlen(r->body);
		snprintf(r->content_type, sizeof r->content_type, "application/json");
		json_decref(body);
	}
}

static inline void fake_problem(struct sf_acme_http_response *r, long status, const char *type, const char *detail)
{
	char t[128];
	snprintf(t, sizeof t, "urn:ietf:params:acme:error:%s", type);
	fake_reply(r, status, json_pack("{s:s, s:s, s:i}", "type", t, "detail", detail, "status", (int)status));
	snprintf(r->content_type, sizeof r->content_type, "application/problem+json");
}

static inline void fake_new_nonce(struct fake_ca *f, struct sf_acme_http_response *r)
{
	++f->nonce_counter;
	snprintf(f->nonces[f->nonce_counter % 64], 32, "nonce%u", f->nonce_counter);
	snprintf(r->replay_nonce, sizeof r->replay_nonce, "nonce%u", f->nonce_counter);
}

static inline bool fake_take_nonce(struct fake_ca *f, const char *n)
{
	for (int i = 0; n && i < 64; i++)
		if (f->nonces[i][0] && !strcmp(f->nonces[i], n)) {
			f->nonces[i][0] = '\0';
			return true;
		}
	return false;
}

static inline char *fake_b64_field(json_t *o, const char *k, size_t *len)
{
	const char *s = json_string_value(json_object_get(o, k));
	if (!s)
		return NULL;
	char *out = malloc(strlen(s) + 1);
	long n = sf_acme_b64url_decode(s, strlen(s), (uint8_t *)out, strlen(s) + 1);
	if (n < 0) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*len = (size_t)n;
	return out;
}

static inline EVP_PKEY *fake_key_from_jwk(json_t *jwk)
{
	uint8_t point[65] = { 0x04 };
	const char *x = json_string_value(json_object_get(jwk, "x")), *y = json_string_value(json_object_get(jwk, "y"));
	if (!x || !y || sf_acme_b64url_decode(x, strlen(x), point + 1, 32) != 32 ||
	    sf_acme_b64url_decode(y, strlen(y), point + 33, 32) != 32)
		return NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
	OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *key = NULL;
	if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return key;
}

static inline bool fake_verify(EVP_PKEY *key, json_t *jws)
{
	size_t sl;
	char *sig = fake_b64_field(jws, "signature", &sl);
	if (!key || !sig || sl != 64) {
		free(sig);
		return false;
	}
	ECDSA_SIG *s = ECDSA_SIG_new();
	ECDSA_SIG_set0(s, BN_bin2bn((uint8_t *)sig, 32, NULL), BN_bin2bn((uint8_t *)sig + 32, 32, NULL));
	unsigned char *der = NULL;
	int dl = i2d_ECDSA_SIG(s, &der);
	ECDSA_SIG_free(s);
	free(sig);
	char input[8192];
	snprintf(input, sizeof input, "%s.%s", json_string_value(json_object_get(jws, "protected")),
		 json_string_value(json_object_get(jws, "payload")));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
		  EVP_DigestVerify(ctx, der, (size_t)dl, (uint8_t *)input, strlen(input)) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

static inline json_t *fake_authz_json(struct fake_ca *f, int n)
{
	json_t *chals = json_array();
	static const char *types[] = { "http-01", "tls-alpn-01" };
	bool offer[] = { f->offer_http, f->offer_tlsalpn };
	for (int t = 0; t < 2; t++) {
		if (!offer[t])
			continue;
		char url[128], token[64];
		snprintf(url, sizeof url, FAKE_BASE "/chal/%d/%s", n, types[t]);
		snprintf(token, sizeof token, f->bad_token ? "tok/%d-%d" : "tok%d-%d_x", n, t);
		json_t *c = json_pack("{s:s, s:s, s:s, s:s}", "type", types[t], "url", url, "token", token, "status",
				      !strcmp(f->authz_status[n], "invalid") ? "invalid" : "pending");
		bool failed = !strcmp(f->authz_status[n], "invalid") && (t == 0 ? f->fail_http : f->fail_tlsalpn);
		if (failed)
			json_object_set_new(c, "error", json_pack("{s:s, s:s}", "type",
								  "urn:ietf:params:acme:error:unauthorized", "detail",
								  "Incorrect validation certificate"));
		json_array_append_new(chals, c);
	}
	return json_pack("{s:s, s:{s:s, s:s}, s:o}", "status", f->authz_status[n], "identifier", "type", "dns",
			 "value", f->names[n], "challenges", chals);
}

static inline json_t *fake_order_json(struct fake_ca *f, int n)
{
	char authz[128], fin[128], cert[128];
	snprintf(authz, sizeof authz, FAKE_BASE "/authz/%d", n);
	snprintf(fin, sizeof fin, FAKE_BASE "/finalize/%d", n);
	json_t *o = json_pack("{s:s, s:[s], s:s, s:[{s:s, s:s}]}", "status", f->order_status_text[n], "authorizations",
			      authz, "finalize", fin, "identifiers", "type", "dns", "value", f->names[n]);
	if (!strcmp(f->order_status_text[n], "valid")) {
		snprintf(cert, sizeof cert, FAKE_BASE "/cert/%d", n);
		json_object_set_new(o, "certificate", json_string(cert));
	}
	return o;
}

/* The CA "validates": the response published for this token must be the key authorization. */
static inline bool fake_validate(struct fake_ca *f, int n, int type)
{
	char token[64], thumb[SF_ACME_THUMBPRINT_LEN], want[200];
	snprintf(token, sizeof token, "tok%d-%d_x", n, type);
	if (sf_acme_thumbprint(f->account, thumb))
		return false;
	snprintf(want, sizeof want, "%s.%s", token, thumb);
	if (f->validate)
		return f->validate(f->validate_arg, type ? "tls-alpn-01" : "http-01", f->names[n], token, want);
	for (int i = 0; i < 8; i++) {
		struct fake_published *p = &f->published[i];
		if (p->live && !strcmp(p->token, token) && !strcmp(p->key_authorization, want) &&
		    !strcmp(p->name, f->names[n]) && !strcmp(p->type, type ? "tls-alpn-01" : "http-01"))
			return true;
	}
	return false;
}

static inline void fake_finalize(struct fake_ca *f, int n, json_t *payload, struct sf_acme_http_response *r)
{
	size_t len;
	char *der = fake_b64_field(payload, "csr", &len);
	const unsigned char *p = (const unsigned char *)der;
	X509_REQ *req = der ? d2i_X509_REQ(NULL, &p, (long)len) : NULL;
	free(der);
	EVP_PKEY *pub = req ? X509_REQ_get_pubkey(req) : NULL;
	char cn[256] = "";
	if (req)
		X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof cn);
	if (!pub || X509_REQ_verify(req, pub) != 1 || strcmp(cn, f->names[n])) {
		fake_problem(r, 400, "badCSR", "CSR does not match the order");
	} else {
		time_t now = time(NULL);
		X509 *leaf = acme_test_leaf(&f->ca, pub, f->names[n], now - 60, now + (f->validity_s ? f->validity_s : 86400 * 90));
		BIO *b = BIO_new(BIO_s_mem());
		PEM_write_bio_X509(b, leaf);
		PEM_write_bio_X509(b, f->ca.cert);
		char *mem;
		long ml = BIO_get_mem_data(b, &mem);
		f->chain_pem[n] = strndup(mem, (size_t)ml);
		BIO_free(b);
		X509_free(leaf);
		snprintf(f->order_status_text[n], 16, "valid");
		json_t *o = fake_order_json(f, n);
		json_object_set_new(o, "status", json_string("processing"));
		json_object_del(o, "certificate");
		fake_reply(r, 200, o);
	}
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
}

static inline void fake_post(struct fake_ca *f, const char *url, const char *path, json_t *payload,
			     bool as_get, struct sf_acme_http_response *r)
{
	int n = 0;
	char type[32] = "";
	if (!strcmp(path, "/acct")) {
		if (!json_is_true(json_object_get(payload, "termsOfServiceAgreed"))) {
			fake_problem(r, 400, "malformed", "terms not agreed");
			return;
		}
		const char *contact = json_string_value(json_array_get(json_object_get(payload, "contact"), 0));
		snprintf(f->contact, sizeof f->contact, "%s", contact ? contact : "");
		bool found = f->accounts_created > 0;
		found ? f->accounts_found++ : f->accounts_created++;
		snprintf(r->location, sizeof r->location, FAKE_BASE "/acct/1");
		fake_reply(r, found ? 200 : 201, json_pack("{s:s}", "status", "valid"));
	} else if (!strcmp(path, "/order")) {
		if (f->order_5xx > 0) {
			f->order_5xx--;
			fake_problem(r, 500, "serverInternal", "try again");
			return;
		}
		const char *want = fake_str(json_object_get(json_array_get(json_object_get(payload, "identifiers"), 0), "value"));
		if (f->block_name && !strcmp(want, f->block_name)) {
			fake_problem(r, 400, "rejectedIdentifier", "Error creating new order :: blocked name");
			return;
		}
		if (f->order_problem) {
			fake_problem(r, f->order_status, f->order_problem, "refused by policy");
			if (f->order_retry_after)
				snprintf(r->retry_after, sizeof r->retry_after, "%s", f->order_retry_after);
			return;
		}
		n = ++f->orders;
		if (n >= FAKE_MAX) {
			fake_problem(r, 500, "serverInternal", "too many orders");
			return;
		}
		const char *name = json_string_value(json_object_get(json_array_get(json_object_get(payload, "identifiers"), 0), "value"));
		snprintf(f->names[n], sizeof f->names[n], "%s", name ? name : "");
		snprintf(f->authz_status[n], 16, "%s", f->order_ready ? "valid" : "pending");
		snprintf(f->order_status_text[n], 16, "%s", f->order_ready ? "ready" : "pending");
		snprintf(r->location, sizeof r->location, FAKE_BASE "/order/%d", n);
		fake_reply(r, 201, fake_order_json(f, n));
	} else if (sscanf(path, "/authz/%d", &n) == 1 && n > 0 && n < FAKE_MAX) {
		if (!as_get && !strcmp(fake_str(json_object_get(payload, "status")), "deactivated")) {
			snprintf(f->authz_status[n], 16, "deactivated");
			f->deactivated++;
		} else if (!strcmp(f->authz_status[n], "processing")) {
			if (f->authz_polls_left[n]-- > 0) {
				if (f->poll_retry_after)
					snprintf(r->retry_after, sizeof r->retry_after, "%s", f->poll_retry_after);
				fake_reply(r, 200, json_pack("{s:s}", "status", "pending"));
				return;
			}
			snprintf(f->authz_status[n], 16, "valid");
		}
		fake_reply(r, 200, fake_authz_json(f, n));
	} else if (sscanf(path, "/chal/%d/%31s", &n, type) == 2 && n > 0 && n < FAKE_MAX) {
		int t = !strcmp(type, "tls-alpn-01");
		f->challenge_posts[t]++;
		if (!json_is_object(payload) || json_object_size(payload) != 0) {
			fake_problem(r, 400, "malformed", "challenge payload must be {}");
			return;
		}
		bool ok = fake_validate(f, n, t) && !(t ? f->fail_tlsalpn : f->fail_http);
		if (ok) {
			snprintf(f->authz_status[n], 16, "processing");
			f->authz_polls_left[n] = f->authz_pending_polls;
		} else {
			snprintf(f->authz_status[n], 16, "invalid");
			snprintf(f->order_status_text[n], 16, "invalid");
		}
		fake_reply(r, 200, json_pack("{s:s, s:s}", "type", type, "status", "processing"));
	} else if (sscanf(path, "/order/%d", &n) == 1 && n > 0 && n < FAKE_MAX) {
		if (!strcmp(f->order_status_text[n], "pending") && !strcmp(f->authz_status[n], "valid"))
			snprintf(f->order_status_text[n], 16, "ready");
		fake_reply(r, 200, fake_order_json(f, n));
	} else if (sscanf(path, "/finalize/%d", &n) == 1 && n > 0 && n < FAKE_MAX) {
		if (strcmp(f->order_status_text[n], "ready")) {
			fake_problem(r, 403, "orderNotReady", "order not ready");
			return;
		}
		fake_finalize(f, n, payload, r);
	} else if (sscanf(path, "/cert/%d", &n) == 1 && n > 0 && n < FAKE_MAX && f->chain_pem[n]) {
		r->status = 200;
		r->body = strdup(f->cert_not_pem ? "{\"not\":\"pem\"}" : f->chain_pem[n]);
		r->body_len = strlen(r->body);
		snprintf(r->content_type, sizeof r->content_type, "application/pem-certificate-chain");
	} else {
		fake_problem(r, 404, "malformed", "no such resource");
	}
	(void)url;
}

static inline int fake_http_locked(void *arg, const struct sf_acme_http_request *req, struct sf_acme_http_response *r,
			    char *err, size_t errlen)
{
	struct fake_ca *f = arg;
	sf_acme_http_response_reset(r);
	if (strncmp(req->url, FAKE_BASE "/", strlen(FAKE_BASE) + 1)) {
		snprintf(err, errlen, "fake: unknown host in %s", req->url);
		return -1;
	}
	const char *path = req->url + strlen(FAKE_BASE);
	size_t ll = strlen(f->log);
	snprintf(f->log + ll, sizeof f->log - ll, "%s %s\n", req->method, path);
	if (!strcmp(req->method, "GET") && !strcmp(path, "/dir")) {
		fake_reply(r, 200, json_pack("{s:s, s:s, s:s, s:s}", "newNonce", FAKE_BASE "/nonce", "newAccount",
					     FAKE_BASE "/acct", "newOrder", FAKE_BASE "/order", "revokeCert", FAKE_BASE "/revoke"));
		return 0;
	}
	if (!strcmp(req->method, "HEAD") && !strcmp(path, "/nonce")) {
		r->status = 200;
		fake_new_nonce(f, r);
		return 0;
	}
	if (strcmp(req->method, "POST")) {
		fake_problem(r, 405, "malformed", "method");
		return 0;
	}
	f->posts++;
	json_t *jws = json_loadb(req->body, req->body_len, 0, NULL);
	size_t hl = 0, pl = 0;
	char *header = fake_b64_field(jws, "protected", &hl);
	char *payload = fake_b64_field(jws, "payload", &pl);
	json_t *h = header ? json_loads(header, 0, NULL) : NULL;
	json_t *body = payload && pl ? json_loads(payload, 0, NULL) : NULL;
	const char *nonce = json_string_value(json_object_get(h, "nonce"));
	bool nonce_ok = fake_take_nonce(f, nonce);
	fake_new_nonce(f, r); /* every answer carries one, errors too */
	if (!h || !payload || (pl && !body)) {
		fake_problem(r, 400, "malformed", "bad JWS");
	} else if (!nonce_ok || f->bad_nonce_always || f->bad_nonce_first > 0) {
		if (f->bad_nonce_first > 0)
			f->bad_nonce_first--;
		f->bad_nonce_sent++;
		fake_problem(r, 400, "badNonce", "JWS has an invalid anti-replay nonce");
	} else if (strcmp(fake_str(json_object_get(h, "url")), req->url)) {
		fake_problem(r, 400, "unauthorized", "url mismatch");
	} else if (!strcmp(path, "/acct")) {
		EVP_PKEY *k = fake_key_from_jwk(json_object_get(h, "jwk"));
		if (json_object_get(h, "kid") || !fake_verify(k, jws)) {
			EVP_PKEY_free(k);
			fake_problem(r, 400, "malformed", "newAccount needs a valid jwk signature");
		} else {
			if (f->account && EVP_PKEY_eq(f->account, k) != 1)
				f->accounts_created = 0; /* another key: another account */
			EVP_PKEY_free(f->account);
			f->account = k;
			fake_post(f, req->url, path, body, pl == 0, r);
		}
	} else if (json_object_get(h, "jwk") ||
		   strcmp(fake_str(json_object_get(h, "kid")), FAKE_BASE "/acct/1") ||
		   !fake_verify(f->account, jws)) {
		fake_problem(r, 401, "unauthorized", "bad kid or signature");
	} else {
		fake_post(f, req->url, path, body, pl == 0, r);
	}
	json_decref(body);
	json_decref(h);
	json_decref(jws);
	free(header);
	free(payload);
	return 0;
}

/* The sf_acme_http_fn. */
static inline int fake_http(void *arg, const struct sf_acme_http_request *req, struct sf_acme_http_response *r,
			    char *err, size_t errlen)
{
	struct fake_ca *f = arg;
	pthread_mutex_lock(&f->lock);
	int rc = fake_http_locked(arg, req, r, err, errlen);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

#endif
