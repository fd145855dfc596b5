/* Certificates, the name → certificate table, the TLS-ALPN-01 challenge certificate (parsed back
 * field by field, protocols.md §7.4) and the context's allow-list normalization (§7.8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "tls/challenge.h"
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

/* ---- challenge certificate ---- */

static void test_challenge_cert(void **state)
{
	(void)state;
	char err[256] = "";
	const char *key_auth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
	struct sf_tls_cert *c = sf_tls_challenge_cert("Snowflake.Example.", key_auth, err, sizeof err);
	assert_non_null(c);
	X509 *x = sf_tls_cert_leaf(c);

	/* the acmeIdentifier extension: critical, OCTET STRING(SHA-256(key authorization)) */
	ASN1_OBJECT *oid = OBJ_txt2obj(SF_TLS_ACME_IDENTIFIER_OID, 1);
	int at = X509_get_ext_by_OBJ(x, oid, -1);
	assert_true(at >= 0);
	assert_int_equal(X509_get_ext_by_OBJ(x, oid, at), -1);	/* only one */
	X509_EXTENSION *ext = X509_get_ext(x, at);
	assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
	ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(ext);
	const unsigned char *p = ASN1_STRING_get0_data(value);
	long der_len = ASN1_STRING_length(value);
	assert_int_equal(der_len, 34);
	assert_int_equal(p[0], 0x04);
	assert_int_equal(p[1], 32);
	ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, der_len);
	assert_non_null(inner);
	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA256((const uint8_t *)key_auth, strlen(key_auth), digest);
	assert_int_equal(ASN1_STRING_length(inner), 32);
	assert_memory_equal(ASN1_STRING_get0_data(inner), digest, 32);
	ASN1_OCTET_STRING_free(inner);
	ASN1_OBJECT_free(oid);

	/* SAN dNSName and CN = the normalized name */
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(sans);
	assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
	GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, 0);
	assert_int_equal(gn->type, GEN_DNS);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.dNSName), "snowflake.example");
	GENERAL_NAMES_free(sans);
	char cn[64];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0);
	assert_string_equal(cn, "snowflake.example");
	assert_int_equal(X509_check_host(x, "snowflake.example", 0, 0, NULL), 1);

	/* self-signed ECDSA P-256, serial 1, 24 h, v3 */
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
	EVP_PKEY *key = sf_tls_cert_key(c);
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
	char curve[32];
	assert_int_equal(EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof curve, NULL), 1);
	assert_string_equal(curve, "prime256v1");
	assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(x)), 1);
	int days = -1, secs = -1;
	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
	assert_int_equal(days * 86400 + secs, 86400);

	/* key usage, extended key usage, basic constraints as autocert's template */
	assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
	assert_true(X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT);
	assert_false(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1))), 1);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);

	sf_tls_cert_unref(c);
}

static void test_challenge_cert_bad_name(void **state)
{
	(void)state;
	char err[256] = "";
	assert_null(sf_tls_challenge_cert("bad name.example", "k", err, sizeof err));
	assert_string_equal(err, "tls: invalid challenge name");
	assert_null(sf_tls_challenge_cert("DNS:x,DNS:y", "k", err, sizeof err));
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
		cmocka_unit_test(test_challenge_cert),
		cmocka_unit_test(test_challenge_cert_bad_name),
		cmocka_unit_test(test_ctx_allow_list),
		cmocka_unit_test(test_ctx_tls12_ciphers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
