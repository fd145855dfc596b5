/* The ACME client's HTTP exchange, as a replaceable transport: libcurl in production, canned
 * answers in unit tests. One request at a time, blocking; HTTPS only with libcurl. */
#ifndef SF_ACME_HTTP_H
#define SF_ACME_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define SF_ACME_HTTP_BODY_MAX (1024 * 1024) /* a certificate chain is a few KiB */
#define SF_ACME_HTTP_HEADER_MAX 2048

struct sf_acme_http_request {
	const char *method; /* "GET", "HEAD" or "POST" */
	const char *url;
	const char *body;   /* POST: the JWS (Content-Type application/jose+json) */
	size_t body_len;
	const char *accept; /* NULL: none */
};

struct sf_acme_http_response {
	long status;
	char *body; /* malloc'd and NUL-ended, or NULL when empty */
	size_t body_len;
	char content_type[128];
	char location[SF_ACME_HTTP_HEADER_MAX];
	char replay_nonce[256];
	char retry_after[128]; /* raw header value; "" when absent */
};

void sf_acme_http_response_reset(struct sf_acme_http_response *r);

/* 0: an HTTP answer arrived (any status) and resp is filled; -1: no answer (err says why:
 * connection refused, timeout, TLS failure, cancelled...). */
typedef int (*sf_acme_http_fn)(void *arg, const struct sf_acme_http_request *req,
			       struct sf_acme_http_response *resp, char *err, size_t errlen);

struct sf_acme_curl_options {
	const char *ca_file;          /* NULL: the system trust store */
	const char *user_agent;
	unsigned connect_timeout_ms;
	unsigned request_timeout_ms;
	bool (*cancelled)(void *arg); /* polled during transfers; true aborts */
	void *cancelled_arg;
};

struct sf_acme_curl;

struct sf_acme_curl *sf_acme_curl_new(const struct sf_acme_curl_options *o, char *err, size_t errlen);
void sf_acme_curl_free(struct sf_acme_curl *c);
/* An sf_acme_http_fn; arg is the struct sf_acme_curl. */
int sf_acme_curl_request(void *arg, const struct sf_acme_http_request *req,
			 struct sf_acme_http_response *resp, char *err, size_t errlen);

/* Retry-After (delay-seconds or HTTP-date) in seconds from now; -1 when absent or unreadable. */
long sf_acme_retry_after_seconds(const char *value);

#endif
