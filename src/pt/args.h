/* Key -> list of values, as goptlib's pt.Args, plus the parsers for the options tor passes to a
 * server transport (TOR_PT_SERVER_TRANSPORT_OPTIONS) and snowflake's num-turbotunnel option. */
#ifndef SF_PT_ARGS_H
#define SF_PT_ARGS_H

#include <stddef.h>
#include <sys/socket.h>

struct sf_pt_arg {
	char *key;
	char **values;		/* in insertion order */
	size_t n_values;
};

/* Keys in order of first insertion; each key appears once. */
struct sf_pt_args {
	struct sf_pt_arg *v;
	size_t n;
};

struct sf_pt_args *sf_pt_args_new(void);
void sf_pt_args_free(struct sf_pt_args *args);

/* Appends value to key's list (both copied). Returns 0, or -1 when out of memory. */
int sf_pt_args_add(struct sf_pt_args *args, const char *key, const char *value);

/* First value of key, or NULL if key is absent (args may be NULL), like Args.Get. */
const char *sf_pt_args_get(const struct sf_pt_args *args, const char *key);

/* The entry for key, or NULL. */
const struct sf_pt_arg *sf_pt_args_find(const struct sf_pt_args *args, const char *key);

/* Per-method options, methods in order of first appearance. */
struct sf_pt_method_options {
	char *method;
	struct sf_pt_args *args;
};

struct sf_pt_options {
	struct sf_pt_method_options *v;
	size_t n;
};

/* Parses TOR_PT_SERVER_TRANSPORT_OPTIONS ("m:k=v;m:k=v", backslash escapes) into out, which
 * must be zeroed. Returns 0; or -1 with goptlib's text in err (e.g. `no colon in "abc"`; lib/err.h).
 * out is then empty. */
int sf_pt_options_parse(const char *s, struct sf_pt_options *out, char *err, size_t errlen);
void sf_pt_options_clear(struct sf_pt_options *opts);

/* Options of one method, or NULL when it has none. */
struct sf_pt_args *sf_pt_options_get(const struct sf_pt_options *opts, const char *method);

/* Removes method's options from opts and returns them (caller frees), or NULL. */
struct sf_pt_args *sf_pt_options_take(struct sf_pt_options *opts, const char *method);

/* num-turbotunnel as the reference parses it: Go strconv.Atoi, then "cannot be less than 1".
 * Returns 0 with *out set, or -1 with err holding e.g. `strconv.Atoi: parsing "x": invalid
 * syntax` (truncated to errlen). The caller prints "parsing num-turbotunnel: <err>".
 * Values above INT_MAX give Atoi's "value out of range" (what Go says with a 32-bit int). */
int sf_pt_parse_num_turbotunnel(const char *s, int *out, char *err, size_t errlen);

/* One `extorport=ADDR,COOKIEFILE` option: ADDR as goptlib resolves TOR_PT_EXTENDED_SERVER_PORT
 * ("127.0.0.1:7001", "[::1]:7001"), then a comma, then the path of that tor's auth cookie file
 * (the rest of the value, commas included). Returns 0 with *cookie_path pointing into s, or -1
 * with err, e.g. `"127.0.0.1:7001": missing ",COOKIEFILE"`. */
int sf_pt_parse_extorport(const char *s, struct sockaddr_storage *addr, socklen_t *addr_len,
			  const char **cookie_path, char *err, size_t errlen);

#endif
