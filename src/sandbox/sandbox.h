/* Sandbox layer: dropping root for an unprivileged user and the seccomp-bpf allow-list of the
 * system calls the server makes in steady state (docs/security.md "Sandbox"). The public entry
 * points are in include/snowflake/server.h; this header adds what the unit tests look at. */
#ifndef SF_SANDBOX_SANDBOX_H
#define SF_SANDBOX_SANDBOX_H

#include <stddef.h>

#include "snowflake/server.h"

/* The allow-list, by name (resolved for the running architecture; a name the architecture does
 * not have is skipped), and the calls refused by name whatever the default action is. */
extern const char *const sf_sandbox_allowed[];
extern const size_t sf_sandbox_n_allowed;
extern const char *const sf_sandbox_refused[];
extern const size_t sf_sandbox_n_refused;

/* Builds and loads the filter on every thread of the process (TSYNC), sanitizer build or not:
 * sf_sandbox_seccomp() is this plus the refusal in sanitizer builds. 0, or -1 with err. */
int sf_sandbox_seccomp_load(char *err, size_t errlen);

#endif
