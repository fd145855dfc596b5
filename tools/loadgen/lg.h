/* snowflake-loadgen: many Snowflake client sessions in one thread, built from the project's own
 * sans-I/O layers in client mode (ws client frames, turbotunnel encapsulation, KCP, smux client
 * streams). Shared declarations of the tool; see README.md for the design. */
#ifndef LG_LG_H
#define LG_LG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "turbotunnel/encap.h"

struct event_base;
struct event;
struct bufferevent;
struct ssl_ctx_st;
struct sf_ws;
struct sf_kcp;
struct sf_smux_session;
struct sf_smux_stream;

enum lg_mode { LG_BULK, LG_PING, LG_IDLE, LG_SETUP };

enum lg_state { LG_S_WAITING, LG_S_DIALING, LG_S_UPGRADING, LG_S_OPEN, LG_S_DONE, LG_S_FAILED };

/* Growing array of latency samples, in microseconds. */
struct lg_samples {
	uint32_t *v;
	size_t n, cap;
};

struct lg_stream {
	struct lg_session *sess;
	struct sf_smux_stream *st;	/* NULL once closed */
	uint32_t seed;			/* where in the pattern this stream's bytes start */
	uint64_t sent;			/* payload bytes written */
	uint64_t verified;		/* echoed bytes checked */
	uint64_t target;		/* bytes to send in all (bulk: --bytes) */
	uint64_t ping_t0;		/* us; when the ping in flight was sent */
	uint64_t ping_end;		/* verified count that completes it */
	bool ping_inflight;
	bool pinger;			/* idle mode: one of the --active streams */
	bool established;		/* its first byte came back */
	bool settled;			/* established, or failed before */
	bool final_sent;		/* idle: the byte that proves it survived the hold */
	bool failed;
	bool done;
	/* the ping FIFO (pingers are due in the order they were queued: one interval for all) */
	struct lg_stream *ping_next;
	uint64_t ping_due;		/* ms */
};

struct lg_session {
	struct lg *lg;
	uint32_t idx;
	enum lg_state state;
	struct bufferevent *bev;
	struct sf_ws *ws;
	struct sf_kcp *kcp;
	struct sf_smux_session *smux;
	struct sf_tt_decoder *dec;
	struct lg_stream *streams;
	uint32_t nstreams, streams_done;
	uint8_t client_id[SF_TT_CLIENTID_LEN];
	uint64_t t_start, t_ws_up;	/* us */
	bool first_echo;
	bool kcp_dirty;			/* sf_kcp_send since the last flush */
	bool in_pump;
	/* dirty list: sessions whose KCP has timer work (retransmissions, ACKs owed) */
	struct lg_session *dirty_prev, *dirty_next;
	bool in_dirty;
	/* keepalive FIFO: a smux NOP every keepalive_ms, in the order sessions came up */
	struct lg_session *ka_next;
	uint64_t ka_due;		/* ms */
};

struct lg_opts {
	enum lg_mode mode;
	const char *url;
	bool tls;
	char host[300];			/* Host, SNI, certificate name */
	char path[512];
	char connect[320];		/* where TCP goes (default: the URL's host:port) */
	const char *ca_file;		/* wss://: verify against these; default: no verification */
	struct in_addr *sources;	/* local addresses to spread the sessions over */
	size_t nsources;
	uint32_t sessions, streams;
	uint64_t bytes;
	uint32_t write_size;
	double ramp;			/* sessions started per second; 0 = all at once */
	double duration_s;		/* ping: length; idle: hold */
	double interval_s;		/* ping interval */
	uint32_t ping_size;
	uint32_t active;		/* idle: streams that ping during the hold */
	double ping_delay_s;		/* idle: the pings start this long into the hold */
	uint32_t keepalive_ms;		/* smux NOP period (the Go client's: 10 s) */
	double timeout_s;
	const char *ready_file;
	int64_t corrupt_at;		/* test: send a wrong byte at this offset of the first stream */
};

struct lg_counters {
	uint64_t bytes_sent, bytes_verified, verify_failures;
	uint64_t msgs_out, bytes_out, msgs_in, bytes_in, pkts_out, pkts_in;
	uint64_t kcp_in_errors, kcp_retrans;
	uint64_t pings_sent, pings_ok, late_ticks;
	uint64_t established;		/* streams whose first byte came back */
	uint64_t streams_settled;	/* ... plus streams that failed before that */
	uint64_t err_dial, err_upgrade, err_ws, err_tt, err_smux, err_eof, err_verify, err_unfinished,
		err_stream_fin, err_alloc;
	uint64_t fds_max, fds_open;
};

struct lg {
	struct lg_opts o;
	struct event_base *base;
	struct ssl_ctx_st *ssl;
	struct sockaddr_storage dst;
	unsigned dst_len;
	struct event *tick;
	struct lg_session *sess;
	uint32_t started, finished;
	double ramp_credit;
	uint64_t t0, t_transfer0, t_transfer1, t_all_up, t_hold_end;
	bool hold_started, hold_over, finishing, timed_out;
	struct lg_session *dirty;
	struct lg_session *ka_head, *ka_tail;
	struct lg_stream *ping_head, *ping_tail;
	struct lg_samples setup, ws_connect, latency;
	struct lg_counters c;
	uint64_t rng;
};

/* clock */
uint64_t lg_now_us(void);
static inline uint64_t lg_now_ms(void) { return lg_now_us() / 1000; }

/* stats.c */
void lg_sample(struct lg_samples *s, uint64_t us);
/* {"count":..,"min":..,"mean":..,"p50":..,"p90":..,"p99":..,"max":..} in ms, or null */
void lg_samples_json(struct lg_samples *s, char *out, size_t cap);
double lg_samples_pct(struct lg_samples *s, double p);	/* ms; sorts; -1 when empty */
uint64_t lg_rand(struct lg *lg);

/* conn.c: dialling, TLS, the HTTP upgrade, socket I/O */
int lg_conn_ssl_init(struct lg *lg);
void lg_conn_start(struct lg_session *s);
void lg_conn_write(struct lg_session *s, const uint8_t *p, size_t n);
void lg_conn_close(struct lg_session *s);

/* stack.c: ws → turbotunnel → KCP → smux for one session */
int lg_stack_open(struct lg_session *s);	/* after the upgrade: preamble, KCP, smux, streams */
void lg_stack_input(struct lg_session *s, const uint8_t *p, size_t n);
void lg_stack_pump(struct lg_session *s);	/* drain KCP into smux, flush, dirty list */
void lg_stack_free(struct lg_session *s);
void lg_dirty_tick(struct lg *lg, uint64_t now_ms);
void lg_keepalive_tick(struct lg *lg, uint64_t now_ms);
void lg_session_fail(struct lg_session *s, uint64_t *err_counter);
void lg_session_stream_done(struct lg_session *s);
static inline bool lg_live(const struct lg_session *s)
{
	return s->state == LG_S_OPEN || s->state == LG_S_DONE;
}

/* work.c: what the streams do, and the payload check */
void lg_pattern_init(struct lg *lg);
void lg_work_stream_opened(struct lg_stream *ls);
void lg_work_data(struct lg_stream *ls, const uint8_t *p, size_t n);
void lg_work_writable(struct lg_stream *ls);
void lg_work_fill(struct lg_session *s);	/* write what the windows allow */
void lg_work_tick(struct lg *lg, uint64_t now_ms);
void lg_stream_settle(struct lg_stream *ls);

#endif
