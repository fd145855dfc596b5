/* From OpenSSL's handshake to our record layer (record.h, record_conn.c).
 *
 * OpenSSL 3.0 has no call that returns a connection's traffic secrets, but it hands every secret
 * it derives to the key-log callback (the SSLKEYLOGFILE format). The callback keeps the two
 * application traffic secrets in a small store hung on the SSL* (wiped and freed with it). Once
 * the handshake is done, the record layer can take over if:
 *   - TLS 1.3 with one of the three suites record.c implements;
 *   - both secrets were seen;
 *   - OpenSSL holds nothing it read from the socket and did not return: the context reads no
 *     further ahead than the record it needs (read-ahead off) during the handshake, so the
 *     client's first application record is still in the socket;
 *   - OpenSSL sent nothing under the server's application key: no TLS 1.3 session tickets (the
 *     Snowflake proxies' clients keep no session cache, so a ticket would never be used), so our
 *     first record has sequence number 0, as the client's has.
 * Otherwise (TLS 1.2) the connection stays on sf_tls_transport, with read-ahead turned on. */
#include "tls/internal.h"
#include "tls/record.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "lib/hex.h"

struct secrets {
	uint8_t client[SF_TLS_SECRET_MAX], server[SF_TLS_SECRET_MAX];
	size_t client_len, server_len;
};

static int secrets_index = -1;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void free_secrets(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr) {
		OPENSSL_cleanse(ptr, sizeof(struct secrets));
		free(ptr);
	}
}

static void make_index(void)
{
	secrets_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_secrets);
}

static int index_of_secrets(void)
{
	pthread_once(&index_once, make_index);
	return secrets_index;
}

/* hex → out; returns the byte count, 0 if not hex or longer than cap. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (; s[0] && s[1]; s += 2) {
		int hi = sf_hex_digit(s[0]), lo = sf_hex_digit(s[1]);
		if (hi < 0 || lo < 0 || n == cap)
			return 0;
		out[n++] = (uint8_t)(hi << 4 | lo);
	}
	return s[0] ? 0 : n;
}

/* "<LABEL> <client random, hex> <secret, hex>" */
static void keylog(const SSL *ssl, const char *line)
{
	struct secrets *s = SSL_get_ex_data(ssl, index_of_secrets());
	if (!s)
		return;
	static const char client[] = "CLIENT_TRAFFIC_SECRET_0 ", server[] = "SERVER_TRAFFIC_SECRET_0 ";
	uint8_t *out;
	size_t *len;
	if (strncmp(line, client, sizeof client - 1) == 0) {
		out = s->client;
		len = &s->client_len;
	} else if (strncmp(line, server, sizeof server - 1) == 0) {
		out = s->server;
		len = &s->server_len;
	} else {
		return;
	}
	const char *secret = strrchr(line, ' ');
	*len = secret ? unhex(secret + 1, out, SF_TLS_SECRET_MAX) : 0;
}

void sf_tls_handoff_install(SSL_CTX *ctx)
{
	SSL_CTX_set_keylog_callback(ctx, keylog);
}

int sf_tls_handoff_prepare(SSL *ssl)
{
	int idx = index_of_secrets();
	struct secrets *s = idx >= 0 ? calloc(1, sizeof *s) : NULL;
	if (!s)
		return -1;
	if (SSL_set_ex_data(ssl, idx, s) != 1) {
		free(s);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* The record layer for ssl, or NULL if it cannot take over (ssl is left as it was then). */
static struct sf_tls_rec *take_over(SSL *ssl)
{
	struct secrets *s = SSL_get_ex_data(ssl, index_of_secrets());
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	if (!s || !c || SSL_version(ssl) != TLS1_3_VERSION || SSL_has_pending(ssl))
		return NULL;
	uint16_t suite = SSL_CIPHER_get_protocol_id(c);
	size_t len = sf_tls_suite_hash_len(suite);
	if (!len || s->client_len != len || s->server_len != len)
		return NULL;
	struct sf_tls_io *io = sf_tls_io_of(ssl);
	if (!io || sf_tls_io_unsent(io) > 0)
		return NULL;
	struct sf_tls_rec *r = sf_tls_rec_new(io, suite, s->client, s->server, len);
	if (!r)
		return NULL;
	sf_tls_io_take(ssl);
	return r;
}

void sf_tls_transport_for(struct sf_tls_ctx *ctx, SSL *ssl, const struct sf_conn_transport **tr,
			  void **tr_ctx)
{
	struct sf_tls_rec *r = ctx->openssl_records ? NULL : take_over(ssl);
	if (r) {
		SSL_free(ssl);
		*tr = &sf_tls_record_transport;
		*tr_ctx = r;
		return;
	}
	/* Read-ahead from here on: one recv(2) fills OpenSSL's record buffer with several
	 * records. */
	SSL_set_read_ahead(ssl, 1);
	*tr = &sf_tls_transport;
	*tr_ctx = ssl;
}
