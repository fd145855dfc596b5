/* Latency samples and their summary, in the shape sfpeer reports them. */
#include "lg.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t lg_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void lg_sample(struct lg_samples *s, uint64_t us)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint32_t *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return;	/* a lost sample, not a lost run */
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank on the sorted samples. */
double lg_samples_pct(struct lg_samples *s, double p)
{
	if (!s->n)
		return -1;
	qsort(s->v, s->n, sizeof *s->v, cmp_u32);
	size_t i = (size_t)(p / 100.0 * (double)s->n);
	if (i >= s->n)
		i = s->n - 1;
	return s->v[i] / 1000.0;
}

void lg_samples_json(struct lg_samples *s, char *out, size_t cap)
{
	if (!s->n) {
		snprintf(out, cap, "null");
		return;
	}
	double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	double p50 = lg_samples_pct(s, 50), p90 = lg_samples_pct(s, 90), p99 = lg_samples_pct(s, 99);
	snprintf(out, cap,
		 "{\"count\":%zu,\"min\":%.3f,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
		 "\"max\":%.3f}",
		 s->n, s->v[0] / 1000.0, sum / (double)s->n / 1000.0, p50, p90, p99,
		 s->v[s->n - 1] / 1000.0);
}

/* xorshift64*: ClientIDs, KCP conversation ids, WebSocket masks. Seeded from getrandom. */
uint64_t lg_rand(struct lg *lg)
{
	uint64_t x = lg->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	lg->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}
