/* The memory budget (docs/security.md, "Memory budget"): one number for everything clients can
 * make the server hold, split into one slice per shard (plus the front's part, server.c). A shard
 * counts in its slice what its clients make it hold, on the paths that allocate it, and applies
 * the policy here: past SF_MEM_REFUSE_PERCENT of the slice new ClientIDs are refused, past
 * SF_MEM_EVICT_PERCENT the clients that hold the most without progress are closed until the
 * shard is back under the refusal mark. No I/O, no clock: the unit test drives it. */
#ifndef SF_SHARD_MEMBUDGET_H
#define SF_SHARD_MEMBUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Costs not counted byte by byte, each measured or bounded once (docs/security.md):
 * a TLS connection holds OpenSSL's connection and record buffers (~48 KiB measured by
 * test_fault_slowloris_tls); every link holds an sf_conn, the WebSocket parser and the link
 * (~4 KiB); a ClientID record with its timer and queue head; a KCP + smux session's structs;
 * a relay stream's events, buffer header and tor socket state. */
#define SF_MEM_TLS_COST (48u * 1024)
#define SF_MEM_LINK_COST (4u * 1024)
#define SF_MEM_CLIENT_COST 1024u
#define SF_MEM_SESSION_COST (8u * 1024)
#define SF_MEM_STREAM_COST (4u * 1024)
/* A packet pool buffer: its payload (SF_TT_BUF_SIZE) and its header, rounded. */
#define SF_MEM_POOL_BUF_COST (SF_TT_BUF_SIZE + 32u)

#define SF_MEM_REFUSE_PERCENT 75
#define SF_MEM_EVICT_PERCENT 90
/* What one ClientID may hold: this part of its shard's slice, at most SF_MEM_SHARE_MAX (KCP's
 * per-session share before the budget existed: more does not make one client faster). */
#define SF_MEM_SHARE_DIVISOR 8
#define SF_MEM_SHARE_MAX (32ull << 20)
/* A client is a candidate for eviction once it made no progress for this long. */
#define SF_MEM_STALL_MS 2000

struct sf_mem_slice {
	uint64_t limit;
	uint64_t refuse_at;	/* new ClientIDs are refused from here on */
	uint64_t evict_at;	/* stalled clients are closed from here on */
	uint64_t client_share;	/* the most one ClientID may hold */
};

void sf_mem_slice_init(struct sf_mem_slice *s, uint64_t limit);

/* What a shard's clients make it hold, kept up to date where it is allocated and freed. The
 * shard thread alone writes it (so plain integers). */
struct sf_mem_usage {
	uint64_t link_output;	/* WebSocket output buffers (sf_conn_set_account) */
	uint64_t to_tor;	/* client bytes waiting for tor's socket */
	size_t links, sessions;
	size_t clients, streams;	/* copied from the shard's nclients and nstreams */
};

/* Bytes held: usage, plus kcp_bytes (the thread's KCP count), pool_bytes (the packet pool's
 * allocated buffers) and link_cost for each link (SF_MEM_LINK_COST, plus SF_MEM_TLS_COST on a
 * TLS server). */
uint64_t sf_mem_used(const struct sf_mem_usage *u, uint64_t kcp_bytes, uint64_t pool_bytes,
		     uint64_t link_cost);

/* May a WebSocket with a ClientID the shard does not know come in? (A known ClientID always
 * may: refusing it would break an established session.) */
bool sf_mem_admit_new_client(const struct sf_mem_slice *s, uint64_t used);

/* A client the eviction may close: how much it holds and how long it has made no progress. */
struct sf_mem_candidate {
	void *client;
	uint64_t held;
	uint64_t stalled_ms;
};

/* Chooses whom to close when used reached the eviction mark: keeps in v only the clients stalled
 * for SF_MEM_STALL_MS or more, the biggest holder first, and returns how many of them (from
 * v[0]) must go for used to fall under the refusal mark — all of them if that is not enough. 0
 * when used is under the eviction mark. v is reordered. */
size_t sf_mem_plan_evictions(const struct sf_mem_slice *s, uint64_t used,
			     struct sf_mem_candidate *v, size_t n);

#endif
