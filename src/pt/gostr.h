/* Internal to src/pt: the few Go formatting rules the PT messages
 * depend on (strconv.Quote, i.e. "%q", and strconv's NumError texts). */
#ifndef SF_PT_GOSTR_H
#define SF_PT_GOSTR_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/strbuf.h"

/* Appends s[0..n) as Go's strconv.Quote (and so fmt's %q) writes it. */
void sf_pt_str_add_quoted(struct sf_strbuf *sb, const char *s, size_t n);

/* Size of an err buffer (lib/err.h) that holds any of this layer's Go error texts quoting n
 * bytes of input whole, as Go does however long the input: %q writes at most 4 bytes per input
 * byte ("\xNN"), plus the fixed words. 0 when n is absurd (the caller reports out of memory). */
static inline size_t sf_pt_err_room(size_t n)
{
	return n < ((size_t)-1 - 256) / 4 ? 4 * n + 256 : 0;
}

/* Makes room for element n of an array that holds n elements of size bytes: arrays grow to the
 * next power of two, so no capacity field is needed. Returns the (maybe moved) array, or NULL
 * (the old one is untouched) when out of memory. */
void *sf_pt_grow(void *array, size_t n, size_t size);

/* strdup of s[0..n). */
char *sf_pt_strndup(const char *s, size_t n);

#endif
