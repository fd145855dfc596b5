/* The logger: Go's "YYYY/MM/DD HH:MM:SS msg\n" UTC format, scrubbing on by default and off on
 * request, newline handling, truncation, the --log file (create, append, 0600, cloexec), and
 * its reopening for logrotate while other threads log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define STAMP_LEN 19	/* "YYYY/MM/DD HH:MM:SS" */

static int pipe_fds[2];

static int open_pipe(void **state)
{
	(void)state;
	if (pipe2(pipe_fds, O_CLOEXEC) != 0)
		return -1;
	/* Everything written is in the pipe before sf_logf returns: reads never need to wait. */
	fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
	return 0;
}

static int close_pipe(void **state)
{
	(void)state;
	sf_log_setup(2, true);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return 0;
}

/* Everything the logger wrote so far, NUL-terminated. */
static size_t drain(char *buf, size_t cap)
{
	size_t n = 0;
	for (int i = 0; i < 64 && n < cap - 1; i++) {
		ssize_t r = read(pipe_fds[0], buf + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

static void utc_stamp(time_t t, char *out)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, STAMP_LEN + 1, "%Y/%m/%d %H:%M:%S", &tm);
}

/* "YYYY/MM/DD HH:MM:SS " with digits where digits belong, in UTC, taken between before/after. */
static void check_stamp(const char *line, time_t before, time_t after)
{
	static const char shape[] = "dddd/dd/dd dd:dd:dd ";
	for (size_t i = 0; i < sizeof shape - 1; i++) {
		if (shape[i] == 'd')
			assert_true(line[i] >= '0' && line[i] <= '9');
		else
			assert_int_equal(line[i], shape[i]);
	}
	char lo[STAMP_LEN + 1], hi[STAMP_LEN + 1];
	utc_stamp(before, lo);
	utc_stamp(after, hi);
	/* This format sorts like the time it shows. */
	assert_true(strncmp(line, lo, STAMP_LEN) >= 0);
	assert_true(strncmp(line, hi, STAMP_LEN) <= 0);
}

/* Runs first, before any sf_log_setup(): the defaults are fd 2 and scrubbing on. */
static void test_format_and_defaults(void **state)
{
	(void)state;
	char buf[8192];
	int saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(pipe_fds[1], 2), 2);
	time_t before = time(NULL);
	sf_logf("dial tcp %s: connect", "127.0.0.1:9001");
	time_t after = time(NULL);
	assert_int_equal(dup2(saved_stderr, 2), 2);
	close(saved_stderr);

	size_t n = drain(buf, sizeof buf);
	assert_int_equal(n, STAMP_LEN + 1 + strlen("dial tcp [scrubbed]: connect\n"));
	check_stamp(buf, before, after);
	assert_string_equal(buf + STAMP_LEN + 1, "dial tcp [scrubbed]: connect\n");
}

static void test_unsafe_logging(void **state)
{
	(void)state;
	char buf[8192];
	sf_log_setup(pipe_fds[1], false);
	time_t before = time(NULL);
	sf_logf("client %s and [%s]:%d", "192.0.2.7", "2001:db8::1", 443);
	time_t after = time(NULL);
	drain(buf, sizeof buf);
	check_stamp(buf, before, after);
	assert_string_equal(buf + STAMP_LEN + 1, "client 192.0.2.7 and [2001:db8::1]:443\n");

	sf_log_setup(pipe_fds[1], true);
	sf_logf("client %s and [%s]:%d", "192.0.2.7", "2001:db8::1", 443);
	drain(buf, sizeof buf);
	assert_string_equal(buf + STAMP_LEN + 1, "client [scrubbed] and [scrubbed]\n");
}

/* Go's log adds "\n" only when missing; a multi-line message is one entry, scrubbed as a whole. */
static void test_newlines(void **state)
{
	(void)state;
	char buf[8192];
	sf_log_setup(pipe_fds[1], true);

	sf_logf("snowflake-server %s\n", "2.11.0");
	drain(buf, sizeof buf);
	assert_string_equal(buf + STAMP_LEN + 1, "snowflake-server 2.11.0\n");

	sf_logf("a 1.2.3.4\nb [::1]:80\nc");
	drain(buf, sizeof buf);
	assert_string_equal(buf + STAMP_LEN + 1, "a [scrubbed]\nb [scrubbed]\nc\n");

	sf_logf("%s", "");
	size_t n = drain(buf, sizeof buf);
	assert_int_equal(n, STAMP_LEN + 2);
	assert_string_equal(buf + STAMP_LEN, " \n");
}

/* A cut message must not leave the head of an address behind for the scrubber to miss. */
static void test_long_message_cut(void **state)
{
	(void)state;
	static char msg[6000], buf[32768];
	sf_log_setup(pipe_fds[1], true);

	/* 4090 letters, then an address that straddles the 4095-byte limit. */
	memset(msg, 'x', 4090);
	strcpy(msg + 4090, " 192.168.100.200 tail");
	sf_logf("%s", msg);
	size_t n = drain(buf, sizeof buf);
	assert_true(n > 4090);
	assert_null(strstr(buf, "192"));
	assert_null(strstr(buf, "tail"));
	assert_int_equal(buf[n - 1], '\n');
	assert_int_equal(n, STAMP_LEN + 1 + 4091 + 1);	/* the letters, the space, "\n" */

	/* Unscrubbed, the cut is still at most 4 KiB of message. */
	sf_log_setup(pipe_fds[1], false);
	memset(msg, 'y', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	sf_logf("%s", msg);
	n = drain(buf, sizeof buf);
	assert_int_equal(n, STAMP_LEN + 1 + 4095 + 1);
}

/* Scrubbed output can be 5x the input; the logger must not cut it. */
static void test_expansion_not_cut(void **state)
{
	(void)state;
	static char msg[4096], want[32768], buf[32768];
	sf_log_setup(pipe_fds[1], true);
	size_t m = 0, w = 0;
	for (int i = 0; i < 1000; i++) {
		memcpy(msg + m, "(::)", 4);
		m += 4;
		memcpy(want + w, "([scrubbed])", 12);
		w += 12;
	}
	msg[m] = '\0';
	want[w++] = '\n';
	want[w] = '\0';
	sf_logf("%s", msg);
	drain(buf, sizeof buf);
	assert_string_equal(buf + STAMP_LEN + 1, want);
}

static void read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t r = read(fd, buf, cap - 1);
	assert_true(r >= 0);
	buf[r] = '\0';
	close(fd);
}

static void test_log_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/sf_test_log_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], buf[4096];
	snprintf(path, sizeof path, "%s/server.log", dir);
	mode_t old_umask = umask(022);

	int fd = sf_log_open_file(path);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND), O_WRONLY | O_APPEND);
	sf_log_setup(fd, true);
	sf_logf("first %s", "10.1.2.3:5");
	sf_log_setup(2, true);
	close(fd);

	/* Reopening appends after what is there. */
	fd = sf_log_open_file(path);
	assert_true(fd >= 0);
	sf_log_setup(fd, false);
	sf_logf("second %s", "10.1.2.3:5");
	sf_log_setup(2, true);
	close(fd);

	read_file(path, buf, sizeof buf);
	size_t first_len = STAMP_LEN + 1 + strlen("first [scrubbed]\n");
	assert_int_equal(strlen(buf), first_len + STAMP_LEN + 1 + strlen("second 10.1.2.3:5\n"));
	assert_memory_equal(buf + STAMP_LEN + 1, "first [scrubbed]\n", first_len - STAMP_LEN - 1);
	assert_string_equal(buf + first_len + STAMP_LEN + 1, "second 10.1.2.3:5\n");

	/* An existing file keeps its mode and content. */
	assert_int_equal(chmod(path, 0640), 0);
	fd = sf_log_open_file(path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal((size_t)st.st_size, strlen(buf));
	close(fd);

	/* Failure: -1 and errno. */
	char missing[300];
	snprintf(missing, sizeof missing, "%s/no/such/dir.log", dir);
	errno = 0;
	assert_int_equal(sf_log_open_file(missing), -1);
	assert_int_equal(errno, ENOENT);

	umask(old_umask);
	unlink(path);
	rmdir(dir);
}

/* sf_log_reopen() while threads log: logrotate moves the file away, SIGHUP makes the server
 * reopen the path. Every entry must land whole in exactly one of the files, none lost, and each
 * thread's entries must keep their order across the files. Which file gets how many lines
 * depends on scheduling; that every file gets some does not: each switch waits for REOPEN_GAP
 * more lines counted after the previous one, of which at most one per writer (written, not yet
 * counted) can predate it, and the writers go on until the last file has its share too. */
#define REOPEN_THREADS 4
#define REOPEN_MIN_LINES 2000 /* per writer: the rotations happen while all of them write */
#define REOPEN_GAP 500
#define REOPEN_ROTATIONS 3

static atomic_int reopen_logged;
static atomic_bool reopen_stop;

static void *reopen_writer(void *arg)
{
	int id = (int)(intptr_t)arg;
	int i = 0;
	/* Ends once the main thread has seen its lines (it only waits for lines being written). */
	for (; i < REOPEN_MIN_LINES || !atomic_load(&reopen_stop); i++) {
		sf_logf("writer %d line %d padding-padding-padding-padding", id, i);
		atomic_fetch_add(&reopen_logged, 1);
	}
	return (void *)(intptr_t)i;
}

/* The whole file in a malloc'd, NUL-terminated buffer. */
static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (ssize_t r; n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0;)
		n += (size_t)r;
	close(fd);
	assert_int_equal(n, (size_t)st.st_size);
	buf[n] = '\0';
	return buf;
}

/* Waits until REOPEN_GAP lines were counted after `since` (the writers are running). */
static void wait_for_lines(int since)
{
	while (atomic_load(&reopen_logged) < since + REOPEN_GAP)
		sched_yield();
}

static void test_reopen_while_logging(void **state)
{
	(void)state;
	char dir[] = "/tmp/sf_test_log_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], moved[REOPEN_ROTATIONS + 1][300];
	snprintf(path, sizeof path, "%s/server.log", dir);
	int fd = sf_log_open_file(path);
	assert_true(fd >= 0);
	sf_log_setup(fd, true);
	atomic_store(&reopen_logged, 0);
	atomic_store(&reopen_stop, false);

	pthread_t th[REOPEN_THREADS];
	for (int i = 0; i < REOPEN_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reopen_writer, (void *)(intptr_t)i), 0);
	int prev_fd = fd, since = 0;
	for (int k = 0; k < REOPEN_ROTATIONS; k++) {
		wait_for_lines(since);
		snprintf(moved[k], sizeof moved[k], "%s/server.log.%d", dir, k);
		assert_int_equal(rename(path, moved[k]), 0);
		assert_int_equal(sf_log_reopen(path), 0);
		since = atomic_load(&reopen_logged);
		/* The previous descriptor is closed (nothing else opens files meanwhile). */
		errno = 0;
		assert_int_equal(fcntl(prev_fd, F_GETFD), -1);
		assert_int_equal(errno, EBADF);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		prev_fd = -1;
		for (int f = 3; f < 1024 && prev_fd < 0; f++) {
			struct stat fst;
			if (fstat(f, &fst) == 0 && fst.st_ino == st.st_ino && fst.st_dev == st.st_dev)
				prev_fd = f;
		}
		assert_true(prev_fd >= 0);
	}
	wait_for_lines(since);
	atomic_store(&reopen_stop, true);
	int written[REOPEN_THREADS], total = 0;
	for (int i = 0; i < REOPEN_THREADS; i++) {
		void *ret;
		assert_int_equal(pthread_join(th[i], &ret), 0);
		written[i] = (int)(intptr_t)ret;
		total += written[i];
	}

	/* A failed reopen keeps the current file. */
	char missing[300];
	snprintf(missing, sizeof missing, "%s/no/such/dir.log", dir);
	errno = 0;
	assert_int_equal(sf_log_reopen(missing), -1);
	assert_int_equal(errno, ENOENT);
	sf_logf("after the failed reopen");
	sf_log_setup(2, true);
	close(prev_fd);
	snprintf(moved[REOPEN_ROTATIONS], sizeof moved[0], "%s", path);

	int next[REOPEN_THREADS] = { 0 };
	int seen = 0;
	bool tail_seen = false;
	for (int k = 0; k <= REOPEN_ROTATIONS; k++) {
		char *text = slurp(moved[k]);
		int in_file = 0;
		for (char *line = text, *nl; *line; line = nl + 1) {
			nl = strchr(line, '\n');
			assert_non_null(nl); /* every entry is whole */
			*nl = '\0';
			assert_true(strlen(line) > STAMP_LEN + 1);
			const char *msg = line + STAMP_LEN + 1;
			int id, n, used = 0;
			if (strcmp(msg, "after the failed reopen") == 0) {
				assert_int_equal(k, REOPEN_ROTATIONS);
				tail_seen = true;
				continue;
			}
			assert_int_equal(sscanf(msg, "writer %d line %d padding-padding-padding-padding%n",
						&id, &n, &used), 2);
			assert_int_equal((size_t)used, strlen(msg));
			assert_true(id >= 0 && id < REOPEN_THREADS);
			assert_int_equal(n, next[id]); /* in order, no loss, no duplicate */
			next[id]++;
			seen++;
			in_file++;
		}
		assert_true(in_file >= REOPEN_GAP - REOPEN_THREADS);
		free(text);
		unlink(moved[k]);
	}
	for (int i = 0; i < REOPEN_THREADS; i++)
		assert_int_equal(next[i], written[i]);
	assert_int_equal(seen, total);
	assert_true(tail_seen);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format_and_defaults, open_pipe, close_pipe),
		cmocka_unit_test_setup_teardown(test_unsafe_logging, open_pipe, close_pipe),
		cmocka_unit_test_setup_teardown(test_newlines, open_pipe, close_pipe),
		cmocka_unit_test_setup_teardown(test_long_message_cut, open_pipe, close_pipe),
		cmocka_unit_test_setup_teardown(test_expansion_not_cut, open_pipe, close_pipe),
		cmocka_unit_test(test_log_file),
		cmocka_unit_test(test_reopen_while_logging),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
