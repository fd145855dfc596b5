/* The Go-compatible flag parser. Expected results were produced by Go 1.19's flag package
 * (FlagSet with ContinueOnError) on the same flag definitions and arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/flags.h"

/* snowflake-server's flags, plus a one-letter bool. */
struct opts {
	struct sf_flags fs;
	const char *acme_email;
	const char *acme_hostnames;
	bool disable_tls;
	const char *log;
	bool unsafe_logging;
	bool version;
	bool v;
	int positional;
};

static void define(struct opts *o)
{
	sf_flags_init(&o->fs);
	assert_int_equal(sf_flags_string(&o->fs, &o->acme_email, "acme-email", "",
					 "optional contact email for Let's Encrypt notifications"), 0);
	assert_int_equal(sf_flags_string(&o->fs, &o->acme_hostnames, "acme-hostnames", "",
					 "comma-separated hostnames for TLS certificate"), 0);
	assert_int_equal(sf_flags_bool(&o->fs, &o->disable_tls, "disable-tls", false, "don't use HTTPS"), 0);
	assert_int_equal(sf_flags_string(&o->fs, &o->log, "log", "", "log file to write to"), 0);
	assert_int_equal(sf_flags_bool(&o->fs, &o->unsafe_logging, "unsafe-logging", false,
				       "prevent logs from being scrubbed"), 0);
	assert_int_equal(sf_flags_bool(&o->fs, &o->version, "version", false,
				       "display version info to stderr and quit"), 0);
	assert_int_equal(sf_flags_bool(&o->fs, &o->v, "v", false, "verbose"), 0);
}

/* args is NULL-terminated; at most 15 arguments. */
static enum sf_flags_status parse(struct opts *o, const char *const *args)
{
	char *argv[16];
	int argc = 0;
	while (args[argc] != NULL && argc < 15) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	define(o);
	o->positional = -1;
	return sf_flags_parse(&o->fs, argc, argv, &o->positional);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_defaults(void **state)
{
	(void)state;
	struct opts o;
	char *none[] = { NULL };
	define(&o);
	assert_int_equal(sf_flags_parse(&o.fs, 0, none, &o.positional), SF_FLAGS_OK);
	assert_int_equal(o.positional, 0);
	assert_string_equal(o.acme_email, "");
	assert_string_equal(o.log, "");
	assert_false(o.disable_tls);
	assert_false(o.version);

	/* Definition stores the default, as flag.StringVar/BoolVar do. */
	struct sf_flags fs;
	const char *s = NULL;
	bool b = false;
	sf_flags_init(&fs);
	assert_int_equal(sf_flags_string(&fs, &s, "s", "dflt", ""), 0);
	assert_int_equal(sf_flags_bool(&fs, &b, "b", true, ""), 0);
	assert_string_equal(s, "dflt");
	assert_true(b);
}

static void test_string_forms(void **state)
{
	(void)state;
	struct opts o;
	const char *const *const forms[] = {
		ARGS("-log", "f"), ARGS("--log", "f"), ARGS("-log=f"), ARGS("--log=f"),
	};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		assert_int_equal(parse(&o, forms[i]), SF_FLAGS_OK);
		assert_string_equal(o.log, "f");
		assert_int_equal(o.positional, (int)(forms[i][1] ? 2 : 1));
	}

	assert_int_equal(parse(&o, ARGS("-log=a=b")), SF_FLAGS_OK);
	assert_string_equal(o.log, "a=b");
	assert_int_equal(parse(&o, ARGS("-log=")), SF_FLAGS_OK);
	assert_string_equal(o.log, "");
	/* The next argument is the value even when it looks like a flag. */
	assert_int_equal(parse(&o, ARGS("-log", "-version")), SF_FLAGS_OK);
	assert_string_equal(o.log, "-version");
	assert_false(o.version);
	assert_int_equal(o.positional, 2);
}

static void test_bool_forms(void **state)
{
	(void)state;
	struct opts o;
	assert_int_equal(parse(&o, ARGS("--disable-tls")), SF_FLAGS_OK);
	assert_true(o.disable_tls);
	assert_int_equal(parse(&o, ARGS("-disable-tls=false")), SF_FLAGS_OK);
	assert_false(o.disable_tls);
	assert_int_equal(parse(&o, ARGS("-disable-tls=T")), SF_FLAGS_OK);
	assert_true(o.disable_tls);
	assert_int_equal(parse(&o, ARGS("-v=0", "-v")), SF_FLAGS_OK);
	assert_true(o.v);

	/* "-x false" does not work for bools: "false" is the first positional argument. */
	assert_int_equal(parse(&o, ARGS("-disable-tls", "false")), SF_FLAGS_OK);
	assert_true(o.disable_tls);
	assert_int_equal(o.positional, 1);

	/* strconv.ParseBool's exact vocabulary. */
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	for (size_t i = 0; i < 6; i++) {
		char arg[32];
		snprintf(arg, sizeof arg, "-unsafe-logging=%s", yes[i]);
		assert_int_equal(parse(&o, ARGS(arg)), SF_FLAGS_OK);
		assert_true(o.unsafe_logging);
		snprintf(arg, sizeof arg, "--unsafe-logging=%s", no[i]);
		assert_int_equal(parse(&o, ARGS("-unsafe-logging", arg)), SF_FLAGS_OK);
		assert_false(o.unsafe_logging);
	}
}

static void test_mixed(void **state)
{
	(void)state;
	struct opts o;
	const char *const *args = ARGS("-acme-hostnames", "a,b", "-acme-email=e@x", "-unsafe-logging",
				       "--version=1");
	assert_int_equal(parse(&o, args), SF_FLAGS_OK);
	assert_string_equal(o.acme_hostnames, "a,b");
	assert_string_equal(o.acme_email, "e@x");
	assert_true(o.unsafe_logging);
	assert_true(o.version);
	assert_false(o.disable_tls);
	assert_int_equal(o.positional, 5);
}

static void test_end_of_flags(void **state)
{
	(void)state;
	struct opts o;
	/* "--" is dropped; what follows is positional. */
	assert_int_equal(parse(&o, ARGS("--", "-log", "f")), SF_FLAGS_OK);
	assert_string_equal(o.log, "");
	assert_int_equal(o.positional, 1);
	/* The first non-flag stops parsing and stays. */
	assert_int_equal(parse(&o, ARGS("a", "-log", "f")), SF_FLAGS_OK);
	assert_string_equal(o.log, "");
	assert_int_equal(o.positional, 0);
	/* "-" alone is positional. */
	assert_int_equal(parse(&o, ARGS("-", "-log", "f")), SF_FLAGS_OK);
	assert_int_equal(o.positional, 0);
	assert_int_equal(parse(&o, ARGS("-log", "f", "--version", "pos", "-x")), SF_FLAGS_OK);
	assert_string_equal(o.log, "f");
	assert_true(o.version);
	assert_int_equal(o.positional, 3);
	assert_int_equal(parse(&o, ARGS("")), SF_FLAGS_OK);
	assert_int_equal(o.positional, 0);
}

static void check_error(const char *const *args, const char *msg)
{
	struct opts o;
	assert_int_equal(parse(&o, args), SF_FLAGS_ERROR);
	assert_string_equal(sf_flags_error(&o.fs), msg);
}

static void test_errors(void **state)
{
	(void)state;
	check_error(ARGS("-log"), "flag needs an argument: -log");
	check_error(ARGS("--log"), "flag needs an argument: -log");
	check_error(ARGS("-disable-tls=yes"), "invalid boolean value \"yes\" for -disable-tls: parse error");
	check_error(ARGS("-disable-tls="), "invalid boolean value \"\" for -disable-tls: parse error");
	check_error(ARGS("-disable-tls=\"q\\\x01\xc3\xa9\xff"),
		    "invalid boolean value \"\\\"q\\\\\\x01\xc3\xa9\\xff\" for -disable-tls: parse error");
	check_error(ARGS("---log"), "bad flag syntax: ---log");
	check_error(ARGS("-=x"), "bad flag syntax: -=x");
	check_error(ARGS("--=x"), "bad flag syntax: --=x");
	check_error(ARGS("-nope"), "flag provided but not defined: -nope");
	check_error(ARGS("--nope=1"), "flag provided but not defined: -nope");
	check_error(ARGS("-log", "f", "-x"), "flag provided but not defined: -x");

	/* As in Go, a bad bool value leaves the flag false and earlier flags keep their values. */
	struct opts o;
	assert_int_equal(parse(&o, ARGS("-log", "f", "-disable-tls", "-disable-tls=maybe")), SF_FLAGS_ERROR);
	assert_string_equal(o.log, "f");
	assert_false(o.disable_tls);
}

static void test_help(void **state)
{
	(void)state;
	struct opts o;
	assert_int_equal(parse(&o, ARGS("-h")), SF_FLAGS_HELP);
	assert_int_equal(parse(&o, ARGS("--help")), SF_FLAGS_HELP);
	assert_int_equal(parse(&o, ARGS("-help")), SF_FLAGS_HELP);
	assert_int_equal(parse(&o, ARGS("-help=1")), SF_FLAGS_HELP);
	assert_int_equal(parse(&o, ARGS("-log", "f", "-h", "-nope")), SF_FLAGS_HELP);
	assert_int_equal(parse(&o, ARGS("-nope", "-h")), SF_FLAGS_ERROR);

	/* A defined -h is an ordinary flag. */
	struct sf_flags fs;
	bool h = false;
	char *argv[] = { (char *)"-h", NULL };
	int pos;
	sf_flags_init(&fs);
	assert_int_equal(sf_flags_bool(&fs, &h, "h", false, "mine"), 0);
	assert_int_equal(sf_flags_parse(&fs, 1, argv, &pos), SF_FLAGS_OK);
	assert_true(h);
}

static void test_define_errors(void **state)
{
	(void)state;
	struct sf_flags fs;
	const char *s;
	bool b;
	sf_flags_init(&fs);
	assert_int_equal(sf_flags_string(&fs, &s, "-x", "", ""), -1);
	assert_int_equal(sf_flags_string(&fs, &s, "a=b", "", ""), -1);
	assert_int_equal(sf_flags_string(&fs, &s, "", "", ""), -1);
	assert_int_equal(sf_flags_bool(&fs, &b, "dup", false, ""), 0);
	assert_int_equal(sf_flags_string(&fs, &s, "dup", "", ""), -1);

	static char names[SF_FLAGS_MAX + 1][8];
	static bool store[SF_FLAGS_MAX + 1];
	sf_flags_init(&fs);
	for (int i = 0; i < SF_FLAGS_MAX; i++) {
		snprintf(names[i], sizeof names[i], "f%d", i);
		assert_int_equal(sf_flags_bool(&fs, &store[i], names[i], false, ""), 0);
	}
	assert_int_equal(sf_flags_bool(&fs, &store[SF_FLAGS_MAX], "full", false, ""), -1);
}

static char *usage_of(const struct sf_flags *fs, const char *header)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	sf_flags_print_usage(f, fs, header);
	fclose(f);
	return text;
}

/* snowflake-server's usage(): header, then PrintDefaults; Go's output for these flags. */
static void test_usage_snowflake(void **state)
{
	(void)state;
	struct opts o;
	define(&o);
	static const char header[] = "Usage: snowflake-server [OPTIONS]\n\nWebSocket server pluggable "
				     "transport for Snowflake.\n\n";
	char *text = usage_of(&o.fs, header);
	assert_string_equal(text,
		"Usage: snowflake-server [OPTIONS]\n\nWebSocket server pluggable transport for Snowflake.\n\n"
		"  -acme-email string\n"
		"    \toptional contact email for Let's Encrypt notifications\n"
		"  -acme-hostnames string\n"
		"    \tcomma-separated hostnames for TLS certificate\n"
		"  -disable-tls\n"
		"    \tdon't use HTTPS\n"
		"  -log string\n"
		"    \tlog file to write to\n"
		"  -unsafe-logging\n"
		"    \tprevent logs from being scrubbed\n"
		"  -v\tverbose\n"
		"  -version\n"
		"    \tdisplay version info to stderr and quit\n");
	free(text);
}

/* Defaults, quoting, backquoted value names and multi-line usage, as Go prints them. */
static void test_usage_details(void **state)
{
	(void)state;
	struct sf_flags fs;
	const char *s, *z, *e;
	bool v, w;
	sf_flags_init(&fs);
	assert_int_equal(sf_flags_string(&fs, &z, "z", "dflt", "one ` backquote"), 0);
	assert_int_equal(sf_flags_bool(&fs, &v, "v", true, "verbose"), 0);
	assert_int_equal(sf_flags_string(&fs, &s, "s", "a\"b\n", "a `file` name\nsecond line"), 0);
	assert_int_equal(sf_flags_bool(&fs, &w, "wide", true, "w"), 0);
	assert_int_equal(sf_flags_string(&fs, &e, "empty", "", "no default shown"), 0);
	char *text = usage_of(&fs, NULL);
	assert_string_equal(text,
		"  -empty string\n"
		"    \tno default shown\n"
		"  -s file\n"
		"    \ta file name\n"
		"    \tsecond line (default \"a\\\"b\\n\")\n"
		"  -v\tverbose (default true)\n"
		"  -wide\n"
		"    \tw (default true)\n"
		"  -z string\n"
		"    \tone ` backquote (default \"dflt\")\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_string_forms),
		cmocka_unit_test(test_bool_forms),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_end_of_flags),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_define_errors),
		cmocka_unit_test(test_usage_snowflake),
		cmocka_unit_test(test_usage_details),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
