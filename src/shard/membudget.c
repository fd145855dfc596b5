/* Memory budget policy of a shard (shard/membudget.h). */
#include "shard/membudget.h"

#include <stdlib.h>

void sf_mem_slice_init(struct sf_mem_slice *s, uint64_t limit)
{
	s->limit = limit;
	s->refuse_at = limit / 100 * SF_MEM_REFUSE_PERCENT;
	s->evict_at = limit / 100 * SF_MEM_EVICT_PERCENT;
	s->client_share = limit / SF_MEM_SHARE_DIVISOR;
	if (s->client_share > SF_MEM_SHARE_MAX)
		s->client_share = SF_MEM_SHARE_MAX;
}

uint64_t sf_mem_used(const struct sf_mem_usage *u, uint64_t kcp_bytes, uint64_t pool_bytes,
		     uint64_t link_cost)
{
	return u->link_output + u->to_tor + kcp_bytes + pool_bytes + u->links * link_cost +
	       u->clients * (uint64_t)SF_MEM_CLIENT_COST +
	       u->sessions * (uint64_t)SF_MEM_SESSION_COST +
	       u->streams * (uint64_t)SF_MEM_STREAM_COST;
}

bool sf_mem_admit_new_client(const struct sf_mem_slice *s, uint64_t used)
{
	return used < s->refuse_at;
}

static int by_held_desc(const void *a, const void *b)
{
	uint64_t x = ((const struct sf_mem_candidate *)a)->held;
	uint64_t y = ((const struct sf_mem_candidate *)b)->held;
	return x < y ? 1 : x > y ? -1 : 0;
}

size_t sf_mem_plan_evictions(const struct sf_mem_slice *s, uint64_t used,
			     struct sf_mem_candidate *v, size_t n)
{
	if (used < s->evict_at)
		return 0;
	size_t kept = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].stalled_ms >= SF_MEM_STALL_MS && v[i].held > 0)
			v[kept++] = v[i];
	if (kept > 1)
		qsort(v, kept, sizeof *v, by_held_desc);
	size_t k = 0;
	while (k < kept && used >= s->refuse_at) {
		used = v[k].held < used ? used - v[k].held : 0;
		k++;
	}
	return k;
}
