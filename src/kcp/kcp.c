/* Session lifecycle, memory, the application side (send/recv) and the timer queries. */
#include "kcp/kcp_int.h"

#include <stdlib.h>
#include <string.h>

struct sf_kcp *sf_kcp_new(uint32_t conv, sf_kcp_output_fn out, void *user)
{
	struct sf_kcp *k = calloc(1, sizeof *k);
	if (!k)
		return NULL;
	k->conv = conv;
	k->rmt_wnd = KCP_RMT_WND_INIT;
	k->rto = KCP_RTO_DEF;
	k->out = out;
	k->user = user;
	return k;
}

static void free_list(struct sf_kcp *k, struct kcp_seg *s)
{
	while (s) {
		struct kcp_seg *next = s->next;
		kcp_seg_free(k, s);
		s = next;
	}
}

static void free_ring(struct sf_kcp *k, struct kcp_ring *r)
{
	for (uint32_t i = 0; i < r->cap; i++)
		if (r->slot[i])
			kcp_seg_free(k, r->slot[i]);
	/* The slot array was counted on the thread when it grew (kcp_ring_put). */
	kcp_mem_sub(k, (uint64_t)r->cap * sizeof *r->slot);
	free(r->slot);
}

void sf_kcp_free(struct sf_kcp *k)
{
	if (!k)
		return;
	/* The session may be the one out() is running for: leaking it is the safe way out. */
	if (SF_BUG(sf_kcp_thread.emitting))
		return;
	free_list(k, k->sndq_head);
	free_list(k, k->rcvq_head);
	if (k->rd_seg)
		kcp_seg_free(k, k->rd_seg);
	free_ring(k, &k->snd_buf);
	kcp_oo_free(k);
	kcp_mem_sub(k, (uint64_t)k->acks_cap * sizeof *k->acks); /* ACKs not flushed yet */
	free(k->acks);
	free(k);
}

/* ---- memory ---- */

_Thread_local struct kcp_thread_state sf_kcp_thread = { .rx_budget = SF_KCP_THREAD_RX_BUDGET };
static _Thread_local uint64_t session_share;    /* 0: a fixed part of the budget */

void sf_kcp_set_thread_rx_budget(uint64_t bytes)
{
	sf_kcp_thread.rx_budget = bytes;
}

uint64_t sf_kcp_thread_rx_budget(void)
{
	return sf_kcp_thread.rx_budget;
}

void sf_kcp_set_session_rx_share(uint64_t bytes)
{
	session_share = bytes;
}

uint64_t kcp_session_share(void)
{
	return session_share ? session_share : sf_kcp_thread.rx_budget / SF_KCP_SHARE_DIVISOR;
}

uint64_t sf_kcp_thread_over_budget(void)
{
	return sf_kcp_thread.over_budget;
}

uint64_t sf_kcp_thread_seg_bytes(void)
{
	return sf_kcp_thread.seg_bytes;
}

/* Full-size segments freed on this thread, kept for reuse: a bulk transfer allocates and frees
 * one per packet each way, and the allocator's work for that was a tenth of the server's user
 * time. The cache is bounded, so an idle server holds at most KCP_SEG_CACHE_MAX of them. */
#define KCP_SEG_CACHE_MAX 1024
static _Thread_local struct kcp_seg *seg_cache;
static _Thread_local unsigned seg_cache_n;

struct kcp_seg *kcp_seg_new(struct sf_kcp *k, uint16_t cap)
{
	struct kcp_seg *s;
	if (cap == SF_KCP_MSS && seg_cache) {
		s = seg_cache;
		seg_cache = s->next;
		seg_cache_n--;
	} else {
		s = malloc(sizeof *s + cap);
		if (!s)
			return NULL;
	}
	memset(s, 0, sizeof *s);
	s->cap = cap;
	kcp_mem_add(k, kcp_seg_size(s));
	return s;
}

void kcp_seg_free(struct sf_kcp *k, struct kcp_seg *s)
{
	kcp_mem_sub(k, kcp_seg_size(s));
	if (s->cap == SF_KCP_MSS && seg_cache_n < KCP_SEG_CACHE_MAX) {
		s->next = seg_cache;
		seg_cache = s;
		seg_cache_n++;
		return;
	}
	free(s);
}

void sf_kcp_thread_cache_free(void)
{
	while (seg_cache) {
		struct kcp_seg *s = seg_cache;
		seg_cache = s->next;
		free(s);
	}
	seg_cache_n = 0;
}

struct kcp_seg *kcp_seg_shrink(struct sf_kcp *k, struct kcp_seg *s)
{
	if (s->cap == s->len)
		return s;
	struct kcp_seg *n = realloc(s, sizeof *s + s->len);
	if (!n)
		return s;       /* keeping the bigger block is harmless */
	kcp_mem_sub(k, (uint64_t)(n->cap - n->len));
	n->cap = n->len;
	return n;
}

int kcp_ring_put(struct sf_kcp *k, struct kcp_ring *r, uint32_t base, struct kcp_seg *s)
{
	uint32_t off = s->sn - base;
	if (off >= r->cap) {
		uint32_t cap = r->cap ? r->cap : KCP_RING_MIN;
		while (cap <= off)
			cap *= 2;
		struct kcp_seg **slot = calloc(cap, sizeof *slot);
		if (!slot)
			return -1;
		for (uint32_t i = 0; i < r->cap; i++)
			if (r->slot[i])
				slot[r->slot[i]->sn & (cap - 1)] = r->slot[i];
		free(r->slot);
		kcp_mem_add(k, (uint64_t)(cap - r->cap) * sizeof *slot);
		r->slot = slot;
		r->cap = cap;
	}
	r->slot[s->sn & (r->cap - 1)] = s;
	r->count++;
	return 0;
}

struct kcp_seg *kcp_ring_take(struct kcp_ring *r, uint32_t sn)
{
	if (!r->cap)
		return NULL;
	struct kcp_seg **p = &r->slot[sn & (r->cap - 1)];
	struct kcp_seg *s = *p;
	if (s && s->sn == sn) {
		*p = NULL;
		r->count--;
		return s;
	}
	return NULL;
}

void kcp_ring_release(struct sf_kcp *k, struct kcp_ring *r)
{
	if (r->count || !r->cap)
		return;
	kcp_mem_sub(k, (uint64_t)r->cap * sizeof *r->slot);
	free(r->slot);
	r->slot = NULL;
	r->cap = 0;
}

/* ---- receiving side ---- */

/* A received segment leaves the session: its bytes stop counting toward the share. */
static void rx_seg_free(struct sf_kcp *k, struct kcp_seg *s)
{
	k->rx_bytes -= kcp_seg_size(s);
	kcp_seg_free(k, s);
}

static void rcvq_push(struct sf_kcp *k, struct kcp_seg *s)
{
	if (s->len == 0) {
		/* Nothing to deliver. (kcp-go would keep it and stall its reader; its peers never
		 * send empty PUSHes.) */
		rx_seg_free(k, s);
		return;
	}
	s->next = NULL;
	if (k->rcvq_tail)
		k->rcvq_tail->next = s;
	else
		k->rcvq_head = s;
	k->rcvq_tail = s;
	k->rcvq_count++;
	k->rcvq_bytes += s->len;
}

void kcp_rcv_advance(struct sf_kcp *k)
{
	while (k->rcv_buf.count && k->rcvq_count < SF_KCP_WND) {
		struct kcp_seg *s = kcp_oo_take(k, k->rcv_nxt);
		if (!s)
			break;
		k->rcv_nxt++;
		rcvq_push(k, s);
	}
}

void kcp_rcv_store(struct sf_kcp *k, uint32_t sn, const uint8_t *data, uint16_t len)
{
	struct kcp_seg *s = kcp_seg_new(k, len);
	if (!s)
		return;         /* as if lost: the peer resends */
	s->sn = sn;
	s->len = len;
	memcpy(s->data, data, len);
	k->rx_bytes += kcp_seg_size(s);
	if (sn == k->rcv_nxt && k->rcvq_count < SF_KCP_WND) {
		k->rcv_nxt++;
		rcvq_push(k, s);
	} else if (kcp_oo_put(k, s) < 0) {
		rx_seg_free(k, s);
		return;
	}
	kcp_rcv_advance(k);
}

size_t sf_kcp_recv(struct sf_kcp *k, uint8_t *buf, size_t cap)
{
	bool was_full = k->rcvq_count >= SF_KCP_WND;
	bool popped = false;
	size_t n = 0;
	while (n < cap) {
		struct kcp_seg *s = k->rd_seg;
		if (!s) {
			s = k->rcvq_head;
			if (!s)
				break;
			k->rcvq_head = s->next;
			if (!k->rcvq_head)
				k->rcvq_tail = NULL;
			k->rcvq_count--;
			k->rcvq_bytes -= s->len;
			k->rd_seg = s;
			k->rd_off = 0;
			popped = true;
		}
		size_t take = s->len - k->rd_off;
		if (take > cap - n)
			take = cap - n;
		memcpy(buf + n, s->data + k->rd_off, take);
		n += take;
		k->rd_off += (uint16_t)take;
		if (k->rd_off == s->len) {
			rx_seg_free(k, s);
			k->rd_seg = NULL;
		}
	}
	if (n)
		k->rx_read_since = true;
	if (popped) {
		kcp_rcv_advance(k);
		/* The peer stopped sending at wnd 0 and only probes slowly: tell it at once. */
		if (was_full && k->rcvq_count < SF_KCP_WND)
			k->probe |= KCP_ASK_TELL;
	}
	return n;
}

size_t sf_kcp_readable(const struct sf_kcp *k)
{
	size_t n = k->rcvq_bytes;
	if (k->rd_seg)
		n += k->rd_seg->len - k->rd_off;
	return n;
}

/* ---- sending side ---- */

int sf_kcp_send(struct sf_kcp *k, const uint8_t *data, size_t len)
{
	if (SF_BUG(sf_kcp_thread.emitting))
		return SF_KCP_EREENTERED;
	struct kcp_seg *tail = k->sndq_tail;
	size_t fill = 0;
	if (tail && tail->len < SF_KCP_MSS)
		fill = SF_KCP_MSS - tail->len;
	if (fill > len)
		fill = len;

	/* Allocate first so that a failure queues nothing. */
	size_t rest = len - fill;
	struct kcp_seg *head = NULL, *last = NULL;
	uint32_t count = 0;
	while (rest) {
		struct kcp_seg *s = kcp_seg_new(k, SF_KCP_MSS);
		if (!s) {
			free_list(k, head);
			return SF_KCP_ENOMEM;
		}
		s->len = rest < SF_KCP_MSS ? (uint16_t)rest : SF_KCP_MSS;
		rest -= s->len;
		if (last)
			last->next = s;
		else
			head = s;
		last = s;
		count++;
	}

	if (fill) {
		memcpy(tail->data + tail->len, data, fill);
		tail->len += (uint16_t)fill;
		data += fill;
	}
	for (struct kcp_seg *s = head; s; s = s->next) {
		memcpy(s->data, data, s->len);
		data += s->len;
	}
	if (head) {
		if (tail)
			tail->next = head;
		else
			k->sndq_head = head;
		k->sndq_tail = last;
		k->sndq_count += count;
	}
	return 0;
}

size_t sf_kcp_waitsnd(const struct sf_kcp *k)
{
	return (size_t)(k->snd_nxt - k->snd_una) + k->sndq_count;
}

size_t sf_kcp_send_room(const struct sf_kcp *k)
{
	size_t limit = kcp_send_window(k);
	size_t wait = sf_kcp_waitsnd(k);
	return wait < limit ? limit - wait : 0;
}

/* ---- timer queries ---- */

bool sf_kcp_flush_wanted(const struct sf_kcp *k)
{
	if (k->acks_n || (k->probe & KCP_ASK_TELL) || k->fast_n)
		return true;
	return k->sndq_head && kcp_diff(k->snd_nxt, k->snd_una + kcp_send_window(k)) < 0;
}

static void earliest(int64_t *best, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (*best < 0 || ms < *best)
		*best = ms;
}

int32_t sf_kcp_next_due(const struct sf_kcp *k, uint32_t now)
{
	if (sf_kcp_flush_wanted(k))
		return 0;
	int64_t best = -1;
	if (k->resend_valid)
		earliest(&best, kcp_diff(k->resend_at, now));
	/* Marked segments wait for a flush without new data (kcp-go: its next tick). */
	if (k->fast_flagged)
		earliest(&best, 0);
	if (k->rmt_wnd == 0) {
		if (k->probe_wait == 0)
			earliest(&best, 0);     /* the flush that starts the probe timer */
		else
			earliest(&best, kcp_diff(k->ts_probe, now));
	}
	/* Timer work is batched like kcp-go's 10 ms ticks: at most one timer flush per interval,
	 * so segments sent a few ms apart are resent together; kcp-go resends up to one interval
	 * late as well. */
	if (best >= 0 && k->flushed) {
		int32_t gap = kcp_diff(k->ts_flush + KCP_INTERVAL, now);
		if (gap > KCP_INTERVAL)
			gap = KCP_INTERVAL;     /* a clock that went back */
		if (gap > best)
			best = gap;
	}
	return (int32_t)best;
}

/* ---- accessors ---- */

uint32_t sf_kcp_conv(const struct sf_kcp *k)
{
	return k->conv;
}

uint32_t sf_kcp_rto(const struct sf_kcp *k)
{
	return k->rto;
}

uint32_t sf_kcp_rmt_wnd(const struct sf_kcp *k)
{
	return k->rmt_wnd;
}

const struct sf_kcp_stats *sf_kcp_stats(const struct sf_kcp *k)
{
	return &k->st;
}

size_t sf_kcp_footprint(const struct sf_kcp *k)
{
	return sizeof *k + (size_t)k->st.mem_bytes;
}

size_t sf_kcp_rx_held(const struct sf_kcp *k)
{
	return (size_t)k->rx_bytes;
}

uint32_t sf_kcp_rx_stalled_ms(struct sf_kcp *k, uint32_t now)
{
	kcp_rx_note_progress(k, now);
	if (!k->rx_bytes)
		return 0;
	int32_t d = kcp_diff(now, k->rx_progress_at);
	return d > 0 ? (uint32_t)d : 0;
}
