/* What OpenSSL itself keeps for one idle server-side TLS connection, by allocation site.
 *
 * Counts every byte OpenSSL allocates (CRYPTO_set_mem_functions) while N connections are made
 * between a client and a server SSL over BIO pairs, with the server context set up as
 * src/tls/ctx.c sets it (release buffers, read-ahead with a 64 KiB buffer, one ticket, X25519,
 * ECDSA P-256 certificate). After one byte each way the client side is freed and the server
 * sides are kept, idle; then they are freed one by one and what each gave back is summed by the
 * file:line that allocated it. The BIO pair's own buffer (bss_bio.c) stands in for the socket
 * and is shown apart: a real connection has a socket BIO with no buffer instead.
 *
 *   cc -O2 -Wall -Wextra -Werror -o /tmp/openssl-idle-bytes bench/openssl-idle-bytes.c -lssl -lcrypto
 *   /tmp/openssl-idle-bytes [N]        # N connections, 300 by default
 *
 * docs/performance.md ("What an idle wss:// session costs") records a result. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every live OpenSSL allocation, in a list, with where it was made. */
struct block {
	struct block *prev, *next;
	size_t size;
	const char *file;
	int line;
	long align; /* keeps the payload 16-byte aligned */
};

static struct block live = { &live, &live, 0, NULL, 0, 0 };

static void block_link(struct block *b)
{
	b->next = live.next;
	b->prev = &live;
	live.next->prev = b;
	live.next = b;
}

static void block_unlink(struct block *b)
{
	b->prev->next = b->next;
	b->next->prev = b->prev;
}

static void *count_malloc(size_t n, const char *file, int line)
{
	struct block *b = malloc(sizeof *b + n);
	if (!b)
		return NULL;
	b->size = n;
	b->file = file;
	b->line = line;
	block_link(b);
	return b + 1;
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!p)
		return;
	struct block *b = (struct block *)p - 1;
	block_unlink(b);
	free(b);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	if (!p)
		return count_malloc(n, file, line);
	struct block *b = (struct block *)p - 1;
	block_unlink(b);
	struct block *nb = realloc(b, sizeof *nb + n);
	if (!nb) {
		block_link(b);
		return NULL;
	}
	nb->size = n;
	nb->file = file;
	nb->line = line;
	block_link(nb);
	return nb + 1;
}

/* Bytes per allocation site, for the sites seen (a small table: OpenSSL has few here). */
struct site {
	const char *file;
	int line;
	long long bytes, blocks;
};

#define MAX_SITES 512
static struct site sites[MAX_SITES];
static size_t nsites;

static struct site *site_of(const char *file, int line)
{
	for (size_t i = 0; i < nsites; i++)
		if (sites[i].line == line && sites[i].file == file)
			return &sites[i];
	if (nsites == MAX_SITES)
		return NULL;
	sites[nsites] = (struct site){ file, line, 0, 0 };
	return &sites[nsites++];
}

/* sign: +1 to add what is live now to each site, -1 to subtract it. */
static void tally(int sign)
{
	for (struct block *b = live.next; b != &live; b = b->next) {
		struct site *s = site_of(b->file, b->line);
		if (s) {
			s->bytes += sign * (long long)b->size;
			s->blocks += sign;
		}
	}
}

static int by_bytes(const void *a, const void *b)
{
	const struct site *x = a, *y = b;
	return (y->bytes > x->bytes) - (y->bytes < x->bytes);
}

static void die(const char *what)
{
	fprintf(stderr, "openssl-idle-bytes: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static SSL_CTX *server_ctx(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	if (!key || !x)
		die("key or certificate");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"snowflake.test",
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, key, EVP_sha256()))
		die("X509_sign");

	SSL_CTX *s = SSL_CTX_new(TLS_server_method());
	if (!s || SSL_CTX_use_certificate(s, x) != 1 || SSL_CTX_use_PrivateKey(s, key) != 1)
		die("server context");
	/* as src/tls/ctx.c */
	SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			       SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			    SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(s, 1);
	SSL_CTX_set_default_read_buffer_len(s, 65536);
	if (SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set1_groups_list(s, "X25519:P-256:P-384") != 1 ||
	    SSL_CTX_set_num_tickets(s, 1) != 1)
		die("configuring the server context");
	X509_free(x);
	EVP_PKEY_free(key);
	return s;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 300;
	if (n < 1 || n > 100000)
		die("N: 1 to 100000");
	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		die("CRYPTO_set_mem_functions (must come before any OpenSSL call)");
	SSL_CTX *sctx = server_ctx();
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	if (!cctx)
		die("client context");
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	SSL **servers = calloc((size_t)n, sizeof *servers);
	if (!servers)
		die("out of memory");
	for (int i = 0; i < n; i++) {
		SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
		BIO *cb, *sb;
		if (!c || !s || BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
			die("SSL_new / BIO_new_bio_pair");
		SSL_set_bio(c, cb, cb);
		SSL_set_bio(s, sb, sb);
		SSL_set_connect_state(c);
		SSL_set_accept_state(s);
		int done = 0;
		for (int round = 0; round < 20 && done != 2; round++)
			done = (SSL_do_handshake(c) == 1) + (SSL_do_handshake(s) == 1);
		if (done != 2)
			die("handshake");
		char byte;
		if (SSL_write(c, "x", 1) != 1 || SSL_read(s, &byte, 1) != 1 ||
		    SSL_write(s, "y", 1) != 1 || SSL_read(c, &byte, 1) != 1)
			die("one byte each way");
		SSL_free(c); /* the server side keeps its half of the pair */
		servers[i] = s;
	}
	tally(+1);
	for (int i = 0; i < n; i++)
		SSL_free(servers[i]);
	tally(-1); /* what is left per site: what the n idle server SSLs held */
	qsort(sites, nsites, sizeof sites[0], by_bytes);
	long long total = 0, pair = 0;
	printf("%10s %7s  %s\n", "bytes/conn", "blocks", "allocated at");
	for (size_t i = 0; i < nsites && sites[i].bytes > 0; i++) {
		const struct site *s = &sites[i];
		bool is_pair = strstr(s->file, "bss_bio.c") != NULL;
		printf("%10.1f %7.2f  %s:%d%s\n", (double)s->bytes / n, (double)s->blocks / n, s->file,
		       s->line, is_pair ? "  (BIO pair: stands in for the socket)" : "");
		total += s->bytes;
		if (is_pair)
			pair += s->bytes;
	}
	printf("per idle server connection: %.0f bytes held by OpenSSL, %.0f of them by the BIO pair, "
	       "%.0f without it (%d connections)\n",
	       (double)total / n, (double)pair / n, (double)(total - pair) / n, n);
	free(servers);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return 0;
}
