/* The Go-produced vectors of tests/vectors, for the unit tests: loading and hex decoding.
 * Header-only (every test is its own program); the layer helpers build on it. */
#ifndef SF_TEST_VECTORS_H
#define SF_TEST_VECTORS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"

/* <dir>/name as JSON, where <dir> is $SF_VECTORS_DIR if set (tests/vectors/check.sh points the
 * tests at freshly generated files that way) and else the compiled-in SF_VECTORS_DIR; NULL (with
 * the reason on stderr) if it cannot be read. */
static inline json_t *vectors_load(const char *name)
{
	char path[1024];
	json_error_t jerr;
	const char *dir = getenv("SF_VECTORS_DIR");
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : SF_VECTORS_DIR, name);
	json_t *root = json_load_file(path, 0, &jerr);
	if (!root)
		fprintf(stderr, "cannot load %s: %s (line %d)\n", path, jerr.text, jerr.line);
	return root;
}

/* Decodes hex into a new buffer (never NULL for valid input, even when empty); *len gets its
 * size. NULL on an odd length or a non-hex digit. */
static inline uint8_t *vectors_unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	*len = 0;
	if (n % 2)
		return NULL;
	uint8_t *out = malloc(n / 2 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = sf_hex_digit(hex[2 * i]), lo = sf_hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return out;
}

#endif
