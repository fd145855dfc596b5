/* Checked invariants (src/lib/bug.h): in release mode a breach is logged (rate-limited) and the
 * caller recovers; in fatal mode (debug and sanitizer builds) the process aborts at the breach. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/bug.h"
#include "lib/log.h"

/* The log goes to a temporary file so that the test can count the "BUG:" lines. */
static FILE *log_file;

static int setup(void **state)
{
	(void)state;
	log_file = tmpfile();
	if (!log_file)
		return -1;
	sf_log_setup(fileno(log_file), true);
	sf_bug_set_fatal(false);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sf_log_setup(2, true);
	fclose(log_file);
	return 0;
}

static unsigned count_bug_lines(void)
{
	char line[1024];
	unsigned n = 0;
	rewind(log_file);
	while (fgets(line, sizeof line, log_file))
		n += strstr(line, "BUG: ") != NULL;
	return n;
}

static void test_false_condition_is_silent(void **state)
{
	(void)state;
	unsigned long before = sf_bug_count();
	assert_false(SF_BUG(1 + 1 == 3));
	assert_int_equal(sf_bug_count(), before);
	assert_int_equal(count_bug_lines(), 0);
}

static void test_breach_is_logged_and_returns_true(void **state)
{
	(void)state;
	unsigned long before = sf_bug_count();
	int evaluated = 0;
	/* the condition is evaluated exactly once */
	assert_true(SF_BUG(evaluated++ == 0));
	assert_int_equal(evaluated, 1);
	assert_int_equal(sf_bug_count(), before + 1);

	char line[1024] = "";
	rewind(log_file);
	assert_non_null(fgets(line, sizeof line, log_file));
	/* where (file relative to the source tree, line, function) and what */
	assert_non_null(strstr(line, "BUG: tests/unit/test_lib_bug.c:"));
	assert_non_null(strstr(line, "(test_breach_is_logged_and_returns_true)"));
	assert_non_null(strstr(line, "evaluated++ == 0"));
	assert_non_null(strstr(line, "carrying on"));
}

static void test_repeated_breach_is_rate_limited(void **state)
{
	(void)state;
	unsigned long before = sf_bug_count();
	assert_int_equal(before, 1); /* from the test before: cmocka runs them in order */
	for (int i = 0; i < 2999; i++)
		assert_true(SF_BUG(i >= 0));
	assert_int_equal(sf_bug_count(), 3000);
	/* hits 1..16, 1024 and 2048 are logged */
	assert_int_equal(count_bug_lines(), 16 + 2);
}

/* Runs fn in a child process; returns the signal that ended it, or 0 if it exited. */
static int run_in_child(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void breach_fatal(void)
{
	sf_bug_set_fatal(true);
	if (SF_BUG(getpid() > 0))
		_exit(3); /* not reached in fatal mode */
}

static void breach_release(void)
{
	sf_bug_set_fatal(false);
	if (SF_BUG(getpid() > 0))
		_exit(0);
	_exit(4);
}

static void assert_fails(void)
{
	SF_ASSERT(getpid() < 0);
}

static void assert_holds(void)
{
	SF_ASSERT(getpid() > 0);
}

static void test_fatal_mode_aborts(void **state)
{
	(void)state;
	assert_int_equal(run_in_child(breach_fatal), SIGABRT);
	assert_int_equal(run_in_child(breach_release), 0);
}

static void test_assert_aborts_in_every_mode(void **state)
{
	(void)state;
	sf_bug_set_fatal(false);
	assert_int_equal(run_in_child(assert_fails), SIGABRT);
	assert_int_equal(run_in_child(assert_holds), 0);
	/* the child logged its reason before aborting */
	char line[1024];
	bool found = false;
	rewind(log_file);
	while (fgets(line, sizeof line, log_file))
		found |= strstr(line, "invariant broken: getpid() < 0; aborting") != NULL;
	assert_true(found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_false_condition_is_silent),
		cmocka_unit_test(test_breach_is_logged_and_returns_true),
		cmocka_unit_test(test_repeated_breach_is_rate_limited),
		cmocka_unit_test(test_fatal_mode_aborts),
		cmocka_unit_test(test_assert_aborts_in_every_mode),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
