#include "acme/jws.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long sf_acme_b64url_encode(const void *in, size_t len, char *out, size_t cap)
{
	const uint8_t *p = in;
	size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
	if (need + 1 > cap)
		return -1;
	size_t o = 0, i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return (long)o;
}

char *sf_acme_b64url_encode_alloc(const void *in, size_t len)
{
	size_t cap = len / 3 * 4 + 5;
	char *out = malloc(cap);
	if (out && sf_acme_b64url_encode(in, len, out, cap) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long sf_acme_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	if (len % 4 == 1)
		return -1;
	size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	if (need > cap)
		return -1;
	uint32_t acc = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			out[o++] = (uint8_t)(acc >> 16);
			out[o++] = (uint8_t)(acc >> 8);
			out[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	/* Trailing bits that do not fit a byte must be zero (strict decoding, as Go's). */
	if (len % 4 == 2) {
		if (acc & 0xf)
			return -1;
		out[o++] = (uint8_t)(acc >> 4);
	} else if (len % 4 == 3) {
		if (acc & 0x3)
			return -1;
		out[o++] = (uint8_t)(acc >> 10);
		out[o++] = (uint8_t)(acc >> 2);
	}
	return (long)o;
}

EVP_PKEY *sf_acme_account_key_new(void)
{
	return EVP_EC_gen("P-256");
}

/* The EC curves JWS knows: name, alg, digest, coordinate size. */
struct ec_curve {
	const char *group; /* OpenSSL group name */
	const char *crv;
	const char *alg;
	size_t size;
};

static const struct ec_curve ec_curves[] = {
	{ "prime256v1", "P-256", "ES256", 32 },
	{ "secp384r1", "P-384", "ES384", 48 },
	{ "secp521r1", "P-521", "ES512", 66 },
};

static const struct ec_curve *key_curve(EVP_PKEY *key)
{
	char group[64];
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL))
		return NULL;
	for (size_t i = 0; i < sizeof ec_curves / sizeof ec_curves[0]; i++)
		if (strcmp(group, ec_curves[i].group) == 0)
			return &ec_curves[i];
	return NULL;
}

/* A big-endian number as base64url, left-padded to size bytes (0: minimal length). */
static int bn_b64url(EVP_PKEY *key, const char *param, size_t size, char *out, size_t cap)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int rc = -1;
	if (!EVP_PKEY_get_bn_param(key, param, &bn))
		return -1;
	int n = size ? (BN_num_bytes(bn) <= (int)size ? (int)size : -1) : BN_num_bytes(bn);
	if (n > 0 && (size_t)n <= sizeof buf && BN_bn2binpad(bn, buf, n) == n &&
	    sf_acme_b64url_encode(buf, (size_t)n, out, cap) >= 0)
		rc = 0;
	BN_free(bn);
	return rc;
}

long sf_acme_jwk(EVP_PKEY *key, char *out, size_t cap)
{
	int n;
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		char e[64], m[1400];
		if (bn_b64url(key, OSSL_PKEY_PARAM_RSA_E, 0, e, sizeof e) ||
		    bn_b64url(key, OSSL_PKEY_PARAM_RSA_N, 0, m, sizeof m))
			return -1;
		n = snprintf(out, cap, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, m);
	} else {
		const struct ec_curve *curve = key_curve(key);
		char x[96], y[96];
		if (!curve || bn_b64url(key, OSSL_PKEY_PARAM_EC_PUB_X, curve->size, x, sizeof x) ||
		    bn_b64url(key, OSSL_PKEY_PARAM_EC_PUB_Y, curve->size, y, sizeof y))
			return -1;
		n = snprintf(out, cap, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
			     curve->crv, x, y);
	}
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int sf_acme_thumbprint(EVP_PKEY *key, char *out)
{
	char jwk[2048];
	long n = sf_acme_jwk(key, jwk, sizeof jwk);
	if (n < 0)
		return -1;
	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)jwk, (size_t)n, digest);
	return sf_acme_b64url_encode(digest, sizeof digest, out, SF_ACME_THUMBPRINT_LEN) < 0 ? -1 : 0;
}

char *sf_acme_key_authorization(EVP_PKEY *key, const char *token)
{
	char thumb[SF_ACME_THUMBPRINT_LEN];
	if (sf_acme_thumbprint(key, thumb))
		return NULL;
	size_t len = strlen(token) + 1 + strlen(thumb) + 1;
	char *ka = malloc(len);
	if (ka)
		snprintf(ka, len, "%s.%s", token, thumb);
	return ka;
}

/* JWS ECDSA signatures are r||s, each left-padded to the coordinate size, not DER. */
static int ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t size, uint8_t *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!sig)
		return -1;
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(sig, &r, &s);
	int ok = BN_bn2binpad(r, out, (int)size) == (int)size &&
		 BN_bn2binpad(s, out + size, (int)size) == (int)size;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

/* Signs "protected.payload"; returns the base64url signature (malloc'd) or NULL. */
static char *sign_b64url(EVP_PKEY *key, const char *md_name, const struct ec_curve *curve,
			 const char *input)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t sig[1024], raw[2 * 66];
	size_t sig_len = sizeof sig;
	char *out = NULL;
	if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, md_name, NULL, NULL, key, NULL) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, strlen(input)) != 1)
		goto done;
	if (curve) {
		if (ecdsa_der_to_raw(sig, sig_len, curve->size, raw))
			goto done;
		out = sf_acme_b64url_encode_alloc(raw, 2 * curve->size);
	} else {
		out = sf_acme_b64url_encode_alloc(sig, sig_len);
	}
done:
	EVP_MD_CTX_free(ctx);
	return out;
}

static char *protected_header(EVP_PKEY *key, const char *alg, const char *kid, const char *nonce,
			      const char *url)
{
	json_t *h = json_object();
	char *out = NULL;
	if (!h || json_object_set_new(h, "alg", json_string(alg)))
		goto done;
	if (kid) {
		if (json_object_set_new(h, "kid", json_string(kid)))
			goto done;
	} else {
		char jwk[2048];
		if (sf_acme_jwk(key, jwk, sizeof jwk) < 0 ||
		    json_object_set_new(h, "jwk", json_loads(jwk, 0, NULL)))
			goto done;
	}
	if (nonce && json_object_set_new(h, "nonce", json_string(nonce)))
		goto done;
	if (json_object_set_new(h, "url", json_string(url)))
		goto done;
	out = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
done:
	json_decref(h);
	return out;
}

char *sf_acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
		  const char *payload_json)
{
	const struct ec_curve *curve = NULL;
	const char *alg = "RS256", *md = "SHA256";
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		curve = key_curve(key);
		if (!curve)
			return NULL;
		alg = curve->alg;
		md = curve->size == 32 ? "SHA256" : curve->size == 48 ? "SHA384" : "SHA512";
	}
	char *header = protected_header(key, alg, kid, nonce, url);
	char *p64 = header ? sf_acme_b64url_encode_alloc(header, strlen(header)) : NULL;
	char *pl64 = sf_acme_b64url_encode_alloc(payload_json ? payload_json : "",
						 payload_json ? strlen(payload_json) : 0);
	char *input = NULL, *sig = NULL, *out = NULL;
	if (!p64 || !pl64)
		goto done;
	size_t len = strlen(p64) + 1 + strlen(pl64) + 1;
	input = malloc(len);
	if (!input)
		goto done;
	snprintf(input, len, "%s.%s", p64, pl64);
	sig = sign_b64url(key, md, curve, input);
	if (!sig)
		goto done;
	json_t *jws = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", pl64, "signature", sig);
	if (jws) {
		out = json_dumps(jws, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(jws);
	}
done:
	free(sig);
	free(input);
	free(pl64);
	free(p64);
	free(header);
	return out;
}
