#include "acme/cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

/* Let's Encrypt revoked the TLS-ALPN-01 certificates issued before this instant
 * (2022-01-26 00:48:00 UTC); autocert refuses them from its cache. */
#define LE_FIX_DEPLOY_TIME ((time_t)1643158080)

struct sf_acme_cert *sf_acme_cert_new(EVP_PKEY *key, STACK_OF(X509) *chain)
{
	if (!key || !chain || sk_X509_num(chain) < 1)
		return NULL;
	X509 *leaf = sk_X509_value(chain, 0);
	time_t nb = sf_acme_asn1_time(X509_get0_notBefore(leaf));
	time_t na = sf_acme_asn1_time(X509_get0_notAfter(leaf));
	if (nb == (time_t)-1 || na == (time_t)-1)
		return NULL;
	struct sf_acme_cert *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->key = key;
	c->chain = chain;
	c->not_before = nb;
	c->not_after = na;
	return c;
}

struct sf_acme_cert *sf_acme_cert_dup(const struct sf_acme_cert *c)
{
	if (!c)
		return NULL;
	struct sf_acme_cert *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->chain = X509_chain_up_ref(c->chain);
	if (!d->chain || !EVP_PKEY_up_ref(c->key)) {
		sk_X509_pop_free(d->chain, X509_free);
		free(d);
		return NULL;
	}
	d->key = c->key;
	d->not_before = c->not_before;
	d->not_after = c->not_after;
	return d;
}

void sf_acme_cert_free(struct sf_acme_cert *c)
{
	if (!c)
		return;
	EVP_PKEY_free(c->key);
	sk_X509_pop_free(c->chain, X509_free);
	free(c);
}

time_t sf_acme_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;
	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return (time_t)-1;
	return timegm(&tm);
}

static bool issued_by_lets_encrypt(X509 *leaf)
{
	const X509_NAME *issuer = X509_get_issuer_name(leaf);
	int count = 0, pos = -1;
	bool is_le = false;
	while ((pos = X509_NAME_get_index_by_NID(issuer, NID_organizationName, pos)) >= 0) {
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(issuer, pos));
		static const char le[] = "Let's Encrypt";
		is_le = ASN1_STRING_length(v) == (int)strlen(le) &&
			memcmp(ASN1_STRING_get0_data(v), le, strlen(le)) == 0;
		count++;
	}
	return count == 1 && is_le;
}

int sf_acme_cert_check(const struct sf_acme_cert *c, const char *name, enum sf_acme_cert_kind kind,
		       time_t now, char *err, size_t errlen)
{
	if (!c || !c->key || !c->chain || sk_X509_num(c->chain) < 1) {
		snprintf(err, errlen, "acme/autocert: no public key found");
		return -1;
	}
	X509 *leaf = sf_acme_cert_leaf(c);
	if (now < c->not_before) {
		snprintf(err, errlen, "acme/autocert: certificate is not valid yet");
		return -1;
	}
	if (now > c->not_after) {
		snprintf(err, errlen, "acme/autocert: expired certificate");
		return -1;
	}
	/* Go's VerifyHostname: SAN only (CN ignored), wildcard only as a whole left label */
	unsigned flags = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
	if (X509_check_host(leaf, name, strlen(name), flags, NULL) != 1) {
		snprintf(err, errlen, "x509: certificate is not valid for %s", name);
		return -1;
	}
	if (issued_by_lets_encrypt(leaf) && c->not_before < LE_FIX_DEPLOY_TIME) {
		snprintf(err, errlen, "acme/autocert: certificate was probably revoked by Let's Encrypt");
		return -1;
	}
	EVP_PKEY *pub = X509_get0_pubkey(leaf);
	int type = pub ? EVP_PKEY_get_base_id(pub) : 0;
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
		snprintf(err, errlen, "acme/autocert: unknown public key algorithm");
		return -1;
	}
	if (EVP_PKEY_get_base_id(c->key) != type) {
		snprintf(err, errlen, "acme/autocert: private key type does not match public key type");
		return -1;
	}
	if (EVP_PKEY_eq(pub, c->key) != 1) {
		snprintf(err, errlen, "acme/autocert: private key does not match public key");
		return -1;
	}
	if ((type == EVP_PKEY_RSA && kind == SF_ACME_CERT_EC) ||
	    (type == EVP_PKEY_EC && kind == SF_ACME_CERT_RSA)) {
		snprintf(err, errlen, "acme/autocert: key type does not match expected value");
		return -1;
	}
	return 0;
}

EVP_PKEY *sf_acme_cert_key_new(enum sf_acme_cert_kind kind)
{
	if (kind == SF_ACME_CERT_RSA)
		return EVP_RSA_gen(2048);
	return EVP_EC_gen("P-256");
}

/* One dNSName; used for the CSR and the challenge certificate. */
static X509_EXTENSION *san_extension(const char *name)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	X509_EXTENSION *ext = NULL;
	if (!names || !gn || !ia5 || !ASN1_STRING_set(ia5, name, (int)strlen(name))) {
		ASN1_IA5STRING_free(ia5);
		GENERAL_NAME_free(gn);
		sk_GENERAL_NAME_free(names);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
	if (sk_GENERAL_NAME_push(names, gn))
		ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
	else
		GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return ext;
}

static X509_NAME *common_name(const char *name)
{
	X509_NAME *n = X509_NAME_new();
	if (n && !X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (const unsigned char *)name,
					     -1, -1, 0)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

int sf_acme_csr_der(EVP_PKEY *key, const char *name, uint8_t **der, size_t *der_len)
{
	int rc = -1;
	X509_REQ *req = X509_REQ_new();
	X509_NAME *subject = common_name(name);
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *san = san_extension(name);
	if (!req || !subject || !exts || !san)
		goto out;
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) || !X509_REQ_set_subject_name(req, subject) ||
	    !X509_REQ_set_pubkey(req, key) || !sk_X509_EXTENSION_push(exts, san))
		goto out;
	san = NULL;
	if (!X509_REQ_add_extensions(req, exts) || X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		goto out;
	unsigned char *buf = NULL;
	int n = i2d_X509_REQ(req, &buf);
	if (n <= 0)
		goto out;
	*der = buf;
	*der_len = (size_t)n;
	rc = 0;
out:
	X509_EXTENSION_free(san);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(subject);
	X509_REQ_free(req);
	return rc;
}

static int add_ext(X509 *x, int nid, bool critical, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	char conf[128];
	snprintf(conf, sizeof conf, "%s%s", critical ? "critical," : "", value);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, conf);
	int ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* id-pe-acmeIdentifier (RFC 8737): critical, value = DER OCTET STRING of the digest. */
static int add_acme_identifier(X509 *x, const char *key_authorization)
{
	uint8_t value[2 + SHA256_DIGEST_LENGTH] = { 0x04, SHA256_DIGEST_LENGTH };
	SHA256((const unsigned char *)key_authorization, strlen(key_authorization), value + 2);
	ASN1_OBJECT *oid = OBJ_txt2obj(SF_ACME_IDENTIFIER_OID, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	if (oid && os && ASN1_OCTET_STRING_set(os, value, sizeof value))
		ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, os);
	int ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
	return ok ? 0 : -1;
}

int sf_acme_tlsalpn01_cert(void *arg, const char *name, const char *key_authorization,
			   struct sf_acme_cert **out, char *err, size_t errlen)
{
	(void)arg;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *cn = common_name(name);
	X509_EXTENSION *san = san_extension(name);
	STACK_OF(X509) *chain = NULL;
	int rc = -1;
	if (!key || !x || !cn || !san)
		goto out;
	if (!X509_set_version(x, X509_VERSION_3) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) || !X509_set_subject_name(x, cn) ||
	    !X509_set_issuer_name(x, cn) || !X509_set_pubkey(x, key))
		goto out;
	if (add_ext(x, NID_basic_constraints, true, "CA:FALSE") ||
	    add_ext(x, NID_key_usage, true, "digitalSignature,keyEncipherment") ||
	    add_ext(x, NID_ext_key_usage, false, "serverAuth") || !X509_add_ext(x, san, -1) ||
	    add_acme_identifier(x, key_authorization))
		goto out;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	chain = sk_X509_new_null();
	if (!chain || !sk_X509_push(chain, x))
		goto out;
	x = NULL;
	*out = sf_acme_cert_new(key, chain);
	if (*out) {
		key = NULL;
		chain = NULL;
		rc = 0;
	}
out:
	if (rc)
		snprintf(err, errlen, "acme: cannot build the tls-alpn-01 certificate for %s", name);
	sk_X509_pop_free(chain, X509_free);
	X509_EXTENSION_free(san);
	X509_NAME_free(cn);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}
