/* The memory budget's default (half of MemTotal, or of a lower cgroup limit; a floor) and its
 * split between the front and the shards (server/membudget.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/membudget.h"

#define MiB (1024ull * 1024)

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/sf_membudget_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_default(void **state)
{
	(void)state;
	char *meminfo = write_tmp("MemFree:  100 kB\nMemTotal:       8388608 kB\nCached: 1 kB\n");
	char *v2 = write_tmp("1073741824\n");
	char *unlimited = write_tmp("max\n");
	char *v1_huge = write_tmp("9223372036854771712\n");
	const char *none[] = { NULL };
	const char *lower[] = { "/nonexistent/memory.max", v2, NULL };
	const char *nolimit[] = { unlimited, v1_huge, NULL };
	assert_int_equal(sf_server_memory_default_from(meminfo, none), 4096 * MiB);
	assert_int_equal(sf_server_memory_default_from(meminfo, lower), 512 * MiB);
	assert_int_equal(sf_server_memory_default_from(meminfo, nolimit), 4096 * MiB);
	/* Nothing readable: the floor. */
	assert_int_equal(sf_server_memory_default_from("/nonexistent", none), SF_SERVER_MEMORY_MIN);
	unlink(meminfo);
	unlink(v2);
	unlink(unlimited);
	unlink(v1_huge);
	free(meminfo);
	free(v2);
	free(unlimited);
	free(v1_huge);
}

static void test_split(void **state)
{
	(void)state;
	struct sf_server_memory_split m;
	sf_server_memory_split(64 * MiB, 2, false, 0, &m);
	assert_int_equal(m.front, 16 * MiB);
	assert_int_equal(m.max_handshakes, 16 * MiB / SF_FRONT_CONN_COST);
	assert_int_equal(m.uncounted, 8 * MiB);
	assert_int_equal(m.shard_slice, 20 * MiB); /* (64 - 16 - 8) / 2 */
	sf_server_memory_split(64 * MiB, 2, true, 0, &m);
	assert_int_equal(m.max_handshakes, 16 * MiB / SF_FRONT_TLS_CONN_COST);
	/* A big budget keeps the default cap; an embedder's own cap wins. */
	sf_server_memory_split(64ull << 30, 4, true, 0, &m);
	assert_int_equal(m.max_handshakes, SF_MAX_HANDSHAKES_DEFAULT);
	sf_server_memory_split(64 * MiB, 4, true, 4, &m);
	assert_int_equal(m.max_handshakes, 4);
	/* Below the floor: raised to it, and a few handshakes always fit. */
	sf_server_memory_split(1, 1, true, 0, &m);
	assert_int_equal(m.budget, SF_SERVER_MEMORY_MIN);
	assert_true(m.max_handshakes >= SF_FRONT_MIN_HANDSHAKES);
	assert_int_equal(m.front + m.uncounted + m.shard_slice, SF_SERVER_MEMORY_MIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
