/* Shared by manager.c (tables, lookups), worker.c (the ACME thread) and challenge.c. */
#ifndef SF_ACME_MANAGER_INT_H
#define SF_ACME_MANAGER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "acme/manager.h"

#define MANAGER_NAME_MAX 254
#define MANAGER_MAX_CHALLENGES 8 /* published at once; one issuance at a time needs 1 */

/* One (name, key type): autocert's certState + domainRenewal. */
struct entry {
	char name[MANAGER_NAME_MAX];
	enum sf_acme_cert_kind kind;
	struct sf_acme_cert *cert; /* in service; NULL until obtained */
	bool queued;               /* waiting in the job queue */
	bool busy;                 /* the worker is on it */
	uint64_t fail_until_ms;    /* lookups fail fast until then */
	char error[1400];
	uint64_t renew_at_ms;      /* 0: no renewal timer */
};

struct http_token {
	char token[260];
	char *key_authorization;
};

struct token_cert {
	char name[MANAGER_NAME_MAX];
	struct sf_acme_cert *cert;
};

struct sf_acme_manager {
	struct sf_acme_manager_config cfg; /* strings below are private copies */
	char *cache_dir;
	char *directory_url, *ca_file, *email, *user_agent;
	char *hosts[SF_ACME_MAX_HOSTS];
	size_t n_hosts;
	const char *types[3];

	pthread_mutex_t lock;
	pthread_cond_t wake; /* worker: a job or stop */
	pthread_cond_t done; /* waiters: an entry changed */
	struct entry *entries; /* 2 per host: [2i] EC, [2i+1] RSA */
	size_t n_entries;
	size_t *queue; /* ring of entry indexes, capacity n_entries */
	size_t q_head, q_len;
	struct http_token tokens[MANAGER_MAX_CHALLENGES];
	struct token_cert token_certs[MANAGER_MAX_CHALLENGES];

	pthread_t worker;
	bool started;
	atomic_bool stop;
	atomic_bool reload; /* sf_acme_manager_reload: the worker re-reads the cache */
	/* worker thread only */
	EVP_PKEY *account_key;
	struct sf_acme_client *client;
};

/* challenge.c */
extern const struct sf_acme_challenge_ops sf_acme_manager_challenge_ops;
void sf_acme_manager_challenges_clear(struct sf_acme_manager *m);

/* manager.c */
/* Re-reads every entry's cached certificate; one that differs from the certificate in service
 * replaces it (published, renewal timer reset). Returns how many were replaced. Reads files:
 * worker thread only. */
unsigned sf_acme_manager_reload_cache(struct sf_acme_manager *m);

/* worker.c */
void *sf_acme_manager_worker(void *arg);
/* Delay until NotAfter − renew_before − U[0, jitter), never negative. */
uint64_t sf_acme_manager_renew_delay_ms(const struct sf_acme_manager *m, time_t not_after);
uint64_t sf_acme_random_below(uint64_t n);

#endif
