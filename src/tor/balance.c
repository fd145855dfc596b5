#include "tor/balance.h"

#include <string.h>

void sf_tor_balance_init(struct sf_tor_balance *b, size_t n)
{
	memset(b, 0, sizeof *b);
	b->n = n < SF_TOR_BACKENDS_MAX ? n : SF_TOR_BACKENDS_MAX;
}

bool sf_tor_balance_backing_off(const struct sf_tor_balance *b, int i, uint64_t now_ms)
{
	const struct sf_tor_balance_slot *s = &b->slot[i];
	return s->failures > 0 && (now_ms < s->retry_ms || now_ms < s->probe_until_ms);
}

/* When i stops being avoided. */
static uint64_t avoided_until(const struct sf_tor_balance_slot *s)
{
	return s->retry_ms > s->probe_until_ms ? s->retry_ms : s->probe_until_ms;
}

int sf_tor_balance_pick(struct sf_tor_balance *b, uint64_t now_ms, uint32_t tried)
{
	int best = -1, soonest = -1;
	if (b->n == 0)
		return -1;
	for (size_t k = 0; k < b->n; k++) {
		int i = (int)((b->cursor + k) % b->n);
		if (tried & (UINT32_C(1) << i))
			continue;
		const struct sf_tor_balance_slot *s = &b->slot[i];
		if (sf_tor_balance_backing_off(b, i, now_ms)) {
			if (soonest < 0 || avoided_until(s) < avoided_until(&b->slot[soonest]))
				soonest = i;
		} else if (best < 0 || s->load < b->slot[best].load) {
			best = i;
		}
	}
	if (best < 0)
		best = soonest; /* all backing off: the one that comes back first (or -1) */
	if (best < 0)
		return -1;
	b->cursor = ((size_t)best + 1) % b->n;
	struct sf_tor_balance_slot *s = &b->slot[best];
	if (s->failures > 0 && now_ms >= s->retry_ms && now_ms >= s->probe_until_ms)
		s->probe_until_ms = now_ms + SF_TOR_PROBE_MS; /* this dial is the probe */
	return best;
}

void sf_tor_balance_add(struct sf_tor_balance *b, int i)
{
	b->slot[i].load++;
}

void sf_tor_balance_remove(struct sf_tor_balance *b, int i)
{
	if (b->slot[i].load > 0)
		b->slot[i].load--;
}

void sf_tor_balance_failed(struct sf_tor_balance *b, int i, uint64_t now_ms)
{
	struct sf_tor_balance_slot *s = &b->slot[i];
	if (s->failures > 0 && now_ms < s->retry_ms)
		return; /* a dial that was in flight when the backoff began: same outage */
	uint64_t backoff = SF_TOR_BACKOFF_FIRST_MS;
	for (uint32_t k = 0; k < s->failures && backoff < SF_TOR_BACKOFF_MAX_MS; k++)
		backoff *= 2;
	if (backoff > SF_TOR_BACKOFF_MAX_MS)
		backoff = SF_TOR_BACKOFF_MAX_MS;
	if (s->failures < UINT32_MAX)
		s->failures++;
	s->retry_ms = now_ms + backoff;
	s->probe_until_ms = 0;
}

void sf_tor_balance_succeeded(struct sf_tor_balance *b, int i)
{
	b->slot[i].failures = 0;
	b->slot[i].retry_ms = 0;
	b->slot[i].probe_until_ms = 0;
}
