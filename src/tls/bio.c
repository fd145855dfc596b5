/* The socket BIO under every SSL* of the server.
 *
 * OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE on a reset connection; this
 * one uses send(MSG_NOSIGNAL) like sf_conn_plain, and leaves the fd to its owner.
 *
 * It can also be corked (see internal.h): records sealed meanwhile are appended to a buffer the
 * caller lends, and sf_tls_io_uncork() sends them all with one send(2). What the socket refuses is
 * kept in a per-connection queue (allocated only then, freed once empty) that goes out before
 * anything else. Reads are left to OpenSSL's read-ahead, which fills its record buffer with one
 * large recv(2). */
#include "tls/internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/conn.h"

static BIO_METHOD *method;
static int method_type;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

static struct sf_tls_io *io_of(BIO *b)
{
	return BIO_get_data(b);
}

/* Appends to the unsent queue. Returns false on allocation failure. */
static bool queue(struct sf_tls_io *io, const uint8_t *p, size_t len)
{
	if (io->unsent_off > 0 && io->unsent_off == io->unsent_len)
		io->unsent_off = io->unsent_len = 0;
	size_t need = io->unsent_len + len;
	if (need > io->unsent_cap) {
		if (io->unsent_off > 0) {	/* compact first: the head is already sent */
			memmove(io->unsent, io->unsent + io->unsent_off, io->unsent_len - io->unsent_off);
			io->unsent_len -= io->unsent_off;
			io->unsent_off = 0;
			need = io->unsent_len + len;
		}
		if (need > io->unsent_cap) {
			uint8_t *q = realloc(io->unsent, need);
			if (!q)
				return false;
			io->unsent = q;
			io->unsent_cap = need;
		}
	}
	memcpy(io->unsent + io->unsent_len, p, len);
	io->unsent_len += len;
	return true;
}

static void drop_queue(struct sf_tls_io *io)
{
	free(io->unsent);
	io->unsent = NULL;
	io->unsent_off = io->unsent_len = io->unsent_cap = 0;
}

static int bio_write(BIO *b, const char *p, int len)
{
	struct sf_tls_io *io = io_of(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (io->cork) {
		if ((size_t)len > io->cork_cap - io->cork_len) {
			/* never reached: the transport leaves room for a whole record */
			BIO_set_retry_write(b);
			return -1;
		}
		memcpy(io->cork + io->cork_len, p, (size_t)len);
		io->cork_len += (size_t)len;
		return len;
	}
	if (sf_tls_io_unsent(io) > 0) {
		/* behind bytes already accepted: keep the order */
		if (!queue(io, (const uint8_t *)p, (size_t)len)) {
			errno = ENOMEM;
			return -1;
		}
		return len;
	}
	io->sends++;
	ssize_t n = send(io->fd, p, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && would_block())
		BIO_set_retry_write(b);
	return (int)n;
}

static int bio_read(BIO *b, char *p, int len)
{
	BIO_clear_retry_flags(b);
	struct sf_tls_io *io = io_of(b);
	io->recvs++;
	ssize_t n = recv(io->fd, p, (size_t)len, 0);
	if (n < 0 && would_block())
		BIO_set_retry_read(b);
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	/* The record layer flushes after each flight; nothing is buffered that a flush would send
	 * (a corked BIO is uncorked by its owner, the queue goes out through sf_conn). */
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int bio_destroy(BIO *b)
{
	sf_tls_io_free(io_of(b));
	BIO_set_data(b, NULL);
	return 1;
}

static void make_method(void)
{
	int type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
	BIO_METHOD *m = BIO_meth_new(type, "sf socket");
	if (!m)
		return;
	if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
	    !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create) ||
	    !BIO_meth_set_destroy(m, bio_destroy)) {
		BIO_meth_free(m);
		return;
	}
	method = m;
	method_type = type;
}

struct sf_tls_io *sf_tls_io_new(int fd)
{
	struct sf_tls_io *io = calloc(1, sizeof *io);
	if (io)
		io->fd = fd;
	return io;
}

BIO *sf_tls_bio_new(int fd)
{
	pthread_once(&method_once, make_method);
	struct sf_tls_io *io = method ? sf_tls_io_new(fd) : NULL;
	if (!io)
		return NULL;
	io->maybe_more = true;	/* read-ahead may have taken data past the handshake */
	BIO *b = BIO_new(method);
	if (!b) {
		free(io);
		return NULL;
	}
	BIO_set_data(b, io);
	return b;
}

struct sf_tls_io *sf_tls_io_of(SSL *ssl)
{
	BIO *b = SSL_get_wbio(ssl);
	return b && method && BIO_method_type(b) == method_type ? io_of(b) : NULL;
}

struct sf_tls_io *sf_tls_io_take(SSL *ssl)
{
	struct sf_tls_io *io = sf_tls_io_of(ssl);
	if (io)
		BIO_set_data(SSL_get_wbio(ssl), NULL);
	return io;
}

void sf_tls_io_free(struct sf_tls_io *io)
{
	if (!io)
		return;
	drop_queue(io);
	free(io);
}

size_t sf_tls_io_unsent(const struct sf_tls_io *io)
{
	return io->unsent_len - io->unsent_off;
}

static _Thread_local uint8_t cork_buf[SF_TLS_CORK_CAP];

uint8_t *sf_tls_io_cork(struct sf_tls_io *io)
{
	io->cork = cork_buf;
	io->cork_cap = sizeof cork_buf;
	io->cork_len = 0;
	return cork_buf;
}

/* Sends p with one send(2); what is refused is queued. Returns 0, or -1 with errno set. */
static int send_or_queue(struct sf_tls_io *io, const uint8_t *p, size_t len)
{
	io->sends++;
	ssize_t n = send(io->fd, p, len, MSG_NOSIGNAL);
	if (n < 0 && !would_block())
		return -1;
	size_t sent = n > 0 ? (size_t)n : 0;
	if (sent < len && !queue(io, p + sent, len - sent)) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int sf_tls_io_uncork(struct sf_tls_io *io)
{
	uint8_t *buf = io->cork;
	size_t len = io->cork_len;
	io->cork = NULL;
	io->cork_cap = io->cork_len = 0;
	if (len == 0)
		return 0;
	if (sf_tls_io_unsent(io) > 0)
		return queue(io, buf, len) ? 0 : (errno = ENOMEM, -1);
	return send_or_queue(io, buf, len);
}

int sf_tls_io_uncork_sealed(struct sf_tls_io *io, size_t len)
{
	io->cork_len = len;
	return sf_tls_io_uncork(io);
}

void sf_tls_io_uncork_drop(struct sf_tls_io *io)
{
	io->cork = NULL;
	io->cork_cap = io->cork_len = 0;
}

ssize_t sf_tls_io_flush(struct sf_tls_io *io)
{
	while (sf_tls_io_unsent(io) > 0) {
		io->sends++;
		ssize_t n = send(io->fd, io->unsent + io->unsent_off, sf_tls_io_unsent(io), MSG_NOSIGNAL);
		if (n < 0 && would_block())
			return SF_CONN_WANT_WRITE;
		if (n < 0)
			return -1;
		io->unsent_off += (size_t)n;
	}
	drop_queue(io);	/* idle connections keep no buffer */
	return 0;
}
