/* The embeddable server (include/snowflake/server.h): listeners on the caller's event loop, the
 * front (front.c) that reads each WebSocket's preamble there, and the shard threads. */
#include "server/server_int.h"
#include "server/membudget.h"
#include "shard/membudget.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/upgrade.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "metrics/endpoint.h"
#include "net/listener.h"
#include "turbotunnel/clientmap.h"

/* The listener array starts with room for this many and doubles when full (tor gives one
 * bindaddr per method, an embedder may add any number). */
#define LISTENERS_INITIAL 8
/* Per shard: how many ClientID records it keeps at most. A record is small; this bounds a flood
 * of fresh ClientIDs (each real client uses one). */
#define MAX_CLIENTS_PER_SHARD 200000

struct listener {
	int fd;
	struct sf_net_acceptor *acceptor;
};

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Reads every ExtORPort's cookie now: a dial never reads the file (tor/cookie.h). The single
 * ExtORPort of TOR_PT_EXTENDED_SERVER_PORT is a list of one. */
static int load_extorports(struct sf_server *srv, const struct sf_server_config *cfg, char *err,
			   size_t errlen)
{
	struct sf_server_extorport single = {
		.addr = cfg->extorport,
		.addr_len = cfg->extorport_len,
		.cookie_path = cfg->cookie_path,
	};
	const struct sf_server_extorport *list = cfg->extorports;
	size_t n = cfg->n_extorports;
	if (n == 0 && cfg->has_extorport && cfg->cookie_path) {
		list = &single;
		n = 1;
	}
	if (n == 0)
		return 0;
	if (n > SF_SERVER_EXTORPORTS_MAX) {
		snprintf(err, errlen, "too many ExtORPorts: %zu (at most %d)", n, SF_SERVER_EXTORPORTS_MAX);
		return -1;
	}
	srv->extorports = calloc(n, sizeof *srv->extorports);
	if (!srv->extorports) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uint64_t now = sf_clock_ms();
	for (size_t i = 0; i < n; i++) {
		struct sf_tor_extorport *e = &srv->extorports[i];
		if (!list[i].cookie_path || list[i].addr_len > sizeof e->addr) {
			snprintf(err, errlen, "ExtORPort %zu: no cookie file or a bad address", i);
			return -1;
		}
		e->addr = list[i].addr;
		e->addr_len = list[i].addr_len;
		if (sf_tor_cookie_load(&e->cookie, list[i].cookie_path, now, err, errlen) < 0)
			return -1;
		srv->n_extorports = i + 1;
	}
	return 0;
}

int sf_server_listen_socket(const struct sockaddr *addr, socklen_t addrlen, char *err, size_t errlen)
{
	return sf_net_listen(addr, addrlen, err, errlen);
}

static void on_accept(void *arg, int fd)
{
	sf_front_accept(arg, fd);
}

struct sf_server *sf_server_new(struct event_base *base, const struct sf_server_config *cfg,
				char *err, size_t errlen)
{
	struct sf_server *srv = calloc(1, sizeof *srv);
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->base = base;
	srv->listeners = calloc(LISTENERS_INITIAL, sizeof *srv->listeners);
	srv->tor.has_orport = cfg->has_orport;
	srv->tor.orport = cfg->orport;
	srv->tor.orport_len = cfg->orport_len;
	srv->tor.transport = "snowflake";
	srv->tls = cfg->tls;
	srv->certs = cfg->certs;
	if (load_extorports(srv, cfg, err, errlen) < 0)
		goto fail;
	/* OpenSSL's configuration and SHA-1 now, not on the first client's time (http/upgrade.h). */
	if (sf_http_upgrade_init() < 0)
		sf_logf("OpenSSL gave no SHA-1: WebSocket accept keys take its implicit fetch");
	if (cfg->orport_srcaddr) {
		char why[200];
		if (sf_tor_srcaddr_parse(cfg->orport_srcaddr, &srv->srcaddr, why, sizeof why) < 0) {
			snprintf(err, errlen, "parsing srcaddr: %s", why); /* upstream's words */
			goto fail;
		}
		srv->tor.srcaddr = &srv->srcaddr;
	}
	if (sf_tt_shard_key_init(srv->shard_key) < 0) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto fail;
	}
	srv->nshards = cfg->num_shards ? cfg->num_shards : online_cpus();
	/* Upstream's KCP instances are goroutines; ours are threads with their own buffers, and
	 * more of them than CPUs only costs memory (num-turbotunnel=5000 took 1.5 GB). */
	unsigned max_shards = SF_SHARDS_PER_CPU_MAX * online_cpus();
	if (srv->nshards > max_shards) {
		sf_logf("num-turbotunnel=%u: running %u shards (at most %u per CPU)", srv->nshards,
			max_shards, SF_SHARDS_PER_CPU_MAX);
		srv->nshards = max_shards;
	}
	srv->shards = calloc(srv->nshards, sizeof *srv->shards);
	if (!srv->listeners || !srv->shards) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	struct sf_server_memory_split mem;
	sf_server_memory_split(cfg->memory_budget ? cfg->memory_budget : sf_server_memory_default(),
			       srv->nshards, cfg->tls != NULL, cfg->max_handshakes, &mem);
	srv->front.max = mem.max_handshakes;
	sf_logf("memory budget: %llu MiB: %llu MiB for connections in handshake (at most %zu), "
		"%llu MiB for each of %u shards, %llu MiB left for what is not counted",
		(unsigned long long)(mem.budget >> 20), (unsigned long long)(mem.front >> 20),
		mem.max_handshakes, (unsigned long long)(mem.shard_slice >> 20), srv->nshards,
		(unsigned long long)(mem.uncounted >> 20));
	/* Upstream's one ClientID → address map holds 98304 records; each shard keeps its share. */
	struct sf_shard_params params = {
		.tor = &srv->tor,
		.extorports = srv->extorports,
		.n_extorports = srv->n_extorports,
		.clientmap_capacity = (SF_TT_CLIENTMAP_CAPACITY + srv->nshards - 1) / srv->nshards,
		.max_clients = MAX_CLIENTS_PER_SHARD,
		.mem_slice = mem.shard_slice,
		.link_cost = SF_MEM_LINK_COST + (cfg->tls ? SF_MEM_TLS_COST : 0),
	};
	for (unsigned i = 0; i < srv->nshards; i++) {
		srv->shards[i] = sf_shard_start(&params, i, err, errlen);
		if (!srv->shards[i])
			goto fail;
	}
	return srv;
fail:
	sf_server_free(srv);
	return NULL;
}

int sf_server_add_listener(struct sf_server *srv, int listen_fd)
{
	/* The capacity is LISTENERS_INITIAL, then the power of two that nlisteners last reached. */
	size_t n = srv->nlisteners;
	if (n >= LISTENERS_INITIAL && (n & (n - 1)) == 0) {
		struct listener *more = realloc(srv->listeners, 2 * n * sizeof *more);
		if (!more)
			return -1;
		srv->listeners = more;
	}
	struct listener *l = &srv->listeners[srv->nlisteners];
	l->acceptor = sf_net_acceptor_new(srv->base, listen_fd, on_accept, srv);
	if (!l->acceptor)
		return -1;
	l->fd = listen_fd;
	srv->nlisteners++;
	return 0;
}

/* The shards' stream counters only grow (the metrics read them too): the statistics line gets
 * what was added since the last time. */
void sf_server_take_stats(struct sf_server *srv, uint64_t *streams, uint64_t *with_addr)
{
	uint64_t s = 0, a = 0;
	for (unsigned i = 0; i < srv->nshards; i++) {
		const struct sf_shard_metrics *m = sf_shard_metrics(srv->shards[i]);
		s += sf_counter_get(&m->streams_opened);
		a += sf_counter_get(&m->streams_with_addr);
	}
	*streams = s - srv->stats_streams_taken;
	*with_addr = a - srv->stats_with_addr_taken;
	srv->stats_streams_taken = s;
	srv->stats_with_addr_taken = a;
}

void sf_server_free(struct sf_server *srv)
{
	if (!srv)
		return;
	sf_metrics_endpoint_free(srv->metrics);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		sf_net_acceptor_free(srv->listeners[i].acceptor);
		close(srv->listeners[i].fd);
	}
	sf_front_close_all(srv);
	if (srv->shards) {
		for (unsigned i = 0; i < srv->nshards; i++)
			if (srv->shards[i])
				sf_shard_stop(srv->shards[i]);
	}
	free(srv->shards);
	free(srv->listeners);
	for (size_t i = 0; i < srv->n_extorports; i++)
		sf_tor_cookie_free(&srv->extorports[i].cookie);
	free(srv->extorports);
	free(srv);
}
