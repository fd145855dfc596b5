#include "pt/gostr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char lowerhex[] = "0123456789abcdef";

void *sf_pt_grow(void *array, size_t n, size_t size)
{
	if (n != 0 && (n & (n - 1)) != 0)
		return array;
	size_t cap = n ? 2 * n : 1;
	if (cap > SIZE_MAX / size)
		return NULL;
	return realloc(array, cap * size);
}

char *sf_pt_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Go's utf8.DecodeRuneInString: returns the width of a valid sequence (and its rune), or 0
 * for an invalid byte, which Go reports as RuneError of width 1. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *rune)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf;
	uint32_t r;

	if (c < 0x80) {
		*rune = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		r = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		r = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		r = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	for (size_t i = 1; i <= need; i++) {
		unsigned char b = s[i];
		if (b < lo || b > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
		r = (r << 6) | (b & 0x3f);
	}
	*rune = r;
	return need + 1;
}

/* Go's strconv.IsPrint for non-ASCII runes needs Unicode tables; this keeps the common
 * non-printable ranges (C1 controls, spaces other than U+0020, format characters, private use,
 * noncharacters) and calls everything else printable. Any difference only shows in text that
 * the reference would refuse to print anyway (bytes >= 0x80 in a PT line). */
static bool rune_is_print(uint32_t r)
{
	if (r < 0x80)
		return r >= 0x20 && r < 0x7f;
	if (r <= 0xa0 || r == 0xad || r == 0x61c || r == 0x1680 || r == 0x180e)
		return false;
	if ((r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f) ||
	    (r >= 0x205f && r <= 0x206f) || r == 0x3000 || r == 0xfeff)
		return false;
	if ((r >= 0xe000 && r <= 0xf8ff) || (r >= 0xfdd0 && r <= 0xfdef) ||
	    (r >= 0xfff0 && r <= 0xfffb) || (r & 0xfffe) == 0xfffe)
		return false;
	if (r >= 0xe0000)
		return false;
	return true;
}

void sf_pt_str_add_quoted(struct sf_strbuf *sb, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	char esc[12];

	sf_strbuf_addc(sb, '"');
	for (size_t i = 0; i < n;) {
		uint32_t r;
		size_t w = utf8_decode(u + i, n - i, &r);
		if (w == 0) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = lowerhex[u[i] >> 4];
			esc[3] = lowerhex[u[i] & 0xf];
			sf_strbuf_append(sb, esc, 4);
			i++;
			continue;
		}
		if (r == '"' || r == '\\') {
			esc[0] = '\\';
			esc[1] = (char)r;
			sf_strbuf_append(sb, esc, 2);
		} else if (rune_is_print(r)) {
			sf_strbuf_append(sb, s + i, w);
		} else {
			const char *named = NULL;
			switch (r) {
			case '\a': named = "\\a"; break;
			case '\b': named = "\\b"; break;
			case '\f': named = "\\f"; break;
			case '\n': named = "\\n"; break;
			case '\r': named = "\\r"; break;
			case '\t': named = "\\t"; break;
			case '\v': named = "\\v"; break;
			}
			if (named) {
				sf_strbuf_add(sb, named);
			} else if (r < 0x20 || r == 0x7f) {
				esc[0] = '\\';
				esc[1] = 'x';
				esc[2] = lowerhex[r >> 4];
				esc[3] = lowerhex[r & 0xf];
				sf_strbuf_append(sb, esc, 4);
			} else {
				int digits = r < 0x10000 ? 4 : 8;
				esc[0] = '\\';
				esc[1] = r < 0x10000 ? 'u' : 'U';
				for (int d = 0; d < digits; d++)
					esc[2 + d] = lowerhex[(r >> (4 * (digits - 1 - d))) & 0xf];
				sf_strbuf_append(sb, esc, 2 + (size_t)digits);
			}
		}
		i += w;
	}
	sf_strbuf_addc(sb, '"');
}
