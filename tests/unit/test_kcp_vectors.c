/* Replays the client->server packets of tests/vectors/kcp.json (captured from real kcp-go) into a
 * fresh server engine on a simulated clock and checks what it ACKs (docs/kcp.md filter), what it
 * delivers, and its WASK->WINS answers, byte for byte where the capture allows it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
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

/* Scenario 1 arrivals: the capture's c2s packets that were delivered, 20 ms after sending. */
static size_t scenario1_arrivals(struct delivery *d, size_t max, size_t upto_i)
{
	json_t *pkts = json_object_get(scenario(0), "packets");
	size_t n = 0, i;
	json_t *p;
	json_array_foreach(pkts, i, p) {
		if ((size_t)json_integer_value(json_object_get(p, "i")) > upto_i)
			break;
		if (!is_c2s(p) || is_dropped(p))
			continue;
		assert_true(n < max);
		d[n].now = (uint32_t)floor(json_number_value(json_object_get(p, "t_ms")) + 20);
		d[n].pkt = packet_hex(p, &d[n].len);
		n++;
	}
	return n;
}

static void free_arrivals(struct delivery *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(d[i].pkt);
}

/* Replays scenario 1 with read events of `tick` ms (0: one packet per read event). */
static void replay_scenario1(uint32_t tick)
{
	struct delivery d[128];
	size_t n = scenario1_arrivals(d, 128, SIZE_MAX);
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(0x11223344, capture_out, &cap);
	struct model *m = calloc(1, sizeof *m);
	uint32_t read_sn = 0;
	size_t read_off = 0, read_total = 0;
	assert_non_null(m);

	for (size_t i = 0; i < n;) {
		size_t j = i;
		do {
			assert_int_equal(sf_kcp_input(k, d[j].pkt, d[j].len, d[j].now), 0);
			model_input(m, d[j].pkt, d[j].len);
			j++;
		} while (j < n && tick && d[j].now / tick == d[i].now / tick);
		sf_kcp_flush(k, d[j - 1].now);
		model_check_flush(m, &cap, 0x11223344);
		capture_clear(&cap);
		/* The server sends nothing else, so nothing is ever due. */
		assert_int_equal(sf_kcp_next_due(k, d[j - 1].now), -1);
		read_total += read_and_check(k, m, &read_sn, &read_off, SIZE_MAX);
		i = j;
	}
	/* Client sn 0..42 all delivered, each payload once, in order. */
	assert_int_equal(m->rcv_nxt, 43);
	size_t want = 0;
	for (uint32_t sn = 0; sn < 43; sn++)
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

/* The last exchange of scenario 1: the client's RTO retransmission of sn 42 (packet 90) is
 * answered with exactly the ACK of packet 91. */
static void test_scenario1_last_ack_exact(void **state)
{
	(void)state;
	struct delivery d[128];
	size_t n = scenario1_arrivals(d, 128, 90);
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(0x11223344, capture_out, &cap);
	uint8_t buf[8192];
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sf_kcp_input(k, d[i].pkt, d[i].len, d[i].now), 0);
		capture_clear(&cap);
		while (sf_kcp_recv(k, buf, sizeof buf))
			;
		sf_kcp_flush(k, d[i].now);
	}
	json_t *p91 = json_array_get(json_object_get(scenario(0), "packets"), 91);
	assert_int_equal(json_integer_value(json_object_get(p91, "i")), 91);
	size_t len;
	uint8_t *want = packet_hex(p91, &len);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.len[0], SF_KCP_OVERHEAD);
	assert_memory_equal(cap.pkt[0], want, SF_KCP_OVERHEAD);     /* ACK sn42 una43 ts285 */
	free(want);
	sf_kcp_free(k);
	capture_free(&cap);
	free_arrivals(d, n);
}

/* Packets 33-37: the server's first five PUSHes (sn 2 was lost); packet 39 ACKs sn 3 and 4 with
 * una 2: the server resends sn 2 by early retransmit in the same flush (packet 49). */
static void test_scenario1_early_retransmit(void **state)
{
	(void)state;
	json_t *pkts = json_object_get(scenario(0), "packets");
	struct delivery d[128];
	size_t n = scenario1_arrivals(d, 128, 39);
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(0x11223344, capture_out, &cap);
	bool sent = false;
	for (size_t i = 0; i < n; i++) {
		if (!sent && d[i].now >= 63) {
			/* The server application writes what it wrote in the capture, at ts 23. */
			for (size_t pi = 33; pi <= 37; pi++) {
				size_t len;
				uint8_t *b = packet_hex(json_array_get(pkts, pi), &len);
				struct sf_kcp_hdr h[8];
				size_t ns = parse_segments(b, len, h, 8);
				size_t off = 0;
				for (size_t s = 0; s < ns; s++) {
					if (h[s].cmd == SF_KCP_CMD_PUSH) {
						assert_int_equal(sf_kcp_send(k, b + off + SF_KCP_OVERHEAD,
									     h[s].len), 0);
						sf_kcp_flush(k, 23);
					}
					off += SF_KCP_OVERHEAD + h[s].len;
				}
				free(b);
			}
			sent = true;
			capture_clear(&cap);
			/* Five PUSHes out, none ACKed: the first RTO is 200 ms after ts 23. */
			assert_int_equal(sf_kcp_waitsnd(k), 5);
			assert_int_equal(sf_kcp_next_due(k, 23), 200);
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
	sf_kcp_flush(k, 63);
	assert_int_equal(sf_kcp_stats(k)->retrans_early, 1);
	assert_int_equal(sf_kcp_stats(k)->retrans_rto, 0);
	assert_int_equal(sf_kcp_waitsnd(k), 3);         /* sn 2 unacked, 3 and 4 ACKed */

	/* Same segments as packet 49 except wnd (the capture's smux had read some by then). */
	size_t len;
	uint8_t *want = packet_hex(json_array_get(pkts, 49), &len);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.len[0], len);
	struct sf_kcp_hdr g[4], w[4];
	assert_int_equal(parse_segments(cap.pkt[0], cap.len[0], g, 4), 2);
	assert_int_equal(parse_segments(want, len, w, 4), 2);
	assert_int_equal(g[0].cmd, SF_KCP_CMD_ACK);
	assert_int_equal(g[1].cmd, SF_KCP_CMD_PUSH);
	for (int s = 0; s < 2; s++) {
		assert_int_equal(g[s].sn, w[s].sn);
		assert_int_equal(g[s].una, w[s].una);
		assert_int_equal(g[s].ts, w[s].ts);
		assert_int_equal(g[s].len, w[s].len);
	}
	assert_memory_equal(cap.pkt[0] + 48, want + 48, len - 48);    /* sn 2's payload */
	free(want);
	sf_kcp_free(k);
	capture_free(&cap);
	free_arrivals(d, n);
}

/* Scenario 2 lists a subset of the client's 66000 one-byte PUSHes; the others follow the same
 * pattern (payload = sn mod 256), with ts and send time interpolated between listed ones. */
struct s2_push {
	double t;
	uint32_t ts;
	bool listed;
};

static uint8_t *s2_packet(uint32_t sn, uint32_t ts, size_t *len)
{
	uint8_t *b = malloc(SF_KCP_OVERHEAD + 1);
	uint8_t byte = (uint8_t)sn;
	*len = make_seg(b, 0x55667788, SF_KCP_CMD_PUSH, 65535, ts, sn, 0, &byte, 1);
	return b;
}

static void test_scenario2_zero_window(void **state)
{
	(void)state;
	const uint32_t total = 66000;
	json_t *pkts = json_object_get(scenario(1), "packets");
	struct s2_push *push = calloc(total, sizeof *push);
	json_t *listed[70000] = { 0 };       /* by capture index */
	size_t i;
	json_t *p;
	json_array_foreach(pkts, i, p) {
		size_t idx = (size_t)json_integer_value(json_object_get(p, "i"));
		listed[idx] = p;
		if (!is_c2s(p))
			continue;
		size_t len;
		uint8_t *b = packet_hex(p, &len);
		struct sf_kcp_hdr h;
		sf_kcp_hdr_decode(b, &h);
		if (h.cmd == SF_KCP_CMD_PUSH) {
			/* The listed ones are exactly what the synthesised ones look like. */
			size_t slen;
			uint8_t *s = s2_packet(h.sn, h.ts, &slen);
			assert_int_equal(slen, len);
			assert_memory_equal(s, b, len);
			free(s);
			push[h.sn] = (struct s2_push){ json_number_value(json_object_get(p, "t_ms")),
						       h.ts, true };
		}
		free(b);
	}
	for (uint32_t sn = 0; sn < total; sn++) {
		if (push[sn].listed)
			continue;
		uint32_t a = sn, b = sn;
		while (!push[a].listed)
			a--;
		while (b < total && !push[b].listed)
			b++;
		if (b == total) {
			push[sn] = push[a];
			continue;
		}
		double f = (double)(sn - a) / (b - a);
		push[sn].t = push[a].t + f * (push[b].t - push[a].t);
		push[sn].ts = push[a].ts + (uint32_t)(f * (push[b].ts - push[a].ts));
	}

	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(0x55667788, capture_out, &cap);
	struct model *m = calloc(1, sizeof *m);
	assert_non_null(m);
	uint32_t read_sn = 0;
	size_t read_off = 0;

	/* Phase 1: sn 0..65534 arrive 1 ms after sending, in 10 ms read events; nobody reads. */
	uint32_t sn = 0, now = 0;
	while (sn < 65535) {
		uint32_t tick = (uint32_t)(push[sn].t + 1) / 10;
		do {
			size_t len;
			uint8_t *b = s2_packet(sn, push[sn].ts, &len);
			now = (uint32_t)(push[sn].t + 1);
			assert_int_equal(sf_kcp_input(k, b, len, now), 0);
			model_input(m, b, len);
			free(b);
			sn++;
		} while (sn < 65535 && (uint32_t)(push[sn].t + 1) / 10 == tick);
		if (sn < 65535) {
			sf_kcp_flush(k, now);
			model_check_flush(m, &cap, 0x55667788);
			capture_clear(&cap);
		}
		assert_int_equal(sf_kcp_next_due(k, now), sn < 65535 ? -1 : 0);
	}
	/* The flush after the last one is packet 65560: ACK sn 65534, una 65535, wnd 0. */
	sf_kcp_flush(k, now);
	assert_int_equal(cap.n, 1);
	size_t len;
	uint8_t *want = packet_hex(listed[65560], &len);
	assert_int_equal(cap.len[0], len);
	assert_memory_equal(cap.pkt[0], want, len);
	free(want);
	capture_clear(&cap);
	m->acks = 0;
	assert_int_equal(sf_kcp_readable(k), 65535);
	assert_int_equal(sf_kcp_next_due(k, now), -1);

	/* Two window probes, each answered by WINS wnd 0 at the next flush (65562, 65564). */
	const size_t wask[2] = { 65561, 65563 }, wins[2] = { 65562, 65564 };
	for (int w = 0; w < 2; w++) {
		now = (uint32_t)(json_number_value(json_object_get(listed[wask[w]], "t_ms")) + 1);
		uint8_t *b = packet_hex(listed[wask[w]], &len);
		assert_int_equal(sf_kcp_input(k, b, len, now), 0);
		free(b);
		assert_true(sf_kcp_flush_wanted(k));
		sf_kcp_flush(k, now);
		want = packet_hex(listed[wins[w]], &len);
		assert_int_equal(cap.n, 1);
		assert_int_equal(cap.len[0], len);
		assert_memory_equal(cap.pkt[0], want, len);
		free(want);
		capture_clear(&cap);
		assert_int_equal(sf_kcp_next_due(k, now), -1);
	}

	/* The application reads 29046 bytes: a WINS with the freed window is owed (65565). */
	now = 18080;
	assert_int_equal(read_and_check(k, m, &read_sn, &read_off, 29046), 29046);
	assert_true(sf_kcp_flush_wanted(k));
	assert_int_equal(sf_kcp_next_due(k, now), 0);
	sf_kcp_flush(k, now);
	want = packet_hex(listed[65565], &len);
	assert_int_equal(cap.n, 1);
	assert_memory_equal(cap.pkt[0], want, len);
	free(want);
	capture_clear(&cap);

	/* Phase 2: the client sends sn 65535..65999; the application keeps reading. The last
	 * flush is packet 66031: ACK sn 65999, una 66000, wnd 65535. */
	while (sn < total) {
		uint32_t tick = (uint32_t)(push[sn].t + 1) / 10;
		do {
			uint8_t *b = s2_packet(sn, push[sn].ts, &len);
			now = (uint32_t)(push[sn].t + 1);
			assert_int_equal(sf_kcp_input(k, b, len, now), 0);
			model_input(m, b, len);
			free(b);
			sn++;
		} while (sn < total && (uint32_t)(push[sn].t + 1) / 10 == tick);
		read_and_check(k, m, &read_sn, &read_off, SIZE_MAX);
		sf_kcp_flush(k, now);
		if (sn < total)
			model_check_flush(m, &cap, 0x55667788);
		else {
			want = packet_hex(listed[66031], &len);
			assert_int_equal(cap.n, 1);
			assert_int_equal(cap.len[0], len);
			assert_memory_equal(cap.pkt[0], want, len);
			free(want);
		}
		capture_clear(&cap);
	}
	assert_int_equal(read_sn, total);
	assert_int_equal(sf_kcp_readable(k), 0);
	assert_int_equal(sf_kcp_next_due(k, now), -1);
	assert_int_equal(sf_kcp_stats(k)->mem_bytes, 0);

	sf_kcp_free(k);
	capture_free(&cap);
	model_free(m);
	free(m);
	free(push);
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
