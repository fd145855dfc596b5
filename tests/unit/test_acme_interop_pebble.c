/* Against a real RFC 8555 server: Let's Encrypt's pebble on loopback (tests/acme/pebble_harness.py),
 * never a real CA. HTTP-01 through the manager's own answers served by a small responder on
 * PEBBLE_HTTP_PORT; the certificate must chain to pebble's root; the DirCache files appear;
 * renewal with a 30 s pebble certificate; badNonce retries (--nonce-reject 50); a policy refusal
 * (--block) gives a clear rejectedIdentifier error. pebble is stopped at the end, and watches
 * this process in case the test dies first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "acme/cache.h"
#include "acme/client.h"
#include "acme/jws.h"
#include "acme/manager.h"
#include "acme_test_util.h"

#define HARNESS SF_ACME_TOOLS_DIR "/pebble_harness.py"
#define NAME "snowflake.test"
#define BLOCKED "blocked.test"

extern char **environ;

struct pebble {
	char state[256];
	json_t *env;
};

/* Runs argv (argv[0] looked up in PATH) to completion, killing it after timeout_s. Returns its
 * exit status or -1. */
static int run_bounded(char *const argv[], int timeout_s)
{
	pid_t pid;
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ))
		return -1;
	for (int i = 0; i < timeout_s * 20; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static const char *penv(struct pebble *p, const char *k)
{
	const char *v = json_string_value(json_object_get(p->env, k));
	if (!v)
		fail_msg("pebble.json lacks %s", k);
	return v;
}

static int pebble_up(struct pebble *p, const char *const *opts)
{
	snprintf(p->state, sizeof p->state, "/tmp/sf-acme-pebble-XXXXXX");
	if (!mkdtemp(p->state))
		return -1;
	char pid[32];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	char *argv[32] = { "python3", HARNESS, "up", "--quiet", "--watch-pid", pid,
			   "--lifetime", "600", "--timeout", "60" };
	int n = 10;
	for (size_t i = 0; opts && opts[i] && n < 30; i++)
		argv[n++] = (char *)opts[i];
	argv[n++] = p->state;
	argv[n] = NULL;
	int rc = run_bounded(argv, 90);
	if (rc != 0) {
		fprintf(stderr, "pebble_harness.py up failed (%d)\n", rc);
		return -1;
	}
	char path[300];
	snprintf(path, sizeof path, "%s/pebble.json", p->state);
	p->env = json_load_file(path, 0, NULL);
	return p->env ? 0 : -1;
}

static void pebble_down(struct pebble *p)
{
	char *argv[] = { "python3", HARNESS, "down", "--purge", p->state, NULL };
	if (p->state[0] && run_bounded(argv, 30) != 0)
		fprintf(stderr, "pebble_harness.py down %s failed\n", p->state);
	rmdir(p->state);
	json_decref(p->env);
	memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------ HTTP-01 responder */
struct responder {
	int fd;
	pthread_t thread;
	atomic_bool stop;
	atomic_int hits;
	struct sf_acme_manager *m;
};

static void serve_one(struct responder *r, int c)
{
	struct timeval tv = { 2, 0 };
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[4096] = "", path[1024] = "", host[300] = "", body[512] = "";
	size_t n = 0;
	while (n < sizeof buf - 1 && !strstr(buf, "\r\n\r\n")) {
		ssize_t k = recv(c, buf + n, sizeof buf - 1 - n, 0);
		if (k <= 0)
			break;
		n += (size_t)k;
		buf[n] = '\0';
	}
	static const char prefix[] = "/.well-known/acme-challenge/";
	const char *h = strcasestr(buf, "\r\nHost:");
	if (h)
		sscanf(h + 7, " %299[^\r\n ]", host);
	int status = 404;
	if (sscanf(buf, "GET %1023s HTTP/1.", path) == 1 && !strncmp(path, prefix, strlen(prefix)))
		status = sf_acme_manager_http01(r->m, host, path + strlen(prefix), body, sizeof body);
	if (status == 200)
		atomic_fetch_add(&r->hits, 1);
	else
		body[0] = '\0';
	char out[1024];
	int len = snprintf(out, sizeof out, "HTTP/1.1 %d X\r\nContent-Type: text/plain; charset=utf-8\r\n"
			   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", status, strlen(body), body);
	send(c, out, (size_t)len, MSG_NOSIGNAL);
}

static void *responder_main(void *arg)
{
	struct responder *r = arg;
	while (!atomic_load(&r->stop)) {
		struct pollfd p = { r->fd, POLLIN, 0 };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept4(r->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_one(r, c);
		close(c);
	}
	return NULL;
}

static void responder_start(struct responder *r, int port)
{
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(r->fd, 16), 0);
	atomic_store(&r->stop, false);
	assert_int_equal(pthread_create(&r->thread, NULL, responder_main, r), 0);
}

static void responder_stop(struct responder *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	close(r->fd);
}

/* ------------------------------------------------------------------ manager glue */
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static int pub_count;

static void on_publish(void *arg, const char *name, enum sf_acme_cert_kind kind, const struct sf_acme_cert *c)
{
	(void)arg, (void)c;
	if (strcmp(name, NAME) || kind != SF_ACME_CERT_EC)
		return;
	pthread_mutex_lock(&pub_lock);
	pub_count++;
	pthread_mutex_unlock(&pub_lock);
}

static int publications(void)
{
	pthread_mutex_lock(&pub_lock);
	int n = pub_count;
	pthread_mutex_unlock(&pub_lock);
	return n;
}

static struct sf_acme_manager *manager_for(struct pebble *p, const char *cache_dir, uint64_t renew_before_ms)
{
	static const char *const hosts[] = { NAME, BLOCKED };
	struct sf_acme_manager_config cfg = {
		.cache_dir = cache_dir,
		.hostnames = hosts,
		.n_hostnames = 2,
		.client = {
			.directory_url = penv(p, "PEBBLE_DIRECTORY_URL"),
			.ca_file = penv(p, "PEBBLE_CA_FILE"),
			.email = "ops@snowflake.test",
			.poll_interval_ms = 100,
			.issue_timeout_ms = 60000,
		},
		.http01 = true,
		.renew_before_ms = renew_before_ms,
		.renew_jitter_ms = UINT64_MAX,
		.publish = on_publish,
	};
	char err[300];
	struct sf_acme_manager *m = sf_acme_manager_new(&cfg, err, sizeof err);
	assert_non_null(m);
	assert_int_equal(sf_acme_manager_start(m, err, sizeof err), 0);
	return m;
}

/* X509_verify_cert of the chain against one trust file. */
static int chains_to(const struct sf_acme_cert *c, const char *trust_file)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_load_file(store, trust_file);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	for (int i = 1; i < sk_X509_num(c->chain); i++)
		sk_X509_push(untrusted, sk_X509_value(c->chain, i));
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, store, sf_acme_cert_leaf(c), untrusted);
	int ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return ok;
}

static void assert_mode(const char *dir, const char *name, mode_t want)
{
	char p[400];
	struct stat st;
	snprintf(p, sizeof p, "%s%s%s", dir, name ? "/" : "", name ? name : "");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, want);
}

/* The pebble of the running test; the teardown stops it even when the test failed half-way. */
static struct pebble p;

static int stop_pebble(void **state)
{
	(void)state;
	if (p.state[0])
		pebble_down(&p);
	return 0;
}

static void test_http01_issuance_cache_and_renewal(void **state)
{
	(void)state;
	static const char *const opts[] = { "--validity", "30", "--strict", NULL };
	assert_int_equal(pebble_up(&p, opts), 0);
	char base[256], cache[300];
	snprintf(base, sizeof base, "/tmp/sf-acme-state-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(cache, sizeof cache, "%s/snowflake-certificate-cache", base);

	/* renew 24 s before the end of a 30 s certificate: about 6 s after issuance */
	struct sf_acme_manager *m = manager_for(&p, cache, 24000);
	struct responder r = { .m = m };
	responder_start(&r, atoi(penv(&p, "PEBBLE_HTTP_PORT")));

	struct sf_acme_cert *c = NULL, *rsa = NULL, *renewed = NULL;
	char err[1500];
	enum sf_acme_status st = sf_acme_manager_wait(m, NAME, false, 60000, &c, err, sizeof err);
	if (st != SF_ACME_READY)
		fail_msg("issuance failed: %s", err);
	assert_true(atomic_load(&r.hits) >= 1); /* pebble's VA fetched the key authorization */
	assert_int_equal(chains_to(c, penv(&p, "PEBBLE_ROOT_FILE")), 1);
	assert_int_equal(chains_to(c, penv(&p, "PEBBLE_CA_FILE")), 0); /* the API CA signs no certs */
	assert_int_equal(X509_check_host(sf_acme_cert_leaf(c), NAME, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
	assert_mode(cache, NULL, 0700);
	assert_mode(cache, "acme_account+key", 0600);
	assert_mode(cache, NAME, 0600);
	/* what the cache holds is what is served, and it is valid by autocert's rules */
	struct sf_acme_cert *cached = NULL;
	assert_int_equal(sf_acme_cache_read_cert(cache, NAME, SF_ACME_CERT_EC, time(NULL), &cached, err, sizeof err), 0);
	assert_int_equal(EVP_PKEY_eq(cached->key, c->key), 1);
	sf_acme_cert_free(cached);

	/* RSA for clients without ECDSA */
	st = sf_acme_manager_wait(m, NAME, true, 60000, &rsa, err, sizeof err);
	if (st != SF_ACME_READY)
		fail_msg("RSA issuance failed: %s", err);
	assert_int_equal(EVP_PKEY_get_base_id(rsa->key), EVP_PKEY_RSA);
	assert_int_equal(chains_to(rsa, penv(&p, "PEBBLE_ROOT_FILE")), 1);
	assert_mode(cache, NAME "+rsa", 0600);

	/* renewal: a new certificate, same key, written to the cache */
	for (int i = 0; i < 600 && publications() < 2; i++)
		usleep(100000);
	assert_true(publications() >= 2);
	assert_int_equal(sf_acme_manager_lookup(m, NAME, false, &renewed, err, sizeof err), SF_ACME_READY);
	assert_int_equal(EVP_PKEY_eq(renewed->key, c->key), 1);
	assert_true(X509_cmp(sf_acme_cert_leaf(renewed), sf_acme_cert_leaf(c)) != 0);
	assert_int_equal(chains_to(renewed, penv(&p, "PEBBLE_ROOT_FILE")), 1);

	responder_stop(&r);
	sf_acme_manager_free(m);
	sf_acme_cert_free(c);
	sf_acme_cert_free(rsa);
	sf_acme_cert_free(renewed);
	acme_test_rmtree(cache);
	rmdir(base);
	pebble_down(&p);
}

/* Counts badNonce answers on their way from libcurl to the client. */
struct counting {
	struct sf_acme_curl *curl;
	int bad_nonces;
};

static int counting_http(void *arg, const struct sf_acme_http_request *req, struct sf_acme_http_response *resp,
			 char *err, size_t errlen)
{
	struct counting *cn = arg;
	int rc = sf_acme_curl_request(cn->curl, req, resp, err, errlen);
	if (rc == 0 && resp->body && strstr(resp->body, "urn:ietf:params:acme:error:badNonce"))
		cn->bad_nonces++;
	return rc;
}

static int record_publish(void *arg, const struct sf_acme_challenge *ch, char *err, size_t errlen);
static void record_withdraw(void *arg, const struct sf_acme_challenge *ch);

struct one_token {
	char token[128], key_authorization[256];
	bool live;
};

static int record_publish(void *arg, const struct sf_acme_challenge *ch, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	struct one_token *t = arg;
	snprintf(t->token, sizeof t->token, "%s", ch->token);
	snprintf(t->key_authorization, sizeof t->key_authorization, "%s", ch->key_authorization);
	t->live = true;
	return 0;
}

static void record_withdraw(void *arg, const struct sf_acme_challenge *ch)
{
	(void)ch;
	((struct one_token *)arg)->live = false;
}

static void test_bad_nonces_and_refusal(void **state)
{
	(void)state;
	static const char *const opts[] = { "--nonce-reject", "50", "--block", BLOCKED, "--always-valid", NULL };
	assert_int_equal(pebble_up(&p, opts), 0);

	/* the client alone (the VA accepts everything here): half the nonces are refused */
	struct sf_acme_curl_options co = { .ca_file = penv(&p, "PEBBLE_CA_FILE"), .user_agent = "sf-acme-test" };
	char err[300];
	struct counting cn = { .curl = sf_acme_curl_new(&co, err, sizeof err) };
	assert_non_null(cn.curl);
	static const char *const http_only[] = { "http-01", NULL };
	struct sf_acme_client_config cfg = {
		.directory_url = penv(&p, "PEBBLE_DIRECTORY_URL"),
		.poll_interval_ms = 100,
		.nonce_retries = 30,
		.challenge_types = http_only,
		.http = counting_http,
		.http_arg = &cn,
	};
	EVP_PKEY *account = sf_acme_account_key_new(), *key = sf_acme_cert_key_new(SF_ACME_CERT_EC);
	struct sf_acme_client *client = sf_acme_client_new(&cfg, account, err, sizeof err);
	struct one_token tok = { 0 };
	struct sf_acme_challenge_ops ops = { record_publish, record_withdraw, &tok };
	STACK_OF(X509) *chain = NULL;
	int rc = sf_acme_client_issue(client, NAME, key, &ops, &chain);
	if (rc)
		fail_msg("issuance failed: %s", sf_acme_client_error(client)->message);
	assert_true(cn.bad_nonces > 0);
	assert_false(tok.live);
	EVP_PKEY_up_ref(key);
	struct sf_acme_cert *c = sf_acme_cert_new(key, chain);
	assert_int_equal(chains_to(c, penv(&p, "PEBBLE_ROOT_FILE")), 1);
	sf_acme_cert_free(c);

	/* the CA's policy refuses a name: a clear error, the type machine-readable */
	rc = sf_acme_client_issue(client, BLOCKED, key, &ops, &chain);
	assert_int_equal(rc, -1);
	const struct sf_acme_error *e = sf_acme_client_error(client);
	assert_true(sf_acme_error_is(e, "rejectedIdentifier"));
	assert_int_equal(e->http_status, 400);
	assert_non_null(strstr(e->message, "acme: newOrder for " BLOCKED ": 400 urn:ietf:params:acme:error:rejectedIdentifier: "));
	sf_acme_client_free(client);
	EVP_PKEY_free(account);
	EVP_PKEY_free(key);
	sf_acme_curl_free(cn.curl);

	/* through the manager: the failure is reported to the handshake and remembered */
	char base[256];
	snprintf(base, sizeof base, "/tmp/sf-acme-state-XXXXXX");
	assert_non_null(mkdtemp(base));
	struct sf_acme_manager *m = manager_for(&p, base, 0);
	char merr[1500];
	struct sf_acme_cert *none = NULL;
	assert_int_equal(sf_acme_manager_wait(m, BLOCKED, false, 60000, &none, merr, sizeof merr), SF_ACME_FAILED);
	assert_non_null(strstr(merr, "rejectedIdentifier"));
	assert_int_equal(sf_acme_manager_lookup(m, BLOCKED, false, &none, merr, sizeof merr), SF_ACME_FAILED);
	assert_null(none);
	sf_acme_manager_free(m);
	acme_test_rmtree(base);
	pebble_down(&p);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_http01_issuance_cache_and_renewal, stop_pebble),
		cmocka_unit_test_teardown(test_bad_nonces_and_refusal, stop_pebble),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
