/* Process-wide logger: Go-style UTC timestamps, one line per call, IP addresses scrubbed as
 * upstream's safelog does unless unsafe logging was asked for. Safe to call from any thread. */
#ifndef SF_LIB_LOG_H
#define SF_LIB_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Where log lines go (default: fd 2) and whether addresses are scrubbed (default: yes). */
void sf_log_setup(int fd, bool scrub);

/* Writes "YYYY/MM/DD HH:MM:SS <message>\n" (UTC). A message longer than 4 KiB is cut. */
void sf_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Replaces every IPv4/IPv6 address (with optional port) in text[0..len) by "[scrubbed]", exactly
 * like upstream's safelog. Writes at most cap-1 bytes plus NUL to out; returns the length written. */
size_t sf_scrub(const char *text, size_t len, char *out, size_t cap);

#endif
