/* The managed-proxy environment tor gives a server transport (src/pt/env.c, with the
 * TOR_PT_SERVER_TRANSPORT_OPTIONS parser of options.c and the addresses of bindaddr.c), read as
 * goptlib's ServerSetup reads it.
 * Input: "NAME=value" lines ('\n'-separated; the first line of a name wins). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt/env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VARS 32

struct env {
	char *name[MAX_VARS];
	char *value[MAX_VARS];
	size_t n;
};

static const char *lookup(const char *name, void *arg)
{
	const struct env *e = arg;
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->name[i], name) == 0)
			return e->value[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A NUL-terminated copy, cut into lines in place. */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct env env = {0};
	for (char *line = text; line && env.n < MAX_VARS;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *eq = strchr(line, '=');
		if (eq) {
			*eq = '\0';
			env.name[env.n] = line;
			env.value[env.n] = eq + 1;
			env.n++;
		}
		line = next;
	}
	char *printed = NULL;
	size_t printed_len = 0;
	FILE *out = open_memstream(&printed, &printed_len);
	if (out) {
		struct sf_pt_server_info info;
		memset(&info, 0xa5, sizeof info); /* setup must fill or empty it whatever it held */
		if (sf_pt_server_setup(lookup, &env, out, &info) == 0) {
			for (size_t i = 0; i < info.n_bindaddrs; i++) {
				const struct sf_pt_bindaddr *b = &info.bindaddrs[i];
				if (strlen(b->addr_text) >= sizeof b->addr_text || !b->method)
					__builtin_trap();
				(void)sf_pt_args_get(b->options, "num-turbotunnel");
			}
		} else if (info.n_bindaddrs != 0 || info.bindaddrs) {
			__builtin_trap();
		}
		sf_pt_server_info_free(&info);
		fclose(out);
		free(printed);
	}
	free(text);
	return 0;
}
