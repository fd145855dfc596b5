/* Helpers shared by the test_tls_*.c files (header-only: each test is its own program): test
 * certificates made with OpenSSL, a loopback TCP pair, an event loop that is bounded, and a
 * blocking OpenSSL client running on its own thread. */
#ifndef SF_TLS_TEST_UTIL_H
#define SF_TLS_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop_test_util.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/conn.h"
#include "tls/cert.h"
#include "tls/tls.h"

#define TLS_TEST_MAX_ROUNDS TEST_LOOP_MAX_ROUNDS

/* ---- certificates ---- */

struct tls_test_pki {
	EVP_PKEY *ca_key;
	X509 *ca;
	EVP_PKEY *rsa_key;	/* RSA-2048 is slow to make: one for every RSA leaf */
};

static inline X509 *tls_test_x509(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
				  long serial, bool ca)
{
	X509 *x = X509_new();
	if (!x)
		abort();
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	char san[300];
	snprintf(san, sizeof san, "DNS:%s", cn);
	const char *exts[][2] = {
		{ "basicConstraints", ca ? "critical,CA:TRUE" : "critical,CA:FALSE" },
		{ "keyUsage", ca ? "critical,keyCertSign" : "critical,digitalSignature,keyEncipherment" },
		{ "subjectAltName", ca ? NULL : san },
	};
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		if (!exts[i][1])
			continue;
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
		if (!e)
			abort();
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0)
		abort();
	return x;
}

static inline void tls_test_pki_init(struct tls_test_pki *pki)
{
	pki->ca_key = EVP_EC_gen("P-256");
	pki->rsa_key = EVP_RSA_gen(2048);
	if (!pki->ca_key || !pki->rsa_key)
		abort();
	pki->ca = tls_test_x509(pki->ca_key, "sf test CA", NULL, NULL, 1, true);
}

static inline void tls_test_pki_free(struct tls_test_pki *pki)
{
	X509_free(pki->ca);
	EVP_PKEY_free(pki->ca_key);
	EVP_PKEY_free(pki->rsa_key);
}

/* A leaf for name (ECDSA P-256 or the RSA-2048 key) signed by the test CA; chain = [CA]. */
static inline struct sf_tls_cert *tls_test_leaf(struct tls_test_pki *pki, const char *name, bool rsa)
{
	static atomic_long serial = 100;
	EVP_PKEY *key = rsa ? pki->rsa_key : EVP_EC_gen("P-256");
	if (!key)
		abort();
	if (rsa)
		EVP_PKEY_up_ref(key);
	X509 *leaf = tls_test_x509(key, name, pki->ca, pki->ca_key, atomic_fetch_add(&serial, 1), false);
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, pki->ca);
	struct sf_tls_cert *cert = sf_tls_cert_new(key, leaf, chain);
	sk_X509_free(chain);
	X509_free(leaf);
	EVP_PKEY_free(key);
	if (!cert)
		abort();
	return cert;
}

/* ---- loopback ---- */

static inline void tls_test_tcp_pair(int *server, int *client)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 8) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		abort();
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*client < 0 || connect(*client, (struct sockaddr *)&sa, sizeof sa) < 0)
		abort();
	*server = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (*server < 0)
		abort();
	close(lfd);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(*client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(*client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* ---- the server side's outcome ---- */

struct tls_test_outcome {
	bool done;
	SSL *ssl;
	int fd;
	char error[512];
};

static inline void tls_test_on_done(void *arg, SSL *ssl, int fd, const char *error)
{
	struct tls_test_outcome *o = arg;
	o->done = true;
	o->ssl = ssl;
	o->fd = fd;
	snprintf(o->error, sizeof o->error, "%s", error ? error : "");
}

static inline void tls_test_outcome_free(struct tls_test_outcome *o)
{
	SSL_free(o->ssl);
	if (o->fd >= 0 && o->ssl)
		close(o->fd);
	o->ssl = NULL;
	o->fd = -1;
}

/* ---- a blocking OpenSSL client on its own thread ---- */

struct tls_client {
	/* what it does */
	int fd;
	const char *sni;		/* NULL: no SNI */
	const char *alpn;		/* comma-separated, NULL: no ALPN */
	int min_version, max_version;	/* 0: OpenSSL's defaults */
	const char *sigalgs, *ciphers, *suites, *groups;
	X509 *trust;			/* CA to verify against (result in verify_result) */
	const char *verify_host;	/* name the certificate must match, NULL: none checked */
	SSL_SESSION *session_in;	/* resume this session */
	void (*after)(struct tls_client *c, SSL *ssl);	/* after a successful handshake */
	void *user;
	atomic_bool *release;		/* keep the connection open until set (bounded wait) */
	/* what it saw */
	bool ok;
	char error[256];
	int version;
	char alpn_selected[32];
	X509 *peer;
	int chain_len;
	long verify_result;
	SSL_SESSION *session_out;
	bool reused;
	pthread_t thread;
};

static inline size_t tls_client_alpn_wire(const char *list, unsigned char *out, size_t cap)
{
	size_t n = 0;
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (n + 1 + len > cap)
			abort();
		out[n++] = (unsigned char)len;
		memcpy(out + n, p, len);
		n += len;
		p += len + (comma ? 1 : 0);
	}
	return n;
}

static inline void tls_client_error(struct tls_client *c, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[200] = "no OpenSSL error";
	if (e)
		ERR_error_string_n(e, buf, sizeof buf);
	snprintf(c->error, sizeof c->error, "%s: %s", what, buf);
	ERR_clear_error();
}

static inline void *tls_client_main(void *arg)
{
	struct tls_client *c = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	bool configured = ctx != NULL;
	if (configured && c->min_version)
		configured = SSL_CTX_set_min_proto_version(ctx, c->min_version) == 1;
	if (configured && c->max_version)
		configured = SSL_CTX_set_max_proto_version(ctx, c->max_version) == 1;
	if (configured && c->ciphers)
		configured = SSL_CTX_set_cipher_list(ctx, c->ciphers) == 1;
	if (configured && c->suites)
		configured = SSL_CTX_set_ciphersuites(ctx, c->suites) == 1;
	if (configured && c->groups)
		configured = SSL_CTX_set1_groups_list(ctx, c->groups) == 1;
	if (configured && c->sigalgs)
		configured = SSL_CTX_set1_sigalgs_list(ctx, c->sigalgs) == 1;
	if (configured && c->trust)
		configured = X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), c->trust) == 1;
	if (configured)
		configured = (ssl = SSL_new(ctx)) != NULL && SSL_set_fd(ssl, c->fd) == 1;
	if (configured && c->sni)
		configured = SSL_set_tlsext_host_name(ssl, c->sni) == 1;
	if (configured && c->verify_host)
		configured = SSL_set1_host(ssl, c->verify_host) == 1;
	if (configured && c->session_in)
		configured = SSL_set_session(ssl, c->session_in) == 1;
	if (configured && c->alpn) {
		unsigned char wire[256];
		size_t n = tls_client_alpn_wire(c->alpn, wire, sizeof wire);
		configured = SSL_set_alpn_protos(ssl, wire, (unsigned)n) == 0;
	}
	if (!configured) {
		tls_client_error(c, "client setup");
	} else if (SSL_connect(ssl) != 1) {
		tls_client_error(c, "SSL_connect");
	} else {
		c->ok = true;
		c->version = SSL_version(ssl);
		const unsigned char *sel = NULL;
		unsigned sel_len = 0;
		SSL_get0_alpn_selected(ssl, &sel, &sel_len);
		snprintf(c->alpn_selected, sizeof c->alpn_selected, "%.*s", (int)sel_len,
			 sel ? (const char *)sel : "");
		c->peer = SSL_get1_peer_certificate(ssl);
		STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
		c->chain_len = chain ? sk_X509_num(chain) : 0;
		c->verify_result = SSL_get_verify_result(ssl);
		c->reused = SSL_session_reused(ssl) == 1;
		c->session_out = SSL_get1_session(ssl);
		if (c->after)
			c->after(c, ssl);
	}
	for (int i = 0; c->release && i < 2000 && !atomic_load(c->release); i++)
		usleep(5000);
	if (c->ok)
		SSL_shutdown(ssl);	/* else OpenSSL marks the session not resumable */
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(c->fd);
	ERR_clear_error();
	return NULL;
}

static inline void tls_client_start(struct tls_client *c)
{
	if (pthread_create(&c->thread, NULL, tls_client_main, c) != 0)
		abort();
}

static inline void tls_client_join(struct tls_client *c)
{
	pthread_join(c->thread, NULL);
}

static inline void tls_client_free(struct tls_client *c)
{
	X509_free(c->peer);
	c->peer = NULL;
	SSL_SESSION_free(c->session_out);
	c->session_out = NULL;
}

/* ---- a TLS server for one name over a fresh test PKI, with its loop: the fixture of the tests
 * that move data through TLS connections (test_tls_conn, test_tls_batch) ---- */

struct tls_test_server {
	struct tls_test_pki pki;
	struct sf_tls_table *store;
	struct sf_tls_ctx *ctx;
	struct test_loop loop;
	const char *name;
};

static inline int tls_test_server_init(struct tls_test_server *s, const char *name)
{
	s->name = name;
	tls_test_pki_init(&s->pki);
	s->store = sf_tls_table_new(4);
	struct sf_tls_cert *cert = tls_test_leaf(&s->pki, name, false);
	sf_tls_table_put(s->store, name, cert);
	sf_tls_cert_unref(cert);
	const char *hosts[] = { name };
	struct sf_tls_config cfg = { .hostnames = hosts, .n_hostnames = 1,
				     .lookup = sf_tls_table_lookup, .store = s->store, .quiet = true };
	char err[256];
	s->ctx = sf_tls_ctx_new(&cfg, err, sizeof err);
	test_loop_init(&s->loop);
	return s->ctx ? 0 : -1;
}

static inline void tls_test_server_free(struct tls_test_server *s)
{
	test_loop_free(&s->loop);
	sf_tls_ctx_free(s->ctx);
	sf_tls_table_free(s->store);
	tls_test_pki_free(&s->pki);
}

/* One tls_test_server, var, for a whole cmocka group, with the group's setup (SIGPIPE ignored: a
 * peer may close first) and teardown, named group_setup and group_teardown. */
#define TLS_TEST_SERVER_GROUP(var, name)                                   \
	static struct tls_test_server var;                                 \
	static int group_setup(void **state)                               \
	{                                                                  \
		(void)state;                                               \
		signal(SIGPIPE, SIG_IGN);                                  \
		return tls_test_server_init(&var, name);                   \
	}                                                                  \
	static int group_teardown(void **state)                            \
	{                                                                  \
		(void)state;                                               \
		tls_test_server_free(&var);                                \
		return 0;                                                  \
	}

/* Handshake of client c (started on its own thread) with the server on the test's loop; the
 * outcome holds the server's SSL* and fd. Uses cmocka: call from the test's thread only. */
static inline void tls_test_server_handshake(struct tls_test_server *s, struct tls_client *c,
					     struct tls_test_outcome *o)
{
	int server_fd, client_fd;
	tls_test_tcp_pair(&server_fd, &client_fd);
	memset(o, 0, sizeof *o);
	o->fd = -1;
	c->fd = client_fd;
	c->sni = s->name;
	tls_client_start(c);
	assert_non_null(sf_tls_accept(s->loop.base, server_fd, s->ctx, 0, tls_test_on_done, o));
	TEST_RUN_UNTIL(&s->loop, o->done);
	assert_non_null(o->ssl);
}

/* The connection of a finished handshake (o), as the server makes it: the transport
 * sf_tls_transport_for() picks (told in *tr, *tr_ctx), under an sf_conn on the test's loop.
 * Takes o's SSL*. */
static inline struct sf_conn *tls_test_server_conn(struct tls_test_server *s,
						   struct tls_test_outcome *o,
						   const struct sf_conn_callbacks *cb, void *user,
						   const struct sf_conn_transport **tr, void **tr_ctx)
{
	assert_non_null(o->ssl);
	sf_tls_transport_for(s->ctx, o->ssl, tr, tr_ctx);
	o->ssl = NULL;
	return sf_conn_new_transport(s->loop.base, o->fd, *tr, *tr_ctx, cb, user);
}

#endif
