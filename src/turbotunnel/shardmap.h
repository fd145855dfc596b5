/* Which shard (KCP listener + its queues) serves a ClientID (docs/turbotunnel.md "Map and
 * shards"), and the text
 * form of a ClientID. Upstream means shard = LE_uint64(HMAC-SHA256(key, ClientID)[0:8]) mod n
 * (its code actually reduces to LE_uint64(ClientID) mod n); any stable mapping is
 * wire-compatible, and the keyed one keeps peers from piling onto one shard. */
#ifndef SF_TURBOTUNNEL_SHARDMAP_H
#define SF_TURBOTUNNEL_SHARDMAP_H

#include <stdint.h>

#define SF_TT_SHARD_KEY_LEN 32
#define SF_TT_CLIENTID_HEX_LEN 16

/* Fills key from getrandom. Returns 0, or -1 (errno set) if no randomness was available. */
int sf_tt_shard_key_init(uint8_t key[SF_TT_SHARD_KEY_LEN]);

/* The shard in [0, nshards) for clientid; 0 when nshards <= 1. Stable for a given key. */
unsigned sf_tt_shard_of(const uint8_t key[SF_TT_SHARD_KEY_LEN], const uint8_t clientid[8],
			unsigned nshards);

/* 16 lowercase hex digits + NUL, as Go's ClientID.String() (the KCP "address"). */
void sf_tt_clientid_hex(const uint8_t clientid[8], char out[SF_TT_CLIENTID_HEX_LEN + 1]);

#endif
