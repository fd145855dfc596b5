/* Host names as autocert's HostWhitelist sees them after idna.Lookup.ToASCII, for ASCII input:
 * lowercased, STD3 characters only, no hyphen at either end of a label. */
#include "acme/manager.h"

#include <string.h>

int sf_acme_hostname_normalize(const char *in, char *out, size_t cap)
{
	size_t n = in ? strlen(in) : 0;
	if (n && in[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || n + 1 > cap)
		return -1;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (label == 0 || out[i - 1] == '-')
				return -1;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			if ((c == '-' && label == 0) || ++label > 63)
				return -1;
		} else {
			return -1;
		}
		out[i] = c;
	}
	if (out[n - 1] == '-')
		return -1;
	out[n] = '\0';
	return 0;
}
