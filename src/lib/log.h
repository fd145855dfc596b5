/* Process-wide logger: Go-style UTC timestamps, one entry per call, IP addresses scrubbed as
 * upstream's safelog does unless unsafe logging was asked for. Safe to call from any thread. */
#ifndef SF_LIB_LOG_H
#define SF_LIB_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Where log lines go (default: fd 2) and whether addresses are scrubbed (default: yes). */
void sf_log_setup(int fd, bool scrub);

/* Opens a log file as upstream's --log does: O_CREAT|O_APPEND|O_WRONLY|O_CLOEXEC, mode 0600
 * (before umask). Returns the fd, or -1 with errno set. */
int sf_log_open_file(const char *path);

/* For logrotate (SIGHUP): opens path again as sf_log_open_file() does and makes it the log's
 * destination, then closes the previous descriptor (unless it was 0, 1 or 2). Safe while other
 * threads log: no entry is lost or split between the two files. On failure (-1, errno set) the
 * old destination stays in use. */
int sf_log_reopen(const char *path);

/* Writes "YYYY/MM/DD HH:MM:SS <message>\n" (UTC) with one write() call (repeated only if it
 * was partial). As in Go's log, the newline is not doubled when the message ends with one. The
 * whole entry, timestamp included, is scrubbed as one text, as safelog does. A message longer
 * than 4 KiB is cut, and the address-like characters just before the cut are dropped too, so
 * that no half address slips past the scrubber. */
void sf_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Replaces every IPv4/IPv6 address (with optional port) in text[0..len) by "[scrubbed]", exactly
 * like upstream's safelog.Scrub. Writes at most cap-1 bytes plus NUL to out (output beyond that
 * is cut; out may need up to 5 * len + 1 bytes); returns the length written. */
size_t sf_scrub(const char *text, size_t len, char *out, size_t cap);

#endif
