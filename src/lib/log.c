#include "lib/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static int log_fd = 2;
static bool log_scrub = true;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void sf_log_setup(int fd, bool scrub)
{
	pthread_mutex_lock(&log_lock);
	log_fd = fd;
	log_scrub = scrub;
	pthread_mutex_unlock(&log_lock);
}

void sf_logf(const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = strlen(msg);

	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	size_t off = strftime(line, sizeof line, "%Y/%m/%d %H:%M:%S ", &tm);

	pthread_mutex_lock(&log_lock);
	if (log_scrub)
		off += sf_scrub(msg, len, line + off, sizeof line - off - 1);
	else {
		memcpy(line + off, msg, len);
		off += len;
	}
	line[off++] = '\n';
	ssize_t w = write(log_fd, line, off);
	(void)w;
	pthread_mutex_unlock(&log_lock);
}
