/* Sizes as an operator writes them on the command line: "67108864", "64MiB", "1 GiB". */
#ifndef SF_LIB_SIZE_H
#define SF_LIB_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Parses a byte count: decimal digits, then optionally spaces and one of the binary suffixes
 * B, KiB, MiB, GiB, TiB (case-insensitive; K, M, G, T alone are accepted as the same powers of
 * 1024). Returns 0 with *out set, or -1 with the reason in err (empty, not a number, an unknown
 * suffix, or more than 2^64 - 1 bytes). */
int sf_parse_size(const char *text, uint64_t *out, char *err, size_t errlen);

#endif
