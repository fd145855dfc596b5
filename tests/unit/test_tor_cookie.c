/* The auth cookie file: exactly 64 bytes with tor's header, goptlib's error texts otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tor/cookie.h"
#include "tor_test_util.h"

static char dir[256];
static uint8_t good_file[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sf-tor-cookie-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	json_t *v = vectors_load("extorport.json");
	if (!v)
		return -1;
	long n = tor_test_unhex(tor_test_str(v, "cookie_file_hex"), good_file, sizeof good_file);
	json_decref(v);
	return n == 64 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char path[300];
	static const char *names[] = { "cookie", "sub/x" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
	return 0;
}

static const char *write_cookie(const uint8_t *data, size_t len)
{
	static char path[300];
	snprintf(path, sizeof path, "%s/cookie", dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void expect_error(const uint8_t *data, size_t len, const char *want)
{
	uint8_t cookie[32];
	char err[256] = "";
	assert_int_equal(sf_tor_cookie_read(write_cookie(data, len), cookie, err, sizeof err), -1);
	assert_string_equal(err, want);
}

static void test_good_file(void **state)
{
	(void)state;
	uint8_t cookie[32], want[32];
	char err[256] = "";
	for (int i = 0; i < 32; i++)
		want[i] = (uint8_t)i;
	assert_int_equal(sf_tor_cookie_read(write_cookie(good_file, 64), cookie, err, sizeof err), 0);
	assert_memory_equal(cookie, want, 32);
}

static void test_wrong_sizes(void **state)
{
	(void)state;
	uint8_t longer[65];
	memcpy(longer, good_file, 64);
	longer[64] = '\n';
	expect_error(good_file, 0, "EOF");
	expect_error(good_file, 1, "unexpected EOF");
	expect_error(good_file, 63, "unexpected EOF");
	expect_error(longer, 65, "file is longer than 64 bytes");
}

static void test_wrong_header(void **state)
{
	(void)state;
	uint8_t bad[64];
	for (size_t i = 0; i < 32; i++) {
		memcpy(bad, good_file, 64);
		bad[i] ^= 0x20;
		expect_error(bad, 64, "missing auth cookie header");
	}
}

static void test_open_and_read_errors(void **state)
{
	(void)state;
	uint8_t cookie[32];
	char path[300], err[512], want[600];

	snprintf(path, sizeof path, "%s/sub/x", dir);
	assert_int_equal(sf_tor_cookie_read(path, cookie, err, sizeof err), -1);
	snprintf(want, sizeof want, "open %s: no such file or directory", path);
	assert_string_equal(err, want);

	snprintf(path, sizeof path, "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(sf_tor_cookie_read(path, cookie, err, sizeof err), -1);
	snprintf(want, sizeof want, "read %s: is a directory", path);
	assert_string_equal(err, want);
}

/* The in-memory cookie: read at load, re-read only on request, at most once a second (the clock
 * is passed in), and a new generation only when the file holds another cookie. */
static void test_store_reload(void **state)
{
	(void)state;
	struct sf_tor_cookie c;
	uint8_t got[SF_TOR_COOKIE_LEN], other[64];
	uint64_t gen, gen2;
	char err[512];

	const char *path = write_cookie(good_file, sizeof good_file);
	assert_int_equal(sf_tor_cookie_load(&c, path, 5000, err, sizeof err), 0);
	sf_tor_cookie_get(&c, got, &gen);
	assert_memory_equal(got, good_file + 32, 32);

	/* The file changes: nothing reads it until asked, and not within a second of the last read. */
	memcpy(other, good_file, 32);
	memset(other + 32, 0x5a, 32);
	write_cookie(other, sizeof other);
	sf_tor_cookie_get(&c, got, &gen2);
	assert_memory_equal(got, good_file + 32, 32);
	assert_int_equal(gen2, gen);
	assert_int_equal(sf_tor_cookie_reload(&c, gen, 5999, err, sizeof err), SF_TOR_COOKIE_TOO_SOON);
	assert_int_equal(c.reloads, 0);
	assert_int_equal(sf_tor_cookie_reload(&c, gen, 6000, err, sizeof err), SF_TOR_COOKIE_CHANGED);
	assert_int_equal(c.reloads, 1);
	sf_tor_cookie_get(&c, got, &gen2);
	assert_memory_equal(got, other + 32, 32);
	assert_int_equal(gen2, gen + 1);
	/* A dial that used the old generation learns at once that a newer cookie is there. */
	assert_int_equal(sf_tor_cookie_reload(&c, gen, 6001, err, sizeof err), SF_TOR_COOKIE_CHANGED);
	assert_int_equal(c.reloads, 1);

	/* Same file: SAME; a bad file: UNREADABLE with the reason, the old cookie stays. */
	assert_int_equal(sf_tor_cookie_reload(&c, gen2, 7000, err, sizeof err), SF_TOR_COOKIE_SAME);
	write_cookie(other, 63);
	assert_int_equal(sf_tor_cookie_reload(&c, gen2, 7500, err, sizeof err), SF_TOR_COOKIE_TOO_SOON);
	assert_int_equal(sf_tor_cookie_reload(&c, gen2, 8000, err, sizeof err), SF_TOR_COOKIE_UNREADABLE);
	char want[600];
	snprintf(want, sizeof want, "error reading TOR_PT_AUTH_COOKIE_FILE \"%s\": unexpected EOF", path);
	assert_string_equal(err, want);
	sf_tor_cookie_get(&c, got, &gen);
	assert_memory_equal(got, other + 32, 32);
	assert_int_equal(gen, gen2);
	assert_int_equal(c.reloads, 3);
	sf_tor_cookie_free(&c);
	assert_null(c.path);
	sf_tor_cookie_free(&c); /* twice is harmless */
}

/* Start-up fails clearly when the file is unreadable, with goptlib's wording. */
static void test_store_load_errors(void **state)
{
	(void)state;
	struct sf_tor_cookie c;
	char err[512], want[700], missing[300];

	const char *path = write_cookie(good_file, 10);
	assert_int_equal(sf_tor_cookie_load(&c, path, 0, err, sizeof err), -1);
	snprintf(want, sizeof want, "error reading TOR_PT_AUTH_COOKIE_FILE \"%s\": unexpected EOF", path);
	assert_string_equal(err, want);
	sf_tor_cookie_free(&c); /* safe after a failed load */

	snprintf(missing, sizeof missing, "%s/none\"x", dir);
	assert_int_equal(sf_tor_cookie_load(&c, missing, 0, err, sizeof err), -1);
	snprintf(want, sizeof want,
		 "error reading TOR_PT_AUTH_COOKIE_FILE \"%s/none\\\"x\": open %s: no such file or directory",
		 dir, missing);
	assert_string_equal(err, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_wrong_sizes),
		cmocka_unit_test(test_wrong_header),
		cmocka_unit_test(test_open_and_read_errors),
		cmocka_unit_test(test_store_reload),
		cmocka_unit_test(test_store_load_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
