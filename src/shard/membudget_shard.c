/* The memory budget on a shard's thread (shard/membudget.h has the policy): the bytes its
 * clients hold, the admission of new ClientIDs, and a periodic check that publishes the count
 * and, past the eviction mark, closes the clients holding the most without progress. */
#include <event2/event.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "shard/client.h"

/* How often the count is published and the eviction mark checked; one log line per kind at
 * most per SF_MEM_LOG_PERIOD_MS. */
#define MEM_TICK_MS 250
#define MEM_LOG_PERIOD_MS 10000

uint64_t sf_shard_mem_used(struct sf_shard_state *sh)
{
	struct sf_tt_pool_stats ps;
	sf_tt_pool_get_stats(sh->pool, &ps);
	/* the shard's own counts of these, taken as they are */
	sh->mem_use.clients = sh->nclients;
	sh->mem_use.streams = sh->nstreams;
	uint64_t used = sf_mem_used(&sh->mem_use, sf_kcp_thread_seg_bytes(),
				    (uint64_t)ps.allocated * SF_MEM_POOL_BUF_COST, sh->params->link_cost);
	sf_counter_set(&sh->metrics->mem_used, used);
	return used;
}

/* Something to tell, and the last line about it is a period old (or there was none). */
static bool log_due(const struct sf_shard_state *sh, uint64_t unlogged, uint64_t logged_ms)
{
	return unlogged > 0 && (!logged_ms || sh->now_ms - logged_ms >= MEM_LOG_PERIOD_MS);
}

static void log_refusals(struct sf_shard_state *sh, uint64_t used)
{
	if (!log_due(sh, sh->mem_refused_unlogged, sh->mem_refuse_logged_ms))
		return;
	sf_logf("memory budget: %llu of %llu bytes held (refusal mark %llu): refused %llu "
		"WebSockets of new clients", (unsigned long long)used,
		(unsigned long long)sh->mem.limit, (unsigned long long)sh->mem.refuse_at,
		(unsigned long long)sh->mem_refused_unlogged);
	sh->mem_refused_unlogged = 0;
	sh->mem_refuse_logged_ms = sh->now_ms;
}

bool sf_shard_mem_admit(struct sf_shard_state *sh)
{
	if (!sh->mem.limit)
		return true;
	uint64_t used = sf_shard_mem_used(sh);
	if (sf_mem_admit_new_client(&sh->mem, used))
		return true;
	sf_counter_add(&sh->metrics->mem_refused, 1);
	sh->mem_refused_unlogged++;
	log_refusals(sh, used);
	return false;
}

static void log_evictions(struct sf_shard_state *sh, uint64_t used)
{
	if (!log_due(sh, sh->mem_evicted_unlogged, sh->mem_evict_logged_ms))
		return;
	sf_logf("memory budget: over the eviction mark (%llu bytes): closed %llu clients holding "
		"%llu bytes without progress for %u ms or more; now %llu of %llu",
		(unsigned long long)sh->mem.evict_at, (unsigned long long)sh->mem_evicted_unlogged,
		(unsigned long long)sh->mem_evicted_bytes_unlogged, SF_MEM_STALL_MS,
		(unsigned long long)used, (unsigned long long)sh->mem.limit);
	sh->mem_evicted_unlogged = 0;
	sh->mem_evicted_bytes_unlogged = 0;
	sh->mem_evict_logged_ms = sh->now_ms;
}

/* Closes a client at once: its links without flushing (their output is what it holds), its
 * session, its streams, its queue and its record. */
static void evict(struct sf_client *c)
{
	while (c->links)
		sf_link_abort(c->links, NULL);
	sf_client_free(c);
}

static void evict_stalled(struct sf_shard_state *sh, uint64_t used)
{
	struct sf_mem_candidate *v = sh->nclients ? malloc(sh->nclients * sizeof *v) : NULL;
	size_t n = 0;
	for (size_t i = 0; v && i <= sh->table_mask; i++) {
		for (struct sf_client *c = sh->table[i]; c && n < sh->nclients; c = c->hnext) {
			v[n].client = c;
			v[n].held = sf_client_mem_held(c);
			v[n].stalled_ms = sh->now_ms - c->progress_ms;
			n++;
		}
	}
	size_t k = sf_mem_plan_evictions(&sh->mem, used, v, n);
	for (size_t i = 0; i < k; i++) {
		sh->mem_evicted_bytes_unlogged += v[i].held;
		evict(v[i].client);
	}
	free(v);
	sf_link_free_dead(sh);
	if (k) {
		sf_counter_add(&sh->metrics->mem_evicted, k);
		sh->mem_evicted_unlogged += k;
	}
}

static void mem_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_shard_state *sh = arg;
	sh->now_ms = sf_clock_ms();
	uint64_t used = sf_shard_mem_used(sh);
	if (used >= sh->mem.evict_at) {
		evict_stalled(sh, used);
		used = sf_shard_mem_used(sh);
	}
	log_evictions(sh, used);
	log_refusals(sh, used);
}

int sf_shard_mem_start(struct sf_shard_state *sh)
{
	uint64_t slice = sh->params->mem_slice;
	if (!slice)
		return 0;
	sf_mem_slice_init(&sh->mem, slice);
	sf_counter_set(&sh->metrics->mem_budget, slice);
	sh->mem_tick = event_new(sh->base, -1, EV_PERSIST, mem_tick_cb, sh);
	struct timeval tv = { 0, MEM_TICK_MS * 1000 };
	if (!sh->mem_tick || event_add(sh->mem_tick, &tv) < 0)
		return -1;
	return 0;
}

void sf_shard_mem_stop(struct sf_shard_state *sh)
{
	if (sh->mem_tick)
		event_free(sh->mem_tick);
	sh->mem_tick = NULL;
}
