/* rcv_buf: the out-of-order received segments of a session, in a hash table on sn.
 *
 * kcp-go keeps them in a slice sorted by sn (linear insert); a ring indexed by sn gives O(1) but
 * costs a slot for every sn between rcv_nxt and the farthest one held, so one 24-byte PUSH at
 * rcv_nxt + 65534 cost 512 KiB. Here the table is sized to the number of segments held: 2 to 8
 * pointers each, and lookups stay O(1) expected because the home slot comes from a random
 * per-session multiplier the peer cannot see (multiply-shift hashing). In-order traffic never
 * touches the table (sf_kcp_input hands sn == rcv_nxt straight to rcv_queue). */
#include "kcp/kcp_int.h"

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

/* splitmix64 over a seed drawn once per thread: cheap, and unpredictable to a peer. */
static _Thread_local uint64_t mult_state;

static uint64_t draw_multiplier(void)
{
	if (!mult_state) {
		if (getrandom(&mult_state, sizeof mult_state, GRND_NONBLOCK) != sizeof mult_state)
			mult_state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&mult_state;
		mult_state |= 1;
	}
	uint64_t z = (mult_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (z ^ (z >> 31)) | 1;
}

static uint32_t home(const struct kcp_oo *o, uint32_t sn)
{
	return (uint32_t)(((uint64_t)sn * o->mult) >> o->shift);
}

static void table_bytes_add(struct sf_kcp *k, uint64_t n)
{
	kcp_mem_add(k, n);
	k->rx_bytes += n;
	k->oo_bytes += n;
}

static void table_bytes_sub(struct sf_kcp *k, uint64_t n)
{
	kcp_mem_sub(k, n);
	k->rx_bytes -= n;
	k->oo_bytes -= n;
}

static void place(struct kcp_oo *o, struct kcp_seg *s)
{
	uint32_t mask = o->cap - 1, i = home(o, s->sn);
	while (o->slot[i])
		i = (i + 1) & mask;
	o->slot[i] = s;
}

/* Rebuilds the table with cap slots (a power of two >= KCP_OO_MIN). -1 on allocation failure,
 * the old table left as it was. */
static int resize(struct sf_kcp *k, uint32_t cap)
{
	struct kcp_oo *o = &k->rcv_buf;
	struct kcp_seg **slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -1;
	struct kcp_oo n = { .slot = slot, .mult = o->mult, .cap = cap, .count = o->count };
	n.shift = 64;
	for (uint32_t c = cap; c > 1; c >>= 1)
		n.shift--;
	for (uint32_t i = 0; i < o->cap; i++)
		if (o->slot[i])
			place(&n, o->slot[i]);
	free(o->slot);
	table_bytes_sub(k, (uint64_t)o->cap * sizeof *slot);
	table_bytes_add(k, (uint64_t)cap * sizeof *slot);
	*o = n;
	return 0;
}

static uint32_t find(const struct kcp_oo *o, uint32_t sn, bool *found)
{
	uint32_t mask = o->cap - 1, i = home(o, sn);
	while (o->slot[i]) {
		if (o->slot[i]->sn == sn) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*found = false;
	return i;
}

struct kcp_seg *kcp_oo_get(const struct kcp_oo *o, uint32_t sn)
{
	if (!o->count)
		return NULL;
	bool found;
	uint32_t i = find(o, sn, &found);
	return found ? o->slot[i] : NULL;
}

int kcp_oo_put(struct sf_kcp *k, struct kcp_seg *s)
{
	struct kcp_oo *o = &k->rcv_buf;
	if (!o->mult)
		o->mult = draw_multiplier();
	if ((o->count + 1) * 2 > o->cap && resize(k, o->cap ? o->cap * 2 : KCP_OO_MIN) < 0)
		return -1;
	place(o, s);
	o->count++;
	k->oo_bytes += kcp_seg_size(s);
	return 0;
}

/* Backward-shift deletion: later members of the probe run move up into the hole when their
 * home slot allows, so no tombstones are needed. */
static void remove_at(struct kcp_oo *o, uint32_t i)
{
	uint32_t mask = o->cap - 1, j = i;
	for (;;) {
		j = (j + 1) & mask;
		struct kcp_seg *s = o->slot[j];
		if (!s)
			break;
		uint32_t h = home(o, s->sn);
		if (((j - h) & mask) >= ((j - i) & mask)) {
			o->slot[i] = s;
			i = j;
		}
	}
	o->slot[i] = NULL;
}

struct kcp_seg *kcp_oo_take(struct sf_kcp *k, uint32_t sn)
{
	struct kcp_oo *o = &k->rcv_buf;
	if (!o->count)
		return NULL;
	bool found;
	uint32_t i = find(o, sn, &found);
	if (!found)
		return NULL;
	struct kcp_seg *s = o->slot[i];
	remove_at(o, i);
	o->count--;
	k->oo_bytes -= kcp_seg_size(s);
	if (o->count == 0) {
		free(o->slot);
		table_bytes_sub(k, (uint64_t)o->cap * sizeof *o->slot);
		o->slot = NULL;
		o->cap = 0;
	} else if (o->cap > KCP_OO_MIN && o->count * 8 < o->cap) {
		(void)resize(k, o->cap / 2); /* on failure the bigger table just stays */
	}
	return s;
}

void kcp_oo_free(struct sf_kcp *k)
{
	struct kcp_oo *o = &k->rcv_buf;
	for (uint32_t i = 0; i < o->cap; i++)
		if (o->slot[i])
			kcp_seg_free(k, o->slot[i]);
	free(o->slot);
	table_bytes_sub(k, (uint64_t)o->cap * sizeof *o->slot);
	o->slot = NULL;
	o->cap = 0;
	o->count = 0;
}
