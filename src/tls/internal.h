/* Shared between the files of src/tls; not part of the API. */
#ifndef SF_TLS_INTERNAL_H
#define SF_TLS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "tls/hello.h"
#include "tls/record.h"
#include "tls/tls.h"

/* A handshake suspended until its certificate is published (see wait.c). */
struct sf_tls_waiter {
	struct sf_tls_waiter *prev, *next;
	char name[SF_TLS_NAME_BUF];
	int wake_fd;	/* eventfd written by sf_tls_resume(); -1 until first needed */
	bool linked;
};

struct sf_tls_ctx {
	SSL_CTX *ssl;
	char **hosts;
	size_t n_hosts;
	sf_tls_lookup_fn lookup;
	sf_tls_challenge_fn challenge;
	void *store;
	bool quiet;
	bool openssl_records;
	struct sf_tls_table *challenges;

	pthread_mutex_t wait_lock;
	struct sf_tls_waiter *waiters;
	size_t n_waiters;
	atomic_uint_fast64_t wake_gen;	/* bumped by each sf_tls_resume(), under wait_lock */
};

/* What the ClientHello callback tells the handshake driver; hung on the SSL* as ex_data. */
struct sf_tls_hs_state {
	char reason[320];	/* why the callback failed the handshake, "" if it did not */
	bool acme;		/* a challenge certificate was installed: select acme-tls/1 */
	struct sf_tls_waiter waiter;
};

/* ex_data index of the struct sf_tls_hs_state on an SSL*; -1 if OpenSSL refused one. */
int sf_tls_hs_index(void);

/* Installs the ClientHello and ALPN callbacks on ctx->ssl. */
void sf_tls_select_install(struct sf_tls_ctx *ctx);

/* A socket BIO that never raises SIGPIPE and never closes fd (bio.c). */
BIO *sf_tls_bio_new(int fd);

/* The state of that BIO, for the transport (transport.c). */
struct sf_tls_io {
	int fd;
	/* While corked, written records are appended here (lent by the caller) instead of sent. */
	uint8_t *cork;
	size_t cork_len, cork_cap;
	/* Ciphertext the socket refused, sent before anything else; NULL when empty. */
	uint8_t *unsent;
	size_t unsent_off, unsent_len, unsent_cap;
	/* OpenSSL's read-ahead buffer may hold whole records no socket event will announce: set
	 * when a read stopped before the socket said EAGAIN. */
	bool maybe_more;
	/* A read that returned data met EOF or an error: told on the next read. */
	bool deferred;
	ssize_t deferred_rc;
	int deferred_errno;
	/* send(2) and recv(2) calls made, for tests and diagnostics. */
	unsigned long sends, recvs;
};

/* The sf_tls_io under ssl's BIO, or NULL if ssl does not use this BIO. */
struct sf_tls_io *sf_tls_io_of(SSL *ssl);
/* Takes the sf_tls_io from under ssl's BIO (the BIO keeps none): for the record layer, which
 * outlives the SSL*. NULL if ssl does not use this BIO. */
struct sf_tls_io *sf_tls_io_take(SSL *ssl);
/* A bare one, on fd (the record layer without a handshake: tests and fuzzing). NULL if no memory. */
struct sf_tls_io *sf_tls_io_new(int fd);
void sf_tls_io_free(struct sf_tls_io *io);
size_t sf_tls_io_unsent(const struct sf_tls_io *io);
/* Plaintext either transport seals per writev, all of it then sent with one send(2). */
#define SF_TLS_WRITE_BUDGET (8 * SF_TLS_REC_MAX_PLAIN)
/* A record's ciphertext exceeds its plaintext by less than this (header, AEAD tag, TLS 1.3
 * content type, OpenSSL's TLS 1.2 explicit nonce). */
#define SF_TLS_RECORD_SLACK 1024
/* The cork buffer: a writev's records, and room for one record more. */
#define SF_TLS_CORK_CAP (SF_TLS_WRITE_BUDGET + 2 * SF_TLS_RECORD_SLACK)
/* Corks io: records written until sf_tls_io_uncork() are appended to this thread's cork buffer
 * (SF_TLS_CORK_CAP bytes), which is returned. One per thread serves every connection, as nothing
 * stays in it between calls: what the socket refuses moves to io's own queue. */
uint8_t *sf_tls_io_cork(struct sf_tls_io *io);
/* Sends what was corked with one send(2), queueing what the socket refuses. Returns 0, or -1 with
 * errno set (fatal). */
int sf_tls_io_uncork(struct sf_tls_io *io);
/* The same after the caller sealed len bytes into the cork buffer itself (the record layer). */
int sf_tls_io_uncork_sealed(struct sf_tls_io *io, size_t len);
/* Uncorks sending nothing: what was corked is dropped (sealing failed half-way). */
void sf_tls_io_uncork_drop(struct sf_tls_io *io);
/* Sends the queue: 0 once it is empty, SF_CONN_WANT_WRITE, or -1 with errno set. */
ssize_t sf_tls_io_flush(struct sf_tls_io *io);

/* The record layer's connection (record_conn.c): takes io; the secrets are the client's and the
 * server's application traffic secrets (secret_len bytes each, the suite's hash length).
 * NULL on failure (io is then still the caller's). */
struct sf_tls_rec;
struct sf_tls_rec *sf_tls_rec_new(struct sf_tls_io *io, uint16_t suite, const uint8_t *client_secret,
				  const uint8_t *server_secret, size_t secret_len);
extern const struct sf_conn_transport sf_tls_record_transport;
/* The sf_tls_io under either TLS transport's context (for tests and diagnostics), or NULL. */
struct sf_tls_io *sf_tls_transport_io(const struct sf_conn_transport *tr, void *tr_ctx);

/* Handoff (handoff.c): installs the key-log capture on the context; attaches the per-connection
 * secret store to ssl (0, or -1 on allocation failure). */
void sf_tls_handoff_install(SSL_CTX *ctx);
int sf_tls_handoff_prepare(SSL *ssl);

/* Queues w under name, after a lookup that began when wake_gen was gen. If a resume happened
 * since, w's eventfd is written at once instead, so that no wake-up is lost. Returns 0, or -1 if
 * too many handshakes wait or no eventfd could be made. */
int sf_tls_wait(struct sf_tls_ctx *ctx, struct sf_tls_waiter *w, const char *name, uint64_t gen);
/* Dequeues w if queued and closes its eventfd. */
void sf_tls_wait_done(struct sf_tls_ctx *ctx, struct sf_tls_waiter *w);

#endif
