#include "turbotunnel/clientmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NO_SLOT 0	/* links store slot + 1 so that zeroed memory means "none" */

struct cm_entry {
	uint8_t id[8];
	uint32_t next;		/* next slot + 1 in this entry's hash chain */
	uint8_t indexed;	/* this slot is its ClientID's newest entry (the one in the index) */
	uint8_t addr_len;
	char addr[SF_TT_ADDR_MAX];
};

struct sf_tt_clientmap {
	struct cm_entry *ring;
	uint32_t *buckets;	/* slot + 1 of the first entry of each chain */
	uint32_t capacity;
	uint32_t oldest;	/* the slot the next put overwrites */
	uint32_t bucket_mask;
	uint32_t count;
	uint64_t key[2];
};

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND(v0, v1, v2, v3) do { \
	v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
	v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
} while (0)

/* SipHash-2-4 of exactly 8 bytes: ClientIDs are chosen by peers, so the index hash is keyed. */
static uint64_t siphash8(const uint64_t key[2], const uint8_t in[8])
{
	uint64_t m = 0;
	for (int i = 7; i >= 0; i--)
		m = (m << 8) | in[i];
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ull;
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ull;
	uint64_t v3 = key[1] ^ 0x7465646279746573ull;
	uint64_t last = (uint64_t)8 << 56;

	v3 ^= m;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= m;
	v3 ^= last;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

struct sf_tt_clientmap *sf_tt_clientmap_new(size_t capacity)
{
	if (capacity > (1u << 30))
		return NULL;
	struct sf_tt_clientmap *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	uint32_t nbuckets = 1;
	while (nbuckets < capacity)
		nbuckets <<= 1;
	m->capacity = (uint32_t)capacity;
	m->bucket_mask = nbuckets - 1;
	m->ring = calloc(capacity ? capacity : 1, sizeof *m->ring);
	m->buckets = calloc(nbuckets, sizeof *m->buckets);
	if (!m->ring || !m->buckets ||
	    getrandom(m->key, sizeof m->key, 0) != (ssize_t)sizeof m->key) {
		sf_tt_clientmap_free(m);
		return NULL;
	}
	return m;
}

void sf_tt_clientmap_free(struct sf_tt_clientmap *m)
{
	if (!m)
		return;
	free(m->ring);
	free(m->buckets);
	free(m);
}

static uint32_t *bucket_of(const struct sf_tt_clientmap *m, const uint8_t id[8])
{
	return &m->buckets[siphash8(m->key, id) & m->bucket_mask];
}

/* Slot + 1 of id's newest entry, or NO_SLOT. */
static uint32_t lookup(const struct sf_tt_clientmap *m, const uint8_t id[8])
{
	uint32_t link = *bucket_of(m, id);
	while (link != NO_SLOT) {
		const struct cm_entry *e = &m->ring[link - 1];
		if (memcmp(e->id, id, 8) == 0)
			return link;
		link = e->next;
	}
	return NO_SLOT;
}

static void unindex(struct sf_tt_clientmap *m, uint32_t slot)
{
	struct cm_entry *e = &m->ring[slot];
	uint32_t *link = bucket_of(m, e->id);
	while (*link != NO_SLOT && *link != slot + 1)
		link = &m->ring[*link - 1].next;
	if (*link == slot + 1)
		*link = e->next;
	e->next = NO_SLOT;
	e->indexed = 0;
	m->count--;
}

int sf_tt_clientmap_put(struct sf_tt_clientmap *m, const uint8_t id[8], const char *addr)
{
	size_t len = addr ? strnlen(addr, SF_TT_ADDR_MAX + 1) : 0;
	if (len > SF_TT_ADDR_MAX)
		return -1;
	if (m->capacity == 0)
		return 0;

	uint32_t slot = m->oldest;
	struct cm_entry *e = &m->ring[slot];
	if (e->indexed)
		unindex(m, slot);
	/* The older entry of the same ClientID stays in the ring but is shadowed. */
	uint32_t prev = lookup(m, id);
	if (prev != NO_SLOT)
		unindex(m, prev - 1);

	memcpy(e->id, id, 8);
	e->addr_len = (uint8_t)len;
	memcpy(e->addr, addr ? addr : "", len);
	uint32_t *bucket = bucket_of(m, id);
	e->next = *bucket;
	*bucket = slot + 1;
	e->indexed = 1;
	m->count++;
	m->oldest = (slot + 1) % m->capacity;
	return 0;
}

bool sf_tt_clientmap_get(const struct sf_tt_clientmap *m, const uint8_t id[8],
			 char out[SF_TT_ADDR_MAX + 1])
{
	uint32_t link = m->capacity ? lookup(m, id) : NO_SLOT;
	if (link == NO_SLOT) {
		out[0] = '\0';
		return false;
	}
	const struct cm_entry *e = &m->ring[link - 1];
	memcpy(out, e->addr, e->addr_len);
	out[e->addr_len] = '\0';
	return true;
}

size_t sf_tt_clientmap_count(const struct sf_tt_clientmap *m)
{
	return m->count;
}

size_t sf_tt_clientmap_capacity(const struct sf_tt_clientmap *m)
{
	return m->capacity;
}
