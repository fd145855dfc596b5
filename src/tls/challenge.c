#include "tls/challenge.h"

#include "tls/hello.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

static bool add_conf_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	bool ok = ext && X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/* Built from objects, not from a config string, so that no byte of name is ever parsed. */
static bool add_san(X509 *x, const char *name)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
	bool ok = names && gn && dns && ASN1_STRING_set(dns, name, (int)strlen(name)) == 1;
	if (ok) {
		GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
		dns = NULL;
		ok = sk_GENERAL_NAME_push(names, gn) > 0;
		if (ok)
			gn = NULL;
	}
	ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_APPEND) == 1;
	ASN1_IA5STRING_free(dns);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return ok;
}

static bool add_acme_identifier(X509 *x, const char *key_auth)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA256((const uint8_t *)key_auth, strlen(key_auth), digest);

	/* extnValue holds the DER of an OCTET STRING wrapping the digest */
	ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid = OBJ_txt2obj(SF_TLS_ACME_IDENTIFIER_OID, 1);
	uint8_t *der = NULL;
	int der_len = -1;
	X509_EXTENSION *ext = NULL;
	bool ok = false;
	if (inner && value && oid && ASN1_OCTET_STRING_set(inner, digest, sizeof digest) == 1 &&
	    (der_len = i2d_ASN1_OCTET_STRING(inner, &der)) > 0 &&
	    ASN1_OCTET_STRING_set(value, der, der_len) == 1 &&
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, value)))
		ok = X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	OPENSSL_free(der);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(value);
	ASN1_OCTET_STRING_free(inner);
	return ok;
}

static bool build(X509 *x, EVP_PKEY *key, const char *name, const char *key_auth)
{
	X509_NAME *subject = X509_get_subject_name(x);
	return X509_set_version(x, X509_VERSION_3) == 1 &&
	       ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
	       X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
	       X509_gmtime_adj(X509_getm_notAfter(x), 24 * 60 * 60) &&
	       X509_set_pubkey(x, key) == 1 &&
	       X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_ASC,
					  (const unsigned char *)name, -1, -1, 0) == 1 &&
	       X509_set_issuer_name(x, subject) == 1 &&
	       add_conf_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
	       add_conf_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
	       add_conf_ext(x, NID_ext_key_usage, "serverAuth") &&
	       add_san(x, name) &&
	       add_acme_identifier(x, key_auth) &&
	       X509_sign(x, key, EVP_sha256()) > 0;
}

struct sf_tls_cert *sf_tls_challenge_cert(const char *name, const char *key_auth, char *err,
					  size_t errlen)
{
	char host[SF_TLS_NAME_BUF];
	if (snprintf(host, sizeof host, "%s", name) >= (int)sizeof host ||
	    sf_tls_name_normalize(host, false)) {
		snprintf(err, errlen, "tls: invalid challenge name");
		return NULL;
	}
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	struct sf_tls_cert *cert = NULL;
	if (key && x && build(x, key, host, key_auth))
		cert = sf_tls_cert_new(key, x, NULL);
	if (!cert) {
		unsigned long e = ERR_get_error();
		const char *why = e ? ERR_reason_error_string(e) : NULL;
		snprintf(err, errlen, "tls: building the challenge certificate: %s",
			 why ? why : "failed");
	}
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(key);
	return cert;
}
