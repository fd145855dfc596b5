/* Internal to src/pt: a growable string and the few Go formatting rules the PT messages
 * depend on (strconv.Quote, i.e. "%q", and strconv's NumError texts). */
#ifndef SF_PT_GOSTR_H
#define SF_PT_GOSTR_H

#include <stdbool.h>
#include <stddef.h>

/* Grows on demand; after an allocation failure every append is a no-op and oom stays set. */
struct sf_pt_str {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

void sf_pt_str_free(struct sf_pt_str *sb);
void sf_pt_str_addn(struct sf_pt_str *sb, const char *s, size_t n);
void sf_pt_str_add(struct sf_pt_str *sb, const char *s);
void sf_pt_str_addc(struct sf_pt_str *sb, char c);

/* Appends s[0..n) as Go's strconv.Quote (and so fmt's %q) writes it. */
void sf_pt_str_add_quoted(struct sf_pt_str *sb, const char *s, size_t n);

/* Hands the NUL-terminated buffer to the caller (never NULL unless out of memory); sb is reset. */
char *sf_pt_str_take(struct sf_pt_str *sb);

/* Makes room for element n of an array that holds n elements of size bytes: arrays grow to the
 * next power of two, so no capacity field is needed. Returns the (maybe moved) array, or NULL
 * (the old one is untouched) when out of memory. */
void *sf_pt_grow(void *array, size_t n, size_t size);

/* strdup of s[0..n). */
char *sf_pt_strndup(const char *s, size_t n);

#endif
