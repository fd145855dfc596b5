/* The autocert-like manager with the in-process CA: allow-list, lookups that never block, one
 * issuance per name, failures remembered then retried, the challenge answers the CA checks,
 * the cache reused after a restart, renewal with the same key and renewal failures that keep
 * the old certificate. Durations are shrunk through the configuration; waits are bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "acme/cache.h"
#include "acme/manager.h"
#include "acme_fake_ca.h"
#include "lib/goduration.h"
#include "lib/clock.h"

#define NAME "snowflake.example.org"
#define BLOCKED "blocked.example.org"

static char dir[256];
static struct fake_ca ca;
static struct sf_acme_manager *mgr; /* for the validation hook */

/* What the publish callback saw. */
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static int published[2];               /* per kind */
static struct sf_acme_cert *last_pub[2];

static void on_publish(void *arg, const char *name, enum sf_acme_cert_kind kind, const struct sf_acme_cert *c)
{
	(void)arg;
	if (strcmp(name, NAME))
		return; /* runs on the worker thread: count, never assert here */
	pthread_mutex_lock(&pub_lock);
	published[kind == SF_ACME_CERT_RSA]++;
	sf_acme_cert_free(last_pub[kind == SF_ACME_CERT_RSA]);
	last_pub[kind == SF_ACME_CERT_RSA] = sf_acme_cert_dup(c);
	pthread_mutex_unlock(&pub_lock);
}

/* attempt_done: [0] failures, [1] successes, for BLOCKED only */
static int attempts[2];

static void on_attempt(void *arg, const char *name, enum sf_acme_cert_kind kind, bool ok)
{
	(void)arg, (void)kind;
	if (strcmp(name, BLOCKED))
		return;
	pthread_mutex_lock(&pub_lock);
	attempts[ok]++;
	pthread_mutex_unlock(&pub_lock);
}

static int attempt_count(int ok)
{
	pthread_mutex_lock(&pub_lock);
	int n = attempts[ok];
	pthread_mutex_unlock(&pub_lock);
	return n;
}

static int published_count(int k)
{
	pthread_mutex_lock(&pub_lock);
	int n = published[k];
	pthread_mutex_unlock(&pub_lock);
	return n;
}

/* The worker publishes right after lookups can see the certificate: wait for it, bounded. */
static int published_count_after(int k, int want)
{
	for (int i = 0; i < 2000 && published_count(k) < want; i++)
		usleep(1000);
	return published_count(k);
}

/* The CA checks challenges through the manager's own answers, as a VA would over the wire. */
static bool validate_via_manager(void *arg, const char *type, const char *name, const char *token, const char *ka)
{
	(void)arg;
	if (!strcmp(type, "http-01")) {
		char body[256], host[300];
		snprintf(host, sizeof host, "%s:5002", name); /* pebble-style Host with a port */
		return sf_acme_manager_http01(mgr, host, token, body, sizeof body) == 200 && !strcmp(body, ka);
	}
	struct sf_acme_cert *c = sf_acme_manager_tlsalpn01_cert(mgr, name);
	if (!c)
		return false;
	ASN1_OBJECT *oid = OBJ_txt2obj(SF_ACME_IDENTIFIER_OID, 1);
	X509_EXTENSION *ext = X509_get_ext(sf_acme_cert_leaf(c), X509_get_ext_by_OBJ(sf_acme_cert_leaf(c), oid, -1));
	uint8_t want[34] = { 0x04, 0x20 };
	SHA256((const unsigned char *)ka, strlen(ka), want + 2);
	const ASN1_OCTET_STRING *v = ext ? X509_EXTENSION_get_data(ext) : NULL;
	bool ok = v && ASN1_STRING_length(v) == 34 && !memcmp(ASN1_STRING_get0_data(v), want, 34) &&
		  X509_check_host(sf_acme_cert_leaf(c), name, 0, 0, NULL) == 1;
	ASN1_OBJECT_free(oid);
	sf_acme_cert_free(c);
	return ok;
}

static const char *const hosts[] = { "Snowflake.Example.ORG", "a, b", "bad_host.org", "x.example.org.",
				     "-x.example.org", BLOCKED, "snowflake.example.org" };

static struct sf_acme_manager *new_manager(uint64_t renew_before_ms)
{
	struct sf_acme_manager_config cfg = {
		.cache_dir = dir,
		.hostnames = hosts,
		.n_hostnames = sizeof hosts / sizeof hosts[0],
		.client = {
			.directory_url = FAKE_BASE "/dir",
			.http = fake_http,
			.http_arg = &ca,
			.poll_interval_ms = 10,
		},
		.http01 = true,
		.tlsalpn01_cert = sf_acme_tlsalpn01_cert,
		.renew_before_ms = renew_before_ms,
		.renew_jitter_ms = UINT64_MAX, /* none */
		.failure_memory_ms = 300,
		.retry_base_ms = 200,
		.retry_jitter_ms = UINT64_MAX,
		.publish = on_publish,
		.attempt_done = on_attempt,
	};
	char err[256];
	struct sf_acme_manager *m = sf_acme_manager_new(&cfg, err, sizeof err);
	assert_non_null(m);
	mgr = m;
	assert_int_equal(sf_acme_manager_start(m, err, sizeof err), 0);
	return m;
}

static void stop_manager(struct sf_acme_manager *m)
{
	sf_acme_manager_free(m);
	mgr = NULL;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sf-acme-mgr-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	fake_init(&ca);
	ca.validate = validate_via_manager;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	acme_test_rmtree(dir);
	fake_free(&ca);
	for (int k = 0; k < 2; k++)
		sf_acme_cert_free(last_pub[k]);
	return 0;
}

static void set_knobs(void (*f)(struct fake_ca *))
{
	pthread_mutex_lock(&ca.lock);
	f(&ca);
	pthread_mutex_unlock(&ca.lock);
}

static int orders(void)
{
	pthread_mutex_lock(&ca.lock);
	int n = ca.orders;
	pthread_mutex_unlock(&ca.lock);
	return n;
}

static bool file_exists(const char *name)
{
	char p[400];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

static void test_names_and_refusals(void **state)
{
	(void)state;
	/* names are normalised as SNI is (src/lib/hostname.c, tested in test_lib_hostname) */
	/* configurations that cannot work are refused up front */
	char cerr[300];
	static const char *const junk[] = { "a b", "_x" };
	struct sf_acme_manager_config bad = { .hostnames = junk, .n_hostnames = 2, .http01 = true };
	assert_null(sf_acme_manager_new(&bad, cerr, sizeof cerr));
	assert_string_equal(cerr, "acme: no valid host name in the ACME host list");
	bad.hostnames = hosts;
	bad.n_hostnames = 1;
	bad.http01 = false;
	assert_null(sf_acme_manager_new(&bad, cerr, sizeof cerr));
	assert_string_equal(cerr, "acme: neither HTTP-01 nor TLS-ALPN-01 can be answered");
	static const char *const dns01[] = { "dns-01", NULL };
	bad.client.challenge_types = dns01;
	assert_null(sf_acme_manager_new(&bad, cerr, sizeof cerr));
	assert_string_equal(cerr, "acme: unsupported challenge type dns-01");

	struct sf_acme_manager *m = new_manager(0);
	const char *const *list;
	assert_int_equal(sf_acme_manager_hosts(m, &list), 3); /* invalid and duplicate entries dropped */
	assert_string_equal(list[0], NAME);
	assert_string_equal(list[1], "x.example.org");
	assert_string_equal(list[2], BLOCKED);

	struct sf_acme_cert *c = NULL;
	char err[300];
	assert_int_equal(sf_acme_manager_lookup(m, "", false, &c, err, sizeof err), SF_ACME_REFUSED);
	assert_string_equal(err, "acme/autocert: missing server name");
	assert_int_equal(sf_acme_manager_lookup(m, "localhost", false, &c, err, sizeof err), SF_ACME_REFUSED);
	assert_string_equal(err, "acme/autocert: server name component count invalid");
	assert_int_equal(sf_acme_manager_lookup(m, "other.example.org", false, &c, err, sizeof err), SF_ACME_REFUSED);
	assert_string_equal(err, "acme/autocert: host \"other.example.org\" not configured in HostWhitelist");
	assert_int_equal(sf_acme_manager_lookup(m, "bad_host.org", false, &c, err, sizeof err), SF_ACME_REFUSED);
	assert_string_equal(err, "acme/autocert: server name contains invalid character");
	assert_null(c);

	char body[256];
	assert_int_equal(sf_acme_manager_http01(m, "other.example.org", "tok", body, sizeof body), 403);
	assert_int_equal(sf_acme_manager_http01(m, NAME, "unknown-token", body, sizeof body), 404);
	assert_int_equal(sf_acme_manager_http01(m, NAME ":80", "../etc", body, sizeof body), 404);
	assert_null(sf_acme_manager_tlsalpn01_cert(m, NAME));
	stop_manager(m);
	assert_int_equal(orders(), 0); /* nothing was asked of the CA */
}

static void test_issue_once_cache_and_restart(void **state)
{
	(void)state;
	struct sf_acme_manager *m = new_manager(0);
	struct sf_acme_cert *c = NULL;
	char err[1500];
	/* many handshakes before the certificate exists: all "pending", one order */
	for (int i = 0; i < 5; i++) {
		enum sf_acme_status st = sf_acme_manager_lookup(m, "SNOWFLAKE.example.org", false, &c, err, sizeof err);
		assert_true(st == SF_ACME_PENDING || st == SF_ACME_READY);
		sf_acme_cert_free(c);
		c = NULL;
	}
	assert_int_equal(sf_acme_manager_wait(m, NAME, false, 30000, &c, err, sizeof err), SF_ACME_READY);
	assert_int_equal(orders(), 1);
	assert_int_equal(EVP_PKEY_get_base_id(c->key), EVP_PKEY_EC);
	assert_int_equal(X509_verify(sf_acme_cert_leaf(c), ca.ca.key), 1);
	assert_int_equal(published_count_after(0, 1), 1);
	sf_acme_cert_free(c);
	/* tls-alpn-01 was used and cleaned up; the cache holds the account and the certificate */
	assert_int_equal(ca.challenge_posts[1], 1);
	assert_true(file_exists("acme_account+key"));
	assert_true(file_exists(NAME));
	assert_false(file_exists(NAME "+token"));
	assert_null(sf_acme_manager_tlsalpn01_cert(m, NAME));

	/* RSA for legacy clients: its own entry; tls-alpn-01 now fails, http-01 takes over */
	pthread_mutex_lock(&ca.lock);
	ca.fail_tlsalpn = true;
	pthread_mutex_unlock(&ca.lock);
	assert_int_equal(sf_acme_manager_wait(m, NAME, true, 30000, &c, err, sizeof err), SF_ACME_READY);
	assert_int_equal(EVP_PKEY_get_base_id(c->key), EVP_PKEY_RSA);
	assert_int_equal(ca.challenge_posts[0], 1);
	assert_true(file_exists(NAME "+rsa"));
	DIR *d = opendir(dir);
	struct dirent *de;
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, "+http-01")); /* token withdrawn */
	closedir(d);
	sf_acme_cert_free(c);
	stop_manager(m);

	/* a restart serves both from the cache, published at start, no new order */
	int before = orders(), pub_ec = published_count(0);
	m = new_manager(0);
	assert_int_equal(published_count(0), pub_ec + 1);
	assert_int_equal(sf_acme_manager_lookup(m, NAME, false, &c, err, sizeof err), SF_ACME_READY);
	sf_acme_cert_free(c);
	assert_int_equal(sf_acme_manager_lookup(m, NAME, true, &c, err, sizeof err), SF_ACME_READY);
	sf_acme_cert_free(c);
	assert_int_equal(orders(), before);
	stop_manager(m);
	pthread_mutex_lock(&ca.lock);
	ca.fail_tlsalpn = false;
	pthread_mutex_unlock(&ca.lock);
}

static void block(struct fake_ca *f)
{
	f->block_name = BLOCKED;
}

static void unblock(struct fake_ca *f)
{
	f->block_name = NULL;
}

static void test_failure_remembered_then_retried(void **state)
{
	(void)state;
	set_knobs(block);
	struct sf_acme_manager *m = new_manager(0);
	struct sf_acme_cert *c = NULL;
	char err[1500];
	assert_int_equal(sf_acme_manager_wait(m, BLOCKED, false, 30000, &c, err, sizeof err), SF_ACME_FAILED);
	assert_non_null(strstr(err, "urn:ietf:params:acme:error:rejectedIdentifier"));
	assert_non_null(strstr(err, "newOrder for " BLOCKED));
	for (int i = 0; i < 500 && attempt_count(0) < 1; i++)
		usleep(10000); /* the callback follows the state change */
	assert_int_equal(attempt_count(0), 1);
	assert_int_equal(attempt_count(1), 0);
	/* remembered: fails fast without asking the CA again */
	pthread_mutex_lock(&ca.lock);
	int posts = ca.posts;
	pthread_mutex_unlock(&ca.lock);
	assert_int_equal(sf_acme_manager_lookup(m, BLOCKED, false, &c, err, sizeof err), SF_ACME_FAILED);
	assert_non_null(strstr(err, "rejectedIdentifier"));
	pthread_mutex_lock(&ca.lock);
	assert_int_equal(ca.posts, posts);
	pthread_mutex_unlock(&ca.lock);
	/* after failure_memory_ms a lookup starts a new attempt, which now succeeds */
	set_knobs(unblock);
	enum sf_acme_status st = SF_ACME_FAILED;
	for (int i = 0; i < 200 && st == SF_ACME_FAILED; i++) {
		usleep(20000);
		st = sf_acme_manager_lookup(m, BLOCKED, false, &c, err, sizeof err);
	}
	assert_true(st == SF_ACME_PENDING || st == SF_ACME_READY);
	sf_acme_cert_free(c);
	assert_int_equal(sf_acme_manager_wait(m, BLOCKED, false, 30000, &c, err, sizeof err), SF_ACME_READY);
	sf_acme_cert_free(c);
	for (int i = 0; i < 500 && attempt_count(1) < 1; i++)
		usleep(10000);
	assert_int_equal(attempt_count(0), 1);
	assert_int_equal(attempt_count(1), 1);
	stop_manager(m);
}

static void short_certs(struct fake_ca *f)
{
	f->validity_s = 40;
	f->block_name = NULL;
}

static void block_main(struct fake_ca *f)
{
	f->block_name = NAME;
}

/* renew_before 39 s on a 40 s certificate: renewal about a second after issuance. */
static void test_renewal_same_key_and_failure_keeps_serving(void **state)
{
	(void)state;
	acme_test_rmtree(dir); /* start without the long-lived certificates of earlier tests */
	mkdir(dir, 0700);
	set_knobs(short_certs);
	struct sf_acme_manager *m = new_manager(39000);
	struct sf_acme_cert *first = NULL, *c = NULL;
	char err[1500];
	int pub0 = published_count(0);
	assert_int_equal(sf_acme_manager_wait(m, NAME, false, 30000, &first, err, sizeof err), SF_ACME_READY);
	for (int i = 0; i < 1000 && published_count(0) < pub0 + 2; i++)
		usleep(20000);
	assert_true(published_count(0) >= pub0 + 2);
	assert_int_equal(sf_acme_manager_lookup(m, NAME, false, &c, err, sizeof err), SF_ACME_READY);
	assert_int_equal(EVP_PKEY_eq(c->key, first->key), 1); /* renewal reuses the key */
	assert_true(X509_cmp(sf_acme_cert_leaf(c), sf_acme_cert_leaf(first)) != 0);
	sf_acme_cert_free(c);

	/* the CA now refuses: renewals fail and are retried, the old certificate stays in service */
	set_knobs(block_main);
	int o = orders();
	pthread_mutex_lock(&ca.lock);
	int posts = ca.posts;
	pthread_mutex_unlock(&ca.lock);
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&ca.lock);
		int now_posts = ca.posts;
		pthread_mutex_unlock(&ca.lock);
		if (now_posts >= posts + 3)
			break;
		usleep(20000);
	}
	assert_int_equal(orders(), o); /* refused orders are not counted as orders */
	assert_int_equal(sf_acme_manager_lookup(m, NAME, false, &c, err, sizeof err), SF_ACME_READY);
	assert_int_equal(EVP_PKEY_eq(c->key, first->key), 1);
	sf_acme_cert_free(c);
	pthread_mutex_lock(&ca.lock);
	assert_true(ca.posts >= posts + 3); /* several retries happened */
	pthread_mutex_unlock(&ca.lock);
	set_knobs(unblock);
	int pubs = published_count(0);
	for (int i = 0; i < 1000 && published_count(0) <= pubs; i++)
		usleep(20000);
	assert_true(published_count(0) > pubs); /* back to normal renewals */
	sf_acme_cert_free(first);
	stop_manager(m);
}

static void test_parse_duration(void **state)
{
	(void)state;
	uint64_t ms;
	assert_int_equal(sf_go_parse_duration("720h", &ms), 0);
	assert_true(ms == 720ull * 3600 * 1000);
	assert_int_equal(sf_go_parse_duration("1h30m", &ms), 0);
	assert_true(ms == 5400000);
	assert_int_equal(sf_go_parse_duration("1.5h", &ms), 0);
	assert_true(ms == 5400000);
	assert_int_equal(sf_go_parse_duration("90s", &ms), 0);
	assert_true(ms == 90000);
	assert_int_equal(sf_go_parse_duration("2m250ms", &ms), 0);
	assert_true(ms == 120250);
	assert_int_equal(sf_go_parse_duration("0", &ms), 0);
	assert_true(ms == 0);
	static const char *bad[] = { "", "h", "10", "-1h", "1x", "1h ", ".h" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sf_go_parse_duration(bad[i], &ms), -1);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char buf[65536];
	*len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	char *copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, buf, *len);
	return copy;
}

/* The leaf a lookup gets, as DER, for comparing certificates. */
static int served_leaf(struct sf_acme_manager *m, unsigned char **der)
{
	struct sf_acme_cert *c = NULL;
	char err[1500];
	assert_int_equal(sf_acme_manager_lookup(m, NAME, false, &c, err, sizeof err), SF_ACME_READY);
	*der = NULL;
	int n = i2d_X509(sf_acme_cert_leaf(c), der);
	sf_acme_cert_free(c);
	assert_true(n > 0);
	return n;
}

/* SIGHUP's reload: a certificate put into the cache by someone else (another instance renewed
 * it, an operator restored a backup) replaces the one in service and is published, without an
 * order; a reload with nothing new changes nothing. */
static void long_certs(struct fake_ca *f)
{
	f->validity_s = 0; /* 90 days: no renewal during the test */
	f->block_name = NULL;
}

static void test_reload_serves_what_the_cache_holds(void **state)
{
	(void)state;
	set_knobs(long_certs);
	acme_test_rmtree(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	struct sf_acme_manager *m = new_manager(0);
	struct sf_acme_cert *c = NULL;
	char err[1500], path[512];
	assert_int_equal(sf_acme_manager_wait(m, NAME, false, 30000, &c, err, sizeof err), SF_ACME_READY);
	sf_acme_cert_free(c);
	snprintf(path, sizeof path, "%s/%s", dir, NAME);
	size_t first_len;
	char *first = read_all(path, &first_len);
	unsigned char *first_der;
	int first_der_len = served_leaf(m, &first_der);
	stop_manager(m);

	/* a second certificate: the cache emptied, a fresh issuance */
	assert_int_equal(unlink(path), 0);
	int pubs = published_count(0);
	m = new_manager(0);
	assert_int_equal(sf_acme_manager_wait(m, NAME, false, 30000, &c, err, sizeof err), SF_ACME_READY);
	sf_acme_cert_free(c);
	/* the worker publishes right after the lookup could see it */
	pubs++;
	assert_int_equal(published_count_after(0, pubs), pubs);
	unsigned char *second_der;
	int second_der_len = served_leaf(m, &second_der);
	assert_false(second_der_len == first_der_len && memcmp(first_der, second_der, (size_t)first_der_len) == 0);

	/* the first one is put back into the cache behind the manager's back */
	assert_int_equal(acme_test_write_file(path, first, first_len), 0);
	int before = orders();
	sf_acme_manager_reload(m);
	assert_int_equal(published_count_after(0, pubs + 1), pubs + 1);
	unsigned char *now_der;
	int now_der_len = served_leaf(m, &now_der);
	assert_int_equal(now_der_len, first_der_len);
	assert_memory_equal(now_der, first_der, (size_t)first_der_len);
	assert_int_equal(orders(), before);

	/* nothing new in the cache: served as it is, nothing published */
	sf_acme_manager_reload(m);
	usleep(300000);
	assert_int_equal(published_count(0), pubs + 1);
	OPENSSL_free(now_der);
	OPENSSL_free(second_der);
	OPENSSL_free(first_der);
	free(first);
	stop_manager(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_names_and_refusals),
		cmocka_unit_test(test_issue_once_cache_and_restart),
		cmocka_unit_test(test_failure_remembered_then_retried),
		cmocka_unit_test(test_renewal_same_key_and_failure_keeps_serving),
		cmocka_unit_test(test_reload_serves_what_the_cache_holds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
