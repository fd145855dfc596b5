/* Asynchronous connection to tor for one smux stream: the Extended ORPort with its handshake
 * (goptlib DialOr) when configured, else the plain ORPort. Runs on the caller's event_base,
 * never blocks, and reports exactly once through the callback, always from the event loop. */
#ifndef SF_TOR_DIAL_H
#define SF_TOR_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tor/srcaddr.h"

struct event_base;

#define SF_TOR_CONNECT_TIMEOUT_MS 30000  /* ours: the reference's connect has no timeout */
#define SF_TOR_HANDSHAKE_TIMEOUT_MS 5000 /* goptlib: auth + commands + OKAY */

struct sf_tor_target {
	/* ExtORPort if has_extor && cookie_path, else plain ORPort */
	bool has_extor;
	struct sockaddr_storage extor;
	socklen_t extor_len;
	const char *cookie_path; /* re-read on every dial */
	bool has_orport;
	struct sockaddr_storage orport;
	socklen_t orport_len;
	const struct sf_tor_srcaddr *srcaddr; /* NULL = none */
	const char *transport;                /* "snowflake"; NULL or "" = no TRANSPORT command */
	unsigned connect_timeout_ms;          /* 0 = SF_TOR_CONNECT_TIMEOUT_MS */
	unsigned handshake_timeout_ms;        /* 0 = SF_TOR_HANDSHAKE_TIMEOUT_MS */
};

/* Success: fd >= 0 is a connected non-blocking socket now owned by the callee, err NULL;
 * leftover[0..leftover_len) are OR-protocol bytes already read after OKAY (empty in practice:
 * the dialer reads only what the handshake asks for). Failure: fd -1 and err says why (the
 * caller logs "handleConn: failed to connect to ORPort: <err>"). err and leftover are valid only
 * during the call. The dial handle is gone once the callback runs. */
typedef void (*sf_tor_dial_cb)(int fd, const uint8_t *leftover, size_t leftover_len, const char *err,
			       void *arg);

struct sf_tor_dial;

/* useraddr: "ip:1", "[ip]:1" or NULL (no USERADDR). The target's strings and srcaddr are copied.
 * Returns NULL only when out of memory (cb is then never called). */
struct sf_tor_dial *sf_tor_dial_start(struct event_base *base, const struct sf_tor_target *t,
				      const char *useraddr, sf_tor_dial_cb cb, void *arg);

/* Stops a dial whose callback has not run yet: closes the socket, frees everything; cb is never
 * called afterwards. A no-op when called from inside the dial's own callback. */
void sf_tor_dial_cancel(struct sf_tor_dial *d);

#endif
