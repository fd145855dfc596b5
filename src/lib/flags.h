/* Command-line flags with the semantics of Go's `flag` package (as upstream's flag.Parse with
 * ExitOnError uses them), so that every invocation that works for snowflake-server works here.
 *
 *   -x and --x are the same; -x=v, or -x v for a string flag; a bool flag takes only -x (true) or
 *   -x=<strconv.ParseBool value> ("-x false" sets x and leaves "false" as a positional argument);
 *   "--" ends the flags and is dropped; the first non-flag argument (including "-") ends them and
 *   is kept; -h / -help / --help ask for help unless a flag of that name is defined.
 *
 * Parsing never prints or exits: the caller does, as Go does — on SF_FLAGS_ERROR print
 * "<sf_flags_error()>\n" and the usage to stderr and exit 2; on SF_FLAGS_HELP print the usage
 * and exit 0. A flag set is a plain value with a fixed capacity; not thread-safe. */
#ifndef SF_LIB_FLAGS_H
#define SF_LIB_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define SF_FLAGS_MAX 32
#define SF_FLAGS_ERROR_MAX 512

enum sf_flags_type { SF_FLAGS_STRING, SF_FLAGS_BOOL };

struct sf_flags_flag {
	const char *name;
	const char *usage;
	enum sf_flags_type type;
	const char **str;	/* storage of a string flag */
	bool *boolean;		/* storage of a bool flag */
	const char *def;	/* default as text, as Go's DefValue: "false"/"true" for bools */
};

struct sf_flags {
	struct sf_flags_flag flags[SF_FLAGS_MAX];
	size_t count;
	char error[SF_FLAGS_ERROR_MAX];
};

enum sf_flags_status {
	SF_FLAGS_OK,
	SF_FLAGS_HELP,		/* -h/-help given and not defined */
	SF_FLAGS_ERROR,		/* message in sf_flags_error() */
};

void sf_flags_init(struct sf_flags *fs);

/* Define a flag and store its default in *storage (as flag.StringVar / flag.BoolVar do). name,
 * def and usage must outlive the set. Returns 0, or -1 if the set is full, the name is empty,
 * starts with '-', contains '=' or is already defined (Go panics on these). */
int sf_flags_string(struct sf_flags *fs, const char **storage, const char *name, const char *def,
		    const char *usage);
int sf_flags_bool(struct sf_flags *fs, bool *storage, const char *name, bool def, const char *usage);

/* Parses args[0..argc) — the arguments after the program name, like Go's os.Args[1:]. A string
 * value points into args. *positional receives the index of the first positional argument
 * (argc if none); it is set on SF_FLAGS_OK only. Flags before the failing one keep their new
 * values, as in Go (a bad bool value also sets the flag to false). */
enum sf_flags_status sf_flags_parse(struct sf_flags *fs, int argc, char *const *args, int *positional);

/* The message of the last SF_FLAGS_ERROR, e.g. "flag provided but not defined: -x". */
const char *sf_flags_error(const struct sf_flags *fs);

/* Prints header (verbatim, if not NULL) and then every flag sorted by name, in the format of
 * Go's PrintDefaults:
 *   "  -name string\n    \tusage (default \"x\")\n"   string flag, default shown if not empty
 *   "  -name\n    \tusage\n"                          bool flag, " (default true)" if true
 *   "  -x\tusage\n"                                   one-letter bool flag
 * A `quoted` word in the usage replaces the type name, as in Go. */
void sf_flags_print_usage(FILE *out, const struct sf_flags *fs, const char *header);

#endif
