/* How the memory budget is shared (docs/security.md, "Memory budget"). The front (connections
 * before their preamble, on the main thread) gets a fixed part and is held to it by its
 * connection cap: a pre-handshake connection holds no growing buffer, only a cost measured once
 * (the upgrade parser's 16 KiB request buffer; OpenSSL's state with TLS), so counting them is
 * enough and costs nothing per byte. An eighth is kept for what no counter sees: the
 * allocator's slack and free lists, KCP's per-thread segment cache, libevent's and OpenSSL's
 * own structures (the flood test measured RSS within 4-7 MiB of a 64 MiB budget without it).
 * The rest is split evenly between the shards, which count what their clients hold
 * (shard/membudget.h). */
#ifndef SF_SERVER_MEMBUDGET_H
#define SF_SERVER_MEMBUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snowflake/server.h"

#define SF_FRONT_MEMORY_DIVISOR 4
#define SF_UNCOUNTED_MEMORY_DIVISOR 8
/* Per pre-handshake connection: the bounds test_fault_slowloris*.sh check (measured ~19 KiB
 * plain, ~48 KiB TLS). */
#define SF_FRONT_CONN_COST (24u * 1024)
#define SF_FRONT_TLS_CONN_COST (64u * 1024)
/* However small the budget, this many handshakes may be under way. */
#define SF_FRONT_MIN_HANDSHAKES 64

struct sf_server_memory_split {
	uint64_t budget;
	uint64_t front;			/* the front's part */
	uint64_t front_conn_cost;
	size_t max_handshakes;		/* front / cost, at most SF_MAX_HANDSHAKES_DEFAULT, or the
					 * embedder's own cap when it set one */
	uint64_t uncounted;		/* kept for what no counter sees */
	uint64_t shard_slice;		/* each shard's */
};

void sf_server_memory_split(uint64_t budget, unsigned nshards, bool tls, size_t max_handshakes,
			    struct sf_server_memory_split *out);
/* sf_server_memory_default with the files named (NULL-ended cgroup list), for the unit test. */
uint64_t sf_server_memory_default_from(const char *meminfo, const char *const *cgroup_files);

#endif
