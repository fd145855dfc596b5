/* The server's metrics page (docs/metrics.md): a snapshot of every shard's counters (relaxed
 * loads of what each shard alone writes), the front's, the tor backends' and the ACME state,
 * written out by src/metrics; and the --metrics-addr endpoint that serves it. */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "lib/goip.h"
#include "metrics/endpoint.h"
#include "certs/certs.h"
#include "certs/metrics.h"

static void read_shard(const struct sf_shard *sh, struct sf_metrics_shard_snap *x)
{
	const struct sf_shard_metrics *m = sf_shard_metrics(sh);
	/* Closing counters before opening ones: a gauge (opened - closed) never goes negative. */
	x->websockets_closed = sf_counter_get(&m->websockets_closed);
	x->websockets_opened = sf_counter_get(&m->websockets_opened);
	x->clients_freed = sf_counter_get(&m->clients_freed);
	x->clients_created = sf_counter_get(&m->clients_created);
	x->sessions_closed = sf_counter_get(&m->sessions_closed);
	x->sessions_opened = sf_counter_get(&m->sessions_opened);
	x->streams_closed = sf_counter_get(&m->streams_closed);
	x->streams_opened = sf_counter_get(&m->streams_opened);
	x->streams_with_addr = sf_counter_get(&m->streams_with_addr);
	x->bytes_to_tor = sf_counter_get(&m->bytes_to_tor);
	x->bytes_from_tor = sf_counter_get(&m->bytes_from_tor);
	x->kcp_retrans_rto = sf_counter_get(&m->kcp_retrans_rto);
	x->kcp_retrans_early = sf_counter_get(&m->kcp_retrans_early);
	x->kcp_dup_segs = sf_counter_get(&m->kcp_dup_segs);
	x->queue_drops = sf_counter_get(&m->queue_drops);
	x->mem_budget = sf_counter_get(&m->mem_budget);
	x->mem_used = sf_counter_get(&m->mem_used);
	x->mem_refused = sf_counter_get(&m->mem_refused);
	x->mem_evicted = sf_counter_get(&m->mem_evicted);
	x->rtt_sum_ms = sf_counter_get(&m->rtt_sum_ms);
	for (size_t b = 0; b <= SF_SHARD_RTT_BOUNDS; b++)
		x->rtt_buckets[b] = sf_counter_get(&m->rtt_buckets[b]);
	x->cpu_ns = sf_shard_cpu_ns(sh);
}

_Static_assert(SF_SERVER_EXTORPORTS_MAX <= SF_SHARD_BACKENDS_MAX,
	       "every ExtORPort has its own dial error counter");

static uint64_t dial_errors_of(const struct sf_server *srv, size_t backend)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < srv->nshards; i++)
		n += sf_counter_get(&sf_shard_metrics(srv->shards[i])->dial_errors[backend]);
	return n;
}

static void backend_address(const struct sockaddr *sa, char *out, size_t cap)
{
	if (sf_goip_format_sockaddr(sa, false, out, cap) == 0)
		snprintf(out, cap, "unknown");
}

/* The backends the dialer uses: every ExtORPort (index = the stream's ExtORPort), else the
 * ORPort. */
static size_t read_backends(const struct sf_server *srv, struct sf_metrics_backend_snap *out)
{
	if (srv->n_extorports > 0) {
		for (size_t i = 0; i < srv->n_extorports; i++) {
			memset(&out[i], 0, sizeof out[i]);
			out[i].kind = "extorport";
			backend_address((const struct sockaddr *)&srv->extorports[i].addr,
					out[i].address, sizeof out[i].address);
			out[i].dial_errors = dial_errors_of(srv, i);
		}
		return srv->n_extorports;
	}
	const struct sf_tor_target *t = &srv->tor;
	struct sf_metrics_backend_snap *b = &out[SF_SHARD_BACKEND_PRIMARY];
	memset(b, 0, sizeof *b);
	b->kind = "orport";
	if (t->has_orport)
		backend_address((const struct sockaddr *)&t->orport, b->address, sizeof b->address);
	else
		snprintf(b->address, sizeof b->address, "none");
	b->dial_errors = dial_errors_of(srv, SF_SHARD_BACKEND_PRIMARY);
	return 1;
}

static void render(void *arg, struct sf_expo *out)
{
	struct sf_server *srv = arg;
	struct sf_metrics_shard_snap *shards = calloc(srv->nshards, sizeof *shards);
	struct sf_metrics_cert_snap *certs =
		srv->certs ? calloc(SF_CERTS_METRICS_MAX, sizeof *certs) : NULL;
	if (!shards || (srv->certs && !certs)) {
		out->failed = true;
		free(shards);
		free(certs);
		return;
	}
	struct sf_metrics_backend_snap backends[SF_SHARD_BACKENDS_MAX];
	struct sf_metrics_snapshot s = {
		.connections_accepted = srv->front.metrics.connections_accepted,
		.tls = srv->tls != NULL,
		.rtt_bounds_ms = sf_shard_rtt_bounds_ms,
		.n_rtt_bounds = SF_SHARD_RTT_BOUNDS,
		.nshards = srv->nshards,
		.shards = shards,
		.backends = backends,
	};
	memcpy(s.tls_failures, srv->front.metrics.tls_failures, sizeof s.tls_failures);
	for (unsigned i = 0; i < srv->nshards; i++)
		read_shard(srv->shards[i], &shards[i]);
	s.nbackends = read_backends(srv, backends);
	if (srv->certs)
		sf_certs_metrics_snapshot(srv->certs, &s, certs, SF_CERTS_METRICS_MAX);
	sf_metrics_write(out, &s);
	free(shards);
	free(certs);
}

char *sf_server_metrics_text(struct sf_server *srv, size_t *len)
{
	struct sf_expo e;
	sf_expo_init(&e);
	render(srv, &e);
	if (e.failed || !e.buf) {
		sf_expo_free(&e);
		return NULL;
	}
	*len = e.len;
	return e.buf;
}

int sf_server_add_metrics_listener(struct sf_server *srv, int listen_fd)
{
	if (srv->metrics)
		return -1;
	srv->metrics = sf_metrics_endpoint_new(srv->base, listen_fd, render, srv);
	return srv->metrics ? 0 : -1;
}
