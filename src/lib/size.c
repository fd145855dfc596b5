/* sf_parse_size (lib/size.h). */
#include "lib/size.h"

#include <stdbool.h>
#include <strings.h>

#include "lib/err.h"

struct unit {
	const char *name;
	unsigned shift;
};

static const struct unit units[] = {
	{ "", 0 },     { "b", 0 },    { "k", 10 },   { "kib", 10 }, { "m", 20 },
	{ "mib", 20 }, { "g", 30 },   { "gib", 30 }, { "t", 40 },   { "tib", 40 },
};

int sf_parse_size(const char *text, uint64_t *out, char *err, size_t errlen)
{
	const char *p = text;
	uint64_t n = 0;
	bool digits = false;
	while (*p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return sf_err(err, errlen, "%s: too large", text);
		n = n * 10 + d;
		digits = true;
		p++;
	}
	if (!digits)
		return sf_err(err, errlen, "\"%s\": not a size (bytes, or a number with KiB, MiB or GiB)", text);
	while (*p == ' ')
		p++;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcasecmp(p, units[i].name) != 0)
			continue;
		if (units[i].shift && n > (UINT64_MAX >> units[i].shift))
			return sf_err(err, errlen, "%s: too large", text);
		*out = n << units[i].shift;
		return 0;
	}
	return sf_err(err, errlen, "\"%s\": unknown unit \"%s\" (B, KiB, MiB, GiB or TiB)", text, p);
}
