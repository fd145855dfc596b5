/* ServerSetup-equivalent environment parsing (docs/pt.md). Expected lines were checked
 * against goptlib's ServerSetup. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "pt/env.h"
#include "pt/output.h"

#define MAX_VARS 16

struct fake_env {
	const char *name[MAX_VARS];
	const char *value[MAX_VARS];
	size_t n;
};

static const char *fake_getenv(const char *name, void *arg)
{
	struct fake_env *env = arg;
	for (size_t i = 0; i < env->n; i++)
		if (strcmp(env->name[i], name) == 0)
			return env->value[i];
	return NULL;
}

/* Sets (or, with value NULL, removes) a variable. */
static void env_set(struct fake_env *env, const char *name, const char *value)
{
	for (size_t i = 0; i < env->n; i++) {
		if (strcmp(env->name[i], name) == 0) {
			if (value) {
				env->value[i] = value;
			} else {
				env->n--;
				env->name[i] = env->name[env->n];
				env->value[i] = env->value[env->n];
			}
			return;
		}
	}
	if (value) {
		assert_true(env->n < MAX_VARS);
		env->name[env->n] = name;
		env->value[env->n] = value;
		env->n++;
	}
}

/* A complete, valid environment as tor sets it (without ExtORPort). */
static struct fake_env base_env(void)
{
	struct fake_env env = { .n = 0 };
	env_set(&env, "TOR_PT_MANAGED_TRANSPORT_VER", "1");
	env_set(&env, "TOR_PT_SERVER_BINDADDR", "snowflake-0.0.0.0:443");
	env_set(&env, "TOR_PT_SERVER_TRANSPORTS", "snowflake");
	env_set(&env, "TOR_PT_ORPORT", "127.0.0.1:9001");
	return env;
}

struct run {
	int rc;
	char *out;
	struct sf_pt_server_info info;
};

static struct run setup(struct fake_env *env)
{
	struct run r;
	size_t len = 0;
	r.out = NULL;
	FILE *f = open_memstream(&r.out, &len);
	assert_non_null(f);
	r.rc = sf_pt_server_setup(fake_getenv, env, f, &r.info);
	fclose(f);
	return r;
}

static void run_free(struct run *r)
{
	sf_pt_server_info_free(&r->info);
	free(r->out);
}

/* Runs the setup and expects failure with exactly this stdout. */
static void expect_error(struct fake_env *env, const char *stdout_text)
{
	struct run r = setup(env);
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.out, stdout_text);
	assert_int_equal(r.info.n_bindaddrs, 0);
	assert_null(r.info.bindaddrs);
	run_free(&r);
}

static void expect_bind_error(const char *bindaddr, const char *stdout_text)
{
	struct fake_env env = base_env();
	env_set(&env, "TOR_PT_SERVER_BINDADDR", bindaddr);
	expect_error(&env, stdout_text);
}

static void expect_orport_error(const char *orport, const char *stdout_text)
{
	struct fake_env env = base_env();
	env_set(&env, "TOR_PT_ORPORT", orport);
	expect_error(&env, stdout_text);
}

static unsigned sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void test_success_typical(void **state)
{
	(void)state;
	struct fake_env env = base_env();
	struct run r = setup(&env);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "VERSION 1\n");
	assert_int_equal(r.info.n_bindaddrs, 1);
	struct sf_pt_bindaddr *b = &r.info.bindaddrs[0];
	assert_string_equal(b->method, "snowflake");
	assert_string_equal(b->addr_text, "0.0.0.0:443");
	assert_int_equal(b->addr.ss_family, AF_INET);
	assert_int_equal(b->addrlen, sizeof(struct sockaddr_in));
	assert_int_equal(sa_port(&b->addr), 443);
	assert_int_equal(((struct sockaddr_in *)&b->addr)->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_null(b->options);
	assert_true(r.info.has_orport);
	assert_int_equal(r.info.orport.ss_family, AF_INET);
	assert_int_equal(sa_port(&r.info.orport), 9001);
	assert_int_equal(((struct sockaddr_in *)&r.info.orport)->sin_addr.s_addr,
			 htonl(INADDR_LOOPBACK));
	assert_false(r.info.has_extorport);
	assert_null(r.info.auth_cookie_file);
	assert_false(r.info.exit_on_stdin_close);
	run_free(&r);
}

static void test_version(void **state)
{
	(void)state;
	struct fake_env env = base_env();

	env_set(&env, "TOR_PT_MANAGED_TRANSPORT_VER", NULL);
	expect_error(&env, "ENV-ERROR no TOR_PT_MANAGED_TRANSPORT_VER environment variable\n");
	env_set(&env, "TOR_PT_MANAGED_TRANSPORT_VER", "");
	expect_error(&env, "ENV-ERROR no TOR_PT_MANAGED_TRANSPORT_VER environment variable\n");
	const char *bad[] = { "2", "11", " 1", "1 ", "01", "2,3", ",", "one" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		env_set(&env, "TOR_PT_MANAGED_TRANSPORT_VER", bad[i]);
		expect_error(&env, "VERSION-ERROR no-version\n");
	}
	const char *good[] = { "1", "2,1", "1,2", ",1,", "x,,1" };
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		env_set(&env, "TOR_PT_MANAGED_TRANSPORT_VER", good[i]);
		struct run r = setup(&env);
		assert_int_equal(r.rc, 0);
		assert_string_equal(r.out, "VERSION 1\n");
		run_free(&r);
	}
}

/* VERSION 1 comes first, then the other variables in goptlib's order. */
static void test_check_order(void **state)
{
	(void)state;
	struct fake_env env = base_env();

	env_set(&env, "TOR_PT_SERVER_BINDADDR", NULL);
	expect_error(&env, "VERSION 1\nENV-ERROR no TOR_PT_SERVER_BINDADDR environment variable\n");
	/* Options are parsed before BINDADDR is looked at. */
	env_set(&env, "TOR_PT_SERVER_TRANSPORT_OPTIONS", "bad");
	expect_error(&env, "VERSION 1\nENV-ERROR TOR_PT_SERVER_TRANSPORT_OPTIONS: \"bad\": "
			   "no colon in \"bad\"\n");
	env_set(&env, "TOR_PT_SERVER_TRANSPORT_OPTIONS", NULL);
	env_set(&env, "TOR_PT_SERVER_BINDADDR", "");
	expect_error(&env, "VERSION 1\nENV-ERROR no TOR_PT_SERVER_BINDADDR environment variable\n");

	/* Every BINDADDR item is checked before TRANSPORTS. */
	env = base_env();
	env_set(&env, "TOR_PT_SERVER_TRANSPORTS", NULL);
	env_set(&env, "TOR_PT_SERVER_BINDADDR", "snowflake");
	expect_error(&env, "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: \"snowflake\": "
			   "doesn't contain \"-\"\n");
	env_set(&env, "TOR_PT_SERVER_BINDADDR", "snowflake-0.0.0.0:443");
	expect_error(&env, "VERSION 1\nENV-ERROR no TOR_PT_SERVER_TRANSPORTS environment variable\n");
	env_set(&env, "TOR_PT_SERVER_TRANSPORTS", "");
	expect_error(&env, "VERSION 1\nENV-ERROR no TOR_PT_SERVER_TRANSPORTS environment variable\n");

	/* ORPORT before the ExtORPort checks. */
	env = base_env();
	env_set(&env, "TOR_PT_ORPORT", "bad");
	env_set(&env, "TOR_PT_EXTENDED_SERVER_PORT", "bad");
	expect_error(&env, "VERSION 1\nENV-ERROR cannot resolve TOR_PT_ORPORT \"bad\": "
			   "address bad: missing port in address\n");
}

static void test_bindaddr_syntax(void **state)
{
	(void)state;
	expect_bind_error("snowflake", "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: "
			  "\"snowflake\": doesn't contain \"-\"\n");
	/* A trailing comma is an empty item. */
	expect_bind_error("snowflake-0.0.0.0:443,", "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: "
			  "\"\": doesn't contain \"-\"\n");
	expect_bind_error("snowflake-0.0.0.0:443,snowflake-[::]:443",
			  "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: \"snowflake-[::]:443\": "
			  "duplicate method name \"snowflake\"\n");
	/* The duplicate check comes before the address of the duplicate is looked at. */
	expect_bind_error("a-1.1.1.1:1,b-2.2.2.2:2,a-x", "VERSION 1\nENV-ERROR "
			  "TOR_PT_SERVER_BINDADDR: \"a-x\": duplicate method name \"a\"\n");
	expect_bind_error("snowflake-1.2.3.4", "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: "
			  "\"snowflake-1.2.3.4\": address 1.2.3.4: missing port in address\n");
	/* No escaping is defined for BINDADDR. */
	expect_bind_error("alpha\\,beta-1.2.3.4:1111", "VERSION 1\nENV-ERROR "
			  "TOR_PT_SERVER_BINDADDR: \"alpha\\\\\": doesn't contain \"-\"\n");
}

static void test_bindaddr_addresses(void **state)
{
	(void)state;
	static const struct {
		const char *addr;
		const char *why;
	} cases[] = {
		{ "", "missing port in address" },
		{ "1.2.3.4:", "address string \"1.2.3.4:\" lacks a port part" },
		{ "9999", "address 9999: missing port in address" },
		{ ":9999", "address string \":9999\" lacks a host part" },
		{ "[1:2::3:4]", "address [[1:2::3]:4]: unexpected '[' in address" },
		{ "[1:2::3:4]:", "address string \"[1:2::3:4]:\" lacks a port part" },
		{ "[1::2::3:4]", "address [[1::2::3]:4]: unexpected '[' in address" },
		{ "1:2::3:4::9999", "not an IP string: \"1:2::3:4:\"" },
		{ "localhost:9999", "not an IP string: \"localhost\"" },
		{ "[localhost]:9999", "not an IP string: \"localhost\"" },
		{ "1.2.3.4:http", "strconv.ParseUint: parsing \"http\": invalid syntax" },
		{ "1.2.3.4:0x50", "strconv.ParseUint: parsing \"0x50\": invalid syntax" },
		{ "1.2.3.4:-65456", "strconv.ParseUint: parsing \"-65456\": invalid syntax" },
		{ "1.2.3.4:+5", "strconv.ParseUint: parsing \"+5\": invalid syntax" },
		{ "1.2.3.4:65536", "strconv.ParseUint: parsing \"65536\": value out of range" },
		{ "1.2.3.4:99999999999999999999999",
		  "strconv.ParseUint: parsing \"99999999999999999999999\": value out of range" },
		{ "1.2.3.4:70000x", "strconv.ParseUint: parsing \"70000x\": value out of range" },
		{ "1.2.3.4:7000x", "strconv.ParseUint: parsing \"7000x\": invalid syntax" },
		{ "1.2.3.4:80 ", "strconv.ParseUint: parsing \"80 \": invalid syntax" },
		{ " 1.2.3.4:80", "not an IP string: \" 1.2.3.4\"" },
		{ "01.2.3.4:5", "not an IP string: \"01.2.3.4\"" },
		{ "256.1.1.1:1", "not an IP string: \"256.1.1.1\"" },
		{ "1.2.3.4.5:1", "not an IP string: \"1.2.3.4.5\"" },
		{ "[fe80::1%eth0]:5", "not an IP string: \"fe80::1%eth0\"" },
		{ "[1:2:3:4::5:6:7:8]:1", "not an IP string: \"1:2:3:4::5:6:7:8\"" },
		{ "[12345::1]:1", "not an IP string: \"12345::1\"" },
		{ "[::1.2.3]:1", "not an IP string: \"::1.2.3\"" },
		{ "[]:80", "address string \"[]:80\" lacks a host part" },
		{ "[::]:", "address string \"[::]:\" lacks a port part" },
		{ "::", "address string \"::\" lacks a port part" },
		{ "[::1]:80:90", "address [[::1]:80]:90: too many colons in address" },
		{ "[::1]x:80", "address [[::1]x]:80: missing port in address" },
		{ "a]:80", "address a]:80: unexpected ']' in address" },
		{ "a[:80", "address a[:80: unexpected '[' in address" },
		{ "[a:80", "address [a:80: missing ']' in address" },
		{ "x:y:z", "not an IP string: \"x:y\"" },
		{ "::::::::1", "not an IP string: \":::::::\"" },
		{ "1.2.3.4:8\t", "strconv.ParseUint: parsing \"8\\t\": invalid syntax" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char expect[512], bind[128];
		snprintf(bind, sizeof bind, "snowflake-%s", cases[i].addr);
		/* The spec is Go-quoted in the message; none of these needs escaping but \t. */
		if (strchr(cases[i].addr, '\t'))
			snprintf(expect, sizeof expect, "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: "
				 "\"snowflake-1.2.3.4:8\\t\": %s\n", cases[i].why);
		else
			snprintf(expect, sizeof expect, "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: "
				 "\"%s\": %s\n", bind, cases[i].why);
		expect_bind_error(bind, expect);
	}
}

static void expect_bind_ok(const char *bindaddr, const char *text, int family, unsigned port)
{
	struct fake_env env = base_env();
	env_set(&env, "TOR_PT_SERVER_BINDADDR", bindaddr);
	struct run r = setup(&env);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "VERSION 1\n");
	assert_int_equal(r.info.n_bindaddrs, 1);
	assert_string_equal(r.info.bindaddrs[0].addr_text, text);
	assert_int_equal(r.info.bindaddrs[0].addr.ss_family, family);
	assert_int_equal(r.info.bindaddrs[0].addrlen, family == AF_INET ?
			 sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	assert_int_equal(sa_port(&r.info.bindaddrs[0].addr), port);
	run_free(&r);
}

static void test_bindaddr_good(void **state)
{
	(void)state;
	expect_bind_ok("snowflake-1.2.3.4:9999", "1.2.3.4:9999", AF_INET, 9999);
	expect_bind_ok("snowflake-[1:2::3:4]:9999", "[1:2::3:4]:9999", AF_INET6, 9999);
	expect_bind_ok("snowflake-[::]:443", "[::]:443", AF_INET6, 443);
	/* Port 0 is accepted here; the caller refuses it with an SMETHOD-ERROR. */
	expect_bind_ok("snowflake-0.0.0.0:0", "0.0.0.0:0", AF_INET, 0);
	expect_bind_ok("snowflake-1.2.3.4:65535", "1.2.3.4:65535", AF_INET, 65535);
	expect_bind_ok("snowflake-1.2.3.4:00080", "1.2.3.4:80", AF_INET, 80);
	/* Bracket-less IPv6 (tor before #7011): the last ':' separates the port. */
	expect_bind_ok("snowflake-::1:9000", "[::1]:9000", AF_INET6, 9000);
	expect_bind_ok("snowflake-1:2::3:4:9999", "[1:2::3:4]:9999", AF_INET6, 9999);
	/* IPv4-mapped addresses are IPv4 to Go. */
	expect_bind_ok("snowflake-[::ffff:1.2.3.4]:5", "1.2.3.4:5", AF_INET, 5);
	expect_bind_ok("snowflake-::ffff:10.0.0.1:80", "10.0.0.1:80", AF_INET, 80);
	/* Go reprints IPv6 per RFC 5952. */
	expect_bind_ok("snowflake-[::1.2.3.4]:5", "[::102:304]:5", AF_INET6, 5);
	expect_bind_ok("snowflake-[1:0:0:2:0:0:0:3]:1", "[1:0:0:2::3]:1", AF_INET6, 1);
	expect_bind_ok("snowflake-[1:0:0:2:0:0:3:4]:1", "[1::2:0:0:3:4]:1", AF_INET6, 1);
	expect_bind_ok("snowflake-[1:0:1:0:1:0:1:0]:1", "[1:0:1:0:1:0:1:0]:1", AF_INET6, 1);
	expect_bind_ok("snowflake-[ABCD:EF01::]:1", "[abcd:ef01::]:1", AF_INET6, 1);
	expect_bind_ok("snowflake-[1:2:3:4:5:6:1.2.3.4]:1", "[1:2:3:4:5:6:102:304]:1", AF_INET6, 1);
	expect_bind_ok("snowflake-[0001:0db8::0]:1", "[1:db8::]:1", AF_INET6, 1);
	/* Brackets around IPv4 are fine with Go's SplitHostPort. */
	expect_bind_ok("snowflake-[1.2.3.4]:80", "1.2.3.4:80", AF_INET, 80);
}

static void test_bindaddr_ipv6_bytes(void **state)
{
	(void)state;
	struct fake_env env = base_env();
	env_set(&env, "TOR_PT_SERVER_BINDADDR", "snowflake-[2001:db8::42]:7");
	struct run r = setup(&env);
	assert_int_equal(r.rc, 0);
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&r.info.bindaddrs[0].addr;
	struct in6_addr want;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::42", &want), 1);
	assert_memory_equal(&in6->sin6_addr, &want, sizeof want);
	assert_int_equal(in6->sin6_scope_id, 0);
	run_free(&r);
}

static void test_transports_filter_and_options(void **state)
{
	(void)state;
	struct fake_env env = base_env();
	env_set(&env, "TOR_PT_SERVER_BINDADDR", "snowflake-0.0.0.0:443,obfs4-1.2.3.4:1,x-[::1]:2");
	env_set(&env, "TOR_PT_SERVER_TRANSPORTS", "x,snowflake");
	env_set(&env, "TOR_PT_SERVER_TRANSPORT_OPTIONS",
		"snowflake:num-turbotunnel=3;obfs4:iat-mode=0;x:k=v;x:k=w;"
		"snowflake:orport-srcaddr=fd00\\:\\:/64");
	struct run r = setup(&env);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "VERSION 1\n");
	/* BINDADDR order is kept; obfs4 is dropped silently. */
	assert_int_equal(r.info.n_bindaddrs, 2);
	assert_string_equal(r.info.bindaddrs[0].method, "snowflake");
	assert_string_equal(sf_pt_args_get(r.info.bindaddrs[0].options, "num-turbotunnel"), "3");
	assert_string_equal(sf_pt_args_get(r.info.bindaddrs[0].options, "orport-srcaddr"),
			    "fd00::/64");
	assert_null(sf_pt_args_get(r.info.bindaddrs[0].options, "k"));
	assert_string_equal(r.info.bindaddrs[1].method, "x");
	assert_string_equal(r.info.bindaddrs[1].addr_text, "[::1]:2");
	const struct sf_pt_arg *k = sf_pt_args_find(r.info.bindaddrs[1].options, "k");
	assert_non_null(k);
	assert_int_equal(k->n_values, 2);
	assert_string_equal(k->values[0], "v");
	assert_string_equal(k->values[1], "w");
	run_free(&r);

	/* A method not in BINDADDR produces nothing; "*" has no special meaning. */
	const char *none[] = { "snow", "*", "obfs4", " snowflake" };
	for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
		env = base_env();
		env_set(&env, "TOR_PT_SERVER_TRANSPORTS", none[i]);
		r = setup(&env);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.info.n_bindaddrs, 0);
		run_free(&r);
	}
	const char *some[] = { "snowflake,", ",snowflake", "a,snowflake,b" };
	for (size_t i = 0; i < sizeof some / sizeof *some; i++) {
		env = base_env();
		env_set(&env, "TOR_PT_SERVER_TRANSPORTS", some[i]);
		r = setup(&env);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.info.n_bindaddrs, 1);
		run_free(&r);
	}

	/* A bad address of a transport that will be filtered out still fails. */
	env = base_env();
	env_set(&env, "TOR_PT_SERVER_BINDADDR", "snowflake-0.0.0.0:443,obfs4-bad");
	expect_error(&env, "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: \"obfs4-bad\": "
			   "address bad: missing port in address\n");
}

static void test_orport(void **state)
{
	(void)state;
	expect_orport_error("bad", "VERSION 1\nENV-ERROR cannot resolve TOR_PT_ORPORT \"bad\": "
			    "address bad: missing port in address\n");
	expect_orport_error("localhost:9001", "VERSION 1\nENV-ERROR cannot resolve TOR_PT_ORPORT "
			    "\"localhost:9001\": not an IP string: \"localhost\"\n");
	expect_orport_error("127.0.0.1:65536", "VERSION 1\nENV-ERROR cannot resolve TOR_PT_ORPORT "
			    "\"127.0.0.1:65536\": strconv.ParseUint: parsing \"65536\": value out of "
			    "range\n");

	struct fake_env env = base_env();
	env_set(&env, "TOR_PT_ORPORT", "[::1]:9001");
	struct run r = setup(&env);
	assert_int_equal(r.rc, 0);
	assert_true(r.info.has_orport);
	assert_int_equal(r.info.orport.ss_family, AF_INET6);
	assert_int_equal(r.info.orport_len, sizeof(struct sockaddr_in6));
	assert_int_equal(sa_port(&r.info.orport), 9001);
	run_free(&r);
}

static void test_extorport(void **state)
{
	(void)state;
	struct fake_env env = base_env();
	const char *neither = "VERSION 1\nENV-ERROR need TOR_PT_ORPORT or "
			      "TOR_PT_EXTENDED_SERVER_PORT environment variable\n";
	const char *no_cookie = "VERSION 1\nENV-ERROR need TOR_PT_AUTH_COOKIE_FILE environment "
				"variable with TOR_PT_EXTENDED_SERVER_PORT\n";

	env_set(&env, "TOR_PT_ORPORT", NULL);
	expect_error(&env, neither);
	env_set(&env, "TOR_PT_ORPORT", "");
	/* tor sets an empty TOR_PT_EXTENDED_SERVER_PORT when it has no ExtORPort. */
	env_set(&env, "TOR_PT_EXTENDED_SERVER_PORT", "");
	expect_error(&env, neither);
	env_set(&env, "TOR_PT_EXTENDED_SERVER_PORT", "127.0.0.1:5555");
	expect_error(&env, no_cookie);
	env_set(&env, "TOR_PT_AUTH_COOKIE_FILE", "");
	expect_error(&env, no_cookie);
	/* The cookie is checked before the address. */
	env_set(&env, "TOR_PT_EXTENDED_SERVER_PORT", "bad");
	env_set(&env, "TOR_PT_AUTH_COOKIE_FILE", NULL);
	expect_error(&env, no_cookie);
	env_set(&env, "TOR_PT_AUTH_COOKIE_FILE", "/var/lib/tor/extended_orport_auth_cookie");
	expect_error(&env, "VERSION 1\nENV-ERROR cannot resolve TOR_PT_EXTENDED_SERVER_PORT "
			   "\"bad\": address bad: missing port in address\n");

	env_set(&env, "TOR_PT_EXTENDED_SERVER_PORT", "127.0.0.1:5555");
	struct run r = setup(&env);
	assert_int_equal(r.rc, 0);
	assert_false(r.info.has_orport);
	assert_true(r.info.has_extorport);
	assert_int_equal(r.info.extorport.ss_family, AF_INET);
	assert_int_equal(sa_port(&r.info.extorport), 5555);
	/* The cookie file is only named, never read here. */
	assert_string_equal(r.info.auth_cookie_file, "/var/lib/tor/extended_orport_auth_cookie");
	run_free(&r);

	/* Both ports, and an empty ExtORPort with a cookie named: the cookie is still kept. */
	env = base_env();
	env_set(&env, "TOR_PT_EXTENDED_SERVER_PORT", "[::1]:5555");
	env_set(&env, "TOR_PT_AUTH_COOKIE_FILE", "/c");
	r = setup(&env);
	assert_int_equal(r.rc, 0);
	assert_true(r.info.has_orport);
	assert_true(r.info.has_extorport);
	assert_int_equal(r.info.extorport.ss_family, AF_INET6);
	run_free(&r);
	env_set(&env, "TOR_PT_EXTENDED_SERVER_PORT", "");
	r = setup(&env);
	assert_int_equal(r.rc, 0);
	assert_false(r.info.has_extorport);
	assert_string_equal(r.info.auth_cookie_file, "/c");
	run_free(&r);
}

static void test_exit_on_stdin_close(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		bool on;
	} cases[] = { { NULL, false }, { "", false }, { "1", true }, { "0", false },
		      { "true", false }, { "1 ", false }, { "01", false }, { "yes", false } };
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct fake_env env = base_env();
		env_set(&env, "TOR_PT_EXIT_ON_STDIN_CLOSE", cases[i].value);
		struct run r = setup(&env);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.info.exit_on_stdin_close, cases[i].on);
		run_free(&r);
	}
}

/* Go %q in messages; bytes goptlib would panic on are printed as '?'. */
static void test_hostile_quoting(void **state)
{
	(void)state;
	expect_bind_error("s\x01\x7f\"\\-1.1.1.1", "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: "
			  "\"s\\x01\\x7f\\\"\\\\-1.1.1.1\": address 1.1.1.1: missing port in "
			  "address\n");
	/* The address inside Go's AddrError is not quoted: LF becomes '?'. */
	expect_orport_error("a\nb", "VERSION 1\nENV-ERROR cannot resolve TOR_PT_ORPORT "
			    "\"a\\nb\": address a?b: missing port in address\n");
	/* Non-ASCII: Go's %q keeps printable runes raw, the line writer turns them into '?'. */
	expect_bind_error("snowflake-\xc3\xa9:1", "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: "
			  "\"snowflake-??:1\": not an IP string: \"??\"\n");
	expect_bind_error("snowflake-\xff:1", "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: "
			  "\"snowflake-\\xff:1\": not an IP string: \"\\xff\"\n");
	expect_bind_error("s\xc2\x85-1.1.1.1", "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: "
			  "\"s\\u0085-1.1.1.1\": address 1.1.1.1: missing port in address\n");

	struct fake_env env = base_env();
	env_set(&env, "TOR_PT_SERVER_TRANSPORT_OPTIONS", "snowflake\n:k");
	expect_error(&env, "VERSION 1\nENV-ERROR TOR_PT_SERVER_TRANSPORT_OPTIONS: "
			   "\"snowflake\\n:k\": no equals sign in \"snowflake\\n:k\"\n");
	env_set(&env, "TOR_PT_SERVER_TRANSPORT_OPTIONS", "snowflake:k=v\\");
	expect_error(&env, "VERSION 1\nENV-ERROR TOR_PT_SERVER_TRANSPORT_OPTIONS: "
			   "\"snowflake:k=v\\\\\": nothing following final escape in \"v\\\\\"\n");
}

static char *repeat(char c, size_t n, const char *prefix, const char *suffix)
{
	size_t p = strlen(prefix), s = strlen(suffix);
	char *buf = malloc(p + n + s + 1);
	assert_non_null(buf);
	memcpy(buf, prefix, p);
	memset(buf + p, c, n);
	memcpy(buf + p + n, suffix, s + 1);
	return buf;
}

/* Huge values are handled like any other; the message repeats them as Go would. */
static void test_hostile_huge(void **state)
{
	(void)state;
	const size_t big = 1 << 20;
	struct fake_env env = base_env();
	struct run r;

	char *no_dash = repeat('a', big, "", "");
	env_set(&env, "TOR_PT_SERVER_BINDADDR", no_dash);
	r = setup(&env);
	assert_int_equal(r.rc, -1);
	assert_true(strlen(r.out) > big);
	assert_non_null(strstr(r.out, "\": doesn't contain \"-\"\n"));
	assert_int_equal(strncmp(r.out, "VERSION 1\nENV-ERROR TOR_PT_SERVER_BINDADDR: \"aaaa", 49), 0);
	run_free(&r);
	free(no_dash);

	char *huge_port = repeat('9', big, "snowflake-1.2.3.4:", "");
	env_set(&env, "TOR_PT_SERVER_BINDADDR", huge_port);
	r = setup(&env);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.out, "\": value out of range\n"));
	run_free(&r);
	free(huge_port);

	/* Only colons: retried with brackets, so the host is non-empty and the port empty. */
	char *huge_host = repeat(':', big, "snowflake-", "");
	env_set(&env, "TOR_PT_SERVER_BINDADDR", huge_host);
	r = setup(&env);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.out, "::\" lacks a port part\n"));
	run_free(&r);
	free(huge_host);
	huge_host = repeat(':', big, "snowflake-", "1");
	env_set(&env, "TOR_PT_SERVER_BINDADDR", huge_host);
	r = setup(&env);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.out, "\": not an IP string: \":::"));
	run_free(&r);
	free(huge_host);

	/* Many options for one key, and many bindaddr items with unique names. */
	env = base_env();
	char *opts = malloc(big + 32);
	assert_non_null(opts);
	size_t w = 0;
	for (size_t i = 0; w + 16 < big; i++)
		w += (size_t)sprintf(opts + w, "snowflake:k=%zu;", i);
	strcpy(opts + w, "snowflake:k=last");
	env_set(&env, "TOR_PT_SERVER_TRANSPORT_OPTIONS", opts);
	r = setup(&env);
	assert_int_equal(r.rc, 0);
	assert_string_equal(sf_pt_args_get(r.info.bindaddrs[0].options, "k"), "0");
	const struct sf_pt_arg *k = sf_pt_args_find(r.info.bindaddrs[0].options, "k");
	assert_string_equal(k->values[k->n_values - 1], "last");
	run_free(&r);
	free(opts);

	char *binds = malloc(64 * 1024);
	assert_non_null(binds);
	w = 0;
	for (size_t i = 0; i < 2000; i++)
		w += (size_t)sprintf(binds + w, "m%zu-127.0.0.1:%zu,", i, i);
	strcpy(binds + w, "snowflake-0.0.0.0:1");
	env_set(&env, "TOR_PT_SERVER_BINDADDR", binds);
	env_set(&env, "TOR_PT_SERVER_TRANSPORTS", "m1999,snowflake,m7");
	env_set(&env, "TOR_PT_SERVER_TRANSPORT_OPTIONS", NULL);
	r = setup(&env);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.info.n_bindaddrs, 3);
	assert_string_equal(r.info.bindaddrs[0].method, "m7");
	assert_string_equal(r.info.bindaddrs[1].method, "m1999");
	assert_string_equal(r.info.bindaddrs[2].addr_text, "0.0.0.0:1");
	run_free(&r);
	free(binds);
}

static void test_state_dir(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/test_pt_env.XXXXXX";
	char *base = mkdtemp(tmpl);
	assert_non_null(base);
	char path[256], file[256];
	struct fake_env env = { .n = 0 };
	char *dir, err[SF_ERR_MAX], *out = NULL;
	size_t len = 0;

	/* Missing: ENV-ERROR on stdout, and the same text as the error to log. */
	FILE *f = open_memstream(&out, &len);
	assert_int_equal(sf_pt_make_state_dir(fake_getenv, &env, f, &dir, err, sizeof err), -1);
	fclose(f);
	assert_string_equal(out, "ENV-ERROR no TOR_PT_STATE_LOCATION environment variable\n");
	assert_string_equal(err, "ENV-ERROR no TOR_PT_STATE_LOCATION environment variable");
	assert_null(dir);
	free(out);

	/* mkdir -p with mode 0700 (umask permitting), trailing slash as tor writes it. */
	mode_t old = umask(022);
	snprintf(path, sizeof path, "%s/a/b/pt_state/", base);
	env_set(&env, "TOR_PT_STATE_LOCATION", path);
	out = NULL;
	f = open_memstream(&out, &len);
	assert_int_equal(sf_pt_make_state_dir(fake_getenv, &env, f, &dir, err, sizeof err), 0);
	fclose(f);
	assert_string_equal(out, "");
	assert_string_equal(dir, path);
	assert_string_equal(err, "");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(file, sizeof file, "%s/a", base);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	free(dir);
	free(out);
	/* Existing directory: fine. */
	out = NULL;
	f = open_memstream(&out, &len);
	assert_int_equal(sf_pt_make_state_dir(fake_getenv, &env, f, &dir, err, sizeof err), 0);
	fclose(f);
	free(dir);
	free(out);
	umask(old);

	/* A file in the way: Go's PathError text, nothing on stdout. */
	snprintf(file, sizeof file, "%s/file", base);
	FILE *tf = fopen(file, "w");
	assert_non_null(tf);
	fclose(tf);
	snprintf(path, sizeof path, "%s/file/x/y", base);
	env_set(&env, "TOR_PT_STATE_LOCATION", path);
	out = NULL;
	f = open_memstream(&out, &len);
	assert_int_equal(sf_pt_make_state_dir(fake_getenv, &env, f, &dir, err, sizeof err), -1);
	fclose(f);
	assert_string_equal(out, "");
	assert_null(dir);
	char want[300];
	snprintf(want, sizeof want, "mkdir %s: not a directory", file);
	assert_string_equal(err, want);
	free(out);

	unlink(file);
	snprintf(path, sizeof path, "%s/a/b/pt_state", base);
	rmdir(path);
	snprintf(path, sizeof path, "%s/a/b", base);
	rmdir(path);
	snprintf(path, sizeof path, "%s/a", base);
	rmdir(path);
	assert_int_equal(rmdir(base), 0);
}

static void test_path_join(void **state)
{
	(void)state;
	static const struct {
		const char *dir, *want;
	} cases[] = {
		{ "/var/lib/tor/pt_state/", "/var/lib/tor/pt_state/snowflake-certificate-cache" },
		{ "", "snowflake-certificate-cache" },
		{ "/", "/snowflake-certificate-cache" },
		{ "a//b/./c/..", "a/b/snowflake-certificate-cache" },
		{ "/../a", "/a/snowflake-certificate-cache" },
		{ "a/../../b", "../b/snowflake-certificate-cache" },
		{ "./", "snowflake-certificate-cache" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *j = sf_pt_path_join(cases[i].dir, "snowflake-certificate-cache");
		assert_string_equal(j, cases[i].want);
		free(j);
	}
	char *j = sf_pt_path_join("x/./../../..", "");
	assert_string_equal(j, "../..");
	free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_typical),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_check_order),
		cmocka_unit_test(test_bindaddr_syntax),
		cmocka_unit_test(test_bindaddr_addresses),
		cmocka_unit_test(test_bindaddr_good),
		cmocka_unit_test(test_bindaddr_ipv6_bytes),
		cmocka_unit_test(test_transports_filter_and_options),
		cmocka_unit_test(test_orport),
		cmocka_unit_test(test_extorport),
		cmocka_unit_test(test_exit_on_stdin_close),
		cmocka_unit_test(test_hostile_quoting),
		cmocka_unit_test(test_hostile_huge),
		cmocka_unit_test(test_state_dir),
		cmocka_unit_test(test_path_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
