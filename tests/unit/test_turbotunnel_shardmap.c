/* ClientID → shard: HMAC-SHA256 formula, stability, spread over 4 shards, the key matters; and
 * the ClientID hex form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "turbotunnel/shardmap.h"

#define IDS 10000

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static void random_id(uint8_t id[8])
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	for (int i = 0; i < 8; i++)
		id[i] = (uint8_t)(rng_state >> (8 * i));
}

static void fixed_key(uint8_t key[SF_TT_SHARD_KEY_LEN])
{
	for (int i = 0; i < SF_TT_SHARD_KEY_LEN; i++)
		key[i] = (uint8_t)i;
}

static void test_known_answers(void **state)
{
	(void)state;
	/* LE_uint64(HMAC-SHA256(00..1f, id)[0:8]), computed with Python's hmac module:
	 * 0102030405060708 → 0x8817bdb43f63a95e, 00*8 → 0x49fe9740b9d90c9f,
	 * ff*8 → 0xc3e266ae3e79e151. */
	static const struct {
		uint8_t id[8];
		unsigned mod3, mod4, mod7;
	} rows[] = {
		{ { 1, 2, 3, 4, 5, 6, 7, 8 }, 2, 2, 1 },
		{ { 0, 0, 0, 0, 0, 0, 0, 0 }, 2, 3, 5 },
		{ { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 1, 1, 6 },
	};
	uint8_t key[SF_TT_SHARD_KEY_LEN];
	fixed_key(key);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		assert_int_equal(sf_tt_shard_of(key, rows[i].id, 3), rows[i].mod3);
		assert_int_equal(sf_tt_shard_of(key, rows[i].id, 4), rows[i].mod4);
		assert_int_equal(sf_tt_shard_of(key, rows[i].id, 7), rows[i].mod7);
		assert_int_equal(sf_tt_shard_of(key, rows[i].id, 1), 0);
		assert_int_equal(sf_tt_shard_of(key, rows[i].id, 0), 0);
	}
}

static void test_stable_and_uniform(void **state)
{
	(void)state;
	uint8_t key[SF_TT_SHARD_KEY_LEN];
	assert_int_equal(sf_tt_shard_key_init(key), 0);
	unsigned count[4] = { 0 };
	for (int i = 0; i < IDS; i++) {
		uint8_t id[8];
		random_id(id);
		unsigned s = sf_tt_shard_of(key, id, 4);
		assert_true(s < 4);
		assert_int_equal(sf_tt_shard_of(key, id, 4), s);	/* same answer every time */
		count[s]++;
	}
	/* 2500 expected per shard, sigma ~43: a 300 margin only fails for a broken hash. */
	for (int s = 0; s < 4; s++) {
		assert_true(count[s] > 2200);
		assert_true(count[s] < 2800);
	}

	/* Sequential ids (e.g. crafted by peers) spread too. */
	memset(count, 0, sizeof count);
	for (int i = 0; i < IDS; i++) {
		uint8_t id[8] = { 0 };
		id[0] = (uint8_t)(i * 4);	/* all ≡ 0 mod 4 under upstream's effective mapping */
		id[1] = (uint8_t)(i >> 6);
		count[sf_tt_shard_of(key, id, 4)]++;
	}
	for (int s = 0; s < 4; s++)
		assert_true(count[s] > 2200 && count[s] < 2800);
}

static void test_key_matters(void **state)
{
	(void)state;
	uint8_t k1[SF_TT_SHARD_KEY_LEN], k2[SF_TT_SHARD_KEY_LEN];
	assert_int_equal(sf_tt_shard_key_init(k1), 0);
	assert_int_equal(sf_tt_shard_key_init(k2), 0);
	assert_memory_not_equal(k1, k2, SF_TT_SHARD_KEY_LEN);

	int differ = 0;
	for (int i = 0; i < IDS; i++) {
		uint8_t id[8];
		random_id(id);
		differ += sf_tt_shard_of(k1, id, 4) != sf_tt_shard_of(k2, id, 4);
	}
	/* Independent keys disagree on ~3/4 of the ids. */
	assert_true(differ > IDS / 2);

	/* One flipped key bit is enough to change the answers. */
	memcpy(k2, k1, sizeof k1);
	k2[31] ^= 1;
	differ = 0;
	for (int i = 0; i < IDS; i++) {
		uint8_t id[8];
		random_id(id);
		differ += sf_tt_shard_of(k1, id, 4) != sf_tt_shard_of(k2, id, 4);
	}
	assert_true(differ > IDS / 2);
}

static void test_clientid_hex(void **state)
{
	(void)state;
	char out[SF_TT_CLIENTID_HEX_LEN + 1];
	static const uint8_t a[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t b[8] = { 0x00, 0xab, 0xcd, 0xef, 0x10, 0x9a, 0xff, 0x0f };
	sf_tt_clientid_hex(a, out);
	assert_string_equal(out, "0102030405060708");
	sf_tt_clientid_hex(b, out);
	assert_string_equal(out, "00abcdef109aff0f");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_stable_and_uniform),
		cmocka_unit_test(test_key_matters),
		cmocka_unit_test(test_clientid_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
