/* The front: every accepted connection lives on the main event loop until its HTTP upgrade is
 * done and the turbotunnel preamble (token + ClientID) is read; then it is handed to the shard
 * that owns its ClientID and the front forgets it. */
#ifndef SF_SERVER_FRONT_H
#define SF_SERVER_FRONT_H

#include <stdint.h>

#include "metrics/expo.h"

struct sf_front_conn;

/* The main thread's counters (the front and the listeners run there, and so does the scrape). */
struct sf_front_metrics {
	uint64_t connections_accepted;
	uint64_t tls_failures[SF_METRICS_TLS_REASONS];
};

/* The front's state, inside struct sf_server. */
struct sf_front {
	struct sf_front_metrics metrics;
	/* Connections not yet handed over (TLS handshake, HTTP upgrade, preamble), newest first:
	 * what a client holds before it has proven to be a Snowflake proxy. At most max;
	 * past it the oldest is closed (a slow-loris flood pushes out its own connections first,
	 * and a proxy's handshake lasts a few round trips). */
	struct sf_front_conn *conns, *oldest;
	size_t n, max;
	uint64_t evicted;			/* closed to make room */
	uint64_t evict_logged_ms;		/* one log line per minute at most */
};

struct sf_server;

/* A connection was accepted on a listener: the front owns fd now. */
void sf_front_accept(struct sf_server *srv, int fd);

/* Counts a failed TLS handshake by the reason the TLS layer gave (front_tls.c). */
void sf_front_count_tls_failure(struct sf_front_metrics *m, const char *error);

/* Shutdown: closes every connection still in the front. */
void sf_front_close_all(struct sf_server *srv);

#endif
