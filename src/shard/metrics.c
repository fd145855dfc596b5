/* The KCP RTT histogram of a shard (shard/metrics.h). */
#include "shard/metrics.h"

/* From loopback (a few ms) to a stalled proxy (seconds); KCP's RTO caps at 60 s. */
const uint32_t sf_shard_rtt_bounds_ms[SF_SHARD_RTT_BOUNDS] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
};

void sf_shard_metrics_rtt(struct sf_shard_metrics *m, uint32_t rtt_ms)
{
	unsigned i = 0;
	while (i < SF_SHARD_RTT_BOUNDS && rtt_ms > sf_shard_rtt_bounds_ms[i])
		i++;
	sf_counter_add(&m->rtt_buckets[i], 1);
	sf_counter_add(&m->rtt_sum_ms, rtt_ms);
}
