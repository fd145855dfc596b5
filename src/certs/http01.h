/* The port-80 listener of TLS mode, answering as autocert's HTTPHandler(nil) does: ACME HTTP-01
 * challenge responses under /.well-known/acme-challenge/, a redirect to https:// for other GET
 * and HEAD requests, 400 "Use HTTPS" for the rest. One request per connection. */
#ifndef SF_CERTS_HTTP01_H
#define SF_CERTS_HTTP01_H

#include <stdbool.h>
#include <stddef.h>

#include "snowflake/certs.h"

struct event_base;
struct sf_http01;

struct sf_http01_hooks {
	/* Is host (lowercase, port stripped) one of --acme-hostnames? */
	bool (*host_allowed)(void *arg, const char *host);
	/* The key authorization published for token, copied to out; false if there is none. May be
	 * called on the listener's thread while the ACME worker publishes: must be thread-safe. */
	bool (*key_authorization)(void *arg, const char *token, char *out, size_t outlen);
	void *arg;
};

/* Serves on listen_fd (listening, non-blocking; owned from now on) on base's thread. */
struct sf_http01 *sf_http01_new(struct event_base *base, int listen_fd,
				const struct sf_http01_hooks *hooks);
/* sf_http01_free: include/snowflake/certs.h */

#endif
