/* TLS 1.3 record protection; see record.h. Each record: nonce = IV XOR the 64-bit sequence number
 * (left-padded), additional data = the 5-byte record header, TLSInnerPlaintext = content ||
 * content type || zero padding. */
#include "tls/record.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>

enum { SUITE_AES128, SUITE_AES256, SUITE_CHACHA, N_SUITES };

static const struct suite_info {
	uint16_t id;
	const char *cipher;
	const char *digest;
	size_t key_len, hash_len;
} suites[N_SUITES] = {
	[SUITE_AES128] = { 0x1301, "AES-128-GCM", "SHA256", 16, 32 },
	[SUITE_AES256] = { 0x1302, "AES-256-GCM", "SHA384", 32, 48 },
	[SUITE_CHACHA] = { 0x1303, "ChaCha20-Poly1305", "SHA256", 32, 32 },
};

/* Fetched once: an implicit fetch per EVP_CipherInit_ex would look the algorithm up by name. */
static EVP_CIPHER *ciphers[N_SUITES];
static EVP_KDF *hkdf;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
	for (int i = 0; i < N_SUITES; i++)
		ciphers[i] = EVP_CIPHER_fetch(NULL, suites[i].cipher, NULL);
	hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	ERR_clear_error();
}

static const struct suite_info *find(uint16_t suite, EVP_CIPHER **cipher)
{
	pthread_once(&fetch_once, fetch_all);
	for (int i = 0; i < N_SUITES; i++) {
		if (suites[i].id != suite)
			continue;
		if (!ciphers[i] || !hkdf)
			return NULL;
		if (cipher)
			*cipher = ciphers[i];
		return &suites[i];
	}
	return NULL;
}

bool sf_tls_suite_supported(uint16_t suite)
{
	return find(suite, NULL) != NULL;
}

size_t sf_tls_suite_hash_len(uint16_t suite)
{
	const struct suite_info *s = find(suite, NULL);
	return s ? s->hash_len : 0;
}

int sf_tls_expand_label(uint16_t suite, const uint8_t *secret, size_t secret_len,
			const char *label, uint8_t *out, size_t out_len)
{
	const struct suite_info *s = find(suite, NULL);
	size_t label_len = strlen(label);
	if (!s || out_len > s->hash_len || label_len > 249)
		return -1;
	/* struct { uint16 length; opaque label<7..255> = "tls13 " + label; opaque context<0..255>; } */
	uint8_t info[2 + 1 + 255 + 1];
	size_t n = 0;
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(6 + label_len);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, label_len);
	n += label_len;
	info[n++] = 0;	/* empty context */

	EVP_KDF_CTX *k = EVP_KDF_CTX_new(hkdf);
	if (!k)
		return -1;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)s->digest, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
		OSSL_PARAM_construct_end(),
	};
	int ok = EVP_KDF_derive(k, out, out_len, params);
	EVP_KDF_CTX_free(k);
	OPENSSL_cleanse(info, sizeof info);
	if (ok != 1) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Key and IV from a->secret; a new cipher context keyed with them. */
static int derive(struct sf_tls_aead *a)
{
	EVP_CIPHER *cipher = NULL;
	const struct suite_info *s = find(a->suite, &cipher);
	uint8_t key[32];
	if (!s || sf_tls_expand_label(a->suite, a->secret, a->secret_len, "key", key, s->key_len) ||
	    sf_tls_expand_label(a->suite, a->secret, a->secret_len, "iv", a->iv, sizeof a->iv))
		return -1;
	if (!a->ctx && !(a->ctx = EVP_CIPHER_CTX_new())) {
		OPENSSL_cleanse(key, sizeof key);
		return -1;
	}
	int ok = EVP_CipherInit_ex(a->ctx, cipher, NULL, key, NULL, a->seal ? 1 : 0);
	OPENSSL_cleanse(key, sizeof key);
	if (ok != 1) {
		ERR_clear_error();
		return -1;
	}
	a->seq = 0;
	return 0;
}

int sf_tls_aead_init(struct sf_tls_aead *a, uint16_t suite, const uint8_t *secret, size_t len,
		     bool seal)
{
	memset(a, 0, sizeof *a);
	const struct suite_info *s = find(suite, NULL);
	if (!s || len != s->hash_len)
		return -1;
	a->suite = suite;
	a->seal = seal;
	memcpy(a->secret, secret, len);
	a->secret_len = len;
	if (derive(a) < 0) {
		sf_tls_aead_clear(a);
		return -1;
	}
	return 0;
}

int sf_tls_aead_update(struct sf_tls_aead *a)
{
	uint8_t next[SF_TLS_SECRET_MAX];
	if (sf_tls_expand_label(a->suite, a->secret, a->secret_len, "traffic upd", next,
				a->secret_len))
		return -1;
	memcpy(a->secret, next, a->secret_len);
	OPENSSL_cleanse(next, sizeof next);
	return derive(a);
}

void sf_tls_aead_clear(struct sf_tls_aead *a)
{
	EVP_CIPHER_CTX_free(a->ctx);
	OPENSSL_cleanse(a, sizeof *a);
	a->ctx = NULL;
}

/* Sets the per-record nonce and feeds the header as additional data. */
static bool start(struct sf_tls_aead *a, const uint8_t *header)
{
	if (a->seq == UINT64_MAX)	/* §5.3: never wrap; 2^64-1 records is not reached */
		return false;
	uint8_t nonce[12];
	memcpy(nonce, a->iv, sizeof nonce);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(a->seq >> (8 * i));
	int outl = 0;
	return EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, -1) == 1 &&
	       EVP_CipherUpdate(a->ctx, NULL, &outl, header, SF_TLS_REC_HEADER) == 1;
}

/* The header of a record of n bytes of content; false if n is too large. */
static bool put_header(uint8_t *rec, size_t n)
{
	if (n > SF_TLS_REC_MAX_PLAIN)
		return false;
	size_t body = n + 1 + SF_TLS_REC_TAG;
	rec[0] = SF_TLS_CT_APPLICATION_DATA;
	rec[1] = 0x03;
	rec[2] = 0x03;
	rec[3] = (uint8_t)(body >> 8);
	rec[4] = (uint8_t)body;
	return true;
}

/* Encrypts the content type after the content (at p + n), then the tag. */
static size_t finish_seal(struct sf_tls_aead *a, uint8_t type, uint8_t *p, size_t n)
{
	int outl = 0, finl = 0;
	if (EVP_CipherUpdate(a->ctx, p + n, &outl, &type, 1) != 1 || outl != 1 ||
	    EVP_CipherFinal_ex(a->ctx, p + n + 1, &finl) != 1 || finl != 0 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, SF_TLS_REC_TAG, p + n + 1) != 1) {
		ERR_clear_error();
		return 0;
	}
	a->seq++;
	return SF_TLS_REC_HEADER + n + 1 + SF_TLS_REC_TAG;
}

size_t sf_tls_seal(struct sf_tls_aead *a, uint8_t type, uint8_t *rec, size_t n)
{
	if (!a->seal || !put_header(rec, n))
		return 0;
	uint8_t *p = rec + SF_TLS_REC_HEADER;
	int outl = 0;
	if (!start(a, rec) || (n > 0 && (EVP_CipherUpdate(a->ctx, p, &outl, p, (int)n) != 1 ||
					 (size_t)outl != n))) {
		ERR_clear_error();
		return 0;
	}
	return finish_seal(a, type, p, n);
}

size_t sf_tls_seal_iov(struct sf_tls_aead *a, uint8_t type, const struct iovec *iov, int iovcnt,
		       size_t off, size_t n, uint8_t *rec)
{
	if (!a->seal || !put_header(rec, n) || !start(a, rec)) {
		ERR_clear_error();
		return 0;
	}
	uint8_t *p = rec + SF_TLS_REC_HEADER;
	size_t done = 0;
	for (int i = 0; i < iovcnt && done < n; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - off;
		if (take > n - done)
			take = n - done;
		int outl = 0;
		if (EVP_CipherUpdate(a->ctx, p + done, &outl,
				     (const uint8_t *)iov[i].iov_base + off, (int)take) != 1 ||
		    (size_t)outl != take) {
			ERR_clear_error();
			return 0;
		}
		done += take;
		off = 0;
	}
	if (done != n)
		return 0;
	return finish_seal(a, type, p, n);
}

long sf_tls_record_len(const uint8_t *p, size_t have)
{
	if (have < SF_TLS_REC_HEADER)
		return 0;
	size_t body = (size_t)p[3] << 8 | p[4];
	/* legacy_record_version is not checked: RFC 8446 §5.1 says it MUST be ignored. */
	if (p[0] != SF_TLS_CT_APPLICATION_DATA || body < 1 + SF_TLS_REC_TAG ||
	    body > SF_TLS_REC_MAX_BODY)
		return -1;
	return (long)(SF_TLS_REC_HEADER + body);
}

int sf_tls_open_to(struct sf_tls_aead *a, const uint8_t *rec, size_t len, uint8_t *dst,
		   uint8_t *type, size_t *plain_len)
{
	if (a->seal || sf_tls_record_len(rec, len) != (long)len)
		return -1;
	const uint8_t *c = rec + SF_TLS_REC_HEADER;
	size_t n = len - SF_TLS_REC_HEADER - SF_TLS_REC_TAG;
	int outl = 0, finl = 0;
	if (!start(a, rec) || EVP_CipherUpdate(a->ctx, dst, &outl, c, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, SF_TLS_REC_TAG, (void *)(c + n)) != 1 ||
	    EVP_CipherFinal_ex(a->ctx, dst + outl, &finl) != 1) {
		ERR_clear_error();
		return -1;	/* bad_record_mac */
	}
	a->seq++;
	if (n > SF_TLS_REC_MAX_PLAIN + 1)	/* §5.4: TLSInnerPlaintext ≤ 2^14 + 1: record_overflow */
		return -1;
	/* the content type is the last non-zero byte; all zeros is unexpected_message */
	while (n > 0 && dst[n - 1] == 0)
		n--;
	if (n == 0)
		return -1;
	*type = dst[n - 1];
	*plain_len = n - 1;
	return 0;
}

int sf_tls_open(struct sf_tls_aead *a, uint8_t *rec, size_t len, uint8_t *type,
		size_t *plain_len)
{
	return sf_tls_open_to(a, rec, len, rec + SF_TLS_REC_HEADER, type, plain_len);
}
