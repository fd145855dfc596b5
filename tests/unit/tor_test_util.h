/* Small helpers shared by the tests of src/tor (header-only: each test is its own program). */
#ifndef SF_TOR_TEST_UTIL_H
#define SF_TOR_TEST_UTIL_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"

/* Decodes hex into out (cap bytes); returns the length, or -1 on bad input. */
static inline long tor_test_unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t len;
	uint8_t *buf = vectors_unhex(hex, &len);
	if (!buf || len > cap) {
		free(buf);
		return -1;
	}
	memcpy(out, buf, len);
	free(buf);
	return (long)len;
}

static inline const char *tor_test_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

#endif
