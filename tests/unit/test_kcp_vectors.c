/* Replays the client->server packets of tests/vectors/kcp.json (captured from real kcp-go) into a
 * fresh server engine on a simulated clock and checks what it ACKs (docs/kcp.md filter), what it
 * delivers, and its WASK->WINS answers, byte for byte where the capture allows it. A capture is
 * not reproducible packet for packet, so the packets to replay against (landmarks) are named by
 * the file itself, in each scenario's "replay" object (tests/vectors/gen/kcp.go finds and checks
 * them); nothing here depends on one capture's indices or times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <math.h>

#include "kcp_test_util.h"

#define MAX_SN 70000

static json_t *vectors;

static int load_vectors(void **state)
{
	(void)state;
	vectors = vectors_load("kcp.json");
	return vectors ? 0 : -1;
}

static int free_vectors(void **state)
{
	(void)state;
	json_decref(vectors);
	return 0;
}

static json_t *scenario(size_t i)
{
	json_t *s = json_array_get(json_object_get(vectors, "scenarios"), i);
	assert_non_null(s);
	return s;
}

/* An integer of scenario i's "replay" object. */
static long replay_int(size_t i, const char *key)
{
	json_t *v = json_object_get(json_object_get(scenario(i), "replay"), key);
	if (!json_is_integer(v))
		fail_msg("kcp.json: scenario %zu: replay.%s is not an integer", i, key);
	return (long)json_integer_value(v);
}

/* Element k of an integer array of scenario i's "replay" object. */
static long replay_at(size_t i, const char *key, size_t k)
{
	json_t *v = json_array_get(json_object_get(json_object_get(scenario(i), "replay"), key), k);
	if (!json_is_integer(v))
		fail_msg("kcp.json: scenario %zu: replay.%s[%zu] is not an integer", i, key, k);
	return (long)json_integer_value(v);
}

static size_t replay_len(size_t i, const char *key)
{
	json_t *v = json_object_get(json_object_get(scenario(i), "replay"), key);
	assert_true(json_is_array(v));
	return json_array_size(v);
}

/* The listed packet of scenario sc whose capture index is i. */
static json_t *packet_i(size_t sc, long i)
{
	size_t k;
	json_t *p;
	json_array_foreach(json_object_get(scenario(sc), "packets"), k, p)
		if (json_integer_value(json_object_get(p, "i")) == i)
			return p;
	fail_msg("kcp.json: scenario %zu lists no packet %ld", sc, i);
	return NULL;
}

static double packet_t(json_t *p)
{
	return json_number_value(json_object_get(p, "t_ms"));
}

/* A packet as the link delivers it to the server. */
struct delivery {
	uint32_t now;
	uint8_t *pkt;
	size_t len;
};

/* What the receiving side must do, computed independently of the engine: the set of sn held,
 * rcv_nxt, the in-order segments not read yet, and the ACKs owed since the last flush. */
struct model {
	uint8_t have[MAX_SN];
	uint32_t rcv_nxt;
	uint32_t queued;
	uint32_t ack_sn[4096];
	uint32_t ack_ts[4096];
	size_t acks;
	size_t bytes_at[MAX_SN];        /* payload length per sn */
	uint8_t *payload[MAX_SN];
};

static void model_advance(struct model *m)
{
	while (m->rcv_nxt < MAX_SN && m->have[m->rcv_nxt] && m->queued < SF_KCP_WND) {
		m->rcv_nxt++;
		m->queued++;
	}
}

static void model_input(struct model *m, const uint8_t *pkt, size_t len)
{
	struct sf_kcp_hdr h[64];
	size_t n = parse_segments(pkt, len, h, 64);
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *data = pkt + off + SF_KCP_OVERHEAD;
		off += SF_KCP_OVERHEAD + h[i].len;
		if (h[i].cmd != SF_KCP_CMD_PUSH || h[i].sn >= m->rcv_nxt + SF_KCP_WND)
			continue;
		assert_true(m->acks < 4096);
		m->ack_sn[m->acks] = h[i].sn;
		m->ack_ts[m->acks++] = h[i].ts;
		if (h[i].sn >= m->rcv_nxt && !m->have[h[i].sn]) {
			m->have[h[i].sn] = 1;
			m->bytes_at[h[i].sn] = h[i].len;
			m->payload[h[i].sn] = malloc(h[i].len + 1);
			memcpy(m->payload[h[i].sn], data, h[i].len);
		}
		model_advance(m);
	}
}

/* The server's output of one flush must be exactly the filtered ACK list. */
static void model_check_flush(struct model *m, struct capture *cap, uint32_t conv)
{
	size_t want = 0;
	for (size_t i = 0; i < m->acks; i++)
		if (m->ack_sn[i] >= m->rcv_nxt || i == m->acks - 1)
			want++;
	size_t got = 0, next = 0;
	for (size_t p = 0; p < cap->n; p++) {
		struct sf_kcp_hdr h[64];
		size_t n = parse_segments(cap->pkt[p], cap->len[p], h, 64);
		for (size_t i = 0; i < n; i++) {
			while (next < m->acks && !(m->ack_sn[next] >= m->rcv_nxt || next == m->acks - 1))
				next++;
			assert_true(next < m->acks);
			assert_int_equal(h[i].conv, conv);
			assert_int_equal(h[i].cmd, SF_KCP_CMD_ACK);
			assert_int_equal(h[i].sn, m->ack_sn[next]);
			assert_int_equal(h[i].ts, m->ack_ts[next]);
			assert_int_equal(h[i].una, m->rcv_nxt);
			assert_int_equal(h[i].wnd, SF_KCP_WND - m->queued);
			assert_int_equal(h[i].len, 0);
			next++;
			got++;
		}
	}
	assert_int_equal(got, want);
	m->acks = 0;
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < MAX_SN; i++)
		free(m->payload[i]);
}

/* Reads n bytes (or everything) from the engine and checks them against the model's payloads. */
static size_t read_and_check(struct sf_kcp *k, struct model *m, uint32_t *read_sn, size_t *read_off,
			     size_t max)
{
	static uint8_t buf[1 << 16];
	size_t total = 0;
	while (total < max) {
		size_t want = max - total < sizeof buf ? max - total : sizeof buf;
		size_t n = sf_kcp_recv(k, buf, want);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			while (*read_off == m->bytes_at[*read_sn]) {
				(*read_sn)++;
				*read_off = 0;
				m->queued--;
			}
			assert_int_equal(buf[i], m->payload[*read_sn][*read_off]);
			(*read_off)++;
		}
		total += n;
	}
	/* A segment read to its end has left the queue. */
	while (*read_sn < m->rcv_nxt && *read_off == m->bytes_at[*read_sn]) {
		(*read_sn)++;
		*read_off = 0;
		m->queued--;
	}
	model_advance(m);
	return total;
}

static uint8_t *packet_hex(json_t *p, size_t *len)
{
	uint8_t *b = vectors_unhex(json_string_value(json_object_get(p, "hex")), len);
	assert_non_null(b);
	return b;
}

static bool is_c2s(json_t *p)
{
	return strcmp(json_string_value(json_object_get(p, "dir")), "c2s") == 0;
}

static bool is_dropped(json_t *p)
{
	return json_is_true(json_object_get(p, "dropped"));
}

/* Scenario 1 arrivals: the capture's c2s packets that were delivered, link_delay_ms after sending,
 * up to capture index upto_i. *d is allocated; returns the count. */
static size_t scenario1_arrivals(struct delivery **d, long upto_i)
{
	json_t *pkts = json_object_get(scenario(0), "packets");
	uint32_t delay = (uint32_t)replay_int(0, "link_delay_ms");
	size_t n = 0, i;
	json_t *p;
	*d = calloc(json_array_size(pkts) + 1, sizeof **d);
	assert_non_null(*d);
	json_array_foreach(pkts, i, p) {
		if (json_integer_value(json_object_get(p, "i")) > upto_i)
			break;
		if (!is_c2s(p) || is_dropped(p))
			continue;
		(*d)[n].now = (uint32_t)floor(packet_t(p) + delay);
		(*d)[n].pkt = packet_hex(p, &(*d)[n].len);
		n++;
	}
	return n;
}

static void free_arrivals(struct delivery *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(d[i].pkt);
	free(d);
}

/* Replays scenario 1 with read events of `tick` ms (0: one packet per read event). */
static void replay_scenario1(uint32_t tick)
{
	struct delivery *d;
	size_t n = scenario1_arrivals(&d, LONG_MAX);
	uint32_t conv = (uint32_t)replay_int(0, "conv");
	uint32_t sn_end = (uint32_t)replay_int(0, "client_push_sn_end");
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(conv, capture_out, &cap);
	struct model *m = calloc(1, sizeof *m);
	uint32_t read_sn = 0;
	size_t read_off = 0, read_total = 0;
	assert_non_null(m);
	assert_true(sn_end > 0 && sn_end < MAX_SN);

	for (size_t i = 0; i < n;) {
		size_t j = i;
		do {
			assert_int_equal(sf_kcp_input(k, d[j].pkt, d[j].len, d[j].now), 0);
			model_input(m, d[j].pkt, d[j].len);
			j++;
		} while (j < n && tick && d[j].now / tick == d[i].now / tick);
		sf_kcp_flush(k, d[j - 1].now);
		model_check_flush(m, &cap, conv);
		capture_clear(&cap);
		/* The server sends nothing else, so nothing is ever due. */
		assert_int_equal(sf_kcp_next_due(k, d[j - 1].now), -1);
		read_total += read_and_check(k, m, &read_sn, &read_off, SIZE_MAX);
		i = j;
	}
	/* The client's sn 0..end-1 all delivered, each payload once, in order. */
	assert_int_equal(m->rcv_nxt, sn_end);
	size_t want = 0;
	for (uint32_t sn = 0; sn < sn_end; sn++)
		want += m->bytes_at[sn];
	assert_int_equal(read_total, want);
	assert_int_equal(sf_kcp_readable(k), 0);
	assert_int_equal(sf_kcp_stats(k)->mem_bytes, 0);

	sf_kcp_free(k);
	capture_free(&cap);
	model_free(m);
	free(m);
	free_arrivals(d, n);
}

static void test_scenario1_one_packet_per_read(void **state)
{
	(void)state;
	replay_scenario1(0);
}

static void test_scenario1_10ms_reads(void **state)
{
	(void)state;
	replay_scenario1(10);
}

/* The last exchange of scenario 1: the client's RTO retransmission of its lost FIN (the last
 * sn, replay.fin_retransmission_packet) is answered with exactly the ACK that starts
 * replay.fin_ack_packet. */
static void test_scenario1_last_ack_exact(void **state)
{
	(void)state;
	struct delivery *d;
	size_t n = scenario1_arrivals(&d, replay_int(0, "fin_retransmission_packet"));
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new((uint32_t)replay_int(0, "conv"), capture_out, &cap);
	uint8_t buf[8192];
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sf_kcp_input(k, d[i].pkt, d[i].len, d[i].now), 0);
		capture_clear(&cap);
		while (sf_kcp_recv(k, buf, sizeof buf))
			;
		sf_kcp_flush(k, d[i].now);
	}
	size_t len;
	uint8_t *want = packet_hex(packet_i(0, replay_int(0, "fin_ack_packet")), &len);
	assert_true(len >= SF_KCP_OVERHEAD);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.len[0], SF_KCP_OVERHEAD);
	assert_memory_equal(cap.pkt[0], want, SF_KCP_OVERHEAD);     /* ACK sn end-1, una end, its ts */
	free(want);
	sf_kcp_free(k);
	capture_free(&cap);
	free_arrivals(d, n);
}

/* replay.server_first_push_packets: the server's first PUSHes (sn 0, 1, 2, ...; sn 2 was lost);
 * replay.early_ack_packet ACKs later ones with una 2: the server resends sn 2 by early
 * retransmit in the flush right after it, exactly as in replay.early_retransmission_packets. */
static void test_scenario1_early_retransmit(void **state)
{
	(void)state;
	struct delivery *d;
	size_t n = scenario1_arrivals(&d, replay_int(0, "early_ack_packet"));
	/* kcp-go's flush: one packet [ACK, PUSH sn 2], or an ACK-only packet then the PUSH; their
	 * segments back to back are what one packet of this engine must hold. */
	size_t elen = 0;
	uint8_t *want = NULL;
	size_t nflush = replay_len(0, "early_retransmission_packets");
	assert_true(nflush == 1 || nflush == 2);
	for (size_t f = 0; f < nflush; f++) {
		size_t len;
		uint8_t *b = packet_hex(packet_i(0, replay_at(0, "early_retransmission_packets", f)), &len);
		want = realloc(want, elen + len);
		assert_non_null(want);
		memcpy(want + elen, b, len);
		elen += len;
		free(b);
	}
	struct sf_kcp_hdr w[4];
	assert_int_equal(parse_segments(want, elen, w, 4), 2);
	assert_true(n > 0);
	const uint32_t arrival = d[n - 1].now;       /* when the early ACK reaches the server */
	const uint32_t flush_at = w[1].ts;           /* when kcp-go's server flushed the resend */
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new((uint32_t)replay_int(0, "conv"), capture_out, &cap);
	bool sent = false;
	uint32_t npush = 0, first_ts = 0, last_ts = 0;
	for (size_t i = 0; i < n; i++) {
		if (!sent && d[i].now >= arrival) {
			/* The server application writes what it wrote in the capture, each PUSH
			 * flushed at its own ts. */
			for (size_t pk = 0; pk < replay_len(0, "server_first_push_packets"); pk++) {
				size_t len;
				uint8_t *b = packet_hex(packet_i(0, replay_at(0, "server_first_push_packets", pk)),
							&len);
				struct sf_kcp_hdr h[64];
				size_t ns = parse_segments(b, len, h, 64);
				size_t off = 0;
				for (size_t s = 0; s < ns; s++) {
					if (h[s].cmd == SF_KCP_CMD_PUSH) {
						assert_int_equal(h[s].sn, npush);
						assert_int_equal(sf_kcp_send(k, b + off + SF_KCP_OVERHEAD,
									     h[s].len), 0);
						sf_kcp_flush(k, h[s].ts);
						if (npush++ == 0)
							first_ts = h[s].ts;
						last_ts = h[s].ts;
					}
					off += SF_KCP_OVERHEAD + h[s].len;
				}
				free(b);
			}
			sent = true;
			capture_clear(&cap);
			/* All PUSHes out, none ACKed: the first RTO is 200 ms after the first one. */
			assert_true(npush > 3);
			assert_int_equal(sf_kcp_waitsnd(k), npush);
			assert_int_equal(sf_kcp_next_due(k, last_ts), (int32_t)(first_ts + 200 - last_ts));
		}
		assert_int_equal(sf_kcp_input(k, d[i].pkt, d[i].len, d[i].now), 0);
		if (i + 1 < n && d[i + 1].now == d[i].now)
			continue;       /* same read event */
		if (sent)
			break;
		sf_kcp_flush(k, d[i].now);
		capture_clear(&cap);
	}
	assert_true(sent);
	sf_kcp_flush(k, flush_at);
	assert_int_equal(sf_kcp_stats(k)->retrans_early, 1);
	assert_int_equal(sf_kcp_stats(k)->retrans_rto, 0);
	assert_int_equal(sf_kcp_waitsnd(k), npush - 2); /* una 2; sn 2 and on outstanding */

	/* Same segments as the capture's flush except wnd (the capture's smux had read some by
	 * then). */
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.len[0], elen);
	struct sf_kcp_hdr g[4];
	assert_int_equal(parse_segments(cap.pkt[0], cap.len[0], g, 4), 2);
	assert_int_equal(g[0].cmd, SF_KCP_CMD_ACK);
	assert_int_equal(g[1].cmd, SF_KCP_CMD_PUSH);
	assert_int_equal(w[1].sn, 2);
	for (int s = 0; s < 2; s++) {
		assert_int_equal(g[s].cmd, w[s].cmd);
		assert_int_equal(g[s].sn, w[s].sn);
		assert_int_equal(g[s].una, w[s].una);
		assert_int_equal(g[s].ts, w[s].ts);
		assert_int_equal(g[s].len, w[s].len);
	}
	assert_memory_equal(cap.pkt[0] + 48, want + 48, elen - 48);   /* sn 2's payload */
	free(want);
	sf_kcp_free(k);
	capture_free(&cap);
	free_arrivals(d, n);
}

/* Scenario 2 lists a subset of the client's 65535 one-byte PUSHes that fill the window; the others
 * follow the same pattern (payload = sn mod 256), with ts and send time interpolated between
 * listed ones. Every client packet after the window reopened is listed and replayed as captured. */
struct s2_push {
	double t;
	uint32_t ts;
	bool listed;
};

static uint8_t *s2_packet(uint32_t conv, uint32_t sn, uint32_t ts, size_t *len)
{
	uint8_t *b = malloc(SF_KCP_OVERHEAD + 1);
	uint8_t byte = (uint8_t)sn;
	*len = make_seg(b, conv, SF_KCP_CMD_PUSH, 65535, ts, sn, 0, &byte, 1);
	return b;
}

/* The one segment of a listed packet (WASK, WINS, lone ACK). */
static struct sf_kcp_hdr lone_segment(json_t *p)
{
	size_t len;
	uint8_t *b = packet_hex(p, &len);
	struct sf_kcp_hdr h[2];
	assert_int_equal(parse_segments(b, len, h, 2), 1);
	free(b);
	return h[0];
}

static void test_scenario2_zero_window(void **state)
{
	(void)state;
	const uint32_t conv = (uint32_t)replay_int(1, "conv");
	const uint32_t delay = (uint32_t)replay_int(1, "link_delay_ms");
	const uint32_t total = (uint32_t)replay_int(1, "client_push_sn_end");
	const long captured = replay_int(1, "captured_packets");
	const long update_i = replay_int(1, "window_update_packet");
	assert_true(total > SF_KCP_WND && total < MAX_SN);
	assert_true(captured > update_i && captured < 10 * MAX_SN);
	json_t *pkts = json_object_get(scenario(1), "packets");
	struct s2_push *push = calloc(SF_KCP_WND, sizeof *push);
	json_t **listed = calloc((size_t)captured, sizeof *listed);     /* by capture index */
	assert_non_null(push);
	assert_non_null(listed);
	size_t i;
	json_t *p;
	json_array_foreach(pkts, i, p) {
		long idx = (long)json_integer_value(json_object_get(p, "i"));
		assert_true(idx >= 0 && idx < captured);
		listed[idx] = p;
		if (!is_c2s(p) || idx > update_i)
			continue;
		size_t len;
		uint8_t *b = packet_hex(p, &len);
		struct sf_kcp_hdr h[64];
		size_t ns = parse_segments(b, len, h, 64);
		json_t *segs = json_object_get(p, "segments");
		assert_int_equal(json_array_size(segs), ns);
		size_t off = 0;
		for (size_t s = 0; s < ns; s++) {
			bool resent = json_object_get(json_array_get(segs, s), "retransmission_of") != NULL;
			if (h[s].cmd == SF_KCP_CMD_PUSH && !resent) {
				/* The listed ones are exactly what the synthesised ones look like. */
				assert_true(h[s].sn < SF_KCP_WND);
				size_t slen;
				uint8_t *syn = s2_packet(conv, h[s].sn, h[s].ts, &slen);
				assert_int_equal(slen, SF_KCP_OVERHEAD + h[s].len);
				assert_memory_equal(syn, b + off, slen);
				free(syn);
				push[h[s].sn] = (struct s2_push){ packet_t(p), h[s].ts, true };
			}
			off += SF_KCP_OVERHEAD + h[s].len;
		}
		free(b);
	}
	assert_true(push[0].listed && push[SF_KCP_WND - 1].listed);
	for (uint32_t sn = 0; sn < SF_KCP_WND; sn++) {
		if (push[sn].listed)
			continue;
		uint32_t a = sn, b = sn;
		while (!push[a].listed)
			a--;
		while (!push[b].listed)
			b++;
		double f = (double)(sn - a) / (b - a);
		push[sn].t = push[a].t + f * (push[b].t - push[a].t);
		push[sn].ts = push[a].ts + (uint32_t)(f * (push[b].ts - push[a].ts));
	}

	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(conv, capture_out, &cap);
	struct model *m = calloc(1, sizeof *m);
	assert_non_null(m);
	uint32_t read_sn = 0;
	size_t read_off = 0;

	/* Phase 1: sn 0..65534 arrive link_delay_ms after sending, in 10 ms read events; nobody
	 * reads. */
	uint32_t sn = 0, now = 0;
	while (sn < SF_KCP_WND) {
		uint32_t tick = (uint32_t)(push[sn].t + delay) / 10;
		do {
			size_t len;
			uint8_t *b = s2_packet(conv, sn, push[sn].ts, &len);
			now = (uint32_t)(push[sn].t + delay);
			assert_int_equal(sf_kcp_input(k, b, len, now), 0);
			model_input(m, b, len);
			free(b);
			sn++;
		} while (sn < SF_KCP_WND && (uint32_t)(push[sn].t + delay) / 10 == tick);
		if (sn < SF_KCP_WND) {
			sf_kcp_flush(k, now);
			model_check_flush(m, &cap, conv);
			capture_clear(&cap);
		}
		assert_int_equal(sf_kcp_next_due(k, now), sn < SF_KCP_WND ? -1 : 0);
	}
	/* The flush after the last one is exactly replay.zero_window_ack_packet: ACK sn 65534,
	 * una 65535, wnd 0. */
	sf_kcp_flush(k, now);
	assert_int_equal(cap.n, 1);
	size_t len;
	uint8_t *want = packet_hex(listed[replay_int(1, "zero_window_ack_packet")], &len);
	assert_int_equal(cap.len[0], len);
	assert_memory_equal(cap.pkt[0], want, len);
	free(want);
	capture_clear(&cap);
	m->acks = 0;
	assert_int_equal(sf_kcp_readable(k), SF_KCP_WND);
	assert_int_equal(sf_kcp_next_due(k, now), -1);

	/* Two window probes, each answered by WINS wnd 0 at the next flush, exactly as captured. */
	assert_int_equal(replay_len(1, "wask_packets"), 2);
	assert_int_equal(replay_len(1, "wins_packets"), 2);
	for (size_t w = 0; w < 2; w++) {
		json_t *wask = listed[replay_at(1, "wask_packets", w)];
		json_t *wins = listed[replay_at(1, "wins_packets", w)];
		assert_non_null(wask);
		assert_non_null(wins);
		assert_int_equal(lone_segment(wask).cmd, SF_KCP_CMD_WASK);
		now = (uint32_t)(packet_t(wask) + delay);
		uint8_t *b = packet_hex(wask, &len);
		assert_int_equal(sf_kcp_input(k, b, len, now), 0);
		free(b);
		assert_true(sf_kcp_flush_wanted(k));
		sf_kcp_flush(k, now);
		want = packet_hex(wins, &len);
		assert_int_equal(cap.n, 1);
		assert_int_equal(cap.len[0], len);
		assert_memory_equal(cap.pkt[0], want, len);
		free(want);
		capture_clear(&cap);
		assert_int_equal(sf_kcp_next_due(k, now), -1);
	}

	/* The application reads as many one-byte segments as the capture's window update
	 * announces freed: a WINS with the freed window is owed, exactly as captured. */
	json_t *update = listed[update_i];
	assert_non_null(update);
	struct sf_kcp_hdr upd = lone_segment(update);
	assert_int_equal(upd.cmd, SF_KCP_CMD_WINS);
	assert_true(upd.wnd > 0);
	now = (uint32_t)packet_t(update);
	assert_int_equal(read_and_check(k, m, &read_sn, &read_off, upd.wnd), upd.wnd);
	assert_true(sf_kcp_flush_wanted(k));
	assert_int_equal(sf_kcp_next_due(k, now), 0);
	sf_kcp_flush(k, now);
	want = packet_hex(update, &len);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.len[0], len);
	assert_memory_equal(cap.pkt[0], want, len);
	free(want);
	capture_clear(&cap);

	/* Phase 2: the client's packets after the update, as captured, in 10 ms read events; the
	 * application reads everything. The last flush is exactly replay.last_ack_packet: ACK of
	 * the last sn, una = client_push_sn_end, wnd 65535. */
	struct delivery *d = calloc(json_array_size(pkts), sizeof *d);
	size_t n = 0;
	assert_non_null(d);
	for (long li = update_i + 1; li < captured; li++) {
		if (!listed[li] || !is_c2s(listed[li]))
			continue;
		d[n].now = (uint32_t)floor(packet_t(listed[li]) + delay);
		d[n].pkt = packet_hex(listed[li], &d[n].len);
		n++;
	}
	assert_true(n > 0);
	for (size_t a = 0; a < n;) {
		size_t b = a;
		do {
			assert_int_equal(sf_kcp_input(k, d[b].pkt, d[b].len, d[b].now), 0);
			model_input(m, d[b].pkt, d[b].len);
			b++;
		} while (b < n && d[b].now / 10 == d[a].now / 10);
		now = d[b - 1].now;
		read_and_check(k, m, &read_sn, &read_off, SIZE_MAX);
		sf_kcp_flush(k, now);
		if (b < n)
			model_check_flush(m, &cap, conv);
		else {
			want = packet_hex(listed[replay_int(1, "last_ack_packet")], &len);
			assert_int_equal(cap.n, 1);
			assert_int_equal(cap.len[0], len);
			assert_memory_equal(cap.pkt[0], want, len);
			free(want);
		}
		capture_clear(&cap);
		a = b;
	}
	assert_int_equal(m->rcv_nxt, total);
	assert_int_equal(read_sn, total);
	assert_int_equal(sf_kcp_readable(k), 0);
	assert_int_equal(sf_kcp_next_due(k, now), -1);
	assert_int_equal(sf_kcp_stats(k)->mem_bytes, 0);

	sf_kcp_free(k);
	capture_free(&cap);
	model_free(m);
	free(m);
	free(push);
	free(listed);
	free_arrivals(d, n);
}

/* docs/kcp.md, observed with the 2.9.2 server and a peer that never ACKs: the server
 * sends at t, t+200, t+600, t+1200 (rto 200, linear backoff) - driven by next_due alone. */
static void test_rto_schedule(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(7, capture_out, &cap);
	uint8_t pkt[64];
	uint32_t now = 1000;
	size_t n = make_seg(pkt, 7, SF_KCP_CMD_PUSH, 65535, 5, 0, 0, "x", 1);
	assert_int_equal(sf_kcp_input(k, pkt, n, now), 0);
	sf_kcp_flush(k, now);
	capture_clear(&cap);
	assert_int_equal(sf_kcp_send(k, (const uint8_t *)"hello", 5), 0);
	sf_kcp_flush(k, now);

	uint32_t sends[8];
	size_t nsends = 0;
	uint64_t flushes = sf_kcp_stats(k)->flushes;
	while (nsends < 6) {
		for (size_t i = 0; i < cap.n; i++) {
			struct sf_kcp_hdr h;
			sf_kcp_hdr_decode(cap.pkt[i], &h);
			assert_int_equal(h.cmd, SF_KCP_CMD_PUSH);
			assert_int_equal(h.sn, 0);
			assert_int_equal(h.ts, now);    /* each resend carries its own time */
			sends[nsends++] = now;
		}
		capture_clear(&cap);
		if (nsends == 6)
			break;
		int32_t due = sf_kcp_next_due(k, now);
		assert_true(due > 0);
		now += (uint32_t)due;
		sf_kcp_flush(k, now);
	}
	assert_int_equal(sends[0], 1000);
	assert_int_equal(sends[1], 1200);
	assert_int_equal(sends[2], 1600);
	assert_int_equal(sends[3], 2200);
	assert_int_equal(sends[4], 3000);
	assert_int_equal(sends[5], 4000);
	/* One flush per resend, no polling in between. */
	assert_int_equal(sf_kcp_stats(k)->flushes - flushes, 5);
	assert_int_equal(sf_kcp_stats(k)->retrans_rto, 5);
	assert_int_equal(sf_kcp_stats(k)->max_xmit, 6);
	sf_kcp_free(k);
	capture_free(&cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenario1_one_packet_per_read),
		cmocka_unit_test(test_scenario1_10ms_reads),
		cmocka_unit_test(test_scenario1_last_ack_exact),
		cmocka_unit_test(test_scenario1_early_retransmit),
		cmocka_unit_test(test_scenario2_zero_window),
		cmocka_unit_test(test_rto_schedule),
	};
	return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
