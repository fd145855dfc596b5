#include "lib/hostname.h"

#include "lib/err.h"

#include <string.h>

static const char bad_char[] = "server name contains invalid character";

static bool is_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

int sf_hostname_normalize(const char *in, char *out, size_t cap, bool require_dot, char *err,
			  size_t errlen)
{
	size_t len = in ? strlen(in) : 0;
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > SF_HOSTNAME_MAX || len + 1 > cap)
		return sf_err(err, errlen, "%s", bad_char);
	size_t labels = 0, label_len = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? in[i] : '\0';
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.' || c == '\0') {
			/* out[i - 1] is written: an empty label (i == 0) is refused first */
			if (label_len == 0 || label_len > 63 || out[i - 1] == '-')
				return sf_err(err, errlen, "%s", bad_char);
			labels++;
			label_len = 0;
		} else if (!is_label_char(c) || (label_len == 0 && c == '-')) {
			return sf_err(err, errlen, "%s", bad_char);
		} else {
			label_len++;
		}
		out[i] = c;
	}
	if (require_dot && labels < 2)
		return sf_err(err, errlen, "server name component count invalid");
	return 0;
}
