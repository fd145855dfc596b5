#include "tor/dial.h"

#include "lib/clock.h"
#include "lib/goip.h"
#include "tor/cookie.h"
#include "tor/errtext.h"
#include "tor/extor_handshake.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define DIAL_ERR_MAX 512
#define DIAL_READ_CHUNK 512

enum dial_phase {
	PHASE_CONNECTING, /* waiting for the TCP connect */
	PHASE_HANDSHAKE,  /* ExtORPort setup running */
	PHASE_REPORT,     /* result known, to be delivered from the loop */
};

struct sf_tor_dial {
	struct event_base *base;
	sf_tor_dial_cb cb;
	void *arg;
	enum dial_phase phase;
	int fd;
	struct event *read_ev;
	struct event *write_ev;
	struct event *timer; /* connect / handshake deadline, and the deferred report */
	bool in_callback;

	bool use_extor;
	struct sf_tor_cookie *cookie;
	uint64_t cookie_generation;	/* of the cookie this handshake uses */
	bool cookie_given;
	enum sf_tor_dial_outcome outcome;
	char *useraddr;
	char *transport;
	struct sockaddr_storage dst;
	socklen_t dst_len;
	bool has_src;
	struct sf_tor_srcaddr src_range;
	unsigned connect_timeout_ms;
	unsigned handshake_timeout_ms;

	/* Go-style address texts for error messages: "src->" (or ""), then local/remote once up. */
	char src_text[SF_GOIP_HOSTPORT_MAX + 2];
	char dst_text[SF_GOIP_HOSTPORT_MAX];
	char local_text[SF_GOIP_HOSTPORT_MAX];

	struct sf_tor_extor hs;
	uint8_t inbuf[DIAL_READ_CHUNK];
	size_t leftover_off, leftover_len;
	char err[DIAL_ERR_MAX];
	bool failed;
};

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);

static void arm_timer(struct sf_tor_dial *d, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	evtimer_add(d->timer, &tv);
}

static void free_dial(struct sf_tor_dial *d)
{
	if (d->read_ev)
		event_free(d->read_ev);
	if (d->write_ev)
		event_free(d->write_ev);
	if (d->timer)
		event_free(d->timer);
	if (d->fd >= 0)
		close(d->fd);
	OPENSSL_cleanse(&d->hs, sizeof d->hs);
	free(d->useraddr);
	free(d->transport);
	free(d);
}

/* Runs the callback (always from inside an event callback) and frees the dial. */
static void report(struct sf_tor_dial *d)
{
	int fd = -1;

	if (!d->failed) {
		fd = d->fd;
		d->fd = -1; /* the caller owns it now */
	}
	/* Our events must be gone before the fd changes hands. */
	if (d->read_ev)
		event_free(d->read_ev);
	if (d->write_ev)
		event_free(d->write_ev);
	event_free(d->timer);
	d->read_ev = d->write_ev = d->timer = NULL;

	if (!d->failed)
		d->outcome = SF_TOR_DIAL_OK;
	else if (d->outcome == SF_TOR_DIAL_OK)
		d->outcome = SF_TOR_DIAL_UNREACHABLE; /* network errors and deadlines */
	d->in_callback = true;
	if (d->failed)
		d->cb(-1, NULL, 0, d->err, d->arg);
	else
		d->cb(fd, d->leftover_len ? d->inbuf + d->leftover_off : NULL, d->leftover_len, NULL,
		      d->arg);
	free_dial(d);
}

static void set_error(struct sf_tor_dial *d, const char *fmt, const char *detail)
{
	d->failed = true;
	snprintf(d->err, sizeof d->err, fmt, detail);
}

/* For failures found before the loop runs: the callback must not run inside dial_start. */
static void fail_later(struct sf_tor_dial *d)
{
	d->phase = PHASE_REPORT;
	arm_timer(d, 0);
}

/* A failure that says nothing about the backend's health. */
static void fail_other(struct sf_tor_dial *d, const char *msg)
{
	d->outcome = SF_TOR_DIAL_OTHER;
	set_error(d, "%s", msg);
	report(d);
}

static void fail_now(struct sf_tor_dial *d, const char *msg)
{
	set_error(d, "%s", msg);
	report(d);
}

/* Go's net.OpError text: "<op> tcp <src>-><dst>: <syscall>: <errno text>". */
static void set_dial_errno(struct sf_tor_dial *d, const char *syscall_name, int errnum)
{
	char reason[128];
	sf_tor_errno_text(errnum, reason, sizeof reason);
	d->failed = true;
	snprintf(d->err, sizeof d->err, "dial tcp %s%s: %s: %s", d->src_text, d->dst_text, syscall_name,
		 reason);
}

static void fail_io(struct sf_tor_dial *d, const char *op, int errnum)
{
	char reason[128];
	sf_tor_errno_text(errnum, reason, sizeof reason);
	d->failed = true;
	snprintf(d->err, sizeof d->err, "%s tcp %s->%s: %s: %s", op, d->local_text, d->dst_text, op,
		 reason);
	report(d);
}

static void succeed(struct sf_tor_dial *d)
{
	d->failed = false;
	report(d);
}

/* Sends what the handshake produced; reports success once OKAY is in and DONE went out. */
static void flush_output(struct sf_tor_dial *d)
{
	size_t len;
	const uint8_t *out = sf_tor_extor_output(&d->hs, &len);

	while (len > 0) {
		ssize_t n = send(d->fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(d->write_ev, NULL);
			return;
		}
		if (n < 0) {
			fail_io(d, "write", errno);
			return;
		}
		sf_tor_extor_drain(&d->hs, (size_t)n);
		out = sf_tor_extor_output(&d->hs, &len);
	}
	event_del(d->write_ev);
	if (sf_tor_extor_status(&d->hs) == SF_TOR_EXTOR_DONE)
		succeed(d);
}

/* The cookie comes from memory (read at start, sf_tor_cookie_load): no file I/O per dial. */
static void supply_cookie(struct sf_tor_dial *d)
{
	uint8_t cookie[SF_TOR_COOKIE_LEN];
	sf_tor_cookie_get(d->cookie, cookie, &d->cookie_generation);
	sf_tor_extor_set_cookie(&d->hs, cookie);
	OPENSSL_cleanse(cookie, sizeof cookie);
	d->cookie_given = true;
}

/* tor refused our cookie, or we refused its proof of the cookie: both mean the two differ. */
static bool auth_failed(struct sf_tor_dial *d)
{
	const char *e = sf_tor_extor_error(&d->hs);
	return d->cookie_given &&
	       (strcmp(e, "mismatch in server hash") == 0 || strcmp(e, "server rejected authentication") == 0);
}

/* Handshake failed: after an authentication failure, look for a new cookie (tor restarted). */
static void handshake_failed(struct sf_tor_dial *d)
{
	if (!auth_failed(d)) {
		/* EOF inside the handshake is tor going away; anything else is a protocol answer. */
		const char *e = sf_tor_extor_error(&d->hs);
		if (strcmp(e, "EOF") == 0 || strcmp(e, "unexpected EOF") == 0)
			fail_now(d, e);
		else
			fail_other(d, e);
		return;
	}
	char why[DIAL_ERR_MAX];
	switch (sf_tor_cookie_reload(d->cookie, d->cookie_generation, sf_clock_ms(), why, sizeof why)) {
	case SF_TOR_COOKIE_CHANGED:
		d->outcome = SF_TOR_DIAL_AUTH_RETRY;
		break;
	case SF_TOR_COOKIE_UNREADABLE: /* the old cookie stays; the caller logs the reason */
		d->outcome = SF_TOR_DIAL_AUTH_FAILED;
		set_error(d, "%s", sf_tor_extor_error(&d->hs));
		snprintf(d->err + strlen(d->err), sizeof d->err - strlen(d->err), " (and %s)", why);
		report(d);
		return;
	default:
		d->outcome = SF_TOR_DIAL_AUTH_FAILED;
		break;
	}
	fail_now(d, sf_tor_extor_error(&d->hs));
}

static void handle_input(struct sf_tor_dial *d, size_t len)
{
	size_t used = 0, more = 0;
	enum sf_tor_extor_status st = sf_tor_extor_feed(&d->hs, d->inbuf, len, &used);

	if (st == SF_TOR_EXTOR_NEED_COOKIE) {
		supply_cookie(d);
		st = sf_tor_extor_feed(&d->hs, d->inbuf + used, len - used, &more);
		used += more;
	}
	if (st == SF_TOR_EXTOR_FAILED) {
		handshake_failed(d);
		return;
	}
	if (st == SF_TOR_EXTOR_DONE) {
		d->leftover_off = used;
		d->leftover_len = len - used;
		event_del(d->read_ev); /* the rest belongs to the caller */
	}
	flush_output(d);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct sf_tor_dial *d = arg;
	(void)what;

	/* Never read past the reply: what follows OKAY stays in the socket for the caller. */
	size_t want = sf_tor_extor_want(&d->hs);
	if (want == 0)
		return;
	if (want > sizeof d->inbuf)
		want = sizeof d->inbuf;
	ssize_t n = recv(fd, d->inbuf, want, MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			fail_io(d, "read", errno);
		return;
	}
	if (n == 0) {
		sf_tor_extor_eof(&d->hs);
		handshake_failed(d);
		return;
	}
	handle_input(d, (size_t)n);
}

static void start_handshake(struct sf_tor_dial *d)
{
	uint8_t nonce[SF_TOR_EXTOR_NONCE_LEN];

	if (RAND_bytes(nonce, sizeof nonce) != 1) {
		fail_other(d, "cannot generate the ExtORPort client nonce");
		return;
	}
	sf_tor_extor_init(&d->hs, NULL, nonce, d->useraddr, d->transport);
	if (sf_tor_extor_status(&d->hs) == SF_TOR_EXTOR_FAILED) {
		fail_other(d, sf_tor_extor_error(&d->hs));
		return;
	}
	d->phase = PHASE_HANDSHAKE;
	arm_timer(d, d->handshake_timeout_ms);
	event_add(d->read_ev, NULL);
}

static void on_connected(struct sf_tor_dial *d)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;

	if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr != 0) {
		set_dial_errno(d, "connect", soerr);
		report(d);
		return;
	}
	event_del(d->write_ev);
	struct sockaddr_storage local;
	socklen_t local_len = sizeof local;
	if (getsockname(d->fd, (struct sockaddr *)&local, &local_len) == 0)
		sf_goip_format_sockaddr((struct sockaddr *)&local, false, d->local_text,
					sizeof d->local_text);
	if (!d->use_extor) {
		succeed(d);
		return;
	}
	start_handshake(d);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct sf_tor_dial *d = arg;
	(void)fd;
	(void)what;

	if (d->phase == PHASE_CONNECTING)
		on_connected(d);
	else if (d->phase == PHASE_HANDSHAKE)
		flush_output(d);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sf_tor_dial *d = arg;
	size_t pending;
	(void)fd;
	(void)what;

	switch (d->phase) {
	case PHASE_REPORT:
		report(d);
		break;
	case PHASE_CONNECTING:
		d->failed = true;
		snprintf(d->err, sizeof d->err, "dial tcp %s%s: i/o timeout", d->src_text, d->dst_text);
		report(d);
		break;
	case PHASE_HANDSHAKE:
		sf_tor_extor_output(&d->hs, &pending);
		d->failed = true;
		snprintf(d->err, sizeof d->err, "%s tcp %s->%s: i/o timeout", pending ? "write" : "read",
			 d->local_text, d->dst_text);
		report(d);
		break;
	}
}

/* socket, IP_BIND_ADDRESS_NO_PORT, optional bind to a random source address, connect. */
static void open_connection(struct sf_tor_dial *d)
{
	struct sockaddr_storage src;
	socklen_t src_len = 0;
	int one = 1;

	d->outcome = SF_TOR_DIAL_OTHER; /* local failures until connect() */
	if (d->has_src) {
		src_len = sf_tor_srcaddr_random(&d->src_range, &src);
		if (src_len == 0) {
			set_error(d, "%s", "cannot pick a random source address");
			return;
		}
		char text[SF_GOIP_HOSTPORT_MAX];
		sf_goip_format_sockaddr((struct sockaddr *)&src, false, text, sizeof text);
		if (src.ss_family != d->dst.ss_family) {
			/* What Go's dialer says when LocalAddr and the target differ in family. */
			set_error(d, "dial tcp: address %s: no suitable address found", text);
			return;
		}
		snprintf(d->src_text, sizeof d->src_text, "%s->", text);
	}

	d->fd = socket(d->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0) {
		set_dial_errno(d, "socket", errno);
		return;
	}
	/* As tor >= 0.4.7.13 does: the port is picked at connect, so bind does not use one up. */
	if (setsockopt(d->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0) {
		set_dial_errno(d, "setsockopt", errno);
		return;
	}
	if (src_len && bind(d->fd, (struct sockaddr *)&src, src_len) < 0) {
		set_dial_errno(d, "bind", errno);
		return;
	}
	d->outcome = SF_TOR_DIAL_OK;
	if (connect(d->fd, (struct sockaddr *)&d->dst, d->dst_len) < 0 && errno != EINPROGRESS) {
		set_dial_errno(d, "connect", errno);
		return;
	}
	/* Connected or in progress: writability (and SO_ERROR) tells which. */
	d->read_ev = event_new(d->base, d->fd, EV_READ | EV_PERSIST, on_readable, d);
	d->write_ev = event_new(d->base, d->fd, EV_WRITE | EV_PERSIST, on_writable, d);
	if (!d->read_ev || !d->write_ev) {
		set_error(d, "%s", "out of memory");
		d->outcome = SF_TOR_DIAL_OTHER;
		return;
	}
	event_add(d->write_ev, NULL);
	arm_timer(d, d->connect_timeout_ms);
}

static char *dup_or_null(const char *s, bool *oom)
{
	if (!s || !*s)
		return NULL;
	char *copy = strdup(s);
	if (!copy)
		*oom = true;
	return copy;
}

static bool valid_addr(const struct sockaddr_storage *ss, socklen_t len)
{
	if (ss->ss_family == AF_INET)
		return len >= sizeof(struct sockaddr_in);
	if (ss->ss_family == AF_INET6)
		return len >= sizeof(struct sockaddr_in6);
	return false;
}

struct sf_tor_dial *sf_tor_dial_start(struct event_base *base, const struct sf_tor_target *t,
				      const char *useraddr, sf_tor_dial_cb cb, void *arg)
{
	bool oom = false;
	struct sf_tor_dial *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->base = base;
	d->cb = cb;
	d->arg = arg;
	d->fd = -1;
	d->phase = PHASE_CONNECTING;
	d->connect_timeout_ms = t->connect_timeout_ms ? t->connect_timeout_ms : SF_TOR_CONNECT_TIMEOUT_MS;
	d->handshake_timeout_ms =
		t->handshake_timeout_ms ? t->handshake_timeout_ms : SF_TOR_HANDSHAKE_TIMEOUT_MS;
	d->use_extor = t->has_extor && t->cookie;
	if (d->use_extor) {
		d->cookie = t->cookie;
		d->useraddr = dup_or_null(useraddr, &oom);
		d->transport = dup_or_null(t->transport, &oom);
	}
	d->timer = evtimer_new(base, on_timer, d);
	if (oom || !d->timer) {
		free_dial(d);
		return NULL;
	}
	if (t->srcaddr) {
		d->has_src = true;
		d->src_range = *t->srcaddr;
	}

	const struct sockaddr_storage *dst = d->use_extor ? &t->extor : &t->orport;
	socklen_t dst_len = d->use_extor ? t->extor_len : t->orport_len;
	bool have_dst = d->use_extor || t->has_orport;
	if (!have_dst || !valid_addr(dst, dst_len)) {
		set_error(d, "%s", "dial tcp: missing address");
		d->outcome = SF_TOR_DIAL_OTHER;
		fail_later(d);
		return d;
	}
	memcpy(&d->dst, dst, dst_len < sizeof d->dst ? dst_len : sizeof d->dst);
	d->dst_len = dst_len < sizeof d->dst ? dst_len : (socklen_t)sizeof d->dst;
	sf_goip_format_sockaddr((struct sockaddr *)&d->dst, false, d->dst_text, sizeof d->dst_text);

	open_connection(d);
	if (d->failed)
		fail_later(d);
	return d;
}

enum sf_tor_dial_outcome sf_tor_dial_outcome(const struct sf_tor_dial *d)
{
	return d->outcome;
}

void sf_tor_dial_cancel(struct sf_tor_dial *d)
{
	if (!d || d->in_callback)
		return;
	free_dial(d);
}
