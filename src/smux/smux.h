/* smux v2 session without I/O or clock (docs/smux.md): the KCP byte stream goes in
 * through sf_smux_input(), frames to send come out through the output callback, time is passed
 * in as monotonic milliseconds. Single-threaded: one owner calls everything.
 *
 * Callbacks run synchronously inside sf_smux_input/_tick/_stream_* calls. From stream_open,
 * stream_data, stream_fin and stream_writable the application may call
 * sf_smux_stream_write/_consumed/_close (also on other streams); it must not call sf_smux_input
 * or sf_smux_session_free from any callback, and output must not call back into the session. */
#ifndef SF_SMUX_SMUX_H
#define SF_SMUX_SMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Server settings of the reference (docs/smux.md "Behaviour") and our own hard limits. */
#define SF_SMUX_MAX_FRAME 32768                 /* largest PSH payload we send */
#define SF_SMUX_STREAM_WINDOW 1048576           /* MaxStreamBuffer: window we advertise */
#define SF_SMUX_SESSION_BUFFER 4194304          /* MaxReceiveBuffer: session bucket */
#define SF_SMUX_INITIAL_PEER_WINDOW 262144      /* assumed peer window until its first UPD */
#define SF_SMUX_KEEPALIVE_INTERVAL_MS 10000     /* the reference's NOP period (clients' too) */
/* Ours as a server (docs/smux.md "Behaviour"): every snowflake client since the first with smux
 * (2020) closes a session only after 10 minutes without a frame (KeepAliveTimeout), and the
 * acknowledgements of its own NOPs, every 10 s, keep the proxy's inactivity timer going. */
#define SF_SMUX_SERVER_KEEPALIVE_MS 60000
/* How far behind the peer's keepalive ticker ours steps, to answer its NOPs (session.c). */
#define SF_SMUX_KEEPALIVE_STEP_MS 1000
#define SF_SMUX_KEEPALIVE_TIMEOUT_MS 240000     /* idle check period */
#define SF_SMUX_MAX_STREAMS 1024                /* open streams per session; more are refused */
#define SF_SMUX_RECV_SLACK 65535                /* tolerated overrun past our window: one frame */

struct sf_smux_session;
struct sf_smux_stream;

struct sf_smux_callbacks {
	/* One whole frame; the bytes are lent for the call only. */
	void (*output)(void *sess_user, const uint8_t *frame, size_t len);
	/* New stream from a peer SYN. Return the stream's user pointer, or NULL to refuse it (it is
	 * then answered with FIN and freed). May write to or close the stream (then the return
	 * value is ignored). */
	void *(*stream_open)(void *sess_user, struct sf_smux_stream *s);
	/* Payload as it arrives (a frame may come in pieces). Lent for the call. The bytes count
	 * against the windows until sf_smux_stream_consumed() says they were really used. */
	void (*stream_data)(void *stream_user, const uint8_t *data, size_t len);
	/* Peer sent FIN: no more data will be delivered and writes are refused from now on. */
	void (*stream_fin)(void *stream_user);
	/* The peer's window reopened (UPD) after a write accepted fewer bytes than asked. */
	void (*stream_writable)(void *stream_user);
};

/* Copies *cb. NULL on allocation failure. The keepalive timers start at now. */
struct sf_smux_session *sf_smux_session_new(const struct sf_smux_callbacks *cb, void *sess_user,
					    uint64_t now);
/* The idle check's period (0: SF_SMUX_KEEPALIVE_TIMEOUT_MS), restarted at now. Upstream's is
 * fixed; the shard takes another only from its embedder (tests that cannot wait 4 minutes). */
void sf_smux_set_idle_timeout(struct sf_smux_session *s, uint64_t timeout_ms, uint64_t now);
/* Our NOP period (0: SF_SMUX_KEEPALIVE_INTERVAL_MS, the reference's), the ticker restarted at now,
 * and whether ours rides with the peer's NOPs (docs/smux.md "Behaviour"). A new session keeps the
 * reference's plain 10 s ticker, as the load generator does to behave like the Go clients; the
 * server's sessions take SF_SMUX_SERVER_KEEPALIVE_MS and ride. */
void sf_smux_set_keepalive(struct sf_smux_session *s, uint64_t interval_ms, bool ride,
			   uint64_t now);
/* Frees the session and all its streams WITHOUT calling any callback and without sending. */
void sf_smux_session_free(struct sf_smux_session *s);

/* Feeds bytes of the peer's stream, split anywhere. 0 ok; -1 protocol error (sticky: every later
 * call fails too), after which the caller ends the session. now is currently unused. */
int sf_smux_input(struct sf_smux_session *s, const uint8_t *data, size_t len, uint64_t now);

/* Bytes delivered to streams but not yet consumed. The caller stops feeding input while this is
 * >= SF_SMUX_SESSION_BUFFER (the reference's token bucket). */
size_t sf_smux_unconsumed(const struct sf_smux_session *s);
/* The application gives back n bytes of streams it closed while still holding their delivered,
 * unconsumed bytes (it wrote them out or dropped them). n is clamped to what closed streams hold;
 * the bytes of open streams are given back with sf_smux_stream_consumed only. */
void sf_smux_release(struct sf_smux_session *s, size_t n);
/* Client side (xtaci/smux's OpenStream, for the load generator): a new stream with the next odd
 * id (1, 3, 5, ...), announced with SYN at once; its callbacks are the session's. NULL when
 * SF_SMUX_MAX_STREAMS are open, the ids are used up, the session is broken, or on allocation
 * failure. A server session never calls it, so its peer's ids stay the only ones in its table. */
struct sf_smux_stream *sf_smux_stream_open(struct sf_smux_session *s, void *user);
/* Open streams (not yet closed by us). */
size_t sf_smux_stream_count(const struct sf_smux_session *s);

/* Milliseconds until sf_smux_tick() has work (0 = now). */
int64_t sf_smux_next_due(const struct sf_smux_session *s, uint64_t now);
/* Sends the NOP when due and runs the idle check; -1 when the session is dead (nothing arrived
 * during a whole idle-check period (sf_smux_set_idle_timeout) while the bucket was not full, or after a
 * protocol error). */
int sf_smux_tick(struct sf_smux_session *s, uint64_t now);

uint32_t sf_smux_stream_id(const struct sf_smux_stream *st);
void *sf_smux_stream_user(const struct sf_smux_stream *st);
/* Bytes the peer's window allows now; 0 after the peer's FIN. */
size_t sf_smux_stream_write_room(const struct sf_smux_stream *st);
/* Sends up to the room in PSH frames of <= SF_SMUX_MAX_FRAME bytes; returns the bytes accepted.
 * Accepting fewer than len arms the stream_writable callback. */
size_t sf_smux_stream_write(struct sf_smux_stream *st, const uint8_t *data, size_t len);
/* The application used n delivered bytes (n is clamped to what is outstanding); sends UPD after
 * the first bytes ever consumed and after every SF_SMUX_STREAM_WINDOW/2 more (docs/smux.md
 * "Behaviour"). */
void sf_smux_stream_consumed(struct sf_smux_stream *st, size_t n);
/* Sends FIN and frees the stream at once; later PSH frames for its id are discarded. Its delivered
 * bytes not yet consumed stay counted in the session bucket: give them back with sf_smux_release
 * as they are written out or dropped. */
void sf_smux_stream_close(struct sf_smux_stream *st);

#endif
