/* A blocking RFC 8555 client doing what autocert's Manager asks of golang.org/x/crypto/acme:
 * directory, nonces (badNonce retried with the fresh nonce, bounded), newAccount (terms agreed,
 * mailto: contact only with an email), then per certificate one order with one identifier,
 * challenges in a preference order with a new order for the next type after a failure, finalize
 * with a CSR, POST-as-GET download of the PEM chain. Every wait is bounded (Retry-After honoured
 * up to a cap, an overall deadline per issuance). Meant for a dedicated worker thread: it sleeps
 * and blocks on the network; never call it from an event loop. Not thread-safe. */
#ifndef SF_ACME_CLIENT_H
#define SF_ACME_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "acme/http.h"

#define SF_ACME_DEFAULT_DIRECTORY "https://acme-v02.api.letsencrypt.org/directory"
#define SF_ACME_PROBLEM_PREFIX "urn:ietf:params:acme:error:"

struct sf_acme_client_config {
	const char *directory_url;   /* NULL: SF_ACME_DEFAULT_DIRECTORY */
	const char *ca_file;         /* trust for the ACME API (--acme-ca-file); NULL: system store */
	const char *user_agent;      /* NULL: "autocert", as the reference */
	const char *email;           /* NULL or "": no contact */
	unsigned connect_timeout_ms; /* per request; 0: 10 s */
	unsigned request_timeout_ms; /* per request; 0: 30 s */
	unsigned issue_timeout_ms;   /* one whole issuance, polls included; 0: 5 min (autocert) */
	unsigned poll_interval_ms;   /* first poll delay without Retry-After, then doubled up to
				      * 10 s; 0: 1 s */
	unsigned max_retry_after_ms; /* a longer Retry-After is cut to this while polling; 0: 60 s */
	int nonce_retries;           /* badNonce retries per request; 0: 15 */
	/* Challenge types in order of preference, NULL-terminated; NULL: tls-alpn-01, http-01 */
	const char *const *challenge_types;
	/* Transport; NULL: libcurl with the settings above */
	sf_acme_http_fn http;
	void *http_arg;
	/* Waiting: NULL = nanosleep; return -1 to abandon the issuance (shutting down) */
	int (*sleep_ms)(void *arg, unsigned ms);
	/* Polled by libcurl during transfers; true aborts the request */
	bool (*cancelled)(void *arg);
	void *hook_arg;
};

/* The last failure: what the CA said (RFC 7807 problem document) or what went wrong locally. */
struct sf_acme_error {
	long http_status;       /* 0: no HTTP answer or a local failure */
	char type[128];         /* problem type, e.g. "urn:ietf:params:acme:error:rateLimited" */
	char detail[512];
	long retry_after_s;     /* from Retry-After; -1 when none */
	char message[1400];     /* the whole story, for the log */
};

/* A challenge to make available while the CA validates it. */
struct sf_acme_challenge {
	const char *type;              /* "http-01" or "tls-alpn-01" */
	const char *name;              /* the identifier (domain) */
	const char *token;             /* base64url characters only */
	const char *key_authorization; /* "<token>.<thumbprint>" */
};

/* publish: make the response available (HTTP-01: GET /.well-known/acme-challenge/<token> →
 * key_authorization; TLS-ALPN-01: serve the challenge cert for name when the ClientHello offers
 * only acme-tls/1). Return 0, or -1 + err to skip to the next challenge type. withdraw: remove
 * it again; called once for every successful publish. Both run on the client's thread. */
struct sf_acme_challenge_ops {
	int (*publish)(void *arg, const struct sf_acme_challenge *ch, char *err, size_t errlen);
	void (*withdraw)(void *arg, const struct sf_acme_challenge *ch);
	void *arg;
};

struct sf_acme_client;

/* account_key: the client takes a reference. NULL + err on bad configuration. */
struct sf_acme_client *sf_acme_client_new(const struct sf_acme_client_config *cfg, EVP_PKEY *account_key,
					  char *err, size_t errlen);
void sf_acme_client_free(struct sf_acme_client *c);

/* Directory + newAccount (200 "exists" and 201 "created" both succeed). Done once; later calls
 * return 0 at once. 0 or -1 (see sf_acme_client_error). */
int sf_acme_client_register(struct sf_acme_client *c);
/* The account URL ("kid") after registration, else NULL. */
const char *sf_acme_client_account_url(const struct sf_acme_client *c);

/* Obtains a certificate for name whose key is cert_key: registers if needed, orders, satisfies
 * the authorization through ops, finalizes, downloads. Pending authorizations of abandoned
 * orders are deactivated (best effort). *chain: leaf first. 0 or -1. */
int sf_acme_client_issue(struct sf_acme_client *c, const char *name, EVP_PKEY *cert_key,
			 const struct sf_acme_challenge_ops *ops, STACK_OF(X509) **chain);

const struct sf_acme_error *sf_acme_client_error(const struct sf_acme_client *c);
/* True when the last error's problem type is SF_ACME_PROBLEM_PREFIX + short_type
 * (e.g. "rateLimited", "rejectedIdentifier", "unauthorized", "badNonce"). */
bool sf_acme_error_is(const struct sf_acme_error *e, const char *short_type);

/* The PEM chain of a certificate download → X509 list (leaf first); NULL if empty or bad. */
STACK_OF(X509) *sf_acme_parse_pem_chain(const char *pem, size_t len);

#endif
