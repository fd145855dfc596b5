/* autocert cache entries as files (src/acme/cache.c and cert.c): the certificate entry
 * "<domain>" (key block, then CERTIFICATE blocks, nothing left over), its validity checks, and
 * the account key entry. A file written by another program, or damaged, must never be trusted
 * blindly nor crash the server. Input: the file's contents. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acme/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define NAME "snowflake.example.org"

static char dir[64]; /* a private cache directory, removed at exit */

/* A plain write: sf_acme_cache_put's fsync would make every input cost milliseconds. */
static int write_file(const char *name, const uint8_t *data, size_t size)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = size ? fwrite(data, 1, size, f) : 0;
	return fclose(f) == 0 && n == size ? 0 : -1;
}

static void remove_dir(void)
{
	char err[256];
	sf_acme_cache_delete(dir, "acme_account+key", err, sizeof err);
	sf_acme_cache_delete(dir, NAME, err, sizeof err);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* tmpfs when there is one: a disk-backed /tmp costs a millisecond per input. */
	snprintf(dir, sizeof dir, "/dev/shm/sf-fuzz-acme-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof dir, "/tmp/sf-fuzz-acme-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	atexit(remove_dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	/* Parsed from memory, checked for every kind, written back as Go would write it. */
	struct sf_acme_cert *c = NULL;
	if (sf_acme_cert_from_pem((const char *)data, size, &c, err, sizeof err) == 0) {
		if (!c || !c->key || sk_X509_num(c->chain) < 1)
			__builtin_trap();
		for (int kind = SF_ACME_CERT_EC; kind <= SF_ACME_CERT_TOKEN; kind++)
			(void)sf_acme_cert_check(c, NAME, (enum sf_acme_cert_kind)kind, 1780000000,
						 err, sizeof err);
		char *pem = NULL;
		size_t pem_len = 0;
		if (sf_acme_cert_to_pem(c, &pem, &pem_len) == 0) {
			struct sf_acme_cert *again = NULL;
			if (sf_acme_cert_from_pem(pem, pem_len, &again, err, sizeof err) != 0)
				__builtin_trap(); /* what we write we read back */
			sf_acme_cert_free(again);
			free(pem);
		}
		sf_acme_cert_free(c);
	}
	/* The same bytes as the files the cache loaders read. */
	if (write_file(NAME, data, size) != 0 || write_file("acme_account+key", data, size) != 0)
		abort(); /* /tmp full: not a finding */
	struct sf_acme_cert *cached = NULL;
	if (sf_acme_cache_read_cert(dir, NAME, SF_ACME_CERT_EC, 1780000000, &cached, err,
				    sizeof err) == 0)
		sf_acme_cert_free(cached);
	EVP_PKEY *key = NULL;
	if (sf_acme_cache_read_account_key(dir, &key, err, sizeof err) == 0)
		EVP_PKEY_free(key);
	return 0;
}
