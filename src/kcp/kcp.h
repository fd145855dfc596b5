/* KCP engine, wire-compatible with kcp-go v5 as snowflake-server configures it (stream mode, MTU
 * 1400, windows 65535, NoDelay(0, 10, 0, 1), no crypto, no FEC). No I/O and no clock of its own:
 * the caller passes time in (u32 ms, any epoch, wrapping) and receives packets through out().
 *
 * Timing model (docs/kcp.md): feed every packet of one read event with sf_kcp_input, then call
 * sf_kcp_flush once; call sf_kcp_flush after sf_kcp_send; otherwise keep ONE timer armed at
 * sf_kcp_next_due() and flush when it fires. No periodic 10 ms tick is needed.
 *
 * A session is a single-threaded object. out() must copy the packet and must not call back into
 * any sf_kcp of the same thread (the packet lives in a per-thread scratch buffer): such a call is
 * refused (SF_KCP_EREENTERED, or nothing done) and reported as a bug (src/lib/bug.h). */
#ifndef SF_KCP_KCP_H
#define SF_KCP_KCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SF_KCP_MTU 1400
#define SF_KCP_OVERHEAD 24
#define SF_KCP_MSS (SF_KCP_MTU - SF_KCP_OVERHEAD)
#define SF_KCP_WND 65535        /* snd_wnd = rcv_wnd, in segments */

struct sf_kcp;

/* Default cap on the memory of all sessions of one thread (segments, rings, tables, ACK lists)
 * beyond which received PUSH segments are dropped unACKed (the peer resends them). */
#define SF_KCP_THREAD_RX_BUDGET (256ull << 20)
void sf_kcp_set_thread_rx_budget(uint64_t bytes);
uint64_t sf_kcp_thread_rx_budget(void);
uint64_t sf_kcp_thread_seg_bytes(void);
/* The most received data one session may hold (docs/security.md, "KCP"): an out-of-order PUSH
 * is dropped unACKed when the session's received bytes would pass it, an in-order one when its
 * unread in-order bytes would. 0 (the default) means the thread budget / SF_KCP_SHARE_DIVISOR,
 * so no single session can take more than that part of the budget. */
#define SF_KCP_SHARE_DIVISOR 8
void sf_kcp_set_session_rx_share(uint64_t bytes);
/* PUSH segments dropped on this thread because the thread budget was spent: a caller that
 * sees it grow should close sessions that hold memory without progress (sf_kcp_rx_stalled_ms). */
uint64_t sf_kcp_thread_over_budget(void);
/* Frees the segments this thread keeps for reuse; call before the thread exits. */
void sf_kcp_thread_cache_free(void);

/* pkt is LENT for the duration of the call only (it is a scratch buffer reused for the next
 * packet): the callee must copy it. This rule is what prevents upstream bug #40260. */
typedef void (*sf_kcp_output_fn)(const uint8_t *pkt, size_t len, void *user);

/* Counters, for stats and tests. */
struct sf_kcp_stats {
	uint64_t in_pkts;          /* packets given to sf_kcp_input */
	uint64_t in_bad_pkts;      /* ... of which rejected (short, wrong conv, bad cmd/len) */
	uint64_t in_segs;          /* segments accepted */
	uint64_t in_dup_segs;      /* PUSH already received (ACKed again, not stored) */
	uint64_t in_beyond_wnd;    /* PUSH beyond rcv_nxt + rcv_wnd (dropped, not ACKed) */
	uint64_t in_over_budget;   /* PUSH dropped (not ACKed): the thread's receive budget was spent */
	uint64_t in_over_share;    /* PUSH dropped (not ACKed): this session's share was spent */
	uint64_t out_pkts;         /* calls to out() */
	uint64_t out_segs;         /* segments encoded (ACK, WASK, WINS, PUSH) */
	uint64_t out_data_segs;    /* PUSH segments, first transmissions */
	uint64_t retrans_rto;      /* PUSH resent because its RTO expired */
	uint64_t retrans_early;    /* PUSH resent by early retransmit (later sn ACKed) */
	uint64_t acks_dropped;     /* ACKs not queued because the ACK list was full (abuse only) */
	uint64_t flushes;          /* calls to sf_kcp_flush */
	uint64_t mem_bytes;        /* bytes currently held in segments, rings and lists */
	uint32_t max_xmit;         /* most transmissions of one segment (kcp-go "dead link" at 20) */
	uint32_t rtt_last;         /* the latest RTT sample, in ms (one per input packet with ACKs) */
	uint64_t rtt_samples;      /* RTT samples taken */
};

/* A server session with the final settings already in force. NULL on allocation failure. */
struct sf_kcp *sf_kcp_new(uint32_t conv, sf_kcp_output_fn out, void *user);
void sf_kcp_free(struct sf_kcp *k);

/* What sf_kcp_input and sf_kcp_send return: 0, or why nothing (more) was taken. */
enum sf_kcp_result {
	SF_KCP_OK = 0,
	SF_KCP_ESHORT = -1,	/* packet shorter than a segment header */
	SF_KCP_ECONV = -2,	/* a segment of another conversation */
	SF_KCP_ELEN = -3,	/* a segment's len beyond the rest of the packet or the MSS */
	SF_KCP_ECMD = -4,	/* an unknown command */
	SF_KCP_ENOMEM = -5,	/* allocation failed */
	SF_KCP_EREENTERED = -6,	/* called from inside out(): a broken contract (SF_BUG) */
};

/* Processes one packet (one or more segments). Returns SF_KCP_OK, or why the packet was
 * rejected (SF_KCP_ESHORT, _ECONV, _ELEN, _ECMD). As in kcp-go, segments before the bad one stay
 * processed, and a rejected packet yields no RTT sample. */
int sf_kcp_input(struct sf_kcp *k, const uint8_t *pkt, size_t len, uint32_t now);

/* Copies up to cap in-order stream bytes into buf; returns how many (0 = none). */
size_t sf_kcp_recv(struct sf_kcp *k, uint8_t *buf, size_t cap);
/* Bytes sf_kcp_recv can return now. */
size_t sf_kcp_readable(const struct sf_kcp *k);

/* Appends len bytes to the stream (filling the last unsent segment first). Always accepts the
 * whole buffer, as kcp-go's Write does once admitted: the caller bounds what it queues with
 * sf_kcp_send_room. Returns SF_KCP_OK, or SF_KCP_ENOMEM (nothing queued then). */
int sf_kcp_send(struct sf_kcp *k, const uint8_t *data, size_t len);
/* Segments that may still be queued before reaching min(snd_wnd, rmt_wnd); 0 = stop feeding
 * (kcp-go's Write blocks exactly then). When >0, a write of any size would be admitted. */
size_t sf_kcp_send_room(const struct sf_kcp *k);
/* Segments sent and not yet covered by the peer's una, plus segments still queued. */
size_t sf_kcp_waitsnd(const struct sf_kcp *k);

/* Emits pending ACKs, WASK/WINS, new data that fits the window and due retransmissions. */
void sf_kcp_flush(struct sf_kcp *k, uint32_t now);
/* True when a flush would send something now (ACKs, WINS owed, queued data that fits the
 * window, an early retransmission). */
bool sf_kcp_flush_wanted(const struct sf_kcp *k);
/* Milliseconds until the next timer-driven flush (0 = flush now), or -1 when nothing is pending
 * at all: an idle session needs no timer. Timer work (RTO resends, deferred early resends, window
 * probes) is batched like kcp-go's 10 ms ticks: never due sooner than 10 ms after the last
 * flush. */
int32_t sf_kcp_next_due(const struct sf_kcp *k, uint32_t now);

uint32_t sf_kcp_conv(const struct sf_kcp *k);
uint32_t sf_kcp_rto(const struct sf_kcp *k);
uint32_t sf_kcp_rmt_wnd(const struct sf_kcp *k);
const struct sf_kcp_stats *sf_kcp_stats(const struct sf_kcp *k);
/* Bytes this session holds: its struct plus every segment, ring and list (malloc overhead not
 * counted). An idle session holds only the struct. */
size_t sf_kcp_footprint(const struct sf_kcp *k);
/* Received bytes this session holds (segments out of order or unread, and their table). */
size_t sf_kcp_rx_held(const struct sf_kcp *k);
/* How long the session has held received data without progress (rcv_nxt advancing or the
 * application reading), in ms; 0 when it holds none. Progress by reading is noted at the
 * session's next sf_kcp_input or at this call. */
uint32_t sf_kcp_rx_stalled_ms(struct sf_kcp *k, uint32_t now);

/* conv of a packet of at least 4 bytes (demux). */
static inline uint32_t sf_kcp_peek_conv(const uint8_t *pkt)
{
	return (uint32_t)pkt[0] | (uint32_t)pkt[1] << 8 | (uint32_t)pkt[2] << 16 |
	       (uint32_t)pkt[3] << 24;
}

/* sn of the first segment of a packet of at least 16 bytes (the conv-change rule, docs/kcp.md
 * "Sessions"). */
static inline uint32_t sf_kcp_peek_sn(const uint8_t *pkt)
{
	return (uint32_t)pkt[12] | (uint32_t)pkt[13] << 8 | (uint32_t)pkt[14] << 16 |
	       (uint32_t)pkt[15] << 24;
}

#endif
