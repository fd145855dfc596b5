/* Shared by client.c (transport, nonces, signed requests, account) and order.c (the order flow). */
#ifndef SF_ACME_CLIENT_INT_H
#define SF_ACME_CLIENT_INT_H

#include <jansson.h>
#include <stdint.h>

#include "acme/client.h"

#define CLIENT_MAX_TYPES 4
#define CLIENT_POLL_MAX_MS 10000
#define CLIENT_SERVER_ERROR_RETRIES 3

struct sf_acme_client {
	struct sf_acme_client_config cfg; /* strings below are private copies */
	char *directory_url, *ca_file, *user_agent, *email;
	char *types[CLIENT_MAX_TYPES];
	size_t n_types;
	EVP_PKEY *key;
	struct sf_acme_curl *curl;

	bool have_directory;
	char *new_nonce_url, *new_account_url, *new_order_url;
	char *kid;
	char nonce[256];
	uint64_t deadline_ms; /* of the operation in progress; 0: none */
	struct sf_acme_error err;
};

/* Local failure (no CA answer involved). Always returns -1. */
int sf_acme_client_fail(struct sf_acme_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Signed POST to url: payload_json NULL = POST-as-GET; jwk instead of kid when use_jwk. Retries
 * badNonce (with the nonce of the error reply) and 5xx, bounded. 0 with a 2xx/3xx answer in
 * resp; -1 with c->err set ("<what>: <status> <type>: <detail>"). */
int sf_acme_client_post(struct sf_acme_client *c, const char *url, const char *payload_json, bool use_jwk,
		const char *accept, const char *what, struct sf_acme_http_response *resp);

/* sf_acme_client_post + JSON object body. NULL with c->err on failure. */
json_t *sf_acme_client_post_json(struct sf_acme_client *c, const char *url, const char *payload_json,
			 const char *what, struct sf_acme_http_response *resp);

/* Polls url (POST-as-GET) until its "status" is done1 or done2 (may be NULL); "invalid" or an
 * unexpected status fails (the object's "error" goes into c->err). Honours Retry-After. */
json_t *sf_acme_client_poll(struct sf_acme_client *c, const char *url, const char *done1, const char *done2,
		    const char *what);

/* Sleeps ms within the current deadline; -1 (c->err set) when the deadline or a cancel hits. */
int sf_acme_client_wait(struct sf_acme_client *c, unsigned ms, const char *what);

/* Fills c->err from an RFC 7807 problem object (type, detail, subproblems), prefixed by what. */
void sf_acme_client_problem(struct sf_acme_client *c, long status, json_t *problem, long retry_after,
		    const char *what);

static inline const char *json_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

#endif
