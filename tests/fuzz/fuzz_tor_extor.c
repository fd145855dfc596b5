/* tor's side of the Extended ORPort handshake (src/tor/extor_handshake.c): what tor answers to
 * our SAFE_COOKIE authentication and USERADDR / TRANSPORT / DONE, split at fuzzed points. The
 * cookie and client nonce are those of tests/vectors/extorport.json, so that a seed with tor's
 * right ServerHash gets past authentication.
 * Input: one flags byte (bits 0-5: segment size - 1; bit 6: give the cookie only when asked;
 * bit 7: no USERADDR), then tor's bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tor/extor_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t cookie[SF_TOR_COOKIE_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const uint8_t nonce[SF_TOR_EXTOR_NONCE_LEN] = {
	0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
};

static void drain_output(struct sf_tor_extor *x)
{
	size_t n = 0;
	const uint8_t *out = sf_tor_extor_output(x, &n);
	if (n > SF_TOR_EXTOR_OUT_MAX)
		__builtin_trap();
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += out[i];
	(void)sum;
	/* Sent in two writes, as a short write would. */
	sf_tor_extor_drain(x, n / 2);
	sf_tor_extor_output(x, &n);
	sf_tor_extor_drain(x, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t seg = (size_t)(data[0] & 0x3f) + 1;
	int lazy = data[0] & 0x40;
	const char *useraddr = data[0] & 0x80 ? NULL : "192.0.2.7:1";
	data++;
	size--;

	struct sf_tor_extor x;
	sf_tor_extor_init(&x, lazy ? NULL : cookie, nonce, useraddr, "snowflake");
	enum sf_tor_extor_status st = sf_tor_extor_status(&x);
	drain_output(&x);
	size_t off = 0;
	while (off < size && st != SF_TOR_EXTOR_DONE && st != SF_TOR_EXTOR_FAILED) {
		size_t n = size - off < seg ? size - off : seg;
		size_t want = sf_tor_extor_want(&x);
		if (want > 0 && n > want && (data[off] & 1)) /* sometimes read only what it wants */
			n = want;
		size_t used = 0;
		st = sf_tor_extor_feed(&x, data + off, n, &used);
		if (used > n || (st == SF_TOR_EXTOR_NEED_MORE && used != n))
			__builtin_trap();
		off += used;
		drain_output(&x);
		if (st == SF_TOR_EXTOR_NEED_COOKIE) {
			sf_tor_extor_set_cookie(&x, cookie);
			st = sf_tor_extor_status(&x);
		}
	}
	if (st == SF_TOR_EXTOR_FAILED) {
		const char *err = sf_tor_extor_error(&x);
		if (!err || strlen(err) >= sizeof x.error)
			__builtin_trap();
	} else if (st != SF_TOR_EXTOR_DONE) {
		sf_tor_extor_eof(&x);
		if (sf_tor_extor_status(&x) != SF_TOR_EXTOR_FAILED)
			__builtin_trap();
	}
	return 0;
}
