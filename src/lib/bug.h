/* Checked invariants, after tor's util_bug.h.
 *
 * The contracts between modules (which thread owns an object, which calls a callback may make,
 * a packet given back exactly once) are stated in the headers; these macros check them where a
 * breach would otherwise corrupt memory silently.
 *
 *   if (SF_BUG(x->in_callback))   // the contract was broken
 *           return -1;            // ... take the way out that keeps the process sound
 *
 * SF_BUG(cond) is cond, evaluated once. When it is true the breach is reported: in debug and
 * sanitizer builds (SF_BUG_FATAL) the process aborts on the spot, so a test that breaks a contract
 * fails at the line that broke it; in release builds a "BUG:" line is logged (the first 16 times,
 * then every 1024th, so a breach in a hot path cannot flood the log) and the caller recovers: one
 * client's connection is lost instead of the bridge's ~50 000.
 *
 * SF_ASSERT(cond) is for the few places with no way out: it aborts in every build. */
#ifndef SF_LIB_BUG_H
#define SF_LIB_BUG_H

#include <stdbool.h>

#define SF_BUG(cond) ((cond) ? sf_bug_hit(__FILE__, __LINE__, __func__, #cond) : false)

#define SF_ASSERT(cond)                                                                 \
	do {                                                                            \
		if (!(cond))                                                            \
			sf_bug_fatal(__FILE__, __LINE__, __func__, #cond);              \
	} while (0)

/* Reports a breach; returns true (release) or does not return (fatal mode). */
bool sf_bug_hit(const char *file, int line, const char *func, const char *expr);

/* Logs the breach and aborts. */
_Noreturn void sf_bug_fatal(const char *file, int line, const char *func, const char *expr);

/* Whether SF_BUG aborts; the default comes from the build (SF_BUG_FATAL). Tests switch it. */
void sf_bug_set_fatal(bool fatal);

/* Breaches reported since start. */
unsigned long sf_bug_count(void);

#endif
