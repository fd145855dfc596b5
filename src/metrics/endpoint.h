/* The --metrics-addr endpoint: a tiny HTTP/1.1 server on the caller's event loop that answers
 * `GET /metrics` with the page render() writes, 404 to any other request, and serves nothing
 * else. One request per connection, then close. Hostile clients are bounded: the request head is
 * at most SF_METRICS_REQUEST_MAX bytes (431 beyond), a connection lives at most
 * SF_METRICS_DEADLINE_MS (request and answer together), at most SF_METRICS_MAX_CONNS are served
 * at once (more are closed on accept). Nothing blocks and nothing is logged per connection (no
 * address ever). The page is rendered on the loop's thread from counters only: scraping takes
 * no lock a shard takes. */
#ifndef SF_METRICS_ENDPOINT_H
#define SF_METRICS_ENDPOINT_H

#include "metrics/expo.h"

struct event_base;
struct sf_metrics_endpoint;

#define SF_METRICS_REQUEST_MAX 2048
#define SF_METRICS_DEADLINE_MS 5000
#define SF_METRICS_MAX_CONNS 16

/* Appends the page to out. */
typedef void (*sf_metrics_render_fn)(void *arg, struct sf_expo *out);

/* Serves on listen_fd (listening, non-blocking), which the endpoint then owns and closes. NULL
 * when out of memory (listen_fd is left to the caller). */
struct sf_metrics_endpoint *sf_metrics_endpoint_new(struct event_base *base, int listen_fd,
						    sf_metrics_render_fn render, void *arg);
/* Closes the listener and every connection. */
void sf_metrics_endpoint_free(struct sf_metrics_endpoint *ep);

/* Connections being served now (for tests). */
unsigned sf_metrics_endpoint_conns(const struct sf_metrics_endpoint *ep);

#endif
