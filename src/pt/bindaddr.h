/* goptlib resolveAddr: "<ip>:<port>" / "[<ipv6>]:<port>" (and bracket-less IPv6 from tor
 * before #7011) to a socket address, with Go's exact error texts. Literal IPs only, no DNS. */
#ifndef SF_PT_BINDADDR_H
#define SF_PT_BINDADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Longest address text: "[" 39-char IPv6 "]:65535". */
#define SF_PT_ADDR_TEXT_MAX 80

/* On success returns 0, fills *ss and *len (an IPv4-mapped IPv6 address becomes AF_INET, as Go
 * treats it) and text with Go's TCPAddr.String() ("0.0.0.0:443", "[::]:443"). On failure returns
 * -1 with the Go error text in err (lib/err.h; "out of memory" if even that failed). Port 0
 * is accepted. */
int sf_pt_resolve_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		       char text[SF_PT_ADDR_TEXT_MAX], char *err, size_t errlen);

/* Go's TCPAddr.String() of a socket address (AF_INET or AF_INET6). */
void sf_pt_format_addr(const struct sockaddr *sa, char text[SF_PT_ADDR_TEXT_MAX]);

#endif
