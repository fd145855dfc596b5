/* Helpers shared by the tests of src/acme (header-only: each test is its own program):
 * a throw-away CA that signs leaf certificates with chosen names, dates and issuer, and PEM text
 * built the way Go's encoding/pem writes it (independently of src/acme/pem.c). */
#ifndef SF_ACME_TEST_UTIL_H
#define SF_ACME_TEST_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct acme_test_ca {
	EVP_PKEY *key;
	X509 *cert;
};

static inline int acme_test_set_time(ASN1_TIME *t, time_t when)
{
	return ASN1_TIME_set(t, when) ? 0 : -1;
}

/* issuer_org: the issuer's O ("Let's Encrypt" to exercise autocert's revocation rule), or NULL. */
static inline int acme_test_ca_init(struct acme_test_ca *ca, const char *issuer_org)
{
	ca->key = EVP_EC_gen("P-256");
	ca->cert = X509_new();
	if (!ca->key || !ca->cert)
		return -1;
	X509_NAME *n = X509_get_subject_name(ca->cert);
	if (issuer_org)
		X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)issuer_org, -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"acme test CA", -1, -1, 0);
	X509_set_issuer_name(ca->cert, n);
	X509_set_version(ca->cert, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(ca->cert), 1000);
	time_t now = time(NULL);
	acme_test_set_time(X509_getm_notBefore(ca->cert), now - 86400L * 2000);
	acme_test_set_time(X509_getm_notAfter(ca->cert), now + 86400L * 2000);
	X509_set_pubkey(ca->cert, ca->key);
	return X509_sign(ca->cert, ca->key, EVP_sha256()) > 0 ? 0 : -1;
}

static inline void acme_test_ca_free(struct acme_test_ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
}

/* A leaf for key with SAN dNSName san (NULL: none), valid [nb, na], signed by ca. */
static inline X509 *acme_test_leaf(struct acme_test_ca *ca, EVP_PKEY *key, const char *san, time_t nb,
				   time_t na)
{
	static long serial = 2000;
	X509 *x = X509_new();
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)(san ? san : "no-san"), -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca->cert));
	acme_test_set_time(X509_getm_notBefore(x), nb);
	acme_test_set_time(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, key);
	if (san) {
		char conf[300];
		snprintf(conf, sizeof conf, "DNS:%s", san);
		X509V3_CTX ctx;
		X509V3_set_ctx_nodb(&ctx);
		X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, conf);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, ca->key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Appends one PEM block as Go's pem.Encode: padded standard base64, 64 columns, "\n" endings. */
static inline void acme_test_go_pem(char *out, size_t cap, const char *type, const unsigned char *der, int len)
{
	unsigned char *b64 = malloc((size_t)(4 * ((len + 2) / 3) + 1));
	int n = EVP_EncodeBlock(b64, der, len);
	size_t o = strlen(out);
	o += (size_t)snprintf(out + o, cap - o, "-----BEGIN %s-----\n", type);
	for (int i = 0; i < n; i += 64)
		o += (size_t)snprintf(out + o, cap - o, "%.*s\n", n - i < 64 ? n - i : 64, b64 + i);
	snprintf(out + o, cap - o, "-----END %s-----\n", type);
	free(b64);
}

static inline void acme_test_go_pem_key(char *out, size_t cap, EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int n = i2d_PrivateKey(key, &der); /* SEC1 for EC, PKCS#1 for RSA: Go's Marshal* forms */
	acme_test_go_pem(out, cap, EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? "EC PRIVATE KEY" : "RSA PRIVATE KEY",
			 der, n);
	OPENSSL_clear_free(der, (size_t)n);
}

static inline void acme_test_go_pem_cert(char *out, size_t cap, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	acme_test_go_pem(out, cap, "CERTIFICATE", der, n);
	OPENSSL_free(der);
}

static inline int acme_test_write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(data, 1, len, f);
	return fclose(f) == 0 && w == len ? 0 : -1;
}

/* rm -r of a test directory (one level of subdirectories is enough here). */
static inline void acme_test_rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	char path[1024];
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
			continue;
		if (unlink(path))
			acme_test_rmtree(path);
	}
	closedir(d);
	rmdir(dir);
}

#endif
