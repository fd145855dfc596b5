/* Server handshakes driven by sf_tls_accept() on an event loop, against a blocking OpenSSL client
 * on loopback TCP: versions and ciphers, the SNI allow-list, ECDSA vs RSA (docs/tls.md
 * "Certificate selection"),
 * ALPN (http/1.1, never h2; acme-tls/1 with the challenge certificate), a handshake suspended
 * while its certificate is being obtained, deadlines, garbage, plaintext HTTP, resumption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <openssl/sha.h>

#include "lib/log.h"
#include "acme/cert.h"
#include "tls_test_util.h"

#define NAME "example.com"
#define PENDING_NAME "pending.example"
#define KEY_AUTH "token-abc.thumbprint-xyz"

/* ---- a certificate store like the ACME manager's ---- */

struct store {
	struct sf_tls_table *table;
	struct sf_tls_ctx *ctx;
	atomic_int lookups;
	atomic_int rsa_lookups;
	atomic_bool pending;			/* answer "pending" for names it lacks */
	struct sf_tls_cert *publish_inside;	/* publish and resume from inside the lookup */
	struct sf_tls_cert *challenge;		/* what store_challenge answers */
	atomic_int challenge_asks;
};

static struct sf_tls_cert *store_lookup(void *arg, const char *name, bool want_rsa, bool *pending)
{
	struct store *s = arg;
	atomic_fetch_add(&s->lookups, 1);
	if (want_rsa)
		atomic_fetch_add(&s->rsa_lookups, 1);
	struct sf_tls_cert *cert = sf_tls_table_lookup(s->table, name, want_rsa, pending);
	if (cert)
		return cert;
	if (s->publish_inside) {
		/* The worst moment for a publish: after the answer, before the handshake queues. */
		assert_int_equal(sf_tls_table_put(s->table, name, s->publish_inside), 0);
		sf_tls_resume(s->ctx, name);
		*pending = true;
		return NULL;
	}
	*pending = atomic_load(&s->pending);
	return NULL;
}

static struct sf_tls_cert *store_challenge(void *arg, const char *name)
{
	struct store *s = arg;
	atomic_fetch_add(&s->challenge_asks, 1);
	return s->challenge && strcmp(name, NAME) == 0 ? sf_tls_cert_ref(s->challenge) : NULL;
}

static struct {
	struct tls_test_pki pki;
	struct store store;
	struct sf_tls_ctx *ctx;
	struct test_loop loop;
	struct sf_tls_cert *pending_cert;
} F;

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	tls_test_pki_init(&F.pki);
	F.store.table = sf_tls_table_new(16);
	struct sf_tls_cert *ec = tls_test_leaf(&F.pki, NAME, false);
	struct sf_tls_cert *rsa = tls_test_leaf(&F.pki, NAME, true);
	sf_tls_table_put(F.store.table, NAME, ec);
	sf_tls_table_put(F.store.table, NAME "+rsa", rsa);
	sf_tls_cert_unref(ec);
	sf_tls_cert_unref(rsa);
	F.pending_cert = tls_test_leaf(&F.pki, PENDING_NAME, false);

	const char *hosts[] = { NAME, PENDING_NAME, "192.0.2.1" };
	struct sf_tls_config cfg = { .hostnames = hosts, .n_hostnames = 3, .lookup = store_lookup,
				     .challenge = store_challenge, .store = &F.store, .quiet = true };
	char err[256] = "";
	F.ctx = sf_tls_ctx_new(&cfg, err, sizeof err);
	if (!F.ctx) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	F.store.ctx = F.ctx;
	test_loop_init(&F.loop);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	test_loop_free(&F.loop);
	sf_tls_ctx_free(F.ctx);
	sf_tls_table_free(F.store.table);
	sf_tls_cert_unref(F.pending_cert);
	tls_test_pki_free(&F.pki);
	return 0;
}

static int reset(void **state)
{
	(void)state;
	atomic_store(&F.store.lookups, 0);
	atomic_store(&F.store.rsa_lookups, 0);
	atomic_store(&F.store.pending, false);
	F.store.publish_inside = NULL;
	F.store.challenge = NULL;
	atomic_store(&F.store.challenge_asks, 0);
	sf_tls_table_put(F.store.table, PENDING_NAME, NULL);
	sf_tls_ctx_set_challenge(F.ctx, NAME, NULL);
	ERR_clear_error();
	return 0;
}

/* ---- running one handshake ---- */

static struct tls_client client_for(const char *sni)
{
	struct tls_client c = { .sni = sni, .trust = F.pki.ca };
	return c;
}

static void run(struct tls_client *c, uint64_t deadline_ms, struct tls_test_outcome *o)
{
	int server_fd, client_fd;
	atomic_bool release = false;
	tls_test_tcp_pair(&server_fd, &client_fd);
	memset(o, 0, sizeof *o);
	o->fd = -1;
	c->fd = client_fd;
	c->release = &release;
	tls_client_start(c);
	assert_non_null(sf_tls_accept(F.loop.base, server_fd, F.ctx, deadline_ms, tls_test_on_done, o));
	TEST_RUN_UNTIL(&F.loop, o->done);
	atomic_store(&release, true);
	tls_client_join(c);
}

static int peer_key_type(struct tls_client *c)
{
	return c->peer ? EVP_PKEY_get_base_id(X509_get0_pubkey(c->peer)) : -1;
}

static void assert_served(struct tls_client *c, struct tls_test_outcome *o)
{
	if (!c->ok || o->error[0])
		fprintf(stderr, "client: %s / server: %s\n", c->error, o->error);
	assert_true(c->ok);
	assert_string_equal(o->error, "");
	assert_non_null(o->ssl);
	assert_true(o->fd >= 0);
	assert_int_equal(SSL_is_init_finished(o->ssl), 1);
}

static void assert_refused(struct tls_client *c, struct tls_test_outcome *o, const char *reason)
{
	assert_false(c->ok);
	assert_null(o->ssl);
	assert_int_equal(o->fd, -1);
	assert_string_equal(o->error, reason);
}

/* ---- versions and ciphers ---- */

static void test_tls13_ecdsa(void **state)
{
	(void)state;
	struct tls_client c = client_for(NAME);
	c.verify_host = NAME;
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(c.version, TLS1_3_VERSION);
	assert_int_equal(SSL_version(o.ssl), TLS1_3_VERSION);
	assert_int_equal(peer_key_type(&c), EVP_PKEY_EC);
	assert_int_equal(c.verify_result, X509_V_OK);	/* chain (leaf + CA) and name */
	assert_int_equal(c.chain_len, 2);
	assert_string_equal(c.alpn_selected, "");	/* Go proxies send no ALPN */
	assert_int_equal(atomic_load(&F.store.lookups), 1);
	assert_int_equal(atomic_load(&F.store.rsa_lookups), 0);
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

static void test_tls12(void **state)
{
	(void)state;
	struct tls_client c = client_for(NAME);
	c.min_version = c.max_version = TLS1_2_VERSION;
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(c.version, TLS1_2_VERSION);
	assert_int_equal(peer_key_type(&c), EVP_PKEY_EC);
	const SSL_CIPHER *cipher = SSL_get_current_cipher(o.ssl);
	assert_int_equal(SSL_CIPHER_get_kx_nid(cipher), NID_kx_ecdhe);
	assert_int_equal(SSL_CIPHER_get_auth_nid(cipher), NID_auth_ecdsa);
	assert_true(SSL_CIPHER_is_aead(cipher));
	assert_null(SSL_get_current_compression(o.ssl));
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

/* A key share the server does not take: HelloRetryRequest, a second ClientHello, a second run of
 * the certificate choice. */
static void test_hello_retry_request(void **state)
{
	(void)state;
	struct tls_client c = client_for(NAME);
	c.groups = "ffdhe2048:P-256";
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(c.version, TLS1_3_VERSION);
	assert_int_equal(peer_key_type(&c), EVP_PKEY_EC);
	assert_int_equal(SSL_get_negotiated_group(o.ssl), NID_X9_62_prime256v1);
	assert_int_equal(atomic_load(&F.store.lookups), 2);
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

static void test_old_versions_and_cbc_refused(void **state)
{
	(void)state;
	struct tls_client c = client_for(NAME);
	c.min_version = TLS1_VERSION;
	c.max_version = TLS1_1_VERSION;
	c.ciphers = "ALL:@SECLEVEL=0";
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_false(c.ok);
	assert_null(o.ssl);
	assert_string_equal(o.error, "tls: unsupported protocol");

	c = client_for(NAME);
	c.max_version = TLS1_2_VERSION;
	c.ciphers = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-GCM-SHA256";
	run(&c, 0, &o);
	assert_false(c.ok);
	assert_null(o.ssl);
	assert_string_equal(o.error, "tls: no shared cipher");
}

static void test_session_resumption(void **state)
{
	(void)state;
	struct tls_client c = client_for(NAME);
	c.min_version = c.max_version = TLS1_2_VERSION;
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_false(c.reused);
	assert_non_null(c.session_out);
	assert_int_equal(SSL_SESSION_has_ticket(c.session_out), 1);
	tls_test_outcome_free(&o);

	struct tls_client again = client_for(NAME);
	again.min_version = again.max_version = TLS1_2_VERSION;
	again.session_in = c.session_out;
	run(&again, 0, &o);
	assert_served(&again, &o);
	assert_true(again.reused);
	assert_int_equal(SSL_session_reused(o.ssl), 1);
	tls_client_free(&again);
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

/* ---- SNI and the allow-list ---- */

static void test_sni_normalized(void **state)
{
	(void)state;
	struct tls_client c = client_for("EXAMPLE.Com.");
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(X509_check_host(c.peer, NAME, 0, 0, NULL), 1);
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

static void test_sni_refused(void **state)
{
	(void)state;
	struct tls_client c = client_for("other.example");
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_refused(&c, &o, "tls: host \"other.example\" not configured in --acme-hostnames");
	assert_non_null(strstr(c.error, "unrecognized name"));
	/* the allow-list comes before the store: nothing was looked up or started */
	assert_int_equal(atomic_load(&F.store.lookups), 0);

	c = client_for("sub.example.com");
	run(&c, 0, &o);
	assert_refused(&c, &o, "tls: host \"sub.example.com\" not configured in --acme-hostnames");

	c = client_for("localhost");
	run(&c, 0, &o);
	assert_refused(&c, &o, "tls: server name component count invalid");
}

static void test_sni_missing(void **state)
{
	(void)state;
	struct tls_client c = client_for(NULL);
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_refused(&c, &o, "tls: missing server name");
	assert_int_equal(atomic_load(&F.store.lookups), 0);
}

/* Failures are logged as Go's net/http logs them, through the scrubbing logger. */
static void test_refusal_logged_scrubbed(void **state)
{
	(void)state;
	const char *hosts[] = { NAME };
	struct sf_tls_config cfg = { .hostnames = hosts, .n_hostnames = 1, .lookup = store_lookup,
				     .store = &F.store };
	char err[256];
	struct sf_tls_ctx *loud = sf_tls_ctx_new(&cfg, err, sizeof err);
	assert_non_null(loud);
	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_NONBLOCK | O_CLOEXEC), 0);
	sf_log_setup(pipefd[1], true);

	int server_fd, client_fd;
	atomic_bool release = false;
	tls_test_tcp_pair(&server_fd, &client_fd);
	struct tls_client c = client_for("192.0.2.7");
	c.fd = client_fd;
	c.release = &release;
	struct tls_test_outcome o = { .fd = -1 };
	tls_client_start(&c);
	assert_non_null(sf_tls_accept(F.loop.base, server_fd, loud, 0, tls_test_on_done, &o));
	TEST_RUN_UNTIL(&F.loop, o.done);
	atomic_store(&release, true);
	tls_client_join(&c);
	sf_log_setup(2, true);

	assert_string_equal(o.error, "tls: host \"192.0.2.7\" not configured in --acme-hostnames");
	char line[1024] = "";
	ssize_t n = read(pipefd[0], line, sizeof line - 1);
	assert_true(n > 0);
	line[n] = '\0';
	assert_non_null(strstr(line, "http: TLS handshake error from [scrubbed]: tls: host "
				     "\"[scrubbed]\" not configured in --acme-hostnames\n"));
	assert_null(strstr(line, "127.0.0.1"));
	assert_null(strstr(line, "192.0.2.7"));
	close(pipefd[0]);
	close(pipefd[1]);
	sf_tls_ctx_free(loud);
}

/* ---- ECDSA or RSA ---- */

static void test_rsa_for_rsa_only_sigalgs(void **state)
{
	(void)state;
	struct tls_client c = client_for(NAME);
	c.sigalgs = "rsa_pss_rsae_sha256:rsa_pkcs1_sha256";
	c.verify_host = NAME;
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(peer_key_type(&c), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(c.peer)), 2048);
	assert_int_equal(c.verify_result, X509_V_OK);
	assert_int_equal(atomic_load(&F.store.rsa_lookups), 1);
	tls_client_free(&c);
	tls_test_outcome_free(&o);

	/* the same over TLS 1.2 */
	c = client_for(NAME);
	c.max_version = TLS1_2_VERSION;
	c.sigalgs = "RSA+SHA256:RSA+SHA384";
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(c.version, TLS1_2_VERSION);
	assert_int_equal(peer_key_type(&c), EVP_PKEY_RSA);
	assert_int_equal(SSL_CIPHER_get_auth_nid(SSL_get_current_cipher(o.ssl)), NID_auth_rsa);
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

static void test_rsa_for_tls13_only_ciphers(void **state)
{
	(void)state;
	/* A TLS-1.3-only hello lists no ECDHE_ECDSA suite: autocert's rule 3 picks RSA. */
	struct tls_client c = client_for(NAME);
	c.min_version = TLS1_3_VERSION;
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(c.version, TLS1_3_VERSION);
	assert_int_equal(peer_key_type(&c), EVP_PKEY_RSA);
	assert_int_equal(atomic_load(&F.store.rsa_lookups), 1);
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

static void test_rsa_without_p256(void **state)
{
	(void)state;
	struct tls_client c = client_for(NAME);
	c.groups = "X25519:P-384";
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(peer_key_type(&c), EVP_PKEY_RSA);
	tls_client_free(&c);
	tls_test_outcome_free(&o);

	c = client_for(NAME);
	c.groups = "X25519:P-256";
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(peer_key_type(&c), EVP_PKEY_EC);
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

/* ---- ALPN ---- */

static void test_alpn_http11_never_h2(void **state)
{
	(void)state;
	const char *offers[] = { "h2,http/1.1", "http/1.1", "spdy/3,http/1.1,h2" };
	for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++) {
		struct tls_client c = client_for(NAME);
		c.alpn = offers[i];
		struct tls_test_outcome o;
		run(&c, 0, &o);
		assert_served(&c, &o);
		assert_string_equal(c.alpn_selected, "http/1.1");
		const unsigned char *sel;
		unsigned sel_len;
		SSL_get0_alpn_selected(o.ssl, &sel, &sel_len);
		assert_int_equal(sel_len, 8);
		assert_memory_equal(sel, "http/1.1", 8);
		tls_client_free(&c);
		tls_test_outcome_free(&o);
	}

	struct tls_client c = client_for(NAME);
	c.alpn = "h2";
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_refused(&c, &o, "tls: client requested unsupported application protocols");
	assert_non_null(strstr(c.error, "no application protocol"));
}

/* The TLS-ALPN-01 certificate as production builds it (src/acme), as the server glue converts it. */
static struct sf_tls_cert *acme_challenge_cert(const char *name, const char *key_auth)
{
	struct sf_acme_cert *ac = NULL;
	char err[256] = "";
	assert_int_equal(sf_acme_tlsalpn01_cert(NULL, name, key_auth, &ac, err, sizeof err), 0);
	struct sf_tls_cert *c = sf_tls_cert_new(ac->key, sf_acme_cert_leaf(ac), NULL);
	sf_acme_cert_free(ac);
	return c;
}

static void check_acme_extension(X509 *x)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(SF_ACME_IDENTIFIER_OID, 1);
	int at = X509_get_ext_by_OBJ(x, oid, -1);
	ASN1_OBJECT_free(oid);
	assert_true(at >= 0);
	X509_EXTENSION *ext = X509_get_ext(x, at);
	assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
	const ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(ext);
	const unsigned char *p = ASN1_STRING_get0_data(value);
	ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(value));
	assert_non_null(inner);
	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA256((const uint8_t *)KEY_AUTH, strlen(KEY_AUTH), digest);
	assert_int_equal(ASN1_STRING_length(inner), 32);
	assert_memory_equal(ASN1_STRING_get0_data(inner), digest, 32);
	ASN1_OCTET_STRING_free(inner);
}

static void test_acme_tls_alpn(void **state)
{
	(void)state;
	struct sf_tls_cert *challenge = acme_challenge_cert(NAME, KEY_AUTH);
	assert_non_null(challenge);
	assert_int_equal(sf_tls_ctx_set_challenge(F.ctx, NAME, challenge), 0);

	/* what a CA's validation sends: SNI and ALPN ["acme-tls/1"] only */
	struct tls_client c = client_for(NAME);
	c.alpn = "acme-tls/1";
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_true(c.ok);
	assert_string_equal(c.alpn_selected, "acme-tls/1");
	assert_int_equal(X509_cmp(c.peer, sf_tls_cert_leaf(challenge)), 0);
	check_acme_extension(c.peer);
	assert_int_equal(atomic_load(&F.store.lookups), 0);
	/* the server closes it at once: nothing else is served on such a connection */
	assert_null(o.ssl);
	assert_int_equal(o.fd, -1);
	assert_string_equal(o.error, "tls: acme-tls/1 challenge answered");
	tls_client_free(&c);

	/* the same over TLS 1.2 */
	c = client_for(NAME);
	c.alpn = "acme-tls/1";
	c.max_version = TLS1_2_VERSION;
	run(&c, 0, &o);
	assert_true(c.ok);
	assert_int_equal(c.version, TLS1_2_VERSION);
	assert_string_equal(c.alpn_selected, "acme-tls/1");
	check_acme_extension(c.peer);
	assert_string_equal(o.error, "tls: acme-tls/1 challenge answered");
	tls_client_free(&c);

	/* acme-tls/1 among others: an ordinary client, the ordinary certificate */
	c = client_for(NAME);
	c.alpn = "acme-tls/1,http/1.1";
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_string_equal(c.alpn_selected, "http/1.1");
	ASN1_OBJECT *oid = OBJ_txt2obj(SF_ACME_IDENTIFIER_OID, 1);
	assert_int_equal(X509_get_ext_by_OBJ(c.peer, oid, -1), -1);
	ASN1_OBJECT_free(oid);
	tls_client_free(&c);
	tls_test_outcome_free(&o);

	/* the registry comes first: the store was not asked */
	assert_int_equal(atomic_load(&F.store.challenge_asks), 0);

	/* withdrawn: then the store is asked, and has none */
	assert_int_equal(sf_tls_ctx_set_challenge(F.ctx, NAME, NULL), 0);
	c = client_for(NAME);
	c.alpn = "acme-tls/1";
	run(&c, 0, &o);
	assert_refused(&c, &o, "tls: no challenge certificate for example.com");
	assert_int_equal(atomic_load(&F.store.challenge_asks), 1);

	/* a store that keeps challenge certificates itself */
	F.store.challenge = challenge;
	c = client_for(NAME);
	c.alpn = "acme-tls/1";
	run(&c, 0, &o);
	assert_true(c.ok);
	assert_string_equal(c.alpn_selected, "acme-tls/1");
	check_acme_extension(c.peer);
	assert_string_equal(o.error, "tls: acme-tls/1 challenge answered");
	assert_int_equal(atomic_load(&F.store.challenge_asks), 2);
	tls_client_free(&c);
	sf_tls_cert_unref(challenge);
}

/* ---- waiting for a certificate ---- */

struct publisher {
	pthread_t thread;
	struct sf_tls_cert *cert;	/* NULL: the issuance "failed" */
};

static void *publish_main(void *arg)
{
	struct publisher *p = arg;
	if (p->cert)
		sf_tls_table_put(F.store.table, PENDING_NAME, p->cert);
	else
		atomic_store(&F.store.pending, false);
	sf_tls_resume(F.ctx, "Pending.Example");
	return NULL;
}

/* Starts a handshake for PENDING_NAME, checks it stays suspended, then lets another thread
 * publish (or fail) and resume. */
static void run_pending(struct sf_tls_cert *cert, struct tls_client *c, struct tls_test_outcome *o)
{
	atomic_store(&F.store.pending, true);
	int server_fd, client_fd;
	atomic_bool release = false;
	tls_test_tcp_pair(&server_fd, &client_fd);
	memset(o, 0, sizeof *o);
	o->fd = -1;
	*c = client_for(PENDING_NAME);
	c->fd = client_fd;
	c->release = &release;
	tls_client_start(c);
	assert_non_null(sf_tls_accept(F.loop.base, server_fd, F.ctx, 0, tls_test_on_done, o));
	TEST_RUN_UNTIL(&F.loop, atomic_load(&F.store.lookups) == 1);
	for (int i = 0; i < 20; i++)
		event_base_loop(F.loop.base, EVLOOP_ONCE);
	assert_false(o->done);	/* suspended, nothing asked again */
	assert_int_equal(atomic_load(&F.store.lookups), 1);

	struct publisher p = { .cert = cert };
	assert_int_equal(pthread_create(&p.thread, NULL, publish_main, &p), 0);
	TEST_RUN_UNTIL(&F.loop, o->done);
	pthread_join(p.thread, NULL);
	atomic_store(&release, true);
	tls_client_join(c);
}

static void test_pending_then_published(void **state)
{
	(void)state;
	struct tls_client c;
	struct tls_test_outcome o;
	run_pending(F.pending_cert, &c, &o);
	assert_served(&c, &o);
	assert_int_equal(X509_cmp(c.peer, sf_tls_cert_leaf(F.pending_cert)), 0);
	assert_int_equal(atomic_load(&F.store.lookups), 2);
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

static void test_pending_then_failed(void **state)
{
	(void)state;
	struct tls_client c;
	struct tls_test_outcome o;
	run_pending(NULL, &c, &o);
	assert_refused(&c, &o, "tls: no certificate for pending.example");
	assert_int_equal(atomic_load(&F.store.lookups), 2);
}

static void test_pending_publish_before_queueing(void **state)
{
	(void)state;
	/* The store publishes and resumes between answering "pending" and the handshake queueing
	 * itself: the wake-up must not be lost (else this would end in a timeout). */
	F.store.publish_inside = F.pending_cert;
	struct tls_client c = client_for(PENDING_NAME);
	struct tls_test_outcome o;
	run(&c, 0, &o);
	assert_served(&c, &o);
	assert_int_equal(atomic_load(&F.store.lookups), 2);
	tls_client_free(&c);
	tls_test_outcome_free(&o);
}

static void test_pending_deadline(void **state)
{
	(void)state;
	atomic_store(&F.store.pending, true);
	struct tls_client c = client_for(PENDING_NAME);
	struct tls_test_outcome o;
	run(&c, 300, &o);
	assert_refused(&c, &o, "handshake timeout");
	assert_int_equal(atomic_load(&F.store.lookups), 1);
	/* the expired handshake is no longer queued: resuming touches nothing */
	sf_tls_resume(F.ctx, PENDING_NAME);
	for (int i = 0; i < 5; i++)
		event_base_loop(F.loop.base, EVLOOP_NONBLOCK);
	assert_int_equal(atomic_load(&F.store.lookups), 1);
}

/* ---- deadlines and bad input, with a raw client socket ---- */

struct raw {
	int server_fd, client_fd;
	struct tls_test_outcome o;
};

static void raw_start(struct raw *r, uint64_t deadline_ms)
{
	tls_test_tcp_pair(&r->server_fd, &r->client_fd);
	memset(&r->o, 0, sizeof r->o);
	r->o.fd = -1;
	assert_non_null(sf_tls_accept(F.loop.base, r->server_fd, F.ctx, deadline_ms, tls_test_on_done, &r->o));
}

static void raw_send(struct raw *r, const void *p, size_t n)
{
	assert_int_equal(send(r->client_fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Everything the server sent before closing (bounded by the 10 s receive timeout). */
static size_t raw_read_all(struct raw *r, char *buf, size_t cap)
{
	size_t len = 0;
	for (int i = 0; i < 100 && len < cap; i++) {
		ssize_t n = recv(r->client_fd, buf + len, cap - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	return len;
}

static void raw_assert_closed(struct raw *r)
{
	char buf[4096];
	raw_read_all(r, buf, sizeof buf);
	assert_int_equal(recv(r->client_fd, buf, sizeof buf, 0), 0);
	close(r->client_fd);
}

static void test_deadline_silent_client(void **state)
{
	(void)state;
	struct raw r;
	raw_start(&r, 200);
	TEST_RUN_UNTIL(&F.loop, r.o.done);
	assert_string_equal(r.o.error, "handshake timeout");
	assert_null(r.o.ssl);
	raw_assert_closed(&r);

	/* half a ClientHello, then silence */
	raw_start(&r, 200);
	raw_send(&r, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
	TEST_RUN_UNTIL(&F.loop, r.o.done);
	assert_string_equal(r.o.error, "handshake timeout");
	raw_assert_closed(&r);
}

static void test_eof_during_handshake(void **state)
{
	(void)state;
	struct raw r;
	raw_start(&r, 0);
	close(r.client_fd);
	TEST_RUN_UNTIL(&F.loop, r.o.done);
	assert_string_equal(r.o.error, "EOF");

	raw_start(&r, 0);
	raw_send(&r, "\x16\x03\x01\x02\x00\x01", 6);
	close(r.client_fd);
	TEST_RUN_UNTIL(&F.loop, r.o.done);
	assert_string_equal(r.o.error, "EOF");

	/* a reset instead of a FIN */
	raw_start(&r, 0);
	raw_send(&r, "\x16\x03\x01\x02\x00\x01", 6);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	assert_int_equal(setsockopt(r.client_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	close(r.client_fd);
	TEST_RUN_UNTIL(&F.loop, r.o.done);
	assert_string_equal(r.o.error, "read: connection reset by peer");
}

static void test_garbage(void **state)
{
	(void)state;
	uint8_t junk[64];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(0xA5 ^ i * 37);
	struct raw r;
	raw_start(&r, 0);
	raw_send(&r, junk, sizeof junk);
	TEST_RUN_UNTIL(&F.loop, r.o.done);
	assert_null(r.o.ssl);
	assert_int_equal(strncmp(r.o.error, "tls: ", 5), 0);
	raw_assert_closed(&r);

	/* a handshake record whose ClientHello body is cut short */
	raw_start(&r, 0);
	raw_send(&r, "\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00", 13);
	TEST_RUN_UNTIL(&F.loop, r.o.done);
	assert_int_equal(strncmp(r.o.error, "tls: ", 5), 0);
	raw_assert_closed(&r);
}

/* A well-framed ClientHello whose server_name list lies about its length. */
static void test_malformed_sni(void **state)
{
	(void)state;
	uint8_t hello[256];
	size_t n = 0;
	uint8_t body[200];
	size_t b = 0;
	body[b++] = 3;
	body[b++] = 3;
	for (int i = 0; i < 32; i++)
		body[b++] = (uint8_t)i;
	body[b++] = 0;					/* session id */
	memcpy(body + b, "\x00\x04\x13\x01\xc0\x2b", 6);	/* suites */
	b += 6;
	memcpy(body + b, "\x01\x00", 2);		/* compression: null */
	b += 2;
	static const uint8_t exts[] = {
		0x00, 0x00, 0x00, 0x09, 0x00, 0x07, 0x00, 0x00, 0x09, 'a', '.', 'e', 'x',	/* SNI */
		0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04,				/* versions */
	};
	body[b++] = 0;
	body[b++] = sizeof exts;
	memcpy(body + b, exts, sizeof exts);
	b += sizeof exts;
	hello[n++] = 0x16;
	hello[n++] = 3;
	hello[n++] = 1;
	hello[n++] = (uint8_t)((b + 4) >> 8);
	hello[n++] = (uint8_t)(b + 4);
	hello[n++] = 1;
	hello[n++] = 0;
	hello[n++] = (uint8_t)(b >> 8);
	hello[n++] = (uint8_t)b;
	memcpy(hello + n, body, b);
	n += b;

	struct raw r;
	raw_start(&r, 0);
	raw_send(&r, hello, n);
	TEST_RUN_UNTIL(&F.loop, r.o.done);
	assert_string_equal(r.o.error, "tls: malformed server_name extension");
	raw_assert_closed(&r);
	assert_int_equal(atomic_load(&F.store.lookups), 0);
}

#define GO_400 "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

static void test_plaintext_http(void **state)
{
	(void)state;
	const char *requests[] = {
		"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		struct raw r;
		raw_start(&r, 0);
		raw_send(&r, requests[i], strlen(requests[i]));
		TEST_RUN_UNTIL(&F.loop, r.o.done);
		assert_string_equal(r.o.error, "client sent an HTTP request to an HTTPS server");
		char buf[512];
		size_t len = raw_read_all(&r, buf, sizeof buf);
		assert_int_equal(len, strlen(GO_400));
		assert_memory_equal(buf, GO_400, len);
		raw_assert_closed(&r);
	}
}

static void test_plaintext_http_in_pieces(void **state)
{
	(void)state;
	/* The first segment is too short to judge; OpenSSL's own check catches the rest. */
	struct raw r;
	raw_start(&r, 0);
	raw_send(&r, "GE", 2);
	for (int i = 0; i < 5; i++)
		event_base_loop(F.loop.base, EVLOOP_NONBLOCK);
	raw_send(&r, "T / HTTP/1.0\r\n\r\n", 16);
	TEST_RUN_UNTIL(&F.loop, r.o.done);
	assert_string_equal(r.o.error, "client sent an HTTP request to an HTTPS server");
	char buf[512];
	size_t len = raw_read_all(&r, buf, sizeof buf);
	assert_int_equal(len, strlen(GO_400));
	assert_memory_equal(buf, GO_400, len);
	raw_assert_closed(&r);
}

static void not_called(void *arg, SSL *ssl, int fd, const char *error)
{
	(void)arg;
	(void)ssl;
	(void)fd;
	(void)error;
	fail_msg("done after cancel");
}

static void test_cancel(void **state)
{
	(void)state;
	int server_fd, client_fd;
	tls_test_tcp_pair(&server_fd, &client_fd);
	struct sf_tls_handshake *hs = sf_tls_accept(F.loop.base, server_fd, F.ctx, 200, not_called, NULL);
	assert_non_null(hs);
	sf_tls_handshake_cancel(hs);
	char c;
	assert_int_equal(recv(client_fd, &c, 1, 0), 0);
	close(client_fd);
	/* its timer is gone too */
	for (int i = 0; i < 40; i++)
		event_base_loop(F.loop.base, EVLOOP_ONCE);

	/* cancelled while waiting for a certificate: no longer queued */
	atomic_store(&F.store.pending, true);
	atomic_bool release = false;
	tls_test_tcp_pair(&server_fd, &client_fd);
	struct tls_client cl = client_for(PENDING_NAME);
	cl.fd = client_fd;
	cl.release = &release;
	tls_client_start(&cl);
	hs = sf_tls_accept(F.loop.base, server_fd, F.ctx, 0, not_called, NULL);
	assert_non_null(hs);
	TEST_RUN_UNTIL(&F.loop, atomic_load(&F.store.lookups) == 1);
	sf_tls_handshake_cancel(hs);
	sf_tls_resume(F.ctx, NULL);
	atomic_store(&release, true);
	tls_client_join(&cl);
	assert_false(cl.ok);
	for (int i = 0; i < 5; i++)
		event_base_loop(F.loop.base, EVLOOP_NONBLOCK);
	assert_int_equal(atomic_load(&F.store.lookups), 1);
}

#define T(f) cmocka_unit_test_setup(f, reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_tls13_ecdsa),
		T(test_tls12),
		T(test_hello_retry_request),
		T(test_old_versions_and_cbc_refused),
		T(test_session_resumption),
		T(test_sni_normalized),
		T(test_sni_refused),
		T(test_sni_missing),
		T(test_refusal_logged_scrubbed),
		T(test_rsa_for_rsa_only_sigalgs),
		T(test_rsa_for_tls13_only_ciphers),
		T(test_rsa_without_p256),
		T(test_alpn_http11_never_h2),
		T(test_acme_tls_alpn),
		T(test_pending_then_published),
		T(test_pending_then_failed),
		T(test_pending_publish_before_queueing),
		T(test_pending_deadline),
		T(test_deadline_silent_client),
		T(test_eof_during_handshake),
		T(test_garbage),
		T(test_malformed_sni),
		T(test_plaintext_http),
		T(test_plaintext_http_in_pieces),
		T(test_cancel),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
