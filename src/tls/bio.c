/* OpenSSL's socket BIO writes with write(2), which raises SIGPIPE on a reset connection; this one
 * uses send(MSG_NOSIGNAL) like sf_conn_plain, and leaves the fd to its owner. */
#include "tls/internal.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

static int bio_fd(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int bio_write(BIO *b, const char *p, int len)
{
	BIO_clear_retry_flags(b);
	ssize_t n = send(bio_fd(b), p, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && would_block())
		BIO_set_retry_write(b);
	return (int)n;
}

static int bio_read(BIO *b, char *p, int len)
{
	BIO_clear_retry_flags(b);
	ssize_t n = recv(bio_fd(b), p, (size_t)len, 0);
	if (n < 0 && would_block())
		BIO_set_retry_read(b);
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	/* The record layer flushes after each flight; nothing is buffered here. */
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void make_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sf socket");
	if (!m)
		return;
	if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
	    !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
		BIO_meth_free(m);
		return;
	}
	method = m;
}

BIO *sf_tls_bio_new(int fd)
{
	pthread_once(&method_once, make_method);
	if (!method)
		return NULL;
	BIO *b = BIO_new(method);
	if (b)
		BIO_set_data(b, (void *)(intptr_t)fd);
	return b;
}
