#include "tor/cookie.h"

#include "tor/errtext.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char cookie_header[] = "! Extended ORPort Auth Cookie !\n"; /* 32 bytes, no NUL */
_Static_assert(sizeof cookie_header == 33, "the header is 32 bytes");

static int fail_errno(char *err, size_t errlen, const char *op, const char *path, int errnum)
{
	char reason[128];
	sf_tor_errno_text(errnum, reason, sizeof reason);
	snprintf(err, errlen, "%s %s: %s", op, path, reason);
	return -1;
}

int sf_tor_cookie_read(const char *path, uint8_t cookie[SF_TOR_COOKIE_LEN], char *err, size_t errlen)
{
	uint8_t buf[65]; /* one more than allowed, to notice a longer file */
	size_t got = 0;
	int read_errno = 0;

	/* O_NONBLOCK: a FIFO without writer reads as empty instead of blocking the loop. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fail_errno(err, errlen, "open", path, errno);
	while (got < sizeof buf) {
		ssize_t n = read(fd, buf + got, sizeof buf - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			read_errno = errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);

	int rc = -1;
	if (read_errno && got < 64)
		fail_errno(err, errlen, "read", path, read_errno);
	else if (got == 0)
		snprintf(err, errlen, "EOF");
	else if (got < 64)
		snprintf(err, errlen, "unexpected EOF");
	else if (got > 64)
		snprintf(err, errlen, "file is longer than 64 bytes");
	else if (read_errno)
		snprintf(err, errlen, "did not find EOF at end of file");
	else if (CRYPTO_memcmp(buf, cookie_header, sizeof cookie_header - 1) != 0)
		snprintf(err, errlen, "missing auth cookie header");
	else {
		memcpy(cookie, buf + 32, SF_TOR_COOKIE_LEN);
		rc = 0;
	}
	OPENSSL_cleanse(buf, sizeof buf);
	return rc;
}

/* Go's %q, enough for file names. */
static void go_quote(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	if (cap < 3)
		return;
	out[n++] = '"';
	for (; *s && n + 6 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n++] = '"';
	out[n] = '\0';
}

/* goptlib's wording around the reader's error. */
static void file_error(const char *path, const char *why, char *err, size_t errlen)
{
	char quoted[512];
	go_quote(path, quoted, sizeof quoted);
	snprintf(err, errlen, "error reading TOR_PT_AUTH_COOKIE_FILE %s: %s", quoted, why);
}

int sf_tor_cookie_load(struct sf_tor_cookie *c, const char *path, uint64_t now_ms, char *err,
		       size_t errlen)
{
	char why[256];
	memset(c, 0, sizeof *c);
	if (sf_tor_cookie_read(path, c->secret, why, sizeof why) < 0) {
		file_error(path, why, err, errlen);
		return -1;
	}
	c->path = strdup(path);
	if (!c->path || pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c->path);
		c->path = NULL;
		OPENSSL_cleanse(c->secret, sizeof c->secret);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->last_read_ms = now_ms;
	return 0;
}

void sf_tor_cookie_get(struct sf_tor_cookie *c, uint8_t out[SF_TOR_COOKIE_LEN], uint64_t *generation)
{
	pthread_mutex_lock(&c->lock);
	memcpy(out, c->secret, SF_TOR_COOKIE_LEN);
	*generation = c->generation;
	pthread_mutex_unlock(&c->lock);
}

enum sf_tor_cookie_reload sf_tor_cookie_reload(struct sf_tor_cookie *c, uint64_t generation,
					       uint64_t now_ms, char *err, size_t errlen)
{
	pthread_mutex_lock(&c->lock);
	if (c->generation != generation) {
		pthread_mutex_unlock(&c->lock);
		return SF_TOR_COOKIE_CHANGED;
	}
	if (now_ms < c->last_read_ms + SF_TOR_COOKIE_RELOAD_MIN_MS) {
		pthread_mutex_unlock(&c->lock);
		return SF_TOR_COOKIE_TOO_SOON;
	}
	c->last_read_ms = now_ms; /* claimed: no other thread reads it this second */
	c->reloads++;
	pthread_mutex_unlock(&c->lock);

	/* Synchronous, on the calling shard's loop: 64 bytes of a local file, at most once a second
	 * per ExtORPort for the whole process (whatever clients do), and only after tor refused
	 * our cookie. Not worth a thread hop. The file is opened O_NONBLOCK (sf_tor_cookie_read). */
	uint8_t fresh[SF_TOR_COOKIE_LEN];
	char why[256];
	enum sf_tor_cookie_reload rc;
	if (sf_tor_cookie_read(c->path, fresh, why, sizeof why) < 0) {
		file_error(c->path, why, err, errlen);
		rc = SF_TOR_COOKIE_UNREADABLE;
	} else {
		pthread_mutex_lock(&c->lock);
		if (CRYPTO_memcmp(fresh, c->secret, sizeof fresh) == 0) {
			rc = c->generation == generation ? SF_TOR_COOKIE_SAME : SF_TOR_COOKIE_CHANGED;
		} else {
			memcpy(c->secret, fresh, sizeof fresh);
			c->generation++;
			rc = SF_TOR_COOKIE_CHANGED;
		}
		pthread_mutex_unlock(&c->lock);
	}
	OPENSSL_cleanse(fresh, sizeof fresh);
	return rc;
}

void sf_tor_cookie_free(struct sf_tor_cookie *c)
{
	if (!c->path)
		return;
	pthread_mutex_destroy(&c->lock);
	OPENSSL_cleanse(c->secret, sizeof c->secret);
	free(c->path);
	c->path = NULL;
}
