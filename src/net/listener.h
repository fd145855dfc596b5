/* TCP listening sockets opened the way Go's net.Listen("tcp", addr) opens them. */
#ifndef SF_NET_LISTENER_H
#define SF_NET_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>

#define SF_NET_BACKLOG 4096

/* Opens a non-blocking, close-on-exec listening socket with SO_REUSEADDR. As in Go, a wildcard
 * address (0.0.0.0 or ::) listens dual-stack on [::] (IPV6_V6ONLY off) when the host supports
 * IPv4-mapped addresses. Returns the fd, or -1 with err holding Go's text, e.g.
 * "listen tcp 0.0.0.0:443: bind: address already in use". */
int sf_net_listen(const struct sockaddr *sa, socklen_t len, char *err, size_t errlen);

/* Formats sa as Go's TCPAddr.String() does: "1.2.3.4:443", "[2001:db8::1]:443", "[fe80::1%eth0]:80"
 * (IPv4-mapped IPv6 prints as IPv4). Returns the length written (NUL excluded; cut to cap-1). */
size_t sf_net_addr_string(const struct sockaddr *sa, socklen_t len, char *out, size_t cap);

/* Accepts connections from a listening socket on a libevent loop, up to a batch per wake-up.
 * When accept fails for lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) the socket is left
 * unwatched for a while, as Go's http.Server backs off (5 ms, doubling up to 1 s, reset by the
 * next success): a level-triggered listener would otherwise fire again at once and spin a core
 * while existing connections go on being served. Logged at most once per 10 s. */
struct event_base;
struct sf_net_acceptor;
/* Receives each accepted socket (non-blocking, close-on-exec); it owns it from then on. */
typedef void (*sf_net_accept_fn)(void *arg, int fd);

struct sf_net_acceptor *sf_net_acceptor_new(struct event_base *base, int listen_fd,
					    sf_net_accept_fn on_accept, void *arg);
/* Stops watching; the listening socket stays open (the caller closes it). */
void sf_net_acceptor_free(struct sf_net_acceptor *a);

#endif
