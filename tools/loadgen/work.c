/* What the streams do, and the check of every echoed byte.
 *
 * Payload: a stream's byte at offset o is pattern[(seed + o) mod 64 KiB], a random 64 KiB block
 * and a random seed per stream, so each echoed byte is checked where it lands (a lost, doubled or
 * reordered run of bytes shows) at the cost of one memcmp.
 *
 * bulk: every stream sends --bytes and verifies the echo.
 * idle, ping, setup: every stream sends one byte; its echo establishes it (setup time: dial to
 * that echo). Once every stream is settled the "ready" event is printed and the hold begins: for
 * --duration the first --active streams (ping: all) send --ping-size bytes every --interval
 * (from --ping-delay into the hold: a quiet window first) and time the round trip; at the end
 * every stream sends one more byte, which must come back.
 * setup stops after the first byte. */
#include "lg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcp/kcp.h"
#include "smux/smux.h"

#define PATTERN 65536u
static uint8_t pattern[2 * PATTERN];	/* twice: any run of <= 64 KiB is contiguous */

void lg_pattern_init(struct lg *lg)
{
	for (size_t i = 0; i < PATTERN; i += 8) {
		uint64_t r = lg_rand(lg);
		memcpy(pattern + i, &r, 8);
	}
	memcpy(pattern + PATTERN, pattern, PATTERN);
}

static const uint8_t *expected(const struct lg_stream *ls, uint64_t off)
{
	return pattern + ((ls->seed + off) & (PATTERN - 1));
}

static struct lg *lg_of(const struct lg_stream *ls)
{
	return ls->sess->lg;
}

static void stream_finish(struct lg_stream *ls, bool failed)
{
	if (ls->done)
		return;
	ls->done = true;
	ls->failed = failed;
	if (ls->st) {
		sf_smux_stream_close(ls->st);
		ls->st = NULL;
	}
	lg_session_stream_done(ls->sess);
}

/* Sends what target asks and the windows allow; the writable callback resumes a blocked one. */
static void stream_send(struct lg_stream *ls)
{
	struct lg *lg = lg_of(ls);
	struct lg_session *s = ls->sess;
	while (ls->st && !ls->done && ls->sent < ls->target && lg_live(s)) {
		if (sf_kcp_send_room(s->kcp) == 0)
			return;	/* lg_stack_pump tries again when ACKs free the window */
		uint64_t left = ls->target - ls->sent;
		size_t chunk = lg->o.write_size < left ? lg->o.write_size : (size_t)left;
		const uint8_t *p = expected(ls, ls->sent);
		uint8_t bad[65536];
		int64_t at = lg->o.corrupt_at;
		if (at >= 0 && s->idx == 0 && ls == &s->streams[0] && (uint64_t)at >= ls->sent &&
		    (uint64_t)at < ls->sent + chunk) {
			memcpy(bad, p, chunk);
			bad[at - (int64_t)ls->sent] ^= 0x20;	/* a flipped bit the echo must betray */
			p = bad;
		}
		if (!lg->t_transfer0)
			lg->t_transfer0 = lg_now_us();
		size_t n = sf_smux_stream_write(ls->st, p, chunk);
		ls->sent += n;
		lg->c.bytes_sent += n;
		if (n < chunk)
			return;
	}
}

static void send_ping(struct lg_stream *ls)
{
	struct lg *lg = lg_of(ls);
	ls->target += lg->o.ping_size;
	ls->ping_end = ls->target;
	ls->ping_t0 = lg_now_us();
	ls->ping_inflight = true;
	lg->c.pings_sent++;
	stream_send(ls);
}

static void send_final(struct lg_stream *ls)
{
	ls->final_sent = true;
	ls->target += 1;
	stream_send(ls);
}

void lg_work_stream_opened(struct lg_stream *ls)
{
	struct lg *lg = lg_of(ls);
	ls->target = lg->o.mode == LG_BULK ? lg->o.bytes : 1;
	stream_send(ls);
}

void lg_work_writable(struct lg_stream *ls)
{
	stream_send(ls);
}

void lg_work_fill(struct lg_session *s)
{
	if (s->lg->o.mode != LG_BULK)
		return;	/* the other modes send little, from the tick */
	for (uint32_t i = 0; i < s->nstreams && lg_live(s); i++)
		stream_send(&s->streams[i]);
}

static void established(struct lg_stream *ls)
{
	struct lg *lg = lg_of(ls);
	ls->established = true;
	lg->c.established++;
	lg_stream_settle(ls);
	if (lg->o.mode == LG_SETUP)
		stream_finish(ls, false);
}

void lg_work_data(struct lg_stream *ls, const uint8_t *p, size_t n)
{
	struct lg *lg = lg_of(ls);
	struct lg_session *s = ls->sess;
	if (ls->done || !ls->st)
		return;
	{
		/* more than was sent is as wrong as a changed byte; the pattern is contiguous for
		 * 64 KiB, so longer deliveries are checked in pieces */
		bool bad = ls->verified + n > ls->sent;
		for (size_t off = 0; !bad && off < n; off += PATTERN) {
			size_t k = n - off < PATTERN ? n - off : PATTERN;
			bad = memcmp(p + off, expected(ls, ls->verified + off), k) != 0;
		}
		if (bad) {
			lg->c.verify_failures++;
			lg->c.err_verify++;
			lg_stream_settle(ls);
			sf_smux_stream_consumed(ls->st, n);
			stream_finish(ls, true);
			return;
		}
	}
	ls->verified += n;
	lg->c.bytes_verified += n;
	sf_smux_stream_consumed(ls->st, n);
	uint64_t now = lg_now_us();
	if (!s->first_echo) {
		s->first_echo = true;
		lg_sample(&lg->setup, now - s->t_start);
	}
	if (ls->ping_inflight && ls->verified >= ls->ping_end) {
		ls->ping_inflight = false;
		lg->c.pings_ok++;
		lg_sample(&lg->latency, now - ls->ping_t0);
		if (lg->hold_over && !ls->final_sent)
			send_final(ls);
	}
	if (ls->verified < ls->target)
		return;
	if (lg->o.mode == LG_BULK) {
		lg->t_transfer1 = now;
		stream_finish(ls, false);
	} else if (!ls->established) {
		established(ls);
	} else if (ls->final_sent) {
		stream_finish(ls, false);
	}
}

void lg_stream_settle(struct lg_stream *ls)
{
	if (ls->settled)
		return;
	ls->settled = true;
	lg_of(ls)->c.streams_settled++;
}

static void ping_push(struct lg *lg, struct lg_stream *ls)
{
	ls->ping_next = NULL;
	if (lg->ping_tail)
		lg->ping_tail->ping_next = ls;
	else
		lg->ping_head = ls;
	lg->ping_tail = ls;
}

/* Every stream settled: the hold begins. The pingers start at random phases of the interval. */
static void hold_start(struct lg *lg, uint64_t now_ms)
{
	lg->hold_started = true;
	lg->t_all_up = lg_now_us();
	lg->t_hold_end = now_ms + (uint64_t)(lg->o.duration_s * 1000);
	fprintf(stderr, "{\"event\":\"ready\",\"established\":%llu,\"setup_s\":%.3f}\n",
		(unsigned long long)lg->c.established, (double)(lg->t_all_up - lg->t0) / 1e6);
	if (lg->o.ready_file) {
		FILE *f = fopen(lg->o.ready_file, "w");
		if (f)
			fclose(f);
	}
	uint64_t interval = (uint64_t)(lg->o.interval_s * 1000);
	if (!interval)
		interval = 1;
	/* phases in order, so that the FIFO stays sorted by due time */
	uint32_t k = 0, active = lg->o.active;
	for (uint32_t i = 0; i < lg->o.sessions && k < active; i++) {
		struct lg_session *s = &lg->sess[i];
		for (uint32_t j = 0; j < s->nstreams && k < active; j++) {
			struct lg_stream *ls = &s->streams[j];
			if (ls->done || !lg_live(s))
				continue;
			ls->pinger = true;
			ls->ping_due = now_ms + (uint64_t)(lg->o.ping_delay_s * 1000) +
				       (uint64_t)k * interval / active;
			ping_push(lg, ls);
			k++;
		}
	}
}

static void hold_end(struct lg *lg)
{
	lg->hold_over = true;
	for (uint32_t i = 0; i < lg->o.sessions; i++) {
		struct lg_session *s = &lg->sess[i];
		for (uint32_t j = 0; j < s->nstreams && lg_live(s); j++) {
			struct lg_stream *ls = &s->streams[j];
			if (!ls->done && !ls->ping_inflight)
				send_final(ls);
		}
		if (lg_live(s))
			lg_stack_pump(s);
	}
}

static void ping_tick(struct lg *lg, uint64_t now_ms)
{
	uint64_t interval = (uint64_t)(lg->o.interval_s * 1000);
	while (lg->ping_head && lg->ping_head->ping_due <= now_ms && !lg->hold_over) {
		struct lg_stream *ls = lg->ping_head;
		lg->ping_head = ls->ping_next;
		if (!lg->ping_head)
			lg->ping_tail = NULL;
		if (ls->done || !lg_live(ls->sess))
			continue;
		if (ls->ping_inflight) {
			lg->c.late_ticks++;	/* still waiting: this tick is skipped */
		} else {
			send_ping(ls);
			lg_stack_pump(ls->sess);
		}
		ls->ping_due += interval ? interval : 1;
		ping_push(lg, ls);
	}
}

void lg_work_tick(struct lg *lg, uint64_t now_ms)
{
	if (lg->o.mode == LG_BULK)
		return;
	uint64_t total = (uint64_t)lg->o.sessions * lg->o.streams;
	if (!lg->hold_started && lg->started == lg->o.sessions && lg->c.streams_settled >= total) {
		if (lg->o.mode == LG_SETUP) {
			lg->hold_started = lg->hold_over = true;
			lg->t_all_up = lg_now_us();
			return;
		}
		hold_start(lg, now_ms);
	}
	if (!lg->hold_started || lg->hold_over)
		return;
	ping_tick(lg, now_ms);
	if (now_ms >= lg->t_hold_end)
		hold_end(lg);
}
