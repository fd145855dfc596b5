/* Command-line parsing with Go's flag semantics (src/lib/flags.c), over the flags the server
 * defines (a mix of string and bool flags, as in src/main.c).
 * Input: the arguments after the program name, separated by NUL bytes (at most 64). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/flags.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *args[MAX_ARGS];
	int argc = 0;
	for (size_t i = 0; i <= size && argc < MAX_ARGS;) {
		args[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	if (size == 0)
		argc = 0;

	struct sf_flags fs;
	sf_flags_init(&fs);
	const char *email = NULL, *hosts = NULL, *log = NULL, *port = NULL, *dir = NULL;
	bool disable_tls = false, unsafe = false, version = false, x = true;
	if (sf_flags_string(&fs, &email, "acme-email", "", "optional contact `email`") ||
	    sf_flags_string(&fs, &hosts, "acme-hostnames", "", "comma-separated hostnames") ||
	    sf_flags_bool(&fs, &disable_tls, "disable-tls", false, "don't use HTTPS") ||
	    sf_flags_string(&fs, &log, "log", "", "log file to write to") ||
	    sf_flags_bool(&fs, &unsafe, "unsafe-logging", false, "keep IP addresses") ||
	    sf_flags_bool(&fs, &version, "version", false, "display version info") ||
	    sf_flags_string(&fs, &port, "acme-http-port", "80", "HTTP-01 port") ||
	    sf_flags_string(&fs, &dir, "d", "x", "one letter") ||
	    sf_flags_bool(&fs, &x, "x", true, "one-letter bool"))
		__builtin_trap();
	int positional = -1;
	enum sf_flags_status st = sf_flags_parse(&fs, argc, args, &positional);
	if (st == SF_FLAGS_OK) {
		if (positional < 0 || positional > argc)
			__builtin_trap();
		/* String values point into the arguments (or are the defaults). */
		(void)strlen(email);
		(void)strlen(hosts);
		(void)strlen(port);
	} else if (st == SF_FLAGS_ERROR) {
		const char *e = sf_flags_error(&fs);
		if (!e || strlen(e) >= SF_FLAGS_ERROR_MAX)
			__builtin_trap();
	}
	char *usage = NULL;
	size_t usage_len = 0;
	FILE *out = open_memstream(&usage, &usage_len);
	if (out) {
		sf_flags_print_usage(out, &fs, "Usage:\n");
		fclose(out);
		free(usage);
	}
	free(buf);
	return 0;
}
