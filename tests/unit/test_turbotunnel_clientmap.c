/* ClientID → address ring: eviction order at capacity, newest entry wins, empty addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "turbotunnel/clientmap.h"

static void id_of(uint64_t n, uint8_t id[8])
{
	for (int i = 0; i < 8; i++)
		id[i] = (uint8_t)(n >> (8 * i));
}

/* get(n) must give want (NULL = not remembered). */
static void expect(const struct sf_tt_clientmap *m, uint64_t n, const char *want)
{
	uint8_t id[8];
	char out[SF_TT_ADDR_MAX + 1];
	id_of(n, id);
	memset(out, 'x', sizeof out);
	bool found = sf_tt_clientmap_get(m, id, out);
	if (!want) {
		if (found)
			fail_msg("id %llu: expected absent, got \"%s\"", (unsigned long long)n, out);
		assert_string_equal(out, "");
		return;
	}
	if (!found)
		fail_msg("id %llu: expected \"%s\", absent", (unsigned long long)n, want);
	assert_string_equal(out, want);
}

static void put(struct sf_tt_clientmap *m, uint64_t n, const char *addr)
{
	uint8_t id[8];
	id_of(n, id);
	assert_int_equal(sf_tt_clientmap_put(m, id, addr), 0);
}

static void test_zero_capacity(void **state)
{
	(void)state;
	struct sf_tt_clientmap *m = sf_tt_clientmap_new(0);
	assert_non_null(m);
	expect(m, 0, NULL);
	put(m, 0, "1.1.1.1:1");
	put(m, 1234, "1.1.1.1:1");
	expect(m, 0, NULL);
	expect(m, 1234, NULL);
	assert_int_equal(sf_tt_clientmap_count(m), 0);
	sf_tt_clientmap_free(m);
}

static void test_capacity_one(void **state)
{
	(void)state;
	struct sf_tt_clientmap *m = sf_tt_clientmap_new(1);
	assert_non_null(m);
	expect(m, 0, NULL);
	put(m, 0, "1.1.1.1:1");
	expect(m, 0, "1.1.1.1:1");
	expect(m, 1, NULL);
	put(m, 1, "1.1.1.2:1");		/* forgets id 0 */
	expect(m, 0, NULL);
	expect(m, 1, "1.1.1.2:1");
	put(m, 1, "1.1.1.3:1");		/* overwrites its own older entry */
	expect(m, 1, "1.1.1.3:1");
	assert_int_equal(sf_tt_clientmap_count(m), 1);
	sf_tt_clientmap_free(m);
}

static void test_eviction_order_and_newest_wins(void **state)
{
	(void)state;
	struct sf_tt_clientmap *m = sf_tt_clientmap_new(5);
	assert_non_null(m);
	assert_int_equal(sf_tt_clientmap_capacity(m), 5);
	put(m, 0, "1.1.1.1:1");
	put(m, 1, "1.1.1.2:1");
	put(m, 2, "1.1.1.3:1");
	put(m, 0, "1.1.1.4:1");		/* shadows id 0's first entry */
	put(m, 3, "1.1.1.5:1");
	assert_int_equal(sf_tt_clientmap_count(m), 4);
	expect(m, 0, "1.1.1.4:1");
	expect(m, 4, NULL);

	/* Overwrites the slot of id 0's shadowed entry: id 0 keeps its newer one. */
	put(m, 4, "1.1.1.6:1");
	assert_int_equal(sf_tt_clientmap_count(m), 5);
	expect(m, 0, "1.1.1.4:1");
	expect(m, 1, "1.1.1.2:1");
	expect(m, 4, "1.1.1.6:1");

	put(m, 5, "1.1.1.7:1");		/* forgets id 1, the oldest */
	put(m, 0, "1.1.1.8:1");		/* forgets id 2, shadows 1.1.1.4 */
	assert_int_equal(sf_tt_clientmap_count(m), 4);
	expect(m, 0, "1.1.1.8:1");
	expect(m, 1, NULL);
	expect(m, 2, NULL);
	expect(m, 3, "1.1.1.5:1");
	expect(m, 5, "1.1.1.7:1");

	/* Four more puts of id 0: the first reuses id 0's shadowed slot and forgets nobody, the
	 * others push out the rest, oldest first. */
	put(m, 0, "1.1.1.9:1");
	assert_int_equal(sf_tt_clientmap_count(m), 4);
	expect(m, 3, "1.1.1.5:1");
	put(m, 0, "1.1.1.10:1");
	expect(m, 3, NULL);
	expect(m, 4, "1.1.1.6:1");
	put(m, 0, "1.1.1.11:1");
	expect(m, 4, NULL);
	expect(m, 5, "1.1.1.7:1");
	put(m, 0, "1.1.1.12:1");
	assert_int_equal(sf_tt_clientmap_count(m), 1);
	expect(m, 0, "1.1.1.12:1");
	for (uint64_t n = 1; n <= 5; n++)
		expect(m, n, NULL);
	sf_tt_clientmap_free(m);
}

static void test_empty_and_long_addresses(void **state)
{
	(void)state;
	struct sf_tt_clientmap *m = sf_tt_clientmap_new(4);
	assert_non_null(m);
	put(m, 7, "");
	expect(m, 7, "");		/* remembered, with no address */
	put(m, 8, NULL);
	expect(m, 8, "");
	put(m, 7, "[2001:db8::1]:1");
	expect(m, 7, "[2001:db8::1]:1");
	put(m, 7, "");			/* the newest entry wins even when empty */
	expect(m, 7, "");

	char max[SF_TT_ADDR_MAX + 1], over[SF_TT_ADDR_MAX + 2];
	memset(max, 'a', SF_TT_ADDR_MAX);
	max[SF_TT_ADDR_MAX] = '\0';
	put(m, 9, max);
	expect(m, 9, max);

	memset(over, 'b', SF_TT_ADDR_MAX + 1);
	over[SF_TT_ADDR_MAX + 1] = '\0';
	uint8_t id[8];
	id_of(10, id);
	assert_int_equal(sf_tt_clientmap_put(m, id, over), -1);
	expect(m, 10, NULL);
	expect(m, 9, max);		/* a refused put evicts nothing */
	expect(m, 7, "");
	sf_tt_clientmap_free(m);
}

static void test_full_upstream_capacity(void **state)
{
	(void)state;
	const uint64_t cap = SF_TT_CLIENTMAP_CAPACITY;
	struct sf_tt_clientmap *m = sf_tt_clientmap_new(cap);
	assert_non_null(m);
	char addr[SF_TT_ADDR_MAX + 1];
	/* Two and a half rounds of distinct ids: only the last `cap` remain. */
	const uint64_t total = cap * 5 / 2;
	for (uint64_t n = 0; n < total; n++) {
		snprintf(addr, sizeof addr, "10.%u.%u.%u:1", (unsigned)(n >> 16) & 0xff,
			 (unsigned)(n >> 8) & 0xff, (unsigned)n & 0xff);
		/* Spread ids over all bytes, not just the low ones. */
		put(m, n * 0x9e3779b97f4a7c15ull, addr);
	}
	assert_int_equal(sf_tt_clientmap_count(m), cap);
	for (uint64_t n = 0; n < total; n += 997) {
		uint8_t id[8];
		id_of(n * 0x9e3779b97f4a7c15ull, id);
		bool found = sf_tt_clientmap_get(m, id, addr);
		assert_int_equal(found, n >= total - cap);
	}
	expect(m, (total - 1) * 0x9e3779b97f4a7c15ull, "10.3.191.255:1");
	sf_tt_clientmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_capacity),
		cmocka_unit_test(test_capacity_one),
		cmocka_unit_test(test_eviction_order_and_newest_wins),
		cmocka_unit_test(test_empty_and_long_addresses),
		cmocka_unit_test(test_full_upstream_capacity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
