#include "tor/cookie.h"

#include "tor/errtext.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
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
