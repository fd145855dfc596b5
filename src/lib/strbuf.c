#include "lib/strbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void sf_strbuf_init(struct sf_strbuf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

void sf_strbuf_free(struct sf_strbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* Room for extra more bytes and the NUL after them. */
static int reserve(struct sf_strbuf *b, size_t extra)
{
	size_t max = b->max ? b->max : SIZE_MAX / 4;
	if (b->failed || extra > max || b->len > max - extra) {
		b->failed = true;
		return -1;
	}
	if (b->data && b->len + extra < b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap <= b->len + extra)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d) {
		b->failed = true;
		return -1;
	}
	b->data = d;
	b->cap = cap;
	return 0;
}

int sf_strbuf_append(struct sf_strbuf *b, const void *p, size_t len)
{
	if (reserve(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int sf_strbuf_add(struct sf_strbuf *b, const char *s)
{
	return sf_strbuf_append(b, s, strlen(s));
}

int sf_strbuf_addc(struct sf_strbuf *b, char c)
{
	return sf_strbuf_append(b, &c, 1);
}

char *sf_strbuf_take(struct sf_strbuf *b)
{
	if (reserve(b, 0) < 0) {
		sf_strbuf_free(b);
		return NULL;
	}
	b->data[b->len] = '\0';
	char *d = b->data;
	b->data = NULL;
	sf_strbuf_free(b);
	return d;
}
