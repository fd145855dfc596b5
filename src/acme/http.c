#include "acme/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "acme/pem.h"

struct sf_acme_curl {
	CURL *easy;
	struct sf_acme_curl_options opt;
	char *ca_file;
	char *user_agent;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void sf_acme_http_response_reset(struct sf_acme_http_response *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

struct sf_acme_curl *sf_acme_curl_new(const struct sf_acme_curl_options *o, char *err, size_t errlen)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	struct sf_acme_curl *c = calloc(1, sizeof *c);
	if (!c)
		goto oom;
	c->opt = *o;
	c->easy = curl_easy_init();
	c->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	c->user_agent = strdup(o->user_agent ? o->user_agent : "autocert");
	if (!c->easy || (o->ca_file && !c->ca_file) || !c->user_agent)
		goto oom;
	return c;
oom:
	sf_acme_curl_free(c);
	snprintf(err, errlen, "libcurl: cannot create a handle");
	return NULL;
}

void sf_acme_curl_free(struct sf_acme_curl *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	free(c->ca_file);
	free(c->user_agent);
	free(c);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sf_strbuf *b = arg;
	/* returning less than given makes libcurl fail the transfer (CURLE_WRITE_ERROR) */
	return sf_strbuf_append(b, p, size * n) ? 0 : size * n;
}

/* Copies the value of "Name: value\r\n" into out when name matches (last one wins). */
static void take_header(const char *line, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	size_t n = (size_t)(end - v);
	if (n >= cap)
		n = 0; /* too long to be genuine: treat as absent */
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sf_acme_http_response *r = arg;
	size_t len = size * n;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (after a redirect or 100-continue): forget earlier headers */
		r->content_type[0] = r->location[0] = r->replay_nonce[0] = r->retry_after[0] = '\0';
		return len;
	}
	take_header(p, len, "Content-Type", r->content_type, sizeof r->content_type);
	take_header(p, len, "Location", r->location, sizeof r->location);
	take_header(p, len, "Replay-Nonce", r->replay_nonce, sizeof r->replay_nonce);
	take_header(p, len, "Retry-After", r->retry_after, sizeof r->retry_after);
	return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	struct sf_acme_curl *c = arg;
	return c->opt.cancelled && c->opt.cancelled(c->opt.cancelled_arg) ? 1 : 0;
}

int sf_acme_curl_request(void *arg, const struct sf_acme_http_request *req,
			 struct sf_acme_http_response *resp, char *err, size_t errlen)
{
	struct sf_acme_curl *c = arg;
	CURL *e = c->easy;
	struct sf_strbuf body;
	struct curl_slist *headers = NULL;
	char accept[160];
	char curl_err[CURL_ERROR_SIZE] = "";
	int rc = -1;

	sf_acme_http_response_reset(resp);
	sf_strbuf_init(&body, SF_ACME_HTTP_BODY_MAX);
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_err);
	long connect_ms = c->opt.connect_timeout_ms ? (long)c->opt.connect_timeout_ms : 10000;
	long request_ms = c->opt.request_timeout_ms ? (long)c->opt.request_timeout_ms : 30000;
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, request_ms);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)SF_ACME_HTTP_BODY_MAX);
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, c);
	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "POST") == 0) {
		headers = curl_slist_append(headers, "Content-Type: application/jose+json");
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		headers = curl_slist_append(headers, "Expect:");
	}
	if (req->accept) {
		snprintf(accept, sizeof accept, "Accept: %s", req->accept);
		headers = curl_slist_append(headers, accept);
	}
	if (headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);

	CURLcode cc = curl_easy_perform(e);
	if (cc != CURLE_OK) {
		if (cc == CURLE_ABORTED_BY_CALLBACK)
			snprintf(err, errlen, "%s %s: cancelled", req->method, req->url);
		else
			snprintf(err, errlen, "%s %s: %s", req->method, req->url,
				 curl_err[0] ? curl_err : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
	if (body.len) {
		resp->body = body.data;
		resp->body_len = body.len;
		body.data = NULL;
	}
	rc = 0;
out:
	curl_slist_free_all(headers);
	sf_strbuf_free(&body);
	return rc;
}

long sf_acme_retry_after_seconds(const char *value)
{
	if (!value || !*value)
		return -1;
	char *end;
	if (isdigit((unsigned char)value[0])) {
		long s = strtol(value, &end, 10);
		return *end == '\0' && s >= 0 ? s : -1;
	}
	time_t when = curl_getdate(value, NULL);
	if (when == (time_t)-1)
		return -1;
	time_t now = time(NULL);
	return when > now ? (long)(when - now) : 0;
}
