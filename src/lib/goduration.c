/* Go's time.ParseDuration, for --acme-renew-before. */
#include "lib/goduration.h"

#include <stdbool.h>
#include <string.h>

struct unit {
	const char *name;
	double ms;
};

static const struct unit units[] = {
	{ "ns", 1e-6 }, { "us", 1e-3 }, { "\xc2\xb5s", 1e-3 }, { "\xce\xbcs", 1e-3 },
	{ "ms", 1 },    { "s", 1e3 },   { "m", 60e3 },         { "h", 3600e3 },
};

int sf_go_parse_duration(const char *s, uint64_t *ms)
{
	if (!s || !*s)
		return -1;
	if (*s == '+')
		s++;
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	double total = 0;
	while (*s) {
		double value = 0, scale = 1;
		bool digits = false;
		for (; *s >= '0' && *s <= '9'; s++, digits = true)
			value = value * 10 + (*s - '0');
		if (*s == '.')
			for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
				value += (*s - '0') * (scale /= 10);
		if (!digits)
			return -1;
		const struct unit *u = NULL;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t l = strlen(units[i].name);
			/* "ms" before "m": the longest unit name that matches wins */
			if (strncmp(s, units[i].name, l) == 0 && (!u || l > strlen(u->name)))
				u = &units[i];
		}
		if (!u)
			return -1;
		s += strlen(u->name);
		total += value * u->ms;
		if (total > 9.2e15) /* Go's limit: ~2562047 h */
			return -1;
	}
	*ms = (uint64_t)total;
	return 0;
}
