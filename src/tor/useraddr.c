#include "tor/useraddr.h"

#include "lib/goip.h"

#include <stdint.h>
#include <string.h>

bool sf_tor_useraddr_from_client_ip(const char *client_ip, char *out, size_t outlen)
{
	uint8_t ip[16];

	if (outlen > 0)
		out[0] = '\0';
	if (!client_ip || !sf_goip_parse(client_ip, strlen(client_ip), ip))
		return false;
	if (sf_goip_is_unspecified(ip))
		return false;
	return sf_goip_format_hostport(ip, 1, out, outlen) > 0;
}
