#include "tor/errtext.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void sf_tor_errno_text(int errnum, char *out, size_t cap)
{
	char buf[128];
	const char *s = strerror_r(errnum, buf, sizeof buf); /* GNU variant: thread-safe */
	if (cap == 0)
		return;
	snprintf(out, cap, "%s", s);
	out[0] = (char)tolower((unsigned char)out[0]);
}
