/* Address scrubber, a re-implementation of upstream safelog's Scrub().
 *
 * Upstream runs Go's regexp (leftmost-first, i.e. the match a backtracking engine picks) with
 *
 *   full    = (^|\s|[^\w:]) address (\s|(:\s)|[^\w:]|$)
 *   address = (ipv4 | \[ipv6\] | ipv6) (:\d{1,5})?
 *   ipv4    = \d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}
 *   ipv6    = A ipv4 | C ipv4 | A | C
 *   A       = (H{0,4}S){5,7} (H{0,4})?
 *   C       = (H{0,4}S){0,5} (H{0,4})? S S (H{0,4}S){0,5} (H{0,4})?
 *   H = [0-9a-fA-F], S = ":" | "%3a" | "%3A"
 *
 * replaces every match of `full` by itself with each `address` match inside it turned into
 * "[scrubbed]", and resumes the search after the whole match (delimiters included).
 *
 * Here every sub-pattern is an enumerator that offers its possible end positions, in the order a
 * backtracking engine would try them, to a continuation; the first continuation that accepts
 * ends the search. No sub-pattern captures anything, so a continuation depends only on the
 * position, and this reproduces Go's choice exactly. Every step is bounded (at most 7 groups,
 * 4 hex digits, 5 port digits), so a position costs a bounded amount of work.
 *
 * Go matches runes, not bytes: `\s` and `[^\w:]` consume one whole UTF-8 sequence (an invalid
 * byte counts as one rune), and the search steps from rune to rune. Both matter for where the
 * next search starts, so rune widths are decoded with Go's rules. */
#include "lib/log.h"

#include <stdint.h>
#include <string.h>

#define SCRUBBED "[scrubbed]"
#define GROUP_MAX 7

struct scan {
	const unsigned char *s;
	size_t len;
	size_t end;		/* end of the match, set by the final continuation */
};

struct cont {
	bool (*fn)(struct scan *sc, size_t pos, const struct cont *next);
	const struct cont *next;
};

static bool call(struct scan *sc, size_t pos, const struct cont *k)
{
	return k->fn(sc, pos, k->next);
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Go's \w and \s are ASCII-only; \s has no \v. */
static bool is_word(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static bool in_range(const struct scan *sc, size_t pos, unsigned char lo, unsigned char hi)
{
	return pos < sc->len && sc->s[pos] >= lo && sc->s[pos] <= hi;
}

/* Width of the rune at pos as Go's utf8.DecodeRune sees it: invalid sequences are 1 byte. */
static size_t rune_width(const struct scan *sc, size_t pos)
{
	unsigned char c = sc->s[pos];
	if (c < 0xc2)
		return 1;
	if (c < 0xe0)
		return in_range(sc, pos + 1, 0x80, 0xbf) ? 2 : 1;
	if (c < 0xf0) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned char hi = c == 0xed ? 0x9f : 0xbf;
		return in_range(sc, pos + 1, lo, hi) && in_range(sc, pos + 2, 0x80, 0xbf) ? 3 : 1;
	}
	if (c < 0xf5) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
		return in_range(sc, pos + 1, lo, hi) && in_range(sc, pos + 2, 0x80, 0xbf) &&
		       in_range(sc, pos + 3, 0x80, 0xbf) ? 4 : 1;
	}
	return 1;
}

/* Length of the run of matching bytes at pos, counted only up to limit (keeps scans O(1)). */
static size_t run(const struct scan *sc, size_t pos, bool (*pred)(unsigned char), size_t limit)
{
	size_t n = 0;
	while (n < limit && pos + n < sc->len && pred(sc->s[pos + n]))
		n++;
	return n;
}

/* S: ":" or "%3a" or "%3A"; returns its length, 0 if absent. */
static size_t sep_len(const struct scan *sc, size_t pos)
{
	if (pos < sc->len && sc->s[pos] == ':')
		return 1;
	if (pos + 3 <= sc->len && sc->s[pos] == '%' && sc->s[pos + 1] == '3' &&
	    (sc->s[pos + 2] == 'a' || sc->s[pos + 2] == 'A'))
		return 3;
	return 0;
}

/* H{0,4}S at pos. S never starts with a hex digit, so the hex part must take the whole run:
 * the group matches in exactly one way or not at all. Returns its end, or SIZE_MAX. */
static size_t group_end(const struct scan *sc, size_t pos)
{
	size_t h = run(sc, pos, is_hex, 5);
	if (h > 4)
		return SIZE_MAX;
	size_t sl = sep_len(sc, pos + h);
	return sl ? pos + h + sl : SIZE_MAX;
}

/* Fills ends[0..n] with the ends of up to max consecutive groups (ends[0] = pos); returns n. */
static size_t groups(const struct scan *sc, size_t pos, size_t max, size_t *ends)
{
	size_t n = 0;
	ends[0] = pos;
	while (n < max) {
		size_t e = group_end(sc, ends[n]);
		if (e == SIZE_MAX)
			break;
		ends[++n] = e;
	}
	return n;
}

/* (H{0,4})? at pos: greedy, so 4..0 digits; "absent" ends where 0 digits did and adds nothing. */
static bool opt_hex(struct scan *sc, size_t pos, const struct cont *k)
{
	for (size_t l = run(sc, pos, is_hex, 4) + 1; l-- > 0;)
		if (call(sc, pos + l, k))
			return true;
	return false;
}

static bool ipv4(struct scan *sc, size_t pos, const struct cont *k)
{
	for (int i = 0; i < 3; i++) {
		size_t d = run(sc, pos, is_digit, 4);
		if (d < 1 || d > 3 || pos + d >= sc->len || sc->s[pos + d] != '.')
			return false;
		pos += d + 1;
	}
	for (size_t l = run(sc, pos, is_digit, 3); l >= 1; l--)
		if (call(sc, pos + l, k))
			return true;
	return false;
}

static bool ipv4_cont(struct scan *sc, size_t pos, const struct cont *next)
{
	return ipv4(sc, pos, next);
}

/* A = (H{0,4}S){5,7} (H{0,4})? */
static bool ipv6_full_form(struct scan *sc, size_t pos, const struct cont *k)
{
	size_t ends[GROUP_MAX + 1];
	size_t n = groups(sc, pos, 7, ends);
	for (size_t c = n; c >= 5; c--)
		if (opt_hex(sc, ends[c], k))
			return true;
	return false;
}

/* The part of C after "S S": (H{0,4}S){0,5} (H{0,4})? */
static bool compressed_tail(struct scan *sc, size_t pos, const struct cont *k)
{
	size_t ends[GROUP_MAX + 1];
	for (size_t c = groups(sc, pos, 5, ends) + 1; c-- > 0;)
		if (opt_hex(sc, ends[c], k))
			return true;
	return false;
}

static bool double_sep(struct scan *sc, size_t pos, const struct cont *next)
{
	size_t s1 = sep_len(sc, pos);
	if (!s1)
		return false;
	size_t s2 = sep_len(sc, pos + s1);
	if (!s2)
		return false;
	return compressed_tail(sc, pos + s1 + s2, next);
}

/* C = (H{0,4}S){0,5} (H{0,4})? S S (H{0,4}S){0,5} (H{0,4})? */
static bool ipv6_compressed(struct scan *sc, size_t pos, const struct cont *k)
{
	size_t ends[GROUP_MAX + 1];
	const struct cont rest = { double_sep, k };
	for (size_t c = groups(sc, pos, 5, ends) + 1; c-- > 0;)
		if (opt_hex(sc, ends[c], &rest))
			return true;
	return false;
}

/* ipv6 = A ipv4 | C ipv4 | A | C, in that order of preference. */
static bool ipv6(struct scan *sc, size_t pos, const struct cont *k)
{
	const struct cont tail4 = { ipv4_cont, k };
	return ipv6_full_form(sc, pos, &tail4) || ipv6_compressed(sc, pos, &tail4) ||
	       ipv6_full_form(sc, pos, k) || ipv6_compressed(sc, pos, k);
}

static bool close_bracket(struct scan *sc, size_t pos, const struct cont *next)
{
	return pos < sc->len && sc->s[pos] == ']' && call(sc, pos + 1, next);
}

/* ipv4 | \[ipv6\] | ipv6, without the port. */
static bool address(struct scan *sc, size_t pos, const struct cont *k)
{
	if (ipv4(sc, pos, k))
		return true;
	if (pos < sc->len && sc->s[pos] == '[') {
		const struct cont bracket = { close_bracket, k };
		if (ipv6(sc, pos + 1, &bracket))
			return true;
	}
	return ipv6(sc, pos, k);
}

/* (\s|(:\s)|[^\w:]|$) at pos: sets the match end. */
static bool trailer(struct scan *sc, size_t pos)
{
	if (pos == sc->len) {
		sc->end = pos;
		return true;
	}
	unsigned char c = sc->s[pos];
	if (is_space(c)) {
		sc->end = pos + 1;
		return true;
	}
	if (c == ':' && pos + 1 < sc->len && is_space(sc->s[pos + 1])) {
		sc->end = pos + 2;
		return true;
	}
	if (!is_word(c) && c != ':') {
		sc->end = pos + rune_width(sc, pos);
		return true;
	}
	return false;
}

/* Outer pattern after the address: (:\d{1,5})? then the trailer, trying 5..1 port digits, then none. */
static bool port_then_trailer(struct scan *sc, size_t pos, const struct cont *next)
{
	(void)next;
	if (pos < sc->len && sc->s[pos] == ':')
		for (size_t l = run(sc, pos + 1, is_digit, 5); l >= 1; l--)
			if (trailer(sc, pos + 1 + l))
				return true;
	return trailer(sc, pos);
}

/* Inner pattern after the address: nothing follows, so the greedy port simply takes what it can. */
static bool port_greedy(struct scan *sc, size_t pos, const struct cont *next)
{
	(void)next;
	size_t l = 0;
	if (pos < sc->len && sc->s[pos] == ':')
		l = run(sc, pos + 1, is_digit, 5);
	sc->end = l ? pos + 1 + l : pos;
	return true;
}

/* Outer match starting exactly at pos; sets sc->end. */
static bool full_match_at(struct scan *sc, size_t pos)
{
	static const struct cont k = { port_then_trailer, NULL };
	if (pos == 0 && address(sc, 0, &k))
		return true;
	if (pos >= sc->len)
		return false;
	unsigned char c = sc->s[pos];
	if (!is_space(c) && (is_word(c) || c == ':'))
		return false;
	return address(sc, pos + rune_width(sc, pos), &k);
}

static bool address_match_at(struct scan *sc, size_t pos)
{
	static const struct cont k = { port_greedy, NULL };
	return address(sc, pos, &k);
}

/* Leftmost match starting at or after from, stepping rune by rune as Go does. */
static bool find(struct scan *sc, size_t from, bool (*match_at)(struct scan *, size_t), size_t *start)
{
	for (size_t p = from; p <= sc->len; p += p < sc->len ? rune_width(sc, p) : 1) {
		if (match_at(sc, p)) {
			*start = p;
			return true;
		}
	}
	return false;
}

struct out {
	char *buf;
	size_t cap;		/* bytes usable for text, NUL excluded */
	size_t n;
};

static void emit(struct out *o, const void *p, size_t len)
{
	if (len > o->cap - o->n)
		len = o->cap - o->n;
	memcpy(o->buf + o->n, p, len);
	o->n += len;
}

/* addressRegexp.ReplaceAll(match, "[scrubbed]") on one outer match. Matches are never empty,
 * so the search simply resumes at the end of each. */
static void scrub_match(const unsigned char *text, size_t len, struct out *o)
{
	struct scan sc = { text, len, 0 };
	size_t copied = 0, start;
	while (find(&sc, copied, address_match_at, &start)) {
		emit(o, text + copied, start - copied);
		emit(o, SCRUBBED, sizeof SCRUBBED - 1);
		copied = sc.end;
	}
	emit(o, text + copied, len - copied);
}

size_t sf_scrub(const char *text, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return 0;
	struct out o = { out, cap - 1, 0 };
	struct scan sc = { (const unsigned char *)text, len, 0 };
	size_t copied = 0, start;
	while (o.n < o.cap && find(&sc, copied, full_match_at, &start)) {
		emit(&o, text + copied, start - copied);
		scrub_match(sc.s + start, sc.end - start, &o);
		copied = sc.end;
	}
	emit(&o, text + copied, len - copied);
	out[o.n] = '\0';
	return o.n;
}
