#include "tor/dial.h"

#include "lib/bug.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/goip.h"
#include "net/conn.h"
#include "tor/cookie.h"
#include "tor/extor_handshake.h"

#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DIAL_ERR_MAX 512

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
	struct sf_conn *conn; /* ours until the callback hands it over */
	struct event *timer;  /* the deferred report of a failure found in sf_tor_dial_start */
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
	char err[DIAL_ERR_MAX];
	bool failed;
};

static void free_dial(struct sf_tor_dial *d)
{
	if (d->timer)
		event_free(d->timer);
	if (d->conn)
		sf_conn_close(d->conn);
	OPENSSL_cleanse(&d->hs, sizeof d->hs);
	free(d->useraddr);
	free(d->transport);
	free(d);
}

/* Runs the callback (always from inside an event callback: the timer's or the connection's) and
 * frees the dial. */
static void report(struct sf_tor_dial *d)
{
	struct sf_conn *conn = NULL;

	if (!d->failed) {
		/* The caller owns it now, without our callbacks or our deadline. */
		conn = d->conn;
		d->conn = NULL;
		sf_conn_set_callbacks(conn, NULL, NULL);
		sf_conn_set_deadline(conn, 0);
	} else if (d->conn) {
		sf_conn_close(d->conn);
		d->conn = NULL;
	}
	event_free(d->timer);
	d->timer = NULL;

	if (!d->failed)
		d->outcome = SF_TOR_DIAL_OK;
	else if (d->outcome == SF_TOR_DIAL_OK)
		d->outcome = SF_TOR_DIAL_UNREACHABLE; /* network errors and deadlines */
	d->in_callback = true;
	d->cb(conn, d->failed ? d->err : NULL, d->arg);
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
	struct timeval now = { 0, 0 };
	d->phase = PHASE_REPORT;
	evtimer_add(d->timer, &now);
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

static void succeed(struct sf_tor_dial *d)
{
	d->failed = false;
	report(d);
}

/* Queues what the handshake produced on the connection (which sends it in order, before anything
 * the caller writes later); reports success once OKAY is in and DONE is queued. */
static void flush_output(struct sf_tor_dial *d)
{
	size_t len;
	const uint8_t *out = sf_tor_extor_output(&d->hs, &len);

	if (len > 0) {
		if (sf_conn_write(d->conn, out, len) < 0) {
			fail_other(d, "out of memory");
			return;
		}
		sf_tor_extor_drain(&d->hs, len);
	}
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

/* ---- the connection's callbacks ---- */

/* Never read past the reply: what follows OKAY stays in the socket for the caller. */
static size_t dial_read_room(void *arg)
{
	struct sf_tor_dial *d = arg;
	return d->phase == PHASE_HANDSHAKE ? sf_tor_extor_want(&d->hs) : 0;
}

static void dial_on_read(void *arg, const uint8_t *p, size_t len)
{
	struct sf_tor_dial *d = arg;
	size_t used = 0, more = 0;
	enum sf_tor_extor_status st = sf_tor_extor_feed(&d->hs, p, len, &used);

	if (st == SF_TOR_EXTOR_NEED_COOKIE) {
		supply_cookie(d);
		st = sf_tor_extor_feed(&d->hs, p + used, len - used, &more);
		used += more;
	}
	if (st == SF_TOR_EXTOR_FAILED) {
		handshake_failed(d);
		return;
	}
	/* dial_read_room asks for no more than the handshake wants */
	if (SF_BUG(used < len)) {
		fail_other(d, "ExtORPort: read past the reply");
		return;
	}
	flush_output(d);
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
	sf_conn_set_deadline(d->conn, d->handshake_timeout_ms);
}

static void dial_on_connected(void *arg)
{
	struct sf_tor_dial *d = arg;
	struct sockaddr_storage local;
	socklen_t local_len = sizeof local;

	if (getsockname(sf_conn_fd(d->conn), (struct sockaddr *)&local, &local_len) == 0)
		sf_goip_format_sockaddr((struct sockaddr *)&local, false, d->local_text,
					sizeof d->local_text);
	if (!d->use_extor) {
		succeed(d);
		return;
	}
	start_handshake(d);
}

/* The connection ended before the dial did: Go's net.OpError texts,
 * "dial tcp [<src>->]<dst>: connect: connection refused" while connecting,
 * "read tcp <local>-><dst>: read: connection reset by peer" (or write) during the handshake,
 * "... i/o timeout" for the deadlines. */
static void dial_on_close(void *arg, const char *reason)
{
	struct sf_tor_dial *d = arg;
	bool timeout = strcmp(reason, "timeout") == 0;

	if (strcmp(reason, "EOF") == 0 && d->phase == PHASE_HANDSHAKE) {
		sf_tor_extor_eof(&d->hs);
		handshake_failed(d);
		return;
	}
	d->failed = true;
	if (d->phase == PHASE_CONNECTING) {
		snprintf(d->err, sizeof d->err, "dial tcp %s%s: %s", d->src_text, d->dst_text,
			 timeout ? "i/o timeout" : reason);
		report(d);
		return;
	}
	if (timeout) {
		snprintf(d->err, sizeof d->err, "%s tcp %s->%s: i/o timeout",
			 sf_conn_output_len(d->conn) > 0 ? "write" : "read", d->local_text, d->dst_text);
		report(d);
		return;
	}
	size_t op_len = strcspn(reason, ":");
	snprintf(d->err, sizeof d->err, "%.*s tcp %s->%s: %s", (int)op_len, reason, d->local_text,
		 d->dst_text, reason);
	report(d);
}

static const struct sf_conn_callbacks dial_callbacks = {
	.on_read = dial_on_read,
	.on_close = dial_on_close,
	.on_connected = dial_on_connected,
	.read_room = dial_read_room,
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	report(arg);
}

/* Optional random source address from orport-srcaddr, then the connection (sf_conn_connect). */
static void open_connection(struct sf_tor_dial *d)
{
	struct sockaddr_storage src;
	socklen_t src_len = 0;

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

	char why[160]; /* "<system call>: <errno text>" */
	d->conn = sf_conn_connect(d->base, (struct sockaddr *)&d->dst, d->dst_len,
				  (struct sockaddr *)&src, src_len, &dial_callbacks, d, why, sizeof why);
	if (!d->conn) {
		d->failed = true;
		snprintf(d->err, sizeof d->err, "dial tcp %s%s: %s", d->src_text, d->dst_text, why);
		return;
	}
	/* Connected or in progress: the connection says which (a failure arrives as on_close). */
	d->outcome = SF_TOR_DIAL_OK;
	sf_conn_set_deadline(d->conn, d->connect_timeout_ms);
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
