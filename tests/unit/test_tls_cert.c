/* Certificates, the name → certificate table and the context's allow-list normalization
 * (docs/tls.md "Certificate selection").
 * The TLS-ALPN-01 certificate (docs/tls.md "Certificates and the challenge registry") is built and
 * checked in the ACME layer (test_acme_flow). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "tls_test_util.h"

static struct tls_test_pki pki;

static int setup(void **state)
{
	(void)state;
	tls_test_pki_init(&pki);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tls_test_pki_free(&pki);
	return 0;
}

/* ---- sf_tls_cert ---- */

static void test_cert_new_checks_key(void **state)
{
	(void)state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	EVP_PKEY *other = EVP_EC_gen("P-256");
	X509 *x = tls_test_x509(key, "a.example", NULL, NULL, 7, false);
	assert_null(sf_tls_cert_new(other, x, NULL));
	assert_null(sf_tls_cert_new(NULL, x, NULL));
	struct sf_tls_cert *c = sf_tls_cert_new(key, x, NULL);
	assert_non_null(c);
	assert_ptr_equal(sf_tls_cert_leaf(c), x);
	assert_ptr_equal(sf_tls_cert_key(c), key);
	assert_int_equal(sk_X509_num(sf_tls_cert_chain(c)), 0);
	assert_false(sf_tls_cert_is_rsa(c));
	/* the cert holds its own references: the caller's can go first */
	X509_free(x);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	assert_non_null(X509_get_subject_name(sf_tls_cert_leaf(c)));
	sf_tls_cert_unref(c);
	sf_tls_cert_unref(NULL);
	ERR_clear_error();
}

static void test_cert_chain_and_rsa(void **state)
{
	(void)state;
	struct sf_tls_cert *c = tls_test_leaf(&pki, "rsa.example", true);
	assert_true(sf_tls_cert_is_rsa(c));
	assert_int_equal(sk_X509_num(sf_tls_cert_chain(c)), 1);
	assert_int_equal(X509_cmp(sk_X509_value(sf_tls_cert_chain(c), 0), pki.ca), 0);
	sf_tls_cert_unref(c);
}

/* ---- table ---- */

static void test_table(void **state)
{
	(void)state;
	struct sf_tls_table *t = sf_tls_table_new(2);
	assert_non_null(t);
	struct sf_tls_cert *a = tls_test_leaf(&pki, "a.example", false);
	struct sf_tls_cert *b = tls_test_leaf(&pki, "b.example", false);
	struct sf_tls_cert *r = tls_test_leaf(&pki, "a.example", true);

	assert_null(sf_tls_table_get(t, "a.example"));
	assert_int_equal(sf_tls_table_put(t, "a.example", a), 0);
	assert_int_equal(sf_tls_table_put(t, "a.example+rsa", r), 0);
	assert_int_equal(sf_tls_table_put(t, "b.example", b), -1);	/* full */
	assert_int_equal(sf_tls_table_put(t, "zzz", NULL), 0);	/* removing nothing */

	bool pending = true;
	struct sf_tls_cert *got = sf_tls_table_lookup(t, "a.example", false, &pending);
	assert_ptr_equal(got, a);
	assert_false(pending);
	sf_tls_cert_unref(got);
	got = sf_tls_table_lookup(t, "a.example", true, &pending);
	assert_ptr_equal(got, r);
	sf_tls_cert_unref(got);
	assert_null(sf_tls_table_lookup(t, "b.example", false, &pending));

	/* replace: a reference taken before stays usable */
	struct sf_tls_cert *held = sf_tls_table_get(t, "a.example");
	assert_int_equal(sf_tls_table_put(t, "a.example", b), 0);
	sf_tls_cert_unref(a);	/* the table's and ours are gone; held keeps it */
	a = NULL;
	assert_non_null(X509_get_subject_name(sf_tls_cert_leaf(held)));
	sf_tls_cert_unref(held);
	got = sf_tls_table_get(t, "a.example");
	assert_ptr_equal(got, b);
	sf_tls_cert_unref(got);

	/* remove, then there is room again */
	assert_int_equal(sf_tls_table_put(t, "a.example+rsa", NULL), 0);
	assert_null(sf_tls_table_get(t, "a.example+rsa"));
	assert_int_equal(sf_tls_table_put(t, "c.example", r), 0);

	char long_key[300];
	memset(long_key, 'a', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	assert_int_equal(sf_tls_table_put(t, long_key, r), -1);
	assert_null(sf_tls_table_lookup(t, long_key, true, &pending));

	sf_tls_table_free(t);
	sf_tls_cert_unref(b);
	sf_tls_cert_unref(r);
}

/* ---- context ---- */

static void test_ctx_allow_list(void **state)
{
	(void)state;
	const char *hosts[] = { "Snowflake.Example.COM.", " b.example", "bad_name.example",
				"ok.example", "ok.example", "x" };
	struct sf_tls_config cfg = { .hostnames = hosts, .n_hostnames = 6, .quiet = true };
	char err[256] = "";
	struct sf_tls_ctx *ctx = sf_tls_ctx_new(&cfg, err, sizeof err);
	assert_non_null(ctx);
	assert_true(sf_tls_ctx_allows(ctx, "snowflake.example.com"));
	assert_true(sf_tls_ctx_allows(ctx, "SNOWFLAKE.example.com."));
	assert_true(sf_tls_ctx_allows(ctx, "ok.example"));
	assert_true(sf_tls_ctx_allows(ctx, "x"));
	/* dropped, as autocert drops what IDNA refuses */
	assert_false(sf_tls_ctx_allows(ctx, "b.example"));
	assert_false(sf_tls_ctx_allows(ctx, " b.example"));
	assert_false(sf_tls_ctx_allows(ctx, "bad_name.example"));
	/* exact match only */
	assert_false(sf_tls_ctx_allows(ctx, "example.com"));
	assert_false(sf_tls_ctx_allows(ctx, "sub.ok.example"));

	SSL_CTX *s = sf_tls_ctx_ssl_ctx(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(s), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(s), TLS1_3_VERSION);
	assert_true(SSL_CTX_get_options(s) & SSL_OP_NO_COMPRESSION);
	assert_true(SSL_CTX_get_options(s) & SSL_OP_NO_RENEGOTIATION);

	struct sf_tls_cert *c = tls_test_leaf(&pki, "ok.example", false);
	assert_int_equal(sf_tls_ctx_set_challenge(ctx, "OK.example", c), 0);
	assert_int_equal(sf_tls_ctx_set_challenge(ctx, "OK.example", NULL), 0);
	assert_int_equal(sf_tls_ctx_set_challenge(ctx, "not valid", c), -1);
	sf_tls_cert_unref(c);
	/* nobody waits: harmless */
	sf_tls_resume(ctx, "ok.example");
	sf_tls_resume(ctx, NULL);
	sf_tls_ctx_free(ctx);
}

static void test_ctx_tls12_ciphers(void **state)
{
	(void)state;
	struct sf_tls_config cfg = { .quiet = true };
	char err[256] = "";
	struct sf_tls_ctx *ctx = sf_tls_ctx_new(&cfg, err, sizeof err);
	assert_non_null(ctx);
	SSL *ssl = SSL_new(sf_tls_ctx_ssl_ctx(ctx));
	assert_non_null(ssl);
	STACK_OF(SSL_CIPHER) *ciphers = SSL_get_ciphers(ssl);
	int n = sk_SSL_CIPHER_num(ciphers);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(ciphers, i);
		if (SSL_CIPHER_get_protocol_id(c) >> 8 == 0x13)	/* TLS_AES_*, TLS_CHACHA20_* */
			continue;
		/* TLS 1.2: ECDHE key exchange and an AEAD, nothing else */
		assert_int_equal(SSL_CIPHER_get_kx_nid(c), NID_kx_ecdhe);
		assert_true(SSL_CIPHER_is_aead(c));
	}
	SSL_free(ssl);
	sf_tls_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cert_new_checks_key),
		cmocka_unit_test(test_cert_chain_and_rsa),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_ctx_allow_list),
		cmocka_unit_test(test_ctx_tls12_ciphers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
