/* Choice of the ExtORPort for a new stream among several (tor instances sharing one identity),
 * without I/O: the caller passes its millisecond clock and reports what happened.
 *
 *  - Least loaded: the fewest streams dialing or open; ties go round-robin.
 *  - A backend that refused, timed out or failed authentication is skipped for a backoff that
 *    doubles with each consecutive failure (SF_TOR_BACKOFF_FIRST_MS .. SF_TOR_BACKOFF_MAX_MS)
 *    and is tried again when it ends; one success clears it.
 *  - When a backoff ends, one stream probes the backend; the others keep away from it for
 *    SF_TOR_PROBE_MS or until that dial succeeds, so a backend that is still down costs one
 *    dial per backoff period, not every stream that arrives meanwhile.
 *  - When every backend not yet tried for a stream is backing off, the one whose backoff ends
 *    first is tried anyway: a stream never fails without a dial.
 * Streams are never moved: the caller dials the chosen backend and keeps it until the stream
 * ends. One instance per shard (see docs/tor.md for why the counts are not shared). */
#ifndef SF_TOR_BALANCE_H
#define SF_TOR_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SF_TOR_BACKENDS_MAX 32		/* a stream's tried set is a 32-bit mask */
#define SF_TOR_BACKOFF_FIRST_MS 1000
#define SF_TOR_BACKOFF_MAX_MS 60000
#define SF_TOR_PROBE_MS 5000		/* the ExtORPort handshake deadline */

struct sf_tor_balance_slot {
	uint32_t load;			/* streams dialing or open */
	uint32_t failures;		/* consecutive, since the last success */
	uint64_t retry_ms;		/* backing off until then */
	uint64_t probe_until_ms;	/* a probe dial started after the backoff is in flight */
};

struct sf_tor_balance {
	size_t n;
	size_t cursor;			/* where the next scan starts: ties rotate */
	struct sf_tor_balance_slot slot[SF_TOR_BACKENDS_MAX];
};

/* n backends, 1..SF_TOR_BACKENDS_MAX (more are ignored). */
void sf_tor_balance_init(struct sf_tor_balance *b, size_t n);

/* The backend for a stream that already tried the backends in `tried` (bit i = backend i), or
 * -1 when it tried them all. Counts nothing: call sf_tor_balance_add for the dial. */
int sf_tor_balance_pick(struct sf_tor_balance *b, uint64_t now_ms, uint32_t tried);

/* A stream starts dialing backend i / ends (dial failed, or the open stream closed). */
void sf_tor_balance_add(struct sf_tor_balance *b, int i);
void sf_tor_balance_remove(struct sf_tor_balance *b, int i);

/* A dial to i failed because of the backend (refused, timed out, closed, bad cookie): start or
 * lengthen its backoff. Failures of dials started before the backoff began (they were already
 * in flight) do not lengthen it again. */
void sf_tor_balance_failed(struct sf_tor_balance *b, int i, uint64_t now_ms);

/* A dial to i succeeded: it is healthy again. */
void sf_tor_balance_succeeded(struct sf_tor_balance *b, int i);

/* Whether i is avoided at now_ms: backing off, or its probe is in flight. */
bool sf_tor_balance_backing_off(const struct sf_tor_balance *b, int i, uint64_t now_ms);

#endif
