/* sf_kcp_flush: everything a session sends (kcp-go flush, docs/kcp.md). */
#include "kcp/kcp_int.h"

#include <stdlib.h>
#include <string.h>

/* One packet at a time, lent to out(); one buffer per thread instead of one per session. */
static _Thread_local uint8_t scratch[SF_KCP_MTU];

struct packet {
	struct sf_kcp *k;
	size_t len;
};

static void packet_emit(struct packet *p)
{
	if (!p->len)
		return;
	p->k->st.out_pkts++;
	sf_kcp_thread.emitting = true;
	p->k->out(scratch, p->len, p->k->user);
	sf_kcp_thread.emitting = false;
	p->len = 0;
}

static void packet_put(struct packet *p, const struct sf_kcp_hdr *h, const uint8_t *data)
{
	if (p->len + SF_KCP_OVERHEAD + h->len > SF_KCP_MTU)
		packet_emit(p);
	sf_kcp_hdr_encode(scratch + p->len, h);
	p->len += SF_KCP_OVERHEAD;
	if (h->len)
		memcpy(scratch + p->len, data, h->len);
	p->len += h->len;
	p->k->st.out_segs++;
}

/* ACKs below rcv_nxt are implied by una; kcp-go still sends the newest one. */
static void flush_acks(struct sf_kcp *k, struct packet *p, struct sf_kcp_hdr *h)
{
	for (uint32_t i = 0; i < k->acks_n; i++) {
		const struct kcp_ackpt *a = &k->acks[i];
		if (kcp_diff(a->sn, k->rcv_nxt) >= 0 || i == k->acks_n - 1) {
			h->sn = a->sn;
			h->ts = a->ts;
			packet_put(p, h, NULL);
		}
	}
	k->acks_n = 0;
	if (k->acks_cap) {
		kcp_mem_sub(k, (uint64_t)k->acks_cap * sizeof *k->acks);
		free(k->acks);
		k->acks = NULL;
		k->acks_cap = 0;
	}
}

/* While the peer advertises wnd 0: WASK 7 s after this was first seen, then every 1.5x longer. */
static void update_probe(struct sf_kcp *k, uint32_t now)
{
	if (k->rmt_wnd != 0) {
		k->ts_probe = 0;
		k->probe_wait = 0;
		return;
	}
	if (k->probe_wait == 0) {
		k->probe_wait = KCP_PROBE_INIT;
		k->ts_probe = now + k->probe_wait;
	} else if (kcp_diff(now, k->ts_probe) >= 0) {
		if (k->probe_wait < KCP_PROBE_INIT)
			k->probe_wait = KCP_PROBE_INIT;
		k->probe_wait += k->probe_wait / 2;
		if (k->probe_wait > KCP_PROBE_LIMIT)
			k->probe_wait = KCP_PROBE_LIMIT;
		k->ts_probe = now + k->probe_wait;
		k->probe |= KCP_ASK_SEND;
	}
}

/* snd_queue -> snd_buf while snd_nxt < snd_una + min(snd_wnd, rmt_wnd) (no cwnd: nc=1). */
static uint32_t take_new_segments(struct sf_kcp *k)
{
	uint32_t wnd = kcp_send_window(k), n = 0;
	while (k->sndq_head && kcp_diff(k->snd_nxt, k->snd_una + wnd) < 0) {
		struct kcp_seg *s = k->sndq_head;
		k->sndq_head = s->next;
		if (!k->sndq_head)
			k->sndq_tail = NULL;
		s = kcp_seg_shrink(k, s);
		s->next = NULL;
		s->sn = k->snd_nxt;
		if (kcp_ring_put(k, &k->snd_buf, k->snd_una, s) < 0) {
			/* Out of memory: leave it queued for a later flush. */
			s->next = k->sndq_head;
			k->sndq_head = s;
			if (!k->sndq_tail)
				k->sndq_tail = s;
			break;
		}
		k->sndq_count--;
		k->snd_nxt++;
		n++;
	}
	return n;
}

static void send_data(struct sf_kcp *k, struct packet *p, struct kcp_seg *s,
		      const struct sf_kcp_hdr *ctl, uint32_t now)
{
	s->xmit++;
	s->ts = now;
	if (s->xmit > k->st.max_xmit)
		k->st.max_xmit = s->xmit;
	struct sf_kcp_hdr h = {
		.conv = k->conv, .cmd = SF_KCP_CMD_PUSH, .wnd = ctl->wnd, .ts = now,
		.sn = s->sn, .una = ctl->una, .len = s->len,
	};
	packet_put(p, &h, s->data);
}

/* Does an ACK point mark s? fi walks the points (sn ascending) as s->sn ascends: the first
 * point above s->sn carries the highest ts of all points above it. */
static bool fast_marked(const struct sf_kcp *k, const struct kcp_seg *s, uint8_t *fi)
{
	while (*fi < k->fast_n && kcp_diff(k->fast[*fi].sn, s->sn) <= 0)
		(*fi)++;
	return *fi < k->fast_n && kcp_diff(s->ts, k->fast[*fi].ts) <= 0;
}

void kcp_fast_apply(struct sf_kcp *k)
{
	uint8_t fi = 0;
	for (uint32_t sn = k->snd_una; sn != k->snd_nxt; sn++) {
		struct kcp_seg *s = kcp_ring_get(&k->snd_buf, sn);
		if (s && s->xmit && fast_marked(k, s, &fi)) {
			s->fastack = true;
			k->fast_flagged = true;
		}
	}
	k->fast_n = 0;
}

static void track_resend(bool *have, uint32_t *at, uint32_t resendts)
{
	if (!*have || kcp_diff(resendts, *at) < 0)
		*at = resendts;
	*have = true;
}

/* Segments sent before: early retransmit (only when this flush sends no new segment), then RTO
 * (linear backoff, nodelay 0). Recomputes the earliest resend time. */
static void scan_sent(struct sf_kcp *k, struct packet *p, const struct sf_kcp_hdr *ctl,
		      uint32_t end, uint32_t n_new, uint32_t now)
{
	bool have = false, flagged = false;
	uint32_t at = 0;
	uint8_t fi = 0;
	for (uint32_t sn = k->snd_una; sn != end; sn++) {
		struct kcp_seg *s = kcp_ring_get(&k->snd_buf, sn);
		if (!s)
			continue;       /* ACKed, waiting for una */
		bool fast = s->fastack || fast_marked(k, s, &fi);
		if (fast && n_new == 0) {
			s->fastack = false;
			s->rto = k->rto;
			s->resendts = now + s->rto;
			k->st.retrans_early++;
			send_data(k, p, s, ctl, now);
		} else if (kcp_diff(now, s->resendts) >= 0) {
			s->fastack = false;
			s->rto += k->rto;
			s->resendts = now + s->rto;
			k->st.retrans_rto++;
			send_data(k, p, s, ctl, now);
		} else {
			s->fastack = fast;
		}
		flagged |= s->fastack;
		track_resend(&have, &at, s->resendts);
	}
	k->fast_n = 0;
	k->fast_flagged = flagged;
	k->snd_dirty = false;
	k->resend_valid = have;
	k->resend_at = at;
}

void sf_kcp_flush(struct sf_kcp *k, uint32_t now)
{
	/* A flush from out() would overwrite the scratch packet out() is still reading. */
	if (SF_BUG(sf_kcp_thread.emitting))
		return;
	struct packet p = { .k = k };
	struct sf_kcp_hdr ctl = {
		.conv = k->conv, .cmd = SF_KCP_CMD_ACK, .wnd = kcp_wnd_unused(k), .una = k->rcv_nxt,
	};
	k->st.flushes++;
	k->ts_flush = now;
	k->flushed = true;

	/* WASK/WINS reuse sn/ts of the last ACK written, as kcp-go does. */
	flush_acks(k, &p, &ctl);
	update_probe(k, now);
	if (k->probe & KCP_ASK_SEND) {
		ctl.cmd = SF_KCP_CMD_WASK;
		packet_put(&p, &ctl, NULL);
	}
	if (k->probe & KCP_ASK_TELL) {
		ctl.cmd = SF_KCP_CMD_WINS;
		packet_put(&p, &ctl, NULL);
	}
	k->probe = 0;

	uint32_t first_new = k->snd_nxt;
	uint32_t n_new = take_new_segments(k);

	bool due = k->resend_valid && kcp_diff(now, k->resend_at) >= 0;
	if (k->snd_dirty || k->fast_n || k->fast_flagged || due)
		scan_sent(k, &p, &ctl, first_new, n_new, now);

	for (uint32_t sn = first_new; sn != k->snd_nxt; sn++) {
		struct kcp_seg *s = kcp_ring_get(&k->snd_buf, sn);
		s->rto = k->rto;
		s->resendts = now + s->rto;
		k->st.out_data_segs++;
		send_data(k, &p, s, &ctl, now);
		track_resend(&k->resend_valid, &k->resend_at, s->resendts);
	}
	packet_emit(&p);
}
