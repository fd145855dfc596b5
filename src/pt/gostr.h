/* Internal to src/pt: the few Go formatting rules the PT messages
 * depend on (strconv.Quote, i.e. "%q", and strconv's NumError texts). */
#ifndef SF_PT_GOSTR_H
#define SF_PT_GOSTR_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/strbuf.h"

/* Appends s[0..n) as Go's strconv.Quote (and so fmt's %q) writes it. */
void sf_pt_str_add_quoted(struct sf_strbuf *sb, const char *s, size_t n);

/* Makes room for element n of an array that holds n elements of size bytes: arrays grow to the
 * next power of two, so no capacity field is needed. Returns the (maybe moved) array, or NULL
 * (the old one is untouched) when out of memory. */
void *sf_pt_grow(void *array, size_t n, size_t size);

/* strdup of s[0..n). */
char *sf_pt_strndup(const char *s, size_t n);

#endif
