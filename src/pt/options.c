#include "lib/err.h"
#include "pt/args.h"
#include "pt/bindaddr.h"
#include "pt/gostr.h"

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sf_pt_options_clear(struct sf_pt_options *opts)
{
	for (size_t i = 0; i < opts->n; i++) {
		free(opts->v[i].method);
		sf_pt_args_free(opts->v[i].args);
	}
	free(opts->v);
	opts->v = NULL;
	opts->n = 0;
}

static struct sf_pt_method_options *options_find(const struct sf_pt_options *opts,
						 const char *method)
{
	for (size_t i = 0; i < opts->n; i++)
		if (opts->v[i].method && strcmp(opts->v[i].method, method) == 0)
			return &opts->v[i];
	return NULL;
}

struct sf_pt_args *sf_pt_options_get(const struct sf_pt_options *opts, const char *method)
{
	struct sf_pt_method_options *m = options_find(opts, method);
	return m ? m->args : NULL;
}

struct sf_pt_args *sf_pt_options_take(struct sf_pt_options *opts, const char *method)
{
	struct sf_pt_method_options *m = options_find(opts, method);
	if (!m)
		return NULL;
	struct sf_pt_args *args = m->args;
	m->args = NULL;
	return args;
}

static int options_add(struct sf_pt_options *opts, const char *method, const char *key,
		       const char *value)
{
	struct sf_pt_method_options *m = options_find(opts, method);
	if (!m) {
		struct sf_pt_method_options *v = sf_pt_grow(opts->v, opts->n, sizeof *v);
		if (!v)
			return -1;
		opts->v = v;
		m = &v[opts->n];
		m->method = strdup(method);
		m->args = sf_pt_args_new();
		if (!m->method || !m->args) {
			free(m->method);
			sf_pt_args_free(m->args);
			return -1;
		}
		opts->n++;
	}
	return sf_pt_args_add(m->args, key, value);
}

/* goptlib indexUnescaped: scans s[from..) up to the first unescaped byte of term, unescaping
 * into *field. Returns the stop index, or -1 on a trailing lone backslash (error text set). */
static long scan_unescaped(const char *s, size_t len, size_t from, const char *term,
			   struct sf_strbuf *field, struct sf_strbuf *err)
{
	size_t i;
	sf_strbuf_free(field);
	sf_strbuf_append(field, "", 0);
	for (i = from; i < len; i++) {
		char b = s[i];
		if (strchr(term, b))
			break;
		if (b == '\\') {
			i++;
			if (i >= len) {
				sf_strbuf_add(err, "nothing following final escape in ");
				sf_pt_str_add_quoted(err, s + from, len - from);
				return -1;
			}
			b = s[i];
		}
		sf_strbuf_addc(field, b);
	}
	return (long)i;
}

static void quoted_error(struct sf_strbuf *err, const char *what, const char *s, size_t from,
			 size_t to)
{
	sf_strbuf_add(err, what);
	sf_pt_str_add_quoted(err, s + from, to - from);
}

int sf_pt_options_parse(const char *s, struct sf_pt_options *out, char *errbuf, size_t errlen)
{
	struct sf_strbuf method = {0}, key = {0}, value = {0}, err = {0};
	size_t len = strlen(s);
	size_t i = 0;
	long r;

	if (errlen > 0)
		errbuf[0] = '\0';
	if (len == 0)
		return 0;
	for (;;) {
		size_t begin = i;
		if ((r = scan_unescaped(s, len, i, ":=;", &method, &err)) < 0)
			goto fail;
		i = (size_t)r;
		if (i >= len || s[i] != ':') {
			quoted_error(&err, "no colon in ", s, begin, i);
			goto fail;
		}
		i++;
		if ((r = scan_unescaped(s, len, i, "=;", &key, &err)) < 0)
			goto fail;
		i = (size_t)r;
		if (i >= len || s[i] != '=') {
			quoted_error(&err, "no equals sign in ", s, begin, i);
			goto fail;
		}
		i++;
		if ((r = scan_unescaped(s, len, i, ";", &value, &err)) < 0)
			goto fail;
		i = (size_t)r;
		if (method.len == 0) {
			quoted_error(&err, "empty method name in ", s, begin, i);
			goto fail;
		}
		if (key.len == 0) {
			quoted_error(&err, "empty key in ", s, begin, i);
			goto fail;
		}
		if (method.failed || key.failed || value.failed ||
		    options_add(out, method.data, key.data, value.data) < 0) {
			sf_strbuf_add(&err, "out of memory");
			goto fail;
		}
		if (i >= len)
			break;
		i++;
	}
	sf_strbuf_free(&method);
	sf_strbuf_free(&key);
	sf_strbuf_free(&value);
	return 0;
fail:
	sf_strbuf_free(&method);
	sf_strbuf_free(&key);
	sf_strbuf_free(&value);
	sf_pt_options_clear(out);
	sf_err(errbuf, errlen, "%s", err.failed || err.len == 0 ? "out of memory" : err.data);
	sf_strbuf_free(&err);
	return -1;
}

/* Go's strconv NumError text: strconv.<fn>: parsing "<s>": <why>. */
static void num_error(char *err, size_t errlen, const char *fn, const char *s, const char *why)
{
	struct sf_strbuf sb = {0};
	sf_strbuf_add(&sb, "strconv.");
	sf_strbuf_add(&sb, fn);
	sf_strbuf_add(&sb, ": parsing ");
	sf_pt_str_add_quoted(&sb, s, strlen(s));
	sf_strbuf_add(&sb, ": ");
	sf_strbuf_add(&sb, why);
	if (errlen > 0)
		snprintf(err, errlen, "%s", sb.failed ? why : sb.data);
	sf_strbuf_free(&sb);
}

/* strconv.Atoi's outcomes: Go's two NumError kinds. */
enum go_atoi_result {
	GO_ATOI_OK = 0,
	GO_ATOI_SYNTAX,		/* "invalid syntax" */
	GO_ATOI_RANGE,		/* "value out of range" */
};

/* strconv.Atoi on a 64-bit Go. The first bad byte decides between syntax and range, in order,
 * as Go's digit loop does. */
static enum go_atoi_result go_atoi(const char *s, long long *out)
{
	const char *p = s;
	bool neg = false;
	uint64_t n = 0;

	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	if (*p == '\0')
		return GO_ATOI_SYNTAX;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return GO_ATOI_SYNTAX;
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return GO_ATOI_RANGE;
		n = n * 10 + d;
	}
	if (!neg && n > (uint64_t)INT64_MAX)
		return GO_ATOI_RANGE;
	if (neg && n > (uint64_t)INT64_MAX + 1)
		return GO_ATOI_RANGE;
	*out = neg ? (long long)(0 - n) : (long long)n;
	return GO_ATOI_OK;
}

int sf_pt_parse_num_turbotunnel(const char *s, int *out, char *err, size_t errlen)
{
	long long n;
	enum go_atoi_result rc = go_atoi(s, &n);

	if (rc == GO_ATOI_OK && n > INT_MAX)
		rc = GO_ATOI_RANGE;
	if (rc == GO_ATOI_SYNTAX) {
		num_error(err, errlen, "Atoi", s, "invalid syntax");
		return -1;
	}
	if (rc == GO_ATOI_RANGE) {
		num_error(err, errlen, "Atoi", s, "value out of range");
		return -1;
	}
	if (n < 1)
		return sf_err(err, errlen, "cannot be less than 1");
	*out = (int)n;
	return 0;
}

int sf_pt_parse_extorport(const char *s, struct sockaddr_storage *addr, socklen_t *addr_len,
			  const char **cookie_path, char *err, size_t errlen)
{
	/* An address has no comma; a path may: split at the first one. */
	const char *comma = strchr(s, ',');
	if (!comma || comma[1] == '\0') {
		snprintf(err, errlen, "\"%s\": want ADDR,COOKIEFILE", s);
		return -1;
	}
	char *host = strndup(s, (size_t)(comma - s));
	char text[SF_PT_ADDR_TEXT_MAX], why[SF_ERR_MAX] = "";
	if (!host) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = sf_pt_resolve_addr(host, addr, addr_len, text, why, sizeof why);
	if (rc == 0) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)addr;
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		if ((addr->ss_family == AF_INET ? in4->sin_port : in6->sin6_port) == 0)
			rc = -1; /* port 0 cannot be dialed */
	}
	if (rc < 0)
		snprintf(err, errlen, "\"%s\": %s", s, why[0] ? why : "port 0 cannot be dialed");
	free(host);
	if (rc < 0)
		return -1;
	*cookie_path = comma + 1;
	return 0;
}
