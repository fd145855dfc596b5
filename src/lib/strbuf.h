/* The one growable byte string of the project: PT messages, PEM files, ACME response bodies.
 * Always NUL-ended after an append, so text can be used as a C string; binary is fine too.
 * A cap (max) bounds what a peer can make it hold; after a failed append (out of memory or past
 * the cap) every later append fails too and `failed` stays set, so a caller may append a whole
 * message and check once at the end. */
#ifndef SF_LIB_STRBUF_H
#define SF_LIB_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sf_strbuf {
	char *data;	/* NULL until the first append; owned by the buffer until sf_strbuf_take */
	size_t len;
	size_t cap;
	size_t max;	/* appends that would pass it fail; 0 (a zeroed buffer) = no cap */
	bool failed;
};

/* A zero-initialised struct is an empty buffer with no cap; init sets a cap. */
void sf_strbuf_init(struct sf_strbuf *b, size_t max);
void sf_strbuf_free(struct sf_strbuf *b);

/* Each returns 0, or -1 (and sets b->failed) when out of memory, past the cap, or already
 * failed. */
int sf_strbuf_append(struct sf_strbuf *b, const void *p, size_t len);
int sf_strbuf_add(struct sf_strbuf *b, const char *s);
int sf_strbuf_addc(struct sf_strbuf *b, char c);

/* Hands the NUL-ended data to the caller (free() it) and resets b; an empty buffer gives "".
 * NULL, with b freed, when an append had failed or memory runs out. */
char *sf_strbuf_take(struct sf_strbuf *b);

#endif
