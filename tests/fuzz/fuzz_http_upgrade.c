/* The WebSocket upgrade request as a client sends it, split at fuzzed points, then the ClientIP
 * the server turns into the ExtORPort USERADDR (src/http/upgrade.c, src/tor/useraddr.c).
 * Input: one byte giving the segment size (1..64), then the request bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http/upgrade.h"
#include "tor/useraddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte, so that ASan sees an out-of-bounds length. */
static unsigned sum(const uint8_t *p, size_t n)
{
	unsigned s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t seg = (size_t)(data[0] % 64) + 1;
	data++;
	size--;
	struct sf_http_upgrade *u = sf_http_upgrade_new();
	if (!u)
		return 0;
	enum sf_http_upgrade_status st = SF_HTTP_UPGRADE_MORE;
	size_t off = 0;
	while (off < size) {
		size_t n = size - off < seg ? size - off : seg;
		size_t consumed = 0;
		st = sf_http_upgrade_feed(u, data + off, n, &consumed);
		if (consumed > n)
			__builtin_trap();
		if (st != SF_HTTP_UPGRADE_MORE)
			break;
		off += n;
	}
	size_t len = 0;
	const uint8_t *resp = sf_http_upgrade_response(u, &len);
	if (resp)
		(void)sum(resp, len);
	const char *err = sf_http_upgrade_error(u);
	if (err)
		(void)strlen(err);
	if (st == SF_HTTP_UPGRADE_ACCEPT) {
		size_t ip_len = 0;
		const char *ip = sf_http_upgrade_client_ip(u, &ip_len);
		if (ip) {
			(void)sum((const uint8_t *)ip, ip_len + 1);
			char addr[SF_TOR_USERADDR_MAX];
			if (sf_tor_useraddr_from_client_ip(ip, addr, sizeof addr) &&
			    strlen(addr) >= sizeof addr)
				__builtin_trap();
		}
	}
	sf_http_upgrade_free(u);
	return 0;
}
