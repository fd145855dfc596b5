/* The exposition page (expo.h). Names follow Prometheus conventions: snowflake_ prefix, base
 * units (seconds, bytes), _total on counters. Every family is written even when it is zero, so a
 * query finds the series from the first scrape on. */
#include "metrics/expo.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPO_INITIAL 16384

const char *const sf_metrics_tls_reason_names[SF_METRICS_TLS_REASONS] = {
	[SF_METRICS_TLS_TIMEOUT] = "timeout",
	[SF_METRICS_TLS_EOF] = "eof",
	[SF_METRICS_TLS_IO] = "io_error",
	[SF_METRICS_TLS_CERTIFICATE] = "no_certificate",
	[SF_METRICS_TLS_HTTP] = "plaintext_http",
	[SF_METRICS_TLS_PROTOCOL] = "protocol",
};

void sf_expo_init(struct sf_expo *e)
{
	memset(e, 0, sizeof *e);
}

void sf_expo_free(struct sf_expo *e)
{
	free(e->buf);
	sf_expo_init(e);
}

static bool reserve(struct sf_expo *e, size_t more)
{
	if (e->failed)
		return false;
	if (e->len + more + 1 <= e->cap)
		return true;
	size_t cap = e->cap ? e->cap : EXPO_INITIAL;
	while (cap < e->len + more + 1)
		cap *= 2;
	char *b = realloc(e->buf, cap);
	if (!b) {
		e->failed = true;
		return false;
	}
	e->buf = b;
	e->cap = cap;
	return true;
}

void sf_expo_printf(struct sf_expo *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(e, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap);
	va_end(ap);
	e->len += (size_t)n;
}

void sf_expo_family(struct sf_expo *e, const char *name, const char *type, const char *help)
{
	sf_expo_printf(e, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void sf_expo_label_value(struct sf_expo *e, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			sf_expo_printf(e, "\\\\");
		else if (*v == '"')
			sf_expo_printf(e, "\\\"");
		else if (*v == '\n')
			sf_expo_printf(e, "\\n");
		else
			sf_expo_printf(e, "%c", *v);
	}
}

static uint64_t gauge(uint64_t opened, uint64_t closed)
{
	return opened > closed ? opened - closed : 0;
}

/* A fixed-point value: n units of 1/scale (scale a power of ten), as "int.frac". */
static void fixed(struct sf_expo *e, uint64_t n, uint64_t scale, int digits)
{
	sf_expo_printf(e, "%llu.%0*llu", (unsigned long long)(n / scale), digits,
		       (unsigned long long)(n % scale));
}

/* One family with one sample per shard, the value read from the snapshot by value(). */
static void per_shard(struct sf_expo *e, const struct sf_metrics_snapshot *s, const char *name,
		      const char *type, const char *help,
		      uint64_t (*value)(const struct sf_metrics_shard_snap *))
{
	sf_expo_family(e, name, type, help);
	for (size_t i = 0; i < s->nshards; i++)
		sf_expo_printf(e, "%s{shard=\"%zu\"} %llu\n", name, i,
			       (unsigned long long)value(&s->shards[i]));
}

static uint64_t v_ws_opened(const struct sf_metrics_shard_snap *x) { return x->websockets_opened; }
static uint64_t v_ws_open(const struct sf_metrics_shard_snap *x)
{
	return gauge(x->websockets_opened, x->websockets_closed);
}
static uint64_t v_clients(const struct sf_metrics_shard_snap *x)
{
	return gauge(x->clients_created, x->clients_freed);
}
static uint64_t v_sessions(const struct sf_metrics_shard_snap *x) { return x->sessions_opened; }
static uint64_t v_sessions_active(const struct sf_metrics_shard_snap *x)
{
	return gauge(x->sessions_opened, x->sessions_closed);
}
static uint64_t v_streams(const struct sf_metrics_shard_snap *x) { return x->streams_opened; }
static uint64_t v_streams_addr(const struct sf_metrics_shard_snap *x) { return x->streams_with_addr; }
static uint64_t v_streams_active(const struct sf_metrics_shard_snap *x)
{
	return gauge(x->streams_opened, x->streams_closed);
}
static uint64_t v_drops(const struct sf_metrics_shard_snap *x) { return x->queue_drops; }
static uint64_t v_mem_budget(const struct sf_metrics_shard_snap *x) { return x->mem_budget; }
static uint64_t v_mem_used(const struct sf_metrics_shard_snap *x) { return x->mem_used; }
static uint64_t v_mem_refused(const struct sf_metrics_shard_snap *x) { return x->mem_refused; }
static uint64_t v_mem_evicted(const struct sf_metrics_shard_snap *x) { return x->mem_evicted; }

static void write_front(struct sf_expo *e, const struct sf_metrics_snapshot *s)
{
	sf_expo_family(e, "snowflake_connections_accepted_total", "counter",
		       "Connections accepted on the WebSocket listeners.");
	sf_expo_printf(e, "snowflake_connections_accepted_total %llu\n",
		       (unsigned long long)s->connections_accepted);
	if (!s->tls)
		return;
	sf_expo_family(e, "snowflake_tls_handshake_failures_total", "counter",
		       "TLS handshakes that failed, by reason.");
	for (int r = 0; r < SF_METRICS_TLS_REASONS; r++)
		sf_expo_printf(e, "snowflake_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
			       sf_metrics_tls_reason_names[r], (unsigned long long)s->tls_failures[r]);
}

static void write_relay(struct sf_expo *e, const struct sf_metrics_snapshot *s)
{
	sf_expo_family(e, "snowflake_relay_bytes_total", "counter",
		       "Stream payload bytes relayed between clients and tor, by direction.");
	for (size_t i = 0; i < s->nshards; i++) {
		sf_expo_printf(e, "snowflake_relay_bytes_total{shard=\"%zu\",direction=\"to_tor\"} %llu\n",
			       i, (unsigned long long)s->shards[i].bytes_to_tor);
		sf_expo_printf(e, "snowflake_relay_bytes_total{shard=\"%zu\",direction=\"from_tor\"} %llu\n",
			       i, (unsigned long long)s->shards[i].bytes_from_tor);
	}
	sf_expo_family(e, "snowflake_kcp_retransmissions_total", "counter",
		       "KCP segments sent again, by cause (RTO expired or early retransmit).");
	for (size_t i = 0; i < s->nshards; i++) {
		sf_expo_printf(e, "snowflake_kcp_retransmissions_total{shard=\"%zu\",cause=\"timeout\"} %llu\n",
			       i, (unsigned long long)s->shards[i].kcp_retrans_rto);
		sf_expo_printf(e, "snowflake_kcp_retransmissions_total{shard=\"%zu\",cause=\"early\"} %llu\n",
			       i, (unsigned long long)s->shards[i].kcp_retrans_early);
	}
	sf_expo_family(e, "snowflake_kcp_duplicate_segments_total", "counter",
		       "KCP data segments received again: the client resent what had arrived.");
	for (size_t i = 0; i < s->nshards; i++)
		sf_expo_printf(e, "snowflake_kcp_duplicate_segments_total{shard=\"%zu\"} %llu\n", i,
			       (unsigned long long)s->shards[i].kcp_dup_segs);
}

static void write_rtt(struct sf_expo *e, const struct sf_metrics_snapshot *s)
{
	const char *name = "snowflake_kcp_rtt_seconds";
	size_t nb = s->n_rtt_bounds < SF_METRICS_RTT_BUCKETS_MAX ? s->n_rtt_bounds
								: SF_METRICS_RTT_BUCKETS_MAX;
	sf_expo_family(e, name, "histogram",
		       "KCP round-trip time samples (one per packet carrying ACKs).");
	for (size_t i = 0; i < s->nshards; i++) {
		const struct sf_metrics_shard_snap *x = &s->shards[i];
		uint64_t cum = 0;
		for (size_t b = 0; b < nb; b++) {
			cum += x->rtt_buckets[b];
			sf_expo_printf(e, "%s_bucket{shard=\"%zu\",le=\"", name, i);
			fixed(e, s->rtt_bounds_ms[b], 1000, 3);
			sf_expo_printf(e, "\"} %llu\n", (unsigned long long)cum);
		}
		cum += x->rtt_buckets[nb];
		sf_expo_printf(e, "%s_bucket{shard=\"%zu\",le=\"+Inf\"} %llu\n", name, i,
			       (unsigned long long)cum);
		sf_expo_printf(e, "%s_sum{shard=\"%zu\"} ", name, i);
		fixed(e, x->rtt_sum_ms, 1000, 3);
		sf_expo_printf(e, "\n%s_count{shard=\"%zu\"} %llu\n", name, i, (unsigned long long)cum);
	}
}

static void write_load(struct sf_expo *e, const struct sf_metrics_snapshot *s)
{
	per_shard(e, s, "snowflake_queue_drops_total", "counter",
		  "Downstream packets dropped because a client's queue or the shard's pool was full.",
		  v_drops);
	per_shard(e, s, "snowflake_memory_budget_bytes", "gauge",
		  "The shard's slice of the memory budget.", v_mem_budget);
	per_shard(e, s, "snowflake_memory_used_bytes", "gauge",
		  "Memory the shard's clients hold, as counted against its slice.", v_mem_used);
	per_shard(e, s, "snowflake_memory_refused_total", "counter",
		  "WebSockets of new clients refused because the shard's memory was past the refusal mark.",
		  v_mem_refused);
	per_shard(e, s, "snowflake_memory_evicted_total", "counter",
		  "Clients closed because the shard's memory was past the eviction mark.", v_mem_evicted);
	sf_expo_family(e, "snowflake_shard_cpu_seconds_total", "counter",
		       "CPU time used by the shard's thread.");
	for (size_t i = 0; i < s->nshards; i++) {
		sf_expo_printf(e, "snowflake_shard_cpu_seconds_total{shard=\"%zu\"} ", i);
		fixed(e, s->shards[i].cpu_ns, 1000000000u, 9);
		sf_expo_printf(e, "\n");
	}
}

static void write_backends(struct sf_expo *e, const struct sf_metrics_snapshot *s)
{
	sf_expo_family(e, "snowflake_tor_dial_errors_total", "counter",
		       "Connections to tor (ExtORPort or ORPort) that failed, by backend.");
	for (size_t i = 0; i < s->nbackends; i++) {
		sf_expo_printf(e, "snowflake_tor_dial_errors_total{backend=\"");
		sf_expo_label_value(e, s->backends[i].address);
		sf_expo_printf(e, "\",kind=\"%s\"} %llu\n", s->backends[i].kind,
			       (unsigned long long)s->backends[i].dial_errors);
	}
}

static void cert_labels(struct sf_expo *e, const struct sf_metrics_cert_snap *c)
{
	sf_expo_printf(e, "{hostname=\"");
	sf_expo_label_value(e, c->hostname);
	sf_expo_printf(e, "\",key_type=\"%s\"}", c->key_type);
}

static void write_acme(struct sf_expo *e, const struct sf_metrics_snapshot *s)
{
	if (!s->acme)
		return;
	sf_expo_family(e, "snowflake_acme_attempts_total", "counter",
		       "ACME certificate orders (first issuance or renewal) that ended, by result.");
	sf_expo_printf(e, "snowflake_acme_attempts_total{result=\"success\"} %llu\n",
		       (unsigned long long)s->acme_attempts_ok);
	sf_expo_printf(e, "snowflake_acme_attempts_total{result=\"failure\"} %llu\n",
		       (unsigned long long)s->acme_attempts_failed);
	sf_expo_family(e, "snowflake_acme_last_attempt_success", "gauge",
		       "1 if the last ACME attempt for this certificate succeeded, else 0.");
	for (size_t i = 0; i < s->ncerts; i++) {
		if (!s->certs[i].attempted)
			continue;
		sf_expo_printf(e, "snowflake_acme_last_attempt_success");
		cert_labels(e, &s->certs[i]);
		sf_expo_printf(e, " %d\n", s->certs[i].last_ok ? 1 : 0);
	}
	sf_expo_family(e, "snowflake_acme_certificate_expiry_timestamp_seconds", "gauge",
		       "When the certificate in service expires (Unix time).");
	for (size_t i = 0; i < s->ncerts; i++) {
		if (!s->certs[i].has_cert)
			continue;
		sf_expo_printf(e, "snowflake_acme_certificate_expiry_timestamp_seconds");
		cert_labels(e, &s->certs[i]);
		sf_expo_printf(e, " %lld\n", (long long)s->certs[i].not_after);
	}
}

void sf_metrics_write(struct sf_expo *e, const struct sf_metrics_snapshot *s)
{
	write_front(e, s);
	per_shard(e, s, "snowflake_websockets_total", "counter",
		  "WebSocket connections handed over to the shard after their preamble.", v_ws_opened);
	per_shard(e, s, "snowflake_websockets_open", "gauge",
		  "WebSocket connections the shard holds now.", v_ws_open);
	per_shard(e, s, "snowflake_clients", "gauge",
		  "ClientID records the shard keeps (with or without a session).", v_clients);
	per_shard(e, s, "snowflake_sessions_total", "counter",
		  "KCP/smux sessions started.", v_sessions);
	per_shard(e, s, "snowflake_sessions_active", "gauge",
		  "KCP/smux sessions alive now.", v_sessions_active);
	per_shard(e, s, "snowflake_streams_total", "counter",
		  "smux streams handed to the tor dialer.", v_streams);
	per_shard(e, s, "snowflake_streams_with_client_ip_total", "counter",
		  "Streams handed to the tor dialer with a client address (USERADDR).", v_streams_addr);
	per_shard(e, s, "snowflake_streams_active", "gauge",
		  "Relay streams alive now (dialing, open, or closing).", v_streams_active);
	write_relay(e, s);
	write_rtt(e, s);
	write_load(e, s);
	write_backends(e, s);
	write_acme(e, s);
}
