/* TLS for the WebSocket listener (OpenSSL 3): the server context that picks a certificate per
 * ClientHello, the non-blocking handshake driver, and the sf_conn transport that carries the
 * connection afterwards. See docs/tls.md.
 *
 *   accept(2) ─ sf_tls_accept(base, fd, ctx, ...) ─ done(ssl, fd) ─ sf_tls_transport_for(ctx,
 *               ssl, &tr, &tr_ctx) ─ sf_conn_new_transport(base, fd, tr, tr_ctx, ...) ─ HTTP
 *               upgrade, WebSocket, ... as without TLS
 *
 * Threads: an sf_tls_ctx is shared by every thread; a handshake and the SSL* it produces belong
 * to one thread at a time (the SSL* may move to another thread with its sf_conn). Certificates
 * are published by another thread (the ACME worker) through the store and sf_tls_resume(). */
#ifndef SF_TLS_TLS_H
#define SF_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "net/conn.h"
#include "tls/cert.h"

struct event_base;
struct sf_tls_ctx;
struct sf_tls_handshake;

/* Upstream's http.Server ReadTimeout, which also bounds its TLS handshake (docs/net-http-ws.md
 * "Listener"). */
#define SF_TLS_HANDSHAKE_TIMEOUT_MS 10000
/* Handshakes that may wait for a certificate being issued at the same time; more fail at once. */
#define SF_TLS_MAX_WAITING 4096

/* The certificate store (the ACME manager). Called on the thread doing the handshake, with no
 * lock of this module held; must not block. name is normalized (lowercase, no trailing dot) and
 * on the allow-list. Returns a new reference to the certificate for (name, key type), or NULL:
 * then *pending = true means "being obtained: suspend this handshake"; the store must later call
 * sf_tls_resume(ctx, name) — once the certificate is published or the attempt has failed — and
 * the handshake asks again. *pending = false fails the handshake ("tls: no certificate for"). */
typedef struct sf_tls_cert *(*sf_tls_lookup_fn)(void *store, const char *name, bool want_rsa,
						bool *pending);

/* Optional, for a store that keeps the TLS-ALPN-01 certificates itself: asked when
 * sf_tls_ctx_set_challenge() registered nothing for name. Same rules as the lookup; returns a
 * new reference or NULL. */
typedef struct sf_tls_cert *(*sf_tls_challenge_fn)(void *store, const char *name);

struct sf_tls_config {
	/* --acme-hostnames as given; entries that are not valid host names are dropped, as
	 * autocert's HostWhitelist drops what IDNA rejects. Copied. */
	const char *const *hostnames;
	size_t n_hostnames;
	sf_tls_lookup_fn lookup;
	sf_tls_challenge_fn challenge;	/* may be NULL */
	void *store;
	/* Do not log failed handshakes (Go's net/http logs "http: TLS handshake error from ..."). */
	bool quiet;
	/* Keep every connection on OpenSSL's record layer (sf_tls_transport) after the handshake,
	 * instead of handing TLS 1.3 connections to ours (sf_tls_transport_for). For tests and
	 * comparisons. */
	bool openssl_records;
};

/* TLS 1.2 and 1.3 only; for 1.2 only ECDHE with AES-GCM or ChaCha20-Poly1305; no compression,
 * no renegotiation; session tickets on. ALPN: http/1.1 (never h2), or acme-tls/1 when it is
 * exactly what the client offers. Returns NULL with the reason in err. */
struct sf_tls_ctx *sf_tls_ctx_new(const struct sf_tls_config *cfg, char *err, size_t errlen);
/* Only once no handshake made with it is running (SSL*s already handed over may outlive it). */
void sf_tls_ctx_free(struct sf_tls_ctx *ctx);
SSL_CTX *sf_tls_ctx_ssl_ctx(struct sf_tls_ctx *ctx);
/* True if name, normalized as SNI names are, is on the allow-list. */
bool sf_tls_ctx_allows(struct sf_tls_ctx *ctx, const char *name);

/* TLS-ALPN-01: the certificate served (with ALPN acme-tls/1) to a ClientHello for name that
 * offers exactly ["acme-tls/1"]; NULL withdraws it. Any thread. Returns 0, or -1 for an invalid
 * name or a full registry (SF_TLS_MAX_CHALLENGES). */
#define SF_TLS_MAX_CHALLENGES 256
int sf_tls_ctx_set_challenge(struct sf_tls_ctx *ctx, const char *name, struct sf_tls_cert *cert);

/* Wakes every handshake suspended waiting for name's certificate (NULL: all of them); each asks
 * the store again on its own event loop. Any thread; never blocks; may be called with the
 * store's own locks held and from inside the lookup function. */
void sf_tls_resume(struct sf_tls_ctx *ctx, const char *name);

/* Handshake outcome. Success: error is NULL and the caller owns ssl and fd (wrap them with
 * sf_tls_transport_for() and sf_conn_new_transport()). Failure: ssl is NULL, fd is
 * already closed (-1 given) and error says why: "tls: missing server name" and the other
 * certificate-selection reasons, "handshake timeout", "EOF", "read: connection reset by peer",
 * "tls: <OpenSSL reason>",
 * "client sent an HTTP request to an HTTPS server" (that one got Go's 400 answer), or "tls:
 * acme-tls/1 challenge answered" (a TLS-ALPN-01 validation got its certificate: the connection
 * carries nothing else); those last two are not logged. The handshake object is gone when this
 * runs. */
typedef void (*sf_tls_done_fn)(void *arg, SSL *ssl, int fd, const char *error);

/* Runs a server handshake on fd (taken over, made non-blocking) on base, without blocking.
 * deadline_ms bounds the whole handshake, time waiting for a certificate included (0:
 * SF_TLS_HANDSHAKE_TIMEOUT_MS). done fires exactly once, on base's thread, never from inside
 * this call. Returns NULL (fd closed, no callback) on allocation failure. */
struct sf_tls_handshake *sf_tls_accept(struct event_base *base, int fd, struct sf_tls_ctx *ctx,
				       uint64_t deadline_ms, sf_tls_done_fn done, void *arg);
/* Abandons a running handshake (shutdown): closes fd, no callback. On base's thread. */
void sf_tls_handshake_cancel(struct sf_tls_handshake *hs);

/* sf_conn transport over an established SSL* (tr_ctx): SSL_read/SSL_write mapped to
 * SF_CONN_WANT_*, pending = SSL_pending, free = SSL_free (no close_notify: sf_conn has closed the
 * socket by then). Keeps no per-thread state. */
extern const struct sf_conn_transport sf_tls_transport;

/* The transport for a connection whose handshake ctx finished: our own TLS 1.3 record layer
 * (src/tls/record.h; ssl is freed, its ~14 KiB with it) when it can take over — TLS 1.3, a suite
 * it implements, nothing read ahead by OpenSSL — else sf_tls_transport over ssl. Takes ssl; never
 * fails (falling back to OpenSSL's). See docs/tls.md "Record layer". */
void sf_tls_transport_for(struct sf_tls_ctx *ctx, SSL *ssl, const struct sf_conn_transport **tr,
			  void **tr_ctx);

#endif
