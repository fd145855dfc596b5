/* TLS mode's certificates for a program that embeds the server: an ACME manager (obtains,
 * caches in Go autocert's layout, renews) joined to a TLS context that sf_server_config.tls
 * takes, and the port-80 listener that answers HTTP-01 challenges. Certificates are looked up
 * during handshakes without blocking; a name with none yet is obtained on the manager's thread
 * while that handshake waits. */
#ifndef SNOWFLAKE_CERTS_H
#define SNOWFLAKE_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sf_certs;
struct sf_http01;
struct sf_tls_ctx;

/* Let's Encrypt's production directory, upstream's default for --acme-directory. */
#define SF_CERTS_ACME_DIRECTORY_DEFAULT "https://acme-v02.api.letsencrypt.org/directory"

struct sf_certs_config {
	const char *const *hostnames;	/* --acme-hostnames, split on ',' */
	size_t n_hostnames;
	const char *email;		/* --acme-email, may be "" */
	const char *directory_url;	/* --acme-directory */
	const char *ca_file;		/* --acme-ca-file, may be NULL */
	const char *cache_dir;		/* NULL: no cache */
	uint64_t renew_before_ms;	/* --acme-renew-before */
	bool http01;			/* an HTTP-01 listener is up (sf_certs_http01_new) */
};

/* Starts the manager (loads the cache, no network) and builds the TLS context. NULL + err. */
struct sf_certs *sf_certs_new(const struct sf_certs_config *cfg, char *err, size_t errlen);
/* The TLS context for sf_server_config.tls; lives as long as certs. */
struct sf_tls_ctx *sf_certs_tls(struct sf_certs *certs);
/* SIGHUP: the cache is re-read (off the caller's thread); a certificate someone else put there
 * replaces the one in service, and new handshakes get it. */
void sf_certs_reload(struct sf_certs *certs);
void sf_certs_free(struct sf_certs *certs);

/* The port-80 listener, as autocert's HTTPHandler(nil): HTTP-01 challenge answers, a redirect
 * to https:// for other GET and HEAD requests, 400 otherwise; one request per connection. Serves
 * on listen_fd (listening, non-blocking; owned from now on) on base's thread. NULL if out of
 * memory (listen_fd is then closed). */
struct sf_http01 *sf_certs_http01_new(struct sf_certs *certs, struct event_base *base, int listen_fd);
void sf_http01_free(struct sf_http01 *h);

#endif
