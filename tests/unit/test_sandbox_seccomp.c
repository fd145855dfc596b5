/* The seccomp allow-list (src/sandbox/seccomp.c), loaded in a forked child: what the server
 * does keeps working, what it never does fails with EPERM, and the filter covers every thread.
 * The child reports one line per check on a pipe; the parent asserts. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"

static int report_fd;

/* One line "name rc errno" per call made in the child. */
static void report(const char *name, long rc, int err)
{
	char line[128];
	int n = snprintf(line, sizeof line, "%s %ld %d\n", name, rc, rc < 0 ? err : 0);
	if (write(report_fd, line, (size_t)n) != n)
		_exit(3);
}

/* The call first, then errno: the arguments of report() are evaluated in any order. */
#define REPORT_CALL(name, call)                                                                \
	do {                                                                                   \
		errno = 0;                                                                     \
		long rc_ = (long)(call);                                                       \
		report(name, rc_, errno);                                                      \
	} while (0)

static void *thread_main(void *arg)
{
	(void)arg;
	/* a thread started before the filter: is it filtered too (TSYNC)? */
	REPORT_CALL("thread_ptrace", syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0));
	return NULL;
}

static void *new_thread_main(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)42;
}

static int thread_gate[2];

static void *waiting_thread_main(void *arg)
{
	char c;
	if (read(thread_gate[0], &c, 1) != 1)
		_exit(4);
	return thread_main(arg);
}

static void child(void)
{
	pthread_t early;
	if (pipe(thread_gate) < 0 || pthread_create(&early, NULL, waiting_thread_main, NULL) != 0)
		_exit(2);
	char err[256] = "";
	if (sf_sandbox_seccomp_load(err, sizeof err) < 0) {
		report("load", -1, 0);
		_exit(1);
	}
	report("load", 0, 0);
	if (write(thread_gate[1], "x", 1) != 1 || pthread_join(early, NULL) != 0)
		_exit(2);

	/* allowed: what the server does */
	REPORT_CALL("getpid", getpid());
	REPORT_CALL("socket_inet", socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	REPORT_CALL("socket_inet6", socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	report("open", fd, fd < 0 ? errno : 0);
	char status[4096];
	ssize_t n = fd >= 0 ? read(fd, status, sizeof status - 1) : -1;
	status[n > 0 ? n : 0] = '\0';
	report("seccomp_mode_2", strstr(status, "\nSeccomp:\t2\n") ? 0 : -1, 0);
	pthread_t t;
	void *ret = NULL;
	int prc = pthread_create(&t, NULL, new_thread_main, NULL);
	if (prc == 0)
		pthread_join(t, &ret);
	report("pthread_create", prc == 0 && ret == (void *)(intptr_t)42 ? 0 : -1, prc);

	/* refused: never done by the server */
	char *const argv[] = { "/bin/true", NULL };
	REPORT_CALL("execve", execve("/bin/true", argv, argv + 1));
	REPORT_CALL("ptrace", syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0));
	REPORT_CALL("socket_packet", socket(AF_PACKET, SOCK_RAW, 0));
	REPORT_CALL("unshare", syscall(SYS_unshare, CLONE_NEWUSER));
	REPORT_CALL("mount", mount("none", "/nonexistent", "tmpfs", 0, NULL));
	REPORT_CALL("clone_newnet", syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0));
	REPORT_CALL("process_vm_readv", syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0, 0));
	/* not on the list at all: the default action */
	REPORT_CALL("chown", syscall(SYS_fchownat, AT_FDCWD, "/nonexistent", 0, 0, 0));
	_exit(0);
}

/* Runs the child, returns its report. */
static char *run_child(int *status)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		report_fd = p[1];
		child();
	}
	close(p[1]);
	static char out[4096];
	size_t off = 0;
	ssize_t n;
	while (off < sizeof out - 1 && (n = read(p[0], out + off, sizeof out - 1 - off)) > 0)
		off += (size_t)n;
	out[off] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return out;
}

static void expect(const char *out, const char *name, bool ok, int err)
{
	char key[64];
	snprintf(key, sizeof key, "%s ", name);
	const char *line = strstr(out, key);
	if (!line)
		fail_msg("no report for %s in:\n%s", name, out);
	long rc;
	int got_err;
	assert_int_equal(sscanf(line + strlen(key), "%ld %d", &rc, &got_err), 2);
	if (ok && rc < 0)
		fail_msg("%s failed (errno %d) under the filter", name, got_err);
	if (!ok && (rc >= 0 || got_err != err))
		fail_msg("%s: rc %ld errno %d, wanted errno %d", name, rc, got_err, err);
}

static void test_filter_allows_and_refuses(void **state)
{
	(void)state;
	int status;
	char *out = run_child(&status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	expect(out, "load", true, 0);
	expect(out, "getpid", true, 0);
	expect(out, "socket_inet", true, 0);
	expect(out, "socket_inet6", true, 0);
	expect(out, "open", true, 0);
	expect(out, "seccomp_mode_2", true, 0);
	expect(out, "pthread_create", true, 0);
	expect(out, "thread_ptrace", false, EPERM);
	expect(out, "execve", false, EPERM);
	expect(out, "ptrace", false, EPERM);
	expect(out, "socket_packet", false, EPERM);
	expect(out, "unshare", false, EPERM);
	expect(out, "mount", false, EPERM);
	expect(out, "clone_newnet", false, EPERM);
	expect(out, "process_vm_readv", false, EPERM);
	expect(out, "chown", false, EPERM);
}

/* No refused call may ever be on the allow-list (the filter would refuse to load), and the
 * list is what the filter is made of: every name is a call of some architecture. */
static void test_lists_are_disjoint(void **state)
{
	(void)state;
	for (size_t i = 0; i < sf_sandbox_n_allowed; i++)
		for (size_t j = 0; j < sf_sandbox_n_refused; j++)
			if (strcmp(sf_sandbox_allowed[i], sf_sandbox_refused[j]) == 0)
				fail_msg("%s is both allowed and refused", sf_sandbox_allowed[i]);
	assert_true(sf_sandbox_n_allowed > 50);
	assert_true(sf_sandbox_n_refused > 10);
}

/* The public entry point: refused in a sanitizer build (LeakSanitizer's ptrace), which the
 * interop tests rely on to tell the two builds apart. */
static void test_public_entry_in_this_build(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256] = "";
		int rc = sf_sandbox_seccomp(err, sizeof err);
#if defined(__SANITIZE_ADDRESS__)
		_exit(rc < 0 && strstr(err, "sanitizer") ? 0 : 1);
#else
		_exit(rc == 0 && syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) < 0 && errno == EPERM ? 0 : 1);
#endif
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_allows_and_refuses),
		cmocka_unit_test(test_lists_are_disjoint),
		cmocka_unit_test(test_public_entry_in_this_build),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
