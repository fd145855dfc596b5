/* The autocert DirCache: round trip, Go's exact layout read and written, the reading rules that
 * send a cached certificate back to the CA, file modes and atomic replacement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "acme/cache.h"
#include "acme/pem.h"
#include "acme_test_util.h"

#define NAME "snowflake.example.org"

static char base[256];   /* mkdtemp */
static char dir[300];    /* base/state/snowflake-certificate-cache: created by the cache */
static struct acme_test_ca ca;

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof base, "/tmp/sf-acme-cache-XXXXXX");
	if (!mkdtemp(base) || acme_test_ca_init(&ca, NULL))
		return -1;
	snprintf(dir, sizeof dir, "%s/state/snowflake-certificate-cache", base);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	acme_test_rmtree(dir);
	char p[320];
	snprintf(p, sizeof p, "%s/state", base);
	rmdir(p);
	acme_test_rmtree(base);
	acme_test_ca_free(&ca);
	return 0;
}

static void path_of(const char *key, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", dir, key);
}

/* A chain leaf + CA for key, valid around now. */
static struct sf_acme_cert *make_cert(EVP_PKEY *key, const char *san, time_t nb, time_t na)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, acme_test_leaf(&ca, key, san, nb, na));
	X509_up_ref(ca.cert);
	sk_X509_push(chain, ca.cert);
	EVP_PKEY_up_ref(key);
	struct sf_acme_cert *c = sf_acme_cert_new(key, chain);
	assert_non_null(c);
	return c;
}

static void assert_same_chain(const struct sf_acme_cert *a, const struct sf_acme_cert *b)
{
	assert_int_equal(EVP_PKEY_eq(a->key, b->key), 1);
	assert_int_equal(sk_X509_num(a->chain), sk_X509_num(b->chain));
	for (int i = 0; i < sk_X509_num(a->chain); i++)
		assert_int_equal(X509_cmp(sk_X509_value(a->chain, i), sk_X509_value(b->chain, i)), 0);
}

static void assert_mode(const char *path, mode_t want)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, want);
}

static int read_cert(const char *name, enum sf_acme_cert_kind kind, struct sf_acme_cert **out, char *why)
{
	return sf_acme_cache_read_cert(dir, name, kind, time(NULL), out, why, 300);
}

static void test_round_trip_modes_and_go_layout(void **state)
{
	(void)state;
	mode_t old = umask(0); /* the modes must not depend on the umask being kind */
	time_t now = time(NULL);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	struct sf_acme_cert *c = make_cert(key, NAME, now - 3600, now + 86400 * 90), *back = NULL;
	char err[300] = "", path[400];
	assert_int_equal(sf_acme_cache_write_cert(dir, NAME, SF_ACME_CERT_EC, c, err, sizeof err), 0);
	umask(old);
	assert_mode(dir, 0700);
	path_of(NAME, path, sizeof path);
	assert_mode(path, 0600);

	/* byte for byte what Go's cachePut writes: EC PRIVATE KEY, then leaf, then CA */
	char want[16384] = "";
	acme_test_go_pem_key(want, sizeof want, key);
	acme_test_go_pem_cert(want, sizeof want, sk_X509_value(c->chain, 0));
	acme_test_go_pem_cert(want, sizeof want, sk_X509_value(c->chain, 1));
	char *data = NULL;
	size_t len;
	assert_int_equal(sf_acme_cache_get(dir, NAME, &data, &len, err, sizeof err), 0);
	assert_int_equal(len, strlen(want));
	assert_string_equal(data, want);
	free(data);

	assert_int_equal(read_cert(NAME, SF_ACME_CERT_EC, &back, err), 0);
	assert_same_chain(c, back);
	assert_int_equal(back->not_after, c->not_after);
	sf_acme_cert_free(back);

	/* nothing else in the directory: the temporary file was renamed */
	DIR *d = opendir(dir);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			assert_string_equal(de->d_name, NAME);
			files++;
		}
	closedir(d);
	assert_int_equal(files, 1);

	/* a rewrite replaces the file (new inode), never edits it in place */
	struct stat st1, st2;
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(sf_acme_cache_write_cert(dir, NAME, SF_ACME_CERT_EC, c, err, sizeof err), 0);
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino != st2.st_ino);
	assert_mode(path, 0600);
	sf_acme_cert_free(c);
	EVP_PKEY_free(key);
}

/* Cache files as the Go server leaves them: read as they are. */
static void test_reads_go_written_entries(void **state)
{
	(void)state;
	time_t now = time(NULL);
	char err[300] = "", path[400];
	struct sf_acme_cert *back = NULL;

	/* <domain>: EC key (SEC1) + chain */
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	X509 *leaf = acme_test_leaf(&ca, ec, "go.example.org", now - 60, now + 86400);
	char text[16384] = "";
	acme_test_go_pem_key(text, sizeof text, ec);
	acme_test_go_pem_cert(text, sizeof text, leaf);
	acme_test_go_pem_cert(text, sizeof text, ca.cert);
	assert_int_equal(sf_acme_cache_put(dir, "go.example.org", text, strlen(text), err, sizeof err), 0);
	assert_int_equal(read_cert("go.example.org", SF_ACME_CERT_EC, &back, err), 0);
	assert_int_equal(EVP_PKEY_eq(back->key, ec), 1);
	assert_int_equal(X509_cmp(sk_X509_value(back->chain, 0), leaf), 0);
	assert_int_equal(sk_X509_num(back->chain), 2);
	sf_acme_cert_free(back);
	X509_free(leaf);

	/* <domain>+rsa: RSA PRIVATE KEY (PKCS#1) + leaf */
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	leaf = acme_test_leaf(&ca, rsa, "go.example.org", now - 60, now + 86400);
	text[0] = '\0';
	acme_test_go_pem_key(text, sizeof text, rsa);
	acme_test_go_pem_cert(text, sizeof text, leaf);
	assert_non_null(strstr(text, "-----BEGIN RSA PRIVATE KEY-----\n"));
	assert_int_equal(sf_acme_cache_put(dir, "go.example.org+rsa", text, strlen(text), err, sizeof err), 0);
	assert_int_equal(read_cert("go.example.org", SF_ACME_CERT_RSA, &back, err), 0);
	assert_int_equal(EVP_PKEY_get_base_id(back->key), EVP_PKEY_RSA);
	sf_acme_cert_free(back);
	/* our writer produces the same bytes for it */
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, leaf);
	EVP_PKEY_up_ref(rsa);
	struct sf_acme_cert *mine = sf_acme_cert_new(rsa, chain);
	char *pem = NULL;
	size_t len;
	assert_int_equal(sf_acme_cert_to_pem(mine, &pem, &len), 0);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(pem, text, len);
	free(pem);
	sf_acme_cert_free(mine);

	/* a PKCS#8 key ("PRIVATE KEY") is accepted too (parsePrivateKey tries it) */
	leaf = acme_test_leaf(&ca, ec, "p8.example.org", now - 60, now + 86400);
	text[0] = '\0';
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(ec);
	unsigned char *der = NULL;
	int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	acme_test_go_pem(text, sizeof text, "PRIVATE KEY", der, n);
	OPENSSL_free(der);
	PKCS8_PRIV_KEY_INFO_free(p8);
	acme_test_go_pem_cert(text, sizeof text, leaf);
	X509_free(leaf);
	assert_int_equal(sf_acme_cache_put(dir, "p8.example.org", text, strlen(text), err, sizeof err), 0);
	assert_int_equal(read_cert("p8.example.org", SF_ACME_CERT_EC, &back, err), 0);
	sf_acme_cert_free(back);

	/* the legacy account key name, read when acme_account+key is absent */
	EVP_PKEY *acct = NULL;
	assert_int_equal(sf_acme_cache_read_account_key(dir, &acct, err, sizeof err), SF_ACME_CACHE_MISS);
	text[0] = '\0';
	acme_test_go_pem_key(text, sizeof text, ec);
	path_of("acme_account.key", path, sizeof path);
	assert_int_equal(acme_test_write_file(path, text, strlen(text)), 0);
	assert_int_equal(sf_acme_cache_read_account_key(dir, &acct, err, sizeof err), 0);
	assert_int_equal(EVP_PKEY_eq(acct, ec), 1);
	EVP_PKEY_free(acct);
	unlink(path);

	/* our account key file: acme_account+key, one EC PRIVATE KEY block, 0600 */
	assert_int_equal(sf_acme_cache_write_account_key(dir, ec, err, sizeof err), 0);
	path_of("acme_account+key", path, sizeof path);
	assert_mode(path, 0600);
	char *data = NULL;
	assert_int_equal(sf_acme_cache_get(dir, "acme_account+key", &data, &len, err, sizeof err), 0);
	assert_string_equal(data, text); /* = Go's encodeECDSAKey output */
	free(data);
	assert_int_equal(sf_acme_cache_read_account_key(dir, &acct, err, sizeof err), 0);
	assert_int_equal(EVP_PKEY_eq(acct, ec), 1);
	EVP_PKEY_free(acct);

	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}

/* Writes text under key and expects a miss whose reason contains want. */
static void expect_rejected(const char *key, const char *name, enum sf_acme_cert_kind kind, const char *text,
			    const char *want)
{
	char err[300] = "", why[300] = "";
	struct sf_acme_cert *back = NULL;
	assert_int_equal(sf_acme_cache_put(dir, key, text, strlen(text), err, sizeof err), 0);
	assert_int_equal(sf_acme_cache_read_cert(dir, name, kind, time(NULL), &back, why, sizeof why),
			 SF_ACME_CACHE_MISS);
	assert_null(back);
	if (!strstr(why, want))
		fail_msg("%s: reason \"%s\" lacks \"%s\"", key, why, want);
}

static void entry_text(char *text, size_t cap, EVP_PKEY *key, X509 *leaf)
{
	text[0] = '\0';
	acme_test_go_pem_key(text, cap, key);
	acme_test_go_pem_cert(text, cap, leaf);
}

static void test_rejected_entries(void **state)
{
	(void)state;
	time_t now = time(NULL);
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(2048);
	char text[16384];
	X509 *x;

	x = acme_test_leaf(&ca, ec, "a.example.org", now - 86400 * 100, now - 86400);
	entry_text(text, sizeof text, ec, x);
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "expired");
	X509_free(x);

	x = acme_test_leaf(&ca, ec, "a.example.org", now + 86400, now + 86400 * 100);
	entry_text(text, sizeof text, ec, x);
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "not valid yet");
	X509_free(x);

	x = acme_test_leaf(&ca, ec, "other.example.org", now - 60, now + 86400);
	entry_text(text, sizeof text, ec, x);
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "not valid for a.example.org");
	X509_free(x);

	x = acme_test_leaf(&ca, ec, NULL, now - 60, now + 86400); /* CN only: Go ignores the CN */
	entry_text(text, sizeof text, ec, x);
	expect_rejected("no-san", "no-san", SF_ACME_CERT_EC, text, "not valid for");
	X509_free(x);

	x = acme_test_leaf(&ca, other, "a.example.org", now - 60, now + 86400);
	entry_text(text, sizeof text, ec, x);
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "does not match public key");
	X509_free(x);

	/* key type against the file name: an EC entry in "+rsa", an RSA entry without it */
	x = acme_test_leaf(&ca, ec, "a.example.org", now - 60, now + 86400);
	entry_text(text, sizeof text, ec, x);
	expect_rejected("a.example.org+rsa", "a.example.org", SF_ACME_CERT_RSA, text, "key type does not match");
	X509_free(x);
	x = acme_test_leaf(&ca, rsa, "a.example.org", now - 60, now + 86400);
	entry_text(text, sizeof text, rsa, x);
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "key type does not match");
	/* ... but a token entry takes either key type */
	char err[300];
	struct sf_acme_cert *back = NULL;
	assert_int_equal(sf_acme_cache_put(dir, "a.example.org+token", text, strlen(text), err, sizeof err), 0);
	assert_int_equal(read_cert("a.example.org", SF_ACME_CERT_TOKEN, &back, err), 0);
	sf_acme_cert_free(back);
	X509_free(x);

	/* leftover bytes after the last block; even one extra newline (Go's pem.Decode rest) */
	x = acme_test_leaf(&ca, ec, "a.example.org", now - 60, now + 86400);
	entry_text(text, sizeof text, ec, x);
	strcat(text, "garbage\n");
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "leftover");
	entry_text(text, sizeof text, ec, x);
	strcat(text, "\n");
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "leftover");
	/* text before the first block is skipped, as pem.Decode does */
	char shifted[16500];
	snprintf(shifted, sizeof shifted, "comment line\n%s", text);
	shifted[strlen(shifted) - 1] = '\0';
	assert_int_equal(sf_acme_cache_put(dir, "a.example.org", shifted, strlen(shifted), err, sizeof err), 0);
	assert_int_equal(read_cert("a.example.org", SF_ACME_CERT_EC, &back, err), 0);
	sf_acme_cert_free(back);

	/* the first block must be a private key */
	text[0] = '\0';
	acme_test_go_pem_cert(text, sizeof text, x);
	acme_test_go_pem_key(text, sizeof text, ec);
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "private key");
	/* a truncated file */
	entry_text(text, sizeof text, ec, x);
	text[strlen(text) - 40] = '\0';
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "leftover");
	/* a key but no certificate */
	text[0] = '\0';
	acme_test_go_pem_key(text, sizeof text, ec);
	expect_rejected("a.example.org", "a.example.org", SF_ACME_CERT_EC, text, "no public key");
	X509_free(x);

	/* Let's Encrypt certificates from before 2022-01-26 00:48 UTC were revoked */
	struct acme_test_ca le;
	assert_int_equal(acme_test_ca_init(&le, "Let's Encrypt"), 0);
	x = acme_test_leaf(&le, ec, "le.example.org", 1643158080 - 1, now + 86400);
	entry_text(text, sizeof text, ec, x);
	expect_rejected("le.example.org", "le.example.org", SF_ACME_CERT_EC, text, "revoked by Let's Encrypt");
	X509_free(x);
	x = acme_test_leaf(&le, ec, "le.example.org", 1643158080, now + 86400);
	entry_text(text, sizeof text, ec, x);
	assert_int_equal(sf_acme_cache_put(dir, "le.example.org", text, strlen(text), err, sizeof err), 0);
	assert_int_equal(read_cert("le.example.org", SF_ACME_CERT_EC, &back, err), 0);
	sf_acme_cert_free(back);
	X509_free(x);
	acme_test_ca_free(&le);

	EVP_PKEY_free(ec);
	EVP_PKEY_free(other);
	EVP_PKEY_free(rsa);
}

static void test_keys_and_misses(void **state)
{
	(void)state;
	char err[300], *data = NULL;
	size_t len;
	assert_int_equal(sf_acme_cache_get(dir, "absent.example.org", &data, &len, err, sizeof err), SF_ACME_CACHE_MISS);
	assert_int_equal(sf_acme_cache_put(dir, "../escape", "x", 1, err, sizeof err), -1);
	assert_int_equal(sf_acme_cache_put(dir, "a/b", "x", 1, err, sizeof err), -1);
	assert_int_equal(sf_acme_cache_put(dir, "..", "x", 1, err, sizeof err), -1);
	assert_int_equal(sf_acme_cache_get(dir, "bad\nname", &data, &len, err, sizeof err), -1);
	assert_int_equal(sf_acme_cache_put(dir, "tok_-1+http-01", "tok_-1.thumb", 12, err, sizeof err), 0);
	assert_int_equal(sf_acme_cache_get(dir, "tok_-1+http-01", &data, &len, err, sizeof err), 0);
	assert_int_equal(len, 12);
	assert_string_equal(data, "tok_-1.thumb");
	free(data);
	assert_int_equal(sf_acme_cache_delete(dir, "tok_-1+http-01", err, sizeof err), 0);
	assert_int_equal(sf_acme_cache_delete(dir, "tok_-1+http-01", err, sizeof err), 0); /* absent: fine */
	assert_int_equal(sf_acme_cache_get(dir, "tok_-1+http-01", &data, &len, err, sizeof err), SF_ACME_CACHE_MISS);
	/* a garbage account key is an error, not a reason to create a new account */
	assert_int_equal(sf_acme_cache_put(dir, "acme_account+key", "junk", 4, err, sizeof err), 0);
	EVP_PKEY *acct = NULL;
	assert_int_equal(sf_acme_cache_read_account_key(dir, &acct, err, sizeof err), -1);
	assert_null(acct);
	char key[64];
	assert_string_equal(sf_acme_cache_key("x.org", SF_ACME_CERT_RSA, key, sizeof key), "x.org+rsa");
	assert_string_equal(sf_acme_cache_key("x.org", SF_ACME_CERT_TOKEN, key, sizeof key), "x.org+token");
	assert_string_equal(sf_acme_cache_key("x.org", SF_ACME_CERT_EC, key, sizeof key), "x.org");
}

/* Go's pem.Decode on these inputs (go1.19, run once): block found, and the rest it returns. */
static void test_pem_decode_like_go(void **state)
{
	(void)state;
	static const char blk[] = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
	char in[5][200];
	snprintf(in[0], 200, "%s", blk);
	snprintf(in[1], 200, "%s\n", blk);
	snprintf(in[2], 200, "junk\n%s", blk);
	snprintf(in[3], 200, "%.*s", (int)strlen(blk) - 1, blk);
	snprintf(in[4], 200, "-----BEGIN X-----\nAAEC\n-----END X-----   \r\nrest");
	static const char *rest[] = { "", "\n", "", "", "rest" };
	for (int i = 0; i < 5; i++) {
		size_t pos = 0, len;
		char type[32];
		uint8_t *der = NULL;
		assert_int_equal(sf_acme_pem_next(in[i], strlen(in[i]), &pos, type, sizeof type, &der, &len), 1);
		assert_int_equal(len, 3);
		assert_memory_equal(der, "\x00\x01\x02", 3);
		assert_string_equal(in[i] + pos, rest[i]);
		free(der);
	}
	/* no block: nothing consumed; bad base64 or a mismatched END: not a block */
	static const char *none[] = { "just text\n", "-----BEGIN A-----\nA*EC\n-----END A-----\n",
				      "-----BEGIN A-----\nAAEC\n-----END B-----\n", "-----BEGIN A-----\nAAEC\n" };
	for (int i = 0; i < 4; i++) {
		size_t pos = 0, len;
		char type[32];
		uint8_t *der = NULL;
		assert_int_equal(sf_acme_pem_next(none[i], strlen(none[i]), &pos, type, sizeof type, &der, &len), 0);
		assert_int_equal(pos, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_modes_and_go_layout),
		cmocka_unit_test(test_reads_go_written_entries),
		cmocka_unit_test(test_rejected_entries),
		cmocka_unit_test(test_keys_and_misses),
		cmocka_unit_test(test_pem_decode_like_go),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
