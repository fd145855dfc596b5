/* Go-compatible PEM decoding (src/acme/pem.c) and the certificate chain a CA sends
 * (sf_acme_parse_pem_chain in src/acme/client.c). Input: PEM text, any bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "acme/client.h"
#include "acme/pem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t pos = 0;
	for (int blocks = 0;; blocks++) {
		char type[64];
		uint8_t *der = NULL;
		size_t der_len = 0, before = pos;
		int rc = sf_acme_pem_next(text, size, &pos, type, sizeof type, &der, &der_len);
		if (rc != 1) {
			if (rc == 0 && pos != before)
				__builtin_trap();
			break;
		}
		if (pos <= before || pos > size || strlen(type) >= sizeof type)
			__builtin_trap();
		/* Encoding the block again and decoding that gives the same bytes back. */
		struct sf_strbuf b;
		sf_strbuf_init(&b, 4 * size + 256);
		if (sf_acme_pem_append(&b, type, der, der_len) == 0) {
			size_t p2 = 0;
			char type2[64];
			uint8_t *der2 = NULL;
			size_t der2_len = 0;
			if (sf_acme_pem_next(b.data, b.len, &p2, type2, sizeof type2, &der2,
					     &der2_len) != 1 ||
			    der2_len != der_len || (der_len && memcmp(der, der2, der_len)) ||
			    strcmp(type, type2))
				__builtin_trap();
			free(der2);
		}
		sf_strbuf_free(&b);
		free(der);
	}
	STACK_OF(X509) *chain = sf_acme_parse_pem_chain(text, size);
	if (chain) {
		if (sk_X509_num(chain) < 1)
			__builtin_trap();
		sk_X509_pop_free(chain, X509_free);
	}
	return 0;
}
