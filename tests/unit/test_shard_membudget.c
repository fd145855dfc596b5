/* The memory budget's policy (shard/membudget.h): the marks of a slice, the count, who may come
 * in, and whom the eviction closes — attacker first: hoarders that stall are closed biggest
 * first, a client that makes progress never is, and eviction stops once under the refusal mark. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "shard/membudget.h"

#define MiB (1024ull * 1024)

static void test_slice_marks(void **state)
{
	(void)state;
	struct sf_mem_slice s;
	sf_mem_slice_init(&s, 100 * MiB);
	assert_int_equal(s.limit, 100 * MiB);
	assert_int_equal(s.refuse_at, 75 * MiB);
	assert_int_equal(s.evict_at, 90 * MiB);
	assert_int_equal(s.client_share, 100 * MiB / SF_MEM_SHARE_DIVISOR);
	sf_mem_slice_init(&s, 4096 * MiB);
	assert_int_equal(s.client_share, SF_MEM_SHARE_MAX);
}

static void test_used_adds_every_part(void **state)
{
	(void)state;
	struct sf_mem_usage u = { .link_output = 1000, .to_tor = 2000, .links = 3, .clients = 4,
				  .sessions = 5, .streams = 6 };
	uint64_t link_cost = SF_MEM_LINK_COST + SF_MEM_TLS_COST;
	uint64_t want = 1000 + 2000 + 7000 + 8000 + 3 * link_cost + 4 * SF_MEM_CLIENT_COST +
			5 * SF_MEM_SESSION_COST + 6 * SF_MEM_STREAM_COST;
	assert_int_equal(sf_mem_used(&u, 7000, 8000, link_cost), want);
	struct sf_mem_usage none = { 0 };
	assert_int_equal(sf_mem_used(&none, 0, 0, link_cost), 0);
}

/* New ClientIDs stop at the refusal mark, not before. */
static void test_admission(void **state)
{
	(void)state;
	struct sf_mem_slice s;
	sf_mem_slice_init(&s, 100 * MiB);
	assert_true(sf_mem_admit_new_client(&s, 0));
	assert_true(sf_mem_admit_new_client(&s, s.refuse_at - 1));
	assert_false(sf_mem_admit_new_client(&s, s.refuse_at));
	assert_false(sf_mem_admit_new_client(&s, s.limit * 2));
}

/* Below the eviction mark nobody is closed, whatever they hold. */
static void test_no_eviction_below_mark(void **state)
{
	(void)state;
	struct sf_mem_slice s;
	sf_mem_slice_init(&s, 100 * MiB);
	struct sf_mem_candidate v[] = { { (void *)1, 50 * MiB, 60000 } };
	assert_int_equal(sf_mem_plan_evictions(&s, s.evict_at - 1, v, 1), 0);
}

/* Over the mark: the stalled hoarders go, the biggest first, until under the refusal mark; the
 * client that makes progress (an innocent bulk transfer holding more than anyone) stays, and so
 * does a stalled one that holds little once the others are gone. */
static void test_evicts_biggest_stalled_first(void **state)
{
	(void)state;
	struct sf_mem_slice s;
	sf_mem_slice_init(&s, 100 * MiB);
	int innocent, small, mid, big, fresh;
	struct sf_mem_candidate v[] = {
		{ &small, 1 * MiB, 10000 },
		{ &innocent, 30 * MiB, 100 },		/* progress 100 ms ago */
		{ &mid, 8 * MiB, 5000 },
		{ &big, 12 * MiB, SF_MEM_STALL_MS },
		{ &fresh, 20 * MiB, SF_MEM_STALL_MS - 1 },	/* not stalled long enough yet */
	};
	/* 95 MiB: closing big (12) leaves 83, mid (8) leaves 75 = the mark, small (1) 74. */
	size_t k = sf_mem_plan_evictions(&s, 95 * MiB, v, 5);
	assert_int_equal(k, 3);
	assert_ptr_equal(v[0].client, &big);
	assert_ptr_equal(v[1].client, &mid);
	assert_ptr_equal(v[2].client, &small);
	/* 92 MiB: big and mid are enough (72 < 75); small stays. */
	struct sf_mem_candidate w[] = {
		{ &small, 1 * MiB, 10000 },
		{ &innocent, 30 * MiB, 0 },
		{ &mid, 8 * MiB, 5000 },
		{ &big, 12 * MiB, 3000 },
	};
	k = sf_mem_plan_evictions(&s, 92 * MiB, w, 4);
	assert_int_equal(k, 2);
	assert_ptr_equal(w[0].client, &big);
	assert_ptr_equal(w[1].client, &mid);
}

/* When every stalled client together is not enough, all of them go (and no one else). */
static void test_evicts_all_stalled_when_short(void **state)
{
	(void)state;
	struct sf_mem_slice s;
	sf_mem_slice_init(&s, 100 * MiB);
	int a, b, busy;
	struct sf_mem_candidate v[] = {
		{ &a, 2 * MiB, 9000 }, { &busy, 80 * MiB, 0 }, { &b, 3 * MiB, 9000 },
		{ NULL, 0, 99999 },	/* stalled but holding nothing: nothing to gain */
	};
	assert_int_equal(sf_mem_plan_evictions(&s, 99 * MiB, v, 4), 2);
	assert_ptr_equal(v[0].client, &b);
	assert_ptr_equal(v[1].client, &a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slice_marks),
		cmocka_unit_test(test_used_adds_every_part),
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_no_eviction_below_mark),
		cmocka_unit_test(test_evicts_biggest_stalled_first),
		cmocka_unit_test(test_evicts_all_stalled_when_short),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
