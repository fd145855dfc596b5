/* Embedding API of the Snowflake server: a WebSocket listener whose clients' turbotunnel sessions
 * (KCP + smux) are relayed, one smux stream per connection, to tor's Extended ORPort or ORPort.
 *
 * The caller owns the main libevent loop (struct event_base) and runs it; the server adds its
 * listener to that loop and starts its own shard threads. Everything of one client lives on one
 * shard thread. Logging goes through the process logger (sf_log_setup in src/lib/log.h). */
#ifndef SNOWFLAKE_SERVER_H
#define SNOWFLAKE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct sf_certs;
struct sf_server;
struct sf_tls_ctx;

#define SF_SHARDS_PER_CPU_MAX 4
#define SF_SERVER_EXTORPORTS_MAX 32

/* One of several Extended ORPorts (tor instances sharing one identity), each with its own
 * auth cookie file. */
struct sf_server_extorport {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	const char *cookie_path;
};

struct sf_server_config {
	/* Where tor is. ExtORPort is used when has_extorport and cookie_path are set, else ORPort.
	 * Every cookie file is read once by sf_server_new (which fails if it cannot), then again
	 * only when tor refuses the cookie (tor restarted), at most once a second. */
	bool has_extorport;
	struct sockaddr_storage extorport;
	socklen_t extorport_len;
	const char *cookie_path;
	bool has_orport;
	struct sockaddr_storage orport;
	socklen_t orport_len;
	/* Several ExtORPorts to spread streams over, least loaded first, skipping one that fails
	 * for a backoff (docs/tor.md); when n_extorports > 0 they replace extorport/cookie_path.
	 * At most SF_SERVER_EXTORPORTS_MAX. */
	const struct sf_server_extorport *extorports;
	size_t n_extorports;
	/* orport-srcaddr option text (IPv4/IPv6 address or CIDR), or NULL; sf_server_new fails
	 * with "parsing srcaddr: <why>" when it is not one. */
	const char *orport_srcaddr;
	/* Number of shard threads; 0 = number of online CPUs; at most SF_SHARDS_PER_CPU_MAX per
	 * online CPU (a larger number is cut down, with a log line). */
	unsigned num_shards;
	/* wss://: every connection first completes a TLS handshake with this context (see
	 * src/tls/tls.h; the caller keeps it alive until sf_server_free). NULL: plain ws://. */
	struct sf_tls_ctx *tls;
	/* Connections accepted and not yet handed to a shard (TLS handshake, HTTP upgrade,
	 * turbotunnel preamble): past this many the oldest is closed. 0 = the default. */
	size_t max_handshakes;
	/* TLS mode's certificate store (src/server/certs.h; the caller keeps it alive until
	 * sf_server_free), for the ACME metrics. NULL: no ACME metrics. */
	struct sf_certs *certs;
	/* Memory budget (docs/security.md, "Memory budget"): the bytes clients may make the server
	 * hold, all shards and the front together. 0 = sf_server_memory_default(). Below
	 * SF_SERVER_MEMORY_MIN it is raised to that. */
	uint64_t memory_budget;
};

#define SF_SERVER_MEMORY_MIN (32ull << 20)
/* Half of the machine's memory (MemTotal), or of the cgroup's limit (memory.max, v1's
 * memory.limit_in_bytes) when that is lower, and at least SF_SERVER_MEMORY_MIN. */
uint64_t sf_server_memory_default(void);

#define SF_MAX_HANDSHAKES_DEFAULT 8192

/* Creates the server and starts its shard threads. Returns NULL with a message in err. */
struct sf_server *sf_server_new(struct event_base *base, const struct sf_server_config *cfg,
				char *err, size_t errlen);

/* A listening, non-blocking TCP socket for addr, as Go's net.Listen makes it (SO_REUSEADDR;
 * IPv6 sockets dual-stack only for [::]). Returns it, or -1 with Go's text in err ("listen tcp
 * 127.0.0.1:80: bind: address already in use"). For sf_server_add_listener, the metrics
 * listener and sf_certs_http01_new. */
int sf_server_listen_socket(const struct sockaddr *addr, socklen_t addrlen, char *err, size_t errlen);

/* Accepts WebSocket connections on an already listening, non-blocking socket, which the server
 * then owns (TLS first when the configuration has a TLS context). Any number of listeners.
 * Returns 0, or -1 (out of memory) with listen_fd left to the caller. */
int sf_server_add_listener(struct sf_server *srv, int listen_fd);

/* Counters for the daily statistics line: smux streams handed to the ORPort dialer, and how many
 * of them carried a client address, since the previous call (the first: since start). */
void sf_server_take_stats(struct sf_server *srv, uint64_t *streams, uint64_t *with_addr);

/* Metrics (docs/metrics.md): the Prometheus text exposition of the server's counters, as a
 * malloc'd NUL-terminated page (free it) of *len bytes; NULL when out of memory. Reads counters
 * only: no shard is stopped or locked. On the thread that runs base. */
char *sf_server_metrics_text(struct sf_server *srv, size_t *len);

/* Serves GET /metrics (that page; 404 for anything else) on an already listening, non-blocking
 * socket, on base. One such listener per server. Returns 0 (the server owns listen_fd), or -1
 * (out of memory, or one already) with listen_fd left to the caller. */
int sf_server_add_metrics_listener(struct sf_server *srv, int listen_fd);

/* Closes the listeners, stops the shard threads (connections are not drained, as upstream) and
 * frees everything. Call from the thread that runs base, outside of its callbacks or inside. */
void sf_server_free(struct sf_server *srv);

/* Sandbox (docs/security.md "Sandbox"), for a process that has opened everything it needs root
 * for (listeners, the log file, the certificate cache directory) and started its server. Both
 * act on every thread of the process, and both return 0, or -1 with a message in err, after
 * which the caller should exit: the process may be half-changed.
 *
 * sf_sandbox_drop_user: become user name (its uid, gid and groups) for good. Fails unless
 * running as root, for an unknown user or one with uid/gid 0, and when setuid(0) still works
 * afterwards. What the server opens later must be open to that user: the --log file (SIGHUP
 * reopens it), the certificate cache directory (ACME writes there), the ExtORPort cookie file
 * (re-read when tor restarts).
 *
 * sf_sandbox_seccomp: a seccomp-bpf allow-list of the calls the server makes; any other fails
 * with EPERM, and programs can no longer be run (no_new_privs). Call it after
 * sf_sandbox_drop_user. Refused in sanitizer builds (LeakSanitizer needs ptrace). */
int sf_sandbox_drop_user(const char *name, char *err, size_t errlen);
int sf_sandbox_seccomp(char *err, size_t errlen);

#endif
