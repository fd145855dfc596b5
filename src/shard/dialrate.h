/* A token bucket for ORPort dials: every smux stream a client opens costs a TCP connection and an
 * ExtORPort handshake at tor, so a client may start SF_DIAL_BURST at once and SF_DIAL_RATE per
 * second after that. Sans-I/O: the caller passes its millisecond clock. */
#ifndef SF_SHARD_DIALRATE_H
#define SF_SHARD_DIALRATE_H

#include <stdbool.h>
#include <stdint.h>

#define SF_DIAL_BURST 32	/* dials a fresh client may start at once */
#define SF_DIAL_RATE 8		/* dials per second after that */

struct sf_dial_rate {
	uint32_t tokens;
	uint64_t refilled_ms;	/* tokens are counted up to this time */
	bool started;
};

/* Takes one token; false (and nothing taken) when the bucket is empty. */
static inline bool sf_dial_rate_take(struct sf_dial_rate *r, uint64_t now_ms)
{
	if (!r->started) {
		r->started = true;
		r->tokens = SF_DIAL_BURST;
		r->refilled_ms = now_ms;
	}
	if (now_ms > r->refilled_ms) {
		uint64_t earned = (now_ms - r->refilled_ms) * SF_DIAL_RATE / 1000;
		if (r->tokens + earned >= SF_DIAL_BURST) {
			r->tokens = SF_DIAL_BURST;
			r->refilled_ms = now_ms;
		} else {
			/* keep the remainder of a partly earned token */
			r->tokens += (uint32_t)earned;
			r->refilled_ms += earned * 1000 / SF_DIAL_RATE;
		}
	}
	if (r->tokens == 0)
		return false;
	r->tokens--;
	return true;
}

#endif
