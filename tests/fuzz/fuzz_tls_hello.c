/* The ClientHello fields the certificate choice reads (src/tls/hello.c): server_name, ALPN,
 * signature_algorithms, supported_groups and cipher suites, all sent by the client.
 * Input: three length bytes (sigalgs, groups, ciphers sizes), those three fields, then the rest
 * is used both as the server_name extension and as the ALPN list. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/err.h"
#include "tls/hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t lens[3] = {data[0], data[1], data[2]};
	const uint8_t *p = data + 3;
	size_t left = size - 3;
	const uint8_t *field[3];
	for (int i = 0; i < 3; i++) {
		if (lens[i] > left)
			lens[i] = left;
		field[i] = p;
		p += lens[i];
		left -= lens[i];
	}
	/* A zero length stands for an absent extension (NULL), as OpenSSL reports it. */
	int rsa = sf_tls_hello_wants_rsa(lens[0] ? field[0] : NULL, lens[0],
					 lens[1] ? field[1] : NULL, lens[1], field[2], lens[2]);
	if (rsa < -1 || rsa > 1)
		__builtin_trap();

	char name[SF_TLS_NAME_BUF];
	int sni = sf_tls_hello_sni(p, left, name, sizeof name);
	if (sni == 1) {
		if (strlen(name) >= sizeof name)
			__builtin_trap();
		(void)sf_hostname_normalize(name, name, sizeof name, false, NULL, 0);
		char why[SF_ERR_MAX] = "";
		int rc = sf_hostname_normalize(name, name, sizeof name, true, why, sizeof why);
		if (rc == 0 && strlen(name) > SF_TLS_NAME_MAX)
			__builtin_trap();
		if (rc < 0 && !why[0])
			__builtin_trap(); /* a refusal always says why */
	} else if (sni != 0 && sni != -1) {
		__builtin_trap();
	}
	int acme = sf_tls_alpn_acme_only(p, left);
	if (acme < -1 || acme > 1)
		__builtin_trap();
	return 0;
}
