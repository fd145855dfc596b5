/* One non-blocking connection driven by the libevent base it is attached to.
 *
 * Reads hand the owner up to SF_CONN_READ_CHUNK bytes per callback (lent for the call, from a
 * per-thread scratch buffer); writes are copied into an output buffer that is flushed whenever the
 * socket is writable. The connection belongs to one thread at a time: the front thread may
 * sf_conn_detach() it and another thread sf_conn_attach() it to its own base; buffered output,
 * pause state and the deadline travel with it. An attached connection may be called only from
 * the thread that runs its loop (or, before the loop has run one of its events, the thread that
 * attached it): a call from any other thread is refused and reported as a bug (src/lib/bug.h),
 * as it would race with the loop.
 *
 * Both sides of the relay use it: the WebSocket accepted by the front, and the outgoing connection
 * to tor's (Ext)ORPort (sf_conn_connect), which the dialer and then the relay stream own.
 *
 * Lifecycle: on_close(reason) tells the owner the connection ended by itself ("EOF", "timeout",
 * "read: connection reset by peer", "write: broken pipe", "connect: connection refused", ...); the
 * socket is already closed then.
 * The owner always ends with sf_conn_close() (or sf_conn_close_flush()), which releases the object;
 * both may be called from inside any callback of this connection. */
#ifndef SF_NET_CONN_H
#define SF_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct event_base;
struct sf_conn;

#define SF_CONN_READ_CHUNK 65536
#define SF_CONN_OUTPUT_CAP_DEFAULT (4u << 20)

/* How bytes move on the socket: the plain socket now, TLS later, without changing callers.
 * read/writev return a byte count > 0, 0 for EOF (read only), SF_CONN_WANT_READ or
 * SF_CONN_WANT_WRITE when they cannot progress until the socket is readable/writable, or -1 with
 * errno set on a fatal error. */
enum { SF_CONN_WANT_READ = -2, SF_CONN_WANT_WRITE = -3 };

struct sf_conn_transport {
	ssize_t (*read)(void *ctx, int fd, void *buf, size_t len);
	ssize_t (*writev)(void *ctx, int fd, const struct iovec *iov, int iovcnt);
	/* Bytes the transport already holds that no socket event will announce (TLS records);
	 * NULL means never any. */
	size_t (*pending)(void *ctx);
	/* Bytes the transport accepted from writev but the socket has not taken yet (TLS records
	 * sealed in one batch); they count as output. NULL means never any. */
	size_t (*unsent)(void *ctx);
	/* Sends those: 0 once none is left, SF_CONN_WANT_WRITE, or -1 with errno set. */
	ssize_t (*flush)(void *ctx, int fd);
	/* Releases ctx; called once, when the connection is released. NULL if nothing to do. */
	void (*free)(void *ctx);
};

/* recv() / sendmsg(MSG_NOSIGNAL) on the fd; ctx unused. */
extern const struct sf_conn_transport sf_conn_plain;

struct sf_conn_callbacks {
	void (*on_read)(void *user, const uint8_t *p, size_t n);
	/* Output fell to or below the sf_conn_set_drained() mark after having been above it. */
	void (*on_drained)(void *user);
	void (*on_close)(void *user, const char *reason);
	/* Optional. An outgoing connection (sf_conn_connect) is up; reading starts after it and
	 * output written before it leaves now. A failed connect ends in on_close instead. */
	void (*on_connected)(void *user);
	/* Optional. n bytes of the output left our buffer: the transport took them (for the plain
	 * transport, the socket did). An owner that must not count bytes as done while they are
	 * only queued (smux's window) counts them here. Fires once per flush, after the bytes are
	 * gone; the owner may write, close or half-close from it. */
	void (*on_sent)(void *user, size_t n);
	/* Optional. Asked before every read: the most bytes the owner takes now (capped at
	 * SF_CONN_READ_CHUNK); the read never asks the socket for more, so nothing is read that
	 * the owner cannot take. 0 pauses reading as sf_conn_pause_read() does, until the owner
	 * calls sf_conn_resume_read(). It must not call any sf_conn function. NULL: a full chunk. */
	size_t (*read_room)(void *user);
};

/* Takes ownership of fd (made non-blocking and TCP_NODELAY, as Go does for accepted conns).
 * base may be NULL: the connection then starts detached. Returns NULL on allocation failure (fd is
 * closed then). */
struct sf_conn *sf_conn_new(struct event_base *base, int fd, const struct sf_conn_callbacks *cb,
			    void *user);
struct sf_conn *sf_conn_new_transport(struct event_base *base, int fd,
				      const struct sf_conn_transport *tr, void *tr_ctx,
				      const struct sf_conn_callbacks *cb, void *user);

/* Outgoing connection: a socket of dst's family (IP_BIND_ADDRESS_NO_PORT: a bound source address
 * takes no port until connect), bound to src if src_len > 0, and a non-blocking connect to dst.
 * on_connected fires from base's loop once connected; a failed connect fires on_close with
 * "connect: <errno text>" (also when connect() failed at once: no callback runs inside this
 * call). Use sf_conn_set_deadline() to bound the connect ("timeout"). Returns NULL, with err =
 * "<system call>: <errno text>" (the form Go's net.OpError ends with), if the socket could not
 * be made or bound. */
struct sf_conn *sf_conn_connect(struct event_base *base, const struct sockaddr *dst,
				socklen_t dst_len, const struct sockaddr *src, socklen_t src_len,
				const struct sf_conn_callbacks *cb, void *user, char *err, size_t errlen);

/* New owner, e.g. after a hand-over to a shard. */
void sf_conn_set_callbacks(struct sf_conn *conn, const struct sf_conn_callbacks *cb, void *user);

/* Copies n bytes to the output buffer. Returns 0, or -1 (nothing queued) if the connection has
 * ended or the output would exceed its cap. */
int sf_conn_write(struct sf_conn *conn, const void *p, size_t n);
size_t sf_conn_output_len(const struct sf_conn *conn);
/* Keeps *bytes up to date with what the output buffer holds (added on write, subtracted as the
 * socket takes it and when the connection is released): a shard's memory count of its links'
 * output at no more than one add per write. The counter belongs to the thread that runs the
 * connection's loop, and must outlive the connection or be replaced (NULL: none). */
void sf_conn_set_account(struct sf_conn *conn, uint64_t *bytes);
void sf_conn_set_output_cap(struct sf_conn *conn, size_t cap);
/* Arms on_drained for output <= below (0 disables). */
void sf_conn_set_drained(struct sf_conn *conn, size_t below);

/* Back-pressure on what reading makes the owner write (WebSocket Pongs): no reading while the
 * output is above high, again once it has drained to high / 2 (0 disables). A peer that sends
 * without reading then meets its own full socket instead of growing our queue. */
void sf_conn_set_read_limit(struct sf_conn *conn, size_t high);

/* Half-close: once all output has left (on_sent reported it), shutdown(SHUT_WR) tells the peer
 * we are done; reading goes on until the peer's EOF. Writes are refused from now on. */
void sf_conn_close_write(struct sf_conn *conn);
/* True once that shutdown has happened. */
bool sf_conn_write_closed(const struct sf_conn *conn);

void sf_conn_pause_read(struct sf_conn *conn);
void sf_conn_resume_read(struct sf_conn *conn);

/* on_close(user, "timeout") fires ms from now unless cleared (0) or replaced first. */
void sf_conn_set_deadline(struct sf_conn *conn, uint64_t ms);

/* Removes every event from the current base (buffers, pause state and deadline are kept). Only on
 * the thread running that base. May be called from this connection's own callbacks: this module
 * does not touch the connection again after a detach, so the callback may hand it to another
 * thread at once, provided the callback itself does not touch it afterwards either. */
void sf_conn_detach(struct sf_conn *conn);
/* Attaches a detached connection to base (on the thread running base). Returns 0, or -1 on
 * allocation failure (the connection stays detached). */
int sf_conn_attach(struct sf_conn *conn, struct event_base *base);

/* Closes at once, dropping pending output, and releases the connection. */
void sf_conn_close(struct sf_conn *conn);
/* Keeps flushing pending output (for at most bound_ms, discarding input meanwhile), then closes and
 * releases the connection. No callback fires any more. Closes at once if detached or empty. */
void sf_conn_close_flush(struct sf_conn *conn, uint64_t bound_ms);

int sf_conn_fd(const struct sf_conn *conn);
struct event_base *sf_conn_base(const struct sf_conn *conn);
/* False once the connection has ended (on_close fired). */
bool sf_conn_is_open(const struct sf_conn *conn);

#endif
