#include "tls/cert.h"

#include "tls/hello.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_KEY_MAX (SF_TLS_NAME_MAX + 4)	/* room for "+rsa" */

struct sf_tls_cert {
	atomic_uint refs;
	EVP_PKEY *key;
	X509 *leaf;
	STACK_OF(X509) *chain;
};

struct sf_tls_cert *sf_tls_cert_new(EVP_PKEY *key, X509 *leaf, STACK_OF(X509) *intermediates)
{
	if (!key || !leaf || X509_check_private_key(leaf, key) != 1)
		return NULL;
	struct sf_tls_cert *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->chain = intermediates ? X509_chain_up_ref(intermediates) : sk_X509_new_null();
	if (!c->chain) {
		free(c);
		return NULL;
	}
	EVP_PKEY_up_ref(key);
	X509_up_ref(leaf);
	c->key = key;
	c->leaf = leaf;
	atomic_init(&c->refs, 1);
	return c;
}

struct sf_tls_cert *sf_tls_cert_ref(struct sf_tls_cert *cert)
{
	atomic_fetch_add_explicit(&cert->refs, 1, memory_order_relaxed);
	return cert;
}

void sf_tls_cert_unref(struct sf_tls_cert *cert)
{
	if (!cert || atomic_fetch_sub_explicit(&cert->refs, 1, memory_order_acq_rel) != 1)
		return;
	EVP_PKEY_free(cert->key);
	X509_free(cert->leaf);
	sk_X509_pop_free(cert->chain, X509_free);
	free(cert);
}

X509 *sf_tls_cert_leaf(const struct sf_tls_cert *cert)
{
	return cert->leaf;
}

EVP_PKEY *sf_tls_cert_key(const struct sf_tls_cert *cert)
{
	return cert->key;
}

STACK_OF(X509) *sf_tls_cert_chain(const struct sf_tls_cert *cert)
{
	return cert->chain;
}

bool sf_tls_cert_is_rsa(const struct sf_tls_cert *cert)
{
	return EVP_PKEY_get_base_id(cert->key) == EVP_PKEY_RSA;
}

/* ---- table ---- */

struct entry {
	char key[TABLE_KEY_MAX + 1];
	struct sf_tls_cert *cert;
};

struct sf_tls_table {
	pthread_mutex_t lock;
	size_t n, cap;
	struct entry *entries;
};

struct sf_tls_table *sf_tls_table_new(size_t cap)
{
	struct sf_tls_table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->entries = calloc(cap ? cap : 1, sizeof *t->entries);
	if (!t->entries) {
		free(t);
		return NULL;
	}
	t->cap = cap;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void sf_tls_table_free(struct sf_tls_table *table)
{
	if (!table)
		return;
	for (size_t i = 0; i < table->n; i++)
		sf_tls_cert_unref(table->entries[i].cert);
	pthread_mutex_destroy(&table->lock);
	free(table->entries);
	free(table);
}

static struct entry *find(struct sf_tls_table *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->entries[i].key, key) == 0)
			return &t->entries[i];
	return NULL;
}

int sf_tls_table_put(struct sf_tls_table *table, const char *key, struct sf_tls_cert *cert)
{
	if (strlen(key) > TABLE_KEY_MAX)
		return -1;
	struct sf_tls_cert *old = NULL;
	int rc = 0;
	pthread_mutex_lock(&table->lock);
	struct entry *e = find(table, key);
	if (e && cert) {
		old = e->cert;
		e->cert = sf_tls_cert_ref(cert);
	} else if (e) {
		old = e->cert;
		*e = table->entries[--table->n];
	} else if (cert && table->n < table->cap) {
		e = &table->entries[table->n++];
		snprintf(e->key, sizeof e->key, "%s", key);
		e->cert = sf_tls_cert_ref(cert);
	} else if (cert) {
		rc = -1;
	}
	pthread_mutex_unlock(&table->lock);
	sf_tls_cert_unref(old);
	return rc;
}

struct sf_tls_cert *sf_tls_table_get(struct sf_tls_table *table, const char *key)
{
	struct sf_tls_cert *cert = NULL;
	pthread_mutex_lock(&table->lock);
	struct entry *e = find(table, key);
	if (e)
		cert = sf_tls_cert_ref(e->cert);
	pthread_mutex_unlock(&table->lock);
	return cert;
}

struct sf_tls_cert *sf_tls_table_lookup(void *table, const char *name, bool want_rsa,
					bool *pending)
{
	char key[TABLE_KEY_MAX + 1];
	*pending = false;
	if (snprintf(key, sizeof key, "%s%s", name, want_rsa ? "+rsa" : "") >= (int)sizeof key)
		return NULL;
	return sf_tls_table_get(table, key);
}
