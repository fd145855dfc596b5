/* Certificate selection, in OpenSSL's ClientHello callback, in autocert's order (docs/tls.md
 * "Certificate selection"): SNI required and normalized, allow-list, then the TLS-ALPN-01
 * challenge certificate for an acme-tls/1-only hello, else ECDSA or RSA from the store, suspending
 * the handshake while the store obtains it. And the ALPN choice that goes with it. */
#include "lib/err.h"
#include "tls/internal.h"

#include <stdarg.h>
#include <stdio.h>

#include <openssl/tls1.h>

static int fail(struct sf_tls_hs_state *st, int *al, int alert, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct sf_tls_hs_state *st, int *al, int alert, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof st->reason, fmt, ap);
	va_end(ap);
	*al = alert;
	return SSL_CLIENT_HELLO_ERROR;
}

/* Consumes the caller's reference; the SSL* keeps its own ones to key and chain. */
static bool install(SSL *ssl, struct sf_tls_cert *cert)
{
	bool ok = SSL_use_cert_and_key(ssl, sf_tls_cert_leaf(cert), sf_tls_cert_key(cert),
				       sf_tls_cert_chain(cert), 1) == 1;
	sf_tls_cert_unref(cert);
	return ok;
}

static const uint8_t *hello_ext(SSL *ssl, unsigned type, size_t *len)
{
	const unsigned char *p = NULL;
	if (SSL_client_hello_get0_ext(ssl, type, &p, len) != 1)
		return NULL;
	return p;
}

/* 1 acme-tls/1 only, 0 anything else or no ALPN, -1 malformed. */
static int offers_acme_only(SSL *ssl)
{
	size_t len;
	const uint8_t *p = hello_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &len);
	if (!p)
		return 0;
	if (len < 2 || (size_t)(p[0] << 8 | p[1]) != len - 2)
		return -1;
	return sf_tls_alpn_acme_only(p + 2, len - 2);
}

static int wants_rsa(SSL *ssl)
{
	size_t sig_len = 0, grp_len = 0;
	const uint8_t *sig = hello_ext(ssl, TLSEXT_TYPE_signature_algorithms, &sig_len);
	const uint8_t *grp = hello_ext(ssl, TLSEXT_TYPE_supported_groups, &grp_len);
	const unsigned char *ciphers = NULL;
	size_t ciphers_len = SSL_client_hello_get0_ciphers(ssl, &ciphers);
	if (SSL_client_hello_isv2(ssl))
		return -1;	/* 3-byte suites; without SNI it never gets here anyway */
	return sf_tls_hello_wants_rsa(sig, sig_len, grp, grp_len, ciphers, ciphers_len);
}

static int serve_challenge(struct sf_tls_ctx *ctx, SSL *ssl, struct sf_tls_hs_state *st,
			   const char *name, int *al)
{
	struct sf_tls_cert *cert = sf_tls_table_get(ctx->challenges, name);
	if (!cert && ctx->challenge)
		cert = ctx->challenge(ctx->store, name);
	if (!cert)
		return fail(st, al, SSL_AD_HANDSHAKE_FAILURE, "tls: no challenge certificate for %s",
			    name);
	if (!install(ssl, cert))
		return fail(st, al, SSL_AD_INTERNAL_ERROR, "tls: cannot use the certificate for %s",
			    name);
	st->acme = true;
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int serve(struct sf_tls_ctx *ctx, SSL *ssl, struct sf_tls_hs_state *st, const char *name,
		 int *al)
{
	int rsa = wants_rsa(ssl);
	if (rsa < 0)
		return fail(st, al, SSL_AD_DECODE_ERROR, "tls: malformed ClientHello");
	/* Read before asking, so that a publish between the answer and the queueing is seen. */
	uint64_t gen = atomic_load(&ctx->wake_gen);
	bool pending = false;
	struct sf_tls_cert *cert = ctx->lookup ? ctx->lookup(ctx->store, name, rsa, &pending) : NULL;
	if (cert) {
		if (!install(ssl, cert))
			return fail(st, al, SSL_AD_INTERNAL_ERROR,
				    "tls: cannot use the certificate for %s", name);
		return SSL_CLIENT_HELLO_SUCCESS;
	}
	if (!pending)
		return fail(st, al, SSL_AD_HANDSHAKE_FAILURE, "tls: no certificate for %s", name);
	if (sf_tls_wait(ctx, &st->waiter, name, gen) < 0)
		return fail(st, al, SSL_AD_HANDSHAKE_FAILURE,
			    "tls: too many handshakes waiting for a certificate");
	return SSL_CLIENT_HELLO_RETRY;
}

static int on_client_hello(SSL *ssl, int *al, void *arg)
{
	struct sf_tls_ctx *ctx = arg;
	struct sf_tls_hs_state *st = SSL_get_ex_data(ssl, sf_tls_hs_index());
	if (!st) {
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	st->acme = false;

	char name[SF_TLS_NAME_BUF];
	size_t len;
	const uint8_t *sni = hello_ext(ssl, TLSEXT_TYPE_server_name, &len);
	int found = sni ? sf_tls_hello_sni(sni, len, name, sizeof name) : 0;
	if (found < 0)
		return fail(st, al, SSL_AD_DECODE_ERROR, "tls: malformed server_name extension");
	if (found == 0)
		return fail(st, al, SSL_AD_UNRECOGNIZED_NAME, "tls: missing server name");
	char bad[SF_ERR_MAX];
	if (sf_hostname_normalize(name, name, sizeof name, true, bad, sizeof bad) < 0)
		return fail(st, al, SSL_AD_UNRECOGNIZED_NAME, "tls: %s", bad);
	if (!sf_tls_ctx_allows(ctx, name))
		return fail(st, al, SSL_AD_UNRECOGNIZED_NAME,
			    "tls: host \"%s\" not configured in --acme-hostnames", name);

	int acme = offers_acme_only(ssl);
	if (acme < 0)
		return fail(st, al, SSL_AD_DECODE_ERROR, "tls: malformed ALPN extension");
	if (acme)
		return serve_challenge(ctx, ssl, st, name, al);
	return serve(ctx, ssl, st, name, al);
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)arg;
	static const unsigned char http11[] = "\x08http/1.1";
	struct sf_tls_hs_state *st = SSL_get_ex_data(ssl, sf_tls_hs_index());
	if (st && st->acme && sf_tls_alpn_acme_only(in, inlen) == 1) {
		*out = in + 1;
		*outlen = in[0];
		return SSL_TLSEXT_ERR_OK;
	}
	/* Never h2: a WebSocket cannot be upgraded over it. Like Go, refuse a client that offers
	 * nothing we speak rather than ignore its list. */
	unsigned char *sel = NULL;
	unsigned char sel_len = 0;
	if (SSL_select_next_proto(&sel, &sel_len, http11, sizeof http11 - 1, in, inlen) ==
	    OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		*outlen = sel_len;
		return SSL_TLSEXT_ERR_OK;
	}
	if (st)
		snprintf(st->reason, sizeof st->reason,
			 "tls: client requested unsupported application protocols");
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

void sf_tls_select_install(struct sf_tls_ctx *ctx)
{
	SSL_CTX_set_client_hello_cb(ctx->ssl, on_client_hello, ctx);
	SSL_CTX_set_alpn_select_cb(ctx->ssl, on_alpn, ctx);
}
