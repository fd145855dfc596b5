/* An idle session needs no timer and holds only its struct (docs/kcp.md "Memory"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcp_test_util.h"

#define CONV 0x01020304u
#define IDLE_BUDGET 2048        /* KCP's share of the 17 KB per-client target */

/* Two engines joined by a lossless 15 ms link; both applications read everything. */
struct pair {
	struct sf_kcp *k[2];
	struct capture out[2];
	uint32_t now;
	uint64_t read[2];
	uint64_t timer_flushes;
};

static void pair_init(struct pair *p, uint32_t now)
{
	memset(p, 0, sizeof *p);
	p->now = now;
	for (int i = 0; i < 2; i++) {
		p->k[i] = sf_kcp_new(CONV, capture_out, &p->out[i]);
		assert_non_null(p->k[i]);
	}
}

static void pair_free(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		sf_kcp_free(p->k[i]);
		capture_free(&p->out[i]);
	}
}

static void drain(struct pair *p, int i)
{
	uint8_t buf[4096];
	size_t n;
	while ((n = sf_kcp_recv(p->k[i], buf, sizeof buf)))
		p->read[i] += n;
}

/* Runs until both sides are quiet: delivers each side's output 15 ms later as one read event,
 * and fires timers only at next_due. Returns the number of steps. */
static int pair_run(struct pair *p)
{
	int steps;
	for (steps = 0; steps < 10000; steps++) {
		bool pending = false;
		for (int i = 0; i < 2; i++)
			pending |= p->out[i].n > 0;
		int32_t due = -1;
		for (int i = 0; i < 2; i++) {
			int32_t d = sf_kcp_next_due(p->k[i], p->now);
			if (d >= 0 && (due < 0 || d < due))
				due = d;
		}
		if (!pending && due < 0)
			return steps;
		if (pending) {
			p->now += 15;
			struct capture in[2] = { p->out[0], p->out[1] };
			memset(p->out, 0, sizeof p->out);
			for (int i = 0; i < 2; i++) {
				for (size_t j = 0; j < in[i].n; j++)
					assert_int_equal(sf_kcp_input(p->k[1 - i], in[i].pkt[j], in[i].len[j],
								      p->now), 0);
				capture_free(&in[i]);
			}
			for (int i = 0; i < 2; i++) {
				drain(p, i);
				sf_kcp_flush(p->k[i], p->now);
			}
		} else {
			p->now += (uint32_t)due;
			for (int i = 0; i < 2; i++) {
				if (sf_kcp_next_due(p->k[i], p->now) == 0) {
					sf_kcp_flush(p->k[i], p->now);
					p->timer_flushes++;
				}
			}
		}
	}
	fail_msg("no quiescence");
	return steps;
}

static void test_fresh_session_is_idle(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
	assert_int_equal(sf_kcp_next_due(k, 123), -1);
	assert_false(sf_kcp_flush_wanted(k));
	assert_int_equal(sf_kcp_readable(k), 0);
	assert_int_equal(sf_kcp_stats(k)->mem_bytes, 0);
	assert_true(sf_kcp_footprint(k) <= IDLE_BUDGET);
	/* Before the peer's first packet kcp-go assumes a remote window of 32. */
	assert_int_equal(sf_kcp_rmt_wnd(k), 32);
	assert_int_equal(sf_kcp_send_room(k), 32);
	assert_int_equal(sf_kcp_rto(k), 200);
	/* A flush with nothing to say sends nothing. */
	sf_kcp_flush(k, 123);
	assert_int_equal(cap.n, 0);
	sf_kcp_free(k);
	capture_free(&cap);
}

static void exchange(struct pair *p, size_t bytes)
{
	uint8_t *buf = malloc(bytes);
	for (size_t i = 0; i < bytes; i++)
		buf[i] = (uint8_t)i;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sf_kcp_send(p->k[i], buf, bytes), 0);
		sf_kcp_flush(p->k[i], p->now);
	}
	free(buf);
	pair_run(p);
}

static void test_idle_after_traffic(void **state)
{
	(void)state;
	struct pair p;
	pair_init(&p, 0x7ffffff0u);     /* crosses the signed wrap point */

	exchange(&p, 300000);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(p.read[i], 300000);
		/* Everything ACKed and read: no timer, nothing owed, nothing held. */
		assert_int_equal(sf_kcp_next_due(p.k[i], p.now), -1);
		assert_false(sf_kcp_flush_wanted(p.k[i]));
		assert_int_equal(sf_kcp_waitsnd(p.k[i]), 0);
		assert_int_equal(sf_kcp_stats(p.k[i])->mem_bytes, 0);
		assert_true(sf_kcp_footprint(p.k[i]) <= IDLE_BUDGET);
		assert_int_equal(sf_kcp_rmt_wnd(p.k[i]), 65535);
		assert_int_equal(sf_kcp_stats(p.k[i])->retrans_rto, 0);
	}
	/* A lossless exchange needs no timer at all. */
	assert_int_equal(p.timer_flushes, 0);

	/* A small write (an smux NOP) arms the RTO timer until its ACK comes back. */
	const uint8_t nop[8] = { 2, 3, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(sf_kcp_send(p.k[0], nop, sizeof nop), 0);
	sf_kcp_flush(p.k[0], p.now);
	int32_t due = sf_kcp_next_due(p.k[0], p.now);
	assert_true(due > 0 && due <= 60000);
	assert_true(sf_kcp_stats(p.k[0])->mem_bytes > 0);
	pair_run(&p);
	assert_int_equal(p.read[1], 300000 + sizeof nop);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sf_kcp_next_due(p.k[i], p.now), -1);
		assert_int_equal(sf_kcp_stats(p.k[i])->mem_bytes, 0);
	}
	/* Hours later: still nothing to do. */
	assert_int_equal(sf_kcp_next_due(p.k[0], p.now + 3600000), -1);
	pair_free(&p);
}

/* Data the application has not read yet is not a timer: next_due stays -1. */
static void test_unread_data_needs_no_timer(void **state)
{
	(void)state;
	struct capture cap = { 0 };
	struct sf_kcp *k = sf_kcp_new(CONV, capture_out, &cap);
	uint8_t pkt[64];
	size_t n = make_seg(pkt, CONV, SF_KCP_CMD_PUSH, 65535, 1, 0, 0, "abc", 3);
	assert_int_equal(sf_kcp_input(k, pkt, n, 10), 0);
	assert_int_equal(sf_kcp_next_due(k, 10), 0);    /* the ACK */
	sf_kcp_flush(k, 10);
	assert_int_equal(cap.n, 1);
	assert_int_equal(sf_kcp_next_due(k, 10), -1);
	assert_int_equal(sf_kcp_readable(k), 3);
	sf_kcp_free(k);
	capture_free(&cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_session_is_idle),
		cmocka_unit_test(test_idle_after_traffic),
		cmocka_unit_test(test_unread_data_needs_no_timer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
