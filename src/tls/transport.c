/* sf_conn transport over an established, non-blocking SSL*. Every call starts from an empty
 * OpenSSL error queue and leaves one behind: the queue is per thread, the SSL* is not. */
#include "tls/internal.h"

#include <errno.h>
#include <string.h>

#include <openssl/err.h>

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

/* One SSL_read_ex. Returns the byte count, or the sf_conn outcome with *hard set for EOF/errors. */
static ssize_t read_once(SSL *ssl, uint8_t *buf, size_t len, bool *soft)
{
	size_t n = 0;
	ERR_clear_error();
	errno = 0;
	int r = SSL_read_ex(ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	ssize_t rc = outcome(ssl, r, true);
	*soft = rc == SF_CONN_WANT_READ || rc == SF_CONN_WANT_WRITE;
	return rc;
}

/* Decrypts as many records as fit in buf: OpenSSL's read-ahead has pulled up to its buffer's worth
 * from the socket with one recv(2). */
static ssize_t tls_read(void *ctx, int fd, void *buf, size_t len)
{
	(void)fd;
	SSL *ssl = ctx;
	struct sf_tls_io *io = sf_tls_io_of(ssl);
	if (io && io->deferred) {
		io->deferred = false;
		errno = io->deferred_errno;
		return io->deferred_rc;
	}
	size_t got = 0;
	while (got < len) {
		bool soft = false;
		ssize_t n = read_once(ssl, (uint8_t *)buf + got, len - got, &soft);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (io)
			io->maybe_more = false;
		if (got == 0)
			return n;
		if (!soft && io) {
			/* EOF or an error after data: the data first, the end on the next read */
			io->deferred = true;
			io->deferred_rc = n;
			io->deferred_errno = errno;
			io->maybe_more = true;
		}
		return (ssize_t)got;
	}
	if (io)
		io->maybe_more = true;	/* stopped for room: more may be buffered */
	return (ssize_t)got;
}

/* The next record's plaintext from the front of iov (skipping off bytes): a direct pointer when
 * one iovec holds a whole record, else a copy into buf of up to SF_TLS_REC_MAX_PLAIN bytes (small
 * evbuffer chunks are coalesced so that each record is full). */
static size_t next_record(const struct iovec *iov, int iovcnt, size_t off, uint8_t *buf,
			  const uint8_t **p)
{
	int i = 0;
	while (i < iovcnt && off >= iov[i].iov_len)
		off -= iov[i++].iov_len;
	if (i == iovcnt)
		return 0;
	if (iov[i].iov_len - off >= SF_TLS_REC_MAX_PLAIN || i == iovcnt - 1) {
		size_t len = iov[i].iov_len - off;
		*p = (const uint8_t *)iov[i].iov_base + off;
		return len < SF_TLS_REC_MAX_PLAIN ? len : SF_TLS_REC_MAX_PLAIN;
	}
	size_t len = 0;
	for (; i < iovcnt && len < SF_TLS_REC_MAX_PLAIN; i++, off = 0) {
		size_t take = iov[i].iov_len - off;
		if (take > SF_TLS_REC_MAX_PLAIN - len)
			take = SF_TLS_REC_MAX_PLAIN - len;
		memcpy(buf + len, (const uint8_t *)iov[i].iov_base + off, take);
		len += take;
	}
	*p = buf;
	return len;
}

/* Seals up to SF_TLS_WRITE_BUDGET bytes of iov into full records and sends them all with one
 * send(2). Returns the plaintext taken (all of it is the connection's now: what the socket refused
 * waits in its queue), or SF_CONN_WANT_WRITE while that queue cannot drain, or -1. */
static ssize_t tls_writev(void *ctx, int fd, const struct iovec *iov, int iovcnt)
{
	(void)fd;
	SSL *ssl = ctx;
	struct sf_tls_io *io = sf_tls_io_of(ssl);
	if (!io) {
		errno = EINVAL;
		return -1;
	}
	ssize_t rc = sf_tls_io_flush(io);
	if (rc != 0)
		return rc;
	uint8_t record[SF_TLS_REC_MAX_PLAIN];
	size_t done = 0;
	ssize_t stop = 0;
	sf_tls_io_cork(io);
	while (done < SF_TLS_WRITE_BUDGET &&
	       io->cork_cap - io->cork_len >= SF_TLS_REC_MAX_PLAIN + SF_TLS_RECORD_SLACK) {
		const uint8_t *p = NULL;
		size_t len = next_record(iov, iovcnt, done, record, &p);
		if (len == 0)
			break;
		size_t n = 0;
		ERR_clear_error();
		errno = 0;
		int r = SSL_write_ex(ssl, p, len, &n);
		if (r != 1) {
			stop = outcome(ssl, r, false);
			break;
		}
		done += n;
	}
	int saved = errno;
	if (sf_tls_io_uncork(io) < 0)
		return -1;
	errno = saved;
	return done > 0 ? (ssize_t)done : stop;
}

static size_t tls_pending(void *ctx)
{
	int n = SSL_pending(ctx);
	if (n > 0)
		return (size_t)n;
	struct sf_tls_io *io = sf_tls_io_of(ctx);
	return io && (io->deferred || (io->maybe_more && SSL_has_pending(ctx))) ? 1 : 0;
}

static size_t tls_unsent(void *ctx)
{
	struct sf_tls_io *io = sf_tls_io_of(ctx);
	return io ? sf_tls_io_unsent(io) : 0;
}

static ssize_t tls_flush(void *ctx, int fd)
{
	(void)fd;
	struct sf_tls_io *io = sf_tls_io_of(ctx);
	return io ? sf_tls_io_flush(io) : 0;
}

static void tls_free(void *ctx)
{
	SSL_free(ctx);
}

const struct sf_conn_transport sf_tls_transport = {
	.read = tls_read,
	.writev = tls_writev,
	.pending = tls_pending,
	.unsent = tls_unsent,
	.flush = tls_flush,
	.free = tls_free,
};
