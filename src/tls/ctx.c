#include "tls/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

/* TLS 1.2 suites: ECDHE key exchange with an AEAD only (Go's defaults, minus the CBC ones). */
#define TLS12_CIPHERS                                                        \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"         \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"         \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS "X25519:P-256:P-384"
/* Bytes read from the socket at a time, as the plain path's SF_CONN_READ_CHUNK. */
#define READ_BUFFER 65536

static int hs_index = -1;
static pthread_once_t hs_index_once = PTHREAD_ONCE_INIT;

static void make_hs_index(void)
{
	hs_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

int sf_tls_hs_index(void)
{
	pthread_once(&hs_index_once, make_hs_index);
	return hs_index;
}

static void set_openssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;
	snprintf(err, errlen, "tls: %s: %s", what, why ? why : "failed");
	ERR_clear_error();
}

static SSL_CTX *make_ssl_ctx(char *err, size_t errlen)
{
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());
	if (!s) {
		set_openssl_error(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			       SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Partial writes and a moving buffer: sf_conn retries from its evbuffer, which may have
	 * grown (never shrunk) since a write that wanted the socket writable. Idle connections
	 * (most WebSockets) give their record buffers back. */
	SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			    SSL_MODE_RELEASE_BUFFERS);
	/* No read-ahead during the handshake: OpenSSL then reads exactly the records it needs, and
	 * the client's first application record is still in the socket when the handshake ends, for
	 * our record layer (handoff.c). Connections left on OpenSSL's record layer turn read-ahead on
	 * then: one recv(2) fills its record buffer (READ_BUFFER bytes, several records), given back
	 * whenever it is empty (SSL_MODE_RELEASE_BUFFERS). */
	SSL_CTX_set_read_ahead(s, 0);
	SSL_CTX_set_default_read_buffer_len(s, READ_BUFFER);
	static const unsigned char sid_ctx[] = "snowflake-server";
	if (SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(s, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(s, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(s, GROUPS) != 1 ||
	    SSL_CTX_set_session_id_context(s, sid_ctx, sizeof sid_ctx - 1) != 1 ||
	    /* No TLS 1.3 tickets: the proxies' clients keep no session cache, and a ticket
	     * would be a record under the application key before ours (handoff.c). */
	    SSL_CTX_set_num_tickets(s, 0) != 1) {
		set_openssl_error(err, errlen, "configuring the context");
		SSL_CTX_free(s);
		return NULL;
	}
	return s;
}

static bool listed(const struct sf_tls_ctx *ctx, const char *host)
{
	for (size_t i = 0; i < ctx->n_hosts; i++)
		if (strcmp(ctx->hosts[i], host) == 0)
			return true;
	return false;
}

static bool copy_hosts(struct sf_tls_ctx *ctx, const struct sf_tls_config *cfg)
{
	ctx->hosts = calloc(cfg->n_hostnames ? cfg->n_hostnames : 1, sizeof *ctx->hosts);
	if (!ctx->hosts)
		return false;
	for (size_t i = 0; i < cfg->n_hostnames; i++) {
		char host[SF_TLS_NAME_BUF];
		const char *h = cfg->hostnames[i];
		if (!h || sf_hostname_normalize(h, host, sizeof host, false, NULL, 0))
			continue;
		if (listed(ctx, host))
			continue;
		if (!(ctx->hosts[ctx->n_hosts] = strdup(host)))
			return false;
		ctx->n_hosts++;
	}
	return true;
}

struct sf_tls_ctx *sf_tls_ctx_new(const struct sf_tls_config *cfg, char *err, size_t errlen)
{
	struct sf_tls_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		snprintf(err, errlen, "tls: out of memory");
		return NULL;
	}
	pthread_mutex_init(&ctx->wait_lock, NULL);
	atomic_init(&ctx->wake_gen, 0);
	ctx->lookup = cfg->lookup;
	ctx->challenge = cfg->challenge;
	ctx->store = cfg->store;
	ctx->quiet = cfg->quiet;
	if (sf_tls_hs_index() < 0) {
		snprintf(err, errlen, "tls: no SSL ex_data index");
		sf_tls_ctx_free(ctx);
		return NULL;
	}
	if (!copy_hosts(ctx, cfg) || !(ctx->challenges = sf_tls_table_new(SF_TLS_MAX_CHALLENGES))) {
		snprintf(err, errlen, "tls: out of memory");
		sf_tls_ctx_free(ctx);
		return NULL;
	}
	if (!(ctx->ssl = make_ssl_ctx(err, errlen))) {
		sf_tls_ctx_free(ctx);
		return NULL;
	}
	sf_tls_select_install(ctx);
	sf_tls_handoff_install(ctx->ssl);
	ctx->openssl_records = cfg->openssl_records;
	return ctx;
}

void sf_tls_ctx_free(struct sf_tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl);
	for (size_t i = 0; i < ctx->n_hosts; i++)
		free(ctx->hosts[i]);
	free(ctx->hosts);
	sf_tls_table_free(ctx->challenges);
	pthread_mutex_destroy(&ctx->wait_lock);
	free(ctx);
}

SSL_CTX *sf_tls_ctx_ssl_ctx(struct sf_tls_ctx *ctx)
{
	return ctx->ssl;
}

bool sf_tls_ctx_allows(struct sf_tls_ctx *ctx, const char *name)
{
	char host[SF_TLS_NAME_BUF];
	return !sf_hostname_normalize(name, host, sizeof host, false, NULL, 0) && listed(ctx, host);
}

int sf_tls_ctx_set_challenge(struct sf_tls_ctx *ctx, const char *name, struct sf_tls_cert *cert)
{
	char host[SF_TLS_NAME_BUF];
	if (sf_hostname_normalize(name, host, sizeof host, false, NULL, 0))
		return -1;
	return sf_tls_table_put(ctx->challenges, host, cert);
}
