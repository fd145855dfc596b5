/* base64url, JWK + RFC 7638 thumbprint, ES256 JWS checked with OpenSSL, key authorization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <string.h>

#include "acme/jws.h"

static void test_b64url_rfc4648_vectors(void **state)
{
	(void)state;
	static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *coded[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	for (size_t i = 0; i < 7; i++) {
		char out[16];
		uint8_t back[16];
		assert_int_equal(sf_acme_b64url_encode(plain[i], strlen(plain[i]), out, sizeof out),
				 (long)strlen(coded[i]));
		assert_string_equal(out, coded[i]);
		assert_int_equal(sf_acme_b64url_decode(coded[i], strlen(coded[i]), back, sizeof back),
				 (long)strlen(plain[i]));
		assert_memory_equal(back, plain[i], strlen(plain[i]));
	}
}

static void test_b64url_alphabet_and_errors(void **state)
{
	(void)state;
	static const uint8_t bytes[] = { 0xfb, 0xff, 0xbf };
	char out[8];
	uint8_t back[8];
	assert_int_equal(sf_acme_b64url_encode(bytes, 3, out, sizeof out), 4);
	assert_string_equal(out, "-_-_"); /* not "+/+/" */
	assert_int_equal(sf_acme_b64url_decode("-_-_", 4, back, sizeof back), 3);
	assert_memory_equal(back, bytes, 3);

	assert_int_equal(sf_acme_b64url_encode("foo", 3, out, 4), -1); /* no room for the NUL */
	assert_int_equal(sf_acme_b64url_decode("Zg==", 4, back, sizeof back), -1); /* padding */
	assert_int_equal(sf_acme_b64url_decode("+/+/", 4, back, sizeof back), -1); /* std alphabet */
	assert_int_equal(sf_acme_b64url_decode("Zm9vY", 5, back, sizeof back), -1); /* bad length */
	assert_int_equal(sf_acme_b64url_decode("Zh", 2, back, sizeof back), -1); /* stray bits */
	assert_int_equal(sf_acme_b64url_decode("Zm9vYmFy", 8, back, 5), -1);     /* small out */
}

static EVP_PKEY *key_from_params(const char *type, OSSL_PARAM_BLD *bld, int selection)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *key = NULL;
	assert_non_null(params);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &key, selection, params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return key;
}

static BIGNUM *bn_from_b64url(const char *s)
{
	uint8_t buf[512];
	long n = sf_acme_b64url_decode(s, strlen(s), buf, sizeof buf);
	assert_true(n > 0);
	return BN_bin2bn(buf, (int)n, NULL);
}

/* RFC 7638 §3.1: the example RSA key and its thumbprint. */
static void test_rfc7638_thumbprint(void **state)
{
	(void)state;
	static const char n64[] =
		"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
		"ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
		"368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
		"M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
	BIGNUM *n = bn_from_b64url(n64), *e = bn_from_b64url("AQAB");
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
	EVP_PKEY *key = key_from_params("RSA", bld, EVP_PKEY_PUBLIC_KEY);

	char jwk[1024], want[1024], thumb[SF_ACME_THUMBPRINT_LEN];
	snprintf(want, sizeof want, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"%s\"}", n64);
	assert_true(sf_acme_jwk(key, jwk, sizeof jwk) > 0);
	assert_string_equal(jwk, want);
	assert_int_equal(sf_acme_thumbprint(key, thumb), 0);
	assert_string_equal(thumb, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	BN_free(n);
	BN_free(e);
	EVP_PKEY_free(key);
}

/* A fixed P-256 key; x, y and the thumbprint were computed independently with python3-cryptography
 * (d = SHA-256("snowflake acme jws test key")). */
#define TEST_X "vbisO7bGwNiDdE5c8s6CpdyM-A1V9dtutU4cPlID_yE"
#define TEST_Y "O3JgA7pYtmxp53i1ONLRXuyHsCkOliC1XpKQo1zA-Zc"
#define TEST_THUMB "EW0i3I9LgQhGTls2SVviHeAL0nUcoB4b5Zh462jri4o"
static EVP_PKEY *fixed_ec_key(void)
{
	uint8_t x[32], y[32], point[65] = { 0x04 };
	assert_int_equal(sf_acme_b64url_decode(TEST_X, 43, x, 32), 32);
	assert_int_equal(sf_acme_b64url_decode(TEST_Y, 43, y, 32), 32);
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	BIGNUM *d = bn_from_b64url("Dje6n_W39OFnrx2Z8kzFNLgpQY5YPw2UE1Km_5Kr0bs");
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
	OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d);
	EVP_PKEY *key = key_from_params("EC", bld, EVP_PKEY_KEYPAIR);
	BN_free(d);
	return key;
}

static void test_ec_jwk_and_thumbprint(void **state)
{
	(void)state;
	EVP_PKEY *key = fixed_ec_key();
	static const char want[] = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" TEST_X "\",\"y\":\"" TEST_Y "\"}";
	char jwk[512], thumb[SF_ACME_THUMBPRINT_LEN], want_thumb[SF_ACME_THUMBPRINT_LEN];
	assert_int_equal(sf_acme_jwk(key, jwk, sizeof jwk), (long)strlen(want));
	assert_string_equal(jwk, want);
	uint8_t digest[32];
	SHA256((const unsigned char *)want, strlen(want), digest);
	sf_acme_b64url_encode(digest, 32, want_thumb, sizeof want_thumb);
	assert_int_equal(sf_acme_thumbprint(key, thumb), 0);
	assert_string_equal(thumb, want_thumb);
	assert_string_equal(thumb, TEST_THUMB);
	assert_int_equal(sf_acme_jwk(key, jwk, 20), -1);

	char *ka = sf_acme_key_authorization(key, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA");
	char want_ka[128];
	snprintf(want_ka, sizeof want_ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.%s", want_thumb);
	assert_string_equal(ka, want_ka);
	free(ka);
	EVP_PKEY_free(key);
}

static char *b64url_field(json_t *o, const char *k, size_t *len)
{
	const char *s = json_string_value(json_object_get(o, k));
	assert_non_null(s);
	char *out = malloc(strlen(s) + 1);
	long n = sf_acme_b64url_decode(s, strlen(s), (uint8_t *)out, strlen(s) + 1);
	assert_true(n >= 0);
	out[n] = '\0';
	*len = (size_t)n;
	return out;
}

/* Checks the JWS signature with OpenSSL: raw r||s → DER, ECDSA-SHA256 over protected.payload. */
static int verify_es256(EVP_PKEY *key, const char *protected64, const char *payload64, const uint8_t *sig, size_t sig_len)
{
	if (sig_len != 64)
		return 0;
	ECDSA_SIG *s = ECDSA_SIG_new();
	ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
	unsigned char *der = NULL;
	int der_len = i2d_ECDSA_SIG(s, &der);
	ECDSA_SIG_free(s);
	char input[4096];
	snprintf(input, sizeof input, "%s.%s", protected64, payload64);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
		 EVP_DigestVerify(ctx, der, (size_t)der_len, (unsigned char *)input, strlen(input)) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

static void test_es256_jws_kid(void **state)
{
	(void)state;
	EVP_PKEY *key = sf_acme_account_key_new();
	assert_non_null(key);
	char *jws = sf_acme_jws(key, "https://ca.test/acct/1", "nonce-1", "https://ca.test/new-order",
				"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"snowflake.test\"}]}");
	assert_non_null(jws);
	json_t *o = json_loads(jws, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 3);
	size_t hl, pl, sl;
	char *header = b64url_field(o, "protected", &hl);
	char *payload = b64url_field(o, "payload", &pl);
	char *sig = b64url_field(o, "signature", &sl);
	json_t *h = json_loads(header, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(h, "kid")), "https://ca.test/acct/1");
	assert_string_equal(json_string_value(json_object_get(h, "nonce")), "nonce-1");
	assert_string_equal(json_string_value(json_object_get(h, "url")), "https://ca.test/new-order");
	assert_null(json_object_get(h, "jwk"));
	assert_string_equal(payload, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"snowflake.test\"}]}");
	assert_int_equal(sl, 64);
	const char *p64 = json_string_value(json_object_get(o, "protected"));
	const char *pl64 = json_string_value(json_object_get(o, "payload"));
	assert_true(verify_es256(key, p64, pl64, (uint8_t *)sig, sl));
	/* the same signature must not verify another payload */
	assert_false(verify_es256(key, p64, "e30", (uint8_t *)sig, sl));
	json_decref(h);
	json_decref(o);
	free(header);
	free(payload);
	free(sig);
	free(jws);
	EVP_PKEY_free(key);
}

static void test_es256_jws_jwk_post_as_get(void **state)
{
	(void)state;
	EVP_PKEY *key = fixed_ec_key();
	char *jws = sf_acme_jws(key, NULL, "n2", "https://ca.test/new-acct", NULL);
	json_t *o = json_loads(jws, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "payload")), ""); /* POST-as-GET */
	size_t hl, sl;
	char *header = b64url_field(o, "protected", &hl);
	char *sig = b64url_field(o, "signature", &sl);
	json_t *h = json_loads(header, 0, NULL);
	assert_null(json_object_get(h, "kid"));
	json_t *jwk = json_object_get(h, "jwk");
	assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
	assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "P-256");
	assert_string_equal(json_string_value(json_object_get(jwk, "x")), TEST_X);
	assert_string_equal(json_string_value(json_object_get(jwk, "y")), TEST_Y);
	assert_true(verify_es256(key, json_string_value(json_object_get(o, "protected")), "", (uint8_t *)sig, sl));
	json_decref(h);
	json_decref(o);
	free(header);
	free(sig);
	free(jws);
	EVP_PKEY_free(key);
}

/* An RSA account key (possible in an old cache) signs RS256. */
static void test_rs256_jws(void **state)
{
	(void)state;
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char *jws = sf_acme_jws(key, "kid", "n", "https://ca.test/x", "{}");
	json_t *o = json_loads(jws, 0, NULL);
	size_t hl, sl;
	char *header = b64url_field(o, "protected", &hl);
	char *sig = b64url_field(o, "signature", &sl);
	json_t *h = json_loads(header, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
	char input[2048];
	snprintf(input, sizeof input, "%s.%s", json_string_value(json_object_get(o, "protected")),
		 json_string_value(json_object_get(o, "payload")));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestVerify(ctx, (uint8_t *)sig, sl, (uint8_t *)input, strlen(input)), 1);
	EVP_MD_CTX_free(ctx);
	json_decref(h);
	json_decref(o);
	free(header);
	free(sig);
	free(jws);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_rfc4648_vectors),
		cmocka_unit_test(test_b64url_alphabet_and_errors),
		cmocka_unit_test(test_rfc7638_thumbprint),
		cmocka_unit_test(test_ec_jwk_and_thumbprint),
		cmocka_unit_test(test_es256_jws_kid),
		cmocka_unit_test(test_es256_jws_jwk_post_as_get),
		cmocka_unit_test(test_rs256_jws),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
