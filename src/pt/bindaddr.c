#include "pt/bindaddr.h"

#include "lib/err.h"

#include "lib/goip.h"
#include "pt/gostr.h"

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

/* Go's net.SplitHostPort on s[0..n). On success host/port are ranges of s; on failure err gets
 * the AddrError text ("address <s>: <why>", the address not quoted). */
static int split_host_port(const char *s, size_t n, size_t *host, size_t *host_len,
			   size_t *port, struct sf_strbuf *err)
{
	const char *why;
	size_t j = 0, k = 0;
	const char *last = n ? memrchr(s, ':', n) : NULL;

	if (!last) {
		why = "missing port in address";
		goto fail;
	}
	size_t i = (size_t)(last - s);
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (!rb) {
			why = "missing ']' in address";
			goto fail;
		}
		size_t end = (size_t)(rb - s);
		if (end + 1 == n) {
			why = "missing port in address";
			goto fail;
		} else if (end + 1 != i) {
			why = s[end + 1] == ':' ? "too many colons in address" : "missing port in address";
			goto fail;
		}
		*host = 1;
		*host_len = end - 1;
		j = 1;
		k = end + 1;
	} else {
		if (memchr(s, ':', i)) {
			why = "too many colons in address";
			goto fail;
		}
		*host = 0;
		*host_len = i;
	}
	if (memchr(s + j, '[', n - j)) {
		why = "unexpected '[' in address";
		goto fail;
	}
	if (memchr(s + k, ']', n - k)) {
		why = "unexpected ']' in address";
		goto fail;
	}
	*port = i + 1;
	return 0;
fail:
	if (n > 0) {
		sf_strbuf_add(err, "address ");
		sf_strbuf_append(err, s, n);
		sf_strbuf_add(err, ": ");
	}
	sf_strbuf_add(err, why);
	return -1;
}

/* strconv.ParseUint(s, 10, 16): the first bad byte decides, in order, between syntax/range. */
static int parse_port(const char *s, size_t n, unsigned *port, struct sf_strbuf *err)
{
	unsigned v = 0;
	const char *why = NULL;

	if (n == 0)
		why = "invalid syntax";
	for (size_t i = 0; i < n && !why; i++) {
		if (s[i] < '0' || s[i] > '9')
			why = "invalid syntax";
		else if ((v = v * 10 + (unsigned)(s[i] - '0')) > 65535)
			why = "value out of range";
	}
	if (why) {
		sf_strbuf_add(err, "strconv.ParseUint: parsing ");
		sf_pt_str_add_quoted(err, s, n);
		sf_strbuf_add(err, ": ");
		sf_strbuf_add(err, why);
		return -1;
	}
	*port = v;
	return 0;
}

void sf_pt_format_addr(const struct sockaddr *sa, char text[SF_PT_ADDR_TEXT_MAX])
{
	/* No zone: goptlib's addresses come from net.ParseIP, which refuses one. */
	sf_goip_format_sockaddr(sa, false, text, SF_PT_ADDR_TEXT_MAX);
}

int sf_pt_resolve_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		       char text[SF_PT_ADDR_TEXT_MAX], char *errbuf, size_t errlen)
{
	struct sf_strbuf err = {0}, retry = {0};
	size_t n = strlen(s), host, host_len, port_at;
	const char *hp = s;
	size_t hp_len = n;
	uint8_t ip[16];
	unsigned port;

	if (errlen > 0)
		errbuf[0] = '\0';
	if (split_host_port(s, n, &host, &host_len, &port_at, &err) < 0) {
		/* tor before #7011 wrote IPv6 without brackets: treat the last ':' as the port
		 * separator and try again with brackets. */
		const char *last = memrchr(s, ':', n);
		const char *first = memchr(s, ':', n);
		if (!last || first == last)
			goto fail;
		sf_strbuf_addc(&retry, '[');
		sf_strbuf_append(&retry, s, (size_t)(last - s));
		sf_strbuf_add(&retry, "]");
		sf_strbuf_add(&retry, last);
		if (retry.failed)
			goto fail;
		sf_strbuf_free(&err);
		hp = retry.data;
		hp_len = retry.len;
		if (split_host_port(hp, hp_len, &host, &host_len, &port_at, &err) < 0)
			goto fail;
	}
	if (host_len == 0) {
		sf_strbuf_add(&err, "address string ");
		sf_pt_str_add_quoted(&err, s, n);
		sf_strbuf_add(&err, " lacks a host part");
		goto fail;
	}
	if (port_at == hp_len) {
		sf_strbuf_add(&err, "address string ");
		sf_pt_str_add_quoted(&err, s, n);
		sf_strbuf_add(&err, " lacks a port part");
		goto fail;
	}
	if (!sf_goip_parse(hp + host, host_len, ip)) {
		sf_strbuf_add(&err, "not an IP string: ");
		sf_pt_str_add_quoted(&err, hp + host, host_len);
		goto fail;
	}
	if (parse_port(hp + port_at, hp_len - port_at, &port, &err) < 0)
		goto fail;

	memset(ss, 0, sizeof *ss);
	if (sf_goip_is_v4(ip)) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, ip + 12, 4);
		*len = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		memcpy(in6->sin6_addr.s6_addr, ip, 16);
		*len = sizeof *in6;
	}
	sf_pt_format_addr((const struct sockaddr *)ss, text);
	sf_strbuf_free(&retry);
	return 0;
fail:
	sf_strbuf_free(&retry);
	sf_err(errbuf, errlen, "%s", err.failed || err.len == 0 ? "out of memory" : err.data);
	sf_strbuf_free(&err);
	return -1;
}
