/* The project's one error convention (docs/architecture.md, "Errors"):
 *  - a function that can fail returns int: 0 on success, -1 on failure; one whose callers must
 *    tell failures apart returns a named enum instead (never a bare -2, -3 ...);
 *  - a function that returns a pointer returns NULL on failure;
 *  - the text of a failure goes into the caller's buffer `char *err, size_t errlen` (always
 *    NUL-ended, truncated to fit; SF_ERR_MAX is enough for every message of ours);
 *  - a long-lived state machine (a parser fed piece by piece) keeps its failure and says it
 *    through sf_<thing>_error(obj).
 * sf_err fills err and returns -1, so a failure path reads `return sf_err(err, errlen, ...)`. */
#ifndef SF_LIB_ERR_H
#define SF_LIB_ERR_H

#include <stddef.h>

#define SF_ERR_MAX 512

__attribute__((format(printf, 3, 4)))
int sf_err(char *err, size_t errlen, const char *fmt, ...);

#endif
