/* sf_conn transport over an established, non-blocking SSL*. Every call starts from an empty
 * OpenSSL error queue and leaves one behind: the queue is per thread, the SSL* is not. */
#include "tls/internal.h"

#include <errno.h>
#include <string.h>

#include <openssl/err.h>

/* One TLS record's worth: small evbuffer chunks are coalesced so that each write makes a full
 * record rather than one record per chunk. */
#define COALESCE_MAX 16384

static ssize_t outcome(SSL *ssl, int r, bool reading)
{
	int saved = errno;
	int e = SSL_get_error(ssl, r);
	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return SF_CONN_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return SF_CONN_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:	/* close_notify, or EOF on a record boundary */
		if (reading)
			return 0;
		errno = EPIPE;
		return -1;
	case SSL_ERROR_SYSCALL:
		if (saved == 0 && reading)
			return 0;
		errno = saved ? saved : EPIPE;
		return -1;
	default:
		errno = EPROTO;
		return -1;
	}
}

static ssize_t tls_read(void *ctx, int fd, void *buf, size_t len)
{
	(void)fd;
	SSL *ssl = ctx;
	size_t n = 0;
	ERR_clear_error();
	errno = 0;
	int r = SSL_read_ex(ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	return outcome(ssl, r, true);
}

/* The same greedy prefix of the iovecs each time, so that a write retried after WANT_WRITE
 * starts with the same bytes and is at least as long, as OpenSSL requires. */
static ssize_t tls_writev(void *ctx, int fd, const struct iovec *iov, int iovcnt)
{
	(void)fd;
	SSL *ssl = ctx;
	uint8_t buf[COALESCE_MAX];
	const void *p;
	size_t len;
	if (iovcnt <= 0)
		return 0;
	if (iovcnt == 1 || iov[0].iov_len >= COALESCE_MAX) {
		p = iov[0].iov_base;
		len = iov[0].iov_len;
	} else {
		len = 0;
		for (int i = 0; i < iovcnt && len < COALESCE_MAX; i++) {
			size_t take = iov[i].iov_len;
			if (take > COALESCE_MAX - len)
				take = COALESCE_MAX - len;
			memcpy(buf + len, iov[i].iov_base, take);
			len += take;
		}
		p = buf;
	}
	if (len == 0)
		return 0;
	size_t n = 0;
	ERR_clear_error();
	errno = 0;
	int r = SSL_write_ex(ssl, p, len, &n);
	if (r == 1)
		return (ssize_t)n;
	return outcome(ssl, r, false);
}

static size_t tls_pending(void *ctx)
{
	int n = SSL_pending(ctx);
	return n > 0 ? (size_t)n : 0;
}

static void tls_free(void *ctx)
{
	SSL_free(ctx);
}

const struct sf_conn_transport sf_tls_transport = {
	.read = tls_read,
	.writev = tls_writev,
	.pending = tls_pending,
	.free = tls_free,
};
