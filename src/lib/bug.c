#include "lib/bug.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "lib/log.h"

#ifndef SF_BUG_FATAL
#define SF_BUG_FATAL 0
#endif

static atomic_bool fatal_mode = SF_BUG_FATAL;
static atomic_ulong hits;

void sf_bug_set_fatal(bool fatal)
{
	atomic_store(&fatal_mode, fatal);
}

unsigned long sf_bug_count(void)
{
	return atomic_load(&hits);
}

_Noreturn void sf_bug_fatal(const char *file, int line, const char *func, const char *expr)
{
	sf_logf("BUG: %s:%d (%s): invariant broken: %s; aborting", file, line, func, expr);
	abort();
}

bool sf_bug_hit(const char *file, int line, const char *func, const char *expr)
{
	unsigned long n = atomic_fetch_add(&hits, 1) + 1;
	if (atomic_load(&fatal_mode))
		sf_bug_fatal(file, line, func, expr);
	/* A breach on a per-packet path repeats: the first ones say where, the rest only that it
	 * goes on. */
	if (n <= 16 || n % 1024 == 0)
		sf_logf("BUG: %s:%d (%s): invariant broken: %s (%lu so far); carrying on", file, line,
			func, expr, n);
	return true;
}
