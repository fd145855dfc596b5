/* Shard thread: an event loop, an inbox of handed-over WebSockets, and the clients it owns.
 * The inbox is the only structure touched by two threads (a mutex and an eventfd, once per
 * WebSocket connection, never per packet). */
#include "shard/shard.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "net/conn.h"
#include "shard/client.h"
#include "turbotunnel/clientmap.h"
#include "ws/ws.h"

#define SHARD_TABLE_INITIAL 1024
/* On shutdown, how long the WebSockets closed then may take to flush their Close frames. */
#define SHUTDOWN_FLUSH_MS 1500

struct sf_shard {
	struct sf_shard_state st;
	struct sf_shard_params params;
	unsigned index;
	pthread_t thread;
	int wake_fd;
	struct event *wake_ev;
	pthread_mutex_t lock;
	struct sf_handover *inbox;		/* guarded by lock */
	bool stopping;				/* guarded by lock */
};

static void shard_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct sf_shard *sh = arg;
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof v);
	(void)r;

	pthread_mutex_lock(&sh->lock);
	struct sf_handover *list = sh->inbox;
	sh->inbox = NULL;
	bool stopping = sh->stopping;
	pthread_mutex_unlock(&sh->lock);

	/* The inbox is a stack: reverse it so WebSockets are adopted in arrival order. */
	struct sf_handover *ordered = NULL;
	while (list) {
		struct sf_handover *next = list->next;
		list->next = ordered;
		ordered = list;
		list = next;
	}
	sh->st.now_ms = sf_clock_ms();
	while (ordered) {
		struct sf_handover *h = ordered;
		ordered = h->next;
		if (stopping)
			sf_link_close_unadopted(&sh->st, h);
		else
			sf_link_adopt(&sh->st, h);
	}
	sf_link_free_dead(&sh->st);
	if (stopping)
		event_base_loopbreak(sh->st.base);
}

/* KCP's part of the shard's memory slice: half of it, so that KCP's own drops and sweep act
 * before the slice's eviction mark; a session may hold the client's share. SF_KCP_BUDGET_MB
 * overrides the per-thread KCP budget (the session share then follows it, docs/security.md
 * "KCP"): for tests that attack KCP alone. */
static void apply_kcp_budget(const struct sf_shard_state *st)
{
	if (st->mem.limit) {
		sf_kcp_set_thread_rx_budget(st->mem.limit / 2);
		sf_kcp_set_session_rx_share(st->mem.client_share);
	}
	const char *v = getenv("SF_KCP_BUDGET_MB");
	if (!v || !*v)
		return;
	char *end;
	unsigned long long mb = strtoull(v, &end, 10);
	if (*end == '\0' && mb > 0 && mb < (1ull << 24)) {
		sf_kcp_set_thread_rx_budget(mb << 20);
		sf_kcp_set_session_rx_share(0);
	} else
		sf_logf("SF_KCP_BUDGET_MB: not a size in MiB; keeping the default KCP budget");
}


/* The packet pool may take an eighth of the memory slice (the default cap when it is larger),
 * at least enough for a few full queues. */
#define POOL_MIN_BUFFERS 2048
static size_t pool_buffers(uint64_t slice)
{
	if (!slice)
		return 0;
	uint64_t n = slice / 8 / SF_MEM_POOL_BUF_COST;
	if (n > SF_TT_POOL_DEFAULT_MAX)
		n = SF_TT_POOL_DEFAULT_MAX;
	return n < POOL_MIN_BUFFERS ? POOL_MIN_BUFFERS : (size_t)n;
}

static void on_flush_bound(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Closing a client's WebSockets hands their sockets to sf_conn_close_flush, which finishes on
 * the shard's event loop; the thread has stopped, so run that loop here until every such socket
 * is out and closed, or the bound is reached (a peer that never reads). Without this the sockets
 * and their buffers would never be released. */
static void drain_closing_conns(struct sf_shard *sh)
{
	struct event_base *base = sh->st.base;
	if (sh->wake_ev) {
		event_free(sh->wake_ev);
		sh->wake_ev = NULL;
	}
	struct event *bound = evtimer_new(base, on_flush_bound, NULL);
	struct timeval tv = { SHUTDOWN_FLUSH_MS / 1000, (SHUTDOWN_FLUSH_MS % 1000) * 1000 };
	if (!bound || evtimer_add(bound, &tv) < 0) {
		if (bound)
			event_free(bound);
		return;
	}
	/* The bound timer is one of the events counted; it firing ends the loop as well. */
	while (event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) > 1 &&
	       evtimer_pending(bound, NULL))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(bound);
}

/* Frees every client and closes their connections. Runs on the shard's own thread when it
 * stops: their sf_conns belong to its loop, and their KCP memory to its accounting. */
static void shard_close_clients(struct sf_shard *sh)
{
	struct sf_shard_state *st = &sh->st;
	if (!st->table)
		return;
	st->now_ms = sf_clock_ms();
	/* Their timers would keep the drain below waiting for its bound. */
	sf_shard_mem_stop(st);
	sf_client_sweep_stop(st);
	for (size_t i = 0; i <= st->table_mask; i++)
		while (st->table[i])
			sf_client_free(st->table[i]);
	sf_link_free_dead(st);
	free(st->table);
	st->table = NULL;
	if (st->base)
		drain_closing_conns(sh);
}

static void *shard_main(void *arg)
{
	struct sf_shard *sh = arg;
	apply_kcp_budget(&sh->st);
	event_base_loop(sh->st.base, EVLOOP_NO_EXIT_ON_EMPTY);
	shard_close_clients(sh);
	sf_kcp_thread_cache_free();
	return NULL;
}

/* After the thread (if any) has ended. */
static void shard_free_state(struct sf_shard *sh)
{
	struct sf_shard_state *st = &sh->st;
	shard_close_clients(sh); /* a shard whose thread never started */
	sf_shard_mem_stop(st);
	sf_client_sweep_stop(st);
	if (st->clientmap)
		sf_tt_clientmap_free(st->clientmap);
	if (st->pool)
		sf_tt_pool_free(st->pool);
	if (sh->wake_ev)
		event_free(sh->wake_ev);
	if (st->base)
		event_base_free(st->base);
	if (sh->wake_fd >= 0)
		close(sh->wake_fd);
	pthread_mutex_destroy(&sh->lock);
	free(st->metrics);
	free(sh);
}

struct sf_shard *sf_shard_start(const struct sf_shard_params *p, unsigned index, char *err,
				size_t errlen)
{
	struct sf_shard *sh = calloc(1, sizeof *sh);
	if (!sh) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sh->params = *p;
	sh->index = index;
	sh->wake_fd = -1;
	pthread_mutex_init(&sh->lock, NULL);
	struct sf_shard_state *st = &sh->st;
	st->params = &sh->params;
	st->base = event_base_new();
	st->pool = sf_tt_pool_new(pool_buffers(p->mem_slice));
	st->clientmap = sf_tt_clientmap_new(p->clientmap_capacity);
	st->table = calloc(SHARD_TABLE_INITIAL, sizeof *st->table);
	st->table_mask = SHARD_TABLE_INITIAL - 1;
	/* Its own cache lines: the size of an _Alignas(64) struct is a multiple of 64. */
	st->metrics = aligned_alloc(SF_SHARD_CACHE_LINE, sizeof *st->metrics);
	if (st->metrics)
		memset(st->metrics, 0, sizeof *st->metrics);
	sh->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (getrandom(&st->hash_k0, sizeof st->hash_k0, 0) != sizeof st->hash_k0 ||
	    getrandom(&st->hash_k1, sizeof st->hash_k1, 0) != sizeof st->hash_k1) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		shard_free_state(sh);
		return NULL;
	}
	st->hash_k1 |= 1;
	st->now_ms = sf_clock_ms();
	sf_tor_balance_init(&st->extor_balance, p->n_extorports);
	if (!st->base || !st->pool || !st->clientmap || !st->table || !st->metrics ||
	    sh->wake_fd < 0) {
		snprintf(err, errlen, "shard %u: out of resources", index);
		shard_free_state(sh);
		return NULL;
	}
	sh->wake_ev = event_new(st->base, sh->wake_fd, EV_READ | EV_PERSIST, shard_wake_cb, sh);
	if (!sh->wake_ev || event_add(sh->wake_ev, NULL) < 0 || sf_shard_mem_start(st) < 0) {
		snprintf(err, errlen, "shard %u: cannot watch its inbox", index);
		shard_free_state(sh);
		return NULL;
	}
	/* Signals are the main thread's business: the shard thread starts with all of them blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&sh->thread, NULL, shard_main, sh);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "shard %u: pthread_create: %s", index, strerror(rc));
		shard_free_state(sh);
		return NULL;
	}
	/* "sf-shard-N" in top -H, ps -L and /proc/PID/task/TID/comm (at most 15 characters);
	 * a name is a convenience, so a failure is ignored. */
	char name[16];
	snprintf(name, sizeof name, "sf-shard-%u", index % 1000000u);
	(void)pthread_setname_np(sh->thread, name);
	return sh;
}

static void shard_wake(struct sf_shard *sh)
{
	uint64_t one = 1;
	ssize_t w = write(sh->wake_fd, &one, sizeof one);
	(void)w; /* EAGAIN: the counter is already non-zero, a wake-up is pending */
}

void sf_shard_post(struct sf_shard *sh, struct sf_handover *h)
{
	pthread_mutex_lock(&sh->lock);
	bool stopping = sh->stopping;
	if (!stopping) {
		h->next = sh->inbox;
		sh->inbox = h;
	}
	pthread_mutex_unlock(&sh->lock);
	if (stopping)
		sf_handover_free(h);
	else
		shard_wake(sh);
}

void sf_shard_stop(struct sf_shard *sh)
{
	pthread_mutex_lock(&sh->lock);
	sh->stopping = true;
	pthread_mutex_unlock(&sh->lock);
	shard_wake(sh);
	pthread_join(sh->thread, NULL);
	/* The thread is gone: its state is ours now. */
	struct sf_handover *h = sh->inbox;
	while (h) {
		struct sf_handover *next = h->next;
		sf_handover_free(h);
		h = next;
	}
	shard_free_state(sh);
}

const struct sf_shard_metrics *sf_shard_metrics(const struct sf_shard *sh)
{
	return sh->st.metrics;
}

uint64_t sf_shard_cpu_ns(const struct sf_shard *sh)
{
	clockid_t cid;
	struct timespec ts;
	if (pthread_getcpuclockid(sh->thread, &cid) != 0 || clock_gettime(cid, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sf_handover_free(struct sf_handover *h)
{
	if (h->ws)
		sf_ws_free(h->ws);
	if (h->conn)
		sf_conn_close(h->conn);
	free(h);
}
