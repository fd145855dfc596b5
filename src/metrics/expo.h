/* Prometheus text exposition format 0.0.4 (docs/metrics.md lists every metric): a growing text
 * buffer, the writers of one metric family, and the whole page for a snapshot of the server's
 * counters. No I/O, no clock, no threads: the server fills a snapshot, this turns it into text. */
#ifndef SF_METRICS_EXPO_H
#define SF_METRICS_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Text being built. On allocation failure it stops growing and remembers it (failed). */
struct sf_expo {
	char *buf;
	size_t len, cap;
	bool failed;
};

void sf_expo_init(struct sf_expo *e);
void sf_expo_free(struct sf_expo *e);
/* Appends printf-style text. */
void sf_expo_printf(struct sf_expo *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP name help\n# TYPE name type\n" */
void sf_expo_family(struct sf_expo *e, const char *name, const char *type, const char *help);
/* A label value with \\, \" and \n escaped, as the format requires. */
void sf_expo_label_value(struct sf_expo *e, const char *v);

/* Why TLS handshakes fail, as counted by the front. */
enum sf_metrics_tls_reason {
	SF_METRICS_TLS_TIMEOUT,		/* the handshake deadline passed */
	SF_METRICS_TLS_EOF,		/* the peer closed */
	SF_METRICS_TLS_IO,		/* a socket error (reset, ...) */
	SF_METRICS_TLS_CERTIFICATE,	/* no certificate for the SNI (missing, refused, failed) */
	SF_METRICS_TLS_HTTP,		/* plaintext HTTP on the TLS port */
	SF_METRICS_TLS_PROTOCOL,	/* anything else OpenSSL refused */
	SF_METRICS_TLS_REASONS
};
extern const char *const sf_metrics_tls_reason_names[SF_METRICS_TLS_REASONS];

/* One shard's counters, read at one moment. Gauges are given as what was opened and what was
 * closed (the writer subtracts). Histogram buckets are not cumulative; the last one holds what
 * lies beyond the last bound. */
#define SF_METRICS_RTT_BUCKETS_MAX 16
struct sf_metrics_shard_snap {
	uint64_t websockets_opened, websockets_closed;
	uint64_t clients_created, clients_freed;
	uint64_t sessions_opened, sessions_closed;
	uint64_t streams_opened, streams_closed, streams_with_addr;
	uint64_t bytes_to_tor, bytes_from_tor;
	uint64_t kcp_retrans_rto, kcp_retrans_early;
	uint64_t kcp_dup_segs;
	uint64_t queue_drops;
	uint64_t mem_budget, mem_used;		/* bytes: the shard's slice, what it holds */
	uint64_t mem_refused, mem_evicted;
	uint64_t rtt_sum_ms;
	uint64_t rtt_buckets[SF_METRICS_RTT_BUCKETS_MAX + 1];
	uint64_t cpu_ns;
};

struct sf_metrics_backend_snap {
	char address[80];		/* label text: "127.0.0.1:9001" */
	const char *kind;		/* "extorport" or "orport" */
	uint64_t dial_errors;
};

/* One certificate the ACME manager keeps, by host name and key type. */
struct sf_metrics_cert_snap {
	char hostname[256];
	const char *key_type;		/* "ecdsa" or "rsa" */
	bool has_cert;
	int64_t not_after;		/* Unix seconds, when has_cert */
	bool attempted;			/* an ACME attempt ended since start */
	bool last_ok;			/* ... and the last one succeeded */
};

struct sf_metrics_snapshot {
	uint64_t connections_accepted;
	bool tls;				/* TLS families are written only in TLS mode */
	uint64_t tls_failures[SF_METRICS_TLS_REASONS];
	const uint32_t *rtt_bounds_ms;		/* ascending upper bounds */
	size_t n_rtt_bounds;			/* <= SF_METRICS_RTT_BUCKETS_MAX */
	size_t nshards;
	const struct sf_metrics_shard_snap *shards;
	size_t nbackends;
	const struct sf_metrics_backend_snap *backends;
	bool acme;				/* ACME families are written only when set */
	uint64_t acme_attempts_ok, acme_attempts_failed;
	size_t ncerts;
	const struct sf_metrics_cert_snap *certs;
};

/* Appends the whole page for s. */
void sf_metrics_write(struct sf_expo *e, const struct sf_metrics_snapshot *s);

#endif
