/* Our TLS 1.3 record layer after the handshake (src/tls/record_conn.c, record.c), fed what a
 * client may send: records sealed under the right keys with any content type and content, raw
 * bytes (headers that lie, truncated or forged records), and KeyUpdates with or without a request
 * for ours; read with buffers of any size.
 *
 * Input: a suite byte, then ops until the input ends:
 *   0 len data      raw bytes onto the socket
 *   1 type len data a record sealed with the client's current key (the harness follows its own
 *                   KeyUpdates only when sent with op 2)
 *   2 req           a well-formed KeyUpdate (request_update = req & 1), then the client's key moves
 *   3 room          a read into room+1 bytes (more reads follow at the end until nothing moves)
 * The transport must never return more than asked, never crash, and stop at the first error. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "tls/internal.h"
#include "tls/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t client_secret[48] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
static const uint8_t server_secret[48] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };

/* Reads once; false once the transport has ended (EOF or error). */
static bool read_once(void *rec, int fd, size_t room)
{
	static uint8_t buf[SF_CONN_READ_CHUNK];
	if (room > sizeof buf)
		room = sizeof buf;
	ssize_t n = sf_tls_record_transport.read(rec, fd, buf, room);
	if (n > (ssize_t)room)
		__builtin_trap();
	return n > 0 || n == SF_CONN_WANT_READ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const uint16_t suites[] = { 0x1301, 0x1302, 0x1303 };
	uint16_t suite = suites[data[0] % 3];
	size_t slen = sf_tls_suite_hash_len(suite);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	struct sf_tls_io *io = sf_tls_io_new(sv[0]);
	struct sf_tls_rec *rec = io ? sf_tls_rec_new(io, suite, client_secret, server_secret, slen) : NULL;
	struct sf_tls_aead client;
	if (!rec || sf_tls_aead_init(&client, suite, client_secret, slen, true) < 0) {
		if (rec)
			sf_tls_record_transport.free(rec);
		else
			sf_tls_io_free(io);
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	static uint8_t out[SF_TLS_REC_MAX_PLAIN + SF_TLS_REC_OVERHEAD];
	bool open = true;
	size_t i = 1;
	while (i < size && open) {
		uint8_t op = data[i++] % 4;
		size_t len = 0;
		if (op == 0) {
			len = i < size ? data[i++] : 0;
			if (len > size - i)
				len = size - i;
			if (send(sv[1], data + i, len, MSG_NOSIGNAL) < 0)
				break;
			i += len;
		} else if (op == 1) {
			if (size - i < 3)
				break;
			uint8_t type = data[i];
			len = ((size_t)data[i + 1] << 8 | data[i + 2]) % (SF_TLS_REC_MAX_PLAIN + 1);
			i += 3;
			if (len > size - i)
				len = size - i;
			memcpy(out + SF_TLS_REC_HEADER, data + i, len);
			i += len;
			size_t n = sf_tls_seal(&client, type, out, len);
			if (n == 0 || send(sv[1], out, n, MSG_NOSIGNAL) < 0)
				break;
		} else if (op == 2) {
			uint8_t req = i < size ? data[i++] & 1 : 0;
			uint8_t msg[5] = { 24, 0, 0, 1, req };
			memcpy(out + SF_TLS_REC_HEADER, msg, sizeof msg);
			size_t n = sf_tls_seal(&client, SF_TLS_CT_HANDSHAKE, out, sizeof msg);
			if (n == 0 || send(sv[1], out, n, MSG_NOSIGNAL) < 0 || sf_tls_aead_update(&client) < 0)
				break;
		} else {
			size_t room = (i < size ? data[i++] : 0) + 1;
			open = read_once(rec, sv[0], room * 64);
		}
	}
	/* drain: bounded, each read either takes bytes or ends */
	for (int r = 0; r < 64 && open; r++) {
		open = read_once(rec, sv[0], SF_CONN_READ_CHUNK);
		if (open && sf_tls_record_transport.pending(rec) == 0) {
			uint8_t peek;
			if (recv(sv[0], &peek, 1, MSG_PEEK) < 0)
				break;	/* nothing left in the socket either */
		}
	}
	sf_tls_aead_clear(&client);
	sf_tls_record_transport.free(rec);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
