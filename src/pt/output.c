#include "pt/output.h"
#include "pt/args.h"
#include "pt/gostr.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool keyword_is_safe(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++) {
		char c = *k;
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

int sf_pt_line(FILE *out, const char *keyword, const char *const *args, size_t nargs)
{
	struct sf_strbuf line = {0};

	if (!keyword_is_safe(keyword))
		return -1;
	sf_strbuf_add(&line, keyword);
	for (size_t i = 0; i < nargs; i++) {
		sf_strbuf_addc(&line, ' ');
		size_t start = line.len;
		sf_strbuf_add(&line, args[i] ? args[i] : "");
		if (line.failed)
			break;
		/* goptlib panics on these; a '?' keeps the line well-formed instead. */
		for (size_t j = start; j < line.len; j++) {
			unsigned char c = (unsigned char)line.data[j];
			if (c == '\n' || c >= 0x80)
				line.data[j] = '?';
		}
	}
	sf_strbuf_addc(&line, '\n');
	if (line.failed) {
		sf_strbuf_free(&line);
		return -1;
	}
	size_t w = fwrite(line.data, 1, line.len, out);
	int rc = (w == line.len && fflush(out) == 0) ? 0 : -1;
	sf_strbuf_free(&line);
	return rc;
}

int sf_pt_version(FILE *out)
{
	const char *args[] = { "1" };
	return sf_pt_line(out, "VERSION", args, 1);
}

int sf_pt_version_error(FILE *out, const char *msg)
{
	return sf_pt_line(out, "VERSION-ERROR", &msg, 1);
}

int sf_pt_env_error(FILE *out, const char *msg)
{
	return sf_pt_line(out, "ENV-ERROR", &msg, 1);
}

int sf_pt_smethod_error(FILE *out, const char *name, const char *msg)
{
	const char *args[] = { name, msg };
	return sf_pt_line(out, "SMETHOD-ERROR", args, 2);
}

int sf_pt_smethods_done(FILE *out)
{
	const char *args[] = { "DONE" };
	return sf_pt_line(out, "SMETHODS", args, 1);
}

static void add_cstring(struct sf_strbuf *sb, const char *s)
{
	static const char octal[] = "01234567";
	char esc[4];

	sf_strbuf_addc(sb, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if (c == 0x20 || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)) {
			sf_strbuf_addc(sb, (char)c);
			continue;
		}
		esc[0] = '\\';
		esc[1] = octal[c >> 6];
		esc[2] = octal[(c >> 3) & 7];
		esc[3] = octal[c & 7];
		sf_strbuf_append(sb, esc, 4);
	}
	sf_strbuf_addc(sb, '"');
}

char *sf_pt_encode_cstring(const char *s)
{
	struct sf_strbuf sb = {0};
	add_cstring(&sb, s);
	return sf_strbuf_take(&sb);
}

int sf_pt_report_version(FILE *out, const char *implementation, const char *version)
{
	struct sf_strbuf impl = {0}, ver = {0};
	int rc = -1;

	sf_strbuf_add(&impl, "IMPLEMENTATION=");
	add_cstring(&impl, implementation);
	sf_strbuf_add(&ver, "VERSION=");
	add_cstring(&ver, version);
	if (!impl.failed && !ver.failed) {
		const char *args[] = { "TYPE=version", impl.data, ver.data };
		rc = sf_pt_line(out, "STATUS", args, 3);
	}
	sf_strbuf_free(&impl);
	sf_strbuf_free(&ver);
	return rc;
}

static void add_escaped(struct sf_strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '=' || *s == ',')
			sf_strbuf_addc(sb, '\\');
		sf_strbuf_addc(sb, *s);
	}
}

static int cmp_arg_keys(const void *a, const void *b)
{
	const struct sf_pt_arg *const *x = a, *const *y = b;
	return strcmp((*x)->key, (*y)->key);	/* strcmp compares as unsigned char: bytewise */
}

char *sf_pt_encode_smethod_args(const struct sf_pt_args *args)
{
	struct sf_strbuf sb = {0};
	const struct sf_pt_arg **sorted = NULL;
	bool first = true;

	sf_strbuf_append(&sb, "", 0);
	if (!args || args->n == 0)
		return sf_strbuf_take(&sb);
	sorted = malloc(args->n * sizeof *sorted);
	if (!sorted) {
		sf_strbuf_free(&sb);
		return NULL;
	}
	for (size_t i = 0; i < args->n; i++)
		sorted[i] = &args->v[i];
	qsort(sorted, args->n, sizeof *sorted, cmp_arg_keys);
	for (size_t i = 0; i < args->n; i++) {
		for (size_t j = 0; j < sorted[i]->n_values; j++) {
			if (!first)
				sf_strbuf_addc(&sb, ',');
			first = false;
			add_escaped(&sb, sorted[i]->key);
			sf_strbuf_addc(&sb, '=');
			add_escaped(&sb, sorted[i]->values[j]);
		}
	}
	free(sorted);
	return sf_strbuf_take(&sb);
}

int sf_pt_smethod_args(FILE *out, const char *name, const char *addr,
		       const struct sf_pt_args *args)
{
	struct sf_strbuf arg = {0};
	char *enc = sf_pt_encode_smethod_args(args);
	int rc = -1;

	if (!enc)
		return -1;
	sf_strbuf_add(&arg, "ARGS:");
	sf_strbuf_add(&arg, enc);
	if (!arg.failed) {
		const char *v[] = { name, addr, arg.data };
		rc = sf_pt_line(out, "SMETHOD", v, 3);
	}
	free(enc);
	sf_strbuf_free(&arg);
	return rc;
}
