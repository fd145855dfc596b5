/* The server handshake on an event loop: wait for the first bytes, answer plaintext HTTP the way
 * Go does, then step SSL_do_handshake() whenever the socket (or, while a certificate is being
 * obtained, the wake-up eventfd) says it can progress, under one deadline. */
#include "tls/internal.h"

#include "lib/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#define HTTP_ANSWER "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
#define HTTP_REASON "client sent an HTTP request to an HTTPS server"
#define ACME_REASON "tls: acme-tls/1 challenge answered"
#define DRAIN_MAX 65536	/* request bytes read before answering, so close() sends no RST */

struct sf_tls_handshake {
	struct sf_tls_ctx *ctx;
	struct event_base *base;
	int fd;
	SSL *ssl;
	struct event *ev_read, *ev_write, *ev_timer, *ev_wake;
	bool sniffed;
	sf_tls_done_fn done;
	void *arg;
	struct sf_tls_hs_state st;
};

static void release(struct sf_tls_handshake *hs, bool keep_connection)
{
	struct event *evs[] = { hs->ev_read, hs->ev_write, hs->ev_timer, hs->ev_wake };
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i])
			event_free(evs[i]);
	sf_tls_wait_done(hs->ctx, &hs->st.waiter);
	if (hs->ssl)
		SSL_set_ex_data(hs->ssl, sf_tls_hs_index(), NULL);
	if (!keep_connection) {
		SSL_free(hs->ssl);
		if (hs->fd >= 0)
			close(hs->fd);
	}
	free(hs);
}

static void peer_string(int fd, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char ip[INET6_ADDRSTRLEN] = "";
	snprintf(out, cap, "unknown");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
		snprintf(out, cap, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, sizeof ip);
			snprintf(out, cap, "%s:%u", ip, ntohs(sin6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
			snprintf(out, cap, "[%s]:%u", ip, ntohs(sin6->sin6_port));
		}
	}
}

static void fail(struct sf_tls_handshake *hs, const char *reason, bool log)
{
	if (log && !hs->ctx->quiet) {
		char peer[INET6_ADDRSTRLEN + 16];
		peer_string(hs->fd, peer, sizeof peer);
		sf_logf("http: TLS handshake error from %s: %s", peer, reason);
	}
	sf_tls_done_fn done = hs->done;
	void *arg = hs->arg;
	char copy[sizeof hs->st.reason];
	snprintf(copy, sizeof copy, "%s", reason);
	release(hs, false);
	done(arg, NULL, -1, copy);
}

static void succeed(struct sf_tls_handshake *hs)
{
	if (hs->st.acme) {
		/* RFC 8737: the validator only looks at the certificate and closes; nothing is
		 * served on this connection. */
		SSL_shutdown(hs->ssl);
		ERR_clear_error();
		fail(hs, ACME_REASON, false);
		return;
	}
	sf_tls_done_fn done = hs->done;
	void *arg = hs->arg;
	SSL *ssl = hs->ssl;
	int fd = hs->fd;
	release(hs, true);
	done(arg, ssl, fd, NULL);
}

/* Go's answer to a plaintext request. Best effort: the socket is closed right after. */
static void answer_http(struct sf_tls_handshake *hs)
{
	char sink[4096];
	for (size_t drained = 0; drained < DRAIN_MAX;) {
		ssize_t n = recv(hs->fd, sink, sizeof sink, MSG_DONTWAIT);
		if (n <= 0)
			break;
		drained += (size_t)n;
	}
	ssize_t n = send(hs->fd, HTTP_ANSWER, sizeof HTTP_ANSWER - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)n;
	fail(hs, HTTP_REASON, false);
}

/* net/http's tlsRecordHeaderLooksLikeHTTP, on the first 5 bytes. */
static bool looks_like_http(const char *hdr)
{
	static const char *const starts[] = { "GET /", "HEAD ", "POST ", "PUT /", "OPTIO" };
	for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
		if (memcmp(hdr, starts[i], 5) == 0)
			return true;
	return false;
}

/* "read: connection reset by peer", as sf_conn words it. */
static void fail_errno(struct sf_tls_handshake *hs, int e)
{
	char text[96], reason[128];
	const char *op = e == EPIPE ? "write" : "read";
	snprintf(reason, sizeof reason, "%s: %s", op, strerror_r(e, text, sizeof text));
	size_t at = strlen(op) + 2;
	reason[at] = (char)tolower((unsigned char)reason[at]);
	fail(hs, reason, true);
}

static void on_wake(evutil_socket_t fd, short what, void *arg);

static void step(struct sf_tls_handshake *hs)
{
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(hs->ssl);
	if (r == 1) {
		ERR_clear_error();
		succeed(hs);
		return;
	}
	int saved = errno;
	int e = SSL_get_error(hs->ssl, r);
	unsigned long code = ERR_peek_error();
	char reason[sizeof hs->st.reason];
	switch (e) {
	case SSL_ERROR_WANT_READ:
		event_add(hs->ev_read, NULL);
		return;
	case SSL_ERROR_WANT_WRITE:
		event_add(hs->ev_write, NULL);
		return;
	case SSL_ERROR_WANT_CLIENT_HELLO_CB:
		/* Suspended: the ClientHello callback queued us for sf_tls_resume(). */
		ERR_clear_error();
		if (!hs->ev_wake)
			hs->ev_wake = event_new(hs->base, hs->st.waiter.wake_fd, EV_READ, on_wake, hs);
		if (!hs->ev_wake || event_add(hs->ev_wake, NULL) < 0)
			fail(hs, "tls: out of memory", true);
		return;
	}
	ERR_clear_error();
	if (hs->st.reason[0]) {
		snprintf(reason, sizeof reason, "%s", hs->st.reason);
	} else if (e == SSL_ERROR_SSL && ERR_GET_LIB(code) == ERR_LIB_SSL &&
		   ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST) {
		answer_http(hs);
		return;
	} else if (e == SSL_ERROR_SSL && ERR_GET_LIB(code) == ERR_LIB_SSL &&
		   ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		snprintf(reason, sizeof reason, "EOF");
	} else if (e == SSL_ERROR_SSL && code) {
		const char *why = ERR_reason_error_string(code);
		snprintf(reason, sizeof reason, "tls: %s", why ? why : "handshake failure");
	} else if (e == SSL_ERROR_SYSCALL && saved) {
		fail_errno(hs, saved);
		return;
	} else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
		snprintf(reason, sizeof reason, "EOF");
	} else {
		snprintf(reason, sizeof reason, "tls: handshake failure");
	}
	fail(hs, reason, true);
}

static void on_first_bytes(struct sf_tls_handshake *hs)
{
	char hdr[5];
	ssize_t n = recv(hs->fd, hdr, sizeof hdr, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		event_add(hs->ev_read, NULL);
		return;
	}
	if (n < 0) {
		/* reported once by the kernel: a later read would only see EOF */
		fail_errno(hs, errno);
		return;
	}
	hs->sniffed = true;
	if (n == (ssize_t)sizeof hdr && looks_like_http(hdr)) {
		answer_http(hs);
		return;
	}
	/* Fewer than 5 bytes so far: OpenSSL's own check (SSL_R_HTTP_REQUEST) covers most. */
	step(hs);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_tls_handshake *hs = arg;
	if (!hs->sniffed)
		on_first_bytes(hs);
	else
		step(hs);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	uint64_t count;
	ssize_t n = read(fd, &count, sizeof count);
	(void)n;
	step(arg);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fail(arg, "handshake timeout", true);
}

struct sf_tls_handshake *sf_tls_accept(struct event_base *base, int fd, struct sf_tls_ctx *ctx,
				       uint64_t deadline_ms, sf_tls_done_fn done, void *arg)
{
	struct sf_tls_handshake *hs = calloc(1, sizeof *hs);
	if (!hs) {
		close(fd);
		return NULL;
	}
	hs->ctx = ctx;
	hs->base = base;
	hs->fd = fd;
	hs->done = done;
	hs->arg = arg;
	hs->st.waiter.wake_fd = -1;
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0 && !(flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);

	BIO *bio = sf_tls_bio_new(fd);
	hs->ssl = SSL_new(ctx->ssl);
	hs->ev_read = event_new(base, fd, EV_READ, on_io, hs);
	hs->ev_write = event_new(base, fd, EV_WRITE, on_io, hs);
	hs->ev_timer = evtimer_new(base, on_timeout, hs);
	if (!bio || !hs->ssl || !hs->ev_read || !hs->ev_write || !hs->ev_timer ||
	    SSL_set_ex_data(hs->ssl, sf_tls_hs_index(), &hs->st) != 1 ||
	    sf_tls_handoff_prepare(hs->ssl) < 0) {
		BIO_free(bio);
		ERR_clear_error();
		release(hs, false);
		return NULL;
	}
	SSL_set_bio(hs->ssl, bio, bio);
	SSL_set_accept_state(hs->ssl);

	if (!deadline_ms)
		deadline_ms = SF_TLS_HANDSHAKE_TIMEOUT_MS;
	struct timeval tv = { .tv_sec = (time_t)(deadline_ms / 1000),
			      .tv_usec = (suseconds_t)(deadline_ms % 1000) * 1000 };
	evtimer_add(hs->ev_timer, &tv);
	event_add(hs->ev_read, NULL);
	return hs;
}

void sf_tls_handshake_cancel(struct sf_tls_handshake *hs)
{
	release(hs, false);
}
