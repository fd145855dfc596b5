#include "net/conn.h"

#include "lib/bug.h"
#include "lib/clock.h"
#include "lib/err.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FLUSH_IOVECS 64	/* one writev takes up to this many evbuffer chunks (TLS: 8 full records) */
#define FLUSH_ROUNDS 64

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Lives on the stack of an event handler while it runs a user callback: a close or detach made
 * inside the callback is recorded here, so the handler stops without touching a connection that
 * is freed or now belongs to another thread. */
struct guard {
	bool released;	/* sf_conn_close ran: the handler frees the struct */
	bool detached;	/* sf_conn_detach ran: hands off */
};

struct sf_conn {
	int fd;
	struct event_base *base;
	struct event *ev_read, *ev_write, *ev_timer;
	struct event *ev_flush;	/* activated by hand: flushes once the current callbacks are done */
	bool read_on, write_on;
	bool write_blocked;	/* the last write met a full socket: wait for EV_WRITE */

	const struct sf_conn_transport *tr;
	void *tr_ctx;
	struct sf_conn_callbacks cb;
	void *user;

	struct evbuffer *out;
	uint64_t *account;	/* sf_conn_set_account(): what out holds is added there, or NULL */
	size_t out_cap;
	size_t drained_below;
	bool above_mark;

	bool paused;
	size_t read_limit;	/* sf_conn_set_read_limit(), 0 for none */
	bool limited;		/* output above read_limit: not reading until it drains */
	bool read_wants_write;	/* the transport's read needs the socket writable (TLS) */
	bool write_wants_read;
	bool ended;		/* socket closed after EOF, error or timeout */
	bool flushing;		/* sf_conn_close_flush: owns itself until the output is out */
	bool read_eof;		/* the peer finished sending while we were flushing */
	bool connecting;	/* sf_conn_connect: waiting for the socket to become writable */
	int connect_err;	/* connect() failed at once: reported from the loop */
	bool close_write;	/* sf_conn_close_write: shut the write side once output is out */
	bool write_shut;	/* ... done */
	uint64_t deadline;	/* sf_clock_ms() value, 0 for none */

	struct guard *guard;
	pthread_t owner;	/* the thread that attached it or last ran its events */
};

/* conn.h's thread rule: an attached connection belongs to the thread that runs its loop; a
 * detached one to whoever holds it. A call from another thread would race with the loop's
 * callbacks on the same struct. The owner is the thread that attached it, then the one that ran
 * its last event (a loop may be handed to its thread after connections were attached to it). */
static bool foreign_thread(const struct sf_conn *conn)
{
	return conn->base && !pthread_equal(conn->owner, pthread_self());
}

static _Thread_local uint8_t scratch[SF_CONN_READ_CHUNK];

/* Queued output: the evbuffer plus what the transport holds sealed but unsent. */
static size_t out_len(const struct sf_conn *c)
{
	size_t n = c->out ? evbuffer_get_length(c->out) : 0;
	if (c->tr->unsent && c->tr_ctx && !c->ended)
		n += c->tr->unsent(c->tr_ctx);
	return n;
}

/* ---- plain socket transport ---- */

static ssize_t plain_read(void *ctx, int fd, void *buf, size_t len)
{
	(void)ctx;
	ssize_t n = recv(fd, buf, len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return SF_CONN_WANT_READ;
	return n;
}

static ssize_t plain_writev(void *ctx, int fd, const struct iovec *iov, int iovcnt)
{
	(void)ctx;
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return SF_CONN_WANT_WRITE;
	return n;
}

const struct sf_conn_transport sf_conn_plain = {
	.read = plain_read,
	.writev = plain_writev,
};

/* ---- events ---- */

static void free_events(struct sf_conn *c)
{
	struct event **evs[] = { &c->ev_read, &c->ev_write, &c->ev_timer, &c->ev_flush };
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
		if (*evs[i]) {
			event_free(*evs[i]);
			*evs[i] = NULL;
		}
	}
	c->read_on = c->write_on = false;
}

static void set_events(struct sf_conn *c)
{
	if (!c->base || c->ended)
		return;
	bool want_read = !c->connecting &&
			 (c->write_wants_read ||
			  (!c->read_eof && ((!c->paused && !c->limited) || c->flushing)));
	/* Only a socket that refused bytes (or is connecting) is watched for writability; otherwise
	 * writes go out through ev_flush, with no epoll_ctl per write. */
	bool want_write = c->connecting || (c->write_blocked && out_len(c) > 0) || c->read_wants_write;
	if (want_read != c->read_on) {
		if (want_read)
			event_add(c->ev_read, NULL);
		else
			event_del(c->ev_read);
		c->read_on = want_read;
	}
	if (want_write != c->write_on) {
		if (want_write)
			event_add(c->ev_write, NULL);
		else
			event_del(c->ev_write);
		c->write_on = want_write;
	}
}

static void arm_timer(struct sf_conn *c)
{
	if (!c->base || c->ended)
		return;
	if (!c->deadline) {
		evtimer_del(c->ev_timer);
		return;
	}
	uint64_t now = sf_clock_ms();
	uint64_t left = c->deadline > now ? c->deadline - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000) * 1000 };
	evtimer_add(c->ev_timer, &tv);
}

/* Output was queued: write it once the callbacks of this loop iteration have run, so everything
 * they queued leaves in one writev. */
static void schedule_flush(struct sf_conn *c)
{
	if (c->base && !c->ended && !c->connecting && !c->write_blocked && c->ev_flush &&
	    out_len(c) > 0)
		event_active(c->ev_flush, EV_WRITE, 1);
}

static void kick_pending(struct sf_conn *c)
{
	/* TLS may hold decrypted bytes no socket event will announce. */
	if (c->base && !c->ended && !c->paused && !c->limited && c->tr->pending &&
	    c->tr->pending(c->tr_ctx) > 0)
		event_active(c->ev_read, EV_READ, 1);
}

/* Enters or leaves the read limit; returns true if reading may go on. */
static bool update_limit(struct sf_conn *c)
{
	if (!c->read_limit)
		return !c->limited;
	size_t len = out_len(c);
	if (!c->limited && len > c->read_limit)
		c->limited = true;
	else if (c->limited && len <= c->read_limit / 2)
		c->limited = false;
	return !c->limited;
}

/* ---- lifecycle ---- */

/* Closes the socket and drops its events; the struct stays for the owner to release. */
static void shut(struct sf_conn *c)
{
	if (c->ended)
		return;
	free_events(c);
	close(c->fd);
	c->fd = -1;
	c->ended = true;
}

/* Everything but the struct itself. */
static void teardown(struct sf_conn *c)
{
	shut(c);
	if (c->out) {
		if (c->account)
			*c->account -= evbuffer_get_length(c->out);
		c->account = NULL;
		evbuffer_free(c->out);
		c->out = NULL;
	}
	if (c->tr->free && c->tr_ctx)
		c->tr->free(c->tr_ctx);
	c->tr_ctx = NULL;
}

static void enter(struct sf_conn *c, struct guard *g)
{
	g->released = g->detached = false;
	c->guard = g;
}

/* Returns false if the handler must not touch c any more. */
static bool leave(struct sf_conn *c, struct guard *g)
{
	if (g->released) {
		free(c);
		return false;
	}
	if (g->detached)
		return false;
	c->guard = NULL;
	return true;
}

static bool end(struct sf_conn *c, const char *reason)
{
	shut(c);
	if (c->flushing) {
		teardown(c);
		free(c);
		return false;
	}
	if (!c->cb.on_close)
		return true;
	struct guard g;
	enter(c, &g);
	c->cb.on_close(c->user, reason);
	return leave(c, &g);
}

/* "<op>: <errno text>", lowercased as Go's syscall.Errno reads ("read: connection reset by
 * peer"). */
static void errno_reason(const char *op, int e, char *out, size_t cap)
{
	char text[96];
	const char *s = strerror_r(e, text, sizeof text);
	snprintf(out, cap, "%s: %s", op, s);
	size_t off = strlen(op) + 2;
	if (off < cap)
		out[off] = (char)tolower((unsigned char)out[off]);
}

static bool end_errno(struct sf_conn *c, const char *op, int e)
{
	char reason[128];
	errno_reason(op, e, reason, sizeof reason);
	return end(c, reason);
}

/* sf_conn_close_write: the half-close, once nothing is left to send. */
static void maybe_shut_write(struct sf_conn *c)
{
	if (c->close_write && !c->write_shut && !c->ended && !c->connecting && out_len(c) == 0) {
		(void)shutdown(c->fd, SHUT_WR); /* a reset peer shows on the next read */
		c->write_shut = true;
	}
}

/* ---- I/O ---- */

static bool do_read(struct sf_conn *c)
{
	size_t want = sizeof scratch;
	if (c->cb.read_room && !c->flushing) {
		size_t room = c->cb.read_room(c->user);
		if (room == 0) {
			/* the owner cannot take anything: wait for its sf_conn_resume_read() */
			c->paused = true;
			set_events(c);
			return true;
		}
		if (room < want)
			want = room;
	}
	ssize_t n = c->tr->read(c->tr_ctx, c->fd, scratch, want);
	if (n > 0) {
		if (c->flushing || !c->cb.on_read)
			return true;
		struct guard g;
		enter(c, &g);
		c->cb.on_read(c->user, scratch, (size_t)n);
		return leave(c, &g);
	}
	if (n == 0 && c->flushing) {
		/* A peer that half-closed may still be reading what we flush. */
		c->read_eof = true;
		set_events(c);
		return true;
	}
	if (n == 0)
		return end(c, "EOF");
	if (n == SF_CONN_WANT_READ)
		return true;
	if (n == SF_CONN_WANT_WRITE) {
		c->read_wants_write = true;
		set_events(c);
		return true;
	}
	return end_errno(c, "read", errno);
}

static bool flush(struct sf_conn *c)
{
	size_t sent = 0;
	for (int round = 0; round < FLUSH_ROUNDS && evbuffer_get_length(c->out) > 0; round++) {
		struct evbuffer_iovec vec[FLUSH_IOVECS];
		struct iovec iov[FLUSH_IOVECS];
		int cnt = evbuffer_peek(c->out, -1, NULL, vec, FLUSH_IOVECS);
		if (cnt > FLUSH_IOVECS)
			cnt = FLUSH_IOVECS;
		for (int i = 0; i < cnt; i++) {
			iov[i].iov_base = vec[i].iov_base;
			iov[i].iov_len = vec[i].iov_len;
		}
		ssize_t n = c->tr->writev(c->tr_ctx, c->fd, iov, cnt);
		if (n > 0) {
			evbuffer_drain(c->out, (size_t)n);
			sent += (size_t)n;
			if (c->account)
				*c->account -= (uint64_t)n;
			continue;
		}
		if (n == SF_CONN_WANT_WRITE) {
			c->write_blocked = true;
			break;
		}
		if (n == SF_CONN_WANT_READ) {
			c->write_wants_read = true;
			break;
		}
		return end_errno(c, "write", n < 0 ? errno : EIO);
	}
	if (!c->write_blocked && !c->write_wants_read && c->tr->flush && c->tr->unsent &&
	    c->tr->unsent(c->tr_ctx) > 0) {
		ssize_t n = c->tr->flush(c->tr_ctx, c->fd);
		if (n == SF_CONN_WANT_WRITE)
			c->write_blocked = true;
		else if (n < 0)
			return end_errno(c, "write", errno);
	}

	maybe_shut_write(c);
	size_t left = out_len(c);
	if (c->flushing && left == 0) {
		teardown(c);
		free(c);
		return false;
	}
	bool was_limited = c->limited;
	update_limit(c);
	set_events(c);
	if (was_limited && !c->limited)
		kick_pending(c);
	bool drained = c->above_mark && left <= c->drained_below;
	if (drained)
		c->above_mark = false;
	if (sent > 0 && c->cb.on_sent && !c->flushing) {
		struct guard g;
		enter(c, &g);
		c->cb.on_sent(c->user, sent);
		if (!leave(c, &g))
			return false;
	}
	if (drained && c->cb.on_drained) {
		struct guard g;
		enter(c, &g);
		c->cb.on_drained(c->user);
		return leave(c, &g);
	}
	return true;
}

/* The outgoing connect finished (the socket became writable): up, or the reason it failed. */
static void finish_connect(struct sf_conn *c)
{
	int soerr = c->connect_err;
	socklen_t len = sizeof soerr;
	if (!soerr && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		end_errno(c, "connect", soerr);
		return;
	}
	c->connecting = false;
	set_events(c);
	if (c->cb.on_connected) {
		struct guard g;
		enter(c, &g);
		c->cb.on_connected(c->user);
		if (!leave(c, &g) || c->ended)
			return;
	}
	maybe_shut_write(c);
	schedule_flush(c);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_conn *c = arg;
	c->owner = pthread_self();
	if (c->write_wants_read) {
		c->write_wants_read = false;
		if (!flush(c) || c->ended)
			return;
	}
	if ((c->paused || !update_limit(c)) && !c->flushing) {
		set_events(c);
		return;
	}
	if (!do_read(c) || c->ended)
		return;
	update_limit(c);
	kick_pending(c);
	/* a read may have queued output of the transport's own (a TLS KeyUpdate answer) */
	schedule_flush(c);
	set_events(c);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_conn *c = arg;
	c->owner = pthread_self();
	if (!c->write_blocked)
		flush(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_conn *c = arg;
	c->owner = pthread_self();
	if (c->connecting) {
		finish_connect(c);
		return;
	}
	c->write_blocked = false;
	if (c->read_wants_write) {
		c->read_wants_write = false;
		if (!do_read(c) || c->ended)
			return;
		kick_pending(c);
	}
	flush(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_conn *c = arg;
	c->owner = pthread_self();
	c->deadline = 0;
	end(c, "timeout");
}

/* ---- public ---- */

struct sf_conn *sf_conn_new_transport(struct event_base *base, int fd,
				      const struct sf_conn_transport *tr, void *tr_ctx,
				      const struct sf_conn_callbacks *cb, void *user)
{
	struct sf_conn *c = calloc(1, sizeof *c);
	if (!c || !(c->out = evbuffer_new())) {
		free(c);
		if (tr->free && tr_ctx)
			tr->free(tr_ctx);
		close(fd);
		return NULL;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0 && !(flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	c->fd = fd;
	c->tr = tr;
	c->tr_ctx = tr_ctx;
	if (cb)
		c->cb = *cb;
	c->user = user;
	c->out_cap = SF_CONN_OUTPUT_CAP_DEFAULT;
	if (base && sf_conn_attach(c, base) < 0) {
		teardown(c);
		free(c);
		return NULL;
	}
	return c;
}

struct sf_conn *sf_conn_new(struct event_base *base, int fd, const struct sf_conn_callbacks *cb,
			    void *user)
{
	return sf_conn_new_transport(base, fd, &sf_conn_plain, NULL, cb, user);
}

struct sf_conn *sf_conn_connect(struct event_base *base, const struct sockaddr *dst,
				socklen_t dst_len, const struct sockaddr *src, socklen_t src_len,
				const struct sf_conn_callbacks *cb, void *user, char *err, size_t errlen)
{
	const char *op = "socket";
	int one = 1;
	int fd = socket(dst->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	op = "setsockopt";
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0)
		goto fail;
	op = "bind";
	if (src_len > 0 && bind(fd, src, src_len) < 0)
		goto fail;
	int connect_err = 0;
	if (connect(fd, dst, dst_len) < 0 && errno != EINPROGRESS)
		connect_err = errno;
	struct sf_conn *c = sf_conn_new(NULL, fd, cb, user);
	if (!c) {
		sf_err(err, errlen, "out of memory");
		return NULL;
	}
	c->connecting = true;
	c->connect_err = connect_err;
	if (base && sf_conn_attach(c, base) < 0) {
		sf_conn_close(c);
		sf_err(err, errlen, "out of memory");
		return NULL;
	}
	return c;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	char reason[128];
	errno_reason(op, e, reason, sizeof reason);
	sf_err(err, errlen, "%s", reason);
	return NULL;
}

void sf_conn_set_callbacks(struct sf_conn *conn, const struct sf_conn_callbacks *cb, void *user)
{
	if (conn->flushing)
		return;
	memset(&conn->cb, 0, sizeof conn->cb);
	if (cb)
		conn->cb = *cb;
	conn->user = user;
}

int sf_conn_write(struct sf_conn *conn, const void *p, size_t n)
{
	if (SF_BUG(foreign_thread(conn)))
		return -1;
	if (conn->ended || conn->flushing || conn->close_write)
		return -1;
	size_t len = out_len(conn);
	if (n > conn->out_cap || len > conn->out_cap - n)
		return -1;
	if (n == 0)
		return 0;
	if (evbuffer_add(conn->out, p, n) < 0)
		return -1;
	if (conn->account)
		*conn->account += n;
	if (conn->drained_below && len + n > conn->drained_below)
		conn->above_mark = true;
	schedule_flush(conn);
	return 0;
}

void sf_conn_set_account(struct sf_conn *conn, uint64_t *bytes)
{
	if (SF_BUG(foreign_thread(conn)))
		return;
	size_t len = conn->out ? evbuffer_get_length(conn->out) : 0;
	if (conn->account)
		*conn->account -= len;
	conn->account = bytes;
	if (bytes)
		*bytes += len;
}

size_t sf_conn_output_len(const struct sf_conn *conn)
{
	return out_len(conn);
}

void sf_conn_set_output_cap(struct sf_conn *conn, size_t cap)
{
	conn->out_cap = cap;
}

void sf_conn_set_drained(struct sf_conn *conn, size_t below)
{
	conn->drained_below = below;
	conn->above_mark = below && sf_conn_output_len(conn) > below;
}

void sf_conn_set_read_limit(struct sf_conn *conn, size_t high)
{
	if (SF_BUG(foreign_thread(conn)))
		return;
	conn->read_limit = high;
	update_limit(conn);
	set_events(conn);
}

void sf_conn_close_write(struct sf_conn *conn)
{
	if (SF_BUG(foreign_thread(conn)))
		return;
	conn->close_write = true;
	maybe_shut_write(conn);
}

bool sf_conn_write_closed(const struct sf_conn *conn)
{
	return conn->write_shut;
}

void sf_conn_pause_read(struct sf_conn *conn)
{
	if (SF_BUG(foreign_thread(conn)))
		return;
	conn->paused = true;
	set_events(conn);
}

void sf_conn_resume_read(struct sf_conn *conn)
{
	if (SF_BUG(foreign_thread(conn)))
		return;
	if (!conn->paused)
		return;
	conn->paused = false;
	set_events(conn);
	kick_pending(conn);
}

void sf_conn_set_deadline(struct sf_conn *conn, uint64_t ms)
{
	if (SF_BUG(foreign_thread(conn)))
		return;
	conn->deadline = ms ? sf_clock_ms() + ms : 0;
	arm_timer(conn);
}

void sf_conn_detach(struct sf_conn *conn)
{
	if (SF_BUG(foreign_thread(conn)))
		return;
	free_events(conn);
	conn->base = NULL;
	if (conn->guard) {
		conn->guard->detached = true;
		conn->guard = NULL;
	}
}

int sf_conn_attach(struct sf_conn *conn, struct event_base *base)
{
	if (conn->base)
		return conn->base == base ? 0 : -1;
	conn->owner = pthread_self();
	if (conn->ended) {
		conn->base = base;
		return 0;
	}
	conn->ev_read = event_new(base, conn->fd, EV_READ | EV_PERSIST, on_readable, conn);
	conn->ev_write = event_new(base, conn->fd, EV_WRITE | EV_PERSIST, on_writable, conn);
	conn->ev_timer = evtimer_new(base, on_timer, conn);
	conn->ev_flush = event_new(base, -1, 0, on_flush, conn);
	if (!conn->ev_read || !conn->ev_write || !conn->ev_timer || !conn->ev_flush) {
		free_events(conn);
		return -1;
	}
	conn->base = base;
	conn->write_blocked = false;
	set_events(conn);
	schedule_flush(conn);
	arm_timer(conn);
	kick_pending(conn);
	if (conn->connecting && conn->connect_err)
		event_active(conn->ev_write, EV_WRITE, 1);
	return 0;
}

void sf_conn_close(struct sf_conn *conn)
{
	/* leaking it is the safe way out: its loop may be inside one of its callbacks */
	if (SF_BUG(foreign_thread(conn)))
		return;
	teardown(conn);
	if (conn->guard) {
		conn->guard->released = true;
		conn->guard = NULL;
		return;
	}
	free(conn);
}

void sf_conn_close_flush(struct sf_conn *conn, uint64_t bound_ms)
{
	if (SF_BUG(foreign_thread(conn)))
		return;
	if (conn->ended || !conn->base || bound_ms == 0 || sf_conn_output_len(conn) == 0) {
		sf_conn_close(conn);
		return;
	}
	memset(&conn->cb, 0, sizeof conn->cb);
	conn->user = NULL;
	conn->flushing = true;
	conn->above_mark = false;
	sf_conn_set_deadline(conn, bound_ms);
	set_events(conn);
	schedule_flush(conn);
}

int sf_conn_fd(const struct sf_conn *conn)
{
	return conn->fd;
}

struct event_base *sf_conn_base(const struct sf_conn *conn)
{
	return conn->base;
}

bool sf_conn_is_open(const struct sf_conn *conn)
{
	return !conn->ended;
}
