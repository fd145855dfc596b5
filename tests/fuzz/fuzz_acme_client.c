/* The ACME client's whole issuance (src/acme/client.c, order.c) against a CA whose every answer
 * comes from the input: directory, nonces, account, order, authorizations, challenges, polls,
 * finalize and the PEM chain download are JSON / PEM the client parses. Waits return at once.
 * Input: answers, one per request, as [status][flags][len lo][len hi][len bytes of body]:
 *   status: index into `statuses`; flags bits 0-1: Content-Type (JSON, problem, PEM, none),
 *   bits 2-3: Retry-After ("", "0", "1", an HTTP date), bit 4: no Replay-Nonce, bit 5: no
 *   Location. When the input runs out the transport fails ("connection refused"). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "acme/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static EVP_PKEY *account_key; /* made once: read-only for every input */
static EVP_PKEY *cert_key;

static const long statuses[] = {200, 201, 204, 400, 403, 404, 429, 500, 503, 302};
static const char *const content_types[] = {"application/json", "application/problem+json",
					    "application/pem-certificate-chain", ""};
static const char *const retry_afters[] = {"", "0", "1", "Wed, 21 Oct 2015 07:28:00 GMT"};

struct script {
	const uint8_t *data;
	size_t size, off;
	unsigned requests;
};

static int answer(void *arg, const struct sf_acme_http_request *req,
		  struct sf_acme_http_response *resp, char *err, size_t errlen)
{
	struct script *s = arg;
	if (!req->method || !req->url)
		__builtin_trap();
	if (s->size - s->off < 4) {
		snprintf(err, errlen, "connection refused");
		return -1;
	}
	const uint8_t *h = s->data + s->off;
	size_t len = (size_t)h[2] | (size_t)h[3] << 8;
	s->off += 4;
	if (len > s->size - s->off)
		len = s->size - s->off;
	sf_acme_http_response_reset(resp);
	resp->status = statuses[h[0] % (sizeof statuses / sizeof statuses[0])];
	if (len) {
		resp->body = malloc(len + 1);
		if (!resp->body)
			abort();
		memcpy(resp->body, s->data + s->off, len);
		resp->body[len] = '\0';
		resp->body_len = len;
	}
	s->off += len;
	snprintf(resp->content_type, sizeof resp->content_type, "%s", content_types[h[1] & 3]);
	snprintf(resp->retry_after, sizeof resp->retry_after, "%s", retry_afters[(h[1] >> 2) & 3]);
	s->requests++;
	if (!(h[1] & 0x10))
		snprintf(resp->replay_nonce, sizeof resp->replay_nonce, "nonce%u", s->requests);
	if (!(h[1] & 0x20))
		snprintf(resp->location, sizeof resp->location, "https://ca.test/loc/%u", s->requests);
	return 0;
}

static int no_sleep(void *arg, unsigned ms)
{
	(void)arg;
	(void)ms;
	return 0;
}

static int publish(void *arg, const struct sf_acme_challenge *ch, char *err, size_t errlen)
{
	(void)arg;
	(void)err;
	(void)errlen;
	/* What the client hands over comes from the CA: it must be sane strings. */
	if (strlen(ch->type) + strlen(ch->name) + strlen(ch->token) +
		    strlen(ch->key_authorization) == 0)
		__builtin_trap();
	return 0;
}

static void withdraw(void *arg, const struct sf_acme_challenge *ch)
{
	(void)arg;
	(void)ch;
}

static EVP_PKEY *ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (!k)
		abort();
	return k;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	account_key = ec_key();
	cert_key = ec_key();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script script = {.data = data, .size = size};
	static const char *const types[] = {"tls-alpn-01", "http-01", NULL};
	struct sf_acme_client_config cfg = {
		.directory_url = "https://ca.test/directory",
		.email = "admin@example.org",
		.challenge_types = types,
		.http = answer,
		.http_arg = &script,
		.sleep_ms = no_sleep,
	};
	char err[256];
	struct sf_acme_client *c = sf_acme_client_new(&cfg, account_key, err, sizeof err);
	if (!c)
		__builtin_trap();
	struct sf_acme_challenge_ops ops = {.publish = publish, .withdraw = withdraw};
	STACK_OF(X509) *chain = NULL;
	if (sf_acme_client_issue(c, "snowflake.example.org", cert_key, &ops, &chain) == 0) {
		if (!chain || sk_X509_num(chain) < 1)
			__builtin_trap();
		sk_X509_pop_free(chain, X509_free);
	} else {
		const struct sf_acme_error *e = sf_acme_client_error(c);
		if (strnlen(e->message, sizeof e->message) == sizeof e->message)
			__builtin_trap();
	}
	sf_acme_client_free(c);
	return 0;
}
