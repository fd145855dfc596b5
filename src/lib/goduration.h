/* Go's time.ParseDuration ("720h", "1h30m", "1.5s", ...), as the flag package reads durations. */
#ifndef SF_LIB_GODURATION_H
#define SF_LIB_GODURATION_H

#include <stdint.h>

/* Parses s into whole milliseconds (rounded down). 0, or -1 when Go would refuse it (or it is
 * negative, or does not fit). */
int sf_go_parse_duration(const char *s, uint64_t *ms);

#endif
