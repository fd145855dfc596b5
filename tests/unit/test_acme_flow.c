/* The RFC 8555 client against an in-process CA with canned behaviour: challenge selection
 * (tls-alpn-01 first, a new order with http-01 after a failure), badNonce retries, Retry-After,
 * rate limits and refusals with clear errors, 5xx retries, deactivation of abandoned
 * authorizations, and every wait bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "acme/cert.h"
#include "acme/client.h"
#include "acme_fake_ca.h"

#define NAME "snowflake.example.org"

struct fixture {
	struct fake_ca ca;
	EVP_PKEY *account, *cert_key;
	struct sf_acme_client *client;
	struct sf_acme_challenge_ops ops;
};

static int fail_publish_type(void *arg, const struct sf_acme_challenge *ch, char *err, size_t errlen);

static struct fixture *fixture_new(const char *const *types, void (*tune)(struct fake_ca *))
{
	struct fixture *fx = calloc(1, sizeof *fx);
	fake_init(&fx->ca);
	if (tune)
		tune(&fx->ca);
	fx->account = sf_acme_account_key_new();
	fx->cert_key = sf_acme_cert_key_new(SF_ACME_CERT_EC);
	struct sf_acme_client_config cfg = {
		.directory_url = FAKE_BASE "/dir",
		.email = "ops@example.org",
		.poll_interval_ms = 100,
		.max_retry_after_ms = 5000,
		.challenge_types = types,
		.http = fake_http,
		.http_arg = &fx->ca,
		.sleep_ms = fake_sleep,
		.hook_arg = &fx->ca,
	};
	char err[256];
	fx->client = sf_acme_client_new(&cfg, fx->account, err, sizeof err);
	assert_non_null(fx->client);
	fx->ops = (struct sf_acme_challenge_ops){ fake_publish, fake_withdraw, &fx->ca };
	return fx;
}

static void fixture_free(struct fixture *fx)
{
	sf_acme_client_free(fx->client);
	EVP_PKEY_free(fx->account);
	EVP_PKEY_free(fx->cert_key);
	fake_free(&fx->ca);
	free(fx);
}

static int issue(struct fixture *fx, STACK_OF(X509) **chain)
{
	return sf_acme_client_issue(fx->client, NAME, fx->cert_key, &fx->ops, chain);
}

static int count(const char *log, const char *line)
{
	int n = 0;
	for (const char *p = log; (p = strstr(p, line)); p += strlen(line))
		n++;
	return n;
}

static void assert_good_chain(struct fixture *fx, STACK_OF(X509) *chain)
{
	assert_non_null(chain);
	assert_int_equal(sk_X509_num(chain), 2);
	X509 *leaf = sk_X509_value(chain, 0);
	assert_int_equal(X509_verify(leaf, fx->ca.ca.key), 1);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), fx->cert_key), 1);
	assert_int_equal(X509_check_host(leaf, NAME, 0, 0, NULL), 1);
}

static void no_published_left(struct fixture *fx)
{
	for (int i = 0; i < 8; i++)
		assert_false(fx->ca.published[i].live);
}

static const char *const http_only[] = { "http-01", NULL };

static void test_http01_issuance(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(http_only, NULL);
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(issue(fx, &chain), 0);
	assert_good_chain(fx, chain);
	assert_int_equal(fx->ca.orders, 1);
	assert_int_equal(fx->ca.challenge_posts[0], 1);
	assert_int_equal(fx->ca.challenge_posts[1], 0);
	assert_string_equal(fx->ca.contact, "mailto:ops@example.org");
	assert_string_equal(sf_acme_client_account_url(fx->client), FAKE_BASE "/acct/1");
	no_published_left(fx);
	/* one directory fetch, one HEAD for the first nonce, then Replay-Nonce reuse only */
	assert_int_equal(count(fx->ca.log, "GET /dir\n"), 1);
	assert_int_equal(count(fx->ca.log, "HEAD /nonce\n"), 1);
	sk_X509_pop_free(chain, X509_free);

	/* a second issuance reuses the account: no new newAccount */
	assert_int_equal(issue(fx, &chain), 0);
	assert_int_equal(count(fx->ca.log, "POST /acct\n"), 1);
	sk_X509_pop_free(chain, X509_free);
	fixture_free(fx);
}

static void test_existing_account_and_no_email(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(http_only, NULL);
	/* the same key registers again from a second client: 200 + Location, still fine */
	assert_int_equal(sf_acme_client_register(fx->client), 0);
	struct sf_acme_client_config cfg = {
		.directory_url = FAKE_BASE "/dir", .http = fake_http, .http_arg = &fx->ca,
		.sleep_ms = fake_sleep, .hook_arg = &fx->ca, .challenge_types = http_only,
	};
	char err[256];
	struct sf_acme_client *again = sf_acme_client_new(&cfg, fx->account, err, sizeof err);
	assert_int_equal(sf_acme_client_register(again), 0);
	assert_int_equal(fx->ca.accounts_found, 1);
	assert_string_equal(sf_acme_client_account_url(again), FAKE_BASE "/acct/1");
	assert_string_equal(fx->ca.contact, ""); /* no email: no contact at all */
	sf_acme_client_free(again);
	fixture_free(fx);
}

static void fail_tlsalpn(struct fake_ca *f)
{
	f->fail_tlsalpn = true;
}

/* autocert's order: tls-alpn-01 first; after its failure a new order, with http-01. */
static void test_tlsalpn_first_then_http01(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(NULL, fail_tlsalpn);
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(issue(fx, &chain), 0);
	assert_good_chain(fx, chain);
	assert_int_equal(fx->ca.orders, 2);
	assert_int_equal(fx->ca.challenge_posts[1], 1); /* tls-alpn-01 once, on order 1 */
	assert_int_equal(fx->ca.challenge_posts[0], 1); /* http-01 once, on order 2 */
	assert_true(strstr(fx->ca.log, "POST /chal/1/tls-alpn-01") != NULL);
	assert_true(strstr(fx->ca.log, "POST /chal/2/http-01") != NULL);
	assert_int_equal(fx->ca.deactivated, 0); /* the failed authorization is invalid, not pending */
	no_published_left(fx);
	sk_X509_pop_free(chain, X509_free);
	fixture_free(fx);
}

static void tlsalpn_only_offer(struct fake_ca *f)
{
	f->fail_tlsalpn = true;
	f->offer_http = false;
}

static void test_all_types_fail_clear_error(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(NULL, tlsalpn_only_offer);
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(issue(fx, &chain), -1);
	assert_null(chain);
	const struct sf_acme_error *e = sf_acme_client_error(fx->client);
	assert_non_null(strstr(e->message, "unable to satisfy the authorization for \"" NAME "\""));
	assert_non_null(strstr(e->message, "tls-alpn-01"));
	assert_non_null(strstr(e->message, "urn:ietf:params:acme:error:unauthorized"));
	assert_non_null(strstr(e->message, "Incorrect validation certificate"));
	assert_true(sf_acme_error_is(e, "unauthorized"));
	assert_int_equal(fx->ca.orders, 2); /* the second order finds no type left to try */
	assert_int_equal(fx->ca.deactivated, 1); /* ...and its pending authorization is given back */
	fixture_free(fx);
}

static int fail_publish_type(void *arg, const struct sf_acme_challenge *ch, char *err, size_t errlen)
{
	if (!strcmp(ch->type, "tls-alpn-01")) {
		snprintf(err, errlen, "no TLS module");
		return -1;
	}
	return fake_publish(arg, ch, err, errlen);
}

static void test_publish_failure_next_type_and_deactivate(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(NULL, NULL);
	fx->ops.publish = fail_publish_type;
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(issue(fx, &chain), 0);
	assert_good_chain(fx, chain);
	assert_int_equal(fx->ca.orders, 2);
	assert_int_equal(fx->ca.challenge_posts[1], 0); /* never POSTed an unpublished challenge */
	assert_int_equal(fx->ca.deactivated, 1);        /* order 1's authorization stayed pending */
	assert_true(strstr(fx->ca.log, "POST /authz/1\nPOST /authz/1\n") != NULL); /* check, then deactivate */
	sk_X509_pop_free(chain, X509_free);
	fixture_free(fx);
}

static void five_bad_nonces(struct fake_ca *f)
{
	f->bad_nonce_first = 5;
}

static void bad_nonce_storm(struct fake_ca *f)
{
	f->bad_nonce_always = true;
}

static void test_bad_nonce_retried_then_bounded(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(http_only, five_bad_nonces);
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(issue(fx, &chain), 0);
	assert_good_chain(fx, chain);
	assert_int_equal(fx->ca.bad_nonce_sent, 5);
	assert_int_equal(count(fx->ca.log, "HEAD /nonce\n"), 1); /* the error replies' nonces were used */
	sk_X509_pop_free(chain, X509_free);
	fixture_free(fx);

	fx = fixture_new(http_only, bad_nonce_storm);
	assert_int_equal(issue(fx, &chain), -1);
	const struct sf_acme_error *e = sf_acme_client_error(fx->client);
	assert_true(sf_acme_error_is(e, "badNonce"));
	assert_non_null(strstr(e->message, "newAccount"));
	assert_non_null(strstr(e->message, "after 15 badNonce retries"));
	assert_int_equal(fx->ca.posts, 16);
	fixture_free(fx);
}

static void rate_limited(struct fake_ca *f)
{
	f->order_status = 429;
	f->order_problem = "rateLimited";
	f->order_retry_after = "3600";
}

static void test_rate_limited(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(http_only, rate_limited);
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(issue(fx, &chain), -1);
	const struct sf_acme_error *e = sf_acme_client_error(fx->client);
	assert_int_equal(e->http_status, 429);
	assert_true(sf_acme_error_is(e, "rateLimited"));
	assert_int_equal(e->retry_after_s, 3600);
	assert_string_equal(e->message, "acme: newOrder for " NAME ": 429 urn:ietf:params:acme:error:rateLimited: "
					"refused by policy; retry after 3600 s");
	assert_int_equal(fx->ca.n_sleeps, 0); /* no waiting for an hour inside the client */
	fixture_free(fx);
}

static void rejected(struct fake_ca *f)
{
	f->order_status = 400;
	f->order_problem = "rejectedIdentifier";
}

static void test_rejected_identifier(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(http_only, rejected);
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(issue(fx, &chain), -1);
	const struct sf_acme_error *e = sf_acme_client_error(fx->client);
	assert_true(sf_acme_error_is(e, "rejectedIdentifier"));
	assert_int_equal(e->retry_after_s, -1);
	assert_string_equal(e->message, "acme: newOrder for " NAME ": 400 "
					"urn:ietf:params:acme:error:rejectedIdentifier: refused by policy");
	fixture_free(fx);
}

static void slow_with_retry_after(struct fake_ca *f)
{
	f->authz_pending_polls = 2;
	f->poll_retry_after = "2";
}

static void slow_with_long_retry_after(struct fake_ca *f)
{
	f->authz_pending_polls = 1;
	f->poll_retry_after = "120";
}

static void slow_without_retry_after(struct fake_ca *f)
{
	f->authz_pending_polls = 3;
}

static void test_retry_after_honoured_and_capped(void **state)
{
	(void)state;
	STACK_OF(X509) *chain = NULL;
	struct fixture *fx = fixture_new(http_only, slow_with_retry_after);
	assert_int_equal(issue(fx, &chain), 0);
	/* the two "pending" polls asked for 2 s each; order/finalize polls then use the interval */
	assert_true(fx->ca.n_sleeps >= 2);
	assert_int_equal(fx->ca.sleeps[0], 2000);
	assert_int_equal(fx->ca.sleeps[1], 2000);
	sk_X509_pop_free(chain, X509_free);
	fixture_free(fx);

	fx = fixture_new(http_only, slow_with_long_retry_after);
	assert_int_equal(issue(fx, &chain), 0);
	assert_int_equal(fx->ca.sleeps[0], 5000); /* 120 s cut to max_retry_after_ms */
	sk_X509_pop_free(chain, X509_free);
	fixture_free(fx);

	fx = fixture_new(http_only, slow_without_retry_after);
	assert_int_equal(issue(fx, &chain), 0);
	assert_int_equal(fx->ca.sleeps[0], 100); /* poll_interval_ms, then doubling */
	assert_int_equal(fx->ca.sleeps[1], 200);
	assert_int_equal(fx->ca.sleeps[2], 400);
	sk_X509_pop_free(chain, X509_free);
	fixture_free(fx);
}

static void server_errors(struct fake_ca *f)
{
	f->order_5xx = 2;
}

static void test_server_error_retried(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(http_only, server_errors);
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(issue(fx, &chain), 0);
	assert_good_chain(fx, chain);
	assert_int_equal(count(fx->ca.log, "POST /order\n"), 3);
	assert_true(fx->ca.n_sleeps >= 2);
	sk_X509_pop_free(chain, X509_free);
	fixture_free(fx);
}

static void ready_at_once(struct fake_ca *f)
{
	f->order_ready = true;
}

static void test_reused_authorization(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(NULL, ready_at_once);
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(issue(fx, &chain), 0);
	assert_good_chain(fx, chain);
	assert_int_equal(fx->ca.challenge_posts[0] + fx->ca.challenge_posts[1], 0);
	sk_X509_pop_free(chain, X509_free);
	fixture_free(fx);
}

static void bad_token(struct fake_ca *f)
{
	f->bad_token = true;
}

static void not_pem(struct fake_ca *f)
{
	f->cert_not_pem = true;
}

static void test_bad_ca_answers(void **state)
{
	(void)state;
	STACK_OF(X509) *chain = NULL;
	struct fixture *fx = fixture_new(http_only, bad_token);
	assert_int_equal(issue(fx, &chain), -1);
	assert_non_null(strstr(sf_acme_client_error(fx->client)->message, "without a valid token"));
	assert_int_equal(fx->ca.challenge_posts[0], 0);
	fixture_free(fx);

	fx = fixture_new(http_only, not_pem);
	assert_int_equal(issue(fx, &chain), -1);
	assert_non_null(strstr(sf_acme_client_error(fx->client)->message, "not a PEM certificate chain"));
	fixture_free(fx);

	/* a transport failure (unknown host here) is reported with its context */
	struct sf_acme_client_config cfg = {
		.directory_url = "https://elsewhere.test/dir", .http = fake_http, .http_arg = NULL,
		.sleep_ms = fake_sleep, .challenge_types = http_only,
	};
	struct fake_ca f;
	fake_init(&f);
	cfg.http_arg = &f;
	cfg.hook_arg = &f;
	char err[256];
	EVP_PKEY *k = sf_acme_account_key_new();
	struct sf_acme_client *c = sf_acme_client_new(&cfg, k, err, sizeof err);
	assert_int_equal(sf_acme_client_register(c), -1);
	assert_string_equal(sf_acme_client_error(c)->message, "acme: directory: fake: unknown host in https://elsewhere.test/dir");
	sf_acme_client_free(c);
	EVP_PKEY_free(k);
	fake_free(&f);

	/* configuration errors */
	static const char *const dns01[] = { "dns-01", NULL };
	cfg.challenge_types = dns01;
	k = sf_acme_account_key_new();
	assert_null(sf_acme_client_new(&cfg, k, err, sizeof err));
	assert_string_equal(err, "acme: unsupported challenge type dns-01");
	EVP_PKEY_free(k);
}

static void never_valid(struct fake_ca *f)
{
	f->authz_pending_polls = 1000000;
}

/* Real sleeps here (no sleep hook): the issuance budget ends an endless "pending". */
static void test_issue_deadline(void **state)
{
	(void)state;
	struct fake_ca f;
	fake_init(&f);
	never_valid(&f);
	struct sf_acme_client_config cfg = {
		.directory_url = FAKE_BASE "/dir", .http = fake_http, .http_arg = &f,
		.challenge_types = http_only, .poll_interval_ms = 20, .issue_timeout_ms = 300,
	};
	char err[256];
	EVP_PKEY *k = sf_acme_account_key_new(), *ck = sf_acme_cert_key_new(SF_ACME_CERT_EC);
	struct sf_acme_client *c = sf_acme_client_new(&cfg, k, err, sizeof err);
	struct sf_acme_challenge_ops ops = { fake_publish, fake_withdraw, &f };
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(sf_acme_client_issue(c, NAME, ck, &ops, &chain), -1);
	assert_non_null(strstr(sf_acme_client_error(c)->message, "budget"));
	sf_acme_client_free(c);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ck);
	fake_free(&f);
}

/* The tls-alpn-01 certificate of RFC 8737 and the CSR, checked field by field. */
static void test_tlsalpn01_cert_and_csr(void **state)
{
	(void)state;
	struct sf_acme_cert *c = NULL;
	char err[256];
	assert_int_equal(sf_acme_tlsalpn01_cert(NULL, NAME, "tok.thumb", &c, err, sizeof err), 0);
	X509 *x = sf_acme_cert_leaf(c);
	assert_int_equal(X509_check_host(x, NAME, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
	assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(x)), 1);
	assert_int_equal(X509_verify(x, c->key), 1);
	assert_true(c->not_after - c->not_before == 24 * 3600);
	ASN1_OBJECT *oid = OBJ_txt2obj(SF_ACME_IDENTIFIER_OID, 1);
	int pos = X509_get_ext_by_OBJ(x, oid, -1);
	assert_true(pos >= 0);
	X509_EXTENSION *ext = X509_get_ext(x, pos);
	assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
	const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
	uint8_t want[34] = { 0x04, 0x20 };
	SHA256((const unsigned char *)"tok.thumb", 9, want + 2);
	assert_int_equal(ASN1_STRING_length(v), 34);
	assert_memory_equal(ASN1_STRING_get0_data(v), want, 34);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
	/* as autocert's template: self-signed v3 ECDSA P-256, CN = SAN = the name, keyUsage
	 * (critical) digitalSignature|keyEncipherment, not a CA */
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
	char subject_cn[64];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, subject_cn,
					      sizeof subject_cn) > 0);
	assert_string_equal(subject_cn, NAME);
	char curve[32];
	assert_int_equal(EVP_PKEY_get_utf8_string_param(c->key, "group", curve, sizeof curve, NULL), 1);
	assert_string_equal(curve, "prime256v1");
	assert_true(X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT);
	assert_false(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1))), 1);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	assert_int_equal(sf_acme_cert_check(c, NAME, SF_ACME_CERT_TOKEN, time(NULL), err, sizeof err), 0);
	ASN1_OBJECT_free(oid);
	sf_acme_cert_free(c);

	EVP_PKEY *key = sf_acme_cert_key_new(SF_ACME_CERT_RSA);
	uint8_t *der = NULL;
	size_t len;
	assert_int_equal(sf_acme_csr_der(key, NAME, &der, &len), 0);
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	assert_non_null(req);
	assert_int_equal(X509_REQ_verify(req, key), 1);
	char cn[256];
	X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof cn);
	assert_string_equal(cn, NAME);
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *san = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, 0);
	assert_int_equal(gn->type, GEN_DNS);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.dNSName), NAME);
	GENERAL_NAMES_free(san);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http01_issuance),
		cmocka_unit_test(test_existing_account_and_no_email),
		cmocka_unit_test(test_tlsalpn_first_then_http01),
		cmocka_unit_test(test_all_types_fail_clear_error),
		cmocka_unit_test(test_publish_failure_next_type_and_deactivate),
		cmocka_unit_test(test_bad_nonce_retried_then_bounded),
		cmocka_unit_test(test_rate_limited),
		cmocka_unit_test(test_rejected_identifier),
		cmocka_unit_test(test_retry_after_honoured_and_capped),
		cmocka_unit_test(test_server_error_retried),
		cmocka_unit_test(test_reused_authorization),
		cmocka_unit_test(test_bad_ca_answers),
		cmocka_unit_test(test_issue_deadline),
		cmocka_unit_test(test_tlsalpn01_cert_and_csr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
