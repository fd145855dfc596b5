/* Small helpers shared by the tests of src/tor (header-only: each test is its own program). */
#ifndef SF_TOR_TEST_UTIL_H
#define SF_TOR_TEST_UTIL_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline json_t *tor_test_load_vectors(const char *name)
{
	char path[1024];
	json_error_t jerr;
	snprintf(path, sizeof path, "%s/%s", SF_VECTORS_DIR, name);
	json_t *root = json_load_file(path, 0, &jerr);
	if (!root)
		fprintf(stderr, "cannot load %s: %s (line %d)\n", path, jerr.text, jerr.line);
	return root;
}

static inline int tor_test_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex into out (cap bytes); returns the length, or -1 on bad input. */
static inline long tor_test_unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t len = strlen(hex);
	if (len % 2 || len / 2 > cap)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = tor_test_hexval(hex[2 * i]), lo = tor_test_hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(len / 2);
}

static inline const char *tor_test_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

#endif
