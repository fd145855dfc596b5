/* TLS 1.3 record protection (RFC 8446 §5.2, §5.3, §7.1-7.2) for one direction of a connection
 * whose handshake OpenSSL has finished: the same split as kernel TLS, where the library does the
 * handshake and hands the traffic secrets to a simpler record layer. Sans-I/O: records are sealed
 * and opened in caller buffers; the AEAD itself is OpenSSL's EVP.
 *
 * Why: after the handshake, an OpenSSL connection object keeps ~13.6 KiB per idle connection and
 * every SSL_read/SSL_write goes through its record state machine and buffers (docs/tls.md
 * "Record layer"). This keeps two cipher contexts and the secrets, and seals and opens in place. */
#ifndef SF_TLS_RECORD_H
#define SF_TLS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include <openssl/evp.h>

#define SF_TLS_REC_HEADER 5
#define SF_TLS_REC_TAG 16
/* Largest plaintext per record (2^14) and largest TLSCiphertext body a peer may send (2^14+256). */
#define SF_TLS_REC_MAX_PLAIN 16384
#define SF_TLS_REC_MAX_BODY (16384 + 256)
#define SF_TLS_REC_MAX (SF_TLS_REC_HEADER + SF_TLS_REC_MAX_BODY)
/* What sealing adds to a plaintext: header, inner content type, tag. */
#define SF_TLS_REC_OVERHEAD (SF_TLS_REC_HEADER + 1 + SF_TLS_REC_TAG)
#define SF_TLS_SECRET_MAX 48

/* Content types (RFC 8446 §5.1). */
enum {
	SF_TLS_CT_ALERT = 21,
	SF_TLS_CT_HANDSHAKE = 22,
	SF_TLS_CT_APPLICATION_DATA = 23,
};

/* One direction's keys: traffic secret (kept for KeyUpdate), IV, record sequence number. */
struct sf_tls_aead {
	EVP_CIPHER_CTX *ctx;
	uint16_t suite;
	bool seal;
	uint8_t secret[SF_TLS_SECRET_MAX];
	size_t secret_len;
	uint8_t iv[12];
	uint64_t seq;
};

/* True for the TLS 1.3 suites this layer implements: 0x1301 AES-128-GCM-SHA256, 0x1302
 * AES-256-GCM-SHA384, 0x1303 ChaCha20-Poly1305-SHA256. */
bool sf_tls_suite_supported(uint16_t suite);
/* Hash length of the suite (the traffic secret's length), 0 if unsupported. */
size_t sf_tls_suite_hash_len(uint16_t suite);

/* Derives key and IV from a traffic secret (HKDF-Expand-Label "key"/"iv") and sets up the cipher,
 * sequence number 0. Returns 0, or -1 (unsupported suite, wrong secret length, OpenSSL failure). */
int sf_tls_aead_init(struct sf_tls_aead *a, uint16_t suite, const uint8_t *secret, size_t len,
		     bool seal);
/* KeyUpdate (§7.2): the next traffic secret, new key and IV, sequence number 0. 0 or -1. */
int sf_tls_aead_update(struct sf_tls_aead *a);
/* Frees the cipher context and wipes the secret. Safe on a zeroed or cleared struct. */
void sf_tls_aead_clear(struct sf_tls_aead *a);

/* HKDF-Expand-Label(secret, label, "", out_len) with the suite's hash; out_len ≤ the hash length.
 * 0 or -1. Exposed for tests. */
int sf_tls_expand_label(uint16_t suite, const uint8_t *secret, size_t secret_len,
			const char *label, uint8_t *out, size_t out_len);

/* Seals the record whose plaintext (n ≤ SF_TLS_REC_MAX_PLAIN bytes) the caller has placed at
 * rec + SF_TLS_REC_HEADER: writes the header, the inner content type and the tag, encrypting in
 * place. rec must have room for n + SF_TLS_REC_OVERHEAD bytes. Returns the record's length, or 0
 * on failure (OpenSSL, or the sequence number exhausted). */
size_t sf_tls_seal(struct sf_tls_aead *a, uint8_t type, uint8_t *rec, size_t n);
/* The same record, its plaintext encrypted straight from iov (n bytes from byte off on; iov must
 * hold them) into rec, which does not overlap them: no copy of the plaintext first. */
size_t sf_tls_seal_iov(struct sf_tls_aead *a, uint8_t type, const struct iovec *iov, int iovcnt,
		       size_t off, size_t n, uint8_t *rec);

/* The record at the front of p (have bytes): its whole length (header included) once the header is
 * there, 0 if fewer than SF_TLS_REC_HEADER bytes are, -1 if the header is not one a TLS 1.3 peer
 * sends after the handshake (outer type other than application_data, a body shorter than a tag or
 * longer than 2^14+256). */
long sf_tls_record_len(const uint8_t *p, size_t have);

/* Opens the whole record rec (len = sf_tls_record_len()) in place: on success the inner
 * plaintext's content is at rec + SF_TLS_REC_HEADER, *plain_len bytes, with its content type in
 * *type (padding removed). Returns 0, or -1 for a record that fails authentication, has no content
 * type or whose plaintext exceeds 2^14 (each fatal for the connection). */
int sf_tls_open(struct sf_tls_aead *a, uint8_t *rec, size_t len, uint8_t *type,
		size_t *plain_len);
/* The same, with the inner plaintext decrypted to dst instead: rec + SF_TLS_REC_HEADER (in place)
 * or a buffer that does not overlap rec, with room for len - SF_TLS_REC_HEADER - SF_TLS_REC_TAG bytes (content, type and padding). */
int sf_tls_open_to(struct sf_tls_aead *a, const uint8_t *rec, size_t len, uint8_t *dst,
		   uint8_t *type, size_t *plain_len);

#endif
