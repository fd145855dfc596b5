#include "tor/extor_handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define AUTH_TYPE_SAFE_COOKIE 0x01
#define AUTH_TYPES_MAX 256
#define CMD_DONE 0x0000
#define CMD_USERADDR 0x0001
#define CMD_TRANSPORT 0x0002
#define CMD_OKAY 0x1000
#define CMD_DENY 0x1001

static const char server_hash_const[] = "ExtORPort authentication server-to-client hash";
static const char client_hash_const[] = "ExtORPort authentication client-to-server hash";

static void wipe_secrets(struct sf_tor_extor *x)
{
	OPENSSL_cleanse(x->cookie, sizeof x->cookie);
}

void sf_tor_extor_fail(struct sf_tor_extor *x, const char *why)
{
	if (x->step == SF_TOR_EXTOR_STEP_FAILED)
		return;
	x->step = SF_TOR_EXTOR_STEP_FAILED;
	x->out_len = 0; /* goptlib closes without sending anything more */
	snprintf(x->error, sizeof x->error, "%s", why);
	wipe_secrets(x);
}

static void emit(struct sf_tor_extor *x, const void *data, size_t len)
{
	/* Cannot overflow: SF_TOR_EXTOR_OUT_MAX covers everything one handshake sends. */
	memcpy(x->out + x->out_len, data, len);
	x->out_len += len;
}

static void emit_command(struct sf_tor_extor *x, uint16_t cmd, const char *body)
{
	size_t len = strlen(body);
	uint8_t header[4] = { (uint8_t)(cmd >> 8), (uint8_t)cmd, (uint8_t)(len >> 8), (uint8_t)len };
	emit(x, header, sizeof header);
	emit(x, body, len);
}

static int copy_field(char *dst, const char *src)
{
	if (!src)
		src = "";
	size_t len = strlen(src);
	if (len > SF_TOR_EXTOR_FIELD_MAX)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

void sf_tor_extor_init(struct sf_tor_extor *x, const uint8_t *cookie,
		       const uint8_t client_nonce[SF_TOR_EXTOR_NONCE_LEN], const char *useraddr,
		       const char *transport)
{
	memset(x, 0, sizeof *x);
	x->step = SF_TOR_EXTOR_AUTH_TYPES;
	memcpy(x->client_nonce, client_nonce, SF_TOR_EXTOR_NONCE_LEN);
	if (cookie)
		sf_tor_extor_set_cookie(x, cookie);
	if (copy_field(x->useraddr, useraddr) < 0)
		sf_tor_extor_fail(x, "USERADDR is longer than 255 bytes");
	else if (copy_field(x->transport, transport) < 0)
		sf_tor_extor_fail(x, "TRANSPORT is longer than 255 bytes");
}

void sf_tor_extor_set_cookie(struct sf_tor_extor *x, const uint8_t cookie[SF_TOR_COOKIE_LEN])
{
	memcpy(x->cookie, cookie, SF_TOR_COOKIE_LEN);
	x->have_cookie = 1;
}

/* HMAC-SHA256(cookie, constant | ClientNonce | ServerNonce) */
static int auth_hash(const struct sf_tor_extor *x, const char *constant, uint8_t out[32])
{
	uint8_t msg[sizeof server_hash_const - 1 + 2 * 32];
	size_t clen = strlen(constant);
	unsigned int out_len = 0;

	memcpy(msg, constant, clen);
	memcpy(msg + clen, x->client_nonce, 32);
	memcpy(msg + clen + 32, x->server_nonce, 32);
	if (!HMAC(EVP_sha256(), x->cookie, SF_TOR_COOKIE_LEN, msg, clen + 64, out, &out_len))
		return -1;
	return out_len == 32 ? 0 : -1;
}

/* Copies up to the rest of a fixed-size field; true once it is complete. */
static int take(struct sf_tor_extor *x, uint8_t *field, size_t field_len, const uint8_t *in,
		size_t len, size_t *pos)
{
	size_t n = field_len - x->got;
	if (n > len - *pos)
		n = len - *pos;
	if (field)
		memcpy(field + x->got, in + *pos, n);
	x->got += n;
	*pos += n;
	if (x->got < field_len)
		return 0;
	x->got = 0;
	return 1;
}

static void on_auth_type(struct sf_tor_extor *x, uint8_t type)
{
	if (type != 0) {
		if (type == AUTH_TYPE_SAFE_COOKIE)
			x->type1_offered = 1;
		if (++x->auth_types_read >= AUTH_TYPES_MAX)
			sf_tor_extor_fail(x, "read 256 auth types without seeing \\x00");
		return;
	}
	if (!x->type1_offered) {
		sf_tor_extor_fail(x, "server didn't offer auth type 1");
		return;
	}
	uint8_t chosen = AUTH_TYPE_SAFE_COOKIE;
	emit(x, &chosen, 1);
	emit(x, x->client_nonce, sizeof x->client_nonce);
	x->step = SF_TOR_EXTOR_SERVER_HASH;
}

/* The ClientHash goes out only after the server proved it knows the cookie. */
static void check_server_hash(struct sf_tor_extor *x)
{
	uint8_t expected[32], client_hash[32];

	if (auth_hash(x, server_hash_const, expected) < 0) {
		sf_tor_extor_fail(x, "HMAC-SHA256 failed");
		return;
	}
	if (CRYPTO_memcmp(expected, x->server_hash, 32) != 0) {
		sf_tor_extor_fail(x, "mismatch in server hash");
		return;
	}
	if (auth_hash(x, client_hash_const, client_hash) < 0) {
		sf_tor_extor_fail(x, "HMAC-SHA256 failed");
		return;
	}
	emit(x, client_hash, sizeof client_hash);
	x->step = SF_TOR_EXTOR_AUTH_STATUS;
}

static void on_auth_status(struct sf_tor_extor *x, uint8_t status)
{
	if (status != 1) {
		sf_tor_extor_fail(x, "server rejected authentication");
		return;
	}
	wipe_secrets(x);
	if (x->useraddr[0])
		emit_command(x, CMD_USERADDR, x->useraddr);
	if (x->transport[0])
		emit_command(x, CMD_TRANSPORT, x->transport);
	emit_command(x, CMD_DONE, "");
	x->step = SF_TOR_EXTOR_REPLY_HEADER;
}

/* goptlib reads the whole reply body before it looks at the command. */
static void on_reply(struct sf_tor_extor *x)
{
	char why[96];

	if (x->reply_cmd == CMD_OKAY) {
		x->step = SF_TOR_EXTOR_STEP_DONE;
	} else if (x->reply_cmd == CMD_DENY) {
		sf_tor_extor_fail(x, "server returned DENY after our USERADDR and DONE");
	} else {
		snprintf(why, sizeof why, "server returned unknown command 0x%04x after our USERADDR and DONE",
			 x->reply_cmd);
		sf_tor_extor_fail(x, why);
	}
}

enum sf_tor_extor_status sf_tor_extor_feed(struct sf_tor_extor *x, const uint8_t *in, size_t len,
					   size_t *used)
{
	size_t pos = 0;

	for (;;) {
		enum sf_tor_extor_step step = x->step;
		if (step == SF_TOR_EXTOR_STEP_DONE || step == SF_TOR_EXTOR_STEP_FAILED)
			break;
		if (step == SF_TOR_EXTOR_AWAIT_COOKIE) {
			if (!x->have_cookie)
				break;
			check_server_hash(x);
			continue;
		}
		if (step == SF_TOR_EXTOR_REPLY_BODY && x->got == x->reply_body_len) {
			x->got = 0;
			on_reply(x);
			continue;
		}
		if (pos == len)
			break;

		switch (step) {
		case SF_TOR_EXTOR_AUTH_TYPES:
			on_auth_type(x, in[pos++]);
			break;
		case SF_TOR_EXTOR_SERVER_HASH:
			if (take(x, x->server_hash, 32, in, len, &pos))
				x->step = SF_TOR_EXTOR_SERVER_NONCE;
			break;
		case SF_TOR_EXTOR_SERVER_NONCE:
			if (take(x, x->server_nonce, 32, in, len, &pos))
				x->step = SF_TOR_EXTOR_AWAIT_COOKIE;
			break;
		case SF_TOR_EXTOR_AUTH_STATUS:
			on_auth_status(x, in[pos++]);
			break;
		case SF_TOR_EXTOR_REPLY_HEADER:
			if (take(x, x->reply_header, 4, in, len, &pos)) {
				x->reply_cmd = (uint16_t)(x->reply_header[0] << 8 | x->reply_header[1]);
				x->reply_body_len = (size_t)(x->reply_header[2] << 8 | x->reply_header[3]);
				x->step = SF_TOR_EXTOR_REPLY_BODY;
			}
			break;
		case SF_TOR_EXTOR_REPLY_BODY: {
			/* Skipped, not stored: goptlib ignores the body too. */
			size_t n = x->reply_body_len - x->got;
			if (n > len - pos)
				n = len - pos;
			x->got += n;
			pos += n;
			break;
		}
		default:
			break;
		}
	}
	if (used)
		*used = pos;
	return sf_tor_extor_status(x);
}

void sf_tor_extor_eof(struct sf_tor_extor *x)
{
	int within_field = x->got > 0 &&
			   (x->step == SF_TOR_EXTOR_SERVER_HASH || x->step == SF_TOR_EXTOR_SERVER_NONCE ||
			    x->step == SF_TOR_EXTOR_REPLY_HEADER || x->step == SF_TOR_EXTOR_REPLY_BODY);
	if (x->step == SF_TOR_EXTOR_STEP_DONE)
		return;
	sf_tor_extor_fail(x, within_field ? "unexpected EOF" : "EOF");
}

size_t sf_tor_extor_want(const struct sf_tor_extor *x)
{
	switch (x->step) {
	case SF_TOR_EXTOR_AUTH_TYPES:
	case SF_TOR_EXTOR_AUTH_STATUS:
		return 1;
	case SF_TOR_EXTOR_SERVER_HASH:
		return 64 - x->got; /* the nonce follows the hash directly */
	case SF_TOR_EXTOR_SERVER_NONCE:
		return 32 - x->got;
	case SF_TOR_EXTOR_REPLY_HEADER:
		return 4 - x->got;
	case SF_TOR_EXTOR_REPLY_BODY:
		return x->reply_body_len - x->got;
	default:
		return 0;
	}
}

const uint8_t *sf_tor_extor_output(const struct sf_tor_extor *x, size_t *len)
{
	*len = x->out_len;
	return x->out;
}

void sf_tor_extor_drain(struct sf_tor_extor *x, size_t n)
{
	if (n > x->out_len)
		n = x->out_len;
	memmove(x->out, x->out + n, x->out_len - n);
	x->out_len -= n;
}

enum sf_tor_extor_status sf_tor_extor_status(const struct sf_tor_extor *x)
{
	switch (x->step) {
	case SF_TOR_EXTOR_STEP_DONE:
		return SF_TOR_EXTOR_DONE;
	case SF_TOR_EXTOR_STEP_FAILED:
		return SF_TOR_EXTOR_FAILED;
	case SF_TOR_EXTOR_AWAIT_COOKIE:
		return x->have_cookie ? SF_TOR_EXTOR_NEED_MORE : SF_TOR_EXTOR_NEED_COOKIE;
	default:
		return SF_TOR_EXTOR_NEED_MORE;
	}
}

const char *sf_tor_extor_error(const struct sf_tor_extor *x)
{
	return x->step == SF_TOR_EXTOR_STEP_FAILED ? x->error : NULL;
}
