/* --user (src/sandbox/user.c), in forked children: the refusals, and a real drop to nobody that
 * reaches a thread started before it and cannot be undone. The tests run as root here; run as
 * another user, the drop must be refused instead. */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"

/* Runs fn in a child; returns its exit status (0 = every check passed there). */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int unknown_user(void)
{
	char err[256] = "";
	if (sf_sandbox_drop_user("no-such-user-sf-test", err, sizeof err) == 0)
		return 1;
	return strstr(err, geteuid() == 0 ? "no such user" : "only root") ? 0 : 2;
}

static int root_user(void)
{
	char err[256] = "";
	if (sf_sandbox_drop_user("root", err, sizeof err) == 0)
		return 1;
	return strstr(err, geteuid() == 0 ? "drops nothing" : "only root") ? 0 : 2;
}

/* The thread's own view of its credentials, from its /proc status. */
static int gate[2];
static char thread_uid_line[256];

static void *early_thread(void *arg)
{
	(void)arg;
	char c;
	if (read(gate[0], &c, 1) != 1)
		return NULL;
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%ld/status", (long)gettid());
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "Uid:", 4) == 0)
			snprintf(thread_uid_line, sizeof thread_uid_line, "%s", line);
	if (f)
		fclose(f);
	return NULL;
}

static int drop_to_nobody(void)
{
	struct passwd *pw = getpwnam("nobody");
	if (!pw)
		return 10;
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	pthread_t t;
	if (pipe(gate) < 0 || pthread_create(&t, NULL, early_thread, NULL) != 0)
		return 11;
	bool was_root = geteuid() == 0;
	char err[256] = "";
	int rc = sf_sandbox_drop_user("nobody", err, sizeof err);
	if (write(gate[1], "x", 1) != 1 || pthread_join(t, NULL) != 0)
		return 12;
	if (!was_root)
		return rc < 0 && strstr(err, "only root") ? 0 : 13; /* must have been refused */
	if (rc < 0) {
		fprintf(stderr, "drop failed: %s\n", err);
		return 14;
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid)
		return 15;
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		return 16;
	char want[128];
	snprintf(want, sizeof want, "Uid:\t%u\t%u\t%u\t%u\n", uid, uid, uid, uid);
	if (strcmp(thread_uid_line, want) != 0) {
		fprintf(stderr, "thread: %s", thread_uid_line);
		return 17;
	}
	/* once dropped, a second drop is refused: no root any more */
	if (sf_sandbox_drop_user("nobody", err, sizeof err) == 0 || !strstr(err, "only root"))
		return 18;
	return 0;
}

static void test_unknown_user_refused(void **state)
{
	(void)state;
	assert_int_equal(in_child(unknown_user), 0);
}

static void test_root_target_refused(void **state)
{
	(void)state;
	assert_int_equal(in_child(root_user), 0);
}

static void test_drop_reaches_every_thread(void **state)
{
	(void)state;
	assert_int_equal(in_child(drop_to_nobody), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_user_refused),
		cmocka_unit_test(test_root_target_refused),
		cmocka_unit_test(test_drop_reaches_every_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
