/* The pure ClientHello rules: SNI parsing, name normalization, the acme-tls/1-only ALPN test and
 * autocert's ECDSA-or-RSA choice (docs/acme.md "Behaviour", docs/tls.md "Certificate selection"),
 * on hand-made extension bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tls/hello.h"

#define LEN(a) sizeof(a)

/* ---- SNI ---- */

static void test_sni_host_name(void **state)
{
	(void)state;
	static const uint8_t ext[] = { 0, 14, 0, 0, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm' };
	char name[SF_TLS_NAME_BUF];
	assert_int_equal(sf_tls_hello_sni(ext, LEN(ext), name, sizeof name), 1);
	assert_string_equal(name, "example.com");
}

static void test_sni_other_types_skipped(void **state)
{
	(void)state;
	/* type 7 entry first, then the host_name */
	static const uint8_t ext[] = { 0, 10, 7, 0, 2, 'x', 'y', 0, 0, 2, 'a', 'b' };
	char name[SF_TLS_NAME_BUF];
	assert_int_equal(sf_tls_hello_sni(ext, LEN(ext), name, sizeof name), 1);
	assert_string_equal(name, "ab");
	static const uint8_t none[] = { 0, 5, 7, 0, 2, 'x', 'y' };
	assert_int_equal(sf_tls_hello_sni(none, LEN(none), name, sizeof name), 0);
}

static void test_sni_malformed(void **state)
{
	(void)state;
	char name[SF_TLS_NAME_BUF];
	static const uint8_t two_names[] = { 0, 10, 0, 0, 2, 'a', 'b', 0, 0, 2, 'c', 'd' };
	static const uint8_t short_list[] = { 0, 9, 0, 0, 2, 'a', 'b' };
	static const uint8_t trailing[] = { 0, 5, 0, 0, 2, 'a', 'b', 0 };
	static const uint8_t empty_list[] = { 0, 0 };
	static const uint8_t empty_name[] = { 0, 3, 0, 0, 0 };
	static const uint8_t nul_in_name[] = { 0, 5, 0, 0, 2, 'a', 0 };
	static const uint8_t one_byte[] = { 0 };
	assert_int_equal(sf_tls_hello_sni(two_names, LEN(two_names), name, sizeof name), -1);
	assert_int_equal(sf_tls_hello_sni(short_list, LEN(short_list), name, sizeof name), -1);
	assert_int_equal(sf_tls_hello_sni(trailing, LEN(trailing), name, sizeof name), -1);
	assert_int_equal(sf_tls_hello_sni(empty_list, LEN(empty_list), name, sizeof name), -1);
	assert_int_equal(sf_tls_hello_sni(empty_name, LEN(empty_name), name, sizeof name), -1);
	assert_int_equal(sf_tls_hello_sni(nul_in_name, LEN(nul_in_name), name, sizeof name), -1);
	assert_int_equal(sf_tls_hello_sni(one_byte, LEN(one_byte), name, sizeof name), -1);
	assert_int_equal(sf_tls_hello_sni(NULL, 0, name, sizeof name), -1);
}

static void test_sni_too_long(void **state)
{
	(void)state;
	uint8_t ext[5 + 300];
	size_t n = 300;
	ext[0] = (uint8_t)((n + 3) >> 8);
	ext[1] = (uint8_t)(n + 3);
	ext[2] = 0;
	ext[3] = (uint8_t)(n >> 8);
	ext[4] = (uint8_t)n;
	memset(ext + 5, 'a', n);
	char name[SF_TLS_NAME_BUF];
	assert_int_equal(sf_tls_hello_sni(ext, sizeof ext, name, sizeof name), -1);
}


/* ---- ALPN ---- */

static void test_alpn_acme_only(void **state)
{
	(void)state;
	static const uint8_t acme[] = "\x0a" "acme-tls/1";
	static const uint8_t acme_http[] = "\x0a" "acme-tls/1" "\x08" "http/1.1";
	static const uint8_t http_acme[] = "\x08" "http/1.1" "\x0a" "acme-tls/1";
	static const uint8_t h2[] = "\x02" "h2";
	static const uint8_t acme_prefix[] = "\x09" "acme-tls/";
	static const uint8_t truncated[] = "\x0b" "acme-tls/1";
	static const uint8_t zero[] = "\x00";
	assert_int_equal(sf_tls_alpn_acme_only(acme, LEN(acme) - 1), 1);
	assert_int_equal(sf_tls_alpn_acme_only(acme_http, LEN(acme_http) - 1), 0);
	assert_int_equal(sf_tls_alpn_acme_only(http_acme, LEN(http_acme) - 1), 0);
	assert_int_equal(sf_tls_alpn_acme_only(h2, LEN(h2) - 1), 0);
	assert_int_equal(sf_tls_alpn_acme_only(acme_prefix, LEN(acme_prefix) - 1), 0);
	assert_int_equal(sf_tls_alpn_acme_only(truncated, LEN(truncated) - 1), -1);
	assert_int_equal(sf_tls_alpn_acme_only(zero, 1), -1);
	assert_int_equal(sf_tls_alpn_acme_only(NULL, 0), 0);
}

/* ---- ECDSA or RSA (docs/tls.md "Certificate selection") ---- */

static const uint8_t ECDSA_SUITES[] = { 0x13, 0x01, 0xC0, 0x2B, 0xC0, 0x2F };
static const uint8_t TLS13_ONLY[] = { 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0x00, 0xFF };
static const uint8_t RSA_SUITES[] = { 0xC0, 0x2F, 0xC0, 0x30, 0xCC, 0xA8 };

static int wants_rsa(const uint8_t *sig, size_t sig_len, const uint8_t *grp, size_t grp_len,
		     const uint8_t *suites, size_t suites_len)
{
	return sf_tls_hello_wants_rsa(sig, sig_len, grp, grp_len, suites, suites_len);
}

static void test_rsa_choice_ciphers(void **state)
{
	(void)state;
	/* rule 3 alone: every ECDHE_ECDSA suite counts, nothing else does */
	assert_int_equal(wants_rsa(NULL, 0, NULL, 0, ECDSA_SUITES, LEN(ECDSA_SUITES)), 0);
	assert_int_equal(wants_rsa(NULL, 0, NULL, 0, TLS13_ONLY, LEN(TLS13_ONLY)), 1);
	assert_int_equal(wants_rsa(NULL, 0, NULL, 0, RSA_SUITES, LEN(RSA_SUITES)), 1);
	assert_int_equal(wants_rsa(NULL, 0, NULL, 0, NULL, 0), 1);
	static const uint16_t ecdsa[] = { 0xC007, 0xC009, 0xC00A, 0xC023, 0xC02B, 0xC02C, 0xCCA9 };
	for (size_t i = 0; i < sizeof ecdsa / sizeof ecdsa[0]; i++) {
		uint8_t one[2] = { (uint8_t)(ecdsa[i] >> 8), (uint8_t)ecdsa[i] };
		assert_int_equal(wants_rsa(NULL, 0, NULL, 0, one, 2), 0);
	}
	static const uint8_t near_miss[] = { 0xC0, 0x08, 0xC0, 0x24, 0xC0, 0x2D, 0xCC, 0xAA };
	assert_int_equal(wants_rsa(NULL, 0, NULL, 0, near_miss, LEN(near_miss)), 1);
}

static void test_rsa_choice_sigalgs(void **state)
{
	(void)state;
	static const uint8_t rsa_only[] = { 0, 6, 0x04, 0x01, 0x08, 0x04, 0x08, 0x09 };
	static const uint8_t with_p256[] = { 0, 4, 0x08, 0x04, 0x04, 0x03 };
	static const uint8_t with_sha1[] = { 0, 4, 0x02, 0x01, 0x02, 0x03 };
	static const uint8_t with_p521[] = { 0, 2, 0x06, 0x03 };
	static const uint8_t ed25519[] = { 0, 2, 0x08, 0x07 };
	const uint8_t *s = ECDSA_SUITES;
	size_t sl = LEN(ECDSA_SUITES);
	assert_int_equal(wants_rsa(rsa_only, LEN(rsa_only), NULL, 0, s, sl), 1);
	assert_int_equal(wants_rsa(with_p256, LEN(with_p256), NULL, 0, s, sl), 0);
	assert_int_equal(wants_rsa(with_sha1, LEN(with_sha1), NULL, 0, s, sl), 0);
	assert_int_equal(wants_rsa(with_p521, LEN(with_p521), NULL, 0, s, sl), 0);
	assert_int_equal(wants_rsa(ed25519, LEN(ed25519), NULL, 0, s, sl), 1);
	/* ECDSA signatures but no ECDSA suite: still RSA */
	assert_int_equal(wants_rsa(with_p256, LEN(with_p256), NULL, 0, TLS13_ONLY, LEN(TLS13_ONLY)), 1);
}

static void test_rsa_choice_groups(void **state)
{
	(void)state;
	static const uint8_t x25519[] = { 0, 2, 0x00, 0x1d };
	static const uint8_t x25519_p256[] = { 0, 4, 0x00, 0x1d, 0x00, 0x17 };
	static const uint8_t p384[] = { 0, 2, 0x00, 0x18 };
	const uint8_t *s = ECDSA_SUITES;
	size_t sl = LEN(ECDSA_SUITES);
	assert_int_equal(wants_rsa(NULL, 0, x25519, LEN(x25519), s, sl), 1);
	assert_int_equal(wants_rsa(NULL, 0, x25519_p256, LEN(x25519_p256), s, sl), 0);
	assert_int_equal(wants_rsa(NULL, 0, p384, LEN(p384), s, sl), 1);
}

static void test_rsa_choice_malformed(void **state)
{
	(void)state;
	static const uint8_t odd_suites[] = { 0xC0, 0x2B, 0x13 };
	static const uint8_t bad_len[] = { 0, 4, 0x04, 0x03 };
	static const uint8_t odd_list[] = { 0, 3, 0x04, 0x03, 0x05 };
	static const uint8_t empty[] = { 0, 0 };
	static const uint8_t trailing[] = { 0, 2, 0x00, 0x17, 0x00 };
	const uint8_t *s = ECDSA_SUITES;
	size_t sl = LEN(ECDSA_SUITES);
	assert_int_equal(wants_rsa(NULL, 0, NULL, 0, odd_suites, LEN(odd_suites)), -1);
	assert_int_equal(wants_rsa(bad_len, LEN(bad_len), NULL, 0, s, sl), -1);
	assert_int_equal(wants_rsa(odd_list, LEN(odd_list), NULL, 0, s, sl), -1);
	assert_int_equal(wants_rsa(empty, LEN(empty), NULL, 0, s, sl), -1);
	assert_int_equal(wants_rsa(NULL, 0, empty, LEN(empty), s, sl), -1);
	assert_int_equal(wants_rsa(NULL, 0, trailing, LEN(trailing), s, sl), -1);
	assert_int_equal(wants_rsa(NULL, 0, bad_len, 1, s, sl), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sni_host_name),
		cmocka_unit_test(test_sni_other_types_skipped),
		cmocka_unit_test(test_sni_malformed),
		cmocka_unit_test(test_sni_too_long),
		cmocka_unit_test(test_alpn_acme_only),
		cmocka_unit_test(test_rsa_choice_ciphers),
		cmocka_unit_test(test_rsa_choice_sigalgs),
		cmocka_unit_test(test_rsa_choice_groups),
		cmocka_unit_test(test_rsa_choice_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
