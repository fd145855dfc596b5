/* ClientID → client address map (docs/turbotunnel.md "Map and shards"): a fixed ring of (ClientID,
 * address) records
 * plus a hash index of the newest record of each ClientID. Every put overwrites the oldest ring
 * slot, so memory is fixed at creation and old ClientIDs are forgotten first. Upstream uses one
 * map of 98304 records. Single-threaded: one owner thread. */
#ifndef SF_TURBOTUNNEL_CLIENTMAP_H
#define SF_TURBOTUNNEL_CLIENTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SF_TT_CLIENTMAP_CAPACITY 98304	/* upstream's clientIDAddrMapCapacity */
#define SF_TT_ADDR_MAX 48		/* longest address text kept, e.g. "[v6]:1" is ≤ 43 */

struct sf_tt_clientmap;

/* A map remembering the last `capacity` puts (0 remembers nothing). NULL if out of memory or
 * capacity > 2^30. The hash is keyed from getrandom so peers cannot aim for collisions. */
struct sf_tt_clientmap *sf_tt_clientmap_new(size_t capacity);
void sf_tt_clientmap_free(struct sf_tt_clientmap *m);

/* Records addr (NULL or "" = no address) as the newest entry for id, overwriting the oldest
 * slot. Returns 0, or -1 (nothing stored) if addr is longer than SF_TT_ADDR_MAX bytes. */
int sf_tt_clientmap_put(struct sf_tt_clientmap *m, const uint8_t id[8], const char *addr);

/* true if id is remembered; out gets its NUL-terminated address ("" = no address). */
bool sf_tt_clientmap_get(const struct sf_tt_clientmap *m, const uint8_t id[8],
			 char out[SF_TT_ADDR_MAX + 1]);

/* Distinct ClientIDs currently remembered, and the capacity given at creation. */
size_t sf_tt_clientmap_count(const struct sf_tt_clientmap *m);
size_t sf_tt_clientmap_capacity(const struct sf_tt_clientmap *m);

#endif
