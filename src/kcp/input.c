/* sf_kcp_input: what a received packet does to a session (kcp-go Input, docs/kcp.md). */
#include "kcp/kcp_int.h"

#include <stdlib.h>
#include <string.h>

/* Every sn below una has reached the peer: forget those segments. */
static void parse_una(struct sf_kcp *k, uint32_t una)
{
	if (kcp_diff(una, k->snd_una) <= 0 || k->snd_una == k->snd_nxt)
		return;
	while (k->snd_una != k->snd_nxt && kcp_diff(una, k->snd_una) > 0) {
		struct kcp_seg *s = kcp_ring_take(&k->snd_buf, k->snd_una);
		if (s)
			kcp_seg_free(k, s);
		k->snd_una++;
	}
	k->snd_dirty = true;
	if (k->snd_una == k->snd_nxt) {
		kcp_ring_release(k, &k->snd_buf);
		k->resend_valid = false;
		k->fast_flagged = false;
		k->fast_n = 0;
	}
}

/* Remembers the ACK (sn, ts) as a point that marks every unacked segment with a smaller sn and
 * ts <= ts for early retransmit. Only the points not dominated by another are kept. */
static void fast_note(struct sf_kcp *k, uint32_t sn, uint32_t ts)
{
	uint8_t n = k->fast_n, w = 0;
	for (uint8_t i = 0; i < n; i++) {
		struct kcp_ackpt *p = &k->fast[i];
		if (kcp_diff(p->sn, sn) >= 0 && kcp_diff(p->ts, ts) >= 0)
			return;
	}
	for (uint8_t i = 0; i < n; i++) {
		struct kcp_ackpt *p = &k->fast[i];
		if (!(kcp_diff(p->sn, sn) <= 0 && kcp_diff(p->ts, ts) <= 0))
			k->fast[w++] = *p;
	}
	k->fast_n = w;
	if (w == KCP_FAST_MAX)
		kcp_fast_apply(k);
	/* Insert keeping sn ascending (then ts is descending). */
	uint8_t i = k->fast_n;
	while (i > 0 && kcp_diff(k->fast[i - 1].sn, sn) > 0) {
		k->fast[i] = k->fast[i - 1];
		i--;
	}
	k->fast[i] = (struct kcp_ackpt){ sn, ts };
	k->fast_n++;
}

static void parse_ack(struct sf_kcp *k, uint32_t sn, uint32_t ts)
{
	if (kcp_diff(sn, k->snd_una) < 0 || kcp_diff(sn, k->snd_nxt) >= 0)
		return;
	struct kcp_seg *s = kcp_ring_take(&k->snd_buf, sn);
	if (s) {
		kcp_seg_free(k, s);
		k->snd_dirty = true;
		/* All ACKed but una not seen yet: only empty slots would remain. */
		kcp_ring_release(k, &k->snd_buf);
	}
	if (sn != k->snd_una)
		fast_note(k, sn, ts);
}

static void ack_push(struct sf_kcp *k, uint32_t sn, uint32_t ts)
{
	if (k->acks_n == k->acks_cap && k->acks_cap < KCP_ACKS_MAX) {
		uint32_t cap = k->acks_cap ? k->acks_cap * 2 : KCP_ACKS_MIN;
		struct kcp_ackpt *a = realloc(k->acks, cap * sizeof *a);
		if (a) {
			kcp_mem_add(k, (uint64_t)(cap - k->acks_cap) * sizeof *a);
			k->acks = a;
			k->acks_cap = cap;
		}
	}
	if (k->acks_n == k->acks_cap) {
		/* The flush filter will drop every ACK below rcv_nxt except the last one. */
		uint32_t w = 0;
		for (uint32_t i = 0; i < k->acks_n; i++)
			if (kcp_diff(k->acks[i].sn, k->rcv_nxt) >= 0 || i == k->acks_n - 1)
				k->acks[w++] = k->acks[i];
		k->acks_n = w;
	}
	if (k->acks_n == k->acks_cap) {
		k->st.acks_dropped++;
		return;
	}
	k->acks[k->acks_n++] = (struct kcp_ackpt){ sn, ts };
}

/* May a new PUSH be stored? An in-order one (it lets the session deliver) is held against the
 * session's unread bytes only, so a session's own out-of-order hoard cannot block the segment
 * that would release it; an out-of-order one against everything the session holds. Both
 * against the thread budget. */
static bool admit(struct sf_kcp *k, const struct sf_kcp_hdr *h)
{
	uint64_t need = sizeof(struct kcp_seg) + h->len;
	bool in_order = h->sn == k->rcv_nxt && k->rcvq_count < SF_KCP_WND;
	uint64_t mine = in_order ? k->rx_bytes - k->oo_bytes : k->rx_bytes;
	if (mine + need > kcp_session_share()) {
		k->st.in_over_share++;
		return false;
	}
	if (sf_kcp_thread.seg_bytes + need > sf_kcp_thread.rx_budget) {
		k->st.in_over_budget++;
		sf_kcp_thread.over_budget++;
		return false;
	}
	return true;
}

static void parse_push(struct sf_kcp *k, const struct sf_kcp_hdr *h, const uint8_t *data)
{
	if (kcp_diff(h->sn, k->rcv_nxt + SF_KCP_WND) >= 0) {
		k->st.in_beyond_wnd++;
		return;
	}
	if (kcp_diff(h->sn, k->rcv_nxt) < 0 || kcp_oo_get(&k->rcv_buf, h->sn)) {
		ack_push(k, h->sn, h->ts);
		k->st.in_dup_segs++;
		return;
	}
	if (!admit(k, h))
		return;         /* not ACKed: the peer sends it again */
	ack_push(k, h->sn, h->ts);
	kcp_rcv_store(k, h->sn, data, (uint16_t)h->len);
}

/* RFC 6298-style estimator with kcp-go's reduced gain for low samples. */
static void update_rtt(struct sf_kcp *k, int32_t rtt)
{
	k->st.rtt_samples++;
	k->st.rtt_last = (uint32_t)rtt;
	if (k->srtt == 0) {
		k->srtt = rtt;
		k->rttvar = rtt >> 1;
	} else {
		int32_t delta = rtt - k->srtt;
		k->srtt += delta >> 3;
		if (delta < 0)
			delta = -delta;
		if (rtt < k->srtt - k->rttvar)
			k->rttvar += (delta - k->rttvar) >> 5;
		else
			k->rttvar += (delta - k->rttvar) >> 2;
	}
	uint32_t var4 = (uint32_t)k->rttvar << 2;
	uint32_t rto = (uint32_t)k->srtt + (var4 > KCP_INTERVAL ? var4 : KCP_INTERVAL);
	if (rto < KCP_RTO_MIN)
		rto = KCP_RTO_MIN;
	if (rto > KCP_RTO_MAX)
		rto = KCP_RTO_MAX;
	k->rto = rto;
}

int sf_kcp_input(struct sf_kcp *k, const uint8_t *pkt, size_t len, uint32_t now)
{
	if (SF_BUG(sf_kcp_thread.emitting))
		return SF_KCP_EREENTERED;
	k->st.in_pkts++;
	if (len < SF_KCP_OVERHEAD) {
		k->st.in_bad_pkts++;
		return SF_KCP_ESHORT;
	}
	bool acked = false;
	uint32_t latest = 0;
	int rc = SF_KCP_OK;
	uint32_t rcv_nxt = k->rcv_nxt;
	bool held = k->rx_bytes != 0;
	while (len >= SF_KCP_OVERHEAD) {
		struct sf_kcp_hdr h;
		sf_kcp_hdr_decode(pkt, &h);
		if (h.conv != k->conv) {
			rc = SF_KCP_ECONV;
			break;
		}
		pkt += SF_KCP_OVERHEAD;
		len -= SF_KCP_OVERHEAD;
		if (h.len > len || h.len > SF_KCP_MSS) {
			rc = SF_KCP_ELEN;
			break;
		}
		if (!sf_kcp_cmd_valid(h.cmd)) {
			rc = SF_KCP_ECMD;
			break;
		}

		k->rmt_wnd = h.wnd;
		parse_una(k, h.una);
		switch (h.cmd) {
		case SF_KCP_CMD_ACK:
			parse_ack(k, h.sn, h.ts);
			acked = true;
			latest = h.ts;
			break;
		case SF_KCP_CMD_PUSH:
			parse_push(k, &h, pkt);
			break;
		case SF_KCP_CMD_WASK:
			k->probe |= KCP_ASK_TELL;
			break;
		default:        /* WINS: its wnd is all it says */
			break;
		}
		k->st.in_segs++;
		pkt += h.len;
		len -= h.len;
	}
	/* The stall clock (sf_kcp_rx_stalled_ms) restarts on delivery, on reading, and when the
	 * session starts holding data. */
	kcp_rx_note_progress(k, now);
	if (k->rcv_nxt != rcv_nxt || (!held && k->rx_bytes))
		k->rx_progress_at = now;
	if (rc < 0) {
		k->st.in_bad_pkts++;
		return rc;
	}
	/* One sample per packet, from its last ACK, as kcp-go. */
	if (acked && kcp_diff(now, latest) >= 0)
		update_rtt(k, kcp_diff(now, latest));
	return 0;
}
