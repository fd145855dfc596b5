/* Two engines over a simulated link that drops, reorders and duplicates packets (fixed-seed
 * PRNG, simulated clock starting just before the u32 wrap). Transfers 2 MB each way and checks
 * every byte, and that flushes happen only on input, on writes and when next_due says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcp_test_util.h"

#define CONV 0xa1b2c3d4u
#define CLOCK_START 0xfffff000u         /* the u32 clock wraps 4 s into the run */
#define TRANSFER (2u << 20)
#define MAX_FLIGHT 65536
#define MAX_STEPS 2000000
#define APP_RATE 1000           /* bytes per ms each application produces */
#define APP_PERIOD 5            /* ms between the application's writes */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

struct flight {
	uint64_t at;            /* delivery time, ms of simulation */
	uint64_t seq;           /* FIFO among equal times */
	int dst;
	uint16_t len;
	uint8_t data[SF_KCP_MTU];
};

struct link {
	struct flight *heap[MAX_FLIGHT];
	size_t n;
	uint64_t seq;
	uint32_t drop_pct;
	uint32_t dup_pct;
	uint64_t blackout_from, blackout_to;
	uint64_t sent, dropped, duplicated;
};

static bool before(const struct flight *a, const struct flight *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct link *l, struct flight *f)
{
	assert_true(l->n < MAX_FLIGHT);
	size_t i = l->n++;
	while (i > 0 && before(f, l->heap[(i - 1) / 2])) {
		l->heap[i] = l->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	l->heap[i] = f;
}

static struct flight *heap_pop(struct link *l)
{
	struct flight *top = l->heap[0], *last = l->heap[--l->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->n)
			break;
		if (c + 1 < l->n && before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!before(l->heap[c], last))
			break;
		l->heap[i] = l->heap[c];
		i = c;
	}
	if (l->n)
		l->heap[i] = last;
	return top;
}

struct endpoint {
	struct sf_kcp *kcp;
	struct link *link;
	int id;
	uint64_t *now;          /* simulation ms */
	uint64_t limit;         /* bytes the application writes in all */
	uint64_t app_next;      /* when the application writes again */
	uint64_t written, read;
	uint64_t input_flushes, write_flushes, timer_flushes, idle_timer_flushes;
	uint64_t timer_retrans;
};

static uint8_t pattern(int from, uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + (uint64_t)from * 77);
}

static uint32_t engine_clock(uint64_t sim_ms)
{
	return CLOCK_START + (uint32_t)sim_ms;
}

/* out(): the link copies the lent packet (maybe twice), or loses it. */
static void link_out(const uint8_t *pkt, size_t len, void *user)
{
	struct endpoint *e = user;
	struct link *l = e->link;
	uint64_t now = *e->now;
	assert_true(len >= SF_KCP_OVERHEAD && len <= SF_KCP_MTU);
	l->sent++;
	if (rnd_below(100) < l->drop_pct || (now >= l->blackout_from && now < l->blackout_to)) {
		l->dropped++;
		return;
	}
	int copies = rnd_below(100) < l->dup_pct ? 2 : 1;
	l->duplicated += (uint64_t)copies - 1;
	for (int c = 0; c < copies; c++) {
		struct flight *f = malloc(sizeof *f);
		assert_non_null(f);
		f->at = now + 10 + rnd_below(40);      /* 10-50 ms: reorders freely */
		f->seq = l->seq++;
		f->dst = 1 - e->id;
		f->len = (uint16_t)len;
		memcpy(f->data, pkt, len);
		heap_push(l, f);
	}
}

static void app_read(struct endpoint *e)
{
	static uint8_t buf[70000];
	/* Reads in random sizes, sometimes leaving data queued. */
	int rounds = 1 + (int)rnd_below(3);
	for (int r = 0; r < rounds; r++) {
		size_t n = sf_kcp_recv(e->kcp, buf, 1 + rnd_below(sizeof buf - 1));
		for (size_t i = 0; i < n; i++)
			assert_int_equal(buf[i], pattern(1 - e->id, e->read + i));
		e->read += n;
	}
}

/* The application produces APP_RATE bytes per ms, in writes of random size (like smux frames),
 * as long as KCP admits them, each write flushed at once (kcp-go: write delay off). */
static void app_write(struct endpoint *e)
{
	static uint8_t buf[40000];
	uint64_t allowed = (*e->now + APP_PERIOD) * APP_RATE;
	if (allowed > e->limit)
		allowed = e->limit;
	while (e->written < allowed && sf_kcp_send_room(e->kcp) > 0) {
		size_t n = 1 + rnd_below(sizeof buf);
		if (n > allowed - e->written)
			n = allowed - e->written;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(e->id, e->written + i);
		assert_int_equal(sf_kcp_send(e->kcp, buf, n), 0);
		e->written += n;
		sf_kcp_flush(e->kcp, engine_clock(*e->now));
		e->write_flushes++;
	}
	e->app_next = e->written < e->limit ? *e->now + APP_PERIOD : UINT64_MAX;
}

struct sim_result {
	uint64_t end_ms;
	uint64_t steps;
};

static struct sim_result run(struct endpoint ep[2], struct link *l, uint64_t *now)
{
	struct sim_result res = { 0 };
	for (int i = 0; i < 2; i++)
		app_write(&ep[i]);
	for (res.steps = 0; res.steps < MAX_STEPS; res.steps++) {
		/* Next event: a delivery or one of the two timers. */
		uint64_t next = UINT64_MAX;
		if (l->n)
			next = l->heap[0]->at;
		for (int i = 0; i < 2; i++) {
			int32_t due = sf_kcp_next_due(ep[i].kcp, engine_clock(*now));
			if (due >= 0 && *now + (uint64_t)due < next)
				next = *now + (uint64_t)due;
			if (ep[i].app_next < next)
				next = ep[i].app_next;
		}
		if (next == UINT64_MAX) {
			/* Nothing in flight, no timer. Readers that fell behind catch up now;
			 * reading can owe a WINS, so flush if it does. */
			bool more = false;
			for (int i = 0; i < 2; i++) {
				while (sf_kcp_readable(ep[i].kcp))
					app_read(&ep[i]);
				if (sf_kcp_flush_wanted(ep[i].kcp)) {
					sf_kcp_flush(ep[i].kcp, engine_clock(*now));
					more = true;
				}
				app_write(&ep[i]);
				more |= l->n > 0;
			}
			if (!more)
				break;  /* quiescent */
			continue;
		}
		assert_true(next >= *now);
		*now = next;
		uint32_t clk = engine_clock(*now);

		/* One read event per endpoint: every packet arriving now, then one flush. */
		bool got[2] = { false, false };
		while (l->n && l->heap[0]->at == *now) {
			struct flight *f = heap_pop(l);
			sf_kcp_input(ep[f->dst].kcp, f->data, f->len, clk);
			got[f->dst] = true;
			free(f);
		}
		for (int i = 0; i < 2; i++) {
			if (got[i]) {
				app_read(&ep[i]);
				sf_kcp_flush(ep[i].kcp, clk);
				ep[i].input_flushes++;
				app_write(&ep[i]);
			}
		}
		/* Timers that are due (next_due is re-read after the input above). */
		for (int i = 0; i < 2; i++) {
			if (sf_kcp_next_due(ep[i].kcp, clk) != 0)
				continue;
			uint64_t out_before = sf_kcp_stats(ep[i].kcp)->out_pkts;
			uint64_t rto_before = sf_kcp_stats(ep[i].kcp)->retrans_rto;
			sf_kcp_flush(ep[i].kcp, clk);
			ep[i].timer_flushes++;
			if (sf_kcp_stats(ep[i].kcp)->out_pkts == out_before)
				ep[i].idle_timer_flushes++;
			ep[i].timer_retrans += sf_kcp_stats(ep[i].kcp)->retrans_rto - rto_before;
		}
		for (int i = 0; i < 2; i++)
			if (ep[i].app_next <= *now)
				app_write(&ep[i]);
	}
	res.end_ms = *now;
	return res;
}

/* Side 0 writes TRANSFER bytes; side 1 writes TRANSFER too, or nothing when one_way. */
static void transfer(uint64_t seed, uint32_t drop_pct, uint32_t dup_pct, uint64_t blackout_ms,
		     bool one_way)
{
	rng_state = seed;
	struct link *l = calloc(1, sizeof *l);
	assert_non_null(l);
	l->drop_pct = drop_pct;
	l->dup_pct = dup_pct;
	l->blackout_from = 300;
	l->blackout_to = 300 + blackout_ms;
	uint64_t now = 0;
	struct endpoint ep[2];
	for (int i = 0; i < 2; i++) {
		ep[i] = (struct endpoint){ .link = l, .id = i, .now = &now, .limit = TRANSFER };
		if (one_way && i == 1)
			ep[i].limit = 0;
		ep[i].kcp = sf_kcp_new(CONV, link_out, &ep[i]);
		assert_non_null(ep[i].kcp);
	}

	struct sim_result r = run(ep, l, &now);
	assert_true(r.steps < MAX_STEPS);

	for (int i = 0; i < 2; i++) {
		const struct sf_kcp_stats *st = sf_kcp_stats(ep[i].kcp);
		print_message("side %d: %.1f s, flushes input %llu write %llu timer %llu "
			      "(idle %llu), rto %llu early %llu, pkts out %llu, in dup %llu\n",
			      i, r.end_ms / 1000.0, (unsigned long long)ep[i].input_flushes,
			      (unsigned long long)ep[i].write_flushes,
			      (unsigned long long)ep[i].timer_flushes,
			      (unsigned long long)ep[i].idle_timer_flushes,
			      (unsigned long long)st->retrans_rto,
			      (unsigned long long)st->retrans_early,
			      (unsigned long long)st->out_pkts, (unsigned long long)st->in_dup_segs);
		/* Every byte arrived, checked against the pattern, and the run ended by itself. */
		assert_int_equal(ep[i].written, ep[i].limit);
		assert_int_equal(ep[1 - i].read, ep[i].limit);
		assert_int_equal(sf_kcp_next_due(ep[i].kcp, engine_clock(now)), -1);
		assert_false(sf_kcp_flush_wanted(ep[i].kcp));
		/* waitsnd may still count segments ACKed one by one whose una was lost (kcp-go
		 * keeps them too, until the peer's next packet); none is held in memory. */
		assert_int_equal(st->mem_bytes, 0);
		/* Losses were repaired (early retransmit on later ACKs); in a blackout only the
		 * RTO timer can restart the flow, and those resends came from timer flushes. */
		if (ep[i].limit)
			assert_true(st->retrans_early > 0);
		if (blackout_ms) {
			assert_true(st->retrans_rto > 0);
			assert_true(ep[i].timer_retrans > 0);
		}
		/* No polling: never more timer flushes than a 10 ms tick would make, and every
		 * one of them had something to send. */
		assert_true(ep[i].timer_flushes <= r.end_ms / 10 + 1);
		assert_int_equal(ep[i].idle_timer_flushes, 0);
	}
	print_message("link: %llu sent, %llu dropped, %llu duplicated\n",
		      (unsigned long long)l->sent, (unsigned long long)l->dropped,
		      (unsigned long long)l->duplicated);
	assert_int_equal(l->n, 0);

	/* One more byte each way (an smux NOP would do the same) carries the latest una. */
	for (int i = 0; i < 2; i++)
		ep[i].limit++;
	l->drop_pct = 0;
	r = run(ep, l, &now);
	assert_true(r.steps < MAX_STEPS);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ep[1 - i].read, ep[i].limit);
		assert_int_equal(sf_kcp_waitsnd(ep[i].kcp), 0);
		assert_int_equal(sf_kcp_next_due(ep[i].kcp, engine_clock(now)), -1);
		assert_int_equal(sf_kcp_stats(ep[i].kcp)->mem_bytes, 0);
	}
	for (int i = 0; i < 2; i++)
		sf_kcp_free(ep[i].kcp);
	free(l);
}

static void test_loss_10(void **state)
{
	(void)state;
	transfer(0x1234567890abcdefull, 10, 5, 0, false);
}

static void test_loss_30(void **state)
{
	(void)state;
	transfer(0x0fedcba987654321ull, 30, 10, 0, false);
}

static void test_loss_20_blackout(void **state)
{
	(void)state;
	/* 3 s of total loss in the middle: only RTO timers can restart the transfer. */
	transfer(0x5555aaaa5555aaaaull, 20, 5, 3000, false);
}

static void test_loss_20_one_way(void **state)
{
	(void)state;
	/* Only ACKs come back, so early retransmit has fewer ACKs to work with. */
	transfer(0x0123012301230123ull, 20, 5, 0, true);
}

/* Early retransmit is applied once per segment per ACK-driven flush: ACKs of segments sent
 * before the resend no longer mark it, so a burst of ACKs causes no storm. */
static void test_early_retransmit_no_storm(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
	uint8_t pkt[SF_KCP_MTU];
	uint8_t data[100] = { 0 };
	uint32_t now = 50;
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_WINS, 65535, 0, 0, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(k, pkt, n, now), 0);
	for (int i = 0; i < 10; i++) {         /* sn 0..9, ts 50..59 */
		assert_int_equal(sf_kcp_send(k, data, sizeof data), 0);
		sf_kcp_flush(k, now++);
	}
	capture_clear(&cap);
	/* Five read events, each ACKing one more of sn 5..9 (ts 55..59). */
	for (uint32_t sn = 5; sn < 10; sn++) {
		n = make_seg(pkt, CONV, SF_KCP_CMD_ACK, 65535, 50 + sn, sn, 0, NULL, 0);
		assert_int_equal(sf_kcp_input(k, pkt, n, now), 0);
		assert_true(sf_kcp_flush_wanted(k));
		sf_kcp_flush(k, now++);
	}
	/* The first flush resent sn 0..4 once; the later ACKs (older ts) did not mark them. */
	assert_int_equal(sf_kcp_stats(k)->retrans_early, 5);
	size_t pushes = 0;
	for (size_t p = 0; p < cap.n; p++) {
		struct sf_kcp_hdr h[16];
		size_t ns = parse_segments(cap.pkt[p], cap.len[p], h, 16);
		for (size_t s = 0; s < ns; s++) {
			assert_int_equal(h[s].cmd, SF_KCP_CMD_PUSH);
			assert_true(h[s].sn < 5);
			pushes++;
		}
	}
	assert_int_equal(pushes, 5);
	/* An ACK of a segment sent after the resend marks the resent ones again (kcp-go does too),
	 * but not while the flush also carries new data. */
	capture_clear(&cap);
	assert_int_equal(sf_kcp_send(k, data, sizeof data), 0);      /* sn 10 */
	sf_kcp_flush(k, now);
	n = make_seg(pkt, CONV, SF_KCP_CMD_ACK, 65535, now, 10, 0, NULL, 0);
	assert_int_equal(sf_kcp_input(k, pkt, n, now + 1), 0);
	assert_int_equal(sf_kcp_send(k, data, sizeof data), 0);      /* sn 11: new data */
	sf_kcp_flush(k, now + 1);
	assert_int_equal(sf_kcp_stats(k)->retrans_early, 5);
	/* Deferred to the next flush without new data, which kcp-go's 10 ms tick would run. */
	assert_int_equal(sf_kcp_next_due(k, now + 1), 10);
	sf_kcp_flush(k, now + 11);
	assert_int_equal(sf_kcp_stats(k)->retrans_early, 10);
	sf_kcp_free(k);
	capture_free(&cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_early_retransmit_no_storm),
		cmocka_unit_test(test_loss_10),
		cmocka_unit_test(test_loss_30),
		cmocka_unit_test(test_loss_20_blackout),
		cmocka_unit_test(test_loss_20_one_way),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
