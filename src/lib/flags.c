#include "lib/flags.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Output of Go-style formatting: either a FILE or a bounded, always NUL-terminated buffer. */
struct sink {
	FILE *file;
	char *buf;
	size_t cap;
	size_t n;
};

static void put(struct sink *s, const char *p, size_t len)
{
	if (s->file) {
		fwrite(p, 1, len, s->file);
		return;
	}
	if (len > s->cap - 1 - s->n)
		len = s->cap - 1 - s->n;
	memcpy(s->buf + s->n, p, len);
	s->n += len;
	s->buf[s->n] = '\0';
}

static void put_str(struct sink *s, const char *str)
{
	put(s, str, strlen(str));
}

static void putf(struct sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct sink *s, const char *fmt, ...)
{
	char tmp[32];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		put(s, tmp, strlen(tmp));
}

/* Decodes one rune as Go's utf8.DecodeRune: an invalid sequence is 1 byte and yields -1. */
static int32_t decode_rune(const unsigned char *p, size_t len, size_t *width)
{
	unsigned char c = p[0];
	*width = 1;
	if (c < 0x80)
		return c;
	size_t need;
	int32_t r;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c < 0xc2 || c > 0xf4)
		return -1;
	if (c < 0xe0) {
		need = 1;
		r = c & 0x1f;
	} else if (c < 0xf0) {
		need = 2;
		r = c & 0x0f;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else {
		need = 3;
		r = c & 0x07;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	}
	if (len < need + 1)
		return -1;
	for (size_t i = 1; i <= need; i++) {
		unsigned char b = p[i];
		if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf))
			return -1;
		r = (r << 6) | (b & 0x3f);
	}
	*width = need + 1;
	return r;
}

/* Approximation of Go's strconv.IsPrint for non-ASCII runes: the control and common format
 * characters are not printable; Go's full Unicode tables are not reproduced. */
static bool is_print(int32_t r)
{
	if (r < 0x80)
		return r >= 0x20 && r < 0x7f;
	return !(r < 0xa0 || r == 0xad || (r >= 0x200b && r <= 0x200f) ||
		 (r >= 0x2028 && r <= 0x202e) || (r >= 0x2060 && r <= 0x206f) || r == 0xfeff ||
		 (r >= 0xfff9 && r <= 0xfffb));
}

/* Go's %q of a string (strconv.Quote). */
static void put_quoted(struct sink *s, const char *str)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t len = strlen(str);
	put(s, "\"", 1);
	while (len > 0) {
		size_t w;
		int32_t r = decode_rune(p, len, &w);
		if (r < 0)
			putf(s, "\\x%02x", p[0]);
		else if (r == '"' || r == '\\')
			putf(s, "\\%c", (char)r);
		else if (is_print(r))
			put(s, (const char *)p, w);
		else if (r == '\a')
			put_str(s, "\\a");
		else if (r == '\b')
			put_str(s, "\\b");
		else if (r == '\f')
			put_str(s, "\\f");
		else if (r == '\n')
			put_str(s, "\\n");
		else if (r == '\r')
			put_str(s, "\\r");
		else if (r == '\t')
			put_str(s, "\\t");
		else if (r == '\v')
			put_str(s, "\\v");
		else if (r < ' ' || r == 0x7f)
			putf(s, "\\x%02x", (unsigned)r);
		else if (r < 0x10000)
			putf(s, "\\u%04x", (unsigned)r);
		else
			putf(s, "\\U%08x", (unsigned)r);
		p += w;
		len -= w;
	}
	put(s, "\"", 1);
}

void sf_flags_init(struct sf_flags *fs)
{
	memset(fs, 0, sizeof *fs);
}

static struct sf_flags_flag *lookup(struct sf_flags *fs, const char *name, size_t len)
{
	for (size_t i = 0; i < fs->count; i++)
		if (strlen(fs->flags[i].name) == len && memcmp(fs->flags[i].name, name, len) == 0)
			return &fs->flags[i];
	return NULL;
}

static struct sf_flags_flag *define(struct sf_flags *fs, const char *name, const char *usage,
				    enum sf_flags_type type)
{
	if (fs->count == SF_FLAGS_MAX || name == NULL || name[0] == '\0' || name[0] == '-' ||
	    strchr(name, '=') != NULL || lookup(fs, name, strlen(name)) != NULL)
		return NULL;
	struct sf_flags_flag *f = &fs->flags[fs->count++];
	memset(f, 0, sizeof *f);
	f->name = name;
	f->usage = usage ? usage : "";
	f->type = type;
	return f;
}

int sf_flags_string(struct sf_flags *fs, const char **storage, const char *name, const char *def,
		    const char *usage)
{
	struct sf_flags_flag *f = define(fs, name, usage, SF_FLAGS_STRING);
	if (f == NULL)
		return -1;
	f->str = storage;
	f->def = def ? def : "";
	*storage = f->def;
	return 0;
}

int sf_flags_bool(struct sf_flags *fs, bool *storage, const char *name, bool def, const char *usage)
{
	struct sf_flags_flag *f = define(fs, name, usage, SF_FLAGS_BOOL);
	if (f == NULL)
		return -1;
	f->boolean = storage;
	f->def = def ? "true" : "false";
	*storage = def;
	return 0;
}

/* strconv.ParseBool */
static bool parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
	static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*v = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*v = false;
			return true;
		}
	}
	*v = false;
	return false;
}

static enum sf_flags_status fail(struct sf_flags *fs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static enum sf_flags_status fail(struct sf_flags *fs, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fs->error, sizeof fs->error, fmt, ap);
	va_end(ap);
	return SF_FLAGS_ERROR;
}

/* One step of Go's FlagSet.parseOne: consumes a flag (and its value) from args[*i]. Sets *done
 * when args[*i] is not a flag; "--" is consumed then. */
static enum sf_flags_status parse_one(struct sf_flags *fs, int argc, char *const *args, int *i,
				      bool *done)
{
	const char *s = args[*i];
	if (strlen(s) < 2 || s[0] != '-') {
		*done = true;
		return SF_FLAGS_OK;
	}
	size_t minuses = 1;
	if (s[1] == '-') {
		minuses = 2;
		if (s[2] == '\0') {
			(*i)++;
			*done = true;
			return SF_FLAGS_OK;
		}
	}
	const char *name = s + minuses;
	if (name[0] == '\0' || name[0] == '-' || name[0] == '=')
		return fail(fs, "bad flag syntax: %s", s);
	(*i)++;

	/* The '=' cannot be the first byte of the name. */
	const char *eq = strchr(name + 1, '=');
	size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
	const char *value = eq ? eq + 1 : NULL;

	struct sf_flags_flag *f = lookup(fs, name, name_len);
	if (f == NULL) {
		if ((name_len == 4 && memcmp(name, "help", 4) == 0) ||
		    (name_len == 1 && name[0] == 'h'))
			return SF_FLAGS_HELP;
		return fail(fs, "flag provided but not defined: -%.*s", (int)name_len, name);
	}

	if (f->type == SF_FLAGS_BOOL) {
		if (value == NULL) {
			*f->boolean = true;
		} else if (!parse_bool(value, f->boolean)) {
			char quoted[SF_FLAGS_ERROR_MAX];
			struct sink q = { NULL, quoted, sizeof quoted, 0 };
			quoted[0] = '\0';
			put_quoted(&q, value);
			return fail(fs, "invalid boolean value %s for -%s: parse error", quoted, f->name);
		}
		return SF_FLAGS_OK;
	}
	if (value == NULL) {
		if (*i >= argc)
			return fail(fs, "flag needs an argument: -%s", f->name);
		value = args[(*i)++];
	}
	*f->str = value;
	return SF_FLAGS_OK;
}

enum sf_flags_status sf_flags_parse(struct sf_flags *fs, int argc, char *const *args, int *positional)
{
	int i = 0;
	bool done = false;
	fs->error[0] = '\0';
	while (i < argc && !done) {
		enum sf_flags_status st = parse_one(fs, argc, args, &i, &done);
		if (st != SF_FLAGS_OK)
			return st;
	}
	*positional = i;
	return SF_FLAGS_OK;
}

const char *sf_flags_error(const struct sf_flags *fs)
{
	return fs->error;
}

static int by_name(const void *a, const void *b)
{
	const struct sf_flags_flag *fa = *(const struct sf_flags_flag *const *)a;
	const struct sf_flags_flag *fb = *(const struct sf_flags_flag *const *)b;
	return strcmp(fa->name, fb->name);
}

/* Usage text with Go's line continuation: every "\n" is followed by "    \t". */
static void put_usage_text(struct sink *s, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		put(s, text + i, 1);
		if (text[i] == '\n')
			put(s, "    \t", 5);
	}
}

/* One PrintDefaults entry, including Go's UnquoteUsage: the first `word` of the usage names the
 * value; otherwise the name is the type's ("string", or none for a bool). */
static void put_flag(struct sink *s, const struct sf_flags_flag *f)
{
	const char *usage = f->usage;
	const char *open = strchr(usage, '`');
	const char *close = open ? strchr(open + 1, '`') : NULL;
	const char *vname = f->type == SF_FLAGS_BOOL ? "" : "string";
	size_t vname_len = strlen(vname);
	if (close) {
		vname = open + 1;
		vname_len = (size_t)(close - open - 1);
	}

	put_str(s, "  -");
	put_str(s, f->name);
	size_t head = 3 + strlen(f->name);
	if (vname_len > 0) {
		put(s, " ", 1);
		put(s, vname, vname_len);
		head += 1 + vname_len;
	}
	/* A one-letter bool flag keeps its usage on the same line. */
	put_str(s, head <= 4 ? "\t" : "\n    \t");
	if (close) {
		put_usage_text(s, usage, (size_t)(open - usage));
		put_usage_text(s, vname, vname_len);
		put_usage_text(s, close + 1, strlen(close + 1));
	} else {
		put_usage_text(s, usage, strlen(usage));
	}

	if (f->type == SF_FLAGS_STRING && f->def[0] != '\0') {
		put_str(s, " (default ");
		put_quoted(s, f->def);
		put_str(s, ")");
	} else if (f->type == SF_FLAGS_BOOL && strcmp(f->def, "true") == 0) {
		put_str(s, " (default true)");
	}
	put_str(s, "\n");
}

void sf_flags_print_usage(FILE *out, const struct sf_flags *fs, const char *header)
{
	struct sink s = { out, NULL, 0, 0 };
	const struct sf_flags_flag *sorted[SF_FLAGS_MAX];
	for (size_t i = 0; i < fs->count; i++)
		sorted[i] = &fs->flags[i];
	qsort(sorted, fs->count, sizeof sorted[0], by_name);
	if (header)
		put_str(&s, header);
	for (size_t i = 0; i < fs->count; i++)
		put_flag(&s, sorted[i]);
	fflush(out);
}
