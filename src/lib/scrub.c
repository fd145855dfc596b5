#include "lib/log.h"

#include <string.h>

/* Placeholder: copies the text unchanged. Replaced by the real scrubber. */
size_t sf_scrub(const char *text, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return 0;
	if (len > cap - 1)
		len = cap - 1;
	memcpy(out, text, len);
	out[len] = '\0';
	return len;
}
