#include "turbotunnel/shardmap.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

int sf_tt_shard_key_init(uint8_t key[SF_TT_SHARD_KEY_LEN])
{
	size_t got = 0;
	while (got < SF_TT_SHARD_KEY_LEN) {
		ssize_t n = getrandom(key + got, SF_TT_SHARD_KEY_LEN - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

unsigned sf_tt_shard_of(const uint8_t key[SF_TT_SHARD_KEY_LEN], const uint8_t clientid[8],
			unsigned nshards)
{
	if (nshards <= 1)
		return 0;
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	if (!HMAC(EVP_sha256(), key, SF_TT_SHARD_KEY_LEN, clientid, 8, mac, &maclen) || maclen < 8) {
		/* Cannot happen with a working libcrypto; still a stable answer (upstream's effective
		 * mapping) rather than none. */
		for (int i = 0; i < 8; i++)
			mac[i] = clientid[i];
	}
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | mac[i];
	return (unsigned)(v % nshards);
}

void sf_tt_clientid_hex(const uint8_t clientid[8], char out[SF_TT_CLIENTID_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 8; i++) {
		out[2 * i] = digits[clientid[i] >> 4];
		out[2 * i + 1] = digits[clientid[i] & 0x0f];
	}
	out[SF_TT_CLIENTID_HEX_LEN] = '\0';
}
