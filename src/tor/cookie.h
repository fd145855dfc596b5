/* The Extended ORPort auth cookie file tor writes: a 32-byte header, then the 32-byte cookie;
 * and the in-memory copy of one ExtORPort's cookie, read once at start and shared by all shards. */
#ifndef SF_TOR_COOKIE_H
#define SF_TOR_COOKIE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SF_TOR_COOKIE_LEN 32
/* An authentication failure re-reads the file at most this often per ExtORPort. */
#define SF_TOR_COOKIE_RELOAD_MIN_MS 1000

/* Reads path, which must hold exactly 64 bytes with the right header (compared in constant
 * time). Returns 0, or -1 with goptlib's error text in err: "open <path>: <reason>", "EOF"
 * (empty), "unexpected EOF" (shorter than 64 bytes), "file is longer than 64 bytes",
 * "missing auth cookie header", "read <path>: <reason>". */
int sf_tor_cookie_read(const char *path, uint8_t cookie[SF_TOR_COOKIE_LEN], char *err, size_t errlen);

/* One ExtORPort's cookie. Dials copy it (sf_tor_cookie_get) instead of reading the file, so a
 * client opening streams causes no file I/O. Shard threads share it: the lock guards the
 * 32-byte copy and the reload bookkeeping only, never the file read, and is taken once per
 * ExtORPort handshake (never per packet). */
struct sf_tor_cookie {
	char *path;
	pthread_mutex_t lock;
	uint8_t secret[SF_TOR_COOKIE_LEN];	/* guarded by lock */
	uint64_t generation;			/* guarded by lock: +1 whenever secret changes */
	uint64_t last_read_ms;			/* guarded by lock */
	uint64_t reloads;			/* guarded by lock: files read after the first */
};

/* Reads path into c. Returns 0, or -1 with err "error reading TOR_PT_AUTH_COOKIE_FILE
 * \"<path>\": <why>" (c is then left empty: sf_tor_cookie_free is still safe). */
int sf_tor_cookie_load(struct sf_tor_cookie *c, const char *path, uint64_t now_ms, char *err,
		       size_t errlen);

/* Copies the current cookie and its generation. */
void sf_tor_cookie_get(struct sf_tor_cookie *c, uint8_t out[SF_TOR_COOKIE_LEN], uint64_t *generation);

enum sf_tor_cookie_reload {
	SF_TOR_COOKIE_CHANGED,	  /* a cookie other than generation's is now in memory */
	SF_TOR_COOKIE_SAME,	  /* the file still holds the same cookie */
	SF_TOR_COOKIE_TOO_SOON,	  /* read less than SF_TOR_COOKIE_RELOAD_MIN_MS ago: not read */
	SF_TOR_COOKIE_UNREADABLE, /* the file is bad now (err says why); the old cookie stays */
};

/* After a handshake with cookie `generation` failed authentication (tor restarted and wrote a
 * new cookie?): re-reads the file unless another dial already did (then CHANGED at once) or the
 * last read is less than SF_TOR_COOKIE_RELOAD_MIN_MS old. */
enum sf_tor_cookie_reload sf_tor_cookie_reload(struct sf_tor_cookie *c, uint64_t generation,
					       uint64_t now_ms, char *err, size_t errlen);

/* Wipes the secret and frees what load allocated. */
void sf_tor_cookie_free(struct sf_tor_cookie *c);

#endif
