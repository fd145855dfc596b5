/* The server's side of the metrics: the page of a fresh server (every shard, the backend from its
 * configuration, counters at zero, accepted connections counted), the TLS failure reasons sorted
 * into their fixed labels, the ACME state table, and the statistics line's counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/listener.h"
#include "certs/metrics.h"
#include "server/server_int.h"
#include "snowflake/server.h"
#include "server_test_util.h"

static struct sf_server *new_server(struct event_base *base, unsigned shards)
{
	struct sf_server_config cfg = { .num_shards = shards };
	return test_server_new(base, &cfg);
}

static void test_fresh_server_page(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct sf_server *srv = new_server(base, 2);
	size_t len = 0;
	char *page = sf_server_metrics_text(srv, &len);
	assert_non_null(page);
	assert_int_equal(strlen(page), len);
	assert_non_null(strstr(page, "\nsnowflake_connections_accepted_total 0\n"));
	assert_non_null(strstr(page, "\nsnowflake_streams_total{shard=\"0\"} 0\n"));
	assert_non_null(strstr(page, "\nsnowflake_streams_total{shard=\"1\"} 0\n"));
	assert_null(strstr(page, "shard=\"2\""));
	assert_non_null(strstr(page,
		"\nsnowflake_tor_dial_errors_total{backend=\"127.0.0.1:9\",kind=\"orport\"} 0\n"));
	assert_non_null(strstr(page, "\nsnowflake_kcp_rtt_seconds_bucket{shard=\"1\",le=\"10.000\"} 0\n"));
	/* plain ws://, no certificate store: no TLS or ACME families */
	assert_null(strstr(page, "snowflake_tls_"));
	assert_null(strstr(page, "snowflake_acme_"));
	free(page);

	/* Accepted connections are counted by the front (a listener of the server). */
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char err[256];
	int lfd = sf_net_listen((struct sockaddr *)&a, sizeof a, err, sizeof err);
	assert_true(lfd >= 0);
	socklen_t alen = sizeof a;
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(sf_server_add_listener(srv, lfd), 0);
	int c1 = socket(AF_INET, SOCK_STREAM, 0), c2 = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c1, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(connect(c2, (struct sockaddr *)&a, sizeof a), 0);
	for (int i = 0; i < 1000; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		page = sf_server_metrics_text(srv, &len);
		bool done = strstr(page, "\nsnowflake_connections_accepted_total 2\n") != NULL;
		free(page);
		if (done)
			break;
		usleep(2000);
	}
	page = sf_server_metrics_text(srv, &len);
	assert_non_null(strstr(page, "\nsnowflake_connections_accepted_total 2\n"));
	free(page);
	close(c1);
	close(c2);

	/* The statistics line: nothing yet, twice. */
	uint64_t streams = 1, with_addr = 1;
	sf_server_take_stats(srv, &streams, &with_addr);
	assert_int_equal(streams, 0);
	assert_int_equal(with_addr, 0);
	sf_server_take_stats(srv, &streams, &with_addr);
	assert_int_equal(streams, 0);
	sf_server_free(srv);
	event_base_free(base);
}

/* One metrics listener per server. */
static void test_one_metrics_listener(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct sf_server *srv = new_server(base, 1);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char err[256];
	int l1 = sf_net_listen((struct sockaddr *)&a, sizeof a, err, sizeof err);
	int l2 = sf_net_listen((struct sockaddr *)&a, sizeof a, err, sizeof err);
	assert_true(l1 >= 0 && l2 >= 0);
	assert_int_equal(sf_server_add_metrics_listener(srv, l1), 0);
	assert_int_equal(sf_server_add_metrics_listener(srv, l2), -1);
	close(l2);
	sf_server_free(srv); /* closes l1 */
	event_base_free(base);
}

static void test_tls_failure_reasons(void **state)
{
	(void)state;
	static const struct {
		const char *error;
		int reason; /* -1: not a failure */
	} cases[] = {
		{ "handshake timeout", SF_METRICS_TLS_TIMEOUT },
		{ "EOF", SF_METRICS_TLS_EOF },
		{ "read: connection reset by peer", SF_METRICS_TLS_IO },
		{ "write: broken pipe", SF_METRICS_TLS_IO },
		{ "tls: no certificate for snowflake.example", SF_METRICS_TLS_CERTIFICATE },
		{ "tls: missing server name", SF_METRICS_TLS_CERTIFICATE },
		{ "tls: host \"evil.example\" not configured in --acme-hostnames", SF_METRICS_TLS_CERTIFICATE },
		{ "tls: too many handshakes waiting for a certificate", SF_METRICS_TLS_CERTIFICATE },
		{ "client sent an HTTP request to an HTTPS server", SF_METRICS_TLS_HTTP },
		{ "tls: unsupported protocol", SF_METRICS_TLS_PROTOCOL },
		{ "tls: malformed ClientHello", SF_METRICS_TLS_PROTOCOL },
		{ "tls: acme-tls/1 challenge answered", -1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sf_front_metrics m = { 0 };
		sf_front_count_tls_failure(&m, cases[i].error);
		for (int r = 0; r < SF_METRICS_TLS_REASONS; r++) {
			if (m.tls_failures[r] != (r == cases[i].reason ? 1u : 0u))
				fail_msg("\"%s\": reason %d counted %llu", cases[i].error, r,
					 (unsigned long long)m.tls_failures[r]);
		}
	}
}

static void test_acme_state(void **state)
{
	(void)state;
	struct sf_certs_metrics *m = malloc(sizeof *m);
	sf_certs_metrics_init(m);
	sf_certs_metrics_cert(m, "a.example", false, 1000);
	sf_certs_metrics_attempt(m, "b.example", true, false);
	sf_certs_metrics_attempt(m, "a.example", false, true);
	sf_certs_metrics_cert(m, "a.example", false, 2000); /* renewed: same entry */
	struct sf_metrics_snapshot s = { 0 };
	struct sf_metrics_cert_snap out[4];
	sf_certs_metrics_read(m, &s, out, 4);
	assert_true(s.acme);
	assert_int_equal(s.acme_attempts_ok, 1);
	assert_int_equal(s.acme_attempts_failed, 1);
	assert_int_equal(s.ncerts, 2);
	assert_string_equal(out[0].hostname, "a.example");
	assert_string_equal(out[0].key_type, "ecdsa");
	assert_true(out[0].has_cert && out[0].attempted && out[0].last_ok);
	assert_int_equal(out[0].not_after, 2000);
	assert_string_equal(out[1].hostname, "b.example");
	assert_string_equal(out[1].key_type, "rsa");
	assert_false(out[1].has_cert);
	assert_true(out[1].attempted);
	assert_false(out[1].last_ok);
	/* The table is bounded: entries past its size are not kept, attempts still count. */
	char name[32];
	for (int i = 0; i < SF_CERTS_METRICS_MAX + 10; i++) {
		snprintf(name, sizeof name, "h%d.example", i);
		sf_certs_metrics_attempt(m, name, false, true);
	}
	sf_certs_metrics_read(m, &s, out, 4);
	assert_int_equal(s.ncerts, 4); /* cut to the caller's room */
	assert_int_equal(m->ncerts, SF_CERTS_METRICS_MAX);
	assert_int_equal(s.acme_attempts_ok, 1 + SF_CERTS_METRICS_MAX + 10);
	sf_certs_metrics_destroy(m);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_server_page),
		cmocka_unit_test(test_one_metrics_listener),
		cmocka_unit_test(test_tls_failure_reasons),
		cmocka_unit_test(test_acme_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
