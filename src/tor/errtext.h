/* Error texts worded as Go's, so the server's log lines read like the reference's. */
#ifndef SF_TOR_ERRTEXT_H
#define SF_TOR_ERRTEXT_H

#include <stddef.h>

/* Go's syscall.Errno text: strerror with a lowercase first letter ("connection refused"). */
void sf_tor_errno_text(int errnum, char *out, size_t cap);

#endif
