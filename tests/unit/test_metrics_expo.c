/* The exposition writer: the exact page for a known snapshot, label escaping, gauges that never
 * go negative, and the families left out without TLS or ACME. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/expo.h"

static const uint32_t bounds[] = { 5, 250 };

static const char expected_page[] =
	"# HELP snowflake_connections_accepted_total Connections accepted on the WebSocket listeners.\n"
	"# TYPE snowflake_connections_accepted_total counter\n"
	"snowflake_connections_accepted_total 42\n"
	"# HELP snowflake_tls_handshake_failures_total TLS handshakes that failed, by reason.\n"
	"# TYPE snowflake_tls_handshake_failures_total counter\n"
	"snowflake_tls_handshake_failures_total{reason=\"timeout\"} 1\n"
	"snowflake_tls_handshake_failures_total{reason=\"eof\"} 2\n"
	"snowflake_tls_handshake_failures_total{reason=\"io_error\"} 3\n"
	"snowflake_tls_handshake_failures_total{reason=\"no_certificate\"} 4\n"
	"snowflake_tls_handshake_failures_total{reason=\"plaintext_http\"} 5\n"
	"snowflake_tls_handshake_failures_total{reason=\"protocol\"} 6\n"
	"# HELP snowflake_websockets_total WebSocket connections handed over to the shard after their preamble.\n"
	"# TYPE snowflake_websockets_total counter\n"
	"snowflake_websockets_total{shard=\"0\"} 10\n"
	"snowflake_websockets_total{shard=\"1\"} 0\n"
	"# HELP snowflake_websockets_open WebSocket connections the shard holds now.\n"
	"# TYPE snowflake_websockets_open gauge\n"
	"snowflake_websockets_open{shard=\"0\"} 3\n"
	"snowflake_websockets_open{shard=\"1\"} 0\n"
	"# HELP snowflake_clients ClientID records the shard keeps (with or without a session).\n"
	"# TYPE snowflake_clients gauge\n"
	"snowflake_clients{shard=\"0\"} 5\n"
	"snowflake_clients{shard=\"1\"} 0\n"
	"# HELP snowflake_sessions_total KCP/smux sessions started.\n"
	"# TYPE snowflake_sessions_total counter\n"
	"snowflake_sessions_total{shard=\"0\"} 6\n"
	"snowflake_sessions_total{shard=\"1\"} 0\n"
	"# HELP snowflake_sessions_active KCP/smux sessions alive now.\n"
	"# TYPE snowflake_sessions_active gauge\n"
	"snowflake_sessions_active{shard=\"0\"} 2\n"
	"snowflake_sessions_active{shard=\"1\"} 0\n"
	"# HELP snowflake_streams_total smux streams handed to the tor dialer.\n"
	"# TYPE snowflake_streams_total counter\n"
	"snowflake_streams_total{shard=\"0\"} 9\n"
	"snowflake_streams_total{shard=\"1\"} 0\n"
	"# HELP snowflake_streams_with_client_ip_total Streams handed to the tor dialer with a client address (USERADDR).\n"
	"# TYPE snowflake_streams_with_client_ip_total counter\n"
	"snowflake_streams_with_client_ip_total{shard=\"0\"} 7\n"
	"snowflake_streams_with_client_ip_total{shard=\"1\"} 0\n"
	"# HELP snowflake_streams_active Relay streams alive now (dialing, open, or closing).\n"
	"# TYPE snowflake_streams_active gauge\n"
	"snowflake_streams_active{shard=\"0\"} 1\n"
	"snowflake_streams_active{shard=\"1\"} 0\n"
	"# HELP snowflake_relay_bytes_total Stream payload bytes relayed between clients and tor, by direction.\n"
	"# TYPE snowflake_relay_bytes_total counter\n"
	"snowflake_relay_bytes_total{shard=\"0\",direction=\"to_tor\"} 123456789012\n"
	"snowflake_relay_bytes_total{shard=\"0\",direction=\"from_tor\"} 987\n"
	"snowflake_relay_bytes_total{shard=\"1\",direction=\"to_tor\"} 0\n"
	"snowflake_relay_bytes_total{shard=\"1\",direction=\"from_tor\"} 0\n"
	"# HELP snowflake_kcp_retransmissions_total KCP segments sent again, by cause (RTO expired or early retransmit).\n"
	"# TYPE snowflake_kcp_retransmissions_total counter\n"
	"snowflake_kcp_retransmissions_total{shard=\"0\",cause=\"timeout\"} 11\n"
	"snowflake_kcp_retransmissions_total{shard=\"0\",cause=\"early\"} 12\n"
	"snowflake_kcp_retransmissions_total{shard=\"1\",cause=\"timeout\"} 0\n"
	"snowflake_kcp_retransmissions_total{shard=\"1\",cause=\"early\"} 0\n"
	"# HELP snowflake_kcp_duplicate_segments_total KCP data segments received again: the client resent what had arrived.\n"
	"# TYPE snowflake_kcp_duplicate_segments_total counter\n"
	"snowflake_kcp_duplicate_segments_total{shard=\"0\"} 17\n"
	"snowflake_kcp_duplicate_segments_total{shard=\"1\"} 0\n"
	"# HELP snowflake_kcp_rtt_seconds KCP round-trip time samples (one per packet carrying ACKs).\n"
	"# TYPE snowflake_kcp_rtt_seconds histogram\n"
	"snowflake_kcp_rtt_seconds_bucket{shard=\"0\",le=\"0.005\"} 4\n"
	"snowflake_kcp_rtt_seconds_bucket{shard=\"0\",le=\"0.250\"} 6\n"
	"snowflake_kcp_rtt_seconds_bucket{shard=\"0\",le=\"+Inf\"} 7\n"
	"snowflake_kcp_rtt_seconds_sum{shard=\"0\"} 1.234\n"
	"snowflake_kcp_rtt_seconds_count{shard=\"0\"} 7\n"
	"snowflake_kcp_rtt_seconds_bucket{shard=\"1\",le=\"0.005\"} 0\n"
	"snowflake_kcp_rtt_seconds_bucket{shard=\"1\",le=\"0.250\"} 0\n"
	"snowflake_kcp_rtt_seconds_bucket{shard=\"1\",le=\"+Inf\"} 0\n"
	"snowflake_kcp_rtt_seconds_sum{shard=\"1\"} 0.000\n"
	"snowflake_kcp_rtt_seconds_count{shard=\"1\"} 0\n"
	"# HELP snowflake_queue_drops_total Downstream packets dropped because a client's queue or the shard's pool was full.\n"
	"# TYPE snowflake_queue_drops_total counter\n"
	"snowflake_queue_drops_total{shard=\"0\"} 13\n"
	"snowflake_queue_drops_total{shard=\"1\"} 0\n"
	"# HELP snowflake_memory_budget_bytes The shard's slice of the memory budget.\n"
	"# TYPE snowflake_memory_budget_bytes gauge\n"
	"snowflake_memory_budget_bytes{shard=\"0\"} 16777216\n"
	"snowflake_memory_budget_bytes{shard=\"1\"} 0\n"
	"# HELP snowflake_memory_used_bytes Memory the shard's clients hold, as counted against its slice.\n"
	"# TYPE snowflake_memory_used_bytes gauge\n"
	"snowflake_memory_used_bytes{shard=\"0\"} 1048576\n"
	"snowflake_memory_used_bytes{shard=\"1\"} 0\n"
	"# HELP snowflake_memory_refused_total WebSockets of new clients refused because the shard's memory was past the refusal mark.\n"
	"# TYPE snowflake_memory_refused_total counter\n"
	"snowflake_memory_refused_total{shard=\"0\"} 15\n"
	"snowflake_memory_refused_total{shard=\"1\"} 0\n"
	"# HELP snowflake_memory_evicted_total Clients closed because the shard's memory was past the eviction mark.\n"
	"# TYPE snowflake_memory_evicted_total counter\n"
	"snowflake_memory_evicted_total{shard=\"0\"} 16\n"
	"snowflake_memory_evicted_total{shard=\"1\"} 0\n"
	"# HELP snowflake_shard_cpu_seconds_total CPU time used by the shard's thread.\n"
	"# TYPE snowflake_shard_cpu_seconds_total counter\n"
	"snowflake_shard_cpu_seconds_total{shard=\"0\"} 2.000000042\n"
	"snowflake_shard_cpu_seconds_total{shard=\"1\"} 0.000000000\n"
	"# HELP snowflake_tor_dial_errors_total Connections to tor (ExtORPort or ORPort) that failed, by backend.\n"
	"# TYPE snowflake_tor_dial_errors_total counter\n"
	"snowflake_tor_dial_errors_total{backend=\"127.0.0.1:9001\",kind=\"extorport\"} 14\n"
	"# HELP snowflake_acme_attempts_total ACME certificate orders (first issuance or renewal) that ended, by result.\n"
	"# TYPE snowflake_acme_attempts_total counter\n"
	"snowflake_acme_attempts_total{result=\"success\"} 15\n"
	"snowflake_acme_attempts_total{result=\"failure\"} 16\n"
	"# HELP snowflake_acme_last_attempt_success 1 if the last ACME attempt for this certificate succeeded, else 0.\n"
	"# TYPE snowflake_acme_last_attempt_success gauge\n"
	"snowflake_acme_last_attempt_success{hostname=\"rsa.example\",key_type=\"rsa\"} 0\n"
	"# HELP snowflake_acme_certificate_expiry_timestamp_seconds When the certificate in service expires (Unix time).\n"
	"# TYPE snowflake_acme_certificate_expiry_timestamp_seconds gauge\n"
	"snowflake_acme_certificate_expiry_timestamp_seconds{hostname=\"snowflake.example\",key_type=\"ecdsa\"} 1798761600\n";

static void fill(struct sf_metrics_snapshot *s, struct sf_metrics_shard_snap shards[2],
		 struct sf_metrics_backend_snap *backend, struct sf_metrics_cert_snap certs[2])
{
	memset(shards, 0, 2 * sizeof *shards);
	shards[0] = (struct sf_metrics_shard_snap){
		.websockets_opened = 10, .websockets_closed = 7,
		.clients_created = 8, .clients_freed = 3,
		.sessions_opened = 6, .sessions_closed = 4,
		.streams_opened = 9, .streams_closed = 8, .streams_with_addr = 7,
		.bytes_to_tor = 123456789012ull, .bytes_from_tor = 987,
		.kcp_retrans_rto = 11, .kcp_retrans_early = 12, .kcp_dup_segs = 17,
		.queue_drops = 13,
		.mem_budget = 16777216, .mem_used = 1048576, .mem_refused = 15, .mem_evicted = 16,
		.rtt_sum_ms = 1234,
		.rtt_buckets = { 4, 2, 1 },
		.cpu_ns = 2000000042ull,
	};
	*backend = (struct sf_metrics_backend_snap){ .address = "127.0.0.1:9001",
						     .kind = "extorport", .dial_errors = 14 };
	memset(certs, 0, 2 * sizeof *certs);
	snprintf(certs[0].hostname, sizeof certs[0].hostname, "snowflake.example");
	certs[0].key_type = "ecdsa";
	certs[0].has_cert = true;
	certs[0].not_after = 1798761600;
	snprintf(certs[1].hostname, sizeof certs[1].hostname, "rsa.example");
	certs[1].key_type = "rsa";
	certs[1].attempted = true;
	certs[1].last_ok = false;
	*s = (struct sf_metrics_snapshot){
		.connections_accepted = 42,
		.tls = true,
		.tls_failures = { 1, 2, 3, 4, 5, 6 },
		.rtt_bounds_ms = bounds,
		.n_rtt_bounds = 2,
		.nshards = 2,
		.shards = shards,
		.nbackends = 1,
		.backends = backend,
		.acme = true,
		.acme_attempts_ok = 15,
		.acme_attempts_failed = 16,
		.ncerts = 2,
		.certs = certs,
	};
}

static void test_exact_page(void **state)
{
	(void)state;
	struct sf_metrics_snapshot s;
	struct sf_metrics_shard_snap shards[2];
	struct sf_metrics_backend_snap backend;
	struct sf_metrics_cert_snap certs[2];
	fill(&s, shards, &backend, certs);
	struct sf_expo e;
	sf_expo_init(&e);
	sf_metrics_write(&e, &s);
	assert_false(e.failed);
	assert_int_equal(e.len, strlen(e.buf));
	assert_string_equal(e.buf, expected_page);
	sf_expo_free(&e);
}

/* Without TLS and ACME their families are absent; the rest is unchanged. */
static void test_plain_mode(void **state)
{
	(void)state;
	struct sf_metrics_snapshot s;
	struct sf_metrics_shard_snap shards[2];
	struct sf_metrics_backend_snap backend;
	struct sf_metrics_cert_snap certs[2];
	fill(&s, shards, &backend, certs);
	s.tls = false;
	s.acme = false;
	struct sf_expo e;
	sf_expo_init(&e);
	sf_metrics_write(&e, &s);
	assert_null(strstr(e.buf, "snowflake_tls_"));
	assert_null(strstr(e.buf, "snowflake_acme_"));
	const char *from = strstr(expected_page, "# HELP snowflake_websockets_total");
	const char *to = strstr(expected_page, "# HELP snowflake_acme_attempts_total");
	assert_non_null(strstr(e.buf, "snowflake_connections_accepted_total 42\n"));
	const char *body = strstr(e.buf, "# HELP snowflake_websockets_total");
	assert_non_null(body);
	assert_int_equal(strlen(body), (size_t)(to - from));
	assert_memory_equal(body, from, (size_t)(to - from));
	sf_expo_free(&e);
}

/* A gauge read while it moves (closed counted after opened) shows 0, never a huge number. */
static void test_gauge_never_negative(void **state)
{
	(void)state;
	struct sf_metrics_shard_snap shard = { .sessions_opened = 3, .sessions_closed = 4 };
	struct sf_metrics_snapshot s = { .rtt_bounds_ms = bounds, .n_rtt_bounds = 2,
					 .nshards = 1, .shards = &shard };
	struct sf_expo e;
	sf_expo_init(&e);
	sf_metrics_write(&e, &s);
	assert_non_null(strstr(e.buf, "\nsnowflake_sessions_active{shard=\"0\"} 0\n"));
	assert_non_null(strstr(e.buf, "\nsnowflake_sessions_total{shard=\"0\"} 3\n"));
	sf_expo_free(&e);
}

static void test_label_escaping(void **state)
{
	(void)state;
	struct sf_expo e;
	sf_expo_init(&e);
	sf_expo_label_value(&e, "a\"b\\c\nd");
	assert_string_equal(e.buf, "a\\\"b\\\\c\\nd");
	sf_expo_free(&e);
}

/* The buffer grows past its first allocation without losing text. */
static void test_growth(void **state)
{
	(void)state;
	struct sf_expo e;
	sf_expo_init(&e);
	for (int i = 0; i < 10000; i++)
		sf_expo_printf(&e, "line %05d\n", i);
	assert_false(e.failed);
	assert_int_equal(e.len, 10000 * 11);
	assert_memory_equal(e.buf + 9999 * 11, "line 09999\n", 11);
	sf_expo_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_page),
		cmocka_unit_test(test_plain_mode),
		cmocka_unit_test(test_gauge_never_negative),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
