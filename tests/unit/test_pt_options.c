/* TOR_PT_SERVER_TRANSPORT_OPTIONS grammar (docs/pt.md), the args container and
 * num-turbotunnel (docs/pt.md "Start-up sequence"). Error texts were checked against goptlib and
 * Go's strconv. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "pt/args.h"

static void expect_parse_error(const char *in, const char *why)
{
	struct sf_pt_options opts = {0};
	char err[SF_ERR_MAX] = "";
	assert_int_equal(sf_pt_options_parse(in, &opts, err, sizeof err), -1);
	assert_string_equal(err, why);
	assert_int_equal(opts.n, 0);
	assert_null(opts.v);
}

static void test_errors(void **state)
{
	(void)state;
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "t\\", "nothing following final escape in \"t\\\\\"" },
		{ "t:k\\", "nothing following final escape in \"k\\\\\"" },
		{ "t:k=v\\", "nothing following final escape in \"v\\\\\"" },
		{ "t1:k=v;t2:k=v\\", "nothing following final escape in \"v\\\\\"" },
		{ ":=", "empty method name in \":=\"" },
		{ ":k=", "empty method name in \":k=\"" },
		{ ":=v", "empty method name in \":=v\"" },
		{ "snowflake:num-turbotunnel=2;:k=v", "empty method name in \":k=v\"" },
		{ "t:=", "empty key in \"t:=\"" },
		{ "t:=v", "empty key in \"t:=v\"" },
		{ "t:=key=value", "empty key in \"t:=key=value\"" },
		{ "t:==key=value", "empty key in \"t:==key=value\"" },
		{ "abc", "no colon in \"abc\"" },
		{ "key=value", "no colon in \"key\"" },
		{ "=value", "no colon in \"\"" },
		{ "a;b", "no colon in \"a\"" },
		{ ";", "no colon in \"\"" },
		/* A trailing ';' starts an empty option. */
		{ "t:k=v;", "no colon in \"\"" },
		{ "t:k=v;;", "no colon in \"\"" },
		{ "t:k=v;x=y", "no colon in \"x\"" },
		{ "t:", "no equals sign in \"t:\"" },
		{ "t:;key=value", "no equals sign in \"t:\"" },
		{ "a:b;c=d", "no equals sign in \"a:b\"" },
		{ "t:key\\=value", "no equals sign in \"t:key\\\\=value\"" },
		{ "snowflake\n:k", "no equals sign in \"snowflake\\n:k\"" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		expect_parse_error(cases[i].in, cases[i].why);
}

static void test_empty(void **state)
{
	(void)state;
	struct sf_pt_options opts = {0};
	char err[SF_ERR_MAX] = "unchanged";
	assert_int_equal(sf_pt_options_parse("", &opts, err, sizeof err), 0);
	assert_int_equal(opts.n, 0);
	assert_string_equal(err, "");
	assert_null(sf_pt_options_get(&opts, "snowflake"));
	sf_pt_options_clear(&opts);
}

static struct sf_pt_options parse_ok(const char *in)
{
	struct sf_pt_options opts = {0};
	char err[SF_ERR_MAX] = "unchanged";
	assert_int_equal(sf_pt_options_parse(in, &opts, err, sizeof err), 0);
	assert_string_equal(err, "");
	return opts;
}

static void expect_values(const struct sf_pt_options *opts, const char *method, const char *key,
			  const char *const *values, size_t n)
{
	const struct sf_pt_arg *a = sf_pt_args_find(sf_pt_options_get(opts, method), key);
	assert_non_null(a);
	assert_int_equal(a->n_values, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(a->values[i], values[i]);
}

static void test_grammar(void **state)
{
	(void)state;
	struct sf_pt_options o;

	o = parse_ok("t:k=v");
	assert_int_equal(o.n, 1);
	assert_string_equal(sf_pt_args_get(sf_pt_options_get(&o, "t"), "k"), "v");
	sf_pt_options_clear(&o);

	/* The value may contain unescaped '='; it may be empty. */
	o = parse_ok("t:k=v=v;t:e=;t:w=vv==");
	assert_string_equal(sf_pt_args_get(sf_pt_options_get(&o, "t"), "k"), "v=v");
	assert_string_equal(sf_pt_args_get(sf_pt_options_get(&o, "t"), "e"), "");
	assert_string_equal(sf_pt_args_get(sf_pt_options_get(&o, "t"), "w"), "vv==");
	sf_pt_options_clear(&o);

	/* Repeated keys accumulate in order; Get returns the first. */
	o = parse_ok("t1:k=v1;t2:k=v2;t1:k=v3");
	assert_int_equal(o.n, 2);
	assert_string_equal(o.v[0].method, "t1");
	assert_string_equal(o.v[1].method, "t2");
	expect_values(&o, "t1", "k", (const char *[]){ "v1", "v3" }, 2);
	expect_values(&o, "t2", "k", (const char *[]){ "v2" }, 1);
	assert_string_equal(sf_pt_args_get(sf_pt_options_get(&o, "t1"), "k"), "v1");
	assert_null(sf_pt_options_get(&o, "t3"));
	assert_null(sf_pt_args_get(sf_pt_options_get(&o, "t2"), "x"));
	sf_pt_options_clear(&o);

	/* Escapes in method, key and value. */
	o = parse_ok("t\\:1:k=v;t\\=2:k=v;t\\;3:k=v;t\\\\4:k=v");
	assert_int_equal(o.n, 4);
	assert_string_equal(o.v[0].method, "t:1");
	assert_string_equal(o.v[1].method, "t=2");
	assert_string_equal(o.v[2].method, "t;3");
	assert_string_equal(o.v[3].method, "t\\4");
	sf_pt_options_clear(&o);
	o = parse_ok("t:k\\:1=v;t:k\\=2=v;t:k\\;3=v;t:k\\\\4=v");
	struct sf_pt_args *a = sf_pt_options_get(&o, "t");
	assert_int_equal(a->n, 4);
	assert_string_equal(a->v[0].key, "k:1");
	assert_string_equal(a->v[1].key, "k=2");
	assert_string_equal(a->v[2].key, "k;3");
	assert_string_equal(a->v[3].key, "k\\4");
	sf_pt_options_clear(&o);
	o = parse_ok("t:k=v\\:1;t:k=v\\=2;t:k=v\\;3;t:k=v\\\\4;t:k=\\x\\y");
	expect_values(&o, "t", "k", (const char *[]){ "v:1", "v=2", "v;3", "v\\4", "xy" }, 5);
	sf_pt_options_clear(&o);
	/* An escaped method name made only of separators. */
	o = parse_ok("\\:\\=\\;:k=v");
	assert_string_equal(o.v[0].method, ":=;");
	sf_pt_options_clear(&o);
}

/* What tor writes for "ServerTransportOptions snowflake num-turbotunnel=2
 * orport-srcaddr=fd00::/64": tor escapes ':' ';' '\\'. */
static void test_tor_example(void **state)
{
	(void)state;
	struct sf_pt_options o = parse_ok("snowflake:num-turbotunnel=2;"
					  "snowflake:orport-srcaddr=fd00\\:\\:/64");
	struct sf_pt_args *a = sf_pt_options_get(&o, "snowflake");
	assert_non_null(a);
	assert_string_equal(sf_pt_args_get(a, "num-turbotunnel"), "2");
	assert_string_equal(sf_pt_args_get(a, "orport-srcaddr"), "fd00::/64");

	/* take hands ownership over and leaves nothing behind. */
	struct sf_pt_args *taken = sf_pt_options_take(&o, "snowflake");
	assert_ptr_equal(taken, a);
	assert_null(sf_pt_options_get(&o, "snowflake"));
	assert_null(sf_pt_options_take(&o, "snowflake"));
	sf_pt_options_clear(&o);
	assert_string_equal(sf_pt_args_get(taken, "num-turbotunnel"), "2");
	sf_pt_args_free(taken);
}

/* extorport=ADDR,COOKIEFILE, repeated, as tor escapes it ("ServerTransportOptions snowflake
 * extorport=127.0.0.1:7001,/var/lib/tor-a/cookie extorport=[::1]:7002,/x,y\;z"). */
static void test_extorport(void **state)
{
	(void)state;
	struct sf_pt_options o = parse_ok("snowflake:extorport=127.0.0.1\\:7001,/var/lib/tor-a/cookie;"
					  "snowflake:extorport=[\\:\\:1]\\:7002,/x,y\\;z");
	const struct sf_pt_arg *ex = sf_pt_args_find(sf_pt_options_get(&o, "snowflake"), "extorport");
	assert_non_null(ex);
	assert_int_equal(ex->n_values, 2);

	struct sockaddr_storage ss;
	socklen_t len;
	const char *path;
	char err[256];
	assert_int_equal(sf_pt_parse_extorport(ex->values[0], &ss, &len, &path, err, sizeof err), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7001);
	assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_string_equal(path, "/var/lib/tor-a/cookie");
	/* The path is everything after the first comma, commas and semicolons included. */
	assert_int_equal(sf_pt_parse_extorport(ex->values[1], &ss, &len, &path, err, sizeof err), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 7002);
	assert_string_equal(path, "/x,y;z");
	sf_pt_options_clear(&o);

	static const char *const bad[][2] = {
		{ "127.0.0.1:7001", "\"127.0.0.1:7001\": want ADDR,COOKIEFILE" },
		{ "127.0.0.1:7001,", "\"127.0.0.1:7001,\": want ADDR,COOKIEFILE" },
		{ "127.0.0.1:0,/c", "\"127.0.0.1:0,/c\": port 0 cannot be dialed" },
		{ "localhost:7001,/c", NULL }, /* no DNS: goptlib's text, whatever it is */
		{ ",/c", NULL },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(sf_pt_parse_extorport(bad[i][0], &ss, &len, &path, err, sizeof err), -1);
		if (bad[i][1])
			assert_string_equal(err, bad[i][1]);
		else
			assert_true(strncmp(err, "\"", 1) == 0 && strlen(err) > strlen(bad[i][0]) + 4);
	}
}

static void test_args_container(void **state)
{
	(void)state;
	struct sf_pt_args *a = sf_pt_args_new();
	assert_non_null(a);
	assert_null(sf_pt_args_get(a, "k"));
	assert_null(sf_pt_args_get(NULL, "k"));
	assert_int_equal(sf_pt_args_add(a, "tls", "yes"), 0);
	assert_int_equal(sf_pt_args_add(a, "hostname", "a.example"), 0);
	assert_int_equal(sf_pt_args_add(a, "hostname", "b.example"), 0);
	assert_int_equal(a->n, 2);
	assert_string_equal(a->v[0].key, "tls");
	assert_string_equal(a->v[1].key, "hostname");
	assert_string_equal(sf_pt_args_get(a, "hostname"), "a.example");
	assert_int_equal(sf_pt_args_find(a, "hostname")->n_values, 2);
	assert_null(sf_pt_args_find(a, "Hostname"));
	sf_pt_args_free(a);
	sf_pt_args_free(NULL);
}

static void expect_num(const char *in, int want)
{
	char err[128] = "unchanged";
	int n = -42;
	assert_int_equal(sf_pt_parse_num_turbotunnel(in, &n, err, sizeof err), 0);
	assert_int_equal(n, want);
}

static void expect_num_error(const char *in, const char *why)
{
	char err[256];
	int n = -42;
	assert_int_equal(sf_pt_parse_num_turbotunnel(in, &n, err, sizeof err), -1);
	assert_string_equal(err, why);
	assert_int_equal(n, -42);
}

static void test_num_turbotunnel(void **state)
{
	(void)state;
	expect_num("1", 1);
	expect_num("2", 2);
	expect_num("+1", 1);
	expect_num("01", 1);
	expect_num("+000000000000000000000000001", 1);
	expect_num("2147483647", INT_MAX);

	expect_num_error("0", "cannot be less than 1");
	expect_num_error("-0", "cannot be less than 1");
	expect_num_error("-1", "cannot be less than 1");
	expect_num_error("-9223372036854775808", "cannot be less than 1");
	expect_num_error("", "strconv.Atoi: parsing \"\": invalid syntax");
	expect_num_error("x", "strconv.Atoi: parsing \"x\": invalid syntax");
	expect_num_error("+", "strconv.Atoi: parsing \"+\": invalid syntax");
	expect_num_error("-", "strconv.Atoi: parsing \"-\": invalid syntax");
	expect_num_error("1x", "strconv.Atoi: parsing \"1x\": invalid syntax");
	expect_num_error(" 1", "strconv.Atoi: parsing \" 1\": invalid syntax");
	expect_num_error("1 ", "strconv.Atoi: parsing \"1 \": invalid syntax");
	expect_num_error("1_0", "strconv.Atoi: parsing \"1_0\": invalid syntax");
	expect_num_error("0x10", "strconv.Atoi: parsing \"0x10\": invalid syntax");
	expect_num_error("+-1", "strconv.Atoi: parsing \"+-1\": invalid syntax");
	expect_num_error("a\"b\\c\n", "strconv.Atoi: parsing \"a\\\"b\\\\c\\n\": invalid syntax");
	expect_num_error("\xff", "strconv.Atoi: parsing \"\\xff\": invalid syntax");
	expect_num_error("9223372036854775808",
			 "strconv.Atoi: parsing \"9223372036854775808\": value out of range");
	expect_num_error("-9223372036854775809",
			 "strconv.Atoi: parsing \"-9223372036854775809\": value out of range");
	expect_num_error("99999999999999999999",
			 "strconv.Atoi: parsing \"99999999999999999999\": value out of range");
	/* Go reports the first problem its digit loop meets. */
	expect_num_error("99999999999999999999x",
			 "strconv.Atoi: parsing \"99999999999999999999x\": value out of range");
	expect_num_error("9300000000000000000x",
			 "strconv.Atoi: parsing \"9300000000000000000x\": invalid syntax");
	/* Fits Go's 64-bit int but not ours: what Go says with a 32-bit int. */
	expect_num_error("2147483648",
			 "strconv.Atoi: parsing \"2147483648\": value out of range");

	/* A short buffer truncates, never overflows. */
	char err[8];
	int n;
	assert_int_equal(sf_pt_parse_num_turbotunnel("x", &n, err, sizeof err), -1);
	assert_string_equal(err, "strconv");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_grammar),
		cmocka_unit_test(test_tor_example),
		cmocka_unit_test(test_extorport),
		cmocka_unit_test(test_args_container),
		cmocka_unit_test(test_num_turbotunnel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
