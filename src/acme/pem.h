/* PEM exactly as Go's encoding/pem writes and reads it, so that cache files are byte-identical
 * to the Go server's and are judged the same way ("leftover garbage" included). */
#ifndef SF_ACME_PEM_H
#define SF_ACME_PEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"

/* pem.Encode: "-----BEGIN <type>-----\n", standard padded base64 in 64-column lines each
 * ending in "\n", "-----END <type>-----\n". */
int sf_acme_pem_append(struct sf_strbuf *b, const char *type, const uint8_t *der, size_t len);

/* pem.Decode from data[*pos..len): skips any text before the next well-formed block (headers
 * allowed and ignored), returns 1 with the type (NUL-ended, truncated to typecap) and the decoded
 * bytes (*der malloc'd) and moves *pos past the END line; returns 0 and leaves *pos alone when
 * no block follows; -1 when out of memory. */
int sf_acme_pem_next(const char *data, size_t len, size_t *pos, char *type, size_t typecap,
		     uint8_t **der, size_t *der_len);

#endif
