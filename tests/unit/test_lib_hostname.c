/* The one host-name normalisation (src/lib/hostname.h): ACME allow-list, SNI and HTTP-01 Host.
 * In place and into another buffer, Go's refusal texts, the DNS length limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hostname.h"

static void check_name(const char *in, bool require_dot, const char *want, const char *want_err)
{
	char name[SF_HOSTNAME_BUF];
	snprintf(name, sizeof name, "%s", in);
	char err[SF_ERR_MAX] = "";
	int rc = sf_hostname_normalize(name, name, sizeof name, require_dot, err, sizeof err);
	if (want_err) {
		assert_int_equal(rc, -1);
		assert_string_equal(err, want_err);
	} else {
		assert_int_equal(rc, 0);
		assert_string_equal(err, "");
		assert_string_equal(name, want);
	}
}

static void test_name_normalize(void **state)
{
	(void)state;
	const char *invalid = "server name contains invalid character";
	check_name("Example.COM", true, "example.com", NULL);
	check_name("snowflake.example.net.", true, "snowflake.example.net", NULL);
	check_name("xn--bcher-kva.example", true, "xn--bcher-kva.example", NULL);
	check_name("a-b.c-d.e", true, "a-b.c-d.e", NULL);
	check_name("localhost", false, "localhost", NULL);
	check_name("localhost", true, NULL, "server name component count invalid");
	check_name("localhost.", true, NULL, "server name component count invalid");
	check_name("a_b.example", true, NULL, invalid);
	check_name("-a.example", true, NULL, invalid);
	check_name("a-.example", true, NULL, invalid);
	check_name("a..example", true, NULL, invalid);
	check_name(".example.com", true, NULL, invalid);
	check_name("example.com..", true, NULL, invalid);
	check_name("ex ample.com", true, NULL, invalid);
	check_name(" example.com", false, NULL, invalid);
	check_name("b\xc3\xbc" "cher.example", true, NULL, invalid);
	check_name("", false, NULL, invalid);
	check_name(".", false, NULL, invalid);

	char label[80];
	memset(label, 'a', 63);
	snprintf(label + 63, sizeof label - 63, ".example");
	check_name(label, true, label, NULL);
	memset(label, 'a', 64);
	snprintf(label + 64, sizeof label - 64, ".example");
	check_name(label, true, NULL, invalid);
}

static void test_name_length(void **state)
{
	(void)state;
	char name[SF_HOSTNAME_BUF];
	/* 4 labels of 63 + 3 dots = 255 > 253 */
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		memset(name + n, 'a', 63);
		n += 63;
		if (i < 3)
			name[n++] = '.';
	}
	name[n] = '\0';
	assert_int_equal(sf_hostname_normalize(name, name, sizeof name, true, NULL, 0), -1);
	name[251] = '\0';	/* 251 bytes */
	assert_int_equal(sf_hostname_normalize(name, name, sizeof name, true, NULL, 0), 0);
}

static void test_copy_out(void **state)
{
	(void)state;
	char out[300];
	assert_int_equal(sf_hostname_normalize("WWW.Example.ORG.", out, sizeof out, false, NULL, 0), 0);
	assert_string_equal(out, "www.example.org");
	assert_int_equal(sf_hostname_normalize("a..b", out, sizeof out, false, NULL, 0), -1);
	assert_int_equal(sf_hostname_normalize("a-.b", out, sizeof out, false, NULL, 0), -1);
	assert_int_equal(sf_hostname_normalize(" a.b", out, sizeof out, false, NULL, 0), -1);
	assert_int_equal(sf_hostname_normalize("ex\xc3\xa4mple.org", out, sizeof out, false, NULL, 0), -1);
	assert_int_equal(sf_hostname_normalize(NULL, out, sizeof out, false, NULL, 0), -1);
	/* the output must fit: "a.example" needs 10 bytes */
	char small[10];
	assert_int_equal(sf_hostname_normalize("ab.example", small, sizeof small, false, NULL, 0), -1);
	assert_int_equal(sf_hostname_normalize("a.example.", small, sizeof small, false, NULL, 0), 0);
	assert_string_equal(small, "a.example");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_normalize),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_copy_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
