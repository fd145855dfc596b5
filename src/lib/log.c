#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_MAX 4096
#define LOG_STAMP_MAX 32
#define LOG_LINE_MAX (LOG_STAMP_MAX + LOG_MSG_MAX + 1)
/* Each address of at least 2 bytes becomes 10: scrubbed text never exceeds 5 times its input. */
#define LOG_SCRUBBED_MAX (5 * LOG_LINE_MAX + 1)

static int log_fd = 2;
static bool log_scrub = true;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Buffers are static (and used under log_lock) to keep 25 KiB off every caller's stack. */
static char log_msg[LOG_MSG_MAX];
static char log_line[LOG_LINE_MAX];
static char log_scrubbed[LOG_SCRUBBED_MAX];

void sf_log_setup(int fd, bool scrub)
{
	pthread_mutex_lock(&log_lock);
	log_fd = fd;
	log_scrub = scrub;
	pthread_mutex_unlock(&log_lock);
}

int sf_log_open_file(const char *path)
{
	return open(path, O_CREAT | O_APPEND | O_WRONLY | O_CLOEXEC, 0600);
}

int sf_log_reopen(const char *path)
{
	/* open() outside the lock: a slow file system must not stall the shards' log lines. */
	int fd = sf_log_open_file(path);
	if (fd < 0)
		return -1;
	/* Every write reads log_fd under log_lock, so once the swap is made under it no thread
	 * can still be writing to the old descriptor: closing it here cannot cut an entry. */
	pthread_mutex_lock(&log_lock);
	int old = log_fd;
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
	if (old > STDERR_FILENO)
		close(old);
	return 0;
}

static bool may_be_in_address(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       c == '.' || c == ':' || c == '%' || c == '[' || c == ']';
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

void sf_logf(const char *fmt, ...)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);

	pthread_mutex_lock(&log_lock);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(log_msg, sizeof log_msg, fmt, ap);
	va_end(ap);
	if (n < 0) {
		pthread_mutex_unlock(&log_lock);
		return;
	}
	size_t len = strlen(log_msg);
	if ((size_t)n >= sizeof log_msg)
		while (len > 0 && may_be_in_address(log_msg[len - 1]))
			len--;

	size_t off = strftime(log_line, LOG_STAMP_MAX, "%Y/%m/%d %H:%M:%S ", &tm);
	memcpy(log_line + off, log_msg, len);
	off += len;
	if (len == 0 || log_msg[len - 1] != '\n')
		log_line[off++] = '\n';

	if (log_scrub)
		write_all(log_fd, log_scrubbed, sf_scrub(log_line, off, log_scrubbed, sizeof log_scrubbed));
	else
		write_all(log_fd, log_line, off);
	pthread_mutex_unlock(&log_lock);
}
