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

#endif
