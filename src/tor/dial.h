/* Asynchronous connection to tor for one smux stream: the Extended ORPort with its handshake
 * (goptlib DialOr) when configured, else the plain ORPort. Runs on an sf_conn (sf_conn_connect)
 * on the caller's event_base, never blocks, and reports exactly once through the callback, always
 * from the event loop, handing the sf_conn itself to the caller on success. */
#ifndef SF_TOR_DIAL_H
#define SF_TOR_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tor/cookie.h"
#include "tor/srcaddr.h"

struct event_base;
struct sf_conn;

#define SF_TOR_CONNECT_TIMEOUT_MS 30000  /* ours: the reference's connect has no timeout */
#define SF_TOR_HANDSHAKE_TIMEOUT_MS 5000 /* goptlib: auth + commands + OKAY */

struct sf_tor_target {
	/* ExtORPort if has_extor && cookie, else plain ORPort */
	bool has_extor;
	struct sockaddr_storage extor;
	socklen_t extor_len;
	struct sf_tor_cookie *cookie; /* the ExtORPort's cookie in memory; must outlive the dial */
	bool has_orport;
	struct sockaddr_storage orport;
	socklen_t orport_len;
	const struct sf_tor_srcaddr *srcaddr; /* NULL = none */
	const char *transport;                /* "snowflake"; NULL or "" = no TRANSPORT command */
	unsigned connect_timeout_ms;          /* 0 = SF_TOR_CONNECT_TIMEOUT_MS */
	unsigned handshake_timeout_ms;        /* 0 = SF_TOR_HANDSHAKE_TIMEOUT_MS */
};

/* One of the ExtORPorts streams are spread over (docs/tor.md, "Several ExtORPorts"). */
struct sf_tor_extorport {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct sf_tor_cookie cookie;
};

/* Success: conn is the connection to tor, up and (ExtORPort) past OKAY, now owned by the callee,
 * who must give it its own callbacks (sf_conn_set_callbacks) before returning: the dialer's are
 * already removed, and reading goes on after the callback. Nothing after OKAY has been read (the
 * dialer reads only what the handshake asks for). Failure: conn NULL and err says why (the caller
 * logs "handleConn: failed to connect to ORPort: <err>"); err is valid only during the call. The
 * dial handle is gone once the callback runs. */
typedef void (*sf_tor_dial_cb)(struct sf_conn *conn, const char *err, void *arg);

struct sf_tor_dial;

/* Why a dial failed, as far as choosing an ExtORPort cares. */
enum sf_tor_dial_outcome {
	SF_TOR_DIAL_OK,
	SF_TOR_DIAL_UNREACHABLE,  /* refused, timed out, reset or closed by tor: try another one */
	SF_TOR_DIAL_AUTH_RETRY,   /* tor refused the cookie and a new one is now in memory */
	SF_TOR_DIAL_AUTH_FAILED,  /* tor refused the cookie and the file holds no other one */
	SF_TOR_DIAL_OTHER,        /* tor denied the client, or a local failure (srcaddr, memory) */
};

/* During the callback only: why the dial failed (SF_TOR_DIAL_OK on success). */
enum sf_tor_dial_outcome sf_tor_dial_outcome(const struct sf_tor_dial *d);

/* useraddr: "ip:1", "[ip]:1" or NULL (no USERADDR). The target's strings and srcaddr are copied;
 * its cookie is not (it is shared and must outlive the dial).
 * Returns NULL only when out of memory (cb is then never called). */
struct sf_tor_dial *sf_tor_dial_start(struct event_base *base, const struct sf_tor_target *t,
				      const char *useraddr, sf_tor_dial_cb cb, void *arg);

/* Stops a dial whose callback has not run yet: closes the connection, frees everything; cb is never
 * called afterwards. A no-op when called from inside the dial's own callback. */
void sf_tor_dial_cancel(struct sf_tor_dial *d);

#endif
