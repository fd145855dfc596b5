/* Client side of tor's Extended ORPort setup, without I/O: SAFE_COOKIE authentication, then
 * USERADDR / TRANSPORT / DONE and the one reply, exactly as goptlib's DialOr does it.
 *
 * The input is one byte stream, consumed field by field whatever its segmentation (bytes that
 * come early are read as the next field, as goptlib would). Typical loop:
 *     feed(what arrived) -> send sf_tor_extor_output(), sf_tor_extor_drain() what was sent
 *     NEED_COOKIE -> sf_tor_extor_set_cookie(), feed the rest
 *     DONE -> the input after *used is OR-protocol data; FAILED -> close, sf_tor_extor_error(). */
#ifndef SF_TOR_EXTOR_HANDSHAKE_H
#define SF_TOR_EXTOR_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "tor/cookie.h"

#define SF_TOR_EXTOR_NONCE_LEN 32
#define SF_TOR_EXTOR_FIELD_MAX 255 /* longest USERADDR or TRANSPORT value we send */
#define SF_TOR_EXTOR_OUT_MAX (1 + 32 + 32 + 3 * 4 + 2 * SF_TOR_EXTOR_FIELD_MAX)

enum sf_tor_extor_status {
	SF_TOR_EXTOR_NEED_MORE,   /* send the output, feed more input */
	SF_TOR_EXTOR_NEED_COOKIE, /* ServerHash and ServerNonce read: give the cookie, feed the rest */
	SF_TOR_EXTOR_DONE,        /* OKAY received (output may still hold DONE: send it first) */
	SF_TOR_EXTOR_FAILED,      /* see sf_tor_extor_error(); close without sending more */
};

enum sf_tor_extor_step {
	SF_TOR_EXTOR_AUTH_TYPES,
	SF_TOR_EXTOR_SERVER_HASH,
	SF_TOR_EXTOR_SERVER_NONCE,
	SF_TOR_EXTOR_AWAIT_COOKIE,
	SF_TOR_EXTOR_AUTH_STATUS,
	SF_TOR_EXTOR_REPLY_HEADER,
	SF_TOR_EXTOR_REPLY_BODY,
	SF_TOR_EXTOR_STEP_DONE,
	SF_TOR_EXTOR_STEP_FAILED,
};

struct sf_tor_extor {
	enum sf_tor_extor_step step;
	size_t got;                /* bytes of the current field received */
	unsigned auth_types_read;
	int type1_offered;
	int have_cookie;
	uint8_t cookie[SF_TOR_COOKIE_LEN];
	uint8_t client_nonce[SF_TOR_EXTOR_NONCE_LEN];
	uint8_t server_hash[32];
	uint8_t server_nonce[32];
	uint8_t reply_header[4];
	uint16_t reply_cmd;
	size_t reply_body_len;
	char useraddr[SF_TOR_EXTOR_FIELD_MAX + 1];
	char transport[SF_TOR_EXTOR_FIELD_MAX + 1];
	uint8_t out[SF_TOR_EXTOR_OUT_MAX];
	size_t out_len;
	char error[128];
};

/* cookie may be NULL: it is then asked for (NEED_COOKIE) when goptlib would read the file, after
 * ServerHash and ServerNonce arrived. useraddr / transport NULL or "" mean the command is not
 * sent. A value longer than SF_TOR_EXTOR_FIELD_MAX makes the first feed fail. */
void sf_tor_extor_init(struct sf_tor_extor *x, const uint8_t *cookie,
		       const uint8_t client_nonce[SF_TOR_EXTOR_NONCE_LEN], const char *useraddr,
		       const char *transport);

/* Consumes input; *used says how much (less than len only when the status is not NEED_MORE). */
enum sf_tor_extor_status sf_tor_extor_feed(struct sf_tor_extor *x, const uint8_t *in, size_t len,
					   size_t *used);

void sf_tor_extor_set_cookie(struct sf_tor_extor *x, const uint8_t cookie[SF_TOR_COOKIE_LEN]);

/* Marks the handshake failed with the text goptlib gives (or a caller's own text). */
void sf_tor_extor_fail(struct sf_tor_extor *x, const char *why);

/* The connection ended before the handshake did: fails with goptlib's "EOF" (at the start of a
 * field) or "unexpected EOF" (within one). */
void sf_tor_extor_eof(struct sf_tor_extor *x);

/* Bytes the current step still needs; reading no more than this never reads past OKAY. */
size_t sf_tor_extor_want(const struct sf_tor_extor *x);

/* Bytes waiting to be sent to tor, and removal of the first n of them once sent. */
const uint8_t *sf_tor_extor_output(const struct sf_tor_extor *x, size_t *len);
void sf_tor_extor_drain(struct sf_tor_extor *x, size_t n);

enum sf_tor_extor_status sf_tor_extor_status(const struct sf_tor_extor *x);
const char *sf_tor_extor_error(const struct sf_tor_extor *x);

#endif
