/* Our TLS 1.3 record layer (src/tls/record.h, record_conn.c, handoff.c).
 *
 * Sans-I/O: the key schedule against OpenSSL's own TLS 1.3 KDF, seal/open round trips for the
 * three suites, and every way a record may be refused. Over a socket, against a real OpenSSL
 * client: echo across a KeyUpdate the client requests (the client must accept our answer and the
 * records after it), close_notify as EOF, a KeyUpdate flood and a non-record closed as protocol
 * errors, and a TLS 1.2 connection left on OpenSSL's record layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "net/conn.h"
#include "tls/internal.h"
#include "tls/record.h"
#include "tls_test_util.h"

#define NAME "example.com"
#define ECHO_TOTAL 100000

static const uint16_t all_suites[] = { 0x1301, 0x1302, 0x1303 };

static uint8_t pattern_at(size_t i)
{
	return (uint8_t)(i * 131u + (i >> 11));
}

static void fill_secret(uint8_t *s, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		s[i] = (uint8_t)(seed + i * 7);
}

/* ---- sans-I/O ---- */

/* OpenSSL's TLS13-KDF (its own HkdfLabel construction) as the reference for ours. */
static void reference_label(uint16_t suite, const uint8_t *secret, size_t n, const char *label,
			    uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
	assert_non_null(kdf);
	EVP_KDF_CTX *k = EVP_KDF_CTX_new(kdf);
	assert_non_null(k);
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						 suite == 0x1302 ? "SHA384" : "SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, n),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, "tls13 ", 6),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)label, strlen(label)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, (void *)"", 0),
		OSSL_PARAM_construct_end(),
	};
	assert_int_equal(EVP_KDF_derive(k, out, out_len, params), 1);
	EVP_KDF_CTX_free(k);
	EVP_KDF_free(kdf);
}

static void test_expand_label_matches_openssl(void **state)
{
	(void)state;
	const char *labels[] = { "key", "iv", "traffic upd" };
	for (size_t s = 0; s < 3; s++) {
		uint16_t suite = all_suites[s];
		size_t n = sf_tls_suite_hash_len(suite);
		assert_true(n == 32 || n == 48);
		uint8_t secret[SF_TLS_SECRET_MAX];
		fill_secret(secret, n, (uint8_t)s);
		for (size_t l = 0; l < 3; l++) {
			size_t out_len = l == 0 ? (suite == 0x1301 ? 16 : 32) : l == 1 ? 12 : n;
			uint8_t ours[48], ref[48];
			assert_int_equal(sf_tls_expand_label(suite, secret, n, labels[l], ours, out_len), 0);
			reference_label(suite, secret, n, labels[l], ref, out_len);
			assert_memory_equal(ours, ref, out_len);
		}
	}
	assert_false(sf_tls_suite_supported(0x1304));	/* AES-128-CCM: not implemented */
	assert_int_equal(sf_tls_suite_hash_len(0x1304), 0);
}

static void pair(uint16_t suite, struct sf_tls_aead *tx, struct sf_tls_aead *rx)
{
	uint8_t secret[SF_TLS_SECRET_MAX];
	size_t n = sf_tls_suite_hash_len(suite);
	fill_secret(secret, n, 42);
	assert_int_equal(sf_tls_aead_init(tx, suite, secret, n, true), 0);
	assert_int_equal(sf_tls_aead_init(rx, suite, secret, n, false), 0);
}

static void test_seal_open_round_trip(void **state)
{
	(void)state;
	static uint8_t rec[SF_TLS_REC_MAX_PLAIN + SF_TLS_REC_OVERHEAD];
	const size_t sizes[] = { 0, 1, 100, 1400, SF_TLS_REC_MAX_PLAIN };
	for (size_t s = 0; s < 3; s++) {
		struct sf_tls_aead tx, rx;
		pair(all_suites[s], &tx, &rx);
		for (size_t i = 0; i < 5; i++) {
			size_t n = sizes[i];
			for (size_t j = 0; j < n; j++)
				rec[SF_TLS_REC_HEADER + j] = pattern_at(j + i);
			size_t len = sf_tls_seal(&tx, SF_TLS_CT_APPLICATION_DATA, rec, n);
			assert_int_equal(len, n + SF_TLS_REC_OVERHEAD);
			assert_int_equal(rec[0], 23);
			assert_int_equal(rec[1], 3);
			assert_int_equal(rec[2], 3);
			assert_int_equal((size_t)(rec[3] << 8 | rec[4]), n + 1 + SF_TLS_REC_TAG);
			assert_int_equal(sf_tls_record_len(rec, len), (long)len);
			assert_int_equal(sf_tls_record_len(rec, 4), 0);
			uint8_t type = 0;
			size_t plen = 0;
			assert_int_equal(sf_tls_open(&rx, rec, len, &type, &plen), 0);
			assert_int_equal(type, SF_TLS_CT_APPLICATION_DATA);
			assert_int_equal(plen, n);
			for (size_t j = 0; j < n; j++)
				assert_int_equal(rec[SF_TLS_REC_HEADER + j], pattern_at(j + i));
		}
		assert_int_equal(tx.seq, 5);
		assert_int_equal(rx.seq, 5);
		/* after a KeyUpdate on both sides the records still open */
		assert_int_equal(sf_tls_aead_update(&tx), 0);
		assert_int_equal(sf_tls_aead_update(&rx), 0);
		assert_int_equal(tx.seq, 0);
		memcpy(rec + SF_TLS_REC_HEADER, "after", 5);
		size_t len = sf_tls_seal(&tx, SF_TLS_CT_HANDSHAKE, rec, 5);
		uint8_t type = 0;
		size_t plen = 0;
		assert_int_equal(sf_tls_open(&rx, rec, len, &type, &plen), 0);
		assert_int_equal(type, SF_TLS_CT_HANDSHAKE);
		assert_memory_equal(rec + SF_TLS_REC_HEADER, "after", 5);
		sf_tls_aead_clear(&tx);
		sf_tls_aead_clear(&rx);
	}
}

/* sf_tls_seal without its size limit: inner plaintext of n bytes already at rec + 5. */
static size_t seal_by_hand(struct sf_tls_aead *a, uint8_t *rec, size_t n)
{
	size_t body = n + SF_TLS_REC_TAG;
	rec[0] = 23;
	rec[1] = rec[2] = 3;
	rec[3] = (uint8_t)(body >> 8);
	rec[4] = (uint8_t)body;
	uint8_t nonce[12];
	memcpy(nonce, a->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(a->seq >> (8 * i));
	int outl = 0, finl = 0;
	assert_int_equal(EVP_EncryptInit_ex(a->ctx, NULL, NULL, NULL, nonce), 1);
	assert_int_equal(EVP_EncryptUpdate(a->ctx, NULL, &outl, rec, 5), 1);
	assert_int_equal(EVP_EncryptUpdate(a->ctx, rec + 5, &outl, rec + 5, (int)n), 1);
	assert_int_equal(EVP_EncryptFinal_ex(a->ctx, rec + 5 + outl, &finl), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, 16, rec + 5 + n), 1);
	a->seq++;
	return 5 + body;
}

/* Sealing straight from iovecs gives the same bytes as sealing in place; opening into another
 * buffer gives the same plaintext as opening in place. */
static void test_seal_iov_and_open_to_match(void **state)
{
	(void)state;
	static uint8_t data[3 * 7000], a[SF_TLS_REC_MAX_PLAIN + SF_TLS_REC_OVERHEAD],
		b[SF_TLS_REC_MAX_PLAIN + SF_TLS_REC_OVERHEAD], plain[SF_TLS_REC_MAX_PLAIN + 1];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = pattern_at(i);
	struct iovec iov[3] = { { data, 7000 }, { data + 7000, 7000 }, { data + 14000, 7000 } };
	for (size_t s = 0; s < 3; s++) {
		struct sf_tls_aead t1, r1, t2, r2;
		pair(all_suites[s], &t1, &r1);
		pair(all_suites[s], &t2, &r2);
		const size_t offs[] = { 0, 6999, 7000, 100 };
		const size_t lens[] = { SF_TLS_REC_MAX_PLAIN, 2, 14000, 1 };
		for (size_t k = 0; k < 4; k++) {
			memcpy(a + SF_TLS_REC_HEADER, data + offs[k], lens[k]);
			size_t la = sf_tls_seal(&t1, SF_TLS_CT_APPLICATION_DATA, a, lens[k]);
			size_t lb = sf_tls_seal_iov(&t2, SF_TLS_CT_APPLICATION_DATA, iov, 3, offs[k],
						    lens[k], b);
			assert_int_equal(la, lens[k] + SF_TLS_REC_OVERHEAD);
			assert_int_equal(lb, la);
			assert_memory_equal(a, b, la);
			uint8_t type = 0;
			size_t plen = 0;
			assert_int_equal(sf_tls_open_to(&r1, a, la, plain, &type, &plen), 0);
			assert_int_equal(type, SF_TLS_CT_APPLICATION_DATA);
			assert_int_equal(plen, lens[k]);
			assert_memory_equal(plain, data + offs[k], plen);
			assert_int_equal(sf_tls_open(&r2, b, lb, &type, &plen), 0);
			assert_memory_equal(b + SF_TLS_REC_HEADER, data + offs[k], plen);
		}
		/* more than the iovecs hold */
		assert_int_equal(sf_tls_seal_iov(&t2, SF_TLS_CT_APPLICATION_DATA, iov, 3, 20000, 2000, b), 0);
		sf_tls_aead_clear(&t1);
		sf_tls_aead_clear(&r1);
		sf_tls_aead_clear(&t2);
		sf_tls_aead_clear(&r2);
	}
}

static void test_open_refuses_bad_records(void **state)
{
	(void)state;
	uint8_t rec[64], copy[64];
	struct sf_tls_aead tx, rx;
	pair(0x1301, &tx, &rx);
	memcpy(rec + SF_TLS_REC_HEADER, "hello", 5);
	size_t len = sf_tls_seal(&tx, SF_TLS_CT_APPLICATION_DATA, rec, 5);
	uint8_t type;
	size_t plen;
	/* any flipped bit, header included (it is the additional data) */
	for (size_t i = 0; i < len; i++) {
		if (i == 0 || i == 3 || i == 4)
			continue;	/* the type and length fail the header check instead */
		memcpy(copy, rec, len);
		copy[i] ^= 0x01;
		struct sf_tls_aead r2;
		uint8_t secret[32];
		fill_secret(secret, 32, 42);
		assert_int_equal(sf_tls_aead_init(&r2, 0x1301, secret, 32, false), 0);
		assert_int_equal(sf_tls_open(&r2, copy, len, &type, &plen), -1);
		sf_tls_aead_clear(&r2);
	}
	/* out of order: the receiver expects sequence number 1 */
	memcpy(copy, rec, len);
	rx.seq = 1;
	assert_int_equal(sf_tls_open(&rx, copy, len, &type, &plen), -1);
	rx.seq = 0;
	assert_int_equal(sf_tls_open(&rx, rec, len, &type, &plen), 0);
	/* headers no TLS 1.3 peer sends after the handshake */
	uint8_t h[5] = { 22, 3, 3, 0, 40 };
	assert_int_equal(sf_tls_record_len(h, 5), -1);	/* plaintext handshake */
	h[0] = 20;
	assert_int_equal(sf_tls_record_len(h, 5), -1);	/* change_cipher_spec */
	h[0] = 23;
	h[3] = (SF_TLS_REC_MAX_BODY + 1) >> 8;
	h[4] = (SF_TLS_REC_MAX_BODY + 1) & 0xff;
	assert_int_equal(sf_tls_record_len(h, 5), -1);	/* record_overflow */
	h[3] = 0;
	h[4] = 16;
	assert_int_equal(sf_tls_record_len(h, 5), -1);	/* shorter than a tag plus a type */
	/* an inner plaintext of zeros only has no content type */
	memset(rec + SF_TLS_REC_HEADER, 0, 4);
	len = sf_tls_seal(&tx, 0, rec, 4);
	assert_int_equal(sf_tls_open(&rx, rec, len, &type, &plen), -1);
	/* our sealer makes no record over 2^14 bytes of content ... */
	static uint8_t big[SF_TLS_REC_MAX_PLAIN + 2 + SF_TLS_REC_OVERHEAD];
	memset(big, 0, sizeof big);
	assert_int_equal(sf_tls_seal(&tx, SF_TLS_CT_APPLICATION_DATA, big, SF_TLS_REC_MAX_PLAIN + 1), 0);
	/* ... and the opener refuses an inner plaintext over 2^14 + 1 bytes, even when all but its
	 * first 2^14 + 1 bytes are padding (sealed by hand) */
	big[SF_TLS_REC_HEADER] = 'x';
	big[SF_TLS_REC_HEADER + SF_TLS_REC_MAX_PLAIN] = SF_TLS_CT_APPLICATION_DATA;
	len = seal_by_hand(&tx, big, SF_TLS_REC_MAX_PLAIN + 2);
	assert_int_equal(sf_tls_record_len(big, len), (long)len);
	assert_int_equal(sf_tls_open(&rx, big, len, &type, &plen), -1);
	sf_tls_aead_clear(&tx);
	sf_tls_aead_clear(&rx);
}

/* ---- the transport on a socket pair, fed records we seal ourselves ---- */

struct raw {
	int sv[2];
	struct sf_tls_rec *rec;
	struct sf_tls_aead client;
};

static void raw_open(struct raw *w)
{
	uint8_t cs[32], ss[32];
	fill_secret(cs, 32, 1);
	fill_secret(ss, 32, 2);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, w->sv), 0);
	struct sf_tls_io *io = sf_tls_io_new(w->sv[0]);
	assert_non_null(io);
	w->rec = sf_tls_rec_new(io, 0x1301, cs, ss, 32);
	assert_non_null(w->rec);
	assert_int_equal(sf_tls_aead_init(&w->client, 0x1301, cs, 32, true), 0);
}

static void raw_send(struct raw *w, uint8_t type, const void *p, size_t n)
{
	uint8_t rec[256];
	assert_true(n + SF_TLS_REC_OVERHEAD <= sizeof rec);
	memcpy(rec + SF_TLS_REC_HEADER, p, n);
	size_t len = sf_tls_seal(&w->client, type, rec, n);
	assert_int_equal(send(w->sv[1], rec, len, 0), (ssize_t)len);
}

static void raw_close(struct raw *w)
{
	sf_tls_record_transport.free(w->rec);
	sf_tls_aead_clear(&w->client);
	close(w->sv[0]);
	close(w->sv[1]);
}

/* Empty records cost an AEAD open each and deliver nothing: 32 in a row are accepted (as
 * OpenSSL does), the 33rd is a protocol error. */
static void test_empty_records_are_bounded(void **state)
{
	(void)state;
	uint8_t buf[1024];
	struct raw w;
	raw_open(&w);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 32; i++)
			raw_send(&w, SF_TLS_CT_APPLICATION_DATA, "", 0);
		raw_send(&w, SF_TLS_CT_APPLICATION_DATA, "ok", 2);	/* resets the count */
		assert_int_equal(sf_tls_record_transport.read(w.rec, w.sv[0], buf, sizeof buf), 2);
		assert_memory_equal(buf, "ok", 2);
	}
	for (int i = 0; i < 33; i++)
		raw_send(&w, SF_TLS_CT_APPLICATION_DATA, "", 0);
	errno = 0;
	assert_int_equal(sf_tls_record_transport.read(w.rec, w.sv[0], buf, sizeof buf), -1);
	assert_int_equal(errno, EPROTO);
	raw_close(&w);
}

/* Data before close_notify is delivered, then EOF; a record cut by the socket's EOF is dropped. */
static void test_close_notify_after_data_and_cut_record(void **state)
{
	(void)state;
	uint8_t buf[1024];
	struct raw w;
	raw_open(&w);
	raw_send(&w, SF_TLS_CT_APPLICATION_DATA, "last words", 10);
	raw_send(&w, SF_TLS_CT_ALERT, "\x01\x00", 2);
	raw_send(&w, SF_TLS_CT_APPLICATION_DATA, "never", 5);	/* after close_notify: ignored */
	assert_int_equal(sf_tls_record_transport.read(w.rec, w.sv[0], buf, sizeof buf), 10);
	assert_memory_equal(buf, "last words", 10);
	assert_int_equal(sf_tls_record_transport.pending(w.rec), 1);	/* the EOF to tell */
	assert_int_equal(sf_tls_record_transport.read(w.rec, w.sv[0], buf, sizeof buf), 0);
	raw_close(&w);

	raw_open(&w);
	raw_send(&w, SF_TLS_CT_APPLICATION_DATA, "whole", 5);
	uint8_t cut[64];
	memcpy(cut + SF_TLS_REC_HEADER, "cut off", 7);
	size_t len = sf_tls_seal(&w.client, SF_TLS_CT_APPLICATION_DATA, cut, 7);
	assert_int_equal(send(w.sv[1], cut, len - 3, 0), (ssize_t)(len - 3));
	shutdown(w.sv[1], SHUT_WR);
	assert_int_equal(sf_tls_record_transport.read(w.rec, w.sv[0], buf, sizeof buf), 5);
	assert_int_equal(sf_tls_record_transport.read(w.rec, w.sv[0], buf, sizeof buf), 0);
	raw_close(&w);
}

/* A reader with little room gets a big record in pieces, in order, nothing lost. */
static void test_small_room_reads_in_pieces(void **state)
{
	(void)state;
	uint8_t data[200], buf[16];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = pattern_at(i);
	struct raw w;
	raw_open(&w);
	raw_send(&w, SF_TLS_CT_APPLICATION_DATA, data, 100);
	raw_send(&w, SF_TLS_CT_APPLICATION_DATA, data + 100, 100);
	size_t got = 0;
	uint8_t back[200];
	for (int i = 0; i < 100 && got < sizeof back; i++) {
		ssize_t n = sf_tls_record_transport.read(w.rec, w.sv[0], buf, 7);
		assert_true(n > 0 && n <= 7);
		memcpy(back + got, buf, (size_t)n);
		got += (size_t)n;
	}
	assert_int_equal(got, sizeof data);
	assert_memory_equal(back, data, sizeof data);
	assert_int_equal(sf_tls_record_transport.pending(w.rec), 0);
	assert_int_equal(sf_tls_record_transport.read(w.rec, w.sv[0], buf, 7), SF_CONN_WANT_READ);
	raw_close(&w);
}

/* ---- over a socket, against an OpenSSL client ---- */

TLS_TEST_SERVER_GROUP(F, NAME)

struct peer {
	bool data_ok;
	size_t got;
	int key_updates_seen;	/* KeyUpdate messages the client received */
	int tickets_seen;	/* NewSessionTicket messages the client received */
	int key_updates_sent;
	int flood;		/* KeyUpdates to send, one per 1-byte write */
	bool raw_garbage;	/* write a non-record straight to the socket */
	atomic_bool finished;
};

static void watch(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
		  void *arg)
{
	(void)version;
	(void)ssl;
	struct peer *p = arg;
	if (!write_p && type == SSL3_RT_HANDSHAKE && len >= 1 && ((const uint8_t *)buf)[0] == 24)
		p->key_updates_seen++;
	if (!write_p && type == SSL3_RT_HANDSHAKE && len >= 1 && ((const uint8_t *)buf)[0] == 4)
		p->tickets_seen++;
}

static bool write_pattern(SSL *ssl, size_t from, size_t to)
{
	uint8_t buf[5000];
	for (size_t off = from; off < to;) {
		size_t n = to - off < sizeof buf ? to - off : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern_at(off + i);
		size_t w;
		if (SSL_write_ex(ssl, buf, n, &w) != 1)
			return false;
		off += w;
	}
	return true;
}

static void read_pattern(SSL *ssl, struct peer *p, size_t want)
{
	uint8_t buf[8192];
	for (int guard = 0; guard < 100000 && p->got < want; guard++) {
		size_t n = 0;
		if (SSL_read_ex(ssl, buf, sizeof buf, &n) != 1)
			break;
		for (size_t i = 0; i < n; i++)
			if (buf[i] != pattern_at(p->got + i))
				p->data_ok = false;
		p->got += n;
	}
}

/* Half the data, a KeyUpdate asking for ours, the other half; reads the whole echo; then
 * close_notify (tls_client_main's SSL_shutdown). */
static void client_key_update(struct tls_client *c, SSL *ssl)
{
	struct peer *p = c->user;
	SSL_set_msg_callback(ssl, watch);
	SSL_set_msg_callback_arg(ssl, p);
	p->data_ok = true;
	if (!write_pattern(ssl, 0, ECHO_TOTAL / 2)) {
		atomic_store(&p->finished, true);
		return;
	}
	if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 &&
	    write_pattern(ssl, ECHO_TOTAL / 2, ECHO_TOTAL)) {
		p->key_updates_sent = 1;
		read_pattern(ssl, p, ECHO_TOTAL);
	} else {
		/* TLS 1.2 has no KeyUpdate: read the first half's echo before closing (a close with
		 * unread bytes would reset the connection) */
		ERR_clear_error();
		read_pattern(ssl, p, ECHO_TOTAL / 2);
	}
	atomic_store(&p->finished, true);
}

static void client_attacker(struct tls_client *c, SSL *ssl)
{
	struct peer *p = c->user;
	if (p->raw_garbage) {
		static const uint8_t junk[] = "\x16\x03\x03\x00\x05hello";
		ssize_t n = write(c->fd, junk, sizeof junk - 1);
		(void)n;
	}
	for (int i = 0; i < p->flood; i++) {
		if (SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1 || !write_pattern(ssl, 0, 1))
			break;
		p->key_updates_sent++;
	}
	/* wait for the server's close (bounded by the read's own EOF/error) */
	uint8_t b[64];
	size_t n;
	for (int i = 0; i < 1000 && SSL_read_ex(ssl, b, sizeof b, &n) == 1; i++)
		;
	ERR_clear_error();
	atomic_store(&p->finished, true);
}

struct echo {
	struct sf_conn *conn;
	size_t echoed;
	char reason[64];
};

static void echo_read(void *user, const uint8_t *p, size_t n)
{
	struct echo *e = user;
	assert_int_equal(sf_conn_write(e->conn, p, n), 0);
	e->echoed += n;
}

static void echo_close(void *user, const char *reason)
{
	struct echo *e = user;
	snprintf(e->reason, sizeof e->reason, "%s", reason);
}

static const struct sf_conn_callbacks echo_callbacks = {
	.on_read = echo_read,
	.on_close = echo_close,
};

/* Handshake, hand over, echo until the connection ends; returns the transport picked. */
static const struct sf_conn_transport *serve(struct tls_client *c, struct echo *e)
{
	struct tls_test_outcome o;
	tls_test_server_handshake(&F, c, &o);
	const struct sf_conn_transport *tr;
	void *tr_ctx;
	e->conn = tls_test_server_conn(&F, &o, &echo_callbacks, e, &tr, &tr_ctx);
	assert_non_null(e->conn);
	TEST_RUN_UNTIL(&F.loop, e->reason[0] != '\0');
	sf_conn_close(e->conn);
	tls_client_join(c);
	return tr;
}

static void test_echo_across_key_update_then_close_notify(void **state)
{
	(void)state;
	for (size_t s = 0; s < 3; s++) {
		char suite[64];
		snprintf(suite, sizeof suite, "%s",
			 s == 0 ? "TLS_AES_128_GCM_SHA256" : s == 1 ? "TLS_AES_256_GCM_SHA384"
								  : "TLS_CHACHA20_POLY1305_SHA256");
		struct peer p = { 0 };
		struct tls_client c = { .after = client_key_update, .user = &p, .suites = suite };
		struct echo e = { 0 };
		assert_ptr_equal(serve(&c, &e), &sf_tls_record_transport);
		if (c.error[0])
			fprintf(stderr, "client: %s\n", c.error);
		assert_true(c.ok);
		assert_int_equal(p.key_updates_sent, 1);
		assert_int_equal(p.got, ECHO_TOTAL);
		assert_true(p.data_ok);
		/* our answer to update_requested, read and accepted by OpenSSL */
		assert_int_equal(p.key_updates_seen, 1);
		/* no ticket came before our first record (its sequence number would be off) */
		assert_int_equal(p.tickets_seen, 0);
		assert_int_equal(e.echoed, ECHO_TOTAL);
		assert_string_equal(e.reason, "EOF");	/* close_notify */
		tls_client_free(&c);
	}
}

static void test_key_update_flood_is_a_protocol_error(void **state)
{
	(void)state;
	struct peer p = { .flood = 20 };
	struct tls_client c = { .after = client_attacker, .user = &p };
	struct echo e = { 0 };
	assert_ptr_equal(serve(&c, &e), &sf_tls_record_transport);
	assert_string_equal(e.reason, "read: protocol error");
	/* the first eight KeyUpdates each came with a byte that was echoed */
	assert_in_range(e.echoed, 8, 9);
	tls_client_free(&c);
}

static void test_non_record_is_a_protocol_error(void **state)
{
	(void)state;
	struct peer p = { .raw_garbage = true };
	struct tls_client c = { .after = client_attacker, .user = &p };
	struct echo e = { 0 };
	assert_ptr_equal(serve(&c, &e), &sf_tls_record_transport);
	assert_string_equal(e.reason, "read: protocol error");
	assert_int_equal(e.echoed, 0);
	tls_client_free(&c);
}

static void test_tls12_stays_on_openssl(void **state)
{
	(void)state;
	struct peer p = { 0 };
	struct tls_client c = { .after = client_key_update, .user = &p,
				.max_version = TLS1_2_VERSION };
	struct echo e = { 0 };
	/* no KeyUpdate in TLS 1.2: the client's SSL_key_update fails and it stops there */
	assert_ptr_equal(serve(&c, &e), &sf_tls_transport);
	assert_true(c.ok);
	assert_int_equal(c.version, TLS1_2_VERSION);
	assert_int_equal(p.key_updates_sent, 0);
	assert_int_equal(p.got, ECHO_TOTAL / 2);
	assert_true(p.data_ok);
	assert_int_equal(e.echoed, ECHO_TOTAL / 2);
	tls_client_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_label_matches_openssl),
		cmocka_unit_test(test_seal_open_round_trip),
		cmocka_unit_test(test_seal_iov_and_open_to_match),
		cmocka_unit_test(test_open_refuses_bad_records),
		cmocka_unit_test(test_empty_records_are_bounded),
		cmocka_unit_test(test_close_notify_after_data_and_cut_record),
		cmocka_unit_test(test_small_room_reads_in_pieces),
		cmocka_unit_test(test_echo_across_key_update_then_close_notify),
		cmocka_unit_test(test_key_update_flood_is_a_protocol_error),
		cmocka_unit_test(test_non_record_is_a_protocol_error),
		cmocka_unit_test(test_tls12_stays_on_openssl),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
