/* The memory budget's default and its split between the front and the shards
 * (docs/security.md, "Memory budget"). */
#include "server/membudget.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* "MemTotal:  24683736 kB" from a meminfo file, in bytes; 0 if absent. */
static uint64_t meminfo_total(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char line[256];
	uint64_t kb = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemTotal: %" SCNu64 " kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* A cgroup limit file: a number of bytes, or "max" (none) -> 0. */
static uint64_t cgroup_limit(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	uint64_t v = 0;
	if (fscanf(f, "%" SCNu64, &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

uint64_t sf_server_memory_default_from(const char *meminfo, const char *const *cgroup_files)
{
	uint64_t total = meminfo_total(meminfo);
	for (size_t i = 0; cgroup_files && cgroup_files[i]; i++) {
		uint64_t lim = cgroup_limit(cgroup_files[i]);
		/* cgroup v1 says "no limit" with a huge number: any limit above MemTotal is none. */
		if (lim && (!total || lim < total))
			total = lim;
	}
	uint64_t budget = total / 2;
	return budget < SF_SERVER_MEMORY_MIN ? SF_SERVER_MEMORY_MIN : budget;
}

uint64_t sf_server_memory_default(void)
{
	static const char *const cgroups[] = {
		"/sys/fs/cgroup/memory.max",			/* v2, the process's own cgroup */
		"/sys/fs/cgroup/memory/memory.limit_in_bytes",	/* v1 */
		NULL,
	};
	return sf_server_memory_default_from("/proc/meminfo", cgroups);
}

void sf_server_memory_split(uint64_t budget, unsigned nshards, bool tls, size_t max_handshakes,
			    struct sf_server_memory_split *out)
{
	if (budget < SF_SERVER_MEMORY_MIN)
		budget = SF_SERVER_MEMORY_MIN;
	memset(out, 0, sizeof *out);
	out->budget = budget;
	out->front = budget / SF_FRONT_MEMORY_DIVISOR;
	out->front_conn_cost = tls ? SF_FRONT_TLS_CONN_COST : SF_FRONT_CONN_COST;
	uint64_t fit = out->front / out->front_conn_cost;
	if (fit < SF_FRONT_MIN_HANDSHAKES)
		fit = SF_FRONT_MIN_HANDSHAKES;
	out->max_handshakes = max_handshakes ? max_handshakes
			      : fit < SF_MAX_HANDSHAKES_DEFAULT ? (size_t)fit
			      : SF_MAX_HANDSHAKES_DEFAULT;
	out->uncounted = budget / SF_UNCOUNTED_MEMORY_DIVISOR;
	out->shard_slice = (budget - out->front - out->uncounted) / (nshards ? nshards : 1);
}
