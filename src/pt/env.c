#include "pt/env.h"
#include "lib/err.h"
#include "pt/gostr.h"
#include "pt/output.h"

#include <stdlib.h>
#include <string.h>

const char *sf_pt_process_getenv(const char *name, void *arg)
{
	(void)arg;
	return getenv(name);
}

static const char *env_get(sf_pt_getenv_fn fn, void *arg, const char *name)
{
	const char *v = fn(name, arg);
	return v ? v : "";
}

/* Prints ENV-ERROR with the text built in msg (or a short one if building it ran out of
 * memory) and frees msg. Always returns -1. */
static int env_error(FILE *out, struct sf_strbuf *msg)
{
	sf_pt_env_error(out, msg->failed ? "out of memory" : msg->data);
	sf_strbuf_free(msg);
	return -1;
}

static int env_error_required(FILE *out, const char *name)
{
	struct sf_strbuf msg = {0};
	sf_strbuf_add(&msg, "no ");
	sf_strbuf_add(&msg, name);
	sf_strbuf_add(&msg, " environment variable");
	return env_error(out, &msg);
}

/* Is token one of the comma-separated items of list? */
static bool list_contains(const char *list, const char *token, size_t token_len)
{
	const char *p = list;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == token_len && memcmp(p, token, n) == 0)
			return true;
		if (!comma)
			return false;
		p = comma + 1;
	}
}

static void bindaddr_clear(struct sf_pt_bindaddr *b)
{
	free(b->method);
	sf_pt_args_free(b->options);
	b->method = NULL;
	b->options = NULL;
}

void sf_pt_server_info_free(struct sf_pt_server_info *info)
{
	for (size_t i = 0; i < info->n_bindaddrs; i++)
		bindaddr_clear(&info->bindaddrs[i]);
	free(info->bindaddrs);
	free(info->auth_cookie_file);
	memset(info, 0, sizeof *info);
}

/* One "<method>-<addr>" item of TOR_PT_SERVER_BINDADDR, appended to info. */
static int parse_bindaddr_spec(FILE *out, const char *spec, size_t n,
			       struct sf_pt_server_info *info, struct sf_pt_options *opts)
{
	struct sf_strbuf msg = {0};
	const char *dash = memchr(spec, '-', n);
	char *addr = NULL, *err = NULL;

	sf_strbuf_add(&msg, "TOR_PT_SERVER_BINDADDR: ");
	sf_pt_str_add_quoted(&msg, spec, n);
	if (!dash) {
		sf_strbuf_add(&msg, ": doesn't contain \"-\"");
		return env_error(out, &msg);
	}
	size_t mlen = (size_t)(dash - spec);
	/* pt-spec: "Applications MUST NOT set more than one <address>:<port> pair per PT name." */
	for (size_t i = 0; i < info->n_bindaddrs; i++) {
		const char *m = info->bindaddrs[i].method;
		if (strlen(m) == mlen && memcmp(m, spec, mlen) == 0) {
			sf_strbuf_add(&msg, ": duplicate method name ");
			sf_pt_str_add_quoted(&msg, spec, mlen);
			return env_error(out, &msg);
		}
	}

	struct sf_pt_bindaddr *v = sf_pt_grow(info->bindaddrs, info->n_bindaddrs, sizeof *v);
	if (!v)
		goto oom;
	info->bindaddrs = v;
	struct sf_pt_bindaddr *b = &v[info->n_bindaddrs];
	memset(b, 0, sizeof *b);
	addr = sf_pt_strndup(dash + 1, n - mlen - 1);
	b->method = sf_pt_strndup(spec, mlen);
	if (!addr || !b->method) {
		free(b->method);
		goto oom;
	}
	size_t room = sf_pt_err_room(n);
	if (!room || !(err = malloc(room))) {
		free(b->method);
		goto oom;
	}
	int rc = sf_pt_resolve_addr(addr, &b->addr, &b->addrlen, b->addr_text, err, room);
	free(addr);
	addr = NULL;
	if (rc < 0) {
		free(b->method);
		sf_strbuf_add(&msg, ": ");
		sf_strbuf_add(&msg, err);
		free(err);
		return env_error(out, &msg);
	}
	free(err);
	b->options = sf_pt_options_take(opts, b->method);
	info->n_bindaddrs++;
	sf_strbuf_free(&msg);
	return 0;
oom:
	free(addr);
	sf_strbuf_free(&msg);
	sf_pt_env_error(out, "out of memory");
	return -1;
}

static int parse_bindaddrs(sf_pt_getenv_fn fn, void *arg, FILE *out,
			   struct sf_pt_server_info *info)
{
	struct sf_pt_options opts = {0};
	const char *raw = env_get(fn, arg, "TOR_PT_SERVER_TRANSPORT_OPTIONS");
	size_t room = sf_pt_err_room(strlen(raw));
	char *err = room ? malloc(room) : NULL;
	if (!err) {
		sf_pt_env_error(out, "out of memory");
		return -1;
	}
	if (sf_pt_options_parse(raw, &opts, err, room) < 0) {
		struct sf_strbuf msg = {0};
		sf_strbuf_add(&msg, "TOR_PT_SERVER_TRANSPORT_OPTIONS: ");
		sf_pt_str_add_quoted(&msg, raw, strlen(raw));
		sf_strbuf_add(&msg, ": ");
		sf_strbuf_add(&msg, err);
		free(err);
		return env_error(out, &msg);
	}
	free(err);

	const char *bind = env_get(fn, arg, "TOR_PT_SERVER_BINDADDR");
	if (!*bind) {
		sf_pt_options_clear(&opts);
		return env_error_required(out, "TOR_PT_SERVER_BINDADDR");
	}
	for (const char *p = bind;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (parse_bindaddr_spec(out, p, n, info, &opts) < 0) {
			sf_pt_options_clear(&opts);
			return -1;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	sf_pt_options_clear(&opts);

	const char *transports = env_get(fn, arg, "TOR_PT_SERVER_TRANSPORTS");
	if (!*transports)
		return env_error_required(out, "TOR_PT_SERVER_TRANSPORTS");
	size_t kept = 0;
	for (size_t i = 0; i < info->n_bindaddrs; i++) {
		struct sf_pt_bindaddr *b = &info->bindaddrs[i];
		if (list_contains(transports, b->method, strlen(b->method)))
			info->bindaddrs[kept++] = *b;
		else
			bindaddr_clear(b);
	}
	info->n_bindaddrs = kept;
	return 0;
}

static int resolve_env_addr(FILE *out, const char *name, const char *value,
			    struct sockaddr_storage *ss, socklen_t *len)
{
	char text[SF_PT_ADDR_TEXT_MAX];
	size_t room = sf_pt_err_room(strlen(value));
	char *err = room ? malloc(room) : NULL;
	if (!err) {
		sf_pt_env_error(out, "out of memory");
		return -1;
	}
	if (sf_pt_resolve_addr(value, ss, len, text, err, room) == 0) {
		free(err);
		return 0;
	}
	struct sf_strbuf msg = {0};
	sf_strbuf_add(&msg, "cannot resolve ");
	sf_strbuf_add(&msg, name);
	sf_strbuf_addc(&msg, ' ');
	sf_pt_str_add_quoted(&msg, value, strlen(value));
	sf_strbuf_add(&msg, ": ");
	sf_strbuf_add(&msg, err);
	free(err);
	return env_error(out, &msg);
}

static int server_setup(sf_pt_getenv_fn fn, void *arg, FILE *out, struct sf_pt_server_info *info)
{
	const char *ver = env_get(fn, arg, "TOR_PT_MANAGED_TRANSPORT_VER");
	if (!*ver)
		return env_error_required(out, "TOR_PT_MANAGED_TRANSPORT_VER");
	if (!list_contains(ver, "1", 1)) {
		sf_pt_version_error(out, "no-version");
		return -1;
	}
	sf_pt_version(out);

	if (parse_bindaddrs(fn, arg, out, info) < 0)
		return -1;

	const char *orport = env_get(fn, arg, "TOR_PT_ORPORT");
	if (*orport) {
		if (resolve_env_addr(out, "TOR_PT_ORPORT", orport, &info->orport,
				     &info->orport_len) < 0)
			return -1;
		info->has_orport = true;
	}

	const char *cookie = env_get(fn, arg, "TOR_PT_AUTH_COOKIE_FILE");
	if (*cookie && !(info->auth_cookie_file = strdup(cookie))) {
		sf_pt_env_error(out, "out of memory");
		return -1;
	}

	/* tor sets it to "" when it has no ExtORPort: that means unset. */
	const char *ext = env_get(fn, arg, "TOR_PT_EXTENDED_SERVER_PORT");
	if (*ext) {
		if (!info->auth_cookie_file) {
			sf_pt_env_error(out, "need TOR_PT_AUTH_COOKIE_FILE environment variable "
				       "with TOR_PT_EXTENDED_SERVER_PORT");
			return -1;
		}
		if (resolve_env_addr(out, "TOR_PT_EXTENDED_SERVER_PORT", ext, &info->extorport,
				     &info->extorport_len) < 0)
			return -1;
		info->has_extorport = true;
	}

	if (!info->has_orport && !info->has_extorport) {
		sf_pt_env_error(out, "need TOR_PT_ORPORT or TOR_PT_EXTENDED_SERVER_PORT "
			       "environment variable");
		return -1;
	}

	info->exit_on_stdin_close = strcmp(env_get(fn, arg, "TOR_PT_EXIT_ON_STDIN_CLOSE"), "1") == 0;
	return 0;
}

int sf_pt_server_setup(sf_pt_getenv_fn getenv_fn, void *arg, FILE *out,
		       struct sf_pt_server_info *info)
{
	memset(info, 0, sizeof *info);
	if (server_setup(getenv_fn, arg, out, info) < 0) {
		sf_pt_server_info_free(info);
		return -1;
	}
	return 0;
}
