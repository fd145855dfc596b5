/* Strings of the PT configuration parsed on their own (src/pt/options.c, args.c, bindaddr.c):
 * TOR_PT_SERVER_TRANSPORT_OPTIONS, the num-turbotunnel value and a "<host>:<port>" address.
 * Input: the same bytes (up to the first NUL) given to each parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "pt/args.h"
#include "pt/bindaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	struct sf_pt_options opts = {0};
	char err[SF_ERR_MAX] = "";
	if (sf_pt_options_parse(s, &opts, err, sizeof err) == 0) {
		if (err[0])
			__builtin_trap();
		for (size_t i = 0; i < opts.n; i++) {
			const struct sf_pt_args *a = opts.v[i].args;
			for (size_t j = 0; j < a->n; j++)
				if (a->v[j].n_values == 0 ||
				    sf_pt_args_find(a, a->v[j].key) != &a->v[j])
					__builtin_trap();
		}
		if (opts.n > 0) {
			struct sf_pt_args *taken = sf_pt_options_take(&opts, opts.v[0].method);
			if (!taken)
				__builtin_trap();
			sf_pt_args_free(taken);
		}
		sf_pt_options_clear(&opts);
	} else {
		if (opts.n != 0 || !err[0])
			__builtin_trap(); /* a failure always says why */
	}

	int n = 0;
	char nerr[128];
	if (sf_pt_parse_num_turbotunnel(s, &n, nerr, sizeof nerr) == 0 && n < 1)
		__builtin_trap();

	struct sockaddr_storage ss;
	socklen_t len = 0;
	char text[SF_PT_ADDR_TEXT_MAX];
	err[0] = '\0';
	if (sf_pt_resolve_addr(s, &ss, &len, text, err, sizeof err) == 0) {
		if (err[0] || len > sizeof ss)
			__builtin_trap();
		/* What Go prints resolves again to the same text. */
		char again[SF_PT_ADDR_TEXT_MAX];
		struct sockaddr_storage ss2;
		socklen_t len2 = 0;
		if (sf_pt_resolve_addr(text, &ss2, &len2, again, err, sizeof err) != 0 ||
		    strcmp(text, again) != 0)
			__builtin_trap();
	} else if (!err[0]) {
		__builtin_trap();
	}
	free(s);
	return 0;
}
