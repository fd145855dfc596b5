/* Sans-I/O reader of the HTTP/1.1 request that opens a WebSocket, answering as upstream's Go
 * net/http server + gorilla/websocket Upgrader{CheckOrigin: always true} do: any path, Host and
 * Origin; no subprotocol, no compression. Feed it the bytes read from the connection until it
 * stops asking for more. The caller enforces the 10 s request deadline. */
#ifndef SF_HTTP_UPGRADE_H
#define SF_HTTP_UPGRADE_H

#include <stddef.h>
#include <stdint.h>

/* Cap on request line + header block (Go allows 1 MiB; we bound memory per handshake). */
#define SF_HTTP_MAX_REQUEST 16384

enum sf_http_upgrade_status {
	SF_HTTP_UPGRADE_MORE,	/* request incomplete: feed more bytes */
	SF_HTTP_UPGRADE_ACCEPT,	/* write the 101 response; WebSocket frames follow the request */
	SF_HTTP_UPGRADE_REJECT,	/* write the error response, then close (flushing it) */
	SF_HTTP_UPGRADE_CLOSE,	/* close at once, writing nothing: bytes followed the request
				 * before the 101 was sent (gorilla: "client sent data before
				 * handshake is complete") */
};

struct sf_http_upgrade;

/* Fetches the SHA-1 implementation the accept key needs (and so loads OpenSSL's configuration):
 * at start-up rather than on the first client. Idempotent; 0, or -1 if SHA-1 is unavailable.
 * Until it succeeds (or where it is never called: tests, fuzzers) the accept key takes OpenSSL's
 * slower implicit fetch, with the same result. */
int sf_http_upgrade_init(void);

struct sf_http_upgrade *sf_http_upgrade_new(void);
void sf_http_upgrade_free(struct sf_http_upgrade *u);

/* Parses p[0..n). *consumed = how many of these bytes belong to the request (on ACCEPT, the
 * whole header block ends there; anything after it makes the outcome CLOSE instead). Once a
 * final status is reached, later calls return it again and consume nothing. */
enum sf_http_upgrade_status sf_http_upgrade_feed(struct sf_http_upgrade *u, const uint8_t *p,
						 size_t n, size_t *consumed);

/* Exact bytes to write for ACCEPT (the 101) or REJECT (an error response); NULL otherwise. */
const uint8_t *sf_http_upgrade_response(const struct sf_http_upgrade *u, size_t *len);

/* After ACCEPT: the first client_ip query value (Go's r.URL.Query().Get), percent-decoded with
 * '+' as space, NUL-terminated; *len is its length (it may hold a decoded NUL byte, so use len).
 * NULL when the parameter is absent ("" when present but empty). Not validated as an IP. */
const char *sf_http_upgrade_client_ip(const struct sf_http_upgrade *u, size_t *len);

/* gorilla's error text when the Upgrader refused the request (REJECT after the HTTP request was
 * read fine, or CLOSE); the reference logs it with log.Println. NULL otherwise, including for
 * requests net/http itself refuses (malformed, 431, 505, Host errors), which it does not log. */
const char *sf_http_upgrade_error(const struct sf_http_upgrade *u);

#endif
