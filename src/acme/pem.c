#include "acme/pem.h"

#include <stdlib.h>
#include <string.h>

#define PEM_LINE 64

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sf_acme_pem_append(struct sf_strbuf *b, const char *type, const uint8_t *der, size_t len)
{
	char line[PEM_LINE + 1];
	size_t col = 0;
	sf_strbuf_append(b, "-----BEGIN ", 11);
	sf_strbuf_append(b, type, strlen(type));
	sf_strbuf_append(b, "-----\n", 6);
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)der[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)der[i + 1] << 8;
		if (i + 2 < len)
			v |= der[i + 2];
		char q[4] = { b64_alphabet[v >> 18 & 63], b64_alphabet[v >> 12 & 63],
			      i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=',
			      i + 2 < len ? b64_alphabet[v & 63] : '=' };
		for (int k = 0; k < 4; k++) {
			line[col++] = q[k];
			if (col == PEM_LINE) {
				line[col++] = '\n';
				sf_strbuf_append(b, line, col);
				col = 0;
			}
		}
	}
	if (col) {
		line[col++] = '\n';
		sf_strbuf_append(b, line, col);
	}
	sf_strbuf_append(b, "-----END ", 9);
	sf_strbuf_append(b, type, strlen(type));
	sf_strbuf_append(b, "-----\n", 6);
	return b->failed ? -1 : 0;
}

/* Go's getLine: the line at [from, len) without its "\n"/"\r\n" and trailing spaces/tabs
 * ([from, *line_end)); returns where the next line starts. */
static size_t get_line(const char *data, size_t len, size_t from, size_t *line_end)
{
	const char *nl = memchr(data + from, '\n', len - from);
	size_t end = nl ? (size_t)(nl - data) : len;
	size_t next = nl ? end + 1 : len;
	if (nl && end > from && data[end - 1] == '\r')
		end--;
	while (end > from && (data[end - 1] == ' ' || data[end - 1] == '\t'))
		end--;
	*line_end = end;
	return next;
}

static bool has_prefix(const char *data, size_t len, size_t at, const char *prefix)
{
	size_t n = strlen(prefix);
	return at <= len && len - at >= n && memcmp(data + at, prefix, n) == 0;
}

/* Offset of needle in data[from, len), or SIZE_MAX. */
static size_t find(const char *data, size_t len, size_t from, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = from; i + n <= len; i++)
		if (memcmp(data + i, needle, n) == 0)
			return i;
	return SIZE_MAX;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_alphabet, c) : NULL;
	return p ? (int)(p - b64_alphabet) : -1;
}

/* Go's base64.StdEncoding.Decode after removeSpacesAndTabs: CR/LF ignored, padded quanta,
 * nothing after the padding. Returns the length or -1. */
static long b64_decode(const char *in, size_t len, uint8_t *out)
{
	char q[4];
	size_t nq = 0;
	long o = 0;
	bool ended = false;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		if (ended)
			return -1;
		q[nq++] = c;
		if (nq < 4)
			continue;
		nq = 0;
		int v[4];
		int pad = q[3] == '=' ? (q[2] == '=' ? 2 : 1) : 0;
		for (int k = 0; k < 4 - pad; k++)
			if ((v[k] = b64_value(q[k])) < 0)
				return -1;
		if (pad == 1 && q[2] == '=')
			return -1;
		uint32_t acc = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
		if (pad < 2)
			acc |= (uint32_t)v[2] << 6;
		if (pad < 1)
			acc |= (uint32_t)v[3];
		out[o++] = (uint8_t)(acc >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(acc >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)acc;
		ended = pad > 0;
	}
	return nq ? -1 : o;
}

int sf_acme_pem_next(const char *data, size_t len, size_t *pos, char *type, size_t typecap,
		     uint8_t **der, size_t *der_len)
{
	size_t rest = *pos;
	for (;;) {
		if (has_prefix(data, len, rest, "-----BEGIN ")) {
			rest += 11;
		} else {
			size_t at = find(data, len, rest, "\n-----BEGIN ");
			if (at == SIZE_MAX)
				return 0;
			rest = at + 12;
		}
		size_t type_start = rest, type_end;
		rest = get_line(data, len, rest, &type_end);
		if (type_end - type_start < 5 || memcmp(data + type_end - 5, "-----", 5) != 0)
			continue;
		type_end -= 5;
		size_t type_len = type_end - type_start;

		bool headers = false, truncated = false;
		for (;;) {
			if (rest >= len) {
				truncated = true;
				break;
			}
			size_t line_end, next = get_line(data, len, rest, &line_end);
			if (!memchr(data + rest, ':', line_end - rest))
				break;
			headers = true;
			rest = next;
		}
		if (truncated)
			return 0;

		size_t end_index, trailer;
		if (!headers && has_prefix(data, len, rest, "-----END ")) {
			end_index = rest;
			trailer = rest + 9;
		} else {
			end_index = find(data, len, rest, "\n-----END ");
			if (end_index == SIZE_MAX)
				continue;
			trailer = end_index + 10;
		}
		if (len - trailer < type_len + 5 || memcmp(data + trailer, data + type_start, type_len) != 0 ||
		    memcmp(data + trailer + type_len, "-----", 5) != 0)
			continue;
		size_t line_end, after = trailer + type_len + 5;
		size_t next = get_line(data, len, after, &line_end);
		if (line_end != after)
			continue;

		uint8_t *buf = malloc(end_index - rest + 1);
		if (!buf)
			return -1;
		long n = b64_decode(data + rest, end_index - rest, buf);
		if (n < 0) {
			free(buf);
			continue;
		}
		size_t copy = type_len < typecap ? type_len : typecap - 1;
		memcpy(type, data + type_start, copy);
		type[copy] = '\0';
		*der = buf;
		*der_len = (size_t)n;
		*pos = next;
		return 1;
	}
}
