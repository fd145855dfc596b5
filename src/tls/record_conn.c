/* sf_conn transport over our own TLS 1.3 record layer (record.h), once OpenSSL has finished the
 * handshake and been freed (handoff.c).
 *
 * Reads: one recv(2) of up to a chunk into a per-thread buffer, every whole record opened in place
 * and its plaintext copied to the caller. What does not fit waits in a per-connection carry buffer
 * (allocated only then, freed once empty): at most one record's plaintext remainder and the
 * ciphertext after it (a record whose whole plaintext fits the caller's room is decrypted straight
 * into it). Writes: the caller's bytes are encrypted straight from its iovecs into full-size
 * records in a per-thread buffer and sent with one send(2); what the socket refuses waits in
 * the connection's queue (bio.c's sf_tls_io). An idle connection holds no buffer.
 *
 * After the handshake a client may send application data, alerts (close_notify ends the stream;
 * any other alert is fatal, user_canceled aside) and KeyUpdate; anything else is a protocol error
 * (EPROTO), as is a record that fails authentication, and more than EMPTY_RECORDS_MAX records in a
 * row without content. */
#include "tls/internal.h"
#include "tls/record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/conn.h"

/* Bytes read from the socket at a time: the plain path's SF_CONN_READ_CHUNK, plus room for the
 * partial record carried from the last read. */
#define READ_CHUNK 65536
#define RX_BUF (READ_CHUNK + SF_TLS_REC_MAX)
/* rec_writev seals a whole budget into the cork buffer. */
_Static_assert(SF_TLS_CORK_CAP >= SF_TLS_WRITE_BUDGET +
			  SF_TLS_WRITE_BUDGET / SF_TLS_REC_MAX_PLAIN * SF_TLS_REC_OVERHEAD,
	       "cork buffer too small for a write budget's records");
/* KeyUpdates accepted: this many, plus one per MiB received (a peer asking for new keys on every
 * record would cost us three HKDFs and a cipher set-up per 27 bytes). */
/* Records in a row that carry no application byte (empty or padding only): as OpenSSL's
 * MAX_EMPTY_RECORDS, a peer may not make us open them forever for nothing. */
#define EMPTY_RECORDS_MAX 32
#define KEY_UPDATES_FREE 8
#define KEY_UPDATE_BYTES (1u << 20)

enum { HS_KEY_UPDATE = 24, ALERT_CLOSE_NOTIFY = 0, ALERT_USER_CANCELED = 90 };

struct sf_tls_rec {
	struct sf_tls_io *io;
	struct sf_tls_aead rx, tx;
	/* [plain_off, plain_off + plain_len): plaintext not yet handed over; then cipher_len bytes
	 * of ciphertext not yet opened. */
	uint8_t *carry;
	size_t plain_off, plain_len, cipher_len;
	/* A read that returned data met EOF or an error: told on the next read. */
	bool deferred;
	ssize_t deferred_rc;
	int deferred_errno;
	bool peer_eof;		/* recv(2) returned 0: no more reads, what is carried goes first */
	uint64_t received;	/* ciphertext bytes read, for the KeyUpdate allowance */
	unsigned key_updates;
	unsigned empty_records;	/* in a row */
};

/* The carry holds a whole record (or a header no record may have: its error is still to come). */
static bool carried_record(const struct sf_tls_rec *r)
{
	long rl = sf_tls_record_len(r->carry ? r->carry + r->plain_off + r->plain_len : NULL,
				    r->cipher_len);
	return rl < 0 || (rl > 0 && (size_t)rl <= r->cipher_len);
}

static _Thread_local uint8_t rx_buf[RX_BUF];

struct sf_tls_rec *sf_tls_rec_new(struct sf_tls_io *io, uint16_t suite, const uint8_t *client_secret,
				  const uint8_t *server_secret, size_t secret_len)
{
	struct sf_tls_rec *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	if (sf_tls_aead_init(&r->rx, suite, client_secret, secret_len, false) < 0 ||
	    sf_tls_aead_init(&r->tx, suite, server_secret, secret_len, true) < 0) {
		sf_tls_aead_clear(&r->rx);
		sf_tls_aead_clear(&r->tx);
		free(r);
		return NULL;
	}
	r->io = io;
	return r;
}

struct sf_tls_io *sf_tls_transport_io(const struct sf_conn_transport *tr, void *tr_ctx)
{
	if (tr == &sf_tls_record_transport)
		return ((struct sf_tls_rec *)tr_ctx)->io;
	if (tr == &sf_tls_transport)
		return sf_tls_io_of(tr_ctx);
	return NULL;
}

static void rec_free(void *ctx)
{
	struct sf_tls_rec *r = ctx;
	sf_tls_io_free(r->io);
	sf_tls_aead_clear(&r->rx);
	sf_tls_aead_clear(&r->tx);
	free(r->carry);
	free(r);
}

/* Replaces the carry with plaintext p (pn bytes) then ciphertext c (cn bytes). Returns false on
 * allocation failure. */
static bool set_carry(struct sf_tls_rec *r, const uint8_t *p, size_t pn, const uint8_t *c, size_t cn)
{
	free(r->carry);
	r->carry = NULL;
	r->plain_off = r->plain_len = r->cipher_len = 0;
	if (pn + cn == 0)
		return true;
	if (!(r->carry = malloc(pn + cn)))
		return false;
	if (pn)
		memcpy(r->carry, p, pn);
	if (cn)
		memcpy(r->carry + pn, c, cn);
	r->plain_len = pn;
	r->cipher_len = cn;
	return true;
}

/* Sends a KeyUpdate(update_not_requested) under the current keys, then moves to the next ones.
 * Goes behind anything already queued. Returns 0 or -1 (errno set). */
static int answer_key_update(struct sf_tls_rec *r)
{
	uint8_t *rec = sf_tls_io_cork(r->io);
	uint8_t *m = rec + SF_TLS_REC_HEADER;
	m[0] = HS_KEY_UPDATE;
	m[1] = 0;
	m[2] = 0;
	m[3] = 1;
	m[4] = 0;
	size_t n = sf_tls_seal(&r->tx, SF_TLS_CT_HANDSHAKE, rec, 5);
	if (n == 0 || sf_tls_aead_update(&r->tx) < 0) {
		sf_tls_io_uncork_drop(r->io);
		errno = EPROTO;
		return -1;
	}
	return sf_tls_io_uncork_sealed(r->io, n);
}

/* Post-handshake handshake messages: only KeyUpdate (no post-handshake authentication is asked
 * for, and a client sends no tickets). Each must be whole in its record. 0 or -1 (errno set). */
static int on_handshake(struct sf_tls_rec *r, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (n < 4 || p[0] != HS_KEY_UPDATE || p[1] != 0 || p[2] != 0 || p[3] != 1 || n < 5 ||
		    p[4] > 1) {
			errno = EPROTO;
			return -1;
		}
		if (++r->key_updates > KEY_UPDATES_FREE + r->received / KEY_UPDATE_BYTES) {
			errno = EPROTO;
			return -1;
		}
		if (sf_tls_aead_update(&r->rx) < 0 || (p[4] == 1 && answer_key_update(r) < 0)) {
			if (errno == 0)
				errno = EPROTO;
			return -1;
		}
		p += 5;
		n -= 5;
	}
	return 0;
}

/* The end of a read: data first, EOF or the error on the next call. */
static ssize_t finish(struct sf_tls_rec *r, size_t got, ssize_t end, int err)
{
	if (got == 0) {
		errno = err;
		return end;
	}
	r->deferred = true;
	r->deferred_rc = end;
	r->deferred_errno = err;
	return (ssize_t)got;
}

static ssize_t rec_read(void *ctx, int fd, void *buf, size_t len)
{
	struct sf_tls_rec *r = ctx;
	if (r->deferred) {
		r->deferred = false;
		errno = r->deferred_errno;
		return r->deferred_rc;
	}
	uint8_t *out = buf;
	size_t got = 0;
	if (r->plain_len > 0) {
		size_t n = r->plain_len < len ? r->plain_len : len;
		memcpy(out, r->carry + r->plain_off, n);
		r->plain_off += n;
		r->plain_len -= n;
		got = n;
		if (r->plain_len > 0)
			return (ssize_t)got;
	}
	size_t have = r->cipher_len;
	if (have > 0)
		memcpy(rx_buf, r->carry + r->plain_off, have);
	set_carry(r, NULL, 0, NULL, 0);

	/* One recv of at most what fits the caller plus one record: a slow owner is not made to
	 * hold a chunk of ciphertext in the carry. None once the peer has closed its side. */
	int err = 0;
	bool eof = false;	/* close_notify */
	size_t want = RX_BUF - have;
	if (want > len - got + SF_TLS_REC_MAX)
		want = len - got + SF_TLS_REC_MAX;
	if (!r->peer_eof && want > 0) {
		r->io->recvs++;
		ssize_t n = recv(fd, rx_buf + have, want, 0);
		if (n > 0) {
			have += (size_t)n;
			r->received += (uint64_t)n;
		} else if (n == 0) {
			r->peer_eof = true;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			err = errno;
		}
	}

	size_t off = 0;
	const uint8_t *rest = NULL;	/* plaintext that did not fit */
	size_t rest_len = 0;
	while (!err && !eof && got < len) {
		long rl = sf_tls_record_len(rx_buf + off, have - off);
		if (rl == 0 || (rl > 0 && (size_t)rl > have - off))
			break;
		if (rl < 0) {
			err = EPROTO;
			break;
		}
		/* Straight into the caller's buffer when the whole inner plaintext fits there (it
		 * may hold the content type and padding past what is handed over), else in place. */
		uint8_t *rec = rx_buf + off;
		bool direct = (size_t)rl - SF_TLS_REC_HEADER - SF_TLS_REC_TAG <= len - got;
		uint8_t *p = direct ? out + got : rec + SF_TLS_REC_HEADER;
		uint8_t type = 0;
		size_t plen = 0;
		if (sf_tls_open_to(&r->rx, rec, (size_t)rl, p, &type, &plen) < 0) {
			err = EPROTO;
			break;
		}
		off += (size_t)rl;
		if (type == SF_TLS_CT_APPLICATION_DATA && plen == 0 &&
		    ++r->empty_records > EMPTY_RECORDS_MAX) {
			err = EPROTO;
			break;
		}
		if (plen > 0)
			r->empty_records = 0;
		if (type == SF_TLS_CT_APPLICATION_DATA && direct) {
			got += plen;
		} else if (type == SF_TLS_CT_APPLICATION_DATA) {
			size_t take = plen < len - got ? plen : len - got;
			memcpy(out + got, p, take);
			got += take;
			rest = p + take;
			rest_len = plen - take;
		} else if (type == SF_TLS_CT_ALERT && plen == 2 && p[1] == ALERT_CLOSE_NOTIFY) {
			eof = true;
		} else if (type == SF_TLS_CT_ALERT && plen == 2 && p[1] == ALERT_USER_CANCELED) {
			continue;
		} else if (type == SF_TLS_CT_HANDSHAKE) {
			if (on_handshake(r, p, plen) < 0)
				err = errno;
		} else {
			err = type == SF_TLS_CT_ALERT ? ECONNRESET : EPROTO;
		}
	}
	if (err)
		return finish(r, got, -1, err);
	if (eof)
		return finish(r, got, 0, 0);
	if (!set_carry(r, rest, rest_len, rx_buf + off, have - off))
		return finish(r, got, -1, ENOMEM);
	if (r->peer_eof && r->plain_len == 0 && !carried_record(r))
		/* the socket's EOF once every whole record is out (a partial one is dropped, as
		 * OpenSSL does with SSL_OP_IGNORE_UNEXPECTED_EOF) */
		return finish(r, got, 0, 0);
	if (got == 0) {
		errno = EAGAIN;
		return SF_CONN_WANT_READ;
	}
	return (ssize_t)got;
}

/* Seals up to SF_TLS_WRITE_BUDGET bytes of iov into full records and sends them with one send(2).
 * Returns the plaintext taken (what the socket refused waits in the queue), SF_CONN_WANT_WRITE
 * while that queue cannot drain, or -1. */
static ssize_t rec_writev(void *ctx, int fd, const struct iovec *iov, int iovcnt)
{
	(void)fd;
	struct sf_tls_rec *r = ctx;
	ssize_t rc = sf_tls_io_flush(r->io);
	if (rc != 0)
		return rc;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > SF_TLS_WRITE_BUDGET)
		total = SF_TLS_WRITE_BUDGET;
	if (total == 0)
		return 0;
	uint8_t *sealed = sf_tls_io_cork(r->io);
	size_t done = 0, len = 0;
	while (done < total) {
		size_t n = total - done < SF_TLS_REC_MAX_PLAIN ? total - done : SF_TLS_REC_MAX_PLAIN;
		size_t rl = sf_tls_seal_iov(&r->tx, SF_TLS_CT_APPLICATION_DATA, iov, iovcnt, done, n,
					    sealed + len);
		if (rl == 0) {
			sf_tls_io_uncork_drop(r->io);
			errno = EPROTO;
			return -1;
		}
		len += rl;
		done += n;
	}
	if (sf_tls_io_uncork_sealed(r->io, len) < 0)
		return -1;
	return (ssize_t)done;
}

static size_t rec_pending(void *ctx)
{
	struct sf_tls_rec *r = ctx;
	/* peer_eof: the EOF itself is still to be told */
	return r->deferred || r->plain_len > 0 || r->peer_eof || carried_record(r) ? 1 : 0;
}

static size_t rec_unsent(void *ctx)
{
	struct sf_tls_rec *r = ctx;
	return sf_tls_io_unsent(r->io);
}

static ssize_t rec_flush(void *ctx, int fd)
{
	(void)fd;
	struct sf_tls_rec *r = ctx;
	return sf_tls_io_flush(r->io);
}

const struct sf_conn_transport sf_tls_record_transport = {
	.read = rec_read,
	.writev = rec_writev,
	.pending = rec_pending,
	.unsent = rec_unsent,
	.flush = rec_flush,
	.free = rec_free,
};
