/* Internals shared by the kcp/ files. Not part of the API. */
#ifndef SF_KCP_KCP_INT_H
#define SF_KCP_KCP_INT_H

#include "kcp/codec.h"
#include "kcp/kcp.h"
#include "lib/bug.h"

#define KCP_RTO_MIN 100         /* nodelay 0 */
#define KCP_RTO_DEF 200
#define KCP_RTO_MAX 60000
#define KCP_INTERVAL 10         /* NoDelay interval 0, clamped to 10 by kcp-go */
#define KCP_RMT_WND_INIT 32     /* assumed until the peer's first segment */
#define KCP_PROBE_INIT 7000
#define KCP_PROBE_LIMIT 120000

#define KCP_ASK_SEND 1          /* owe a WASK */
#define KCP_ASK_TELL 2          /* owe a WINS */

#define KCP_FAST_MAX 16         /* pending early-retransmit marks kept as ACK points */
#define KCP_ACKS_MAX 1024       /* ACKs queued between two flushes */
#define KCP_ACKS_MIN 16
#define KCP_RING_MIN 16
#define KCP_OO_MIN 16

struct kcp_seg {
	struct kcp_seg *next;   /* snd_queue / rcv_queue link */
	uint32_t sn;
	uint32_t ts;            /* when last sent */
	uint32_t resendts;
	uint32_t rto;
	uint32_t xmit;
	uint16_t len;
	uint16_t cap;
	bool fastack;           /* a later sn was ACKed: early retransmit at the next data-less flush */
	uint8_t data[];
};

/* Segment pointers indexed by sn & (cap - 1); every entry lies in [base, base + cap) for the
 * ring's base (snd_una or rcv_nxt), so no two entries collide. cap is 0 or a power of two. */
struct kcp_ring {
	struct kcp_seg **slot;
	uint32_t cap;
	uint32_t count;
};

/* Out-of-order received segments, found by sn through open addressing (linear probing) with
 * a per-session random multiplier, so a peer cannot aim its sns at one probe chain. The table
 * has 2 to 8 slots per held segment (16 at least): its size follows what is held, never how far
 * apart the sns are, unlike a ring indexed by sn (docs/security.md, "KCP"). */
struct kcp_oo {
	struct kcp_seg **slot;
	uint64_t mult;          /* odd, drawn when the session first holds a segment */
	uint32_t cap;           /* 0 or a power of two >= KCP_OO_MIN */
	uint32_t count;
	uint8_t shift;          /* 64 - log2(cap): the home slot is the product's top bits */
};

struct kcp_ackpt {
	uint32_t sn;
	uint32_t ts;
};

struct sf_kcp {
	uint32_t conv;
	uint32_t snd_una;
	uint32_t snd_nxt;
	uint32_t rcv_nxt;
	uint32_t rmt_wnd;
	int32_t srtt;
	int32_t rttvar;
	uint32_t rto;
	uint32_t ts_probe;
	uint32_t probe_wait;
	uint32_t resend_at;     /* earliest resendts of an unacked segment, when resend_valid */
	uint32_t ts_flush;      /* time of the last flush, when flushed */
	uint8_t probe;          /* KCP_ASK_* */
	bool flushed;
	bool resend_valid;
	bool snd_dirty;         /* snd_buf lost segments since the last scan: resend_at is stale */
	bool fast_flagged;      /* some segment has fastack set */
	uint8_t fast_n;

	sf_kcp_output_fn out;
	void *user;

	struct kcp_seg *sndq_head;      /* written, no sn yet; each allocated with cap = mss */
	struct kcp_seg *sndq_tail;
	uint32_t sndq_count;
	struct kcp_ring snd_buf;        /* sn in [snd_una, snd_nxt); NULL slot = ACKed */

	struct kcp_oo rcv_buf;          /* out of order, sn in [rcv_nxt, rcv_nxt + wnd) */
	struct kcp_seg *rcvq_head;      /* in order, waiting for sf_kcp_recv */
	struct kcp_seg *rcvq_tail;
	uint32_t rcvq_count;
	size_t rcvq_bytes;
	struct kcp_seg *rd_seg;         /* taken off rcvq, partly copied out */
	uint16_t rd_off;

	/* Receive-side memory, for the per-session share: rx_bytes is every received segment
	 * held (rcv_buf, rcv_queue, rd_seg) plus rcv_buf's table; oo_bytes the rcv_buf part. */
	uint64_t rx_bytes;
	uint64_t oo_bytes;
	uint32_t rx_progress_at;        /* when rcv_nxt last advanced, data was read or holding began */
	bool rx_read_since;             /* the application read since the last stamp */

	struct kcp_ackpt *acks;         /* (sn, ts) of PUSHes to ACK at the next flush */
	uint32_t acks_n;
	uint32_t acks_cap;
	/* ACKs received since the last flush, reduced to the points that can still mark a segment
	 * for early retransmit (sn ascending, ts descending): kcp-go's per-ACK fastack scan, done
	 * once per flush instead. */
	struct kcp_ackpt fast[KCP_FAST_MAX];

	struct sf_kcp_stats st;
};

static inline int32_t kcp_diff(uint32_t later, uint32_t earlier)
{
	return (int32_t)(later - earlier);
}

static inline uint16_t kcp_wnd_unused(const struct sf_kcp *k)
{
	return k->rcvq_count < SF_KCP_WND ? (uint16_t)(SF_KCP_WND - k->rcvq_count) : 0;
}

static inline uint32_t kcp_send_window(const struct sf_kcp *k)
{
	return k->rmt_wnd < SF_KCP_WND ? k->rmt_wnd : SF_KCP_WND;
}

/* The segment stored for sn, if any (a slot may hold another sn when sn is beyond the span). */
static inline struct kcp_seg *kcp_ring_get(const struct kcp_ring *r, uint32_t sn)
{
	struct kcp_seg *s = r->cap ? r->slot[sn & (r->cap - 1)] : NULL;
	return s && s->sn == sn ? s : NULL;
}

/* What the sessions of one thread share (one thread = one shard): their memory, its cap, and
 * whether an out() callback is running (it must not call back into any session of the thread:
 * the packet it was lent lives in the thread's one scratch buffer). */
struct kcp_thread_state {
	uint64_t seg_bytes;	/* memory of every session of this thread */
	uint64_t rx_budget;	/* cap on it for received data (sf_kcp_set_thread_rx_budget) */
	uint64_t over_budget;	/* PUSH segments dropped because of that cap */
	bool emitting;		/* inside an out() callback */
};
extern _Thread_local struct kcp_thread_state sf_kcp_thread;

/* Every byte a session allocates goes through here: its own count and the thread's. */
static inline void kcp_mem_add(struct sf_kcp *k, uint64_t n)
{
	k->st.mem_bytes += n;
	sf_kcp_thread.seg_bytes += n;
}
static inline void kcp_mem_sub(struct sf_kcp *k, uint64_t n)
{
	k->st.mem_bytes -= n;
	sf_kcp_thread.seg_bytes -= n;
}

static inline uint64_t kcp_seg_size(const struct kcp_seg *s)
{
	return sizeof *s + s->cap;
}

struct kcp_seg *kcp_seg_new(struct sf_kcp *k, uint16_t cap);
void kcp_seg_free(struct sf_kcp *k, struct kcp_seg *s);
/* Gives back the unused capacity of s; returns the (maybe moved) segment. */
struct kcp_seg *kcp_seg_shrink(struct sf_kcp *k, struct kcp_seg *s);

/* Stores s at s->sn, growing the ring so that off = s->sn - base fits. -1 on allocation failure. */
int kcp_ring_put(struct sf_kcp *k, struct kcp_ring *r, uint32_t base, struct kcp_seg *s);
struct kcp_seg *kcp_ring_take(struct kcp_ring *r, uint32_t sn);
/* Frees the slot array of an empty ring. */
void kcp_ring_release(struct sf_kcp *k, struct kcp_ring *r);

/* rcv_buf (rcvbuf.c). put: -1 on allocation failure. take: NULL when sn is not held. */
struct kcp_seg *kcp_oo_get(const struct kcp_oo *o, uint32_t sn);
int kcp_oo_put(struct sf_kcp *k, struct kcp_seg *s);
struct kcp_seg *kcp_oo_take(struct sf_kcp *k, uint32_t sn);
void kcp_oo_free(struct sf_kcp *k);

/* Moves in-order segments from rcv_buf to rcv_queue while the queue has room. */
void kcp_rcv_advance(struct sf_kcp *k);

/* Keeps a copy of an in-window PUSH with sn >= rcv_nxt not held yet. */
void kcp_rcv_store(struct sf_kcp *k, uint32_t sn, const uint8_t *data, uint16_t len);

/* Restarts the stall clock if the application read since the last call. */
static inline void kcp_rx_note_progress(struct sf_kcp *k, uint32_t now)
{
	if (k->rx_read_since) {
		k->rx_read_since = false;
		k->rx_progress_at = now;
	}
}

/* Sets fastack on every segment an ACK point marks and forgets the points. */
void kcp_fast_apply(struct sf_kcp *k);

/* Memory of every session of this thread, and the cap on it for received data: past it, new
 * PUSH segments are dropped unACKed (the peer resends), so a flood of sessions or of
 * out-of-order segments cannot grow a shard without bound. Each session may hold at most
 * kcp_session_share() of received data, so that no session can take the whole budget. */
uint64_t kcp_session_share(void);

#endif
